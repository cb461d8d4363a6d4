package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// The sandbox: a read-only query surface over the mirror for SQL that
// does not come from the shell's own user at the terminal (the gallery's
// query box, an MCP client). Its queries can read the database's tables
// and nothing else: no file, no network, no extension, no write, no
// setting, and no live request to the service unless the surface was
// started with that allowed.
//
// How, and why so:
//   - DuckDB's enable_external_access = false (files, URLs, COPY, ATTACH
//     of a file, INSTALL, LOAD) and lock_configuration = true (no SET or
//     PRAGMA can take it back). Both settings are global to the DuckDB
//     instance, not to one connection: a second connection gives no
//     isolation, and a second instance on the same file is refused by
//     DuckDB in the same process ("different configuration") and would
//     not see the session's writes anyway. So Lockdown turns them off for
//     the whole database, for good. The session's own connection keeps
//     working for apsql's statements: they do their I/O in Go, and the
//     database file, its WAL and the spill folder stay reachable; what no
//     longer works there is SET (SYNC's damage check and --memory-limit
//     change memory_limit, so SYNC before Lockdown; the Arrow insert's
//     SET threads is skipped) and DuckDB's own file functions.
//   - Only a single statement whose prepared type is SELECT runs (DuckDB's
//     parser decides, not apsql's splitter): COPY, ATTACH (also of
//     ':memory:'), INSTALL, LOAD, SET, PRAGMA, CALL, CREATE, ... are
//     refused by type.
//   - It runs in a READ ONLY transaction: a SELECT that writes (nextval)
//     fails; temporary tables, the caller's own result caches, are
//     allowed (CreateTemp).
//   - search() (apsql's live table function) asks LiveAllowed of the
//     query's context, which the sandbox marks: it is refused unless
//     SandboxOptions.AllowLive.
//
// Every refusal matches ErrSandboxed (errors.Is); a refused search() also
// matches ErrLiveRefused. The decision is made on DuckDB's typed error
// (duckdb.ErrorTypePermission) and statement type, never on its text.

// ErrSandboxed is the cause of every refusal of the sandbox.
var ErrSandboxed = errors.New("refused by the read-only sandbox")

// ErrLiveRefused is the cause of a refused search() (with ErrSandboxed).
var ErrLiveRefused = errors.New("live requests to the service are not allowed here")

// SandboxOptions configures a Sandbox.
type SandboxOptions struct {
	// AllowLive lets queries call search(), which sends requests to the
	// service (apsql serve --allow-search). Off by default.
	AllowLive bool
	// OwnConnection gives the sandbox a DuckDB connection of its own,
	// which may run while the session's connection runs something else;
	// it sees the database's tables but not the session's temporary
	// tables and macros (search() is then apsql_search_live()). Without
	// it the sandbox uses the session's pinned connection (and sees its
	// temporary tables); the caller then runs one statement at a time on
	// the DB, sandboxed or not.
	OwnConnection bool
}

// Sandbox runs queries read-only, away from files, the network and
// settings. Create it with DB.Sandbox. Like DB, it runs one statement at
// a time.
type Sandbox struct {
	d    *DB
	conn *sql.Conn
	own  bool
	opts SandboxOptions
}

// Lockdown turns off, for the whole database and until it is closed,
// DuckDB's access to anything but the database itself (files, the
// network, extensions) and locks its configuration. It cannot be undone;
// calling it again does nothing. DB.Sandbox calls it.
func (d *DB) Lockdown(ctx context.Context) error {
	d.lockdown.Lock()
	defer d.lockdown.Unlock()
	if d.lockedDown {
		return nil
	}
	for _, q := range []string{
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET enable_external_access = false",
		"SET lock_configuration = true",
	} {
		if _, err := d.conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("lock the database down (%s): %w", q, err)
		}
	}
	d.lockedDown = true
	return nil
}

// LockedDown reports whether Lockdown ran.
func (d *DB) LockedDown() bool {
	d.lockdown.Lock()
	defer d.lockdown.Unlock()
	return d.lockedDown
}

// Sandbox locks the database down (Lockdown) and returns the read-only
// query surface over it. Close it when done (it closes its own
// connection, if it has one; the DB stays locked down).
func (d *DB) Sandbox(ctx context.Context, opts SandboxOptions) (*Sandbox, error) {
	if err := d.Lockdown(ctx); err != nil {
		return nil, err
	}
	s := &Sandbox{d: d, conn: d.conn, opts: opts}
	if opts.OwnConnection {
		c, err := d.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("sandbox connection: %w", err)
		}
		s.conn, s.own = c, true
	}
	return s, nil
}

// Close closes the sandbox's own connection.
func (s *Sandbox) Close() error {
	if s.own {
		return s.conn.Close()
	}
	return nil
}

// sandboxKey marks a context as the sandbox's (see LiveAllowed).
type sandboxKey struct{}

type sandboxMark struct {
	allowLive bool
	refused   atomic.Bool // LiveAllowed refused a call
}

