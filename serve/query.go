package serve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/filterlang"
)

// conn serialises the use of the session's one pinned DuckDB connection
// (engine.DB runs one statement at a time); waiting for it honours ctx.
type conn struct {
	sem  chan struct{}
	sess *engine.Session
	// sb runs the user's queries (the grid's), read-only and away from
	// files, the network and settings, on the session's connection.
	sb *engine.Sandbox
}

func newConn(s *engine.Session, sb *engine.Sandbox) *conn {
	return &conn{sem: make(chan struct{}, 1), sess: s, sb: sb}
}

// with runs fn while holding the connection.
func (c *conn) with(ctx context.Context, fn func(db *engine.DB) error) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	return fn(c.sess.DB)
}

// query is what the page asks for: the text of the box and the facets
// clicked.
type query struct {
	Text   string
	Year   int // 0: any
	Month  int // 1-12, with Year; 0: any
	Camera *camera
	Label  string
}

type camera struct{ Make, Model string }

// base is the query without its facets.
func (q query) base() query { return query{Text: q.Text} }

func (q query) refined() bool { return q.Year != 0 || q.Camera != nil || q.Label != "" }

func (q query) key() string {
	k := fmt.Sprintf("%q|%d|%d|%q", strings.TrimSpace(q.Text), q.Year, q.Month, q.Label)
	if q.Camera != nil {
		k += fmt.Sprintf("|%q|%q", q.Camera.Make, q.Camera.Model)
	}
	return k
}

// sqlKeywords start statements that are SQL rather than a filter; only the
// first three may fill the grid.
var sqlKeywords = map[string]bool{
	"SELECT": true, "WITH": true, "FROM": true,
	"INSERT": false, "UPDATE": false, "DELETE": false, "CREATE": false, "DROP": false, "ALTER": false,
	"COPY": false, "ATTACH": false, "DETACH": false, "PRAGMA": false, "SET": false, "RESET": false, "CALL": false,
	"EXPORT": false, "IMPORT": false, "INSTALL": false, "LOAD": false, "CHECKPOINT": false, "VACUUM": false,
	"BEGIN": false, "COMMIT": false, "ROLLBACK": false, "USE": false, "TRUNCATE": false, "MERGE": false,
	"UPSERT": false, "REPLACE": false, "EXPLAIN": false, "DESCRIBE": false, "SHOW": false, "SUMMARIZE": false,
	"VALUES": false, "TABLE": false, "PREPARE": false, "EXECUTE": false, "DEALLOCATE": false, "GRANT": false,
	// apsql's own statements: they go through the selection bar.
	"SYNC": false, "FIND": false, "TRASH": false, "RESTORE": false, "PURGE": false, "DOWNLOAD": false,
	"UPLOAD": false, "FAVORITE": false, "UNFAVORITE": false, "HIDE": false, "UNHIDE": false, "ALBUM": false,
	"RENAME": false, "LABEL": false,
}

// newestFirst is the grid's order for a filter, as FIND's.
const newestFirst = ` ORDER BY "contentDate" DESC NULLS LAST, id`

// idsQuery is the query of a grid's ids.
type idsQuery struct {
	sql  string
	args []any
	mode string // "all", "sql" or "filter"
	// user is the user's SQL (mode "sql"), run as a subquery of sql.
	user string
}

// idQuery turns the box's text into a query of ids, in the grid's order:
//   - empty: every node, newest first;
//   - SELECT/WITH/FROM: the user's query, which must return an id column,
//     run as a subquery (so it can only be a query);
//   - anything else: an Amazon filter, evaluated locally as FIND does.
func idQuery(text string) (idsQuery, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return idsQuery{sql: `SELECT id FROM nodes` + newestFirst, mode: "all"}, nil
	}
	if kw := engine.Keywords(text, 1); len(kw) == 1 {
		ok, isSQL := sqlKeywords[kw[0]]
		if isSQL && !ok {
			return idsQuery{}, badRequest("only a query (SELECT, WITH or FROM) can fill the grid, not %s; select photos and use the buttons for actions", kw[0])
		}
		if isSQL {
			stmts, rest := engine.Split(text)
			if len(stmts) > 1 || len(stmts) == 1 && strings.TrimSpace(rest) != "" {
				return idsQuery{}, badRequest("one query at a time: the box holds %d statements", len(stmts)+1)
			}
			if len(stmts) == 1 {
				text = stmts[0].Text
			}
			return idsQuery{sql: "SELECT id FROM (" + text + "\n) AS q", mode: "sql", user: text}, nil
		}
	}
	f, err := engine.ParseFilter(text, filterlang.Local)
	if err != nil {
		var fe *engine.FilterError
		if errors.As(err, &fe) {
			return idsQuery{}, &apiError{status: 400, msg: fe.Error() + " (or write SQL: SELECT id FROM photos WHERE ...)", caret: fe.CaretLines()}
		}
		return idsQuery{}, badRequest("%v", err)
	}
	where, args := f.SQL()
	return idsQuery{sql: "SELECT id FROM nodes WHERE " + where + newestFirst, args: args, mode: "filter"}, nil
}

