package actions

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
)

// TestRestoreRowsAreTheServices: the rows RESTORE writes into nodes are
// the nodes as the service shows them after restoring them (it bumps
// version and modifiedDate), read back once per statement from GET /nodes
// (newest change first) rather than one GET per node; a restored folder's
// row and the files that came back with it are the service's too. After
// a TRASH then RESTORE of 60 files (two batches) and of a folder with
// files below it, every row of nodes and the folder's row are the
// emulator's, and a SYNC (and SYNC FOLDERS) right after records nothing.
// Before, the restored files' rows were the mirror's from before the
// restore, and the SYNC after updated them.
func TestRestoreRowsAreTheServices(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 150, Seed: 91}, 0)
	if _, err := e.srv.MkdirAll("Box/inner"); err != nil {
		t.Fatal(err)
	}
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id`)
	for i, id := range files[60:64] {
		if err := e.srv.Move(id, []string{"Box", "Box/inner"}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	e.syncAll()
	e.runQuiet(`SYNC FOLDERS`)
	e.runQuiet(`SYNC TRASH`)
	box := e.folderOf("Box")
	e.s.Yes = true
	e.runQuiet(`TRASH ` + idsTarget(files[:60]))
	e.runQuiet(`TRASH '` + box + `'`)

	singleGets := func() int {
		n := 0
		for _, q := range e.rec.matching(http.MethodGet, "/drive/v1/nodes/") {
			if !strings.HasSuffix(q.path, "/children") {
				n++
			}
		}
		return n
	}
	for _, st := range []struct {
		stmt, what string
		gets       int // GET /nodes/{id}: a restored folder is read back by id
	}{
		{`RESTORE ` + idsTarget(files[:60]), "60 files", 0},
		{`RESTORE '` + box + `'`, "a folder with 6 nodes below it", 1},
	} {
		e.rec.reset()
		rows, sum := e.run(st.stmt)
		if len(byStatus(rows)[StatusOK]) != len(rows) {
			t.Fatalf("%s: %+v (%s), want all ok", st.what, rows, sum)
		}
		patch, gets := len(e.rec.matching(http.MethodPatch, "/trash")), singleGets()
		list := 0
		for _, q := range e.rec.matching(http.MethodGet, "/drive/v1/nodes") {
			if !strings.Contains(q.path, "/drive/v1/nodes/") {
				list++
			}
		}
		t.Logf("RESTORE of %s (%d rows): %d PATCH /trash, %d GET /nodes, %d GET /nodes/{id}, %d GET children; %s", st.what, len(rows), patch,
			list, gets, len(e.rec.matching(http.MethodGet, "/children")), sum)
		if pages := (len(rows) + 199) / 200; gets != st.gets || list > pages {
			t.Errorf("RESTORE of %s read its nodes back with %d GET /nodes/{id} and %d GET /nodes for %d PATCH /trash; want %d GET by id, a read-back of at most %d pages",
				st.what, gets, list, patch, st.gets, pages)
		}
	}
	for _, id := range e.ids(`SELECT id FROM nodes ORDER BY id`) {
		e.sameServiceRow("nodes", id)
	}
	e.sameFolderDates()
	e.sameTrash()
	last := e.syncAll()
	e.runQuiet(`SYNC FOLDERS`)
	if got := e.ids(`SELECT concat_ws(' ', statement, in_table, change, id, coalesce(array_to_string(list_sort(fields), ','), '')) FROM changes WHERE sync_id > ? ORDER BY 1`, last); len(got) != 0 {
		t.Errorf("the SYNC and SYNC FOLDERS right after the RESTOREs recorded %d rows:\n%s", len(got), strings.Join(got, "\n"))
	}
	e.sameNodes("the RESTOREs")
}

// sameServiceRow checks the row of id in table (nodes or trash) against
// the emulator's node: version, modifiedDate, status and name.
func (e *env) sameServiceRow(table, id string) {
	e.t.Helper()
	svc, ok := e.serviceNode(id)
	if !ok {
		e.t.Errorf("%s holds %s, which the service does not have", table, id)
		return
	}
	want := fmt.Sprintf("version %d modified %d status %s name %s", svc.Version, svc.modified, svc.Status, svc.Name)
	got := e.ids(`SELECT format('version {} modified {} status {} name {}', coalesce(version::VARCHAR, 'none'), coalesce(epoch_ms(modifiedDate)::VARCHAR, 'none'), status, name) FROM `+table+` WHERE id = ?`, id)
	if len(got) != 1 || got[0] != want {
		e.t.Errorf("%s holds %s as %q, the service %q", table, id, got, want)
	}
}

// sameFolderDates checks that every folder of the mirror has the
// modifiedDate and name the emulator's node shows.
func (e *env) sameFolderDates() {
	e.t.Helper()
	for _, id := range e.ids(`SELECT id FROM folders WHERE path <> '/' ORDER BY id`) {
		raw, ok := e.srv.Node(id)
		if !ok {
			e.t.Errorf("folders holds %s, which the service does not have", id)
			continue
		}
		var svc struct {
			ModifiedDate string `json:"modifiedDate"`
			Name         string `json:"name"`
		}
		if err := json.Unmarshal(raw, &svc); err != nil {
			e.t.Fatal(err)
		}
		mod, err := time.Parse(time.RFC3339Nano, svc.ModifiedDate)
		if err != nil {
			e.t.Fatalf("folder %s: %v", id, err)
		}
		want := fmt.Sprintf("modified %d name %s", mod.UnixMilli(), svc.Name)
		got := e.ids(`SELECT format('modified {} name {}', coalesce(epoch_ms(modifiedDate)::VARCHAR, 'none'), name) FROM folders WHERE id = ?`, id)
		if len(got) != 1 || got[0] != want {
			e.t.Errorf("folders holds %s as %q, the service %q", id, got, want)
		}
	}
}

// TestRestoreRowsReadBackPages: a RESTORE of 450 files (1,000 without
// -short) reads GET /nodes back once, after the last batch: its first
// page, then the pages its nodes fill, fetched together, about one page
// per 200 restored; every row of nodes is then the emulator's node, and a
// SYNC right after records nothing.
func TestRestoreRowsReadBackPages(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 450
	}
	e := setup(t, emulator.Options{Nodes: n + 70, Seed: 93}, 0)
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT ?`, n)
	if len(files) != n {
		t.Fatalf("the library holds %d files, want %d", len(files), n)
	}
	e.s.Yes = true
	e.runQuiet(`TRASH ` + idsTarget(files))
	e.rec.reset()
	rows, sum := e.run(`RESTORE ` + idsTarget(files))
	if len(byStatus(rows)[StatusOK]) != n {
		t.Fatalf("%d rows ok (%s), want %d", len(byStatus(rows)[StatusOK]), sum, n)
	}
	patch, all := len(e.rec.matching(http.MethodPatch, "/trash")), len(e.rec.matching(http.MethodGet, "/drive/v1/nodes"))
	gets := len(e.rec.matching(http.MethodGet, "/drive/v1/nodes/"))
	list := all - gets
	t.Logf("RESTORE of %d files: %d PATCH /trash, %d GET /nodes, %d GET /nodes/{id}; %s", n, patch, list, gets, sum)
	if pages := (n + 199) / 200; patch != (n+49)/50 || list != pages || gets != 0 {
		t.Errorf("RESTORE of %d files sent %d PATCH /trash, %d GET /nodes and %d GET /nodes/{id}; want %d, %d (one read-back) and 0", n, patch, list, gets, (n+49)/50, pages)
	}
	for _, id := range files {
		e.sameServiceRow("nodes", id)
	}
	last := e.syncAll()
	if got := e.nodeChangeRows(last); len(got) != 0 {
		t.Errorf("the SYNC right after the RESTORE recorded %d nodes", len(got))
	}
}

