package dupes

import (
	"context"
	"errors"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// planted returns n random hashes in which families of 2-6 members are
// planted: each member flips up to spread bits of its family's first hash.
func planted(n int, spread int, seed uint64) []uint64 {
	r := rand.New(rand.NewPCG(seed, 1))
	hs := make([]uint64, 0, n)
	for len(hs) < n {
		base := r.Uint64()
		hs = append(hs, base)
		if r.IntN(4) == 0 {
			for range 1 + r.IntN(5) {
				h := base
				for range r.IntN(spread + 1) {
					h ^= 1 << r.IntN(64)
				}
				hs = append(hs, h)
			}
		}
	}
	r.Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
	return hs[:n]
}

// TestPairsMatchBruteForce checks the multi-index search against all
// pairs, for every max_distance.
func TestPairsMatchBruteForce(t *testing.T) {
	hs := planted(3000, 12, 7)
	hs = append(hs, hs[0], hs[1], hs[1]) // equal hashes too
	u := uniques(hs)
	for n := 0; n <= MaxMaxDistance; n++ {
		got, err := u.pairs(context.Background(), n, DefaultMaxPairs)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[pair]bool{}
		for _, p := range got {
			if p.a >= p.b {
				t.Fatalf("n=%d: pair %v not ordered", n, p)
			}
			if seen[p] {
				t.Fatalf("n=%d: pair %v twice", n, p)
			}
			seen[p] = true
		}
		want := 0
		for i := range u.vals {
			for j := i + 1; j < len(u.vals); j++ {
				if bits.OnesCount64(u.vals[i]^u.vals[j]) <= n {
					want++
					if !seen[pair{int32(i), int32(j)}] {
						t.Fatalf("n=%d: pair %d,%d at distance %d missed", n, i, j, bits.OnesCount64(u.vals[i]^u.vals[j]))
					}
				}
			}
		}
		if len(got) != want {
			t.Fatalf("n=%d: %d pairs, want %d", n, len(got), want)
		}
	}
}

func TestGroupChainCap(t *testing.T) {
	// A chain 0 → 1 → 2 → 3 → 4, each step 4 bits, and two equal hashes.
	var chain []uint64
	h := uint64(0)
	for k := range 5 {
		chain = append(chain, h)
		h ^= 0xF << (4 * k)
	}
	hs := append(chain, 0xFFFF_0000_FFFF_0000, 0xFFFF_0000_FFFF_0000, 0x1234_5678_9ABC_DEF0)
	for _, tt := range []struct {
		chain int
		want  [][]int32
	}{
		{1, [][]int32{{0, 1}, {2, 3}, {5, 6}}},
		{2, [][]int32{{0, 1, 2}, {3, 4}, {5, 6}}},
		{4, [][]int32{{0, 1, 2, 3, 4}, {5, 6}}},
	} {
		ms, err := Group(context.Background(), hs, Options{MaxDistance: 4, MaxChain: tt.chain})
		if err != nil {
			t.Fatal(err)
		}
		var got [][]int32
		for _, m := range ms {
			if int(m.Group) == len(got) {
				got = append(got, nil)
			}
			got[m.Group] = append(got[m.Group], m.Index)
			first := got[m.Group][0]
			if int(m.Dist) != Distance(hs[m.Index], hs[first]) {
				t.Errorf("chain %d: member %d has distance %d, want %d", tt.chain, m.Index, m.Dist, Distance(hs[m.Index], hs[first]))
			}
		}
		if len(got) != len(tt.want) {
			t.Fatalf("chain %d: groups %v, want %v", tt.chain, got, tt.want)
		}
		for g := range got {
			if len(got[g]) != len(tt.want[g]) {
				t.Fatalf("chain %d: groups %v, want %v", tt.chain, got, tt.want)
			}
			for k := range got[g] {
				if got[g][k] != tt.want[g][k] {
					t.Fatalf("chain %d: groups %v, want %v", tt.chain, got, tt.want)
				}
			}
		}
	}
}

func TestGroupBadOptions(t *testing.T) {
	for _, o := range []Options{{MaxDistance: -1, MaxChain: 1}, {MaxDistance: 17, MaxChain: 1}, {MaxDistance: 4, MaxChain: 0}} {
		if _, err := Group(context.Background(), []uint64{1, 2}, o); err == nil {
			t.Errorf("Group(%+v) = nil error, want one", o)
		}
	}
	hs := make([]uint64, 200)
	for i := range hs {
		hs[i] = uint64(i % 3)
	}
	if _, err := Group(context.Background(), hs, Options{MaxDistance: 2, MaxChain: 1, MaxPairs: 3}); err != nil {
		t.Fatalf("three distinct values make three pairs at most: %v", err)
	}
	hs = planted(2000, 0, 3)
	for i := range hs {
		hs[i] &= 0xFF // 256 values, all within 8 bits
	}
	if _, err := Group(context.Background(), hs, Options{MaxDistance: 8, MaxChain: 1, MaxPairs: 100}); !errors.Is(err, ErrTooManyPairs) {
		t.Fatalf("Group past MaxPairs = %v, want ErrTooManyPairs", err)
	}
}

// TestGroupMillion: a million hashes within 10 s and 500 MB (issue 20).
func TestGroupMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("a million hashes: without -short")
	}
	hs := planted(1_000_000, 6, 11)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start, cpu0 := time.Now(), cpuTime()
	ms, err := Group(context.Background(), hs, Options{MaxDistance: DefaultMaxDistance, MaxChain: DefaultMaxChain})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("1,000,000 hashes at max_distance %d: %d members in %v (%v of CPU), %d MB allocated, %d MB from the OS",
		DefaultMaxDistance, len(ms), el, cpuTime()-cpu0, (after.TotalAlloc-before.TotalAlloc)>>20, after.Sys>>20)
	// CPU time, not wall time: the machine is shared, and a run that
	// needs at most 10 s of one core takes at most 10 s on two.
	if c := cpuTime() - cpu0; c > 10*time.Second {
		t.Errorf("took %v of CPU, want ≤ 10 s", c)
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkGroupMillion(b *testing.B) {
	hs := planted(1_000_000, 6, 11)
	for b.Loop() {
		if _, err := Group(context.Background(), hs, Options{MaxDistance: DefaultMaxDistance, MaxChain: DefaultMaxChain}); err != nil {
			b.Fatal(err)
		}
	}
}
