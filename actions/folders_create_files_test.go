package actions

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestCreateFolderDropsTrashedFiles (issue 23): CREATE FOLDER that finds a
// mirrored folder trashed elsewhere reads back the files the mirror holds
// below it: those the service holds in its trash leave nodes for trash,
// one purged since leaves the mirror, each recorded removed by the service
// (by_apsql false); one restored on its own (available again) stays, for
// SYNC. nodes then holds the service's nodes, and the SYNC right after
// records none of the removed files again.
func TestCreateFolderDropsTrashedFiles(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 20, Seed: 66}, 0)
	up := func(dir, name string) string {
		id, err := e.srv.Upload(dir, name, []byte("photo "+name))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a, b, c := up("T/Gone", "a.jpg"), up("T/Gone/Below", "b.jpg"), up("T/Gone", "c.jpg")
	ft := e.trackFolders()
	if n := e.count(`SELECT count(*) FROM nodes WHERE id IN (?, ?, ?)`, a, b, c); n != 3 {
		t.Fatalf("the SYNC mirrored %d of the 3 files", n)
	}
	// Behind apsql's back, after the SYNC.
	gone, below := e.folderOf("T/Gone"), e.folderOf("T/Gone/Below")
	if err := e.srv.TrashIDs(gone); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.RestoreIDs(c); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(b); err != nil {
		t.Fatal(err)
	}
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	_, by := ft.step(`CREATE FOLDER 'T/Gone/Again'`)
	ft.byAPSQL("CREATE FOLDER", by, gone, below)
	// From the emulator: a file it no longer has, or has in its trash, is
	// removed (the service's doing); an available one is left alone.
	trash := e.srv.State().TrashIDs
	var want, removed []string
	for _, id := range []string{a, b, c} {
		n, there := e.node(id)
		if there && !slices.Contains(trash, id) {
			continue
		}
		removed = append(removed, id)
		name := "b.jpg"
		if there {
			name = n.Name
		}
		want = append(want, fmt.Sprintf("removed %s %s false ", id, name))
	}
	slices.Sort(want)
	if len(want) != 2 {
		t.Fatalf("the emulator holds %d of a, b, c unavailable, the test expected a (trash) and b (purged)", len(want))
	}
	if got := e.nodeChangeRows(last); !slices.Equal(got, want) {
		t.Errorf("CREATE FOLDER recorded in changes:\n%s\nwant, from the emulator's state:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	e.sameNodes("CREATE FOLDER")
	for _, id := range []string{a, b} {
		if in, want := e.count(`SELECT count(*) FROM trash WHERE id = ?`, id), slices.Contains(trash, id); (in == 1) != want {
			t.Errorf("trash holds %s %d times; the emulator's trash holds it: %v", id, in, want)
		}
	}
	last = e.syncAll()
	if got := e.ids(`SELECT concat_ws(' ', change, id, by_apsql) FROM changes WHERE sync_id > ? AND id IN (SELECT unnest(?::VARCHAR[]))`, last, removed); len(got) != 0 {
		t.Errorf("the SYNC after CREATE FOLDER recorded the removed files again: %v", got)
	}
	e.sameNodes("the SYNC after CREATE FOLDER")
}
