package engine

import (
	"bufio"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duckdb/duckdb-go/v2"
)

// TestHoldDatabase is not a test: TestOpenLockedByAnotherProcess runs the
// test binary with it to hold a database open in another process until
// its stdin closes.
func TestHoldDatabase(t *testing.T) {
	path := os.Getenv("APSQL_TEST_HOLD_DB")
	if path == "" {
		t.Skip("a helper of TestOpenLockedByAnotherProcess")
	}
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fmt.Println("holding")
	io.Copy(io.Discard, os.Stdin)
}

// TestOpenLockedByAnotherProcess: a file another process holds is one line
// naming that process, found from the lock itself (lockHolder), and is
// not taken for a damaged file.
func TestOpenLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ap.duckdb")
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	holder := exec.Command(os.Args[0], "-test.run=^TestHoldDatabase$", "-test.v")
	holder.Env = append(os.Environ(), "APSQL_TEST_HOLD_DB="+path)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		holder.Wait()
	}()
	held := false
	for sc := bufio.NewScanner(stdout); !held && sc.Scan(); {
		held = sc.Text() == "holding"
	}
	if !held {
		t.Fatal("the holding process did not open the database")
	}

	d, err = Open(t.Context(), path)
	if err == nil {
		d.Close()
		t.Fatal("Open of a file another process holds succeeded")
	}
	want := fmt.Sprintf("it is in use by process %d", holder.Process.Pid)
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || errors.Is(err, ErrDamaged) {
		t.Errorf("Open of a held file = %q; want one line containing %q, not ErrDamaged", err, want)
	}
	if pid, err := lockHolder(path); pid != holder.Process.Pid || err != nil {
		t.Errorf("lockHolder = %d, %v; want %d", pid, err, holder.Process.Pid)
	}
}

// TestOpenDamaged: a file whose blocks fail their checksum, and one cut
// short before its catalog, are ErrDamaged (DuckDB's IO error, no lock
// held, the header DuckDB's), not a lock or a foreign file.
func TestOpenDamaged(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.duckdb")
	d, err := Open(t.Context(), good)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// The first block after the three headers holds the catalog: DuckDB
	// reads it on open.
	flipped := append([]byte(nil), data...)
	for i := 3*4096 + 100; i < 3*4096+4000; i++ {
		flipped[i] ^= 0xff
	}
	for name, content := range map[string][]byte{"checksum": flipped, "cut short": data[:3*4096+10]} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".duckdb")
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := Open(t.Context(), path)
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			var de *duckdb.Error
			if !errors.Is(err, ErrDamaged) || !errors.As(err, &de) || de.Type != duckdb.ErrorTypeIO || strings.Contains(err.Error(), "in use") {
				t.Errorf("Open = %v; want ErrDamaged wrapping DuckDB's IO error", err)
			}
		})
	}
}

// TestOpenReadOnlyPlainDuckDB: a read-only DuckDB file without apsql's
// tables (no apsql_meta: found in the catalog, not from an error's text)
// has schema version 0 and asks to be made writable once.
func TestOpenReadOnlyPlainDuckDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain.duckdb")
	c, err := duckdb.NewConnector(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	if _, err := db.Exec(`CREATE TABLE x (i INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c.Close()
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	d, err := Open(t.Context(), path)
	if err == nil {
		d.Close()
		t.Fatal("Open of a read-only file without apsql's schema succeeded")
	}
	if want := "its schema (version 0) must be upgraded"; !strings.Contains(err.Error(), want) {
		t.Errorf("Open = %v; want %q", err, want)
	}
}

// TestOpenNewerStorage: a file of a newer DuckDB storage version (its
// header's number above the one this build writes) is named so, not
// taken for damage.
func TestOpenNewerStorage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "newer.duckdb")
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	own := binary.LittleEndian.Uint64(data[12:20])
	if own != ownStorageNumber() {
		t.Fatalf("storage number of a new file %d, ownStorageNumber %d", own, ownStorageNumber())
	}
	// The main header with a higher version number and its checksum
	// (DuckDB's: 5381 xor each 64-bit word times a constant) made again.
	binary.LittleEndian.PutUint64(data[12:20], own+10)
	sum := uint64(5381)
	for i := 8; i < 4096; i += 8 {
		sum ^= binary.LittleEndian.Uint64(data[i:]) * 0xbf58476d1ce4e5b9
	}
	binary.LittleEndian.PutUint64(data[0:8], sum)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err = Open(t.Context(), path)
	if err == nil {
		d.Close()
		t.Fatal("Open of a newer storage version succeeded")
	}
	want := fmt.Sprintf("written by a newer DuckDB (storage version %d; this apsql writes %d): upgrade apsql", own+10, own)
	var de *duckdb.Error
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || errors.Is(err, ErrDamaged) || !errors.As(err, &de) {
		t.Errorf("Open = %q; want one line containing %q, not ErrDamaged, wrapping DuckDB's error", err, want)
	}
}
