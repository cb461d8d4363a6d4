package mirror

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/dupes"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/filterlang"
	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/resultset"
)

// ErrNoHashes: near_duplicates() ran before any SYNC HASHES.
var ErrNoHashes = errors.New("no hashes table: run SYNC HASHES first")

// HashViewBox is the thumbnail size SYNC HASHES asks for: 64 pixels give
// the ground truth a better recall than 128 (0.977 against 0.962 at the
// defaults, the same precision) and cost a quarter of the decoding.
const HashViewBox = 64

// hashWorkers is how many thumbnails are in flight (the client's pacer
// still decides how many are sent at once).
const hashWorkers = 16

// hasherCount is how many goroutines decode and hash the thumbnails
// SYNC HASHES fetched: one per core. (One on two cores answered the
// network sooner while the copied luminance decoder made a thumbnail cost
// 29 µs; at image/jpeg's 67 µs one hasher could not keep up.)
func hasherCount() int { return runtime.GOMAXPROCS(0) }

// hashBatch rows are committed at a time (a variable for tests): a batch
// costs some 1.5 ms of CPU (the Appender's set-up and commit), 3 µs a
// row at 500.
var hashBatch = 2000

// hashesTable is the table SYNC HASHES fills, one row per photo or video
// it looked at:
//   - status 'ok': phash and dhash are set;
//   - 'skipped': the thumbnail can never be hashed as it is (404, not an
//     image, does not decode, one flat colour); reason says why, and
//     the node is looked at again only when its md5 changes;
//   - 'failed': the request failed after the client's retries; the next
//     SYNC HASHES tries it again.
//
// hasher is the dupes.HasherVersion that computed an 'ok' row's bits
// (NULL: version 1, before the column); a row of an older one is hashed
// again by the next SYNC HASHES.
const hashesTable = `CREATE TABLE IF NOT EXISTS hashes (
  id VARCHAR, md5 VARCHAR, phash UBIGINT, dhash UBIGINT, status VARCHAR, reason VARCHAR,
  thumbWidth INTEGER, thumbHeight INTEGER, computedAt TIMESTAMP, hasher INTEGER)`

// hashJob is one node to hash; replace: hashes has a row of it already
// (of an older md5, or a failed attempt).
type hashJob struct {
	id, md5, owner string
	replace        bool
}

// hashRow is one row of hashes.
type hashRow struct {
	id, md5, status, reason string
	phash, dhash            uint64
	w, h                    int
	at                      time.Time
	replace                 bool // of hashJob
}

func registerSyncHashes(reg *engine.Registry, client ClientFunc) {
	reg.Register(engine.Command{
		Keywords: []string{"SYNC", "HASHES"},
		Syntax:   "SYNC HASHES [WHERE cond | FILTER 'filter' | ALBUM 'name']",
		Help:     "perceptual hashes of photos and videos (poster frame) from small thumbnails into hashes, for near_duplicates(); only nodes without a hash or whose md5 changed",
		Run: func(ctx context.Context, s *engine.Session, rest string) (*engine.Result, error) {
			cond, args, err := parseHashTarget(ctx, s.DB, rest)
			if err != nil {
				return nil, err
			}
			if err := s.DB.CheckBeforeWrite(ctx); err != nil {
				return nil, fmt.Errorf("sync hashes: %w", err)
			}
			return syncHashes(ctx, s, client, cond, args)
		},
	})
}

// parseHashTarget reads SYNC HASHES' optional target into a condition on
// the columns of nodes.
func parseHashTarget(ctx context.Context, db *engine.DB, rest string) (string, []any, error) {
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return "TRUE", nil, nil
	}
	word, tail, _ := strings.Cut(rest, " ")
	tail = strings.TrimSpace(tail)
	switch strings.ToUpper(word) {
	case "WHERE":
		if tail == "" {
			return "", nil, errors.New("sync hashes: WHERE needs a condition on nodes, e.g. SYNC HASHES WHERE year(contentDate) = 2024")
		}
		return "(" + tail + ")", nil, nil
	case "FILTER":
		a := engine.NewArgs(tail)
		src, err := a.String()
		if err != nil || !a.Done() {
			return "", nil, errors.New("sync hashes: FILTER takes one quoted filter, e.g. SYNC HASHES FILTER 'timeYear:(2024)'")
		}
		f, err := engine.ParseFilter(src, filterlang.Local)
		if err != nil {
			return "", nil, err
		}
		where, args := f.SQL()
		return "(" + where + ")", args, nil
	case "ALBUM":
		a := engine.NewArgs(tail)
		name, err := a.String()
		if err != nil || !a.Done() {
			return "", nil, errors.New("sync hashes: ALBUM takes one quoted album name, e.g. SYNC HASHES ALBUM 'Trip'")
		}
		var id string
		err = db.QueryRow(ctx, `SELECT id FROM albums WHERE name = ? ORDER BY id LIMIT 1`, name).Scan(&id)
		if err != nil {
			return "", nil, fmt.Errorf("sync hashes: no album %s in the mirror: run SYNC ALBUMS, or check the name", engine.Quote(name))
		}
		return "id IN (SELECT id FROM album_members WHERE albumId = " + engine.Quote(id) + ")", nil, nil
	}
	return "", nil, fmt.Errorf("sync hashes: unexpected %q: want SYNC HASHES, SYNC HASHES WHERE cond, SYNC HASHES FILTER 'filter' or SYNC HASHES ALBUM 'name'", word)
}