// sqlError makes DuckDB's complaint about the user's query say what the
// grid needs.
func sqlError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, engine.ErrSandboxed) {
		return badRequest("%v", err)
	}
	msg := err.Error()
	// In the sandbox's READ ONLY transaction, a query that writes (a
	// sequence's nextval) is DuckDB's transaction error.
	var de *duckdb.Error
	if errors.As(err, &de) && de.Type == duckdb.ErrorTypeTransaction {
		return badRequest("the grid runs queries read-only: %s", firstLine(msg))
	}
	return badRequest("%s", firstLine(msg))
}

// checkColumns refuses, once per result, the user's SQL (mode "sql")
// whose result has no id column, from the columns of the prepared query
// (not from the text of the error running it would give).
func (rs *results) checkColumns(r *result) error {
	if r.user == "" {
		return nil
	}
	r.checked.Do(func() {
		r.checkErr = rs.db.with(context.Background(), func(*engine.DB) error {
			cols, err := rs.db.sb.Columns(context.Background(), r.user)
			switch {
			case err != nil:
				return sqlError(err)
			case !engine.HasColumn(cols, "id"):
				return badRequest("the query must return an id column for the grid, e.g. SELECT id FROM photos WHERE make = 'Apple' (its columns: %s)", clipList(cols, 60))
			}
			return nil
		})
	})
	return r.checkErr
}

