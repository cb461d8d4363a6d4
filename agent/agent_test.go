package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/apsql/apsql/engine"
)

// Every tool is listed with a schema, a description and annotations that
// say what it does to the library.
func TestToolsListed(t *testing.T) {
	e := setup(t, 60, "")
	want := map[string]struct{ readOnly, destructive bool }{
		"query": {true, false}, "find": {true, false}, "schema": {true, false}, "explain": {true, false},
		"run": {false, true}, "sync": {false, false}, "thumbnail": {true, false}, "usage": {true, false},
	}
	got := map[string]bool{}
	for tool, err := range e.cs.Tools(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		got[tool.Name] = true
		w, ok := want[tool.Name]
		if !ok {
			t.Errorf("unexpected tool %s", tool.Name)
			continue
		}
		a := tool.Annotations
		if a == nil || a.DestructiveHint == nil || a.OpenWorldHint == nil {
			t.Fatalf("%s: annotations %+v, want every hint set", tool.Name, a)
		}
		if a.ReadOnlyHint != w.readOnly || *a.DestructiveHint != w.destructive {
			t.Errorf("%s: readOnly %v destructive %v, want %v %v", tool.Name, a.ReadOnlyHint, *a.DestructiveHint, w.readOnly, w.destructive)
		}
		if len(tool.Description) < 80 || tool.InputSchema == nil {
			t.Errorf("%s: description %q, schema %v", tool.Name, tool.Description, tool.InputSchema)
		}
	}
	if len(got) != len(want) {
		t.Errorf("tools %v, want %d", got, len(want))
	}
}

func TestQuery(t *testing.T) {
	e := setup(t, 400, "")
	st := e.emu.State()
	var tb Table
	txt := e.ok("query", map[string]any{"sql": "SELECT count(*) AS n FROM photos;"}, &tb)
	if len(tb.Rows) != 1 || fmt.Sprint(tb.Rows[0][0]) != fmt.Sprint(st.Photos) || tb.Truncated {
		t.Fatalf("photos = %v (%s), emulator has %d", tb.Rows, txt, st.Photos)
	}
	if !strings.HasPrefix(txt, "n\n") {
		t.Errorf("text %q, want CSV with the header n", txt)
	}
	// Text comes back as the database holds it (every name of the mirror).
	tb = Table{}
	e.ok("query", map[string]any{"sql": "SELECT name, model FROM nodes ORDER BY id", "max_rows": 1000}, &tb)
	names, models := e.strs("SELECT name FROM nodes ORDER BY id"), e.strs("SELECT coalesce(model, 'NULL') FROM nodes ORDER BY id")
	for i, r := range tb.Rows {
		if fmt.Sprint(r[0]) != names[i] || (r[1] != nil || models[i] != "NULL") && fmt.Sprint(r[1]) != models[i] {
			t.Fatalf("row %d: %q %q, database %q %q", i, r[0], r[1], names[i], models[i])
		}
	}
	// The views of duplicates and storage work in the sandbox.
	e.ok("query", map[string]any{"sql": "SELECT type, sum(bytes), sum(duplicate_bytes) FROM storage_report GROUP BY type"}, nil)
	// A million rows: a hundred shown, all counted, at once.
	start := time.Now()
	tb = Table{}
	txt = e.ok("query", map[string]any{"sql": "SELECT range AS i FROM range(1000000)"}, &tb)
	if !tb.Truncated || tb.Shown != defaultRows || len(tb.Rows) != defaultRows || tb.Total != 1000000 {
		t.Fatalf("million rows: shown %d total %d truncated %v", tb.Shown, tb.Total, tb.Truncated)
	}
	if !strings.Contains(txt, "truncated, 1,000,000 rows total") || !strings.Contains(tb.Note, "truncated, 1,000,000 rows total") {
		t.Errorf("million rows: text %q note %q, want the truncation note", txt[len(txt)-120:], tb.Note)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("million rows took %s", d)
	}
	tb = Table{}
	e.ok("query", map[string]any{"sql": "SELECT id FROM nodes ORDER BY id", "max_rows": 7}, &tb)
	if tb.Shown != 7 || tb.Total != int64(len(e.strs("SELECT id FROM nodes"))) {
		t.Errorf("max_rows 7: shown %d total %d", tb.Shown, tb.Total)
	}
	// Refusals: each a tool error, and the server goes on.
	e.fails("query", map[string]any{"sql": "SELECT 1", "max_rows": 5000}, "max_rows")
	e.fails("query", map[string]any{"sql": 5}, "sql")
	e.fails("query", map[string]any{}, "sql")
	e.fails("query", map[string]any{"sql": "DELETE FROM nodes"}, "only a query")
	e.fails("query", map[string]any{"sql": "COPY nodes TO 'x.csv'"}, "cannot read files")
	e.fails("query", map[string]any{"sql": "ATTACH ':memory:' AS m"}, "only a query")
	e.fails("query", map[string]any{"sql": "SELECT * FROM read_text('/etc/passwd')"}, "cannot read files")
	e.fails("query", map[string]any{"sql": "SELECT 1; SELECT 2"}, "one query at a time")
	e.fails("query", map[string]any{"sql": "SELECT nope FROM nodes"}, "nope")
	if n := e.strs("SELECT count(*) FROM nodes"); n[0] == "0" {
		t.Fatal("nodes emptied")
	}
	// An unknown tool is a protocol error; the session stays usable.
	if _, err := e.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "drop_everything"}); err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("unknown tool: %v", err)
	}
	e.ok("query", map[string]any{"sql": "SELECT 1 AS one"}, nil)
}