// syncHashes hashes the thumbnails of the photos and videos cond selects
// that have no hash yet (or one of an older md5, or a failed attempt),
// committing every hashBatch rows, so an interrupted run keeps what it
// did and the next run goes on from there.
func syncHashes(ctx context.Context, s *engine.Session, client ClientFunc, cond string, args []any) (*engine.Result, error) {
	db := s.DB
	if err := prepareHashes(ctx, db); err != nil {
		return nil, fmt.Errorf("sync hashes: %w", err)
	}
	q := `SELECT n.id, coalesce(n.md5, ''), coalesce(n.ownerId, ''), h.id IS NOT NULL FROM nodes n LEFT JOIN hashes h USING (id)
WHERE n.status = 'AVAILABLE' AND (starts_with(n.contentType, 'image/') OR starts_with(n.contentType, 'video/'))
  AND (h.id IS NULL OR h.md5 IS DISTINCT FROM n.md5 OR h.status = 'failed'
    OR h.status = 'ok' AND coalesce(h.hasher, 1) <> ` + strconv.Itoa(dupes.HasherVersion) + `)`
	if cond != "TRUE" { // a target: its condition on the columns of nodes alone
		q += `
  AND n.id IN (SELECT id FROM nodes WHERE ` + cond + `)`
	}
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sync hashes: select the nodes to hash: %w", err)
	}
	var jobs []hashJob
	for rows.Next() {
		var j hashJob
		if err := rows.Scan(&j.id, &j.md5, &j.owner, &j.replace); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sync hashes: %w", err)
		}
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sync hashes: select the nodes to hash: %w", err)
	}
	counts := map[string]int{}
	reasons := map[string]int{}
	start := time.Now()
	var runErr error
	if len(jobs) > 0 {
		c, err := client(ctx)
		if err != nil {
			return nil, err
		}
		tr := s.Progress.Start("hashes", int64(len(jobs)), "thumbnails")
		runErr = hashAll(ctx, db, c, jobs, func(r hashRow) {
			tr.Add(1)
			counts[r.status]++
			if r.status != "ok" {
				reasons[reasonKind(r.reason)]++
			}
		})
		tr.Done()
	}
	el := time.Since(start)
	b := resultset.New(resultset.Col("status", resultset.String), resultset.Col("reason", resultset.String), resultset.Col("count", resultset.Int64))
	if counts["ok"] > 0 {
		b.Append("ok", nil, int64(counts["ok"]))
	}
	for _, k := range sortedKeys(reasons) {
		st := "skipped"
		if k == reasonFetch {
			st = "failed"
		}
		b.Append(st, k, int64(reasons[k]))
	}
	done := counts["ok"] + counts["skipped"] + counts["failed"]
	sum := s.Say("sync hashes: %v of %v %s in %s (%v hashed, %v skipped, %v failed)",
		model.Count(done), model.Count(len(jobs)), plural(len(jobs), "thumbnail", "thumbnails"),
		el.Round(time.Millisecond), model.Count(counts["ok"]), model.Count(counts["skipped"]), model.Count(counts["failed"]))
	if runErr != nil {
		if ctx.Err() != nil {
			return nil, errors.New(s.Say("sync hashes: interrupted after %v thumbnails (kept: the next SYNC HASHES goes on from there)", model.Count(done)))
		}
		return nil, fmt.Errorf("sync hashes: %w (%s)", runErr, s.Say("the %v hashes committed before it stopped are kept", model.Count(done)))
	}
	res := &engine.Result{Rows: b.Reader(), Summary: sum}
	if counts["failed"] > 0 {
		res.Failed = counts["failed"]
	}
	return res, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// The kinds of reason a result row counts (the table keeps the detail).
const (
	reasonFetch = "thumbnail request failed"
	reason404   = "no thumbnail (404)"
)

