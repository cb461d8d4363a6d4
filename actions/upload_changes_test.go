package actions

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// nodeChangeRows are the nodes rows of changes newer than sync id last,
// as "change id name by_apsql fields" (fields sorted).
func (e *env) nodeChangeRows(last int) []string {
	e.t.Helper()
	return e.ids(`SELECT concat_ws(' ', change, id, name, by_apsql, coalesce(array_to_string(list_sort(fields), ','), '')) FROM changes
WHERE in_table = 'nodes' AND sync_id > ? ORDER BY 1`, last)
}

// nodesQuiet runs a plain SYNC and checks that it records no node, and
// that nodes holds exactly the service's nodes.
func (e *env) nodesQuiet(after string) {
	e.t.Helper()
	last := e.syncAll()
	if got := e.nodeChangeRows(last); len(got) != 0 {
		e.t.Errorf("the SYNC after %s recorded nodes again:\n%s", after, strings.Join(got, "\n"))
	}
	e.sameNodes("the SYNC after " + after)
}

// sameNodes checks that the ids of nodes are the service's (search) ids.
func (e *env) sameNodes(after string) {
	e.t.Helper()
	svc, err := e.srv.IDs("")
	if err != nil {
		e.t.Fatal(err)
	}
	if got := e.ids(`SELECT id FROM nodes ORDER BY id`); !slices.Equal(got, sorted(svc)) {
		e.t.Errorf("after %s, nodes holds %d ids, the service %d", after, len(got), len(svc))
	}
}

// TestUploadRecordsFiles (issue 23): each file UPLOAD stores is one added
// row of changes (by apsql), under the statement; a file the service held
// already, made there behind apsql's back since the last SYNC and found by
// the upload's 409, is added by the service (by_apsql false); files skipped
// as duplicates (md5 dedup: in the library or twice in the tree) record
// nothing. ON CONFLICT REPLACE records the file changed, md5 among the
// fields. The SYNC right after each records no node.
func TestUploadRecordsFiles(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 30, Seed: 64}, 0)
	e.syncAll()
	inLib := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	libBytes, _ := e.srv.Content(inLib)
	mirrored, err := e.srv.IDs("")
	if err != nil {
		t.Fatal(err)
	}
	held, err := e.srv.Upload("Dest/up", "held.jpg", []byte("photo held")) // behind apsql's back
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "up")
	writeFile(t, filepath.Join(dir, "a.jpg"), "photo a")
	writeFile(t, filepath.Join(dir, "sub", "b.jpg"), "photo b")
	writeFile(t, filepath.Join(dir, "sub", "copy of a.jpg"), "photo a")
	writeFile(t, filepath.Join(dir, "known.jpg"), string(libBytes))
	writeFile(t, filepath.Join(dir, "held.jpg"), "photo held")
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	rows, sum := e.run(`UPLOAD '` + dir + `' TO 'Dest'`)
	for _, r := range rows {
		if r.status != StatusOK && r.status != StatusSkipped {
			t.Fatalf("UPLOAD: %+v (%s)", rows, sum)
		}
	}
	now, err := e.srv.IDs("")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, id := range now {
		if slices.Contains(mirrored, id) {
			continue
		}
		n, _ := e.node(id)
		want = append(want, fmt.Sprintf("added %s %s %v ", id, n.Name, id != held))
	}
	slices.Sort(want)
	if len(want) != 3 {
		t.Fatalf("the service gained %d nodes, the test expected a.jpg, b.jpg and held.jpg", len(want))
	}
	if got := e.nodeChangeRows(last); !slices.Equal(got, want) {
		t.Errorf("UPLOAD recorded in changes:\n%s\nwant, from the emulator's state:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st := e.ids(`SELECT DISTINCT statement FROM changes WHERE sync_id > ?`, last); !slices.Equal(st, []string{"UPLOAD"}) {
		t.Errorf("changes by %v, want UPLOAD only", st)
	}
	e.sameNodes("UPLOAD")
	e.nodesQuiet("UPLOAD")

	// ON CONFLICT REPLACE: a.jpg gets new content.
	aID, ok := e.srv.FolderID("Dest/up")
	if !ok {
		t.Fatal("no Dest/up on the service")
	}
	a := e.ids(`SELECT id FROM nodes WHERE name = 'a.jpg' AND parentId = ?`, aID)
	if len(a) != 1 {
		t.Fatalf("a.jpg: %v", a)
	}
	before, _ := e.node(a[0])
	writeFile(t, filepath.Join(dir, "a.jpg"), "photo a, edited")
	last = e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	rows, sum = e.run(`UPLOAD '` + filepath.Join(dir, "a.jpg") + `' TO 'Dest/up' ON CONFLICT REPLACE`)
	after, _ := e.node(a[0])
	rows = slices.DeleteFunc(rows, func(r row) bool { return strings.HasSuffix(r.name, "/") }) // the folders' rows
	if len(rows) != 1 || rows[0].status != StatusOK || after.ContentProperties.MD5 == before.ContentProperties.MD5 {
		t.Fatalf("REPLACE: %+v (%s); md5 %s, was %s", rows, sum, after.ContentProperties.MD5, before.ContentProperties.MD5)
	}
	got := e.nodeChangeRows(last)
	if len(got) != 1 || !strings.HasPrefix(got[0], "changed "+a[0]+" a.jpg true ") {
		t.Fatalf("UPLOAD ON CONFLICT REPLACE recorded %q, want a.jpg changed by apsql", got)
	}
	fields := strings.Split(strings.Fields(got[0])[4], ",")
	for _, c := range []struct {
		col     string
		changed bool
	}{{"md5", after.ContentProperties.MD5 != before.ContentProperties.MD5}, {"size", after.ContentProperties.Size != before.ContentProperties.Size},
		{"modifiedDate", !after.ModifiedDate.Equal(before.ModifiedDate)}, {"name", after.Name != before.Name}} {
		if slices.Contains(fields, c.col) != c.changed {
			t.Errorf("UPLOAD ON CONFLICT REPLACE recorded the fields %v; the emulator changed %s: %v", fields, c.col, c.changed)
		}
	}
	e.nodesQuiet("UPLOAD ON CONFLICT REPLACE")
}