func TestFind(t *testing.T) {
	e := setup(t, 400, "")
	var tb Table
	e.ok("find", map[string]any{"filter": "type:(VIDEOS)", "max_rows": 3}, &tb)
	if tb.Total != int64(e.emu.State().Videos) || tb.Shown != 3 || !strings.Contains(tb.SQL, "video") {
		t.Fatalf("videos: total %d (emulator %d), shown %d, sql %q", tb.Total, e.emu.State().Videos, tb.Shown, tb.SQL)
	}
	txt := e.fails("find", map[string]any{"filter": "type:(VIDEOS) AND AND timeYear:(2019)"})
	if !strings.Contains(txt, "^") || !strings.Contains(txt, "type:(VIDEOS) AND AND") {
		t.Errorf("bad filter: %q, want the filter and a caret", txt)
	}
}

func TestSchemaAndResources(t *testing.T) {
	e := setup(t, 60, "")
	var sr SchemaResult
	txt := e.ok("schema", map[string]any{}, &sr)
	var names []string
	for _, tb := range sr.Tables {
		names = append(names, tb.Name)
	}
	for _, w := range []string{"nodes", "photos", "videos", "albums", "album_members", "trash", "usage"} {
		if !slices.Contains(names, w) {
			t.Errorf("schema lacks %s: %v", w, names)
		}
	}
	if !strings.Contains(txt, "contentDate TIMESTAMP -- when the photo or video was taken") {
		t.Errorf("schema text lacks contentDate's meaning:\n%s", txt[:min(len(txt), 600)])
	}
	e.ok("schema", map[string]any{"table": "NODES"}, &sr)
	if len(sr.Tables) != 1 || sr.Tables[0].Name != "nodes" {
		t.Errorf("schema nodes: %v", sr.Tables)
	}
	e.fails("schema", map[string]any{"table": "secrets"}, "no table or view")

	for _, uri := range []string{"apsql://schema", "apsql://guide"} {
		res, err := e.cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: uri})
		if err != nil || len(res.Contents) != 1 || len(res.Contents[0].Text) < 200 {
			t.Errorf("read %s: %v %v", uri, res, err)
		}
	}
	for _, p := range []string{"clean-up-duplicates", "what-uses-my-storage"} {
		res, err := e.cs.GetPrompt(t.Context(), &mcp.GetPromptParams{Name: p})
		if err != nil || len(res.Messages) == 0 {
			t.Errorf("prompt %s: %v %v", p, res, err)
		}
	}
}

