package actions

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestSettingsRecordChanges (issue 23 item 3): FAVORITE, UNFAVORITE, HIDE
// and UNHIDE record in changes, with by_apsql, exactly the nodes whose
// setting they changed (as the emulator now has them) and the field; a
// node already as wanted is not recorded; a SYNC afterwards finds nothing
// more to record for any of them.
func TestSettingsRecordChanges(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 60, Seed: 23}, 0)
	e.syncAll()
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' AND NOT favorite AND NOT hidden ORDER BY id LIMIT 4`)
	e.run(`FAVORITE ` + idsTarget(files[:2]))
	e.run(`FAVORITE ` + idsTarget(files[:1])) // already a favorite: no change
	e.run(`HIDE ` + idsTarget(files[2:4]))
	e.run(`UNHIDE ` + idsTarget(files[3:4]))
	for i, id := range files {
		n, _ := e.node(id)
		if wantFav, wantHidden := i < 2, i == 2; n.Settings.Favorite != wantFav || n.Settings.Hidden != wantHidden {
			t.Fatalf("%s on the service: favorite %t hidden %t, want %t %t", id, n.Settings.Favorite, n.Settings.Hidden, wantFav, wantHidden)
		}
	}
	want := []string{
		"FAVORITE " + files[0] + " changed favorite",
		"FAVORITE " + files[1] + " changed favorite",
		"HIDE " + files[2] + " changed hidden",
		"HIDE " + files[3] + " changed hidden",
		"UNHIDE " + files[3] + " changed hidden",
	}
	got := e.ids(`SELECT concat_ws(' ', statement, id, change, array_to_string(fields, ',')) FROM changes
WHERE statement IN ('FAVORITE', 'UNFAVORITE', 'HIDE', 'UNHIDE') AND by_apsql AND in_table = 'nodes' ORDER BY sync_id, 1`)
	if slices.Sort(want); !slices.Equal(got, want) {
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("changes of the settings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	last := e.syncAll()
	if got := e.ids(fmt.Sprintf(`SELECT concat_ws(' ', in_table, id, change, array_to_string(fields, ',')) FROM changes
WHERE sync_id > %d AND id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1`, last), files); len(got) != 0 {
		t.Errorf("the SYNC after the settings recorded again: %v", got)
	}
}
