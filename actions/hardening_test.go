package actions

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// TestUploadSymlinkedDir: UPLOAD of a path that is a symbolic link to a
// directory uploads the directory's files under the link's name; a link
// inside the tree is still skipped, not followed (issue 11, item 5).
func TestUploadSymlinkedDir(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 31}, 0)
	base := t.TempDir()
	real := filepath.Join(base, "data", "photos")
	writeFile(t, filepath.Join(real, "a.jpg"), "symlinked photo a")
	writeFile(t, filepath.Join(real, "sub", "b.jpg"), "symlinked photo b")
	outside := filepath.Join(base, "outside.jpg")
	writeFile(t, outside, "not in the tree")
	if err := os.Symlink(outside, filepath.Join(real, "link.jpg")); err != nil {
		t.Fatal(err)
	}
	pictures := filepath.Join(base, "x", "Pictures")
	if err := os.MkdirAll(filepath.Dir(pictures), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, pictures); err != nil {
		t.Fatal(err)
	}
	rows, sum := e.run(`UPLOAD '` + pictures + `' TO 'Linked'`)
	got := map[string]row{}
	for _, r := range rows {
		got[r.name] = r
	}
	for _, name := range []string{"Pictures/a.jpg", "Pictures/sub/b.jpg"} {
		if got[name].status != StatusOK {
			t.Errorf("%s: %+v, want ok (rows %+v, %s)", name, got[name], rows, sum)
		}
	}
	if r := got["Pictures/link.jpg"]; r.status != StatusSkipped || r.detail != "symbolic link: not followed" {
		t.Errorf("a link inside the tree: %+v, want skipped, not followed", r)
	}
	folders := e.srv.State().Folders
	for _, p := range []string{"Linked/Pictures", "Linked/Pictures/sub"} {
		if folders[p] == "" {
			t.Errorf("the service has no folder %s", p)
		}
	}
}

// setupClient is setup with the client's configuration changed by tune
// (timeouts, sleeps) before it is made.
func setupClient(t *testing.T, opts emulator.Options, tune func(*fetch.Config)) *env {
	t.Helper()
	opts.State = true
	srv := emulator.StartTest(t, opts)
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{next: http.DefaultTransport.(*http.Transport).Clone()}
	cfg := fetch.Config{
		Cookies: cookies, Endpoint: srv.URL(),
		Sleep:      func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		HTTPClient: &http.Client{Transport: rec},
	}
	tune(&cfg)
	c, err := fetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(t.Context(), engine.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	Register(db.Commands(), func(context.Context) (*fetch.Client, error) { return c, nil })
	e := &env{t: t, srv: srv, c: c, db: db, s: humanSession(db), rec: rec}
	e.mirror()
	return e
}

// TestDownloadStalledBody: a body that stops mid-way is cut after the idle
// timeout and resumed with a Range request from the bytes received; a
// file that stalls on every try fails with a detail that says so, and the
// statement ends (issue 11, item 3a).
func TestDownloadStalledBody(t *testing.T) {
	e := setupClient(t, emulator.Options{Nodes: 10, Seed: 32}, func(c *fetch.Config) { c.IdleTimeout = 150 * time.Millisecond })
	data := []byte(strings.Repeat("a body that stalls half way; ", 40000))
	id, err := e.srv.Upload("Uploads", "stall.jpg", data)
	if err != nil {
		t.Fatal(err)
	}
	e.mirror()
	dir := filepath.Join(t.TempDir(), "out")
	e.srv.StallBodies(2, 300_000) // the first answer and the first resume
	start := time.Now()
	rows, sum := e.run(fmt.Sprintf(`DOWNLOAD '%s' TO '%s' (NAMING '{name}')`, id, dir))
	if len(rows) != 1 || rows[0].status != StatusOK || !strings.Contains(rows[0].detail, "resumed 2 times") {
		t.Fatalf("rows = %+v (%s), want one ok, resumed 2 times", rows, sum)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "stall.jpg")); err != nil || string(got) != string(data) {
		t.Fatalf("the stalled file arrived wrong (%d bytes, %v)", len(got), err)
	}
	ranged := 0
	for _, q := range e.rec.matching("GET", "/cdproxy/templink/") {
		if q.status == http.StatusPartialContent {
			ranged++
		}
	}
	if ranged != 2 {
		t.Errorf("%d answers were 206 Partial Content, want 2 (resumed from the bytes received)", ranged)
	}
	t.Logf("two stalls: %s", time.Since(start))
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("two stalls of 150 ms took %s: the stall was not waited out", took)
	}

	// Every try stalls: the row fails with why, within the retry budget.
	if err := os.Remove(filepath.Join(dir, "stall.jpg")); err != nil {
		t.Fatal(err)
	}
	e.srv.StallBodies(1<<30, 0) // headers, then nothing, on every try
	defer e.srv.StallBodies(0, 0)
	start = time.Now()
	rows, sum = e.run(fmt.Sprintf(`DOWNLOAD '%s' TO '%s' (NAMING '{name}')`, id, dir))
	t.Logf("always stalling: gave up after %s", time.Since(start).Round(time.Millisecond))
	if len(rows) != 1 || rows[0].status != StatusFailed || !strings.Contains(rows[0].detail, "stopped sending") {
		t.Fatalf("rows = %+v (%s), want one failed naming the stall", rows, sum)
	}
	t.Logf("always stalling: %s", rows[0].detail)
}

