package mirror

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/model"
)

// The changes table records what each SYNC (and each action) changed in
// the mirror: one row per node, folder, album, album member or person that
// was added, removed or changed, never one per unchanged row.
//
// by_apsql says whether apsql's own statement did it: an action records its
// own changes with by_apsql true (RecordChanges); a SYNC that finds a node
// gone, new or changed checks the journal (actions_log) for an action of
// apsql on it since the previous SYNC of that table, and otherwise records
// the change as the service's, made behind apsql's back.

// Change kinds of the changes table.
const (
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
	ChangeChanged = "changed"
)

// changeLog is the statement whose changes are being recorded.
type changeLog struct {
	statement string
	at        time.Time // when the statement started (UTC)

	mu       sync.Mutex
	id       int64 // sync_id; 0 until the first change is written
	vanished int64 // nodes removed by the service, not by apsql
}

type changeLogKey struct{}

// withChangeLog starts the change log of a statement.
func withChangeLog(ctx context.Context, statement string) (context.Context, *changeLog) {
	l := &changeLog{statement: statement, at: time.Now().UTC()}
	return context.WithValue(ctx, changeLogKey{}, l), l
}

// changeLogOf returns the statement's change log (a new one for a part run
// on its own, as tests do).
func changeLogOf(ctx context.Context) *changeLog {
	if l, ok := ctx.Value(changeLogKey{}).(*changeLog); ok {
		return l
	}
	return &changeLog{statement: "SYNC", at: time.Now().UTC()}
}

// syncID returns the statement's sync_id, drawing it from the sequence
// inside tx on first use.
func (l *changeLog) syncID(ctx context.Context, tx *sql.Tx) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.id == 0 {
		if err := tx.QueryRowContext(ctx, `SELECT nextval('`+engine.ChangesSequence+`')`).Scan(&l.id); err != nil {
			return 0, fmt.Errorf("number the changes: %w", err)
		}
	}
	return l.id, nil
}

// sinceKey is the apsql_meta key of the time the last SYNC of table
// started: the journal is read from there to tell apsql's changes from
// the service's.
func changesSinceKey(table string) string { return "changes_since_" + table }

// sinceSQL is that time as SQL (the beginning of time when never synced).
func sinceSQL(table string) string {
	return `coalesce((SELECT CAST(value AS TIMESTAMP) FROM apsql_meta WHERE key = ` + engine.Quote(changesSinceKey(table)) + `), TIMESTAMP '0001-01-01')`
}

// removingActions are the journaled actions that take a node out of the
// nodes table.
const removingActions = `('TRASH', 'PURGE')`

// journaled is SQL saying that an apsql action succeeded on the id idExpr
// since the last SYNC of table; with removing, only TRASH and PURGE count.
func journaled(idExpr, table string, removing bool) string {
	which := `a."action" NOT LIKE 'EXPLAIN%' AND a."action" NOT IN ('DOWNLOAD', 'LABEL')`
	if removing {
		which = `a."action" IN ` + removingActions
	}
	return `coalesce(` + idExpr + ` IN (SELECT a."target" FROM actions_log a WHERE a."status" = 'ok' AND a."at" >= ` + sinceSQL(table) + ` AND ` + which + `), false)`
}

// fieldsSQL is the list of the columns (but skip) whose values differ
// between rows s and n, as a VARCHAR[].
func fieldsSQL(cols []model.Column, skip ...string) string {
	var parts []string
	for _, c := range cols {
		if contains(skip, c.Name) {
			continue
		}
		q := engine.Ident(c.Name)
		parts = append(parts, fmt.Sprintf(`CASE WHEN s.%s IS DISTINCT FROM n.%s THEN %s END`, q, q, engine.Quote(c.Name)))
	}
	return `list_filter([` + strings.Join(parts, ", ") + `], x -> x IS NOT NULL)`
}

// insertChanges is the start of an INSERT of change rows; the SELECT that
// follows gives in order: id, name, change, fields, by_apsql, album_id.
func insertChanges(id int64, l *changeLog, table string) string {
	return fmt.Sprintf(`INSERT INTO changes SELECT %d, %s, %s, %s, `, id, timeSQL(l.at), engine.Quote(l.statement), engine.Quote(table))
}

func timeSQL(t time.Time) string {
	return "TIMESTAMP " + engine.Quote(t.UTC().Format("2006-01-02 15:04:05.999999"))
}

