package backup

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apsql/apsql/engine"
)

// TestLocalFiles: local_files('dir') lists every regular file below dir
// (not the links) with its size, mtime and md5; a second call takes the
// md5s from the cache (a file rewritten with the same size and mtime keeps
// its cached md5, which proves nothing was hashed again), and a file whose
// mtime changed is hashed again.
func TestLocalFiles(t *testing.T) {
	db, err := engine.Open(t.Context(), engine.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := RegisterLocalFiles(db); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	want := map[string]string{}
	for i := range 2500 {
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%04d.bin", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		data := []byte(fmt.Sprintf("file %d %s", i, string(make([]byte, i%300))))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(data)
		want[p] = hex.EncodeToString(sum[:])
	}
	os.Symlink(filepath.Join(dir, "d0", "f0000.bin"), filepath.Join(dir, "link.bin"))
	read := func() map[string]string {
		rows, err := db.Query(t.Context(), `SELECT path, size, md5 FROM local_files(?)`, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var p, sum string
			var size int64
			if err := rows.Scan(&p, &size, &sum); err != nil {
				t.Fatal(err)
			}
			got[p] = sum
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := read()
	if len(got) != len(want) {
		t.Errorf("local_files listed %d files, want %d", len(got), len(want))
	}
	for p, sum := range want {
		if got[p] != sum {
			t.Errorf("%s: md5 %q, want %s", p, got[p], sum)
		}
	}
	// Same size, same mtime, other bytes: the cache answers.
	p := filepath.Join(dir, "d1", "f0001.bin")
	fi, _ := os.Stat(p)
	data, _ := os.ReadFile(p)
	data[0] ^= 0xff
	os.WriteFile(p, data, 0o644)
	os.Chtimes(p, time.Time{}, fi.ModTime())
	if got := read(); got[p] != want[p] {
		t.Errorf("second call: %s hashed again (md5 %s, cached %s)", p, got[p], want[p])
	}
	os.Chtimes(p, time.Time{}, fi.ModTime().Add(time.Second))
	sum := md5.Sum(data)
	if got := read(); got[p] != hex.EncodeToString(sum[:]) {
		t.Errorf("after the mtime changed: %s md5 %s, want %x", p, got[p], sum)
	}
	// LIMIT stops early without hanging.
	var n int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM (SELECT * FROM local_files(?) LIMIT 3)`, dir).Scan(&n); err != nil || n != 3 {
		t.Errorf("LIMIT 3: %d rows, %v", n, err)
	}
	if _, err := db.Query(t.Context(), `SELECT * FROM local_files(?)`, filepath.Join(dir, "nope")); err == nil {
		t.Errorf("a missing folder gave no error")
	}
}