// TestRestoreRowsReadBackFails: when the restored files cannot be read
// back, the RESTORE still journals them ok and moves the trash rows into
// nodes as before, each row (and the summary) saying that nodes holds the
// mirror's row and that SYNC reads it; that SYNC then updates exactly
// those rows.
func TestRestoreRowsReadBackFails(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40, Seed: 95}, 1)
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 3`)
	e.s.Yes = true
	e.runQuiet(`TRASH ` + idsTarget(files))
	e.rec.next = failingList{"/nodes", e.rec.next}
	rows, sum := e.run(`RESTORE ` + idsTarget(files))
	e.rec.next = e.rec.next.(failingList).next
	for _, r := range rows {
		if r.status != StatusOK || !strings.Contains(r.detail, "reading it back failed") || !strings.Contains(r.detail, "SYNC reads it") {
			t.Errorf("row %+v, want ok saying nodes holds the mirror's row (%s)", r, sum)
		}
	}
	if !strings.Contains(sum, "nodes holds 3 restored nodes as the mirror had them") {
		t.Errorf("summary %q, want it to say nodes holds 3 rows as the mirror had them", sum)
	}
	if len(rows) != 3 || e.count(`SELECT count(*) FROM nodes WHERE id IN (?, ?, ?)`, files[0], files[1], files[2]) != 3 {
		t.Fatalf("rows %+v; want the 3 files ok and in nodes", rows)
	}
	last := e.syncAll()
	if got := e.nodeChangeRows(last); len(got) != 3 {
		t.Errorf("the SYNC after recorded %q, want the 3 rows changed", got)
	}
	for _, id := range files {
		e.sameServiceRow("nodes", id)
	}
}
