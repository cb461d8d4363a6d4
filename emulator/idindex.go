package emulator

import "encoding/binary"

// idIndex maps node ids to indices with open addressing over an []int32:
// 8 MB for a million nodes instead of ~60 MB for a map[string]int32, and
// several times faster to build. Ids are random base64, so their first
// eight bytes are already a good hash.
type idIndex struct {
	slots []int32 // node index + 1; 0 is empty
	n     int
}

func idHash(id string) uint64 {
	var b [8]byte
	copy(b[:], id)
	h := binary.LittleEndian.Uint64(b[:])
	h ^= uint64(len(id)) * 0x9E3779B97F4A7C15
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	return h ^ h>>32
}

func newIDIndex(capacity int) *idIndex {
	size := 16
	for size < 2*capacity {
		size <<= 1
	}
	return &idIndex{slots: make([]int32, size)}
}

// get returns the index stored for id; nodes resolves stored indices.
func (x *idIndex) get(id string, nodes []node) (int32, bool) {
	mask := uint64(len(x.slots) - 1)
	for h := idHash(id) & mask; ; h = (h + 1) & mask {
		s := x.slots[h]
		if s == 0 {
			return 0, false
		}
		if nodes[s-1].id == id {
			return s - 1, true
		}
	}
}

// put stores i for nodes[i].id; it returns false, storing nothing, when the
// id is already present.
func (x *idIndex) put(i int32, nodes []node) bool {
	if 2*(x.n+1) > len(x.slots) {
		old := x.slots
		x.slots = make([]int32, 2*len(old))
		x.n = 0
		for _, s := range old {
			if s != 0 {
				x.put(s-1, nodes)
			}
		}
	}
	mask := uint64(len(x.slots) - 1)
	id := nodes[i].id
	h := idHash(id) & mask
	for s := x.slots[h]; s != 0; s = x.slots[h] {
		if nodes[s-1].id == id {
			return false
		}
		h = (h + 1) & mask
	}
	x.slots[h] = i + 1
	x.n++
	return true
}
