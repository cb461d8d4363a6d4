package mirror

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/model"
)

// stagingSchema holds the staging tables, out of sight of .tables (which
// lists schema main) and of users' unqualified queries. A SYNC killed with
// -9 leaves its staging table here; the next SYNC replaces it.
const stagingSchema = "apsql_sync"

// maxAttempts is how often a full listing is fetched again when the
// library changed under it (offset paging repeated or skipped nodes).
const maxAttempts = 3

// changedSQL says that staged row s differs from mirrored row n: Amazon
// bumps version (and modifiedDate) on every change of a node.
// A new content has a new md5 (the change key, fetch.ChangeKey, has the same
// three).
const changedSQL = `(s."version" IS DISTINCT FROM n."version" OR s."modifiedDate" IS DISTINCT FROM n."modifiedDate" OR s."md5" IS DISTINCT FROM n."md5")`

// staging is a table of the nodes' shape (no primary key: inserts are
// faster without the index, and duplicates are counted, not refused).
type staging struct {
	db    *engine.DB
	name  string // qualified and quoted
	table string // the mirror table it replaces: nodes or trash
	in    *engine.Ingester
	// mark, when set, runs in apply's transaction with the rows' source
	// (the staging table) as its argument: it records what SYNC NEW needs.
	mark func(src string) string
	// scope, when set, is SQL over the mirror's row n: a replacing apply
	// removes only the rows in scope that the listing lacks (plain SYNC
	// lists photos and videos, so it leaves documents and albums alone).
	scope string
	// idx, when set, holds the change key of every mirrored row in scope
	// and which of them the listing named: the staging table then holds
	// only the new and changed nodes (the listing skipped the others), and
	// a replacing apply removes exactly the rows the listing never named.
	idx *keyIndex
	// temp: the staging table is temporary (a diff listing's, which
	// holds only the changed nodes): its rows are never written to the
	// file nor its WAL.
	temp bool
	// phases says how long apply's steps took (for the -v log).
	phases string
}

// sinceKey is the apsql_meta key of SYNC NEW's stopping point: the newest
// createdDate up to which a complete listing (a full SYNC, or a SYNC NEW
// that ran to its end) mirrored every photo and video. Nodes that enter
// the mirror otherwise (UPLOAD, CREATE ALBUM, SYNC NODES FILTER) do not
// move it: a later SYNC NEW still fetches what came before them.
const sinceKey = "sync_new_since"

// markSince returns the statement that sets sinceKey to the newest
// createdDate of src; with raise, only when that is newer than the mark.
func markSince(raise bool) func(src string) string {
	return func(src string) string {
		cond := ""
		if raise {
			cond = ` AND max("createdDate") > coalesce((SELECT CAST(value AS TIMESTAMP) FROM apsql_meta WHERE key = '` + sinceKey + `'), TIMESTAMP '0001-01-01')`
		}
		return `INSERT OR REPLACE INTO apsql_meta SELECT '` + sinceKey + `', CAST(max("createdDate") AS VARCHAR) FROM ` + src +
			` WHERE "createdDate" IS NOT NULL HAVING count(*) > 0` + cond
	}
}

// newStaging (re)creates the staging table of table.
func newStaging(ctx context.Context, db *engine.DB, table string) (*staging, error) {
	st := stagingOf(db, table)
	if err := st.create(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

// tempStaging prefixes the temporary tables of a SYNC (the ids a full
// listing lacks): they are never written to the file nor its WAL, and a
// SYNC killed with -9 leaves nothing behind.
const tempStaging = "apsql_staging_"

// stagingOf returns the staging table of table, not yet created (create).
func stagingOf(db *engine.DB, table string) *staging {
	return &staging{db: db, name: stagingSchema + "." + engine.Ident(table), table: table}
}

// create (re)creates the staging table and its Ingester.
func (st *staging) create(ctx context.Context) error {
	db := st.db
	// CreateTableSQL writes CREATE TABLE IF NOT EXISTS "name" (...): the
	// same columns and types as the mirror table, without its key.
	ddl := db.CreateTableSQL(model.Table{Columns: model.NodeColumns}, st.table)
	target := stagingSchema + "." + st.table
	if st.temp {
		name := tempStaging + st.table + "_changed"
		st.name = "temp.main." + engine.Ident(name)
		target = "temp.main." + name
		ddl = strings.Replace(ddl, "CREATE TABLE IF NOT EXISTS "+engine.Ident(st.table), "CREATE OR REPLACE TEMP TABLE "+engine.Ident(name), 1)
	} else {
		if _, err := db.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+stagingSchema); err != nil {
			return fmt.Errorf("create staging schema: %w", err)
		}
		ddl = strings.Replace(ddl, "CREATE TABLE IF NOT EXISTS "+engine.Ident(st.table), "CREATE OR REPLACE TABLE "+st.name, 1)
	}
	if _, err := db.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("create staging table: %w", err)
	}
	in, err := db.Ingester(ctx, target, fetch.NodeSchema())
	if err != nil {
		return err
	}
	st.in = in
	return nil
}

