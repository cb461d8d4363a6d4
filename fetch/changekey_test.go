package fetch_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// keysOf computes the change key of every decoded row from its columns,
// as the mirror does from its stored rows.
func keysOf(keys map[string]uint64, mu *sync.Mutex) func(arrow.RecordBatch) error {
	return func(b arrow.RecordBatch) error {
		s := b.Schema()
		id := b.Column(s.FieldIndices("id")[0]).(*array.String)
		ver := b.Column(s.FieldIndices("version")[0]).(*array.Int64)
		mod := b.Column(s.FieldIndices("modifiedDate")[0]).(*array.Timestamp)
		md5 := b.Column(s.FieldIndices("md5")[0]).(*array.String)
		mu.Lock()
		defer mu.Unlock()
		for i := range id.Len() {
			keys[strings.Clone(id.Value(i))] = fetch.ChangeKey(ver.Value(i), ver.IsValid(i), int64(mod.Value(i)), mod.IsValid(i), []byte(md5.Value(i)), md5.IsValid(i))
		}
		return nil
	}
}

// TestStreamSearchChanged: the change key the scan computes from a node's
// JSON equals the one computed from its decoded columns, so a listing
// against keys of the same library decodes nothing, and one against keys
// taken before the service changed decodes exactly the changed and new
// nodes (checked against the emulator's own mutations).
func TestStreamSearchChanged(t *testing.T) {
	srv, c := newEmulated(t, emulator.Options{Nodes: 2500, Seed: 9}, nil)
	const filter = "type:(PHOTOS OR VIDEOS)"
	keys := map[string]uint64{}
	var mu sync.Mutex
	if _, err := c.StreamSearch(t.Context(), filter, "", keysOf(keys, &mu)); err != nil {
		t.Fatal(err)
	}
	unchanged := func(id []byte, key uint64) bool {
		k, ok := keys[string(id)]
		return ok && k == key
	}
	var got []string
	st, err := c.StreamSearchChanged(t.Context(), filter, func() fetch.UnchangedFunc { return unchanged }, idsOf(t, &got))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || st.Fetched != len(keys) || st.Count != len(keys) {
		t.Fatalf("nothing changed: %d nodes decoded (want 0), fetched %d, count %d, want %d", len(got), st.Fetched, st.Count, len(keys))
	}

	ids, err := srv.IDs(filter)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Rename(ids[7], "other.jpg"); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetFavorite(ids[8], true); err != nil {
		t.Fatal(err)
	}
	jpeg, _ := srv.Content(ids[9])
	fresh, err := srv.Upload("Pictures", "fresh.jpg", jpeg)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	st, err = c.StreamSearchChanged(t.Context(), filter, func() fetch.UnchangedFunc { return unchanged }, idsOf(t, &got))
	if err != nil {
		t.Fatal(err)
	}
	sameSet(t, got, []string{ids[7], ids[8], fresh})
	if st.Fetched != len(keys)+1 {
		t.Errorf("fetched %d, want %d", st.Fetched, len(keys)+1)
	}
}
