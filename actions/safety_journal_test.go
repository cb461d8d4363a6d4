package actions

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// setupFile is setup with the database in a file at path.
func setupFile(t *testing.T, opts emulator.Options, path string) *env {
	t.Helper()
	opts.State = true
	srv := emulator.StartTest(t, opts)
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{next: http.DefaultTransport.(*http.Transport).Clone()}
	c, err := fetch.New(fetch.Config{
		Cookies: cookies, Endpoint: srv.URL(),
		Sleep:      func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		HTTPClient: &http.Client{Transport: rec},
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	Register(db.Commands(), func(context.Context) (*fetch.Client, error) { return c, nil })
	e := &env{t: t, srv: srv, c: c, db: db, s: humanSession(db), rec: rec}
	e.mirror()
	e.exec(`CHECKPOINT`)
	return e
}

// TestJournalBeforeSendNoWAL (issue 16 item 3): when the journal cannot be
// written (here the WAL cannot be created: a directory holds its name),
// TRASH sends nothing and fails with why. Before, it trashed the nodes on
// the service and wrote nothing down.
func TestJournalBeforeSendNoWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ap.duckdb")
	e := setupFile(t, emulator.Options{Nodes: 300, Seed: 18}, path)
	if err := os.Mkdir(path+".wal", 0o755); err != nil {
		t.Fatal(err)
	}
	before := e.srv.State().TrashIDs
	_, _, err := e.try(t.Context(), `TRASH (SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 100)`)
	if err == nil || !errors.Is(err, errJournal) {
		t.Fatalf("TRASH with a journal that cannot be written: %v, want it to fail naming the journal", err)
	}
	if n := len(e.rec.matching("PATCH", "/trash")); n != 0 {
		t.Errorf("%d PATCH /trash sent", n)
	}
	if got := e.srv.State().TrashIDs; len(got) != len(before) {
		t.Errorf("the service's trash went from %d to %d nodes", len(before), len(got))
	}
}

// TestJournalBeforeSendDiskFull (issue 16 item 3): the database on a full
// file system (a small tmpfs; root only). Full before the statement:
// nothing is sent and it fails. Full after the first batch went: the rest
// is not sent, and the statement fails (exit 1) though its rows say ok.
func TestJournalBeforeSendDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (root only): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	e := setupFile(t, emulator.Options{Nodes: 300, Seed: 19}, filepath.Join(dir, "ap.duckdb"))
	var once sync.Once
	fill := func() {
		f, err := os.Create(filepath.Join(dir, "filler"))
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		for {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
		for k := 4096; k > 0; k /= 2 { // the last odd bytes
			for {
				if _, err := f.Write(buf[:k]); err != nil {
					break
				}
			}
		}
	}

	const stmt = `TRASH (SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 100)`
	before := e.srv.State().TrashIDs

	// Full before the statement: nothing is sent.
	fill()
	if _, _, err := e.try(t.Context(), stmt); !errors.Is(err, errJournal) {
		t.Fatalf("TRASH on a full disk: %v, want it to fail naming the journal", err)
	}
	if n := len(e.rec.matching("PATCH", "/trash")); n != 0 || len(e.srv.State().TrashIDs) != len(before) {
		t.Fatalf("TRASH on a full disk sent %d PATCH /trash", n)
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}

	// Full once the first PATCH /trash is on its way: what went was
	// journaled before it went, and the statement fails.
	e.rec.before = func(r *http.Request) {
		if r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/trash") {
			once.Do(fill)
		}
	}
	res, err := e.s.Run(t.Context(), stmt)
	if err != nil {
		t.Fatalf("TRASH on a disk that filled up: %v", err)
	}
	res.Rows.Release()
	if res.Failed == 0 {
		t.Errorf("TRASH on a disk that filled up: %q, exit status 0; want it to fail", res.Summary)
	}
	went := newIn(e.srv.State().TrashIDs, before)
	if len(went) == 0 {
		t.Fatal("nothing was trashed before the disk filled")
	}
	if n := e.count(`SELECT count(DISTINCT target) FROM actions_log WHERE action = 'TRASH' AND target IN (` + quoteIDs(went) + `)`); n != len(went) {
		t.Errorf("the service trashed %d nodes, the journal names %d of them", len(went), n)
	}
	if n := e.count(`SELECT count(DISTINCT target) FROM actions_log WHERE action = 'TRASH'`); n < len(went) {
		t.Errorf("journal names %d nodes, %d went", n, len(went))
	}
	t.Logf("disk full after the first request: %d trashed, %q", len(went), res.Summary)
}
