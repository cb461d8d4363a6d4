package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if v != "1" {
		t.Errorf("schema_version = %q, want 1", v)
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
