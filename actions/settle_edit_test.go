package actions

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestSettledEditRows (issue 23): the re-run of a node edit whose earlier
// journal write failed confirms the earlier request by reading the node
// back, and puts the node into the mirror as the service showed it
// (modifiedDate, version: every column, as the first run writes the
// answer), recording the change once. Before, the re-run updated only the
// edited column, and the SYNC after recorded the service's fields as
// changed.
func TestSettledEditRows(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 20, Seed: 78}, 2)
	e.run(`CREATE FOLDER 'Dest'`)
	e.syncAll()
	dest := e.folderOf("Dest")
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' AND NOT favorite AND NOT hidden ORDER BY id LIMIT 4`)
	for _, c := range []struct {
		stmt, method, path, field string
		done                      func(n remoteNode) bool
	}{
		{`FAVORITE '` + files[0] + `'`, http.MethodPatch, "/nodes/" + files[0], "favorite", func(n remoteNode) bool { return n.Settings.Favorite }},
		{`HIDE '` + files[1] + `'`, http.MethodPatch, "/nodes/" + files[1], "hidden", func(n remoteNode) bool { return n.Settings.Hidden }},
		{`MOVE '` + files[2] + `' TO 'Dest'`, http.MethodPost, "/children", "parentId,parents", func(n remoteNode) bool { return slices.Contains(n.Parents, dest) }},
		{`RENAME '` + files[3] + `' TO 'settled.jpg'`, http.MethodPatch, "/nodes/" + files[3], "name", func(n remoteNode) bool { return n.Name == "settled.jpg" }},
	} {
		id := strings.Split(c.stmt, "'")[1]
		last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
		unblock := e.blockOutcome(c.method, c.path)
		_, sum, err := e.try(t.Context(), c.stmt)
		unblock()
		t.Logf("%s whose journal failed: %s (%v)", c.stmt, sum, err)
		n, _ := e.node(id)
		if !c.done(n) {
			t.Fatalf("%s: the service does not show it done", c.stmt)
		}
		if got := e.nodeChangeRows(last); len(got) != 0 {
			t.Errorf("%s: changes holds %q though the outcome was not journaled", c.stmt, got)
		}
		rows, sum := e.run(c.stmt)
		if len(rows) != 1 || rows[0].status != StatusOK || !strings.Contains(rows[0].detail, "done by an earlier run") {
			t.Fatalf("%s re-run: %+v (%s), want ok, done by an earlier run", c.stmt, rows, sum)
		}
		if got, want := e.nodeChangeRows(last), []string{"changed " + id + " " + n.Name + " true " + c.field}; !slices.Equal(got, want) {
			t.Errorf("%s: changes after the re-run: %q, want %q", c.stmt, got, want)
		}
		raw, _ := e.srv.Node(id)
		var svc struct {
			Version int64 `json:"version"`
		}
		if err := json.Unmarshal(raw, &svc); err != nil {
			t.Fatal(err)
		}
		var version int64
		if err := e.db.QueryRow(t.Context(), `SELECT version FROM nodes WHERE id = ?`, id).Scan(&version); err != nil {
			t.Fatal(err)
		}
		if version != svc.Version {
			t.Errorf("%s: after the re-run nodes has version %d, the service %d", c.stmt, version, svc.Version)
		}
		e.nodesQuiet(c.stmt + " settled")
	}
}
