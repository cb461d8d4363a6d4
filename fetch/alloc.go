package fetch

import (
	"math/bits"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// poolAllocator is an Arrow allocator that recycles large buffers by
// power-of-two size class. A sync streams ~2 KB per node through builders
// of 2,048 rows: without reuse every batch allocates ~4 MB of fresh
// memory that the kernel must fault in and the GC must reclaim, which cost
// more than decoding itself. Buffers come back when the last reference to a
// batch is released (Free), so a consumer that retains batches simply keeps
// them out of the pool.
type poolAllocator struct {
	classes [48]sync.Pool // class k holds []byte of capacity 1<<k
}

// poolMinClass: smaller buffers go to the Go allocator.
const poolMinClass = 12 // 4 KiB

var nodeAllocator = &poolAllocator{}

var _ memory.Allocator = (*poolAllocator)(nil)

func sizeClass(size int) int { return bits.Len(uint(size - 1)) }

// Allocate returns a zeroed buffer of size bytes.
func (p *poolAllocator) Allocate(size int) []byte {
	k := sizeClass(size)
	if size <= 0 || k < poolMinClass || k >= len(p.classes) {
		return memory.DefaultAllocator.Allocate(size)
	}
	if v := p.classes[k].Get(); v != nil {
		b := (*v.(*[]byte))[:size]
		clear(b)
		return b
	}
	return make([]byte, size, 1<<k)
}

// Reallocate grows b to size, keeping its contents.
func (p *poolAllocator) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		old := len(b)
		b = b[:size]
		if size > old {
			clear(b[old:])
		}
		return b
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free returns b to its size class.
func (p *poolAllocator) Free(b []byte) {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 {
		return // not one of ours
	}
	k := bits.TrailingZeros(uint(c))
	if k < poolMinClass || k >= len(p.classes) {
		return
	}
	b = b[:c]
	p.classes[k].Put(&b)
}