// drop removes the staging table; it runs also after ctx was cancelled.
func (st *staging) drop() {
	if st.in == nil {
		return // never created (see load)
	}
	_, _ = st.db.Exec(context.Background(), "DROP TABLE IF EXISTS "+st.name)
	st.in = nil
}

// counts returns the staged rows and distinct ids.
func (st *staging) counts(ctx context.Context) (rows, distinct int64, err error) {
	err = st.db.QueryRow(ctx, "SELECT count(*), count(DISTINCT id) FROM "+st.name).Scan(&rows, &distinct)
	return rows, distinct, err
}

// apply writes the staged rows into the mirror table in one transaction
// and returns what changed:
//   - inserted: staged ids the mirror lacks;
//   - updated: ids in both whose version, modifiedDate or md5 differ (only
//     those rows are rewritten, so a SYNC with nothing new writes nothing);
//   - removed: with replace, mirrored ids in scope that the listing lacks
//     (deleted).
//
// Duplicate staged ids (paging that repeated a node) keep the row fetched
// last. Changes to the nodes table are recorded in the changes table in
// the same transaction.
func (st *staging) apply(ctx context.Context, replace bool) (inserted, updated, removed int64, err error) {
	tbl := engine.Ident(st.table)
	src := st.name
	var phases []string
	lap := time.Now()
	phase := func(name string) {
		phases = append(phases, fmt.Sprintf("%s %s", name, time.Since(lap).Round(time.Millisecond)))
		lap = time.Now()
	}
	defer func() { st.phases = strings.Join(phases, ", ") }()
	rows, distinct, err := st.counts(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	if rows != distinct {
		src = fmt.Sprintf(`(SELECT DISTINCT ON (id) * FROM %s ORDER BY id, "syncedAt" DESC)`, st.name)
	}
	// gone is the relation of the ids to remove (column id).
	scope := "true"
	if st.scope != "" {
		scope = "(" + st.scope + ")"
	}
	gone := fmt.Sprintf(`(SELECT n.id FROM %s n WHERE %s AND NOT EXISTS (SELECT 1 FROM %s s WHERE s.id = n.id))`, tbl, scope, src)
	if replace && st.idx != nil {
		name := tempStaging + st.table + "_gone"
		if err := stageIDs(ctx, st.db, name, st.idx.unlisted()); err != nil {
			return 0, 0, 0, err
		}
		gone = "temp.main." + engine.Ident(name)
		defer st.db.Exec(context.Background(), "DROP TABLE IF EXISTS "+gone)
	}
	log := changeLogOf(ctx)
	phase("staged counts and removed ids")
	err = st.db.Tx(ctx, func(tx *sql.Tx) error {
		// old: the mirror's rows of the staged ids, read in one scan; the
		// steps below compare with it instead of joining the whole table
		// again each (at 1M rows, each such join read every column).
		old := "__apsql_old"
		if rows > 0 {
			q := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s AS SELECT n.* FROM %s n WHERE n.id IN (SELECT id FROM %s)`, old, tbl, src)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("compare with %s: %w", st.table, err)
			}
			defer tx.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+old)
			phase("old rows")
			q = fmt.Sprintf(`SELECT count(*) FILTER (WHERE n.id IS NULL), count(*) FILTER (WHERE n.id IS NOT NULL AND %s) FROM %s s LEFT JOIN %s n USING (id)`, changedSQL, src, old)
			if err := tx.QueryRowContext(ctx, q).Scan(&inserted, &updated); err != nil {
				return fmt.Errorf("compare with %s: %w", st.table, err)
			}
			phase("compare")
		}
		if st.table == "nodes" && (rows > 0 || replace) {
			g := ""
			if replace {
				g = gone
			}
			o := old
			if rows == 0 {
				o = ""
			}
			if _, err := recordNodeChanges(ctx, tx, log, st.table, src, o, g, changedSQL); err != nil {
				return err
			}
			phase("record changes")
		}
		if replace {
			res, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE id IN (SELECT id FROM %s)`, tbl, gone))
			if err != nil {
				return fmt.Errorf("remove deleted nodes from %s: %w", st.table, err)
			}
			if removed, err = res.RowsAffected(); err != nil {
				return err
			}
			phase("delete")
		}
		// A changed row is deleted and inserted again with the new ones:
		// INSERT OR REPLACE took 1.6 s for 989 changed rows of 100k
		// (DuckDB rewrote them column by column through the index).
		if updated > 0 {
			q := fmt.Sprintf(`DELETE FROM %s WHERE id IN (SELECT s.id FROM %s s JOIN %s n USING (id) WHERE %s)`, tbl, src, old, changedSQL)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("update %s: %w", st.table, err)
			}
			phase("update")
		}
		if inserted+updated > 0 {
			q := fmt.Sprintf(`INSERT INTO %s SELECT s.* FROM %s s LEFT JOIN %s n ON n.id = s.id WHERE n.id IS NULL OR %s`, tbl, src, old, changedSQL)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("insert into %s: %w", st.table, err)
			}
			phase("insert")
		}
		if st.mark != nil {
			from := src
			if replace && st.idx != nil {
				// A diff listing staged only what changed: the whole
				// listing is now the mirror's rows in scope.
				from = fmt.Sprintf(`(SELECT * FROM %s n WHERE %s)`, tbl, scope)
			}
			if _, err := tx.ExecContext(ctx, st.mark(from)); err != nil {
				return fmt.Errorf("record the SYNC NEW mark: %w", err)
			}
			phase("mark")
		}
		return nil
	})
	phase("commit")
	return inserted, updated, removed, err
}