// clipList joins names with ", ", cut after about n characters.
func clipList(names []string, n int) string {
	s := strings.Join(names, ", ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// result is one query's ids, materialised in a temporary table whose rowid
// is the position in the grid.
type result struct {
	q    query
	sql  string // the ids query (base) or the refinement of base's table
	args []any
	mode string
	// user is the user's SQL (mode "sql", unrefined): its result must
	// have an id column.
	user   string
	table  string
	base   *result // the unrefined result, for a refined one
	launch sync.Once
	start  func() // starts the materialisation (once)
	// checked guards checkErr, the user's SQL refused for its columns
	// (checkColumns).
	checked  sync.Once
	checkErr error
	ready    chan struct{}
	total    int64
	err      error
	cancel   context.CancelFunc
}

// results caches the last few results, so scrolling and facets reuse them.
type results struct {
	db    *conn
	mu    sync.Mutex
	byKey map[string]*result
	order []string // least recently used first
	seq   int
}

// keepResults bounds the temporary tables kept (each holds ids only: ~30
// bytes a row).
const keepResults = 6

func newResults(db *conn) *results { return &results{db: db, byKey: map[string]*result{}} }

// get returns the result of q, starting its materialisation when it is
// new. A refined query's table is built from its base's.
func (rs *results) get(q query) (*result, error) {
	rs.mu.Lock()
	r, err := rs.getLocked(q)
	rs.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for b := r; b != nil; b = b.base {
		if err := rs.checkColumns(b); err != nil {
			rs.forget(b)
			return nil, err
		}
	}
	return r, nil
}

func (rs *results) getLocked(q query) (*result, error) {
	k := q.key()
	if r, ok := rs.byKey[k]; ok {
		rs.touch(k)
		return r, nil
	}
	r := &result{q: q, ready: make(chan struct{})}
	if q.refined() {
		b, err := rs.getLocked(q.base())
		if err != nil {
			return nil, err
		}
		r.base, r.mode = b, b.mode
	} else {
		iq, err := idQuery(q.Text)
		if err != nil {
			return nil, err
		}
		r.sql, r.args, r.mode, r.user = iq.sql, iq.args, iq.mode, iq.user
		// A new query has the connection first: tables still being built
		// for earlier ones stop (and are built again if asked for).
		for _, o := range rs.byKey {
			if o.cancel != nil && !o.q.refined() {
				o.cancel()
			}
		}
	}
	rs.seq++
	r.table = fmt.Sprintf("apsql_serve_%d", rs.seq)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	rs.byKey[k] = r
	rs.order = append(rs.order, k)
	rs.evict()
	// The materialisation starts when something needs the table; the
	// first page of a new query is read straight from the query before
	// (a LIMIT is far quicker than ordering a million ids).
	r.start = func() { r.launch.Do(func() { go rs.materialize(ctx, r) }) }
	if q.refined() {
		r.start()
	}
	return r, nil
}

func (rs *results) touch(k string) {
	for i, o := range rs.order {
		if o == k {
			rs.order = append(append(rs.order[:i:i], rs.order[i+1:]...), k)
			return
		}
	}
}

// evict drops the least recently used results beyond keepResults (never
// a base that a kept refinement needs).
func (rs *results) evict() {
	for len(rs.order) > keepResults {
		k := rs.order[0]
		r := rs.byKey[k]
		needed := false
		for _, o := range rs.byKey {
			if o.base == r {
				needed = true
			}
		}
		rs.order = rs.order[1:]
		if needed {
			rs.order = append(rs.order, k)
			continue
		}
		delete(rs.byKey, k)
		go rs.drop(r)
	}
}

// drop stops r's materialisation and drops its table.
func (rs *results) drop(r *result) {
	r.cancel()
	r.start()
	<-r.ready
	rs.db.with(context.Background(), func(db *engine.DB) error {
		_, err := db.Exec(context.Background(), "DROP TABLE IF EXISTS temp."+r.table)
		return err
	})
}

// invalidate forgets every result (after an action changed the mirror).
func (rs *results) invalidate() {
	rs.mu.Lock()
	old := rs.byKey
	rs.byKey, rs.order = map[string]*result{}, nil
	rs.mu.Unlock()
	for _, r := range old {
		rs.drop(r)
	}
}

// materialize builds r's table: the ids in order, in a read-only
// transaction. A failure or cancellation is kept in r.err, and the result
// is forgotten so that the next request starts again.
func (rs *results) materialize(ctx context.Context, r *result) {
	defer close(r.ready)
	if r.base != nil {
		r.base.start()
		select {
		case <-r.base.ready:
		case <-ctx.Done():
			r.err = ctx.Err()
		}
		if r.err == nil && r.base.err != nil {
			r.err = r.base.err
		}
		if r.err == nil {
			r.sql, r.args = refineSQL(r.base.table, r.q)
		}
	}
	if r.err == nil {
		r.err = rs.db.with(ctx, func(*engine.DB) error {
			var err error
			r.total, err = rs.db.sb.CreateTemp(ctx, r.table, r.sql, r.args...)
			return sqlError(err)
		})
	}
	if r.err != nil {
		rs.forget(r)
	}
}

// forget drops r from the cache, if it is still there, so that the next
// request for its query starts again.
func (rs *results) forget(r *result) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.byKey[r.q.key()] == r {
		delete(rs.byKey, r.q.key())
		for i, k := range rs.order {
			if k == r.q.key() {
				rs.order = append(rs.order[:i:i], rs.order[i+1:]...)
				break
			}
		}
	}
}

// refineSQL keeps the ids of base's table that the facets select, in
// base's order.
func refineSQL(base string, q query) (string, []any) {
	var conds []string
	var args []any
	if q.Year != 0 {
		conds = append(conds, `year(n."contentDate") = ?`)
		args = append(args, q.Year)
		if q.Month != 0 {
			conds = append(conds, `month(n."contentDate") = ?`)
			args = append(args, q.Month)
		}
	}
	if q.Camera != nil {
		conds = append(conds, `coalesce(n.make, '') = ? AND coalesce(n.model, '') = ?`)
		args = append(args, q.Camera.Make, q.Camera.Model)
	}
	sql := "SELECT b.id FROM temp." + base + " b"
	where := []string{}
	if len(conds) > 0 {
		where = append(where, "b.id IN (SELECT n.id FROM nodes n WHERE "+strings.Join(conds, " AND ")+")")
	}
	if q.Label != "" {
		where = append(where, "b.id IN (SELECT l.id FROM labels l WHERE l.rank = 1 AND l.label = ?)")
		args = append(args, q.Label)
	}
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	return sql + " ORDER BY b.rowid", args
}

// wait waits for r's table.
func (r *result) wait(ctx context.Context) error {
	r.start()
	select {
	case <-r.ready:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *result) isReady() bool {
	select {
	case <-r.ready:
		return r.err == nil
	default:
		return false
	}
}
