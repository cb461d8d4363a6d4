package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

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
	rec *recorder
}

// setup starts an emulator with opts, a client for it (no backoff sleeps,
// maxRetries re-sends; 0 for the default), an in-memory database with the
// actions registered, and mirrors the library into it.
func setup(t *testing.T, opts emulator.Options, maxRetries int) *env {
	t.Helper()
	opts.State = true
	srv := emulator.StartTest(t, opts)
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{next: http.DefaultTransport.(*http.Transport).Clone()}
	c, err := fetch.New(fetch.Config{
		Cookies: cookies, Endpoint: srv.URL(), MaxRetries: maxRetries,
		Sleep:      func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		HTTPClient: &http.Client{Transport: rec},
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(t.Context(), engine.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	Register(db.Commands(), func(context.Context) (*fetch.Client, error) { return c, nil })
	e := &env{t: t, srv: srv, c: c, db: db, s: humanSession(db), rec: rec}
	e.mirror()
	return e
}

// mirror replaces nodes, trash, albums and album_members with the
// service's state, as SYNC and SYNC ALBUMS would.
func (e *env) mirror() {
	e.t.Helper()
	ctx := e.t.Context()
	e.exec(`DELETE FROM nodes`)
	e.exec(`DELETE FROM trash`)
	for _, f := range []struct{ table, filter string }{{"nodes", ""}, {"trash", ""}} {
		in, err := e.db.Ingester(ctx, f.table, fetch.NodeSchema())
		if err != nil {
			e.t.Fatal(err)
		}
		emit := func(b arrow.RecordBatch) error { return in.Insert(ctx, b) }
		if f.table == "trash" {
			_, err = e.c.StreamTrash(ctx, emit)
		} else {
			_, err = e.c.StreamSearch(ctx, f.filter, "", emit)
		}
		if err != nil {
			e.t.Fatalf("mirror %s %s: %v", f.table, f.filter, err)
		}
	}
	mirror.Register(e.db.Commands(), func(context.Context) (*fetch.Client, error) { return e.c, nil })
	if res, err := e.s.Run(ctx, "SYNC ALBUMS"); err != nil {
		e.t.Fatalf("SYNC ALBUMS: %v", err)
	} else if res.Rows != nil {
		res.Rows.Release()
	}
	e.rec.reset()
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(e.t.Context(), q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// ids returns the first column of a query as strings.
func (e *env) ids(q string, args ...any) []string {
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

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(e.t.Context(), q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// row is one result row of an action.
type row struct {
	id, name string
	status   Status
	detail   string
}

// run runs a statement and returns its rows and summary; it fails the test
// on an error.
// runFaulted runs stmt with before called on each request the emulator
// gets (it may set the emulator's faults), then clears before and the
// faults.
func (e *env) runFaulted(before func(r *http.Request), stmt string) ([]row, string) {
	e.t.Helper()
	e.rec.mu.Lock()
	e.rec.before = before
	e.rec.mu.Unlock()
	defer func() {
		e.srv.SetFaults(0, 0, 0, 0)
		e.rec.mu.Lock()
		e.rec.before = nil
		e.rec.mu.Unlock()
	}()
	return e.run(stmt)
}

func (e *env) run(stmt string) ([]row, string) {
	e.t.Helper()
	rows, sum, err := e.try(e.t.Context(), stmt)
	if err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
	return rows, sum
}

func (e *env) try(ctx context.Context, stmt string) ([]row, string, error) {
	res, err := e.s.Run(ctx, stmt)
	if err != nil {
		return nil, "", err
	}
	if res.Rows == nil {
		return nil, res.Summary, nil
	}
	defer res.Rows.Release()
	var out []row
	for res.Rows.Next() {
		b := res.Rows.RecordBatch()
		col := func(i int, r int) string {
			c := b.Column(i).(*array.String)
			if c.IsNull(r) {
				return ""
			}
			return c.Value(r)
		}
		for r := 0; r < int(b.NumRows()); r++ {
			out = append(out, row{col(0, r), col(1, r), Status(col(2, r)), col(3, r)})
		}
	}
	return out, res.Summary, res.Rows.Err()
}

// byStatus groups the ids of rows by status.
func byStatus(rows []row) map[Status][]string {
	m := map[Status][]string{}
	for _, r := range rows {
		m[r.status] = append(m[r.status], r.id)
	}
	return m
}

// node reads a node's JSON from the emulator's state.
func (e *env) node(id string) (remoteNode, bool) {
	e.t.Helper()
	raw, ok := e.srv.Node(id)
	if !ok {
		return remoteNode{}, false
	}
	var n remoteNode
	if err := json.Unmarshal(raw, &n); err != nil {
		e.t.Fatal(err)
	}
	return n, true
}

// recorder observes the requests the client sends over loopback: for each,
// the ids in a JSON body's "value" or "nodeIds", and the status received
// (0 when the transport failed before a status line).
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []recorded
	// before, when set, sees each request before it is sent.
	before func(*http.Request)
}

type recorded struct {
	method, path string
	ids          []string
	status       int
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var ids []string
	if req.Body != nil && req.Header.Get("Content-Type") == "application/json" {
		body, _ := io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		var b struct {
			Value   []string `json:"value"`
			NodeIDs []string `json:"nodeIds"`
		}
		_ = json.Unmarshal(body, &b)
		ids = append(b.Value, b.NodeIDs...)
	}
	r.mu.Lock()
	before := r.before
	r.mu.Unlock()
	if before != nil {
		before(req)
	}
	resp, err := r.next.RoundTrip(req)
	rec := recorded{method: req.Method, path: req.URL.Path, ids: ids}
	if err == nil {
		rec.status = resp.StatusCode
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

// matching returns the recorded requests with method and a path containing
// part.
func (r *recorder) matching(method, part string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, q := range r.reqs {
		if q.method == method && strings.Contains(q.path, part) {
			out = append(out, q)
		}
	}
	return out
}

// appliedTwice returns the ids that the service received in more than one
// request that it answered 200: each such request was applied.
func appliedTwice(reqs []recorded) []string {
	n := map[string]int{}
	var twice []string
	for _, q := range reqs {
		if q.status != http.StatusOK {
			continue
		}
		for _, id := range q.ids {
			if n[id]++; n[id] == 2 {
				twice = append(twice, id)
			}
		}
	}
	return twice
}

// changes counts the recorded requests that change something (not GET):
// a re-run may read nodes back, but must send no change.
func (r *recorder) changes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.reqs {
		if q.method != http.MethodGet {
			n++
		}
	}
	return n
}

// humanSession is a session whose lines for people are rendered as the
// program renders them (cmd/apsql installs output.Human).
func humanSession(db *engine.DB) *engine.Session {
	s := engine.NewSession(db)
	s.Render = output.Human
	return s
}
