package actions

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestGoneRecordsRemoved (issue 23): a node that an action finds gone from
// the service (purged elsewhere since the last SYNC: TRASH's 404, DOWNLOAD's
// and RENAME's read-back) leaves nodes with a changes row, removed by the
// service (by_apsql false), under the statement; what the statement itself
// trashed is removed by apsql. The SYNC right after records none of them.
func TestGoneRecordsRemoved(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 30, Seed: 65}, 0)
	e.syncAll()
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 5`)
	names := map[string]string{}
	for _, id := range files {
		n, ok := e.node(id)
		if !ok {
			t.Fatalf("%s is not on the service", id)
		}
		names[id] = n.Name
	}
	gone := []string{files[0], files[1], files[3]}
	dir := t.TempDir()
	for _, step := range []struct {
		stmt string
		ids  []string // the nodes the statement names; the first is gone
	}{
		{fmt.Sprintf(`TRASH WHERE id IN ('%s', '%s')`, files[0], files[2]), []string{files[0], files[2]}},
		{fmt.Sprintf(`DOWNLOAD WHERE id = '%s' TO '%s'`, files[1], dir), []string{files[1]}},
		{fmt.Sprintf(`RENAME '%s' TO 'x.jpg'`, files[3]), []string{files[3]}},
	} {
		// Behind apsql's back, after the last SYNC.
		if err := e.srv.TrashIDs(step.ids[0]); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.PurgeIDs(step.ids[0]); err != nil {
			t.Fatal(err)
		}
		last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
		rows, sum := e.run(step.stmt)
		for _, r := range rows {
			if r.status != StatusOK && r.status != StatusSkipped {
				t.Fatalf("%s: %+v (%s)", step.stmt, rows, sum)
			}
		}
		// From the emulator: a node it no longer has is gone (the
		// service's doing); one in its trash, the statement's.
		trash := e.srv.State().TrashIDs
		var want []string
		for _, id := range step.ids {
			_, there := e.node(id)
			switch {
			case !there:
				want = append(want, fmt.Sprintf("removed %s %s false ", id, names[id]))
			case slices.Contains(trash, id):
				want = append(want, fmt.Sprintf("removed %s %s true ", id, names[id]))
			}
		}
		slices.Sort(want)
		if got := e.nodeChangeRows(last); !slices.Equal(got, want) {
			t.Errorf("%s recorded in changes:\n%s\nwant, from the emulator's state:\n%s", step.stmt, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		e.sameNodes(step.stmt)
		e.nodesQuiet(step.stmt)
	}
	if got := e.ids(`SELECT id FROM changes WHERE change = 'removed' AND NOT by_apsql ORDER BY id`); !slices.Equal(got, sorted(gone)) {
		t.Errorf("what vanished: %v, want the %d purged elsewhere %v", got, len(gone), sorted(gone))
	}
}