// stageIDs (re)creates the temporary table name with one column, id,
// holding ids.
func stageIDs(ctx context.Context, db *engine.DB, name string, ids []string) error {
	if _, err := db.Exec(ctx, "CREATE OR REPLACE TEMP TABLE "+engine.Ident(name)+" (id VARCHAR)"); err != nil {
		return fmt.Errorf("stage the removed ids: %w", err)
	}
	err := db.Raw(func(c *duckdb.Conn) error {
		a, err := duckdb.NewAppender(c, "temp", "main", name)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := a.AppendRow(id); err != nil {
				return errors.Join(err, a.Close())
			}
		}
		return a.Close()
	})
	if err != nil {
		return fmt.Errorf("stage the removed ids: %w", err)
	}
	return nil
}

// load runs stream with an emit function that sends every batch into one
// INSERT into the staging table (see engine.Ingester.Stream) and advances
// the progress line. The INSERT commits only when stream succeeds.
func (st *staging) load(ctx context.Context, tr engine.Tracker, stream func(emit func(arrow.RecordBatch) error) (fetch.StreamStats, error)) (stats fetch.StreamStats, err error) {
	// A staging table not created yet (fullListing's) is created at the
	// first batch, once the statement's block check allows writing: a
	// listing with nothing new writes nothing until then, and the check
	// runs beside it. Batches that come before the check is done wait in
	// memory (up to maxPending) instead of stalling the listing.
	var (
		ins     *engine.IngestStream
		pending []arrow.RecordBatch
		gate    chan struct{}
		staged  int64 // rows sent into a temporary staging table
	)
	defer func() {
		for _, b := range pending {
			b.Release()
		}
	}()
	if st.in == nil {
		gate = make(chan struct{})
		gctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			defer close(gate)
			_ = waitWritable(gctx) // open says why, if it refuses
		}()
	}
	open := func() error {
		if st.idx != nil {
			// The session's connection is the key read's until it is
			// done (startKeyIndex).
			if err := st.idx.wait(ctx); err != nil {
				return err
			}
		}
		if st.in == nil {
			if err := waitWritable(ctx); err != nil {
				return err
			}
			if err := st.create(ctx); err != nil {
				return err
			}
		}
		ins = st.in.Stream(ctx)
		for len(pending) > 0 {
			b := pending[0]
			pending = pending[1:]
			err := ins.Send(ctx, b)
			b.Release()
			if err != nil {
				return err
			}
		}
		return nil
	}
	stats, err = stream(func(b arrow.RecordBatch) error {
		if ins == nil {
			ready := true
			if gate != nil && len(pending) < maxPending {
				select {
				case <-gate:
				default:
					ready = false
				}
			}
			if !ready {
				b.Retain()
				pending = append(pending, b)
				tr.Add(b.NumRows())
				return nil
			}
			if err := open(); err != nil {
				return err
			}
		}
		if err := ins.Send(ctx, b); err != nil {
			return err
		}
		tr.Add(b.NumRows())
		if st.temp {
			if staged += b.NumRows(); staged > tempStagingRows {
				// Too many changes to hold in memory: go on in a
				// staging table of the file.
				if err := ins.Close(nil); err != nil {
					return err
				}
				ins = nil
				if err := st.spill(ctx); err != nil {
					return err
				}
				ins = st.in.Stream(ctx)
			}
		}
		return nil
	})
	if ins == nil {
		if err != nil {
			return stats, err
		}
		if err := open(); err != nil {
			if ins != nil {
				_ = ins.Close(err)
			}
			return stats, err
		}
	}
	if ins == nil {
		return stats, err // spill failed after its stream was closed
	}
	if cerr := ins.Close(err); err == nil {
		err = cerr
	}
	return stats, err
}

