package mirror

import (
	"context"
	"errors"
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
	_, slot := x.slotOf(k)
	x.addAll([]keyEntry{{id: k, key: key, slot: slot}}, 0)
	x.ready = make(chan struct{})
	x.cancel = func(error) {}
	f := x.unchangedFunc(t.Context())
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
	go func() { got <- y.unchangedFunc(ctx)(id, key) }()
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