// TestInterruptHeldRequests: with every request held by the service (no
// answer), Ctrl-C 200 ms into TRASH or UPLOAD ends the statement within a
// second; the rows in flight are journalled "outcome unknown", and the
// re-run reads them back before it sends (issue 11, item 3b).
func TestInterruptHeldRequests(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 120, Seed: 33}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 60`)
	e.srv.SetFaults(time.Hour, 0, 0, 0) // the service holds every request

	interrupted := func(stmt string) []row {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		rows, sum, err := e.try(ctx, stmt)
		took := time.Since(start)
		t.Logf("%s: returned %s after the start (interrupt at 200ms): %s", strings.Fields(stmt)[0], took.Round(time.Millisecond), sum)
		if err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		if took > time.Second {
			t.Errorf("%s returned %s after the start, want within 1s of the interrupt", stmt, took)
		}
		if !strings.Contains(sum, "interrupted") {
			t.Errorf("summary %q does not say interrupted", sum)
		}
		return rows
	}

	rows := interrupted(fmt.Sprintf(`TRASH (SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT %d)`, len(ids)))
	unknown := 0
	for _, r := range rows {
		switch {
		case r.status == StatusFailed && strings.Contains(r.detail, unknownOutcome):
			unknown++
		case r.status == StatusFailed && r.detail == notSent:
		default:
			t.Errorf("row %+v, want failed: outcome unknown or not sent", r)
		}
	}
	if unknown == 0 {
		t.Fatalf("no row is 'outcome unknown' (%d rows); the held requests were not in flight", len(rows))
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action = 'TRASH' AND detail LIKE '%' || ? || '%'`, unknownOutcome); n != unknown {
		t.Errorf("journal holds %d 'outcome unknown' TRASH rows, result %d", n, unknown)
	}

	// The re-run reads the unknown ones back before it sends anything.
	e.srv.SetFaults(0, 0, 0, 0)
	e.rec.reset()
	var (
		mu    sync.Mutex
		order []string
	)
	e.setBefore(func(r *http.Request) {
		mu.Lock()
		order = append(order, r.Method+" "+r.URL.Path)
		mu.Unlock()
	})
	rows, sum := e.run(fmt.Sprintf(`TRASH (SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT %d)`, len(ids)))
	e.setBefore(nil)
	if st := byStatus(rows); len(st[StatusOK]) != len(ids) {
		t.Fatalf("re-run: %v (%s), want %d ok", st, sum, len(ids))
	}
	if len(order) == 0 || !strings.HasPrefix(order[0], "GET ") {
		t.Errorf("re-run sent %v first, want a read-back (GET) before any PATCH", order)
	}
	if twice := appliedTwice(e.rec.matching("PATCH", "/trash")); len(twice) != 0 {
		t.Errorf("ids trashed twice: %v", twice)
	}

	// UPLOAD: the held POST is cut, the row says outcome unknown. The
	// root folder is looked up first, unheld.
	file := filepath.Join(t.TempDir(), "held.jpg")
	writeFile(t, file, "a held upload")
	e.setBefore(func(r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/cdproxy/nodes") {
			e.srv.SetFaults(time.Hour, 0, 0, 0)
		}
	})
	rows = interrupted(`UPLOAD '` + file + `'`)
	e.setBefore(nil)
	e.srv.SetFaults(0, 0, 0, 0)
	if len(rows) != 1 || rows[0].status != StatusFailed || !strings.Contains(rows[0].detail, unknownOutcome) {
		t.Errorf("upload rows %+v, want one failed: outcome unknown", rows)
	}
	rows, _ = e.run(`UPLOAD '` + file + `'`)
	if len(rows) != 1 || rows[0].status != StatusOK {
		t.Errorf("upload re-run: %+v, want ok", rows)
	}
}

