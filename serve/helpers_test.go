package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

// env is one test's emulator, mirrored database, gallery and its HTTP
// server.
type env struct {
	t     *testing.T
	emu   *emulator.Server
	db    *engine.DB
	srv   *Server
	http  *httptest.Server
	cache string
}

// setup mirrors an emulated library of n items (SYNC, through the real
// client) and serves the gallery over it on loopback.
func setup(t *testing.T, n int, opts ...func(*Options)) *env {
	t.Helper()
	emu := emulator.StartTest(t, emulator.Options{Nodes: n, Seed: 7, State: true})
	cookies, err := fetch.NewCookies(emu.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	c, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: emu.URL(),
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(t.Context(), engine.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	client := func(context.Context) (*fetch.Client, error) { return c, nil }
	mirror.Register(db.Commands(), client)
	actions.Register(db.Commands(), client)
	if err := mirror.RegisterSearch(db, client); err != nil {
		t.Fatal(err)
	}
	if err := mirror.RegisterDupes(db, client); err != nil {
		t.Fatal(err)
	}
	sess := engine.NewSession(db)
	if _, err := sess.Run(t.Context(), "SYNC"); err != nil {
		t.Fatalf("SYNC: %v", err)
	}
	e := &env{t: t, emu: emu, db: db, cache: t.TempDir()}
	o := Options{Session: sess, Client: client, CacheDir: e.cache, DownloadDir: t.TempDir(), Logf: t.Logf}
	for _, f := range opts {
		f(&o)
	}
	e.srv, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.http.Close)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request with the token (and the CSRF header on POST) and
// returns the status and body.
func (e *env) do(method, path string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set(tokenHeader, e.srv.Token())
	if method == http.MethodPost {
		req.Header.Set(csrfHeader, e.srv.CSRF())
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// getJSON GETs path, wants 200, and decodes the answer into v.
func (e *env) getJSON(path string, v any) {
	e.t.Helper()
	code, b := e.do(http.MethodGet, path, nil)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s = %d %s, want 200", path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// all reads the whole result of the grid's query vals, page by page.
func (e *env) all(vals url.Values, limit int) (ids []string, total int64) {
	e.t.Helper()
	for off := 0; ; off += limit {
		vals.Set("offset", itoa(off))
		vals.Set("limit", itoa(limit))
		var p gridPage
		e.getJSON("/api/grid?"+vals.Encode(), &p)
		for _, it := range p.Items {
			ids = append(ids, it.ID)
		}
		if p.Total >= 0 {
			total = p.Total
		}
		if !p.More {
			return ids, total
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// strings runs a query on the test's database (outside the server) and
// returns its first column.
func (e *env) strings(q string, args ...any) []string {
	e.t.Helper()
	var out []string
	err := e.srv.db.with(e.t.Context(), func(db *engine.DB) error {
		var err error
		out, err = queryStrings(e.t.Context(), db, q, args...)
		return err
	})
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return out
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	err := e.srv.db.with(e.t.Context(), func(db *engine.DB) error {
		_, err := db.Exec(e.t.Context(), q, args...)
		return err
	})
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// named is the gallery's host name with the test server's port: the Host
// of a browser that opened the printed URL.
func (e *env) named() string {
	return net.JoinHostPort(e.srv.Host(), e.http.URL[strings.LastIndexByte(e.http.URL, ':')+1:])
}