// tempStagingRows is how many changed rows a diff listing stages in a
// temporary table (in memory: ~1 KB a row, up to DuckDB's memory limit)
// before it moves them into a staging table of the file (spill), where a
// listing with everything changed is written compressed as it arrives.
var tempStagingRows int64 = 50_000

// spill moves the rows of a temporary staging table into a new staging
// table of the file and makes that one the listing's.
func (st *staging) spill(ctx context.Context) error {
	tmp := st.name
	st.temp = false
	st.name = stagingSchema + "." + engine.Ident(st.table)
	if err := waitWritable(ctx); err != nil {
		return err
	}
	if err := st.create(ctx); err != nil {
		return err
	}
	if _, err := st.db.Exec(ctx, "INSERT INTO "+st.name+" SELECT * FROM "+tmp); err != nil {
		return fmt.Errorf("move the staged rows into the file: %w", err)
	}
	if _, err := st.db.Exec(ctx, "DROP TABLE "+tmp); err != nil {
		return fmt.Errorf("move the staged rows into the file: %w", err)
	}
	if onSpill != nil {
		onSpill()
	}
	return nil
}

// onSpill, when set (by tests), is called after each spill.
var onSpill func()

// maxPending is how many batches a listing holds in memory while the
// statement's block check has not yet allowed writing (~3 MB each): a
// diff SYNC of 1M nodes with 1% changed fills 5.
const maxPending = 8

// errNotSnapshot marks a listing that was not a complete, verified copy.
var errNotSnapshot = errors.New("not a complete copy")

