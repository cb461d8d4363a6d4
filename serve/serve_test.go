package serve

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/engine"
)

func TestTokenRequired(t *testing.T) {
	e := setup(t, 60)
	get := func(path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.http.URL+path, nil)
		req.Host = e.named()
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		name, path string
		hdr        map[string]string
		want       int
	}{
		{"no token", "/api/grid", nil, http.StatusForbidden},
		{"no token, page", "/", nil, http.StatusForbidden},
		{"no token, thumbnail", "/thumb/abc", nil, http.StatusForbidden},
		{"no token, static", "/static/app.js", nil, http.StatusForbidden},
		{"wrong token", "/api/grid?t=" + strings.Repeat("0", 32), nil, http.StatusForbidden},
		{"wrong header", "/api/grid", map[string]string{tokenHeader: "x"}, http.StatusForbidden},
		{"wrong cookie", "/api/grid", map[string]string{"Cookie": tokenCookie + "=nope"}, http.StatusForbidden},
		{"header", "/api/grid?limit=1", map[string]string{tokenHeader: e.srv.Token()}, http.StatusOK},
		{"cookie", "/api/grid?limit=1", map[string]string{"Cookie": tokenCookie + "=" + e.srv.Token(), "Host": e.named()}, http.StatusOK},
		{"query", "/api/grid?limit=1&t=" + e.srv.Token(), map[string]string{"Host": e.named()}, http.StatusOK},
		{"static with cookie", "/static/app.js", map[string]string{"Cookie": tokenCookie + "=" + e.srv.Token(), "Host": e.named()}, http.StatusOK},
		{"header at 127.0.0.1", "/api/grid?limit=1", map[string]string{tokenHeader: e.srv.Token(), "Host": "127.0.0.1"}, http.StatusOK},
		// At 127.0.0.1 the cookie would reach every server on that address:
		// only the gallery's own host name takes it.
		{"cookie at 127.0.0.1", "/api/grid?limit=1", map[string]string{"Cookie": tokenCookie + "=" + e.srv.Token()}, http.StatusForbidden},
		{"query at 127.0.0.1", "/api/grid?limit=1&t=" + e.srv.Token(), nil, http.StatusForbidden},
		{"another gallery's name", "/api/grid?limit=1", map[string]string{tokenHeader: e.srv.Token(), "Host": "apsql-0000000000000000.localhost"}, http.StatusMisdirectedRequest},
		// DNS rebinding: a page of another name that resolves to 127.0.0.1.
		{"foreign host", "/api/grid?limit=1", map[string]string{tokenHeader: e.srv.Token(), "Host": "evil.example:80"}, http.StatusMisdirectedRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.http.URL+c.path, nil)
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			if h := c.hdr["Host"]; h != "" {
				req.Host = h
			}
			resp, err := e.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("GET %s = %d, want %d", c.path, resp.StatusCode, c.want)
			}
		})
	}
	// The URL's token moves into an HttpOnly, SameSite=Strict cookie.
	resp := get("/?t="+e.srv.Token(), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("GET /?t=TOKEN = %d Location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == tokenCookie {
			ck = c
		}
	}
	if ck == nil || ck.Value != e.srv.Token() || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie = %+v, want %s=TOKEN HttpOnly SameSite=Strict", ck, tokenCookie)
	}
	page := get("/", map[string]string{"Cookie": tokenCookie + "=" + e.srv.Token()})
	if page.StatusCode != http.StatusOK || !strings.Contains(page.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("GET / = %d, CSP %q", page.StatusCode, page.Header.Get("Content-Security-Policy"))
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.168.1.10:0", "localhost:0", "nohost"} {
		if ln, err := Listen(addr); err == nil {
			ln.Close()
			t.Errorf("Listen(%q) succeeded, want a refusal", addr)
		}
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen(127.0.0.1:0): %v", err)
	}
	ln.Close()
}