// TestUploadRecordsEarlierLostAnswer (issue 23): a file whose upload landed
// while every answer to it was cut (its outcome unknown) is found by the
// re-run's 409; the re-run records it added by apsql (the earlier run
// stored it), not as the service's doing. The SYNC after records nothing.
func TestUploadRecordsEarlierLostAnswer(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 67}, 2)
	if _, err := e.srv.MkdirAll("Dest"); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	dir := filepath.Join(t.TempDir(), "lost")
	writeFile(t, filepath.Join(dir, "x.jpg"), "photo x")
	rows, sum := e.runFaulted(cutUploadAnswers(e), `UPLOAD '`+dir+`' TO 'Dest'`)
	if len(rows) != 3 || rows[2].status != StatusFailed {
		t.Fatalf("the first UPLOAD: %+v (%s), want x.jpg failed", rows, sum)
	}
	if n, err := e.srv.CountNodes(`name:"x.jpg"`); err != nil || n != 1 {
		t.Fatalf("the service holds x.jpg %d times (%v), want the upload landed once", n, err)
	}
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	rows, sum = e.run(`UPLOAD '` + dir + `' TO 'Dest'`)
	rows = slices.DeleteFunc(rows, func(r row) bool { return strings.HasSuffix(r.name, "/") }) // the folders' rows
	if len(rows) != 1 || rows[0].status != StatusSkipped {
		t.Fatalf("the re-run: %+v (%s), want x.jpg skipped as there", rows, sum)
	}
	if n, ok := e.node(rows[0].id); !ok || n.Name != "x.jpg" {
		t.Fatalf("the re-run found %s, which the service holds as %q (%v)", rows[0].id, n.Name, ok)
	}
	if got, want := e.nodeChangeRows(last), []string{"added " + rows[0].id + " x.jpg true "}; !slices.Equal(got, want) {
		t.Errorf("the re-run recorded %q, want %q", got, want)
	}
	e.nodesQuiet("the re-run")
}