func reasonKind(reason string) string {
	for _, k := range []string{reason404, dupes.ErrNotImage.Error(), dupes.ErrUndecodable.Error(), dupes.ErrTooLarge.Error(), dupes.ErrFlat.Error()} {
		if strings.HasPrefix(reason, k) {
			return k
		}
	}
	return reasonFetch
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// hashAll fetches jobs, hashWorkers at a time through c (its pacer and
// retries), hashes them on one goroutine per core, and writes the rows in
// batches of hashBatch, each batch in one transaction. seen is called for every row written. A 401
// or a failed write stops the run; rows of failed requests are written
// as 'failed'.
func hashAll(parent context.Context, db *engine.DB, c *fetch.Client, jobs []hashJob, seen func(hashRow)) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var owner struct {
		sync.Mutex
		id  string
		err error
	}
	ownerOf := func(j hashJob) (string, error) {
		if j.owner != "" {
			return j.owner, nil
		}
		owner.Lock()
		defer owner.Unlock()
		if owner.id == "" && owner.err == nil {
			owner.id, owner.err = c.OwnerID(ctx)
		}
		return owner.id, owner.err
	}
	var fatal struct {
		sync.Mutex
		err error
	}
	stop := func(err error) {
		fatal.Lock()
		if fatal.err == nil {
			fatal.err = err
		}
		fatal.Unlock()
		cancel()
	}

	// A writer of its own commits the batches, so fetching goes on while
	// one is written; it is written on the parent context made
	// uncancellable, so a Ctrl-C keeps the rows in hand.
	batches := make(chan []hashRow, 2)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		failed := false
		for b := range batches {
			if failed {
				continue
			}
			if err := writeHashes(context.WithoutCancel(parent), db, b); err != nil {
				stop(err)
				failed = true
				continue
			}
			for _, r := range b {
				seen(r)
			}
		}
	}()
	// Finished rows go into the batch at hand; whoever fills it hands it
	// to the writer.
	var batch struct {
		sync.Mutex
		rows []hashRow
	}
	done := func(r hashRow) {
		batch.Lock()
		batch.rows = append(batch.rows, r)
		var full []hashRow
		if len(batch.rows) >= hashBatch {
			full, batch.rows = batch.rows, make([]hashRow, 0, hashBatch)
		}
		batch.Unlock()
		if full != nil {
			batches <- full
		}
	}

	// hashWorkers fetch, taking the jobs in order; hasherCount() goroutines
	// decode and hash what they fetched.
	var next atomic.Int64
	fetched := make(chan fetchedThumb, 4*hashWorkers)
	var fetchers, hashers sync.WaitGroup
	for range hashWorkers {
		fetchers.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				r, data, err := fetchOne(ctx, c, jobs[i], ownerOf)
				if err != nil {
					stop(err)
					return
				}
				if r.status != "" { // no thumbnail to hash: the row is done
					done(r)
					continue
				}
				select {
				case fetched <- fetchedThumb{r, data}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	for range hasherCount() {
		hashers.Go(func() {
			var h dupes.Hasher // its buffers and tables stay warm
			for f := range fetched {
				if ctx.Err() != nil {
					continue // stopped: drain
				}
				hashRowOf(&h, &f.r, f.data)
				done(f.r)
			}
		})
	}
	fetchers.Wait()
	close(fetched)
	hashers.Wait()
	if len(batch.rows) > 0 {
		batches <- batch.rows
	}
	close(batches)
	<-wrote
	fatal.Lock()
	defer fatal.Unlock()
	if fatal.err != nil {
		return fatal.err
	}
	return parent.Err()
}

// fetchedThumb is a thumbnail waiting for a hasher, with its row.
type fetchedThumb struct {
	r    hashRow
	data []byte
}

// fetchOne fetches one thumbnail. A row with a status is done (404, too
// large, the request failed); one without waits for data's hash. The
// error is for the run as a whole (401, the context).
func fetchOne(ctx context.Context, c *fetch.Client, j hashJob, ownerOf func(hashJob) (string, error)) (hashRow, []byte, error) {
	r := hashRow{id: j.id, md5: j.md5, at: time.Now().UTC(), replace: j.replace}
	ownerID, err := ownerOf(j)
	if err != nil {
		return r, nil, fmt.Errorf("read the owner id for thumbnails: %w", err)
	}
	// A video's thumbnail is its poster frame.
	data, err := c.Thumbnail(ctx, j.id, ownerID, HashViewBox)
	switch {
	case ctx.Err() != nil:
		return r, nil, ctx.Err()
	case errors.Is(err, fetch.ErrUnauthorized):
		return r, nil, err
	case errors.Is(err, fetch.ErrNodeGone):
		r.status, r.reason = "skipped", reason404
	case errors.Is(err, fetch.ErrThumbnailTooLarge):
		r.status, r.reason = "skipped", fmt.Sprintf("%s: a thumbnail of more than %d MiB", dupes.ErrTooLarge, fetch.MaxThumbnailBytes>>20)
	case errors.Is(err, fetch.ErrThumbnailEmpty):
		data = nil // HashData names it
	case err != nil:
		r.status, r.reason = "failed", reasonFetch+": "+err.Error()
	}
	return r, data, nil
}

// hashRowOf hashes data into r: "ok" and the hashes, or "skipped" and
// why not (not an image, does not decode, flat).
func hashRowOf(h *dupes.Hasher, r *hashRow, data []byte) {
	hs, size, err := h.HashData(data)
	r.w, r.h = size.X, size.Y
	if err != nil {
		r.status, r.reason = "skipped", err.Error()
		return
	}
	r.status, r.phash, r.dhash = "ok", hs.PHash, hs.DHash
}

// hashStage is where a batch is appended before it replaces its nodes'
// rows of hashes (in the schema of SYNC's staging tables, out of sight of
// .tables). A batch cut off between the two is simply not in hashes: the
// next SYNC HASHES fetches those nodes again.
const hashStage = stagingSchema + ".hashes_stage"

// prepareHashes creates hashes (the staging table comes with the first
// batch that needs it).
func prepareHashes(ctx context.Context, db *engine.DB) error {
	if _, err := db.Exec(ctx, hashesTable); err != nil {
		return err
	}
	// A table made before the hasher column gets it (NULL: version 1).
	_, err := db.Exec(ctx, `ALTER TABLE hashes ADD COLUMN IF NOT EXISTS hasher INTEGER`)
	return err
}

// writeHashes writes a batch with DuckDB's Appender (a VALUES statement
// of 500 rows took 80-180 ms to parse and run): the rows of nodes that
// have none yet straight into hashes (one commit of the Appender's; 5 µs
// a row), the others into the staging table, then, in one transaction,
// in place of their nodes' old rows (a DELETE and an INSERT: some 10 ms
// a batch, which made the first SYNC HASHES spend 20 µs of CPU a row on
// writing when every batch went that way).
func writeHashes(ctx context.Context, db *engine.DB, batch []hashRow) error {
	var fresh, replace []hashRow
	for _, r := range batch {
		if r.replace {
			replace = append(replace, r)
		} else {
			fresh = append(fresh, r)
		}
	}
	err := appendHashes(db, "", "hashes", fresh)
	if err == nil && len(replace) > 0 {
		// A fresh, empty staging table: what a run cut off left is gone.
		for _, q := range []string{"CREATE SCHEMA IF NOT EXISTS " + stagingSchema,
			"CREATE OR REPLACE TABLE " + hashStage + " AS SELECT * FROM hashes LIMIT 0"} {
			if err == nil {
				_, err = db.Exec(ctx, q)
			}
		}
	}
	if err == nil && len(replace) > 0 {
		err = appendHashes(db, stagingSchema, "hashes_stage", replace)
		if err == nil {
			err = db.Tx(ctx, func(tx *sql.Tx) error {
				for _, q := range []string{
					`DELETE FROM hashes WHERE id IN (SELECT id FROM ` + hashStage + `)`,
					`INSERT INTO hashes SELECT * FROM ` + hashStage,
					`DELETE FROM ` + hashStage,
				} {
					if _, err := tx.ExecContext(ctx, q); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	if err != nil {
		return fmt.Errorf("write %d hashes: %w", len(batch), err)
	}
	return nil
}

// appendHashes appends rows to schema.table (hashes' columns).
func appendHashes(db *engine.DB, schema, table string, rows []hashRow) error {
	if len(rows) == 0 {
		return nil
	}
	return db.Raw(func(c *duckdb.Conn) error {
		a, err := duckdb.NewAppenderFromConn(c, schema, table)
		if err != nil {
			return err
		}
		for _, r := range rows {
			var ph, dh, reason, md5, w, h, hasher any
			if r.status == "ok" {
				ph, dh, hasher = r.phash, r.dhash, int32(dupes.HasherVersion)
			}
			if r.reason != "" {
				reason = r.reason
			}
			if r.md5 != "" {
				md5 = r.md5
			}
			if r.w > 0 {
				w, h = int32(r.w), int32(r.h)
			}
			if err := a.AppendRow(r.id, md5, ph, dh, r.status, reason, w, h, r.at, hasher); err != nil {
				return errors.Join(err, a.Close())
			}
		}
		return a.Close()
	})
}
