package actions

import (
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestPurgeRestoredRecorded (issue 23): a node a PURGE finds restored
// elsewhere goes back into nodes (and out of trash) recorded in changes
// under the PURGE statement, as added by the service (by_apsql false: it
// came back by the service's doing, the statement merely found it), so
// that changes tells the story and the SYNC after records nothing more
// for it.
func TestPurgeRestoredRecorded(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 77}, 2)
	e.syncAll()
	id := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	if err := e.srv.TrashIDs(id); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	if res, err := e.s.Run(t.Context(), `SYNC TRASH`); err != nil {
		t.Fatal(err)
	} else if res.Rows != nil {
		res.Rows.Release()
	}
	if n := e.count(`SELECT count(*) FROM trash WHERE id = ?`, id); n != 1 {
		t.Fatalf("the mirror's trash holds %s %d times, want once", id, n)
	}
	if err := e.srv.RestoreIDs(id); err != nil {
		t.Fatal(err)
	}
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	e.s.Yes = true
	rows, sum := e.run(`PURGE '` + id + `'`)
	if len(rows) != 1 || rows[0].status != StatusSkipped || !strings.Contains(rows[0].detail, notInTrashDetail) {
		t.Fatalf("PURGE: %+v (%s), want %s skipped, %s", rows, sum, id, notInTrashDetail)
	}
	if _, st, ok := e.srv.PathOf(id); !ok || st != "AVAILABLE" {
		t.Fatalf("the service shows %s %q, want it available (not purged)", id, st)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, id) + 2*e.count(`SELECT count(*) FROM trash WHERE id = ?`, id); n != 1 {
		t.Errorf("after the PURGE %s is in nodes and trash as %d (1: nodes only)", id, n)
	}
	n, _ := e.node(id)
	if got, want := e.nodeChangeRows(last), []string{"added " + id + " " + n.Name + " false "}; !slices.Equal(got, want) {
		t.Errorf("changes after the PURGE: %q, want %q", got, want)
	}
	if n := e.count(`SELECT count(*) FROM changes WHERE sync_id > ? AND statement <> 'PURGE'`, last); n != 0 {
		t.Errorf("%d change rows are not the PURGE's", n)
	}
	e.nodesQuiet("the PURGE")
}
