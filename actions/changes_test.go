package actions

import (
	"fmt"
	"slices"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestActionsRecordChanges: TRASH and RESTORE record in changes, with
// by_apsql true and one sync_id per statement, exactly the nodes the
// emulator moved; a SYNC afterwards records none of them again as added or
// removed, nor as the service's doing.
func TestActionsRecordChanges(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 150, Seed: 1}, 0)
	want := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' AND contentType LIKE 'image/%' ORDER BY id LIMIT 60`)
	before := e.srv.State().TrashIDs
	e.run(`TRASH (SELECT id FROM nodes WHERE kind = 'FILE' AND contentType LIKE 'image/%' ORDER BY id LIMIT 60)`)
	var moved []string
	for _, id := range e.srv.State().TrashIDs {
		if !slices.Contains(before, id) {
			moved = append(moved, id)
		}
	}
	if !slices.Equal(sorted(moved), sorted(want)) {
		t.Fatalf("the emulator trashed %d nodes, want the 60", len(moved))
	}
	got := e.ids(`SELECT id FROM changes WHERE statement = 'TRASH' AND change = 'removed' AND in_table = 'nodes' AND by_apsql AND name IS NOT NULL ORDER BY id`)
	if !slices.Equal(got, sorted(moved)) {
		t.Errorf("changes has %d TRASH removals, want the %d nodes the emulator trashed", len(got), len(moved))
	}
	if n := e.count(`SELECT count(DISTINCT sync_id) FROM changes WHERE statement = 'TRASH'`); n != 1 {
		t.Errorf("one TRASH statement has %d sync ids", n)
	}
	e.run(fmt.Sprintf(`RESTORE WHERE id IN ('%s', '%s')`, want[0], want[1]))
	if got := e.ids(`SELECT id FROM changes WHERE statement = 'RESTORE' AND change = 'added' AND by_apsql ORDER BY id`); !slices.Equal(got, sorted(want[:2])) {
		t.Errorf("RESTORE recorded %v, want %v", got, sorted(want[:2]))
	}
	last := e.count(`SELECT max(sync_id) FROM changes`)
	res, err := e.s.Run(t.Context(), `SYNC`)
	if err != nil {
		t.Fatal(err)
	}
	res.Rows.Release()
	// The restored nodes' versions moved on the service (a restore is a
	// change): the SYNC may see that, as apsql's own doing.
	if got := e.ids(fmt.Sprintf(`SELECT change || ' ' || id || ' ' || by_apsql FROM changes WHERE sync_id > %d AND in_table = 'nodes' AND id IN (SELECT unnest(?::VARCHAR[])) AND NOT (change = 'changed' AND by_apsql)`, last), want); len(got) != 0 {
		t.Errorf("the SYNC after TRASH and RESTORE recorded %v again", got)
	}
}
