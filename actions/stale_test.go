package actions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// quoteIDs renders ids as a SQL list: 'a', 'b'.
func quoteIDs(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = "'" + id + "'"
	}
	return strings.Join(q, ", ")
}

// TestStaleMirror: nodes purged on the service behind the mirror's back
// (issue 11 item 2) are skipped as gone and deleted from the mirror; the
// rest of their batches is done, nothing is sent twice, and a re-run sends
// nothing for them. Both answers the service may give are covered: the id
// 404 in an errorMap (the rest applied), and the whole PATCH /trash refused
// with 404 naming the ids (nothing applied).
func TestStaleMirror(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts emulator.Options
	}{
		{"errorMap", emulator.Options{Nodes: 200, Seed: 11}},
		{"batch 404", emulator.Options{Nodes: 200, Seed: 11, TrashMissing404: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, tc.opts, 0)
			target := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 120`)
			if len(target) != 120 {
				t.Fatalf("library has %d files, want 120", len(target))
			}
			// Three ids in two of the three batches of 50 go for good.
			gone := []string{target[5], target[60], target[61]}
			if err := e.srv.TrashIDs(gone...); err != nil {
				t.Fatal(err)
			}
			if err := e.srv.PurgeIDs(gone...); err != nil {
				t.Fatal(err)
			}
			trash0 := e.srv.State().TrashIDs

			rows, sum := e.run(`TRASH WHERE id IN (` + quoteIDs(target) + `)`)
			st := byStatus(rows)
			if len(st[StatusOK]) != 117 || !slices.Equal(sorted(st[StatusSkipped]), sorted(gone)) || len(st[StatusFailed]) != 0 {
				t.Fatalf("TRASH: %d ok, skipped %v, %d failed (summary %q); want 117 ok and the 3 gone skipped", len(st[StatusOK]), st[StatusSkipped], len(st[StatusFailed]), sum)
			}
			for _, r := range rows {
				if r.status == StatusSkipped && !strings.Contains(r.detail, goneDetail) {
					t.Errorf("gone row %s detail = %q, want %q", r.id, r.detail, goneDetail)
				}
			}
			// The service's truth: the 117 are in trash, the 3 are nowhere.
			var done []string
			for _, id := range target {
				if !slices.Contains(gone, id) {
					done = append(done, id)
				}
			}
			if got, want := e.srv.State().TrashIDs, sorted(append(slices.Clone(trash0), done...)); !slices.Equal(got, want) {
				t.Errorf("emulator trash holds %d ids, want %d (the 117 trashed)", len(got), len(want))
			}
			for _, id := range gone {
				if _, ok := e.node(id); ok {
					t.Errorf("gone %s is back on the service", id)
				}
			}
			// The mirror matches it.
			if n := e.count(`SELECT count(*) FROM trash WHERE id IN (SELECT unnest(?::VARCHAR[]))`, done); n != 117 {
				t.Errorf("local trash holds %d of the 117 trashed", n)
			}
			if n := e.count(`SELECT count(*) FROM (SELECT id FROM nodes UNION ALL SELECT id FROM trash) WHERE id IN (SELECT unnest(?::VARCHAR[]))`, gone); n != 0 {
				t.Errorf("the mirror still holds %d gone nodes", n)
			}
			if twice := appliedTwice(e.rec.matching("PATCH", "/trash")); len(twice) > 0 {
				t.Errorf("ids applied twice: %v", twice)
			}
			if tc.opts.TrashMissing404 {
				// Batch 1 (1 gone) and batch 2 (2 gone) are each refused
				// once and sent again without their gone ids; batch 3 once.
				if n := len(e.rec.matching("PATCH", "/trash")); n != 5 {
					t.Errorf("sent %d PATCH /trash, want 5", n)
				}
			}

			// A re-run sends nothing: the gone ids are known from the journal.
			e.rec.reset()
			rows, _ = e.run(`TRASH ` + quoteIDs(append([]string{done[0]}, gone...)))
			st = byStatus(rows)
			if len(st[StatusSkipped]) != 4 || e.rec.changes() != 0 {
				t.Errorf("re-run: %v, %d changes sent; want 4 skipped and none sent", rows, e.rec.changes())
			}
			for _, r := range rows {
				if slices.Contains(gone, r.id) && !strings.Contains(r.detail, "gone") {
					t.Errorf("re-run row of gone %s: %q", r.id, r.detail)
				}
			}

			// RESTORE and PURGE of nodes that left the service's trash (its
			// 30-day expiry, another device).
			left := done[:2]
			if err := e.srv.PurgeIDs(left...); err != nil {
				t.Fatal(err)
			}
			rows, sum = e.run(`RESTORE WHERE id IN (` + quoteIDs(done[:5]) + `)`)
			st = byStatus(rows)
			if len(st[StatusOK]) != 3 || !slices.Equal(sorted(st[StatusSkipped]), sorted(left)) {
				t.Fatalf("RESTORE: %v (summary %q); want 3 ok and %v skipped as gone", rows, sum, left)
			}
			if n := e.count(`SELECT count(*) FROM nodes WHERE status = 'AVAILABLE' AND id IN (SELECT unnest(?::VARCHAR[]))`, done[2:5]); n != 3 {
				t.Errorf("%d of the 3 restored are in nodes", n)
			}
			if err := e.srv.PurgeIDs(done[5]); err != nil {
				t.Fatal(err)
			}
			e.s.Yes = true
			rows, sum = e.run(`PURGE WHERE id IN (` + quoteIDs(done[5:8]) + `)`)
			st = byStatus(rows)
			if len(st[StatusOK]) != 2 || !slices.Equal(st[StatusSkipped], done[5:6]) {
				t.Fatalf("PURGE: %v (summary %q); want 2 ok and %s skipped as gone", rows, sum, done[5])
			}
			all := append(append(slices.Clone(gone), left...), done[5:8]...)
			if n := e.count(`SELECT count(*) FROM (SELECT id FROM nodes UNION ALL SELECT id FROM trash) WHERE id IN (SELECT unnest(?::VARCHAR[]))`, all); n != 0 {
				t.Errorf("the mirror still holds %d purged nodes", n)
			}
		})
	}
}

// TestStaleMirrorFavorite: FAVORITE of a node purged behind the mirror's
// back skips it as gone and deletes it from nodes; the others are done.
func TestStaleMirrorFavorite(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 60, Seed: 12}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' AND NOT favorite ORDER BY id LIMIT 3`)
	if err := e.srv.TrashIDs(ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(ids[1]); err != nil {
		t.Fatal(err)
	}
	rows, sum := e.run(`FAVORITE ` + quoteIDs(ids))
	st := byStatus(rows)
	if len(st[StatusOK]) != 2 || !slices.Equal(st[StatusSkipped], ids[1:2]) {
		t.Fatalf("FAVORITE: %v (summary %q); want 2 ok, %s skipped as gone", rows, sum, ids[1])
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, ids[1]); n != 0 {
		t.Errorf("the gone node is still in nodes")
	}
	for _, id := range []string{ids[0], ids[2]} {
		if n, _ := e.node(id); !n.Settings.Favorite {
			t.Errorf("%s is not a favorite on the service", id)
		}
	}
}

// TestGuardedSendSplitsUnnamed404: a batch refused with a 404 that names
// no id is split until each gone id stands alone; every other id is sent
// in exactly one accepted request.
func TestGuardedSendSplitsUnnamed404(t *testing.T) {
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("id%02d", i)
	}
	gone := map[string]bool{"id03": true, "id31": true, "id32": true}
	applied := map[string]int{}
	requests := 0
	send := func(_ context.Context, batch []string, _ func(context.Context, error) bool) (map[string]error, error) {
		requests++
		for _, id := range batch {
			if gone[id] {
				return nil, &missingError{err: errors.New("404 Not Found")}
			}
		}
		for _, id := range batch {
			applied[id]++
		}
		return nil, nil
	}
	verify := func(context.Context, []string) (map[string]bool, error) { return nil, errors.New("not used") }
	res := guardedSend(t.Context(), ids, send, verify)
	if len(res.gone) != 3 {
		t.Errorf("gone = %v, want id03, id31, id32", res.gone)
	}
	for id := range gone {
		if _, ok := res.gone[id]; !ok {
			t.Errorf("%s not reported gone (gone = %v)", id, res.gone)
		}
	}
	for _, id := range ids {
		if _, ok := res.ok[id]; !gone[id] && (applied[id] != 1 || !ok) {
			t.Errorf("%s applied %d times, ok %v", id, applied[id], ok)
		}
	}
	if len(res.failed) != 0 || len(res.ok) != 47 {
		t.Errorf("%d ok, failed %v; want 47 ok, none failed", len(res.ok), res.failed)
	}
	if requests > 25 {
		t.Errorf("%d requests to find 3 gone ids among 50, want at most 25", requests)
	}
}