// explain gives the plan and a code; run wants it, runs once, and the
// emulator's state (the truth) shows exactly the explained nodes trashed.
func TestExplainRun(t *testing.T) {
	e := setup(t, 300, "")
	ids := e.strs("SELECT id FROM photos ORDER BY id LIMIT 3")
	stmt := fmt.Sprintf("TRASH '%s', '%s', '%s'", ids[0], ids[1], ids[2])
	before := len(e.emu.State().TrashIDs)
	var p Plan
	txt := e.ok("explain", map[string]any{"statement": stmt + ";"}, &p)
	if p.Code == "" || p.Table.Total != 3 || p.Counts["planned"] != 3 || !strings.Contains(txt, p.Code) {
		t.Fatalf("explain: %+v\n%s", p, txt)
	}
	if n := len(e.emu.State().TrashIDs); n != before {
		t.Fatalf("explain trashed %d nodes", n-before)
	}
	e.fails("run", map[string]any{"statement": stmt}, "needs the code")
	e.fails("run", map[string]any{"statement": stmt, "code": "0123456789abcdef0123456789abcdef"}, "unknown, used already")
	e.fails("run", map[string]any{"statement": stmt, "code": 42}, "code")
	// Another statement with this code: refused, and the code is gone.
	other := fmt.Sprintf("TRASH '%s'", ids[0])
	e.fails("run", map[string]any{"statement": other, "code": p.Code}, "was given for")
	e.fails("run", map[string]any{"statement": stmt, "code": p.Code}, "used already")
	if n := len(e.emu.State().TrashIDs); n != before {
		t.Fatalf("refused runs trashed %d nodes", n-before)
	}
	e.fails("explain", map[string]any{"statement": "SELECT * FROM nodes"}, "not an action statement", "TRASH target")
	e.fails("explain", map[string]any{"statement": "SYNC"}, "not an action statement")

	p = Plan{}
	e.ok("explain", map[string]any{"statement": "explain " + stmt}, &p)
	var done Plan
	txt = e.ok("run", map[string]any{"statement": stmt, "code": p.Code}, &done)
	if done.Counts["ok"] != 3 {
		t.Fatalf("run: %+v\n%s", done, txt)
	}
	trashed := e.emu.State().TrashIDs
	if len(trashed) != before+3 {
		t.Fatalf("emulator's trash grew by %d, want 3", len(trashed)-before)
	}
	for _, id := range ids {
		if !slices.Contains(trashed, id) {
			t.Errorf("emulator's trash lacks %s", id)
		}
	}
	e.fails("run", map[string]any{"statement": stmt, "code": p.Code}, "used already")
}

// A code stops working once the mirror changed since its EXPLAIN.
func TestRunRefusedAfterMirrorChanged(t *testing.T) {
	e := setup(t, 300, "")
	ids := e.strs("SELECT id FROM photos ORDER BY id LIMIT 2")
	stmt := fmt.Sprintf("TRASH WHERE id = '%s'", ids[0])
	before := e.emu.State().TrashIDs
	var p Plan
	e.ok("explain", map[string]any{"statement": stmt}, &p)
	// Someone trashes another photo on another device; a sync brings it.
	if err := e.emu.TrashIDs(ids[1]); err != nil {
		t.Fatal(err)
	}
	e.ok("sync", map[string]any{}, nil)
	e.fails("run", map[string]any{"statement": stmt, "code": p.Code}, "mirror changed since the EXPLAIN")
	if tr := e.emu.State().TrashIDs; len(tr) != len(before)+1 || slices.Contains(tr, ids[0]) {
		t.Fatalf("emulator's trash %v, want %v and %s", tr, before, ids[1])
	}
	// An action in between changes it too.
	e.ok("explain", map[string]any{"statement": stmt}, &p)
	var q Plan
	e.ok("explain", map[string]any{"statement": fmt.Sprintf("FAVORITE '%s'", ids[0])}, &q)
	e.ok("run", map[string]any{"statement": fmt.Sprintf("FAVORITE '%s'", ids[0]), "code": q.Code}, nil)
	e.fails("run", map[string]any{"statement": stmt, "code": p.Code}, "mirror changed")

	// Same mirror, but the statement now selects other nodes: refused.
	random := "TRASH (SELECT id FROM photos ORDER BY random() LIMIT 5)"
	trash := len(e.emu.State().TrashIDs)
	e.ok("explain", map[string]any{"statement": random}, &p)
	e.fails("run", map[string]any{"statement": random, "code": p.Code}, "no longer the one explained")
	if n := len(e.emu.State().TrashIDs); n != trash {
		t.Fatalf("a refused run trashed %d nodes", n-trash)
	}
}