// fullListing fetches a whole listing into a fresh staging table and checks
// that it holds exactly the server's count of distinct ids, fetching again
// (up to maxAttempts) when the library changed under the paging. The caller
// applies and drops the returned staging table.
//
// With idx, the listing is a diff (stream passes idx.unchanged to the
// client): the staging table receives only the new and changed nodes, and
// the check counts the skipped ones too.
func fullListing(ctx context.Context, s *engine.Session, table, label string, total int, idx *keyIndex, stream func(emit func(arrow.RecordBatch) error) (fetch.StreamStats, error)) (*staging, fetch.StreamStats, error) {
	var last error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		st := stagingOf(s.DB, table) // created at its first batch (load)
		st.idx = idx
		st.temp = idx != nil
		if idx != nil && attempt > 1 {
			idx.reset()
		}
		tr := s.Progress.Start(label, int64(total), "nodes")
		stats, err := st.load(ctx, tr, stream)
		tr.Done()
		if idx != nil {
			// The keys are read beside the listing (startKeyIndex): a
			// failed read is the error (it cancelled the listing), and
			// the connection is the statement's again only after it.
			if werr := idx.wait(ctx); werr != nil {
				st.drop()
				return nil, stats, werr
			}
		}
		if err == nil {
			err = st.verify(ctx, stats)
		}
		if err == nil {
			return st, stats, nil
		}
		st.drop()
		if !errors.Is(err, fetch.ErrListingChanged) && !errors.Is(err, errNotSnapshot) {
			return nil, stats, err
		}
		last = err
		s.Logf("sync %s: attempt %d of %d: %v", table, attempt, maxAttempts, err)
		total = stats.Count
	}
	return nil, fetch.StreamStats{}, fmt.Errorf("the library kept changing while it was listed (%d attempts; last: %v); run SYNC again once uploads and deletions have settled", maxAttempts, last)
}

// verify checks the staged rows against the server's count: every id once.
func (st *staging) verify(ctx context.Context, stats fetch.StreamStats) error {
	rows, distinct, err := st.counts(ctx)
	if err != nil {
		return err
	}
	skipped := int64(0)
	if st.idx != nil {
		_, skipped = st.idx.counts()
	}
	if rows != distinct || rows+skipped != int64(stats.Count) {
		return fmt.Errorf("%w: the server counted %d nodes, %d rows with %d distinct ids arrived and %d were unchanged", errNotSnapshot, stats.Count, rows, distinct, skipped)
	}
	return nil
}

// searchScope is what a /search listing of DefaultFilter can hold: files
// of an image or video type. Plain SYNC removes only such rows when the
// listing lacks them; documents and other files (SYNC ALL) and albums
// stay.
const searchScope = `coalesce(n."kind", 'FILE') = 'FILE' AND (n."contentType" IS NULL OR starts_with(n."contentType", 'image/') OR starts_with(n."contentType", 'video/'))`

// syncNodesFull mirrors every photo and video: a verified full listing
// replaces those rows of the nodes table in one transaction.
func syncNodesFull(ctx context.Context, s *engine.Session, src source) (tableStats, error) {
	t0 := time.Now()
	total, err := searchCount(ctx, src, DefaultFilter)
	if err != nil {
		return tableStats{}, err
	}
	tc := time.Now()
	var mirrored int64
	if err := s.DB.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&mirrored); err != nil {
		return tableStats{}, err
	}
	if mirrored == 0 {
		return firstSync(ctx, s, src, total)
	}
	tk := time.Now()
	idx, lctx, err := startKeyIndex(ctx, s.DB, "nodes", searchScope)
	if err != nil {
		return tableStats{}, err
	}
	defer idx.stop()
	t1 := time.Now()
	st, stats, err := fullListing(lctx, s, "nodes", "sync nodes", total, idx, func(emit func(arrow.RecordBatch) error) (fetch.StreamStats, error) {
		return src.StreamSearchChanged(lctx, DefaultFilter, idx.unchangedFunc(lctx), emit)
	})
	if err != nil {
		return tableStats{}, err
	}
	defer st.drop()
	t2 := time.Now()
	st.mark = markSince(false)
	st.scope = searchScope
	ins, upd, rem, err := st.apply(ctx, true)
	if err != nil {
		return tableStats{}, err
	}
	t3 := time.Now()
	st.drop()
	_, skipped := idx.counts()
	s.Logf("sync nodes: %d pages, %d retries, %d duplicates dropped, %d unchanged skipped; counts %s (service %s, mirror %s, in scope %s), keys read in %s (beside the listing), listing %s (its fetching %s), apply %s (%s), staging dropped %s",
		stats.Pages, stats.Retries, stats.Duplicates, skipped, t1.Sub(t0).Round(time.Millisecond), tc.Sub(t0).Round(time.Millisecond), tk.Sub(tc).Round(time.Millisecond), t1.Sub(tk).Round(time.Millisecond), idx.took.Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond), stats.Elapsed.Round(time.Millisecond),
		t3.Sub(t2).Round(time.Millisecond), st.phases, time.Since(t3).Round(time.Millisecond))
	return tableStats{table: "nodes", fetched: int64(stats.Fetched), inserted: ins, updated: upd, removed: rem, seconds: time.Since(t0).Seconds()}, nil
}

