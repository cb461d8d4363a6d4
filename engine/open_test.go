package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenNotDuckDB: a file that is not a DuckDB database is refused,
// naming what it is, before DuckDB sees it (issue 11 item 6). It is a
// failure, not bad usage (TestOpenErrors).
func TestOpenNotDuckDB(t *testing.T) {
	dir := t.TempDir()
	sqlite := make([]byte, 4096)
	copy(sqlite, "SQLite format 3\x00")
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"notes.txt", []byte("SELECT 1;\nthis is not a database\n"), "is not a DuckDB database (it is a text file)"},
		{"photos.sqlite", sqlite, "is not a DuckDB database (it is a SQLite database)"},
		{"short.db", []byte{0xff, 0, 3}, "is not a DuckDB database (its first bytes are not DuckDB's header)"},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		db, err := Open(t.Context(), path)
		if err == nil {
			db.Close()
			t.Fatalf("Open(%s) succeeded", c.name)
		}
		if !strings.Contains(err.Error(), path+" "+c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Open(%s) = %v, want one line with %q", c.name, err, c.want)
		}
		if got, _ := os.ReadFile(path); string(got) != string(c.data) {
			t.Errorf("Open(%s) changed the file", c.name)
		}
	}
}

// TestOpenNeverLoadsExtensions: DuckDB installs and loads no extension on
// its own, so a SQLite file reaching it (ATTACH) fails at once instead of
// downloading the sqlite extension.
func TestOpenNeverLoadsExtensions(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	t.Setenv("HOME", home) // where DuckDB would install extensions
	db, err := Open(t.Context(), filepath.Join(dir, "ap.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var inst, load string
	if err := db.QueryRow(t.Context(), `SELECT current_setting('autoinstall_known_extensions')::VARCHAR, current_setting('autoload_known_extensions')::VARCHAR`).Scan(&inst, &load); err != nil {
		t.Fatal(err)
	}
	if inst != "false" || load != "false" {
		t.Errorf("autoinstall_known_extensions = %s, autoload_known_extensions = %s; want false, false", inst, load)
	}
	lite := filepath.Join(dir, "lite.db")
	b := make([]byte, 4096)
	copy(b, "SQLite format 3\x00")
	if err := os.WriteFile(lite, b, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = db.Exec(t.Context(), `ATTACH `+Quote(lite)+` AS lite (TYPE sqlite)`)
	if err == nil {
		t.Fatal("ATTACH of a SQLite file succeeded without the sqlite extension")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("ATTACH took %v: it must not reach the network", took)
	}
	if _, err := os.Stat(filepath.Join(home, ".duckdb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DuckDB wrote %s/.duckdb (an extension download?): %v", home, err)
	}
}

// TestOpenReadOnly: a file without write permission opens for queries
// only, with ReadOnly set; writes fail with a clear error and the file is
// not changed.
func TestOpenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.duckdb")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if db.ReadOnly {
		t.Error("a new file is ReadOnly")
	}
	if _, err := db.Exec(t.Context(), `INSERT INTO actions_log (seq, "at", action, target, status, detail) VALUES (1, now(), 'TRASH', 'x', 'ok', '')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	db, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(read-only file) = %v, want it open for queries", err)
	}
	defer db.Close()
	if !db.ReadOnly {
		t.Fatal("ReadOnly is false for a chmod 444 file")
	}
	var n int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM actions_log`).Scan(&n); err != nil || n != 1 {
		t.Errorf("query of the read-only file = %d, %v; want 1 row", n, err)
	}
	if err := db.QueryRow(t.Context(), `SELECT file_category('jpg') = 'img'`).Scan(new(bool)); err != nil {
		t.Errorf("file_category on a read-only file: %v", err)
	}
	if _, err := db.Exec(t.Context(), `DELETE FROM actions_log`); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("DELETE on a read-only file: err = %v, want one saying read-only", err)
	}
	for name, err := range map[string]error{"Writable": db.Writable(), "CheckBeforeWrite": db.CheckBeforeWrite(t.Context())} {
		if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod u+w") {
			t.Errorf("%s = %v, want ErrReadOnly naming the file and the fix", name, err)
		}
	}
	db.Close()
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the read-only file changed")
	}
}