// markContext returns ctx marked with the sandbox's policy, and the mark.
func (s *Sandbox) markContext(ctx context.Context) (context.Context, *sandboxMark) {
	m := &sandboxMark{allowLive: s.opts.AllowLive}
	return context.WithValue(ctx, sandboxKey{}, m), m
}

// LiveAllowed returns nil unless ctx is a sandboxed query's that may not
// reach the service: a table function that sends requests (search())
// calls it when it binds, with the query's context, and refuses to run on
// an error. The error matches ErrSandboxed and ErrLiveRefused.
func LiveAllowed(ctx context.Context) error {
	m, ok := ctx.Value(sandboxKey{}).(*sandboxMark)
	if !ok || m.allowLive {
		return nil
	}
	m.refused.Store(true)
	return liveError()
}

func liveError() error {
	return fmt.Errorf("search() sends live requests to the service, which this read-only surface does not allow (start the gallery with apsql serve --allow-search to allow it)%w", quiet(errors.Join(ErrSandboxed, ErrLiveRefused)))
}

// stmtNames names the statement types for the refusal's message.
var stmtNames = map[duckdb.StmtType]string{
	duckdb.STATEMENT_TYPE_INSERT: "INSERT", duckdb.STATEMENT_TYPE_UPDATE: "UPDATE",
	duckdb.STATEMENT_TYPE_EXPLAIN: "EXPLAIN", duckdb.STATEMENT_TYPE_DELETE: "DELETE",
	duckdb.STATEMENT_TYPE_PREPARE: "PREPARE", duckdb.STATEMENT_TYPE_CREATE: "CREATE",
	duckdb.STATEMENT_TYPE_EXECUTE: "EXECUTE", duckdb.STATEMENT_TYPE_ALTER: "ALTER",
	duckdb.STATEMENT_TYPE_TRANSACTION: "a transaction statement", duckdb.STATEMENT_TYPE_COPY: "COPY",
	duckdb.STATEMENT_TYPE_ANALYZE: "ANALYZE", duckdb.STATEMENT_TYPE_VARIABLE_SET: "SET VARIABLE",
	duckdb.STATEMENT_TYPE_CREATE_FUNC: "CREATE FUNCTION", duckdb.STATEMENT_TYPE_DROP: "DROP",
	duckdb.STATEMENT_TYPE_EXPORT: "EXPORT", duckdb.STATEMENT_TYPE_PRAGMA: "PRAGMA",
	duckdb.STATEMENT_TYPE_VACUUM: "VACUUM", duckdb.STATEMENT_TYPE_CALL: "CALL",
	duckdb.STATEMENT_TYPE_SET: "SET", duckdb.STATEMENT_TYPE_LOAD: "INSTALL or LOAD",
	duckdb.STATEMENT_TYPE_ATTACH: "ATTACH", duckdb.STATEMENT_TYPE_DETACH: "DETACH",
	duckdb.STATEMENT_TYPE_MULTI: "several statements",
}

// Check prepares query (exactly one statement, as DuckDB's parser sees
// it) and refuses it unless it is a SELECT (WITH, FROM, VALUES and
// DESCRIBE are SELECTs too), or when it reaches files, the network or
// extensions. It runs nothing.
func (s *Sandbox) Check(ctx context.Context, query string) error {
	if !s.d.LockedDown() {
		return fmt.Errorf("sandbox: the database is not locked down%w", quiet(ErrSandboxed))
	}
	var typ duckdb.StmtType
	err := s.conn.Raw(func(dc any) error {
		c, ok := dc.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("sandbox: connection is a %T, not a DuckDB connection", dc)
		}
		// Prepare (not PrepareContext) refuses more than one statement;
		// PrepareContext would run all but the last.
		st, err := c.Prepare(query)
		var de *duckdb.Error
		if err != nil && !errors.As(err, &de) {
			// Not DuckDB's complaint about the query: the driver's about
			// its number of statements (none, or more than one).
			return fmt.Errorf("give exactly one query (one statement, no ';' between two)%w", quiet(ErrSandboxed))
		}
		if err != nil {
			return err
		}
		defer st.Close()
		ds, ok := st.(*duckdb.Stmt)
		if !ok {
			return fmt.Errorf("sandbox: statement is a %T", st)
		}
		typ, err = ds.StatementType()
		return err
	})
	if err != nil {
		return sandboxError(err, nil)
	}
	if typ != duckdb.STATEMENT_TYPE_SELECT {
		name := stmtNames[typ]
		if name == "" {
			name = fmt.Sprintf("statement type %d", typ)
		}
		return fmt.Errorf("only a query (SELECT, WITH or FROM) can run here, not %s%w", name, quiet(ErrSandboxed))
	}
	return nil
}

