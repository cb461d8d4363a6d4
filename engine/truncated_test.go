package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenTruncated (issue 16 item 3): a file missing its last blocks
// (a copy cut short) passed every check of its tables, so SYNC went on and
// died half-way. Open now compares the file's size with the blocks its
// header counts: such a file opens for queries only, and every statement
// that writes refuses it as damaged.
func TestOpenTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ap.duckdb")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(t.Context(), `INSERT INTO nodes (id, name) SELECT md5(i::VARCHAR), 'n' || i FROM range(150000) t(i)`); err != nil {
		t.Fatal(err)
	}
	var blockSize int64
	if err := db.QueryRow(t.Context(), `SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()`).Scan(&blockSize); err != nil {
		t.Fatal(err)
	}
	db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Cut most of the last block away: the catalog still reads.
	if err := os.Truncate(path, fi.Size()-blockSize+4096); err != nil {
		t.Fatal(err)
	}
	db, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open of a file missing its last block: %v; want it open for queries", err)
	}
	defer db.Close()
	for name, err := range map[string]error{"Writable": db.Writable(), "CheckBeforeWrite": db.CheckBeforeWrite(t.Context())} {
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "lost its last") {
			t.Errorf("%s of a truncated file = %v, want ErrDamaged naming the file and what it lost", name, err)
		}
	}
	if _, err := db.Exec(t.Context(), `DELETE FROM nodes`); err == nil {
		t.Error("DELETE FROM nodes on a truncated file succeeded")
	}
	var n int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM nodes`).Scan(&n); err != nil || n != 150000 {
		t.Errorf("query of the truncated file: %d rows, %v; want the 150000 for salvage", n, err)
	}
}
