package serve

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apsql/apsql/engine"
)

// TestQueryBoxReadsNoFile: the query box's SQL cannot read a local file
// (the cookies) with any of DuckDB's table functions, nor write one, nor
// unlock the sandbox; the grid still runs queries over the mirror.
func TestQueryBoxReadsNoFile(t *testing.T) {
	e := setup(t, 40)
	dir := t.TempDir()
	cookies := filepath.Join(dir, "cookies")
	if err := os.WriteFile(cookies, []byte("session-id,123-4567890-secret\nat-main,Atza|secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := engine.Quote(cookies)
	for _, c := range []struct{ name, sql string }{
		{"read_text", "SELECT content AS id FROM read_text(" + q + ")"},
		{"read_csv", "SELECT \"session-id\" AS id FROM read_csv(" + q + ")"},
		{"read_csv_auto", "SELECT column0 AS id FROM read_csv_auto(" + q + ", header = false)"},
		{"read_blob", "SELECT content::VARCHAR AS id FROM read_blob(" + q + ")"},
		{"glob", "SELECT file AS id FROM glob(" + engine.Quote(dir+"/*") + ")"},
		{"read_parquet", "SELECT * AS id FROM read_parquet(" + q + ")"},
		{"read_json", "SELECT json AS id FROM read_json(" + q + ")"},
		{"read_duckdb", "SELECT * AS id FROM read_duckdb(" + engine.Quote(filepath.Join(dir, "x.duckdb")) + ")"},
		{"a URL", "SELECT content AS id FROM read_text('http://127.0.0.1:1/x')"},
		{"in a CTE", "WITH c AS (SELECT content FROM read_text(" + q + ")) SELECT content AS id FROM c"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/api/grid?q=", "/api/facets?q="} {
				code, b := e.do(http.MethodGet, path+url.QueryEscape(c.sql), nil)
				if code != http.StatusBadRequest || strings.Contains(string(b), "secret") || !strings.Contains(string(b), "cannot read files") {
					t.Errorf("%s%s = %d %s, want 400 saying queries cannot read files", path, c.sql, code, b)
				}
			}
		})
	}
	for _, c := range []struct{ sql, want string }{
		{"COPY nodes TO " + engine.Quote(filepath.Join(dir, "out.csv")), "only a query"},
		{"ATTACH ':memory:' AS m", "only a query"},
		{"INSTALL httpfs", "only a query"},
		{"SET enable_external_access = true", "only a query"},
		{"PRAGMA enable_profiling", "only a query"},
	} {
		if code, b := e.do(http.MethodGet, "/api/grid?q="+url.QueryEscape(c.sql), nil); code != http.StatusBadRequest || !strings.Contains(string(b), c.want) {
			t.Errorf("grid %q = %d %s, want 400 with %q", c.sql, code, b, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.csv")); err == nil {
		t.Error("COPY wrote a file")
	}
	// Queries over the mirror still fill the grid.
	for _, c := range []struct {
		sql  string
		want string
	}{
		{"SELECT id FROM nodes", "SELECT count(*)::VARCHAR FROM nodes"},
		{"SELECT id FROM photos", "SELECT count(*)::VARCHAR FROM photos"},
		{"SELECT n.id FROM nodes n JOIN album_members m ON m.id = n.id", "SELECT count(*)::VARCHAR FROM nodes n JOIN album_members m ON m.id = n.id"},
	} {
		ids, total := e.all(url.Values{"q": {c.sql}}, 500)
		if want := e.strings(c.want)[0]; itoa(int(total)) != want || itoa(len(ids)) != want {
			t.Errorf("%s: %d ids, total %d, want %s", c.sql, len(ids), total, want)
		}
	}
}

// TestQueryBoxSearch: search() sends live requests, so the query box runs
// it only when the gallery was started with AllowSearch.
func TestQueryBoxSearch(t *testing.T) {
	const q = "SELECT id FROM search('type:(PHOTOS)') LIMIT 3"
	e := setup(t, 30)
	before := e.emu.Stats().Requests
	code, b := e.do(http.MethodGet, "/api/grid?q="+url.QueryEscape(q), nil)
	if code != http.StatusBadRequest || !strings.Contains(string(b), "--allow-search") {
		t.Errorf("search() without AllowSearch = %d %s, want 400 naming --allow-search", code, b)
	}
	if n := e.emu.Stats().Requests - before; n != 0 {
		t.Errorf("search() without AllowSearch sent %d requests", n)
	}
	// The same through the table function's own name.
	code, b = e.do(http.MethodGet, "/api/grid?q="+url.QueryEscape("SELECT id FROM apsql_search_live('type:(PHOTOS)')"), nil)
	if code != http.StatusBadRequest || !strings.Contains(string(b), "--allow-search") {
		t.Errorf("apsql_search_live() without AllowSearch = %d %s, want 400", code, b)
	}

	e = setup(t, 30, func(o *Options) { o.AllowSearch = true })
	var p gridPage
	e.getJSON("/api/grid?q="+url.QueryEscape(q), &p)
	if len(p.Items) != 3 {
		t.Errorf("search() with AllowSearch: %d items, want 3", len(p.Items))
	}
}
