package mirror

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// TestKeyIndexBesideListing: the keys of a diff SYNC are read while the
// listing starts; a decoder asking before they are read waits for them
// (and answers from them), and a cancelled listing stops waiting.
func TestKeyIndexBesideListing(t *testing.T) {
	id := []byte("AAAAAAAAAAAAAAAAAAAAAA") // 22 characters of base64: 16 bytes
	key := fetch.ChangeKey(3, true, 0, false, nil, false)
	x := newKeyIndex(1)
	k, _ := compactID(id)
	x.rows[0] = islot{id: k, key: key}
	x.addAll([]uint32{0}, 0)
	x.ready = make(chan struct{})
	x.cancel = func(error) {}
	f := x.unchangedFunc(t.Context())()
	got := make(chan bool, 1)
	go func() { got <- f(id, key) }()
	select {
	case v := <-got:
		t.Fatalf("unchanged answered %t before the keys were read", v)
	case <-time.After(50 * time.Millisecond):
	}
	x.loaded.Store(true)
	close(x.ready)
	select {
	case v := <-got:
		if !v {
			t.Error("unchanged = false for a mirrored node with the same key")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("unchanged still waits after the keys were read")
	}
	if marked, same := x.counts(); marked != 1 || same != 1 {
		t.Errorf("marked %d, same %d, want 1 and 1", marked, same)
	}

	y := newKeyIndex(1)
	y.ready = make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { got <- y.unchangedFunc(ctx)()(id, key) }()
	cancel()
	select {
	case v := <-got:
		if v {
			t.Error("unchanged = true after the listing was cancelled")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("unchanged still waits after the listing was cancelled")
	}
	if err := y.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("wait after the cancel = %v, want context.Canceled", err)
	}
}

// TestSyncEmptiedLibrary: a diff SYNC whose listing names no node at all
// (every photo trashed on the service) still waits for the keys it reads
// beside the listing and removes every mirrored photo.
func TestSyncEmptiedLibrary(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 300, Seed: 6})
	e.mustSync(t, "SYNC")
	ids, err := e.srv.IDs(DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.TrashIDs(ids...); err != nil {
		t.Fatal(err)
	}
	got := e.mustSync(t, "SYNC")["nodes"]
	if got.removed != int64(len(ids)) || got.inserted != 0 || got.updated != 0 {
		t.Errorf("SYNC of an emptied library = %+v, want %d removed", got, len(ids))
	}
	if n := e.queryInt(t, "SELECT count(*) FROM changes WHERE change = 'removed' AND in_table = 'nodes'"); n != int64(len(ids)) {
		t.Errorf("changes names %d removed nodes, want %d", n, len(ids))
	}
}

// heldGate is a write gate that opens when release is closed.
type heldGate struct{ release chan struct{} }