// TestDownloadNeverWritesThroughLinks: a planted .NAME.part link to a file
// outside the target is removed, not written through; a {yyyy} folder that
// links outside the target fails its rows with why, and nothing is written
// there (issue 11, item 4).
func TestDownloadNeverWritesThroughLinks(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 20, Seed: 35}, 0)
	id := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' AND contentDate IS NOT NULL ORDER BY id LIMIT 1`)[0]
	base := t.TempDir()
	dir := filepath.Join(base, "media")
	victim := filepath.Join(base, "victim.txt")
	writeFile(t, victim, "must stay")
	rows, _ := e.run(fmt.Sprintf(`EXPLAIN DOWNLOAD '%s' TO '%s' (NAMING '{name}')`, id, dir))
	name := strings.TrimSpace(strings.Split(strings.SplitN(rows[0].detail, "→ ", 2)[1], " (")[0])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, "."+name+".part")
	if err := os.Symlink(victim, part); err != nil {
		t.Fatal(err)
	}
	rows, sum := e.run(fmt.Sprintf(`DOWNLOAD '%s' TO '%s' (NAMING '{name}')`, id, dir))
	if len(rows) != 1 || rows[0].status != StatusOK {
		t.Fatalf("rows = %+v (%s), want one ok", rows, sum)
	}
	if b, _ := os.ReadFile(victim); string(b) != "must stay" {
		t.Errorf("the file behind the planted .part link now holds %d bytes: written through", len(b))
	}
	if _, err := os.Lstat(part); !os.IsNotExist(err) {
		t.Errorf("the planted link is still there (%v)", err)
	}
	want, _ := e.srv.Content(id)
	if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != string(want) {
		t.Errorf("the download holds %d bytes (%v), want the node's %d", len(got), err, len(want))
	}

	// A {yyyy} folder linked outside (as to /etc).
	outside := filepath.Join(base, "etc")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	dir2 := filepath.Join(base, "media2")
	yyyy := e.ids(`SELECT strftime(contentDate, '%Y') FROM nodes WHERE id = ?`, id)[0]
	if err := os.MkdirAll(dir2, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir2, yyyy)); err != nil {
		t.Fatal(err)
	}
	rows, sum = e.run(fmt.Sprintf(`DOWNLOAD '%s' TO '%s' (NAMING '{yyyy}/{name}')`, id, dir2))
	if len(rows) != 1 || rows[0].status != StatusFailed || !strings.Contains(rows[0].detail, "symbolic link") {
		t.Fatalf("rows = %+v (%s), want one failed naming the symbolic link", rows, sum)
	}
	t.Logf("detail: %s", rows[0].detail)
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("%d entries written through the linked folder", len(ents))
	}
}

// fullDisk is a part file on a disk that fills after room bytes (shared by
// every file of the statement).
type fullDisk struct {
	partFile
	room *atomic.Int64
}

func (f fullDisk) Write(p []byte) (int, error) {
	if f.room.Add(-int64(len(p))) < 0 {
		return 0, syscall.ENOSPC
	}
	return f.partFile.Write(p)
}

// TestDownloadDiskFull: the first ENOSPC stops the statement: no file is
// retried, every row not done says the disk is full, and no partial file
// is left taking room (issue 11, item 8).
func TestDownloadDiskFull(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 60, Seed: 36}, 0)
	var room atomic.Int64
	room.Store(200 << 10)
	wrapPart = func(f *os.File) partFile { return fullDisk{partFile: f, room: &room} }
	t.Cleanup(func() { wrapPart = func(f *os.File) partFile { return f } })
	files := e.count(`SELECT count(*) FROM nodes WHERE kind = 'FILE'`)
	dir := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	rows, sum := e.run(`DOWNLOAD WHERE kind = 'FILE' TO '` + dir + `' (CONCURRENCY 4)`)
	took := time.Since(start)
	st := byStatus(rows)
	if len(st[StatusFailed]) == 0 || len(rows) != files {
		t.Fatalf("%d rows of %d, %v (%s): want failures", len(rows), files, st, sum)
	}
	full := 0
	for _, r := range rows {
		switch {
		case r.status == StatusOK:
		case r.status == StatusFailed && strings.Contains(r.detail, "disk full: free space on "+dir):
			full++
		default:
			t.Errorf("row %+v, want ok or disk full", r)
		}
	}
	gets := map[string]int{}
	for _, q := range e.rec.matching("GET", "/contentRedirection") {
		gets[q.path]++
	}
	for p, n := range gets {
		if n > 1 {
			t.Errorf("%s was requested %d times after the disk filled, want once", p, n)
		}
	}
	if len(gets) > len(st[StatusOK])+4 {
		t.Errorf("%d files were requested, %d fit: the statement went on after the disk filled", len(gets), len(st[StatusOK]))
	}
	var parts []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".part") {
			parts = append(parts, p)
		}
		return nil
	})
	if len(parts) != 0 {
		t.Errorf("partial files left on the full disk: %v", parts)
	}
	t.Logf("disk full after %d files: stopped in %s; %d rows say disk full (%s)", len(st[StatusOK]), took.Round(time.Millisecond), full, sum)
}

// setBefore sets the recorder's hook under its lock (requests of a run
// before may still be in flight).
func (e *env) setBefore(f func(*http.Request)) {
	e.rec.mu.Lock()
	e.rec.before = f
	e.rec.mu.Unlock()
}
