package actions

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestPurgeRestoredElsewhere (issue 16 item 1): nodes restored on the
// service (another device) after the mirror saw them in the trash are not
// purged: PURGE reads each batch back right before sending it and skips
// them as "no longer in the trash", and says so. The emulator purges
// whatever it is sent (PurgeAny), as the service may.
func TestPurgeRestoredElsewhere(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 300, Seed: 16, PurgeAny: true}, 0)
	target := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 100`)
	rows, sum := e.run(`TRASH WHERE id IN (` + quoteIDs(target) + `)`)
	if st := byStatus(rows); len(st[StatusOK]) != 100 {
		t.Fatalf("TRASH: %v (%s)", st, sum)
	}
	restored := []string{target[10], target[70]}
	if err := e.srv.RestoreIDs(restored...); err != nil {
		t.Fatal(err)
	}
	e.s.Yes = true
	rows, sum = e.run(`PURGE WHERE id IN (` + quoteIDs(target) + `)`)
	st := byStatus(rows)
	if len(st[StatusOK]) != 98 || !slices.Equal(sorted(st[StatusSkipped]), sorted(restored)) {
		t.Fatalf("PURGE: %d ok, skipped %v, failed %v (%s); want 98 ok and the 2 restored skipped", len(st[StatusOK]), st[StatusSkipped], st[StatusFailed], sum)
	}
	for _, r := range rows {
		if r.status == StatusSkipped && !strings.HasPrefix(r.detail, "no longer in the trash") {
			t.Errorf("row %s: %q, want %q", r.id, r.detail, "no longer in the trash")
		}
	}
	if !strings.Contains(sum, "2 nodes were no longer in the trash") {
		t.Errorf("summary %q does not say that 2 were no longer in the trash", sum)
	}
	// The service's truth: the two restored are there, available; the
	// 98 are gone.
	for _, id := range target {
		n, ok := e.node(id)
		if slices.Contains(restored, id) {
			if !ok || n.Status != "AVAILABLE" {
				t.Errorf("restored %s: on the service %v, status %q; want it available", id, ok, n.Status)
			}
		} else if ok {
			t.Errorf("%s is still on the service (%s)", id, n.Status)
		}
	}
	// The mirror follows: the two are in nodes, trash equals the service's.
	if n := e.count(`SELECT count(*) FROM nodes WHERE status = 'AVAILABLE' AND id IN (` + quoteIDs(restored) + `)`); n != 2 {
		t.Errorf("%d of the 2 restored are in nodes", n)
	}
	e.sameTrash()
}

// TestFolderTrashPurgeCountsSubtree (issue 16 item 2): TRASH and PURGE of
// a folder ask about, EXPLAIN and list the subtree as the service holds it
// right then, files uploaded since the last SYNC included; the rows are
// exactly the nodes that left the service's library (or its trash).
func TestFolderTrashPurgeCountsSubtree(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 200, Seed: 17}, 0)
	if _, err := e.srv.MkdirAll("Big/Sub"); err != nil {
		t.Fatal(err)
	}
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 30`)
	for i, id := range files {
		to := "Big"
		if i%2 == 1 {
			to = "Big/Sub"
		}
		if err := e.srv.Move(id, to); err != nil {
			t.Fatal(err)
		}
	}
	e.mirror()
	e.syncFolders()
	// Since the SYNC: five uploads, one in a new subfolder.
	if _, err := e.srv.MkdirAll("Big/New"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		dir := []string{"Big", "Big/Sub", "Big/New"}[i%3]
		if _, err := e.srv.Upload(dir, fmt.Sprintf("new%d.txt", i), []byte(fmt.Sprintf("new file %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	big, _ := e.srv.FolderID("Big")
	before := e.srv.State()
	// Folder + Sub + New + 30 files + 5 uploads.
	const want = 1 + 2 + 30 + 5

	var asked string
	e.s.Interactive = true
	e.s.Confirm = func(q string) bool { asked = q; return false }
	_, sum := e.run(`TRASH '` + big + `'`)
	if !strings.HasPrefix(asked, fmt.Sprintf("trash %d items", want)) || !strings.Contains(sum, "cancelled") {
		t.Fatalf("TRASH asked %q (%s), want it to count %d items", asked, sum, want)
	}
	rows, sum := e.run(`EXPLAIN TRASH '` + big + `'`)
	if len(rows) != want || !strings.Contains(sum, fmt.Sprintf("for %d nodes", want)) {
		t.Fatalf("EXPLAIN TRASH: %d rows (%s), want %d", len(rows), sum, want)
	}
	if n := len(e.rec.matching("PATCH", "/trash")); n != 0 {
		t.Fatalf("%d PATCH /trash sent before the answer yes", n)
	}
	e.s.Confirm = func(q string) bool { asked = q; return true }
	rows, sum = e.run(`TRASH '` + big + `'`)
	after := e.srv.State()
	went := newIn(after.TrashIDs, before.TrashIDs)
	if st := byStatus(rows); len(st[StatusOK]) != want || len(went) != want || !slices.Equal(sorted(st[StatusOK]), went) {
		t.Fatalf("TRASH: %d ok rows (%s); the service trashed %d; want the rows to be exactly those %d", len(st[StatusOK]), sum, len(went), want)
	}
	e.sameTrash()
	e.sameFolders()

	rows, sum = e.run(`EXPLAIN PURGE '` + big + `'`)
	if len(rows) != want || !strings.Contains(sum, fmt.Sprintf("for %d nodes", want)) {
		t.Fatalf("EXPLAIN PURGE: %d rows (%s), want %d", len(rows), sum, want)
	}
	rows, sum = e.run(`PURGE '` + big + `'`)
	if !strings.HasPrefix(asked, fmt.Sprintf("purge %d items", want)) {
		t.Errorf("PURGE asked %q, want it to count %d items", asked, want)
	}
	gone := newIn(after.TrashIDs, e.srv.State().TrashIDs)
	if st := byStatus(rows); len(st[StatusOK]) != want || !slices.Equal(sorted(st[StatusOK]), gone) {
		t.Fatalf("PURGE: %d ok rows (%s); %d left the service's trash", len(st[StatusOK]), sum, len(gone))
	}
	e.sameTrash()
	if n := e.count(`SELECT count(*) FROM (SELECT id FROM nodes UNION ALL SELECT id FROM trash UNION ALL SELECT id FROM folders) WHERE id IN (` + quoteIDs(gone) + `)`); n != 0 {
		t.Errorf("the mirror still holds %d purged nodes", n)
	}
}

// newIn returns the sorted ids of a that b lacks.
func newIn(a, b []string) []string {
	var out []string
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return sorted(out)
}
