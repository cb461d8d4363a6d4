package backup

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// smallDisk mounts a tmpfs of size at a new folder, or skips the test
// where mounting is not allowed (not root).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	os.MkdirAll(dir, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestBackupDiskFullAndReadOnly: on a full disk BACKUP stops at the first
// ENOSPC, every file it recorded is whole and verified, no part file is
// left; a read-only folder is refused with an error naming it, and nothing
// is written.
func TestBackupDiskFullAndReadOnly(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 80, Seed: 19}, "SYNC")
	disk := smallDisk(t, "2m")
	dir := filepath.Join(disk, "bk")
	rows, sum := e.run(`BACKUP TO '` + dir + `' (CONCURRENCY 2)`)
	t.Log(sum)
	if !strings.Contains(sum, "disk full") {
		t.Errorf("summary %q does not say the disk is full", sum)
	}
	failed := 0
	for _, r := range rows {
		if r["status"] == "failed" {
			failed++
		}
	}
	if failed == 0 {
		t.Errorf("no row failed")
	}
	m := readManifestT(t, dir)
	for id, rec := range m.byID {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rec.Path)))
		truth, _ := e.srv.Content(id)
		if err != nil || string(b) != string(truth) {
			t.Errorf("%s recorded at %s but holds %d bytes (%v), want %d", id, rec.Path, len(b), err, len(truth))
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".part") {
			t.Errorf("part file left: %s", p)
		}
		return nil
	})
	t.Logf("%d files recorded before the disk filled", len(m.byID))

	ro := smallDisk(t, "1m")
	if out, err := exec.Command("mount", "-o", "remount,ro", ro).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v %s", err, out)
	}
	_, _, err := e.try(`BACKUP TO '` + filepath.Join(ro, "bk") + `'`)
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a read-only folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ro, "bk")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("something was written on the read-only disk: %v", err)
	}
}