func TestCSRFRequired(t *testing.T) {
	e := setup(t, 60)
	id := e.strings("SELECT id FROM nodes ORDER BY id LIMIT 1")[0]
	body := `{"action":"trash","ids":["` + id + `"]}`
	post := func(path string, csrf string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.http.URL+path, strings.NewReader(body))
		req.Header.Set(tokenHeader, e.srv.Token())
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set(csrfHeader, csrf)
		}
		resp, err := e.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/api/explain", "/api/run"} {
		if got := post(path, ""); got != http.StatusForbidden {
			t.Errorf("POST %s without CSRF = %d, want 403", path, got)
		}
		if got := post(path, "wrong"); got != http.StatusForbidden {
			t.Errorf("POST %s with a wrong CSRF = %d, want 403", path, got)
		}
	}
	// GETs change nothing: the actions answer POST only.
	if code, _ := e.do(http.MethodGet, "/api/run", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/run = %d, want 405", code)
	}
	// With the CSRF token but without the EXPLAIN's confirmation: refused.
	if got := post("/api/run", e.srv.CSRF()); got != http.StatusConflict {
		t.Errorf("POST /api/run without confirmation = %d, want 409", got)
	}
	if got := post("/api/explain", e.srv.CSRF()); got != http.StatusOK {
		t.Errorf("POST /api/explain with CSRF = %d, want 200", got)
	}
	if st := e.emu.State(); slices.Contains(st.TrashIDs, id) {
		t.Fatalf("%s was trashed by requests that should all have been refused", id)
	}
}

func TestReadOnlySQL(t *testing.T) {
	e := setup(t, 80)
	e.exec("CREATE SEQUENCE serve_test_seq")
	before := e.strings("SELECT count(*)::VARCHAR FROM nodes")[0]
	for _, c := range []struct{ q, want string }{
		{"DELETE FROM nodes", "only a query"},
		{"drop table nodes", "only a query"},
		{"TRASH WHERE true", "only a query"},
		{"SELECT id FROM nodes; DELETE FROM nodes", "one query at a time"},
		{"SELECT id FROM nodes WHERE nextval('serve_test_seq') > 0", "the grid runs queries read-only"},
		{"SELECT name FROM nodes", "must return an id column"},
		{"SELECT id FROM nodes) ; DELETE FROM nodes; SELECT (1", "one query at a time"},
		{"WITH d AS (DELETE FROM nodes RETURNING id) SELECT id FROM d", ""},
		{"type:(PHOTOS ANDD", "ANDD"},
	} {
		code, b := e.do(http.MethodGet, "/api/grid?q="+url.QueryEscape(c.q), nil)
		if code != http.StatusBadRequest || !strings.Contains(string(b), c.want) {
			t.Errorf("grid %q = %d %s, want 400 with %q", c.q, code, b, c.want)
		}
	}
	if after := e.strings("SELECT count(*)::VARCHAR FROM nodes")[0]; after != before {
		t.Fatalf("nodes went from %s to %s rows", before, after)
	}
	if n := e.strings("SELECT coalesce(last_value, -1)::VARCHAR FROM duckdb_sequences() WHERE sequence_name = 'serve_test_seq'"); !slices.Equal(n, []string{"-1"}) {
		t.Fatalf("the sequence advanced to %s", n)
	}
	// Queries of every accepted form fill the grid.
	for _, q := range []string{"SELECT id FROM photos", "FROM nodes SELECT id", "WITH x AS (SELECT id FROM nodes) SELECT id FROM x;", "type:(PHOTOS)", ""} {
		if code, b := e.do(http.MethodGet, "/api/grid?limit=5&q="+url.QueryEscape(q), nil); code != http.StatusOK {
			t.Errorf("grid %q = %d %s, want 200", q, code, b)
		}
	}
}

