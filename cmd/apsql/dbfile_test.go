package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apsql/apsql/engine"
)

// apsql runs the binary's main path and returns its exit status, stdout
// and stderr.
func apsql(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestSyncIntoDamagedFile: SYNC into a file made by apsql with a damaged
// block fails with a clear error and exit 1 before it fetches anything,
// even when the block belongs to a table SYNC does not read (issue 11
// item 6).
func TestSyncIntoDamagedFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ap.duckdb")
	// A mirror with a long journal: a table SYNC itself never reads.
	journal := `INSERT INTO actions_log (seq, "at", action, target, status, detail) SELECT i, now(), 'TRASH', md5(i::VARCHAR), 'ok', repeat(md5(i::VARCHAR), 4) FROM range(200000) t(i)`
	if code, _, stderr := apsql(t, "--demo=2000", "-q", db, "-c", "SYNC; "+journal); code != 0 {
		t.Fatalf("first SYNC: exit %d: %s", code, stderr)
	}
	// Overwrite 4 KiB in the middle of a block of the journal.
	d, err := engine.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	var block, size int64
	if err := d.QueryRow(t.Context(), `SELECT block_id FROM pragma_storage_info('actions_log') WHERE column_name = 'detail' AND persistent AND block_id >= 0 ORDER BY row_group_id, segment_id LIMIT 1`).Scan(&block); err != nil {
		t.Fatal(err)
	}
	if err := d.QueryRow(t.Context(), `SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	var changesBefore, nodesBefore int64
	if err := d.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM changes), (SELECT count(*) FROM nodes)`).Scan(&changesBefore, &nodesBefore); err != nil {
		t.Fatal(err)
	}
	d.Close()
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), 3*4096+block*size+size/2); err != nil {
		t.Fatal(err)
	}
	f.Close()

	code, stdout, stderr := apsql(t, "--demo=2000", "-q", db, "-c", "SYNC")
	if code != exitFailed || !strings.Contains(stderr, "damaged") || !strings.Contains(stderr, db) || !strings.Contains(stderr, "actions_log") {
		t.Errorf("SYNC into a damaged file: exit %d, stdout %q, stderr %q; want exit 1 and an error naming the damaged file and table", code, stdout, stderr)
	}
	// The check ran beside the listing: nothing was written meanwhile (no
	// staging table, no changes row, the nodes as they were).
	d, err = engine.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var staged, changes, nodes int64
	if err := d.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'apsql_sync'), (SELECT count(*) FROM changes), (SELECT count(*) FROM nodes)`).Scan(&staged, &changes, &nodes); err != nil {
		t.Fatal(err)
	}
	if staged != 0 || changes != changesBefore || nodes != nodesBefore {
		t.Errorf("after the refused SYNC: %d staging tables, %d changes rows (before %d), %d nodes (before %d); want none written", staged, changes, changesBefore, nodes, nodesBefore)
	}
}

// TestReadOnlyDatabaseFile: a file that cannot be written opens for
// queries with a note on stderr; a statement that writes fails (exit 1,
// not 2), and SYNC fails before it fetches anything.
func TestReadOnlyDatabaseFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ap.duckdb")
	if code, _, stderr := apsql(t, db, "-c", "CREATE TABLE notes AS SELECT 42 AS a"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := apsql(t, "--format", "csv", db, "-c", "SELECT a FROM notes")
	if code != exitOK || stdout != "a\n42\n" || !strings.Contains(stderr, "read-only") {
		t.Errorf("query of a read-only file: exit %d, stdout %q, stderr %q; want 0, the row, and a note", code, stdout, stderr)
	}
	code, _, stderr = apsql(t, db, "-c", "INSERT INTO notes VALUES (1)")
	if code != exitFailed || !strings.Contains(stderr, "read-only") {
		t.Errorf("INSERT into a read-only file: exit %d, stderr %q; want 1 and an error saying read-only", code, stderr)
	}
	code, _, stderr = apsql(t, "--demo=100", db, "-c", "SYNC")
	if code != exitFailed || !strings.Contains(stderr, "chmod u+w") {
		t.Errorf("SYNC into a read-only file: exit %d, stderr %q; want 1 and the fix", code, stderr)
	}
	code, _, stderr = apsql(t, "--demo=100", db, "-c", "TRASH WHERE true")
	if code != exitFailed || !strings.Contains(stderr, "read-only") {
		t.Errorf("TRASH with a read-only file: exit %d, stderr %q; want 1 before anything is sent", code, stderr)
	}
}

// TestNotADuckDBFile: a text file given as the database is refused with
// a one-line error naming it (exit 1).
func TestNotADuckDBFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := apsql(t, path, "-c", "SELECT 1")
	if code != exitFailed || !strings.Contains(stderr, path+" is not a DuckDB database (it is a text file)") {
		t.Errorf("apsql notes.txt: exit %d, stderr %q", code, stderr)
	}
}
