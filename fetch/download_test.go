package fetch_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// fullPart is a part file on a disk that is full after room bytes.
type fullPart struct {
	fetch.PartFile
	room *int
}

func (f fullPart) Write(p []byte) (int, error) {
	if *f.room -= len(p); *f.room < 0 {
		return 0, syscall.ENOSPC
	}
	return f.PartFile.Write(p)
}

// TestDownloadFile: the one download loop under DOWNLOAD and BACKUP, its
// file and its typed errors, each checked against the emulator's content:
// cut connections are resumed, a kept prefix is resumed (and a wrong one
// fetched again from the start), a wrong md5 is ErrBadContent, a purged
// node ErrNodeGone, a full disk DiskFull, and a failure leaves no part
// file a later run could not resume from.
func TestDownloadFile(t *testing.T) {
	srv, c := newEmulated(t, emulator.Options{Nodes: 5, Seed: 7}, nil)
	data := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 kB
	id, err := srv.Upload("", "f.bin", data)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	want := fetch.Download{ID: id, Size: int64(len(data)), MD5: hex.EncodeToString(sum[:])}
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	part := filepath.Join(dir, fetch.PartName("f.bin"))
	check := func(what string, got fetch.Downloaded, err error) {
		t.Helper()
		b, rerr := os.ReadFile(filepath.Join(dir, "f.bin"))
		if err != nil || rerr != nil || !bytes.Equal(b, data) || got.Size != int64(len(data)) || got.MD5 != want.MD5 {
			t.Errorf("%s: %+v, %v; the file %d bytes (%v), want the node's %d", what, got, err, len(b), rerr, len(data))
		}
		if _, err := os.Lstat(part); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the part file is left: %v", what, err)
		}
		os.Remove(filepath.Join(dir, "f.bin"))
	}

	srv.SetFaults(0, 0, 0.5, 0)
	got, err := c.DownloadFile(t.Context(), root, "f.bin", want)
	check("half the bodies cut", got, err)
	t.Logf("half the bodies cut: %d requests, %d resumes", got.Requests, got.Resumes)
	srv.SetFaults(0, 0, 0, 0)

	os.WriteFile(part, data[:300000], 0o644)
	got, err = c.DownloadFile(t.Context(), root, "f.bin", want)
	check("a good prefix", got, err)
	if got.Requests != 1 {
		t.Errorf("a good prefix: %d requests, want 1 (a Range from the prefix)", got.Requests)
	}
	os.WriteFile(part, bytes.Repeat([]byte("x"), 1000), 0o644)
	got, err = c.DownloadFile(t.Context(), root, "f.bin", want)
	check("a wrong prefix", got, err)
	if got.Requests != 2 {
		t.Errorf("a wrong prefix: %d requests, want 2 (resumed, then from the start)", got.Requests)
	}

	bad := want
	bad.MD5 = strings.Repeat("0", 32)
	if _, err := c.DownloadFile(t.Context(), root, "f.bin", bad); !errors.Is(err, fetch.ErrBadContent) {
		t.Errorf("another md5: %v, want ErrBadContent", err)
	}
	noFiles(t, dir)

	room := 100000
	full := want
	full.Wrap = func(f *os.File) fetch.PartFile { return fullPart{f, &room} }
	_, err = c.DownloadFile(t.Context(), root, "f.bin", full)
	var fe *fetch.FileError
	if !fetch.DiskFull(err) || !errors.As(err, &fe) {
		t.Errorf("a full disk: %v, want a *FileError that DiskFull knows", err)
	}
	noFiles(t, dir)

	if err := srv.TrashIDs(id); err != nil {
		t.Fatal(err)
	}
	if err := srv.PurgeIDs(id); err != nil {
		t.Fatal(err)
	}
	if _, err = c.DownloadFile(t.Context(), root, "f.bin", want); !errors.Is(err, fetch.ErrNodeGone) {
		t.Errorf("a purged node: %v, want ErrNodeGone", err)
	}
	noFiles(t, dir)
}

// noFiles fails the test for each file in dir.
func noFiles(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		t.Errorf("left in the folder: %s", e.Name())
	}
}