func TestSyncProgress(t *testing.T) {
	e := setupWith(t, 3000, "", false)
	var sr SyncResult
	res := e.callMeta("sync", map[string]any{"new": false}, mcp.Meta{"progressToken": "p1"})
	if res.IsError {
		t.Fatal(text(res))
	}
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &sr)
	if sr.Statement != "SYNC" || len(sr.Table.Rows) == 0 {
		t.Fatalf("sync: %s", b)
	}
	// Notifications may trail the answer a little.
	deadline := time.Now().Add(2 * time.Second)
	for {
		e.mu.Lock()
		n := len(e.progress)
		e.mu.Unlock()
		done := n > 0 && e.progress[n-1].Progress >= 2900
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.mu.Lock()
	progress := slices.Clone(e.progress)
	e.mu.Unlock()
	if len(progress) < 2 {
		t.Fatalf("%d progress notifications, want some", len(progress))
	}
	last := -1.0
	for _, p := range progress {
		if p.ProgressToken != "p1" || p.Progress < last || (p.Total > 0 && p.Progress > p.Total) {
			t.Fatalf("progress %+v after %v", p, last)
		}
		last = p.Progress
	}
	if last < 2900 {
		for _, p := range progress {
			t.Logf("%+v", *p)
		}
		t.Errorf("last progress %v, want the nodes counted", last)
	}
	// The mirror holds what the emulator serves.
	st := e.emu.State()
	if got := e.strs("SELECT count(*) FROM nodes WHERE status = 'AVAILABLE'")[0]; got != fmt.Sprint(st.Photos+st.Videos) {
		t.Errorf("mirror has %s available nodes, emulator %d photos and videos", got, st.Photos+st.Videos)
	}
	var ns SyncResult
	e.ok("sync", map[string]any{"new": true}, &ns)
	if ns.Statement != "SYNC NEW" {
		t.Errorf("sync new: %+v", ns)
	}
}

func TestThumbnail(t *testing.T) {
	e := setup(t, 60, "")
	id := e.strs("SELECT id FROM photos ORDER BY id LIMIT 1")[0]
	res := e.call("thumbnail", map[string]any{"id": id, "size": 512})
	if res.IsError || len(res.Content) != 2 {
		t.Fatalf("thumbnail: %s", text(res))
	}
	img, ok := res.Content[0].(*mcp.ImageContent)
	if !ok || img.MIMEType != "image/jpeg" || len(img.Data) < 100 {
		t.Fatalf("thumbnail content %T %v", res.Content[0], res.Content[0])
	}
	// The gallery's cache holds it now.
	if b, err := os.ReadFile(filepath.Join(e.cache, "512", id+".jpg")); err != nil || string(b) != string(img.Data) {
		t.Errorf("cache file: %v", err)
	}
	e.fails("thumbnail", map[string]any{"id": id, "size": 300}, "size")
	e.fails("thumbnail", map[string]any{"id": "../../etc/passwd"}, "id")
	e.fails("thumbnail", map[string]any{"id": "NoSuchNode000"}, "no node NoSuchNode000")
}

func TestUsage(t *testing.T) {
	e := setup(t, 300, "")
	var u UsageResult
	txt := e.ok("usage", map[string]any{}, &u)
	truth := e.emu.Usage()
	var bill int64
	for _, c := range truth.Categories {
		bill += c.BillableBytes
	}
	if u.BillableBytes != bill || len(u.Types) != len(truth.Categories) {
		t.Fatalf("usage billable %d (%d types), emulator %d (%d)", u.BillableBytes, len(u.Types), bill, len(truth.Categories))
	}
	for _, r := range u.Types {
		if c := truth.Categories[r.Type]; c.TotalBytes != r.Bytes || c.BillableCount != r.BillableItems {
			t.Errorf("usage %s: %+v, emulator %+v", r.Type, r, c)
		}
	}
	if !strings.Contains(txt, "counts against the quota") {
		t.Errorf("usage text: %s", txt)
	}
}