// TestCheckBeforeWriteFindsDamage: a block of table data overwritten in a
// closed file is found by CheckBeforeWrite (every column is read), while
// an intact file passes.
func TestCheckBeforeWriteFindsDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ap.duckdb")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(t.Context(), `INSERT INTO actions_log (seq, "at", action, target, status, detail) SELECT i, now(), 'TRASH', md5(i::VARCHAR), 'ok', repeat(md5(i::VARCHAR), 4) FROM range(300000) t(i)`); err != nil {
		t.Fatal(err)
	}
	limit := func() string {
		var v string
		if err := db.QueryRow(t.Context(), `SELECT current_setting('memory_limit')`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := db.Exec(t.Context(), `SET memory_limit = '300MiB'`); err != nil {
		t.Fatal(err)
	}
	before := limit()
	if err := db.CheckBeforeWrite(t.Context()); err != nil {
		t.Fatalf("CheckBeforeWrite of an intact file: %v", err)
	}
	// It reads under a small memory limit and puts the user's back.
	if after := limit(); after != before {
		t.Errorf("memory_limit after CheckBeforeWrite = %s, want %s as before", after, before)
	}
	// StartCheckBeforeWrite reads on a connection of its own: the
	// session's connection answers while it runs.
	check := db.StartCheckBeforeWrite(t.Context())
	var n int64
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM actions_log`).Scan(&n); err != nil || n != 300000 {
		t.Errorf("a query beside the check: %d, %v; want 300000", n, err)
	}
	if err := check.Wait(t.Context()); err != nil {
		t.Fatalf("StartCheckBeforeWrite of an intact file: %v", err)
	}
	check.Stop()
	if after := limit(); after != before {
		t.Errorf("memory_limit after StartCheckBeforeWrite = %s, want %s as before", after, before)
	}
	off := dataBlockOffset(t, db, "actions_log", "detail")
	db.Close()
	corrupt(t, path, off)

	db, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v (the damage is in table data, not the catalog)", err)
	}
	defer db.Close()
	err = db.CheckBeforeWrite(t.Context())
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "actions_log") {
		t.Errorf("CheckBeforeWrite of a damaged file = %v, want ErrDamaged naming the file and table", err)
	}
	check = db.StartCheckBeforeWrite(t.Context())
	defer check.Stop()
	err = check.Wait(t.Context())
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "actions_log") {
		t.Errorf("StartCheckBeforeWrite of a damaged file = %v, want ErrDamaged naming the file and table", err)
	}
}

// dataBlockOffset returns the file offset of the middle of a persistent
// block that holds column col of table.
func dataBlockOffset(t *testing.T, db *DB, table, col string) int64 {
	t.Helper()
	if _, err := db.Exec(t.Context(), `CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
	var block, blockSize int64
	err := db.QueryRow(t.Context(), `SELECT block_id FROM pragma_storage_info(`+Quote(table)+`)
WHERE column_name = ? AND persistent AND block_id >= 0 ORDER BY row_group_id, segment_id LIMIT 1`, col).Scan(&block)
	if err != nil {
		t.Fatalf("find a block of %s.%s: %v", table, col, err)
	}
	if err := db.QueryRow(t.Context(), `SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()`).Scan(&blockSize); err != nil {
		t.Fatal(err)
	}
	// The file starts with three 4 KiB headers; blocks follow.
	return 3*4096 + block*blockSize + blockSize/2
}

// corrupt overwrites 4 KiB of path at off.
func corrupt(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", 4096)), off); err != nil {
		t.Fatal(err)
	}
}
