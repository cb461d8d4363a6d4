package fetch

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestIDSetMatchesMap checks the set against a Go map over a mix of
// Amazon-shaped ids (compact keys), the all-zero key, other ids, and
// repeats, with a hint too small so that the table grows several times.
func TestIDSetMatchesMap(t *testing.T) {
	for _, hint := range []int{0, 10, 5000} {
		t.Run(fmt.Sprint("hint ", hint), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(hint)))
			s := newIDSet(0)
			s.size(hint)
			want := map[string]bool{}
			var ids []string
			for i := range 20000 {
				var id string
				switch {
				case i%97 == 0 && len(ids) > 0:
					id = ids[r.IntN(len(ids))] // a repeat
				case i%1000 == 1:
					id = "AAAAAAAAAAAAAAAAAAAAAA" // decodes to the all-zero key
				case i%13 == 0:
					id = fmt.Sprintf("other-%d", r.IntN(3000)) // not 22 base64 chars
				default:
					var b [16]byte
					for j := range b {
						b[j] = byte(r.Uint32())
					}
					id = base64.RawURLEncoding.EncodeToString(b[:])
				}
				ids = append(ids, id)
				if got := s.add([]byte(id)); got != !want[id] {
					t.Fatalf("add(%q) #%d = %v, want %v", id, i, got, !want[id])
				}
				want[id] = true
			}
			if s.len() != len(want) {
				t.Errorf("len = %d, want %d", s.len(), len(want))
			}
			// size is a no-op once ids were added.
			s.size(1 << 20)
			if s.len() != len(want) {
				t.Errorf("size emptied a used set: len %d, want %d", s.len(), len(want))
			}
		})
	}
}

// TestIDSetMemory: a million ids, sized from the listing's count, take
// about 21 MB (16-byte keys, the table 3/4 full); a Go map took 46 MB.
func TestIDSetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million ids")
	}
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newIDSet(0)
	s.size(n)
	var b [16]byte
	id := make([]byte, 22)
	for i := range n {
		b[0], b[1], b[2], b[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		b[15] = 7
		base64.RawURLEncoding.Encode(id, b[:])
		if !s.add(id) {
			t.Fatalf("id %d reported twice", i)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if used > 24<<20 {
		t.Errorf("a million ids use %d MB, want at most 24", used>>20)
	}
	runtime.KeepAlive(s)
}

func BenchmarkIDSetAdd(b *testing.B) {
	ids := make([][]byte, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range ids {
		var k [16]byte
		for j := range k {
			k[j] = byte(r.Uint32())
		}
		ids[i] = []byte(base64.RawURLEncoding.EncodeToString(k[:]))
	}
	b.ResetTimer()
	var s *idSet
	for i := range b.N {
		if i%len(ids) == 0 {
			s = newIDSet(len(ids))
		}
		s.add(ids[i%len(ids)])
	}
}
