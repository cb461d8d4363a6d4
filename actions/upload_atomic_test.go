package actions

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestUploadNodesWithJournal (issue 23): the node an UPLOAD stored goes
// into nodes in the transaction that journals its outcome and records it
// in changes. Here that journal write fails (a row another writer put at
// the outcome's seq, as a full disk would fail it): nothing of the flush
// stays, neither the node's row nor a changes row, so the re-run finds the
// file by its 409 and records it added by apsql. Before, the node's row
// was written in a transaction of its own: it stayed, the re-run found
// the content in the mirror (DEDUP) and recorded nothing, and changes
// never said the file was added.
func TestUploadNodesWithJournal(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 71}, 2)
	if _, err := e.srv.MkdirAll("Dest/atom"); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	dir := filepath.Join(t.TempDir(), "atom")
	writeFile(t, filepath.Join(dir, "x.jpg"), "photo x, stored once")
	var once sync.Once
	e.rec.mu.Lock()
	e.rec.before = func(r *http.Request) {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/cdproxy/nodes") {
			// The upload's 'sending' entry is journaled: its outcome
			// takes the next seq.
			once.Do(func() {
				e.exec(`INSERT INTO actions_log (seq, "at", action, target, status, detail)
SELECT max(seq) + 1, now(), 'TEST', 'blocker', 'ok', 'takes the seq of the upload''s outcome' FROM actions_log`)
			})
		}
	}
	e.rec.mu.Unlock()
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	_, sum, err := e.try(t.Context(), `UPLOAD '`+dir+`' TO 'Dest' (CONCURRENCY 1)`)
	e.rec.mu.Lock()
	e.rec.before = nil
	e.rec.mu.Unlock()
	t.Logf("the UPLOAD whose journal failed: %s (%v)", sum, err)
	ids, ierr := e.srv.NodeIDs(`name:"x.jpg"`)
	if ierr != nil || len(ids) != 1 {
		t.Fatalf("the service holds x.jpg %d times (%v), want the upload landed once", len(ids), ierr)
	}
	id := ids[0]
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, id); n != 0 {
		t.Errorf("nodes holds the uploaded node %s though its outcome was not journaled", id)
	}
	if got := e.nodeChangeRows(last); len(got) != 0 {
		t.Errorf("changes holds %q though the outcome was not journaled", got)
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action = 'UPLOAD' AND target = 'atom/x.jpg' AND status <> 'sending'`); n != 0 {
		t.Errorf("%d outcomes of x.jpg journaled, want none (the journal write failed)", n)
	}

	e.exec(`DELETE FROM actions_log WHERE action = 'TEST'`)
	rows, sum := e.run(`UPLOAD '` + dir + `' TO 'Dest'`)
	rows = slices.DeleteFunc(rows, func(r row) bool { return strings.HasSuffix(r.name, "/") })
	if len(rows) != 1 || rows[0].id != id || rows[0].status == StatusFailed {
		t.Fatalf("the re-run: %+v (%s), want x.jpg found as %s", rows, sum, id)
	}
	if n, err := e.srv.CountNodes(`name:"x.jpg"`); err != nil || n != 1 {
		t.Errorf("after the re-run the service holds x.jpg %d times (%v), want once", n, err)
	}
	if got, want := e.nodeChangeRows(last), []string{"added " + id + " x.jpg true "}; !slices.Equal(got, want) {
		t.Errorf("changes after the re-run: %q, want %q", got, want)
	}
	e.nodesQuiet("the re-run")
}

// TestUploadTwinsOneFlush (issue 23): files of the same content that the
// service deduplicates silently (UploadDedup: each answer is the node the
// first one stored) come back as one node several times in one flush of
// the sink. It goes into nodes once, and into changes as added by apsql.
// Before, the batch held the id three times, its insert failed on the
// primary key, and the uploaded node was in neither table ("adding it to
// nodes failed ... (run SYNC)").
func TestUploadTwinsOneFlush(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 83, UploadDedup: true}, 0)
	if _, err := e.srv.MkdirAll("Dest/twins"); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	dir := filepath.Join(t.TempDir(), "twins")
	for _, n := range []string{"a.jpg", "b.jpg", "c.jpg"} {
		writeFile(t, filepath.Join(dir, n), "the same bytes, three times")
	}
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	rows, sum := e.run(`UPLOAD '` + dir + `' TO 'Dest' (DEDUP false, CONCURRENCY 1)`)
	ids, err := e.srv.NodeIDs(`name:"a.jpg" OR name:"b.jpg" OR name:"c.jpg"`)
	if err != nil || len(ids) != 1 {
		t.Fatalf("the service holds %d of the twins (%v), want one", len(ids), err)
	}
	id := ids[0]
	for _, r := range slices.DeleteFunc(rows, func(r row) bool { return strings.HasSuffix(r.name, "/") }) {
		if r.id != id || r.status == StatusFailed || strings.Contains(r.detail, "adding it to nodes failed") {
			t.Errorf("%s: %+v (%s), want it found as %s and put into nodes", r.name, r, sum, id)
		}
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, id); n != 1 {
		t.Errorf("nodes holds %s %d times, want once", id, n)
	}
	if got, want := e.nodeChangeRows(last), []string{"added " + id + " a.jpg true "}; !slices.Equal(got, want) {
		t.Errorf("changes: %q, want %q", got, want)
	}
	e.nodesQuiet("the UPLOAD of twins")
}