func TestPaging(t *testing.T) {
	e := setup(t, 500)
	for _, c := range []struct{ name, q, want string }{
		{"sql", "SELECT id, size FROM nodes ORDER BY size DESC, id", "SELECT id FROM nodes ORDER BY size DESC, id"},
		{"filter", "type:(PHOTOS)", `SELECT id FROM nodes WHERE "contentType" LIKE 'image/%' ORDER BY "contentDate" DESC NULLS LAST, id`},
		{"all", "", `SELECT id FROM nodes ORDER BY "contentDate" DESC NULLS LAST, id`},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := e.strings(c.want)
			if len(want) < 100 {
				t.Fatalf("only %d rows to page through", len(want))
			}
			got, total := e.all(url.Values{"q": {c.q}}, 37)
			if total != int64(len(want)) {
				t.Errorf("total = %d, want %d", total, len(want))
			}
			if !slices.Equal(got, want) {
				t.Errorf("paged ids differ from the query's (%d vs %d ids; first %v vs %v)", len(got), len(want), got[:3], want[:3])
			}
		})
	}
	// A facet keeps the order and narrows the result.
	year := e.strings(`SELECT year("contentDate")::VARCHAR FROM nodes GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`)[0]
	want := e.strings(`SELECT id FROM nodes WHERE year("contentDate") = ?::INTEGER ORDER BY size DESC, id`, year)
	got, total := e.all(url.Values{"q": {"SELECT id FROM nodes ORDER BY size DESC, id"}, "year": {year}}, 50)
	if total != int64(len(want)) || !slices.Equal(got, want) {
		t.Errorf("year %s: %d ids (total %d), want %d in the query's order", year, len(got), total, len(want))
	}
	var f facets
	e.getJSON("/api/facets?q=&year="+year, &f)
	if f.Total != int64(len(want)) {
		t.Errorf("facets total for %s = %d, want %d", year, f.Total, len(want))
	}
	for _, m := range f.Timeline {
		if itoa(m.Year) != year {
			t.Errorf("timeline of year %s holds %d-%02d", year, m.Year, m.Month)
		}
	}
}

func TestFacetsAndDetail(t *testing.T) {
	e := setup(t, 200)
	ids := e.strings("SELECT id FROM photos ORDER BY id LIMIT 3")
	for i, id := range ids {
		e.exec(`INSERT INTO labels (source, id, rank, label, prob, model, "labeledAt") VALUES ('node', ?, 1, ?, 0.9, 'test', now())`, id, []string{"beach", "beach", "dog"}[i])
	}
	var f facets
	e.getJSON("/api/facets?q=", &f)
	if len(f.Labels) != 2 || f.Labels[0] != (labelCount{"beach", 2}) || f.Labels[1] != (labelCount{"dog", 1}) {
		t.Errorf("labels facet = %+v, want beach 2, dog 1", f.Labels)
	}
	if len(f.Cameras) == 0 || len(f.Timeline) == 0 {
		t.Errorf("cameras %v, timeline %v: want both filled", f.Cameras, f.Timeline)
	}
	cam := f.Cameras[0]
	got, _ := e.all(url.Values{"q": {""}, "make": {cam.Make}, "model": {cam.Model}}, 200)
	if int64(len(got)) != cam.N {
		t.Errorf("camera %s %s: %d ids, facet said %d", cam.Make, cam.Model, len(got), cam.N)
	}
	got, _ = e.all(url.Values{"q": {""}, "label": {"beach"}}, 200)
	slices.Sort(got)
	if !slices.Equal(got, ids[:2]) {
		t.Errorf("label beach: %v, want %v", got, ids[:2])
	}

	var d detail
	e.getJSON("/api/node/"+ids[0], &d)
	if !d.Found || len(d.Labels) != 1 || d.Labels[0].Label != "beach" {
		t.Fatalf("detail = %+v, want found with the label beach", d)
	}
	names := map[string]bool{}
	for _, f := range d.Fields {
		names[f.Name] = true
	}
	for _, n := range []string{"name", "contentDate", "size", "width", "height", "id"} {
		if !names[n] {
			t.Errorf("detail lacks %s: %v", n, d.Fields)
		}
	}
	if code, _ := e.do(http.MethodGet, "/api/node/..%2Fetc", nil); code != http.StatusBadRequest {
		t.Errorf("detail of a bad id = %d, want 400", code)
	}
	var missing detail
	e.getJSON("/api/node/notInTheMirror", &missing)
	if missing.Found || len(missing.Notes) == 0 {
		t.Errorf("detail of an unknown id = %+v, want not found with a note", missing)
	}
}

