package backup

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/output"
)

// env is one test's emulator, client, database and session.
type env struct {
	t   *testing.T
	srv *emulator.Server
	c   *fetch.Client
	db  *engine.DB
	s   *engine.Session
}

// setup starts an emulator with opts, an in-memory database with SYNC,
// the actions and BACKUP registered, and runs stmts (e.g. "SYNC").
func setup(t *testing.T, opts emulator.Options, stmts ...string) *env {
	t.Helper()
	opts.State = true
	srv := emulator.StartTest(t, opts)
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	c, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: srv.URL(),
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(t.Context(), engine.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	get := func(context.Context) (*fetch.Client, error) { return c, nil }
	mirror.Register(db.Commands(), get)
	actions.Register(db.Commands(), get)
	Register(db.Commands(), get)
	if err := RegisterLocalFiles(db); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, c: c, db: db, s: humanSession(db)}
	e.s.Yes = true
	for _, st := range stmts {
		e.run(st)
	}
	return e
}

// row is one result row of BACKUP or CHECK: the columns as strings.
type resultRow map[string]string

// run runs a statement and returns its rows and summary; it fails the test
// on an error.
func (e *env) run(stmt string) ([]resultRow, string) {
	e.t.Helper()
	rows, sum, err := e.try(stmt)
	if err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
	return rows, sum
}

func (e *env) try(stmt string) ([]resultRow, string, error) {
	res, err := e.s.Run(e.t.Context(), stmt)
	if err != nil {
		return nil, "", err
	}
	var out []resultRow
	if res.Rows != nil {
		defer res.Rows.Release()
		for res.Rows.Next() {
			rec := res.Rows.RecordBatch()
			for i := 0; i < int(rec.NumRows()); i++ {
				r := resultRow{}
				for c := 0; c < int(rec.NumCols()); c++ {
					col := rec.Column(c)
					if col.IsNull(i) {
						continue
					}
					r[rec.ColumnName(c)] = col.ValueStr(i)
				}
				out = append(out, r)
			}
		}
	}
	return out, res.Summary, nil
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(e.t.Context(), q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *env) strings(q string, args ...any) []string {
	e.t.Helper()
	rows, err := e.db.Query(e.t.Context(), q, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

var _ = array.NewStringBuilder

// humanSession is a session whose lines for people are rendered as the
// program renders them (cmd/apsql installs output.Human).
func humanSession(db *engine.DB) *engine.Session {
	s := engine.NewSession(db)
	s.Render = output.Human
	return s
}