// markSynced records, in tx, when this SYNC of table started: the journal
// window of the next one starts there.
func markSynced(ctx context.Context, tx *sql.Tx, l *changeLog, table string) error {
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO apsql_meta VALUES (?, ?)`, changesSinceKey(table), l.at.Format("2006-01-02 15:04:05.999999"))
	return err
}

// recordNodeChanges writes, in tx and before the mirror table changes, the
// change rows of applying the staged rows src (upserted) to table (old
// holds table's rows of the staged ids; "" when nothing is staged), and of
// removing the rows of table whose ids are in the table gone ("" for
// none); changed is SQL saying that staged row s differs from row n. It
// returns how many nodes this statement found removed from table that apsql
// had not removed itself.
func recordNodeChanges(ctx context.Context, tx *sql.Tx, l *changeLog, table, src, old, gone, changed string) (vanished int64, err error) {
	id, err := l.syncID(ctx, tx)
	if err != nil {
		return 0, err
	}
	tbl := engine.Ident(table)
	ins := insertChanges(id, l, table)
	var stmts []string
	if old != "" {
		stmts = []string{
			ins + `s.id, s.name, 'added', NULL, ` + journaled("s.id", table, false) + `, NULL FROM ` + src + ` s WHERE NOT EXISTS (SELECT 1 FROM ` + old + ` n WHERE n.id = s.id)`,
			ins + `s.id, s.name, 'changed', ` + fieldsSQL(model.NodeColumns, "id", "syncedAt") + `, ` + journaled("s.id", table, false) + `, NULL FROM ` + src + ` s JOIN ` + old + ` n USING (id) WHERE ` + changed,
		}
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("record the changes of %s: %w", table, err)
		}
	}
	if gone != "" {
		q := ins + `n.id, n.name, 'removed', NULL, ` + journaled("n.id", table, true) + `, NULL FROM ` + tbl + ` n WHERE n.id IN (SELECT id FROM ` + gone + `)`
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("record the changes of %s: %w", table, err)
		}
		q = fmt.Sprintf(`SELECT count(*) FROM changes WHERE sync_id = %d AND in_table = %s AND change = 'removed' AND NOT by_apsql`, id, engine.Quote(table))
		if err := tx.QueryRowContext(ctx, q).Scan(&vanished); err != nil {
			return 0, err
		}
		if table == "nodes" {
			l.mu.Lock()
			l.vanished = vanished
			l.mu.Unlock()
		}
	}
	return vanished, markSynced(ctx, tx, l, table)
}

// summary is the line SYNC's summary gets about the nodes that vanished
// from the service without apsql removing them ("" when none did).
func (l *changeLog) summary(s *engine.Session) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.vanished == 0 {
		return ""
	}
	return s.Say("\nsync: %v nodes vanished from the service that apsql did not remove (SELECT * FROM changes WHERE sync_id = %d AND change = 'removed' AND NOT by_apsql)", model.Count(l.vanished), l.id)
}

// statement is the SYNC statement's text for the changes table.
func (j syncJob) statement() string {
	if len(j.parts) == 0 || j.parts[0] == "nodes" && j.filter == "" {
		return "SYNC"
	}
	st := "SYNC " + strings.ToUpper(j.parts[0])
	if j.filter != "" && j.filter != DefaultFilter {
		st += " FILTER " + engine.Quote(j.filter)
	}
	return st
}

// recordedTable says how the changes of one small table are recorded.
type recordedTable struct {
	id, name string // SQL over the row r (s: staged, n: mirrored)
	album    string // album_id, SQL over r; "" for NULL
}

// recordedTables are the small tables whose changes SYNC records.
var recordedTables = map[string]recordedTable{
	"albums":        {id: `r.id`, name: `r.name`},
	"album_members": {id: `r.id`, name: `(SELECT name FROM nodes x WHERE x.id = r.id LIMIT 1)`, album: `r."albumId"`},
	"people":        {id: `r."clusterId"`, name: `r.name`},
	"folders":       {id: `r.id`, name: `r.name`},
}

// record writes, in tx, the change rows of replacing the rows mirror of
// t's table with the staged rows stage (c counts them; join and changed
// are swap's SQL over s and n). The first SYNC of a table (no SYNC of it
// marked, and no row in it) records nothing: every row would be "added"
// by the service, as the first SYNC of nodes would say of every node.
// A table some SYNC left empty records its first rows as added.
func (rt recordedTable) record(ctx context.Context, tx *sql.Tx, t smallTable, tb model.Table, c changes, stage, mirror, join, changed string) error {
	l := changeLogOf(ctx)
	quiet := false
	if c.inserted > 0 && c.updated+c.removed == 0 {
		q := `SELECT NOT EXISTS (SELECT 1 FROM ` + mirror + `) AND NOT EXISTS (SELECT 1 FROM apsql_meta WHERE key = ?)`
		if err := tx.QueryRowContext(ctx, q, changesSinceKey(t.name)).Scan(&quiet); err != nil {
			return fmt.Errorf("record the changes of %s: %w", t.name, err)
		}
	}
	if c.inserted+c.updated+c.removed > 0 && !quiet {
		id, err := l.syncID(ctx, tx)
		if err != nil {
			return err
		}
		ins := insertChanges(id, l, t.name)
		as := func(expr, alias string) string { return strings.ReplaceAll(expr, "r.", alias+".") }
		album := "NULL"
		var stmts []string
		if c.inserted > 0 {
			if rt.album != "" {
				album = as(rt.album, "s")
			}
			stmts = append(stmts, ins+as(rt.id, "s")+`, `+as(rt.name, "s")+`, 'added', NULL, `+journaled(as(rt.id, "s"), t.name, false)+`, `+album+
				fmt.Sprintf(` FROM %s s WHERE NOT EXISTS (SELECT 1 FROM %s n WHERE %s)`, stage, mirror, join))
		}
		if c.removed > 0 {
			if rt.album != "" {
				album = as(rt.album, "n")
			}
			stmts = append(stmts, ins+as(rt.id, "n")+`, `+as(rt.name, "n")+`, 'removed', NULL, `+journaled(as(rt.id, "n"), t.name, false)+`, `+album+
				fmt.Sprintf(` FROM %s n WHERE NOT EXISTS (SELECT 1 FROM %s s WHERE %s)`, mirror, stage, join))
		}
		if c.updated > 0 {
			stmts = append(stmts, ins+as(rt.id, "s")+`, `+as(rt.name, "s")+`, 'changed', `+fieldsSQL(tb.Columns, t.key...)+`, `+journaled(as(rt.id, "s"), t.name, false)+`, NULL`+
				fmt.Sprintf(` FROM %s s JOIN %s n ON %s WHERE %s`, stage, mirror, join, changed))
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("record the changes of %s: %w", t.name, err)
			}
		}
	}
	return markSynced(ctx, tx, l, t.name)
}

// ActionChanges records in the changes table what one action statement
// (TRASH, RESTORE, RENAME, ALBUM ADD, ...) changed in the mirror, with
// by_apsql true: the action calls it in the transaction that applies its
// outcomes to the local tables, so the rows and the change log commit
// together. All the calls of one statement share one sync_id.
type ActionChanges struct {
	log *changeLog
	// found: the rows are what the statement found the service had
	// changed behind apsql's back (by_apsql false).
	found bool
}

// Found returns the recorder, under the same sync_id, of what the statement
// found the service had changed behind apsql's back (a folder trashed
// elsewhere since the last SYNC): its rows have by_apsql false.
func (a *ActionChanges) Found() *ActionChanges {
	return &ActionChanges{log: a.log, found: true}
}

// NewActionChanges starts the change log of an action statement; statement
// names it ("TRASH", "ALBUM ADD", ...).
func NewActionChanges(statement string) *ActionChanges {
	return &ActionChanges{log: &changeLog{statement: statement, at: time.Now().UTC()}}
}

// Nodes records change (ChangeAdded, ChangeRemoved or ChangeChanged) of the
// rows of table (nodes, trash, folders, albums, people) whose ids are
// given, with the columns fields for a change. Call it while the rows are
// in the table: before a removal, after an addition; ids the table lacks
// are skipped.
func (a *ActionChanges) Nodes(ctx context.Context, tx *sql.Tx, table, change string, ids []string, fields ...string) error {
	if len(ids) == 0 {
		return nil
	}
	idCol, ok := map[string]string{"nodes": "id", "trash": "id", "folders": "id", "albums": "id", "people": `"clusterId"`}[table]
	if !ok {
		return fmt.Errorf("record changes: no table %s", table)
	}
	id, err := a.log.syncID(ctx, tx)
	if err != nil {
		return err
	}
	fl := "NULL"
	if len(fields) > 0 {
		fl = listLiteral(fields)
	}
	by := "true"
	if a.found {
		by = "false"
	}
	for lo := 0; lo < len(ids); lo += 1000 {
		hi := min(lo+1000, len(ids))
		q := insertChanges(id, a.log, table) + `n.` + idCol + `, n.name, ` + engine.Quote(change) + `, ` + fl + `, ` + by + `, NULL FROM ` + engine.Ident(table) +
			` n WHERE n.` + idCol + ` IN (SELECT unnest(` + listLiteral(ids[lo:hi]) + `))`
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("record the changes of %s: %w", table, err)
		}
	}
	return nil
}

// Members records that the nodes ids are being added to (ChangeAdded) or
// removed from (ChangeRemoved) the album albumID. Call it before
// album_members changes: only ids not yet members (added) or members
// (removed) are recorded.
func (a *ActionChanges) Members(ctx context.Context, tx *sql.Tx, change, albumID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	member := "NOT EXISTS"
	if change == ChangeRemoved {
		member = "EXISTS"
	}
	id, err := a.log.syncID(ctx, tx)
	if err != nil {
		return err
	}
	for lo := 0; lo < len(ids); lo += 1000 {
		hi := min(lo+1000, len(ids))
		q := insertChanges(id, a.log, "album_members") + `m.id, (SELECT name FROM nodes x WHERE x.id = m.id LIMIT 1), ` + engine.Quote(change) + `, NULL, true, ` + engine.Quote(albumID) +
			` FROM (SELECT DISTINCT unnest(` + listLiteral(ids[lo:hi]) + `) AS id) m WHERE ` + member + ` (SELECT 1 FROM album_members a WHERE a."albumId" = ` + engine.Quote(albumID) + ` AND a.id = m.id)`
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("record the changes of album_members: %w", err)
		}
	}
	return nil
}

// listLiteral is a DuckDB list of string literals.
func listLiteral(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = engine.Quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]::VARCHAR[]"
}
