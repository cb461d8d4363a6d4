package mirror

import (
	"testing"
	"time"
)

// TestDedupePolicies: each KEEP policy picks its member, and ties go to
// the oldest (date taken, then upload), then the smallest id, whatever
// the order the members come in.
func TestDedupePolicies(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2020, 1, d, 0, 0, 0, 0, time.UTC) }
	members := []*dedupeMember{
		{id: "c", taken: day(3), created: day(3), size: 100, width: 100, height: 100},
		{id: "b", taken: day(1), created: day(5), size: 300, width: 40, height: 40, nAlbums: 2},
		{id: "a", taken: day(1), created: day(5), size: 300, width: 40, height: 40, nAlbums: 2},
		{id: "d", taken: day(2), created: day(2), size: 50, width: 100, height: 100, favorite: true},
		{id: "e", taken: day(9), created: day(9), size: 10},
	}
	for policy, want := range map[string]string{
		"oldest": "a", "newest": "e", "largest": "a", "highest_resolution": "c", "in_most_albums": "a", "favorite": "d",
	} {
		better := dedupeBetter(policy)
		for rot := range members {
			keep := -1
			for i := range members {
				k := (i + rot) % len(members)
				if keep < 0 || better(members[k], members[keep]) {
					keep = k
				}
			}
			if got := members[keep].id; got != want {
				t.Errorf("KEEP %s (order rotated by %d) kept %s, want %s", policy, rot, got, want)
			}
		}
	}
}