// sandboxError turns DuckDB's Permission error into ErrSandboxed with a
// line that says what the sandbox allows, and a search() that
// LiveAllowed refused into ErrLiveRefused; other errors are returned as
// they are.
func sandboxError(err error, m *sandboxMark) error {
	if err == nil {
		return nil
	}
	if m != nil && m.refused.Load() {
		return liveError()
	}
	var de *duckdb.Error
	if errors.As(err, &de) && de.Type == duckdb.ErrorTypePermission {
		return fmt.Errorf("queries here cannot read files, reach the network or load extensions: they read the mirror's tables only (DuckDB: %s)%w", firstLine(de.Msg), quiet(ErrSandboxed))
	}
	return err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// readOnly runs fn in a READ ONLY transaction on the sandbox's connection.
// The transaction always ends, committed or rolled back, even when ctx is
// cancelled midway: a connection left in a transaction would break every
// later statement.
func (s *Sandbox) readOnly(ctx context.Context, fn func() error) error {
	end := context.WithoutCancel(ctx)
	if _, err := s.conn.ExecContext(ctx, "BEGIN TRANSACTION READ ONLY"); err != nil {
		if ctx.Err() != nil {
			s.rollback(end) // in case BEGIN ran before the cancellation was seen
		}
		return err
	}
	err := fn()
	if err == nil {
		if _, err = s.conn.ExecContext(end, "COMMIT"); err == nil {
			return nil
		}
	}
	if rerr := s.rollback(end); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// rollback ends the transaction, if one is open.
func (s *Sandbox) rollback(ctx context.Context) error {
	_, err := s.conn.ExecContext(ctx, "ROLLBACK")
	var de *duckdb.Error
	if errors.As(err, &de) && de.Type == duckdb.ErrorTypeTransaction {
		return nil // no transaction was open
	}
	return err
}

// Rows is a sandboxed query's result: database/sql's rows, whose Close
// also ends the query's read-only transaction.
type Rows struct {
	*sql.Rows
	once sync.Once
	end  func() error
	err  error
}

// Close closes the rows and ends the transaction.
func (r *Rows) Close() error {
	r.once.Do(func() { r.err = errors.Join(r.Rows.Close(), r.end()) })
	return r.err
}

// Query runs query (Check'ed first) with args in a read-only transaction
// and returns its rows; Close them before the connection runs anything
// else.
func (s *Sandbox) Query(ctx context.Context, query string, args ...any) (*Rows, error) {
	if err := s.Check(ctx, query); err != nil {
		return nil, err
	}
	mctx, m := s.markContext(ctx)
	end := context.WithoutCancel(ctx)
	if _, err := s.conn.ExecContext(ctx, "BEGIN TRANSACTION READ ONLY"); err != nil {
		if ctx.Err() != nil {
			s.rollback(end)
		}
		return nil, err
	}
	rows, err := s.conn.QueryContext(mctx, query, args...)
	if err != nil {
		return nil, errors.Join(sandboxError(err, m), s.rollback(end))
	}
	return &Rows{Rows: rows, end: func() error {
		if _, err := s.conn.ExecContext(end, "COMMIT"); err != nil {
			return errors.Join(err, s.rollback(end))
		}
		return nil
	}}, nil
}

// QueryArrow runs query like Query and reads its whole result as Arrow
// record batches, for results of bounded size (the MCP's answers): the
// transaction ends before it returns. Release the reader when done.
func (s *Sandbox) QueryArrow(ctx context.Context, query string, args ...any) (array.RecordReader, error) {
	if err := s.Check(ctx, query); err != nil {
		return nil, err
	}
	mctx, m := s.markContext(ctx)
	var out array.RecordReader
	err := s.readOnly(ctx, func() error {
		rr, err := QueryArrow(mctx, s.conn, query, args...)
		if err != nil {
			return sandboxError(err, m)
		}
		defer rr.Release()
		out, err = readAll(rr)
		return sandboxError(err, m)
	})
	return out, err
}

// CreateTemp runs query (Check'ed first) in a read-only transaction and
// keeps its result in the temporary table named table (a name of the
// caller's, not the user's), and returns its number of rows. The gallery
// keeps each result of its grid so.
func (s *Sandbox) CreateTemp(ctx context.Context, table, query string, args ...any) (int64, error) {
	if err := s.Check(ctx, query); err != nil {
		return 0, err
	}
	mctx, m := s.markContext(ctx)
	var n int64
	err := s.readOnly(ctx, func() error {
		if _, err := s.conn.ExecContext(mctx, "CREATE TEMP TABLE "+Ident(table)+" AS "+query, args...); err != nil {
			return sandboxError(err, m)
		}
		return s.conn.QueryRowContext(ctx, "SELECT count(*) FROM temp."+Ident(table)).Scan(&n)
	})
	return n, err
}

// readAll reads rr into memory.
func readAll(rr array.RecordReader) (array.RecordReader, error) {
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for rr.Next() {
		rec := rr.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := rr.Err(); err != nil {
		return nil, err
	}
	return array.NewRecordReader(rr.Schema(), recs)
}