func TestThumbnailCache(t *testing.T) {
	e := setup(t, 60)
	id := e.strings("SELECT id FROM photos ORDER BY id LIMIT 1")[0]
	const ep = "GET /v1/thumbnail/{id}"
	thumbs := func() int64 {
		var n int64
		for _, c := range e.emu.Stats().ByEndpoint[ep] {
			n += c
		}
		return n
	}
	before := thumbs()
	var first []byte
	for i := range 2 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.http.URL+"/thumb/"+id+"?s=256", nil)
		req.Header.Set(tokenHeader, e.srv.Token())
		resp, err := e.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		b, err = readAll(resp)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("thumbnail #%d = %d %s (%v)", i+1, resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
		if len(resp.Header.Values("Set-Cookie")) > 0 {
			t.Errorf("thumbnail #%d sets cookies: %v", i+1, resp.Header.Values("Set-Cookie"))
		}
		if i == 0 {
			first = b
		} else if string(b) != string(first) {
			t.Errorf("the cached thumbnail differs from the fetched one")
		}
	}
	if n := thumbs() - before; n != 1 {
		t.Errorf("the emulator served %d thumbnails for two requests of one, want 1 (the second from the disk cache)", n)
	}
	p := filepath.Join(e.cache, "256", id+".jpg")
	if b, err := os.ReadFile(p); err != nil || string(b) != string(first) {
		t.Errorf("cache file %s: %v, %d bytes", p, err, len(b))
	}
	if left, _ := filepath.Glob(filepath.Join(e.cache, "256", ".part-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	for _, path := range []string{"/thumb/" + id + "?s=13", "/thumb/a.b"} {
		if code, _ := e.do(http.MethodGet, path, nil); code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", path, code)
		}
	}
}

