package actions

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
)

// TestSettledEditRows (issue 23): the re-run of a node edit whose earlier
// journal write failed confirms the earlier request by reading the node
// back, and puts the node into the mirror as the service showed it
// (modifiedDate, version: every column, as the first run writes the
// answer), recording the change once. Before, the re-run updated only the
// edited column, and the SYNC after recorded the service's fields as
// changed. UNFAVORITE and UNHIDE (the same re-run path) undo the
// FAVORITE and HIDE of the first two cases.
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
		{`UNFAVORITE '` + files[0] + `'`, http.MethodPatch, "/nodes/" + files[0], "favorite", func(n remoteNode) bool { return !n.Settings.Favorite }},
		{`UNHIDE '` + files[1] + `'`, http.MethodPatch, "/nodes/" + files[1], "hidden", func(n remoteNode) bool { return !n.Settings.Hidden }},
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
		e.sameRow(c.stmt+" re-run", id)
		e.nodesQuiet(c.stmt + " settled")
	}
}

// sameRow checks that the mirror's row of node id holds the version,
// modifiedDate, name, favorite and hidden the emulator's state shows.
func (e *env) sameRow(after, id string) {
	e.t.Helper()
	e.sameRowIn("nodes", after, id)
}

// sameRowIn is sameRow for the row of table (nodes or trash).
func (e *env) sameRowIn(table, after, id string) {
	e.t.Helper()
	svc, ok := e.serviceNode(id)
	if !ok {
		e.t.Fatalf("after %s the service has no node %s", after, id)
	}
	want := fmt.Sprintf("version %d modified %d name %s favorite %t hidden %t", svc.Version, svc.modified, svc.Name, svc.Settings.Favorite, svc.Settings.Hidden)
	got := e.ids(`SELECT format('version {} modified {} name {} favorite {} hidden {}', version, epoch_ms(modifiedDate), name, favorite, hidden) FROM `+table+` WHERE id = ?`, id)
	if len(got) != 1 || got[0] != want {
		e.t.Errorf("after %s %s holds %s as %q, the service %q", after, table, id, got, want)
	}
}

// serviceNode is what the emulator's state holds of a node, for comparing
// a mirror row with it.
type serviceNode struct {
	Version      int64  `json:"version"`
	ModifiedDate string `json:"modifiedDate"`
	Status       string `json:"status"`
	Name         string `json:"name"`
	Settings     struct {
		Favorite bool `json:"favorite"`
		Hidden   bool `json:"hidden"`
	} `json:"settings"`
	modified int64 // ModifiedDate in Unix milliseconds
}

// serviceNode returns the emulator's node id (false: it has none).
func (e *env) serviceNode(id string) (serviceNode, bool) {
	e.t.Helper()
	var svc serviceNode
	raw, ok := e.srv.Node(id)
	if !ok {
		return svc, false
	}
	if err := json.Unmarshal(raw, &svc); err != nil {
		e.t.Fatal(err)
	}
	mod, err := time.Parse(time.RFC3339Nano, svc.ModifiedDate)
	if err != nil {
		e.t.Fatalf("node %s: %v", id, err)
	}
	svc.modified = mod.UnixMilli()
	return svc, true
}

// failingList fails at the transport every GET whose path ends in suffix
// (a listing: "/trash", "/nodes").
type failingList struct {
	suffix string
	next   http.RoundTripper
}

func (f failingList) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, f.suffix) {
		return nil, errors.New("connection reset (test)")
	}
	return f.next.RoundTrip(r)
}
