package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// journalFile writes a database file holding a journal whose detail is
// stored with zstd, as nodes.raw is (20k rows: its segment has an
// additional block, which DuckDB loads only to read the values), and a
// small table, closed, and returns its path.
func journalFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ap.duckdb")
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, q := range []string{
		`CREATE TABLE journal (i BIGINT, detail VARCHAR USING COMPRESSION zstd)`,
		`INSERT INTO journal SELECT i, md5(i::VARCHAR) || repeat('{"a":[],"b":false,"c":{}}', 20) || md5((i+1)::VARCHAR) FROM range(20000) t(i)`,
		`CREATE TABLE small AS SELECT range AS i FROM range(10)`,
	} {
		if _, err := d.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path
}

// checkFile opens path, runs the block check once and closes it: the
// check's verdict, and whether the file was read through DuckDB.
func checkFile(t *testing.T, path string) (verdict error, throughDuckDB bool) {
	t.Helper()
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return d.CheckBeforeWrite(t.Context()), d.sums.off
}

// damageBlock overwrites 4 KiB in the middle of the first additional block
// of a column of table, as a bad sector would. pragma_storage_info, which
// lists the blocks, loads each segment's first block itself (damage there
// fails the listing, which DuckDB's read then names); an additional block
// is found by its checksum alone.
func damageBlock(t *testing.T, path, table, column string) {
	t.Helper()
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	var block, size int64
	err = d.QueryRow(t.Context(), `SELECT additional_block_ids[1] FROM pragma_storage_info(?) WHERE column_name = ? AND persistent AND len(additional_block_ids) > 0 ORDER BY row_group_id, segment_id LIMIT 1`, table, column).Scan(&block)
	if err == nil {
		err = d.QueryRow(t.Context(), `SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()`).Scan(&size)
	}
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), fileHeadersSize+block*size+size/2); err != nil {
		t.Fatal(err)
	}
}

// TestBlockSumsFindDamage: the checksums read from the file pass a sound
// file and find a damaged block, which DuckDB's own read then names (the
// error as before: ErrDamaged, the file, the table), all without falling
// back to reading every table through DuckDB.
func TestBlockSumsFindDamage(t *testing.T) {
	ctx := context.Background()
	path := journalFile(t)
	if err, off := checkFile(t, path); err != nil || off {
		t.Fatalf("check of a sound file: %v (read through DuckDB: %v); want it to pass by its checksums", err, off)
	}

	damageBlock(t, path, "journal", "detail")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var tables [][2]string
	for _, name := range []string{"journal", "small"} {
		tables = append(tables, [2]string{"main", name})
	}
	suspects, ok, err := d.blockSuspects(ctx, d.Conn(), tables)
	if err != nil || !ok || len(suspects) != 1 || suspects[0][1] != "journal" {
		t.Errorf("blockSuspects = %v, %v, %v; want [journal], checked", suspects, ok, err)
	}
	err = d.CheckBeforeWrite(ctx)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "(table journal)") || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("check of a damaged file: %v; want ErrDamaged naming %s, table journal and DuckDB's checksum error", err, path)
	}
	if d.sums.off {
		t.Error("the damaged file is now read through DuckDB: its checksums were right")
	}
}

// TestBlockSumsOtherLayout: a file whose blocks are not where blockSums
// looks (here: a shifted start) fails every checksum there, but DuckDB
// reads it: the check passes, and reads that file through DuckDB from then
// on, which still finds real damage.
func TestBlockSumsOtherLayout(t *testing.T) {
	path := journalFile(t)
	defer func(s int64) { blockStart = s }(blockStart)
	blockStart = fileHeadersSize - 4096

	if err, off := checkFile(t, path); err != nil || !off {
		t.Fatalf("check with the blocks looked for elsewhere: %v (read through DuckDB: %v); want it to pass through DuckDB", err, off)
	}
	damageBlock(t, path, "journal", "detail")
	if err, _ := checkFile(t, path); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "(table journal)") {
		t.Errorf("check of a damaged file laid out otherwise: %v; want ErrDamaged naming table journal", err)
	}
}

// TestTryOpenDatabase is not a test: TestBlockCheckKeepsTheLock runs the
// test binary with it to try to open a database another process holds.
func TestTryOpenDatabase(t *testing.T) {
	path := os.Getenv("APSQL_TEST_TRY_DB")
	if path == "" {
		t.Skip("a helper of TestBlockCheckKeepsTheLock")
	}
	d, err := Open(t.Context(), path)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	d.Close()
	fmt.Println("opened")
}

// TestBlockCheckKeepsTheLock: reading the file's blocks opens the file a
// second time; closing that descriptor would drop the lock DuckDB holds on
// it (fcntl locks belong to the process), and another process could then
// open the database while this one writes it. After the check, and after a
// second one, another process is still refused.
func TestBlockCheckKeepsTheLock(t *testing.T) {
	ctx := context.Background()
	path := journalFile(t)
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	try := func() string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTryOpenDatabase$", "-test.v")
		cmd.Env = append(os.Environ(), "APSQL_TEST_TRY_DB="+path)
		out, _ := cmd.Output()
		for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
			if l := sc.Text(); l == "opened" || strings.HasPrefix(l, "refused:") {
				return l
			}
		}
		t.Fatalf("the other process said neither: %s", out)
		return ""
	}
	for i := range 2 {
		if err := d.CheckBeforeWrite(ctx); err != nil || d.sums.off {
			t.Fatalf("check %d: %v (read through DuckDB: %v)", i+1, err, d.sums.off)
		}
		if got := try(); !strings.Contains(got, "in use by process") {
			t.Fatalf("after block check %d, another process's Open: %q; want it refused, the file in use", i+1, got)
		}
	}
	d.Close()
	if got := try(); got != "opened" {
		t.Errorf("after Close, another process's Open: %q; want opened", got)
	}
}