// firstSync fills an empty nodes table straight from the listing, inside
// one transaction that commits only when the rows are exactly the server's
// count (the primary key refuses a repeated id): half the writing of
// staging and copying, with the same guarantee — an interrupted first SYNC
// leaves the table empty.
func firstSync(ctx context.Context, s *engine.Session, src source, total int) (tableStats, error) {
	t0 := time.Now()
	var last error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		stats, err := firstSyncAttempt(ctx, s, src, total)
		if err == nil {
			return tableStats{table: "nodes", fetched: int64(stats.Fetched), inserted: int64(stats.Fetched), seconds: time.Since(t0).Seconds()}, nil
		}
		if !errors.Is(err, fetch.ErrListingChanged) && !errors.Is(err, errNotSnapshot) {
			return tableStats{}, err
		}
		last = err
		s.Logf("sync nodes: attempt %d of %d: %v", attempt, maxAttempts, err)
		total = stats.Count
	}
	return tableStats{}, fmt.Errorf("the library kept changing while it was listed (%d attempts; last: %v); run SYNC again once uploads and deletions have settled", maxAttempts, last)
}

func firstSyncAttempt(ctx context.Context, s *engine.Session, src source, total int) (stats fetch.StreamStats, err error) {
	if err := waitWritable(ctx); err != nil {
		return stats, err
	}
	if _, err := s.DB.Exec(ctx, "BEGIN TRANSACTION"); err != nil {
		return stats, err
	}
	defer func() {
		if err != nil {
			_, _ = s.DB.Exec(context.Background(), "ROLLBACK")
			s.DB.RestoreSettings()
		}
	}()
	in, err := s.DB.Ingester(ctx, "nodes", fetch.NodeSchema())
	if err != nil {
		return stats, err
	}
	st := &staging{db: s.DB, in: in}
	tr := s.Progress.Start("sync nodes", int64(total), "nodes")
	t0 := time.Now()
	stats, err = st.load(ctx, tr, func(emit func(arrow.RecordBatch) error) (fetch.StreamStats, error) {
		return src.StreamSearch(ctx, DefaultFilter, "", emit)
	})
	tr.Done()
	if err != nil {
		return stats, err
	}
	t1 := time.Now()
	defer func() {
		if err == nil {
			s.Logf("sync nodes: first SYNC: %d pages, %d batches; listing %s (its fetching %s), insert done %s after it, count and mark + commit %s",
				stats.Pages, stats.Batches, t1.Sub(t0).Round(time.Millisecond), stats.Elapsed.Round(time.Millisecond), (t1.Sub(t0) - stats.Elapsed).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
		}
	}()
	var rows int64
	if err := s.DB.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&rows); err != nil {
		return stats, err
	}
	if rows != int64(stats.Count) {
		return stats, fmt.Errorf("%w: the server counted %d nodes, %d arrived", errNotSnapshot, stats.Count, rows)
	}
	if _, err = s.DB.Exec(ctx, markSince(false)("nodes")); err != nil {
		return stats, fmt.Errorf("record the SYNC NEW mark: %w", err)
	}
	// The COMMIT fills the primary key's index and checkpoints, on one
	// thread: a second one would spin beside it (engine.ExecOneThread).
	_, err = s.DB.ExecOneThread(ctx, "COMMIT")
	return stats, err
}

// syncNodesFilter upserts the nodes matching filter; nothing is removed.
func syncNodesFilter(ctx context.Context, s *engine.Session, src source, filter string) (tableStats, error) {
	t0 := time.Now()
	total, err := searchCount(ctx, src, filter)
	if err != nil {
		return tableStats{}, err
	}
	st, err := newStaging(ctx, s.DB, "nodes")
	if err != nil {
		return tableStats{}, err
	}
	defer st.drop()
	tr := s.Progress.Start("sync nodes", int64(total), "nodes")
	stats, err := st.load(ctx, tr, func(emit func(arrow.RecordBatch) error) (fetch.StreamStats, error) {
		stats, err := src.StreamSearch(ctx, filter, "", emit)
		// A listing that changed while paging still upserts what arrived:
		// nothing is removed on its evidence.
		if errors.Is(err, fetch.ErrListingChanged) {
			s.Logf("sync nodes: %v", err)
			err = nil
		}
		return stats, err
	})
	tr.Done()
	if err != nil {
		return tableStats{}, err
	}
	ins, upd, _, err := st.apply(ctx, false)
	if err != nil {
		return tableStats{}, err
	}
	return tableStats{table: "nodes", fetched: int64(stats.Fetched), inserted: ins, updated: upd, seconds: time.Since(t0).Seconds()}, nil
}