func readAll(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func TestActions(t *testing.T) {
	e := setup(t, 120)
	ids := e.strings("SELECT id FROM photos ORDER BY id LIMIT 2")
	explain := func(req map[string]any) actionAnswer {
		t.Helper()
		code, b := e.do(http.MethodPost, "/api/explain", req)
		var a actionAnswer
		if code != http.StatusOK || json.Unmarshal(b, &a) != nil {
			t.Fatalf("explain %v = %d %s", req, code, b)
		}
		return a
	}
	req := map[string]any{"action": "trash", "ids": ids}
	a := explain(req)
	if a.Statement != "TRASH '"+ids[0]+"', '"+ids[1]+"'" || a.Confirm == "" || a.Total == 0 {
		t.Fatalf("explain = %+v", a)
	}
	if slices.Contains(e.emu.State().TrashIDs, ids[0]) {
		t.Fatal("EXPLAIN trashed the node")
	}
	// A confirmation of another statement does not run this one.
	other := explain(map[string]any{"action": "trash", "ids": ids[:1]})
	req["confirm"] = other.Confirm
	if code, b := e.do(http.MethodPost, "/api/run", req); code != http.StatusConflict {
		t.Fatalf("run with another statement's confirmation = %d %s, want 409", code, b)
	}
	req["confirm"] = a.Confirm
	code, b := e.do(http.MethodPost, "/api/run", req)
	var done actionAnswer
	if code != http.StatusOK || json.Unmarshal(b, &done) != nil || done.Counts["ok"] != 2 {
		t.Fatalf("run = %d %s, want 2 ok", code, b)
	}
	st := e.emu.State()
	for _, id := range ids {
		if !slices.Contains(st.TrashIDs, id) {
			t.Errorf("%s is not in the emulator's trash", id)
		}
	}
	if left := e.strings("SELECT id FROM nodes WHERE id IN (?, ?)", ids[0], ids[1]); len(left) != 0 {
		t.Errorf("nodes still holds %v after TRASH", left)
	}
	// Bad parts never reach a statement.
	for _, bad := range []map[string]any{
		{"action": "trash", "ids": []string{"x' OR true --"}},
		{"action": "trash"},
		{"action": "purge", "ids": ids},
		{"action": "album", "ids": ids, "album": ""},
		{"action": "album", "ids": ids, "album": "a\nb"},
	} {
		if code, b := e.do(http.MethodPost, "/api/explain", bad); code != http.StatusBadRequest {
			t.Errorf("explain %v = %d %s, want 400", bad, code, b)
		}
	}

	// ALBUM ADD, on the whole result of a query (Select all).
	album := "Gallery's pick"
	err := e.srv.db.with(t.Context(), func(db *engine.DB) error {
		_, err := e.srv.opts.Session.Run(t.Context(), "CREATE ALBUM "+engine.Quote(album))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT id FROM photos ORDER BY id DESC LIMIT 3"
	all := map[string]any{"action": "album", "album": album, "all": map[string]string{"q": q}}
	a = explain(all)
	if !strings.HasPrefix(a.Statement, "ALBUM '"+strings.ReplaceAll(album, "'", "''")+"' ADD (SELECT id FROM temp.apsql_serve_") {
		t.Fatalf("statement = %s", a.Statement)
	}
	all["confirm"] = a.Confirm
	code, b = e.do(http.MethodPost, "/api/run", all)
	var added actionAnswer
	if code != http.StatusOK || json.Unmarshal(b, &added) != nil || added.Total != 3 || added.Counts["failed"] != 0 {
		t.Fatalf("album add = %d %s, want 3 rows, none failed", code, b)
	}
	if n := e.emu.State().Albums[album]; n != 3 || added.Counts["ok"] != 3 {
		t.Errorf("album %s has %d members, %d added ok; want 3", album, n, added.Counts["ok"])
	}
}

// TestNewQueriesCancelOldOnes sends new queries back to back: each one
// cancels the materialisation of the one before, in any state, and the
// shared connection must stay usable (a cancelled read-only transaction
// once stayed open: "cannot start a transaction within a transaction").
func TestNewQueriesCancelOldOnes(t *testing.T) {
	e := setup(t, 300)
	for i := range 40 {
		q := "SELECT id FROM nodes WHERE size > " + itoa(i) + " ORDER BY size DESC"
		if i%3 == 1 {
			q = "SELECT name FROM nodes" // an error inside the transaction, too
		}
		code, b := e.do(http.MethodGet, "/api/grid?limit=5&q="+url.QueryEscape(q), nil)
		if want := map[bool]int{true: 400, false: 200}[i%3 == 1]; code != want {
			t.Fatalf("query #%d %q = %d %s, want %d", i, q, code, b, want)
		}
	}
	var f facets
	e.getJSON("/api/facets?q=", &f)
	if want := e.strings("SELECT count(*)::VARCHAR FROM nodes")[0]; itoa(int(f.Total)) != want {
		t.Errorf("facets total = %d, want %s", f.Total, want)
	}
}

// TestDetailPeopleHint: after a SYNC that filled the people table, the
// detail pane does not ask to run SYNC TAGS people: it names the people
// whose cover photo this is; with tags of people it names them all; the
// hint shows only when the mirror knows no people at all.
func TestDetailPeopleHint(t *testing.T) {
	e := setup(t, 200)
	hint := func(d detail) bool {
		for _, n := range d.Notes {
			if strings.Contains(n, "run SYNC TAGS people") {
				return true
			}
		}
		return false
	}
	covers := e.strings(`SELECT "coverNodeId" FROM people WHERE "coverNodeId" IN (SELECT id FROM nodes) ORDER BY 1`)
	if len(covers) == 0 {
		t.Fatal("SYNC filled no people with a cover in nodes")
	}
	names := e.strings(`SELECT coalesce(nullif(name, ''), "clusterId") FROM people WHERE "coverNodeId" = ? ORDER BY 1`, covers[0])
	var d detail
	e.getJSON("/api/node/"+covers[0], &d)
	if hint(d) || !d.PeopleCovers || !slices.Equal(d.People, names) {
		t.Errorf("a cover photo after SYNC: people %q (covers %v), notes %q; want %q and no SYNC TAGS hint", d.People, d.PeopleCovers, d.Notes, names)
	}
	other := e.strings(`SELECT id FROM photos WHERE id NOT IN (SELECT "coverNodeId" FROM people WHERE "coverNodeId" IS NOT NULL) ORDER BY id LIMIT 1`)[0]
	d = detail{}
	e.getJSON("/api/node/"+other, &d)
	if hint(d) || len(d.People) != 0 {
		t.Errorf("another photo after SYNC: people %q, notes %q; want none and no SYNC TAGS hint", d.People, d.Notes)
	}
	// With no people known at all, the hint says how to get them.
	e.exec("DELETE FROM people")
	d = detail{}
	e.getJSON("/api/node/"+other, &d)
	if !hint(d) || d.People != nil {
		t.Errorf("no people known: people %q, notes %q; want the SYNC TAGS people hint", d.People, d.Notes)
	}
}
