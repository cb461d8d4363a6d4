package agent

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

// env is one test's emulator, database, MCP server and the SDK's own
// client connected to it in memory.
type env struct {
	t       *testing.T
	emu     *emulator.Server
	db      *engine.DB
	srv     *Server
	cs      *mcp.ClientSession
	cookies map[string]string
	cache   string

	mu       sync.Mutex
	progress []*mcp.ProgressNotificationParams
	// seen is every text any answer carried (for the secrets test).
	seen strings.Builder
}

// setup serves an emulated library of n items; the database is mirrored
// by the server's Init (a SYNC after the lockdown, as apsql --demo mcp).
func setup(t *testing.T, n int, path string) *env {
	t.Helper()
	return setupWith(t, n, path, true)
}

// setupWith is setup; without sync, the database starts empty.
func setupWith(t *testing.T, n int, path string, sync bool) *env {
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
	if path == "" {
		path = engine.Memory
	}
	db, err := engine.Open(t.Context(), path)
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
	e := &env{t: t, emu: emu, db: db, cookies: emu.Cookies(), cache: t.TempDir()}
	secrets := func() []string {
		var out []string
		for _, v := range e.cookies {
			out = append(out, v)
		}
		return out
	}
	opts := Options{Session: engine.NewSession(db), Client: client, CacheDir: e.cache, Secrets: secrets, Logf: t.Logf}
	if sync {
		opts.Init = func(ctx context.Context, s *engine.Session) error {
			_, err := s.Run(ctx, "SYNC")
			return err
		}
	}
	e.srv, err = New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.srv.Close() })
	st, ct := mcp.NewInMemoryTransports()
	ss, err := e.srv.MCP().Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cl := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			e.mu.Lock()
			e.progress = append(e.progress, r.Params)
			e.mu.Unlock()
		}})
	e.cs, err = cl.Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cs.Close() })
	return e
}

// call calls tool with args and returns its result (IsError or not).
func (e *env) call(tool string, args any) *mcp.CallToolResult {
	e.t.Helper()
	return e.callMeta(tool, args, nil)
}

func (e *env) callMeta(tool string, args any, meta mcp.Meta) *mcp.CallToolResult {
	e.t.Helper()
	p := &mcp.CallToolParams{Name: tool, Arguments: args}
	if meta != nil {
		p.Meta = meta
	}
	res, err := e.cs.CallTool(e.t.Context(), p)
	if err != nil {
		e.t.Fatalf("%s: %v", tool, err)
	}
	e.record(res)
	return res
}

func (e *env) record(res *mcp.CallToolResult) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			e.seen.WriteString(tc.Text)
		}
	}
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		e.seen.Write(b)
	}
}

// ok calls tool, wants success, and decodes the structured content into
// out (when not nil); it returns the text.
func (e *env) ok(tool string, args any, out any) string {
	e.t.Helper()
	res := e.call(tool, args)
	txt := text(res)
	if res.IsError {
		e.t.Fatalf("%s(%v): error %s", tool, args, txt)
	}
	if out != nil {
		b, err := json.Marshal(res.StructuredContent)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s: structured content %s: %v", tool, b, err)
		}
	}
	return txt
}

// fails calls tool and wants a tool error whose text holds every want.
func (e *env) fails(tool string, args any, want ...string) string {
	e.t.Helper()
	res := e.call(tool, args)
	txt := text(res)
	if !res.IsError {
		e.t.Fatalf("%s(%v) = %s, want an error", tool, args, txt)
	}
	for _, w := range want {
		if !strings.Contains(txt, w) {
			e.t.Errorf("%s(%v) error %q, want it to hold %q", tool, args, txt, w)
		}
	}
	return txt
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// strs runs q on the database (outside the server, holding it) and returns
// its first column.
func (e *env) strs(q string, args ...any) []string {
	e.t.Helper()
	var out []string
	err := e.srv.with(e.t.Context(), func(s *engine.Session) error {
		rows, err := s.DB.Query(e.t.Context(), q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return out
}
