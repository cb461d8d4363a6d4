package actions

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestUploadJournalsBeforeSending (issue 18 item 2): UPLOAD journals each
// file and each folder it makes as 'sending' before the request goes, as
// every other action does. Before, it journaled only the outcomes: every
// ok target below had no 'sending' entry before it.
func TestUploadJournalsBeforeSending(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 20, Seed: 12}, 0)
	root := filepath.Join(t.TempDir(), "tree")
	writeFile(t, filepath.Join(root, "a.jpg"), "photo a")
	writeFile(t, filepath.Join(root, "sub", "b.jpg"), "photo b")
	rows, sum := e.run(`UPLOAD '` + root + `' TO 'Journaled/Here'`)
	if ok := byStatus(rows)[StatusOK]; len(ok) != 6 {
		t.Fatalf("rows %+v (%s), want 6 ok (4 folders, 2 files)", rows, sum)
	}
	// Every ok outcome (files and folders made) follows its own 'sending'.
	lost := e.ids(`SELECT o.target FROM actions_log o WHERE o.action = 'UPLOAD' AND o.status = 'ok'
  AND NOT EXISTS (SELECT 1 FROM actions_log s WHERE s.action = 'UPLOAD' AND s.status = 'sending' AND s.target = o.target AND s.seq < o.seq)
  ORDER BY 1`)
	if len(lost) > 0 {
		t.Errorf("ok without a 'sending' entry before it: %v", lost)
	}
	if n := e.ids(`SELECT count(*)::VARCHAR FROM actions_log WHERE action = 'UPLOAD' AND status = 'ok'`)[0]; n == "0" {
		t.Errorf("no ok entries in the journal")
	}
}

// TestUploadJournalBeforeSendNoWAL: when the journal cannot be written,
// UPLOAD sends nothing (no folder made, no file uploaded) and fails with
// why. Before, it made the folders and uploaded the files first.
func TestUploadJournalBeforeSendNoWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ap.duckdb")
	e := setupFile(t, emulator.Options{Nodes: 30, Seed: 18}, path)
	root := filepath.Join(t.TempDir(), "tree")
	writeFile(t, filepath.Join(root, "a.jpg"), "photo a")
	writeFile(t, filepath.Join(root, "b.jpg"), "photo b")
	if err := os.Mkdir(path+".wal", 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.try(t.Context(), `UPLOAD '`+root+`' TO 'NoWAL'`)
	if err == nil || !errors.Is(err, errJournal) {
		t.Fatalf("UPLOAD with a journal that cannot be written: %v, want it to fail naming the journal", err)
	}
	if n := len(e.rec.matching("POST", "/nodes")) + len(e.rec.matching("POST", "/cdproxy/nodes")) + len(e.rec.matching("POST", "/v2/upload")); n != 0 {
		t.Errorf("%d POST requests sent (folders made or files uploaded)", n)
	}
}