// ALBUM ADD on a stale mirror: members purged since the mirror saw them
// are skipped as gone (and leave the mirror); the rest of their batch is
// added. Before, the 404 failed every member of the batch, on every re-run.
func TestStaleMirrorAlbumAdd(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 200, Seed: 12}, 0)
	target := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' AND width IS NOT NULL ORDER BY id LIMIT 60`)
	if _, err := e.srv.CreateAlbum("Stale"); err != nil {
		t.Fatal(err)
	}
	e.mirror()
	gone := []string{target[3], target[40]}
	if err := e.srv.TrashIDs(gone...); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(gone...); err != nil {
		t.Fatal(err)
	}
	rows, sum := e.run(`ALBUM 'Stale' ADD WHERE id IN (` + quoteIDs(target) + `)`)
	st := byStatus(rows)
	if len(st[StatusOK]) != 58 || !slices.Equal(sorted(st[StatusSkipped]), sorted(gone)) || len(st[StatusFailed]) != 0 {
		t.Fatalf("ALBUM ADD: %d ok, skipped %v, %d failed (%s); want 58 ok and the 2 gone skipped", len(st[StatusOK]), st[StatusSkipped], len(st[StatusFailed]), sum)
	}
	// The service's truth: the album holds the 58 live members.
	if n := e.srv.State().Albums["Stale"]; n != 58 {
		t.Errorf("the service's album holds %d members, want 58", n)
	}
	if n := len(e.ids(`SELECT id FROM nodes WHERE id IN (` + quoteIDs(gone) + `)`)); n != 0 {
		t.Errorf("%d gone members still in the mirror", n)
	}
	if n := len(e.ids(`SELECT m.id FROM album_members m JOIN albums a ON a.id = m.albumId WHERE a.name = 'Stale'`)); n != 58 {
		t.Errorf("album_members holds %d members, want 58", n)
	}
}