// No answer carries a cookie value or a signed content URL, even when the
// mirror or a query holds one.
func TestNoSecretsInOutput(t *testing.T) {
	e := setup(t, 60, "")
	id := e.strs("SELECT id FROM photos ORDER BY id LIMIT 1")[0]
	signed := "https://content-na.drive.amazonaws.com/cdproxy/templink/AbCdEf0123456789?viewBox=512&Signature=xyz"
	err := e.srv.with(t.Context(), func(s *engine.Session) error {
		_, err := s.DB.Exec(t.Context(), `UPDATE nodes SET raw = json_object('tempLink', ?, 'keep', 'me') WHERE id = ?`, signed, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var cookie string
	for _, v := range e.cookies {
		if len(v) >= minSecret {
			cookie = v
		}
	}
	if cookie == "" {
		t.Fatal("the emulator's cookies are all short")
	}
	var tb Table
	e.ok("query", map[string]any{"sql": "SELECT raw, CAST(raw AS VARCHAR) AS s FROM nodes WHERE id = '" + id + "'"}, &tb)
	if !strings.Contains(fmt.Sprint(tb.Rows), signedMark) || !strings.Contains(fmt.Sprint(tb.Rows), "keep") {
		t.Errorf("raw: %v, want the link removed and the rest kept", tb.Rows)
	}
	e.ok("query", map[string]any{"sql": "SELECT '" + cookie + "' AS c, 'x " + signed + " y' AS u"}, nil)
	if txt := e.fails("query", map[string]any{"sql": `SELECT "nope_` + cookie + `" FROM nodes`}, "nope_"+cookieMark); strings.Contains(txt, cookie) {
		t.Errorf("the error quoted the cookie value: %s", txt)
	}
	e.ok("explain", map[string]any{"statement": "TRASH '" + id + "'"}, nil)
	e.ok("thumbnail", map[string]any{"id": id}, nil)
	e.ok("usage", map[string]any{}, nil)
	e.ok("find", map[string]any{"filter": "type:(PHOTOS)"}, nil)
	seen := e.seen.String()
	if strings.Contains(seen, cookie) {
		t.Errorf("an answer carried the cookie value")
	}
	for _, v := range e.cookies {
		if len(v) >= minSecret && strings.Contains(seen, v) {
			t.Errorf("an answer carried a cookie value")
		}
	}
	if strings.Contains(seen, "templink/AbCdEf") || strings.Contains(seen, "Signature=xyz") {
		t.Errorf("an answer carried the signed URL")
	}
}

// A line that is not JSON-RPC gets a JSON-RPC error and the session goes
// on (the SDK's stdio transport would end it).
func TestMalformedJSONRPC(t *testing.T) {
	e := setup(t, 30, "")
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.RunIO(ctx, inR, outW) }()
	lines := bufio.NewScanner(outR)
	lines.Buffer(nil, 1<<20)
	send := func(s string) map[string]any {
		t.Helper()
		if _, err := io.WriteString(inW, s+"\n"); err != nil {
			t.Fatal(err)
		}
		if !lines.Scan() {
			t.Fatalf("no answer to %s: %v", s, lines.Err())
		}
		var m map[string]any
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			t.Fatalf("answer %s: %v", lines.Bytes(), err)
		}
		return m
	}
	code := func(m map[string]any) float64 {
		e, _ := m["error"].(map[string]any)
		c, _ := e["code"].(float64)
		return c
	}
	if m := send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`); m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	io.WriteString(inW, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	if m := send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"query","argu`); code(m) != -32700 {
		t.Errorf("cut JSON: %v, want a parse error", m)
	}
	if m := send(`[1, 2]`); code(m) != -32600 {
		t.Errorf("array: %v, want invalid request", m)
	}
	if m := send(`{"id":3,"method":"tools/list"}`); code(m) != -32600 || m["id"] != 3.0 {
		t.Errorf("no version: %v, want invalid request with id 3", m)
	}
	if m := send(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope","arguments":{}}}`); code(m) == 0 {
		t.Errorf("unknown tool: %v, want an error", m)
	}
	m := send(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT 41 + 1 AS x"}}}`)
	if b, _ := json.Marshal(m); !strings.Contains(string(b), `x\n42`) {
		t.Errorf("query after the bad lines: %s", b)
	}
	inW.Close()
	cancel()
	<-done
}

// Streamable HTTP answers only requests with the bearer token.
func TestHTTPToken(t *testing.T) {
	e := setup(t, 30, "")
	hs := httptest.NewServer(e.srv.HTTPHandler("s3cret-token"))
	defer hs.Close()
	for _, auth := range []string{"", "Bearer wrong", "s3cret-token"} {
		req, _ := http.NewRequest(http.MethodPost, hs.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, resp.StatusCode)
		}
	}
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r.Header.Set("Authorization", "Bearer s3cret-token")
		return http.DefaultTransport.RoundTrip(r)
	})}
	cl := mcp.NewClient(&mcp.Implementation{Name: "http", Version: "1"}, nil)
	cs, err := cl.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: hs.URL, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "query", Arguments: map[string]any{"sql": "SELECT count(*) AS n FROM nodes"}})
	if err != nil || res.IsError {
		t.Fatalf("query over HTTP: %v %v", err, res)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
