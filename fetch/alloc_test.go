package fetch

import (
	"bytes"
	"testing"
)

func TestPoolAllocator(t *testing.T) {
	p := &poolAllocator{}
	tests := []struct {
		name string
		size int
	}{
		{"small goes to the Go allocator", 100},
		{"exact class", 1 << 14},
		{"between classes", 5000},
		{"large", 3 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := p.Allocate(tt.size)
			if len(b) != tt.size {
				t.Fatalf("Allocate(%d) len = %d", tt.size, len(b))
			}
			for i := range b {
				b[i] = 0xAB
			}
			p.Free(b)
			again := p.Allocate(tt.size)
			if !bytes.Equal(again, make([]byte, tt.size)) {
				t.Errorf("Allocate(%d) after Free is not zeroed", tt.size)
			}
			grown := p.Reallocate(tt.size*3, append(again[:0], bytes.Repeat([]byte{7}, tt.size)...))
			if len(grown) != tt.size*3 || !bytes.Equal(grown[:tt.size], bytes.Repeat([]byte{7}, tt.size)) || !bytes.Equal(grown[tt.size:], make([]byte, tt.size*2)) {
				t.Errorf("Reallocate(%d) lost the contents or is not zeroed past them", tt.size*3)
			}
		})
	}
}