func (g heldGate) Wait(ctx context.Context) error {
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// TestDiffListingNotStalledByBlockCheck: the changed nodes a diff SYNC
// finds before the statement's block check allows writing wait in memory;
// the listing goes on meanwhile instead of stalling until the check ends.
// Here the gate opens only once the last page has arrived: a listing that
// waited for it at its first changed batch would never get there.
func TestDiffListingNotStalledByBlockCheck(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 1000, Seed: 9})
	e.mustSync(t, "SYNC")
	ids, err := e.srv.IDs(DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	var renamed []string
	for i := 0; i < len(ids) && len(renamed) < 80; i += len(ids) / 80 {
		if err := e.srv.Rename(ids[i], "renamed-"+ids[i]+".jpg"); err != nil {
			t.Fatal(err)
		}
		renamed = append(renamed, ids[i])
	}
	gate := heldGate{release: make(chan struct{})}
	var items atomic.Int64
	var once sync.Once
	cookies, err := fetch.NewCookies(e.srv.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	client, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: e.srv.URL(), BatchRows: 16, Events: func(ev fetch.Event) {
		if ev.Kind == fetch.EventPage && items.Add(int64(ev.Items)) >= int64(ev.Total) {
			once.Do(func() { close(gate.release) })
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(withWriteGate(t.Context(), gate), 30*time.Second)
	defer cancel()
	got, err := syncNodesFull(ctx, e.sess, newService(client))
	if err != nil {
		t.Fatalf("diff SYNC with the write gate held until the last page: %v", err)
	}
	if got.updated != int64(len(renamed)) || got.inserted != 0 || got.removed != 0 {
		t.Errorf("diff SYNC = %+v, want %d updated", got, len(renamed))
	}
	if n := e.queryInt(t, "SELECT count(*) FROM nodes WHERE starts_with(name, 'renamed-')"); n != int64(len(renamed)) {
		t.Errorf("%d renamed nodes in the mirror, want %d", n, len(renamed))
	}
}

// TestKeyIndexLookups: the index finds every row whether the listing
// names them in the mirror's order (the next row, tried first) or not
// (the position table), keeps the first of a repeated id, takes ids of
// another form, and says which rows the listing never named.
func TestKeyIndexLookups(t *testing.T) {
	const n = 5000
	x := newKeyIndex(n)
	ids := make([][]byte, n)
	var ps []uint32
	for i := range n {
		var k [16]byte
		k[0], k[1], k[15] = byte(i), byte(i>>8), 7
		ids[i] = []byte(base64.RawURLEncoding.EncodeToString(k[:]))
		x.rows[i] = islot{id: k, key: uint64(i)*2 + 1}
		ps = append(ps, uint32(i))
	}
	x.rows[n-1] = x.rows[3] // a repeated id: the first (position 3) counts
	x.addAll(ps[:n/2], 1)
	x.addAll(ps[n/2:], 0)
	x.addOther("other-id", 99)
	x.oseen = make([]atomic.Uint32, len(x.okeys))
	in := x.unchangedFunc(t.Context())()
	back := x.unchangedFunc(t.Context())()
	for i := range n - 1 {
		if !in(ids[i], uint64(i)*2+1) {
			t.Fatalf("row %d (in order) not found unchanged", i)
		}
	}
	x.reset()
	var wantMarked, wantSame, wantGone int64
	for i := n - 2; i >= 0; i-- {
		key := uint64(i)*2 + 1
		if i%10 == 0 {
			key++ // changed
		}
		if i%100 == 5 {
			wantGone++
			continue // never listed
		}
		wantMarked++
		if i%10 != 0 {
			wantSame++
		}
		if got := back(ids[i], key); got != (i%10 != 0) {
			t.Fatalf("row %d (backwards) unchanged = %t", i, got)
		}
	}
	if !back([]byte("other-id"), 99) || back([]byte("unknown"), 1) {
		t.Error("an id of another form: not found, or an unknown id found")
	}
	if marked, same := x.counts(); marked != wantMarked+1 || same != wantSame+1 {
		t.Errorf("counts = %d marked, %d same; want %d, %d", marked, same, wantMarked+1, wantSame+1)
	}
	if gone := x.unlisted(); int64(len(gone)) != wantGone {
		t.Errorf("%d unlisted, want %d", len(gone), wantGone)
	}
}

// TestDiffStagingSpills: a diff SYNC stages its changed nodes in a
// temporary table and, past tempStagingRows, moves them into a staging
// table of the file and goes on there. Either way the mirror ends as the
// service holds it, changes names exactly the renamed nodes, and no
// staging table is left behind.
func TestDiffStagingSpills(t *testing.T) {
	defer func(n int64) { tempStagingRows = n; onSpill = nil }(tempStagingRows)
	var spills atomic.Int64
	onSpill = func() { spills.Add(1) }
	for _, limit := range []int64{50_000, 40} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			tempStagingRows = limit
			spills.Store(0)
			srv := emulator.StartTest(t, emulator.Options{Nodes: 600, Seed: 12, State: true})
			e := envAt(t, srv, srv.URL(), func(c *fetch.Config) { c.BatchRows = 16 })
			e.mustSync(t, "SYNC")
			ids, err := e.srv.IDs(DefaultFilter)
			if err != nil {
				t.Fatal(err)
			}
			renamed := map[string]bool{}
			for i := 0; i < len(ids); i += 3 {
				if err := e.srv.Rename(ids[i], fmt.Sprintf("renamed-%d.jpg", i)); err != nil {
					t.Fatal(err)
				}
				renamed[ids[i]] = true
			}
			got := e.mustSync(t, "SYNC")["nodes"]
			if got.updated != int64(len(renamed)) || got.inserted != 0 || got.removed != 0 {
				t.Errorf("diff SYNC = %+v, want %d updated", got, len(renamed))
			}
			if wantSpill := int64(len(renamed)) > limit; (spills.Load() > 0) != wantSpill {
				t.Errorf("%d spills with %d changed rows and a limit of %d", spills.Load(), len(renamed), limit)
			}
			e.loadTruth(t, "truth_nodes", e.truth(t, ids))
			e.diffNodes(t, "nodes after the diff SYNC", `SELECT id, name, md5, "version", size FROM nodes`, "truth_nodes")
			rows, err := e.db.Query(t.Context(), `SELECT id FROM changes WHERE sync_id = (SELECT max(sync_id) FROM changes) AND in_table = 'nodes'`)
			if err != nil {
				t.Fatal(err)
			}
			named := map[string]bool{}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				named[id] = true
			}
			rows.Close()
			if !maps.Equal(named, renamed) {
				t.Errorf("changes names %d nodes, want the %d renamed", len(named), len(renamed))
			}
			if n := e.queryInt(t, `SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'apsql_sync' OR starts_with(table_name, 'apsql_staging_')`); n != 0 {
				t.Errorf("%d staging tables left after the SYNC", n)
			}
		})
	}
}
