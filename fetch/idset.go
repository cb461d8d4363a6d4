package fetch

import (
	"encoding/base64"
	"encoding/binary"
	"math/bits"
	"sync"
)

// idSet de-duplicates node ids. Amazon's ids are 22 characters of
// URL-safe base64 (16 bytes, API.md §2.1): those are kept as 16-byte keys
// in an open-addressing table (a 1M-node library costs ~21 MB; a Go map
// of [16]byte took 46 MB, strings ~100 MB); other ids go to a map of
// strings.
type idSet struct {
	mu      sync.Mutex
	compact keyTable
	other   map[string]struct{}
}

func newIDSet(hint int) *idSet {
	s := &idSet{other: map[string]struct{}{}}
	s.compact.init(hint)
	return s
}

// size re-creates an empty set for about n ids, so that a large listing does
// not rehash its way up to a million entries. It is a no-op once ids were
// added, or past the hint (a wrong count costs growth, not correctness).
func (s *idSet) size(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.compact.n+len(s.other) == 0 && n > 0 {
		s.compact.init(min(n, 1<<24))
	}
}

var strictB64 = base64.RawURLEncoding.Strict()

// add reports whether id is new, and records it.
func (s *idSet) add(id []byte) bool {
	var k [16]byte
	compact := false
	if len(id) == 22 {
		if n, err := strictB64.Decode(k[:], id); err == nil && n == 16 {
			compact = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if compact {
		return s.compact.add(k)
	}
	if _, ok := s.other[string(id)]; ok {
		return false
	}
	s.other[string(id)] = struct{}{}
	return true
}

func (s *idSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.compact.n + len(s.other)
}

// keyTable is a set of 16-byte keys with linear probing, kept at most 3/4
// full. The all-zero key marks an empty slot, so it is tracked apart.
type keyTable struct {
	slots   [][16]byte // any length: a key's home slot is hash·len/2^64
	n       int        // keys held, zero included
	hasZero bool
}

// init empties the table and sizes it for hint keys (no power-of-two
// rounding: a million ids take 1.33M slots, 21 MB).
func (t *keyTable) init(hint int) {
	t.slots = make([][16]byte, max(16, hint*4/3+1))
	t.n = 0
	t.hasZero = false
}

// hash mixes both halves of the key: node ids are random, but nothing
// guarantees which of their bytes vary.
func keyHash(k [16]byte) uint64 {
	h := binary.LittleEndian.Uint64(k[:8])*0x9E3779B97F4A7C15 ^ binary.LittleEndian.Uint64(k[8:])
	h *= 0xBF58476D1CE4E5B9
	return h ^ h>>31
}

// add reports whether k is new, and records it.
func (t *keyTable) add(k [16]byte) bool {
	if k == ([16]byte{}) {
		if t.hasZero {
			return false
		}
		t.hasZero = true
		t.n++
		return true
	}
	if len(t.slots) == 0 {
		t.init(0)
	}
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	if !t.insert(k) {
		return false
	}
	t.n++
	return true
}

// insert places k in its slot; false when it is there already.
func (t *keyTable) insert(k [16]byte) bool {
	i, _ := bits.Mul64(keyHash(k), uint64(len(t.slots)))
	for {
		switch t.slots[i] {
		case k:
			return false
		case [16]byte{}:
			t.slots[i] = k
			return true
		}
		if i++; i == uint64(len(t.slots)) {
			i = 0
		}
	}
}

// grow doubles the table and re-inserts every key.
func (t *keyTable) grow() {
	old := t.slots
	t.slots = make([][16]byte, 2*len(old))
	for _, k := range old {
		if k != ([16]byte{}) {
			t.insert(k)
		}
	}
}