// newestSort pages SYNC NEW newest-first by upload date; oldestSort is the
// order of fetch's full /search listings.
const (
	newestSort = "['createdDate DESC']"
	oldestSort = "['createdDate ASC']"
)

// syncNew fetches nodes newest-first by createdDate, page by page, until a
// page reaches back past the mark of the last complete listing (sinceKey;
// in a mirror from before the mark, the newest createdDate mirrored), and
// upserts them; having run to its end, it raises the mark. On an empty
// mirror it is a full SYNC of the nodes.
func syncNew(ctx context.Context, s *engine.Session, src source) (tableStats, error) {
	t0 := time.Now()
	var newest, mark sql.NullTime
	if err := s.DB.QueryRow(ctx, `SELECT max("createdDate"), (SELECT CAST(value AS TIMESTAMP) FROM apsql_meta WHERE key = ?) FROM nodes`, sinceKey).Scan(&newest, &mark); err != nil {
		return tableStats{}, err
	}
	if !newest.Valid {
		return syncNodesFull(ctx, s, src)
	}
	since := newest.Time.UnixMicro()
	if mark.Valid {
		since = mark.Time.UnixMicro()
	}
	st, err := newStaging(ctx, s.DB, "nodes")
	if err != nil {
		return tableStats{}, err
	}
	defer st.drop()
	st.mark = markSince(true)
	tr := s.Progress.Start("sync new", -1, "nodes")
	defer tr.Done()
	col := fetch.NodeSchema().FieldIndices("createdDate")[0]
	syncedAt := time.Now()
	fetched := int64(0)
	for offset := 0; ; {
		rec, info, err := searchPage(ctx, src, DefaultFilter, newestSort, offset, pageLimit, syncedAt)
		if err != nil {
			return tableStats{}, err
		}
		oldest := oldestMicros(rec.Column(col).(*array.Timestamp))
		err = st.in.Insert(ctx, rec)
		rec.Release()
		if err != nil {
			return tableStats{}, err
		}
		fetched += int64(info.Items)
		tr.Add(int64(info.Items))
		offset += info.Items
		if info.Items == 0 || offset >= info.Count || oldest < since {
			break
		}
	}
	ins, upd, _, err := st.apply(ctx, false)
	if err != nil {
		return tableStats{}, err
	}
	return tableStats{table: "nodes", fetched: fetched, inserted: ins, updated: upd, seconds: time.Since(t0).Seconds()}, nil
}

// oldestMicros returns the smallest non-null timestamp of a, or the
// largest int64 when there is none.
func oldestMicros(a *array.Timestamp) int64 {
	oldest := int64(1<<63 - 1)
	for i := range a.Len() {
		if a.IsValid(i) && int64(a.Value(i)) < oldest {
			oldest = int64(a.Value(i))
		}
	}
	return oldest
}

// syncTrash mirrors the whole trash (fetch splits the listing past
// Amazon's 9999-node cap) and replaces the trash table.
func syncTrash(ctx context.Context, s *engine.Session, src source) (tableStats, error) {
	t0 := time.Now()
	st, stats, err := fullListing(ctx, s, "trash", "sync trash", -1, nil, func(emit func(arrow.RecordBatch) error) (fetch.StreamStats, error) {
		return src.StreamTrash(ctx, emit)
	})
	if err != nil {
		return tableStats{}, err
	}
	defer st.drop()
	ins, upd, rem, err := st.apply(ctx, true)
	if err != nil {
		return tableStats{}, err
	}
	return tableStats{table: "trash", fetched: int64(stats.Fetched), inserted: ins, updated: upd, removed: rem, seconds: time.Since(t0).Seconds()}, nil
}
