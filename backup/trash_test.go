package backup

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestThenTrash: BACKUP ... THEN TRASH trashes in the cloud exactly the
// target's nodes whose file is verified: fetched and md5-checked now, or
// backed up earlier and still holding the node's md5; a file edited
// locally keeps its node in the cloud; EXPLAIN sends nothing; each trash
// is journaled in actions_log; the emulator's state is the proof.
func TestThenTrash(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 80, Seed: 13}, "SYNC")
	files := e.strings(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id`)
	in := func(ids []string) string { return `WHERE id IN ('` + strings.Join(ids, `', '`) + `')` }
	dir := filepath.Join(t.TempDir(), "bk")
	e.run(`BACKUP ` + in(files[:10]) + ` TO '` + dir + `'`)
	m := readManifestT(t, dir)
	os.WriteFile(filepath.Join(dir, filepath.FromSlash(m.byID[files[0]].Path)), []byte("edited"), 0o644)

	before := e.srv.Stats().Requests
	_, sum := e.run(`EXPLAIN BACKUP ` + in(files[:12]) + ` TO '` + dir + `' THEN TRASH`)
	if e.srv.Stats().Requests != before || !strings.Contains(sum, "THEN TRASH") {
		t.Errorf("EXPLAIN: %d requests; %s", e.srv.Stats().Requests-before, sum)
	}
	// Asked at a terminal: BACKUP asks once, and TRASH, handed the
	// verified ids, does not ask again.
	var asked []string
	e.s.Yes, e.s.Interactive = false, true
	e.s.Confirm = func(q string) bool { asked = append(asked, q); return true }
	rows, sum := e.run(`BACKUP ` + in(files[:12]) + ` TO '` + dir + `' THEN TRASH`)
	t.Log(sum)
	if len(asked) != 1 {
		t.Errorf("asked %d times, want once: %q", len(asked), asked)
	}
	status := func(id string) string {
		raw, _ := e.srv.Node(id)
		var n struct{ Status string }
		json.Unmarshal(raw, &n)
		return n.Status
	}
	for i, id := range files {
		want := "AVAILABLE"
		if i >= 1 && i < 12 {
			want = "TRASH"
		}
		if got := status(id); got != want {
			t.Errorf("node %d %s: %s, want %s", i, id, got, want)
		}
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action = 'TRASH' AND status = 'ok'`); n != 11 {
		t.Errorf("actions_log holds %d TRASH ok rows, want 11", n)
	}
	trashed := 0
	for _, r := range rows {
		if strings.HasPrefix(r["detail"], "THEN TRASH") && r["status"] == "ok" {
			trashed++
		}
	}
	if trashed != 11 || !strings.Contains(sum, "11 trashed in the cloud") {
		t.Errorf("%d trashed rows; %s", trashed, sum)
	}
}
