package actions

import (
	"slices"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestStaleFactsRechecked (issue 16 item 1, the audit): every action that
// would skip a node, or build its request, from a fact of the mirror asks
// the service first when that fact may have changed elsewhere since the
// last SYNC. Each case changes the service behind the mirror's back and
// checks the service's state after the statement.
func TestStaleFactsRechecked(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 200, Seed: 21}, 0)
	if _, err := e.srv.MkdirAll("A"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.MkdirAll("B"); err != nil {
		t.Fatal(err)
	}
	ids := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' AND NOT favorite ORDER BY id LIMIT 6`)
	if err := e.srv.TrashIDs(ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetFavorite(ids[2], true); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Rename(ids[3], "before.jpg"); err != nil {
		t.Fatal(err)
	}
	e.mirror()
	e.syncFolders()
	// Behind the mirror's back: restored, unfavorited, renamed, moved.
	if err := e.srv.RestoreIDs(ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetFavorite(ids[2], false); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Rename(ids[3], "elsewhere.jpg"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Move(ids[4], "A"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.TrashIDs(ids[5]); err != nil {
		t.Fatal(err)
	}

	// TRASH of a node the mirror has in the trash: it is not, so it goes.
	rows, sum := e.run(`TRASH '` + ids[0] + `'`)
	if n, _ := e.node(ids[0]); len(rows) != 1 || rows[0].status != StatusOK || n.Status != "TRASH" {
		t.Errorf("TRASH of a node restored elsewhere: %+v (%s), service status %q; want it trashed", rows, sum, n.Status)
	}
	// FAVORITE of a node the mirror has as a favorite: it is not any more.
	rows, sum = e.run(`FAVORITE '` + ids[2] + `'`)
	if n, _ := e.node(ids[2]); len(rows) != 1 || rows[0].status != StatusOK || !n.Settings.Favorite {
		t.Errorf("FAVORITE of a node unfavorited elsewhere: %+v (%s), service favorite %v", rows, sum, n.Settings.Favorite)
	}
	// RENAME to the name the mirror has: the service's name differs.
	rows, sum = e.run(`RENAME '` + ids[3] + `' TO 'before.jpg'`)
	if n, _ := e.node(ids[3]); len(rows) != 1 || rows[0].status != StatusOK || n.Name != "before.jpg" {
		t.Errorf("RENAME of a node renamed elsewhere: %+v (%s), service name %q", rows, sum, n.Name)
	}
	// MOVE of a node moved elsewhere: fromParent is its parent now.
	rows, sum = e.run(`MOVE '` + ids[4] + `' TO 'B'`)
	b, _ := e.srv.FolderID("B")
	if n, _ := e.node(ids[4]); len(rows) != 1 || rows[0].status != StatusOK || len(n.Parents) != 1 || n.Parents[0] != b {
		t.Errorf("MOVE of a node moved elsewhere: %+v (%s), service parents %v; want it in B", rows, sum, n.Parents)
	}
	// PURGE of a node the mirror has outside the trash: it was trashed
	// elsewhere, so it is purged rather than refused.
	e.s.Yes = true
	rows, sum = e.run(`PURGE '` + ids[5] + `'`)
	if _, there := e.node(ids[5]); len(rows) != 1 || rows[0].status != StatusOK || there {
		t.Errorf("PURGE of a node trashed elsewhere: %+v (%s), still on the service %v", rows, sum, there)
	}
	e.sameTrash()
}

// TestStaleVaultRechecked: a node the mirror has in the Family Vault but
// that was taken out on another device is added again, not skipped.
func TestStaleVaultRechecked(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 100, Seed: 22}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' ORDER BY id LIMIT 2`)
	if rows, _ := e.run(`ADD TO FAMILY VAULT ` + idsTarget(ids)); len(byStatus(rows)[StatusOK]) != 2 {
		t.Fatalf("ADD: %v", rows)
	}
	// Another device takes the first out.
	_, err := e.c.FamilyArchive(t.Context(), e.srv.FamilyID(), nil, ids[:1], nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, sum := e.run(`ADD TO FAMILY VAULT ` + idsTarget(ids))
	if st := byStatus(rows); len(st[StatusOK]) != 1 || st[StatusOK][0] != ids[0] || len(st[StatusSkipped]) != 1 {
		t.Errorf("ADD again: %v (%s); want the one taken out added, the other skipped", rows, sum)
	}
	if got := e.srv.VaultIDs(); !slices.Equal(got, sorted(ids)) {
		t.Errorf("the service's vault holds %v, want %v", got, sorted(ids))
	}
}

// TestStaleFolderRechecked: CREATE FOLDER 'X/Y' where the mirror holds X
// but X was trashed elsewhere makes X again rather than putting Y into the
// trashed folder.
func TestStaleFolderRechecked(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 50, Seed: 23}, 0)
	old, err := e.srv.MkdirAll("Xmas")
	if err != nil {
		t.Fatal(err)
	}
	e.syncFolders()
	if err := e.srv.TrashIDs(old); err != nil {
		t.Fatal(err)
	}
	rows, sum := e.run(`CREATE FOLDER 'Xmas/2026'`)
	if st := byStatus(rows); len(st[StatusOK]) != 2 {
		t.Errorf("CREATE FOLDER under a folder trashed elsewhere: %v (%s); want both made", rows, sum)
	}
	id, ok := e.srv.FolderID("Xmas/2026")
	if !ok {
		t.Fatal("Xmas/2026 is not an available folder on the service")
	}
	if n, _ := e.node(id); len(n.Parents) != 1 || n.Parents[0] == old {
		t.Errorf("2026 went into the trashed folder %s", old)
	}
	e.sameFolders()
}
