package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/model"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	d, err := Open(t.Context(), Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestSchema(t *testing.T) {
	d := openTest(t)
	for _, tb := range model.Tables {
		rows, err := d.Query(t.Context(), "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", tb.Name)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var n, ty string
			rows.Scan(&n, &ty)
			got = append(got, n+" "+ty)
		}
		rows.Close()
		if len(got) != len(tb.Columns) {
			t.Fatalf("table %s has columns %v, want %d", tb.Name, got, len(tb.Columns))
		}
		for i, c := range tb.Columns {
			if want := c.Name + " " + string(c.Type); got[i] != want {
				t.Errorf("table %s column %d = %q, want %q", tb.Name, i, got[i], want)
			}
		}
	}
	for _, v := range []string{"photos", "videos"} {
		var n int
		if err := d.QueryRow(t.Context(), "SELECT count(*) FROM "+v).Scan(&n); err != nil {
			t.Errorf("view %s: %v", v, err)
		}
	}
}

func TestFileCategory(t *testing.T) {
	d := openTest(t)
	tests := map[string]any{"'JPG'": "img", "'.mov'": "vid", "'heic'": "img", "'nope'": nil, "NULL": nil}
	for arg, want := range tests {
		var got any
		if err := d.QueryRow(t.Context(), "SELECT file_category("+arg+")").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("file_category(%s) = %v, want %v", arg, got, want)
		}
	}
}

func TestReopenKeepsDataAndVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ap.duckdb")
	ctx := context.Background()
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(ctx, "INSERT INTO usage VALUES ('photo', 1, 2, 3, 4)"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	d.QueryRow(ctx, "SELECT total_count FROM usage").Scan(&n)
	if n != 4 {
		t.Errorf("after reopen total_count = %d, want 4", n)
	}
	var v string
	d.QueryRow(ctx, "SELECT value FROM apsql_meta WHERE key = 'schema_version'").Scan(&v)
	if v != fmt.Sprint(SchemaVersion) {
		t.Errorf("schema_version = %q, want %d", v, SchemaVersion)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.duckdb")
	d, err := Open(t.Context(), newer)
	if err != nil {
		t.Fatal(err)
	}
	d.Exec(t.Context(), "UPDATE apsql_meta SET value = '99' WHERE key = 'schema_version'")
	d.Close()
	junk := filepath.Join(dir, "junk.duckdb")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 1000)), 0o644)

	type tc struct {
		name, path, want string
		badPath          bool // bad usage (errors.Is ErrBadPath), not a failure
	}
	tests := []tc{
		{"directory", dir, "it is a directory", true},
		{"missing folder", filepath.Join(dir, "nope", "ap.duckdb"), "does not exist", true},
		{"newer schema", newer, "written by a newer apsql", false},
		{"not a database", junk, "not a DuckDB database", false},
		{"question mark", filepath.Join(dir, "a?b.duckdb"), "contains '?'", true},
		{"bad percent", filepath.Join(dir, "a%zz.duckdb"), "'%' not followed", true},
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		tests = append(tests, tc{"unwritable", filepath.Join(ro, "ap.duckdb"), "cannot create files", true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(t.Context(), tt.path)
			if err == nil {
				d.Close()
				t.Fatalf("Open(%s) succeeded, want error containing %q", tt.path, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Open(%s) error = %q, want one line containing %q", tt.path, err, tt.want)
			}
			if got := errors.Is(err, ErrBadPath); got != tt.badPath {
				t.Errorf("errors.Is(Open(%s), ErrBadPath) = %v, want %v", tt.path, got, tt.badPath)
			}
		})
	}
}

// TestStorageVersion: a new file is written with StorageVersion and its
// JSON columns with zstd; a file in DuckDB's old default format (v1.0.0,
// as apsql wrote before) still opens, and its tables get no zstd, which
// that format would silently ignore.
func TestStorageVersion(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	compression := func(d *DB, col string) string {
		t.Helper()
		if _, err := d.Exec(ctx, `INSERT INTO nodes (id, raw) SELECT i::VARCHAR, '{"createdBy":"Amazon Photos app ' || (i % 10) || '"}' FROM range(3000) t(i)`); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Exec(ctx, "CHECKPOINT"); err != nil {
			t.Fatal(err)
		}
		var c string
		q := `SELECT string_agg(DISTINCT compression, ',') FROM pragma_storage_info('nodes') WHERE column_name = ? AND segment_type <> 'VALIDITY'`
		if err := d.QueryRow(ctx, q, col).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}

	d, err := Open(ctx, filepath.Join(dir, "new.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	var tag string
	if err := d.QueryRow(ctx, `SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = current_database()`).Scan(&tag); err != nil {
		t.Fatal(err)
	}
	if tag != StorageVersion+"+" {
		t.Errorf("storage version of a new file = %q, want %q", tag, StorageVersion+"+")
	}
	if got := compression(d, "raw"); got != "ZSTD" {
		t.Errorf("raw compression in a new file = %q, want ZSTD", got)
	}
	d.Close()

	// A file created by plain DuckDB defaults (storage v1.0.0).
	old := filepath.Join(dir, "old.duckdb")
	c, err := duckdb.NewConnector(old, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	if _, err := db.Exec("CREATE TABLE x (i INTEGER)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c.Close()
	d, err = Open(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.zstd {
		t.Error("a v1.0.0 file was taken to have zstd")
	}
	if got := compression(d, "raw"); got == "ZSTD" || got == "Uncompressed" {
		t.Errorf("raw compression in an old file = %q, want DuckDB's default string compression", got)
	}
}

func TestStorageAtLeast(t *testing.T) {
	for _, tt := range []struct {
		tag  string
		want bool
	}{{"v1.5.0+", true}, {"v1.2.0+", true}, {"v1.1.3+", false}, {"v1.0.0+", false}, {"v2.0.0", true}, {"", false}, {"junk", false}} {
		if got := storageAtLeast(tt.tag, 1, 2); got != tt.want {
			t.Errorf("storageAtLeast(%q, 1, 2) = %v, want %v", tt.tag, got, tt.want)
		}
	}
}

// TestMemorySpillFolder: an in-memory database spills into a private
// folder that Close removes, never into ./.tmp.
func TestMemorySpillFolder(t *testing.T) {
	d, err := Open(t.Context(), Memory)
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	if err := d.QueryRow(t.Context(), "SELECT current_setting('temp_directory')").Scan(&dir); err != nil {
		t.Fatal(err)
	}
	if dir != d.tempDir || dir == "" || dir == ".tmp" {
		t.Fatalf("temp_directory = %q, want the private folder %q", dir, d.tempDir)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("spill folder %s still exists after Close (%v)", dir, err)
	}
}
