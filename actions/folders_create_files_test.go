package actions

import (
	"fmt"
	"net/http"
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

// TestCreateFolderListsTrashedFolder (issue 23): the files the mirror holds
// below a folder CREATE FOLDER finds trashed elsewhere are read back with
// one listing per folder holding them (GET /nodes/{id}/children), not a
// GET per file; only the files a listing does not show under their folder
// (moved out, purged) are read one by one. The verification is the same:
// each file ends up where the emulator's state has it (available: nodes;
// in its trash: trash, as it shows the node; gone: neither), the removed
// ones recorded by the service, and the SYNC after records none of them
// again.
func TestCreateFolderListsTrashedFolder(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 81}, 0)
	if _, err := e.srv.MkdirAll("Else"); err != nil {
		t.Fatal(err)
	}
	var files []string
	names := map[string]string{}
	for i := range 50 {
		dir, name := "T/Big", fmt.Sprintf("f%02d.jpg", i)
		if i >= 40 {
			dir = "T/Big/Sub"
		}
		id, err := e.srv.Upload(dir, name, []byte("photo "+dir+"/"+name))
		if err != nil {
			t.Fatal(err)
		}
		files, names[id] = append(files, id), name
	}
	ft := e.trackFolders()
	if n := e.count(`SELECT count(*) FROM nodes WHERE id IN (SELECT unnest(?::VARCHAR[]))`, files); n != len(files) {
		t.Fatalf("the SYNC mirrored %d of the %d files", n, len(files))
	}
	// Behind apsql's back, after the SYNC: one file moved out, the folder
	// trashed, one file restored on its own, one purged.
	big, sub := e.folderOf("T/Big"), e.folderOf("T/Big/Sub")
	moved, restored, purged := files[0], files[1], files[45]
	if err := e.srv.Move(moved, "Else"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.TrashIDs(big); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.RestoreIDs(restored); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(purged); err != nil {
		t.Fatal(err)
	}
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	e.rec.reset()
	_, by := ft.step(`CREATE FOLDER 'T/Big/Again'`)
	ft.byAPSQL("CREATE FOLDER", by, big, sub)

	var gets []string
	for _, q := range e.rec.matching(http.MethodGet, "/nodes/") {
		for _, id := range files {
			if strings.HasSuffix(q.path, "/nodes/"+id) {
				gets = append(gets, id)
			}
		}
	}
	lists := len(e.rec.matching(http.MethodGet, "/children"))
	t.Logf("CREATE FOLDER read the %d files with %d GETs of a file and %d listings", len(files), len(gets), lists)
	if want := sorted([]string{moved, purged}); !slices.Equal(sorted(gets), want) {
		t.Errorf("CREATE FOLDER read %d files one by one (%d listings), want only the 2 not under their folder any more %q", len(gets), lists, want)
	}

	// From the emulator: where each file is now.
	trash := e.srv.State().TrashIDs
	var want, removed []string
	for _, id := range files {
		n, there := e.node(id)
		if !there || slices.Contains(trash, id) {
			removed = append(removed, id)
		}
		inTrash := slices.Contains(trash, id)
		at := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, id) + 2*e.count(`SELECT count(*) FROM trash WHERE id = ?`, id)
		switch {
		case !there:
			want = append(want, fmt.Sprintf("removed %s %s false ", id, names[id]))
			if at != 0 {
				t.Errorf("%s is gone from the service, the mirror holds it (%d)", id, at)
			}
		case inTrash:
			want = append(want, fmt.Sprintf("removed %s %s false ", id, n.Name))
			if at != 2 {
				t.Errorf("%s is in the service's trash, the mirror holds it as %d (2: trash only)", id, at)
			}
			e.sameRowIn("trash", "CREATE FOLDER", id)
		default:
			if at != 1 {
				t.Errorf("%s is available on the service, the mirror holds it as %d (1: nodes only)", id, at)
			}
		}
	}
	slices.Sort(want)
	if len(want) != len(files)-2 {
		t.Fatalf("the emulator holds %d of the files unavailable, the test expected all but the moved and the restored one", len(want))
	}
	if got := e.nodeChangeRows(last); !slices.Equal(got, want) {
		t.Errorf("CREATE FOLDER recorded in changes:\n%s\nwant, from the emulator's state:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	e.sameNodes("CREATE FOLDER")
	last = e.syncAll()
	if got := e.ids(`SELECT concat_ws(' ', change, id, by_apsql) FROM changes WHERE sync_id > ? AND id IN (SELECT unnest(?::VARCHAR[]))`, last, removed); len(got) != 0 {
		t.Errorf("the SYNC after CREATE FOLDER recorded the removed files again: %v", got)
	}
	e.sameNodes("the SYNC after CREATE FOLDER")
}
