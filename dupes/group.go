package dupes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Defaults of Group, chosen on the emulator's ground truth (BENCHMARKS.md:
// the precision/recall curve).
const (
	DefaultMaxDistance = 8
	DefaultMaxChain    = 2
	// MaxMaxDistance bounds max_distance: past it, half the bits of two
	// unrelated photos agree by chance and the index degenerates.
	MaxMaxDistance = 16
	// DefaultMaxPairs bounds the pairs held in memory (12 bytes each).
	DefaultMaxPairs = 16 << 20
)

// ErrTooManyPairs: the hashes hold more near pairs than fit in memory,
// usually because max_distance is too large for the library.
var ErrTooManyPairs = errors.New("too many near pairs")

// Options configure Group.
type Options struct {
	// MaxDistance is the largest Hamming distance of an edge (0..16).
	MaxDistance int
	// MaxChain is how many edges a member may be from the group's first
	// member: 1 puts only the first member's neighbours in its group;
	// larger values chain through them (a burst), but never further.
	MaxChain int
	// MaxPairs bounds the near pairs held at once (DefaultMaxPairs when 0).
	MaxPairs int
}

// Member is one hash of a group.
type Member struct {
	Index int32 // position in the hashes given to Group
	Group int32 // 0, 1, ... in the order of the groups' first members
	Dist  uint8 // Hamming distance to the group's first member
}

// blocks is the number of 16-bit blocks a hash is indexed by.
const blocks = 4

// Group puts hashes into groups of near duplicates and returns the members
// of every group of two or more, by group and then by index.
//
//   - Two hashes are neighbours when their Hamming distance is at most
//     MaxDistance. Neighbours are found through a multi-index hash table
//     (Norouzi et al.: four 16-bit blocks; two hashes within N bits agree
//     within N/4 bits on some block) whose buckets are joined only with
//     the buckets that near keys name, never by comparing all pairs.
//   - Groups form in the order of the hashes (the caller puts the oldest
//     photo first): the first hash not yet in a group starts one, and takes
//     every hash not yet in a group that is at most MaxChain neighbour
//     steps away (a breadth-first walk). Equal hashes are always together.
//   - Each member's Dist is measured to the group's first member directly.
func Group(ctx context.Context, hashes []uint64, o Options) ([]Member, error) {
	if o.MaxDistance < 0 || o.MaxDistance > MaxMaxDistance {
		return nil, fmt.Errorf("max_distance %d: want 0 to %d (the default is %d)", o.MaxDistance, MaxMaxDistance, DefaultMaxDistance)
	}
	if o.MaxChain < 1 {
		return nil, fmt.Errorf("max_chain %d: want 1 or more (the default is %d)", o.MaxChain, DefaultMaxChain)
	}
	if o.MaxPairs <= 0 {
		o.MaxPairs = DefaultMaxPairs
	}
	if len(hashes) >= 1<<31-1 {
		return nil, fmt.Errorf("%d hashes: at most %d", len(hashes), 1<<31-2)
	}
	u := uniques(hashes)
	pairs, err := u.pairs(ctx, o.MaxDistance, o.MaxPairs)
	if err != nil {
		return nil, err
	}
	return u.group(hashes, pairs, o.MaxChain), nil
}

// uniq holds the distinct hash values, each with its input indices.
type uniq struct {
	vals  []uint64 // distinct values, ascending
	first []int32  // smallest input index of each value
	start []int32  // members of value i are idx[start[i]:start[i+1]]
	idx   []int32  // input indices sorted by (value, index)
}

func uniques(hashes []uint64) *uniq {
	idx := make([]int32, len(hashes))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		if c := cmp.Compare(hashes[a], hashes[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	u := &uniq{idx: idx}
	for k, i := range idx {
		if k == 0 || hashes[i] != hashes[idx[k-1]] {
			u.vals = append(u.vals, hashes[i])
			u.first = append(u.first, i)
			u.start = append(u.start, int32(k))
		}
	}
	u.start = append(u.start, int32(len(idx)))
	return u
}

// pair is an edge between two distinct values (indices into uniq.vals).
type pair struct {
	a, b int32
}

// table is one block's index: the values sorted by the block's 16 bits,
// with the bucket of key k at [off[k], off[k+1]).
type table struct {
	off  []int32
	vals []uint64
	ids  []int32
}

func blockKey(h uint64, b int) uint32 { return uint32(h>>(16*b)) & 0xFFFF }

func (u *uniq) table(b int) table {
	t := table{off: make([]int32, 1<<16+1), vals: make([]uint64, len(u.vals)), ids: make([]int32, len(u.vals))}
	for _, h := range u.vals {
		t.off[blockKey(h, b)+1]++
	}
	for k := 1; k < len(t.off); k++ {
		t.off[k] += t.off[k-1]
	}
	next := slices.Clone(t.off[:1<<16])
	for i, h := range u.vals {
		k := blockKey(h, b)
		t.vals[next[k]] = h
		t.ids[next[k]] = int32(i)
		next[k]++
	}
	return t
}

// masks returns the 16-bit masks with at most r bits set.
func masks(r int) []uint32 {
	var out []uint32
	for m := range uint32(1 << 16) {
		if bits.OnesCount32(m) <= r {
			out = append(out, m)
		}
	}
	return out
}

// pairs finds every pair of distinct values within n bits. By the
// pigeonhole principle (n = 4r + a, 0 ≤ a < 4), such a pair agrees within r
// bits on one of the blocks 0..a, or within r-1 bits on one of the
// others. For each block and each mask of at most that many bits, every
// bucket k is compared with bucket k^mask: two short runs of contiguous
// values, so the work is cache-friendly comparisons rather than a cache
// miss per probe. A pair is kept only from the first block where it
// qualifies, so it comes out once.
func (u *uniq) pairs(ctx context.Context, n, maxPairs int) ([]pair, error) {
	if len(u.vals) < 2 {
		return nil, nil
	}
	r, a := n/blocks, n%blocks
	var radius [blocks]int
	for b := range blocks {
		radius[b] = r
		if b > a {
			radius[b] = r - 1
		}
	}
	type job struct {
		b    int
		mask uint32
	}
	var tables [blocks]table
	var jobs []job
	for b := range blocks {
		if radius[b] >= 0 {
			tables[b] = u.table(b)
			for _, m := range masks(radius[b]) {
				jobs = append(jobs, job{b, m})
			}
		}
	}
	// first reports whether block b is the first block on which x and y
	// agree within its radius.
	first := func(x, y uint64, b int) bool {
		for c := range b {
			if radius[c] >= 0 && bits.OnesCount32(blockKey(x, c)^blockKey(y, c)) <= radius[c] {
				return false
			}
		}
		return true
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	var next, total atomic.Int64
	out := make([][]pair, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var mine []pair
			emit := func(x, y int32) {
				mine = append(mine, pair{min(x, y), max(x, y)})
			}
			for {
				k := int(next.Add(1)) - 1
				if k >= len(jobs) {
					break
				}
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				before := len(mine)
				jb := jobs[k]
				t := &tables[jb.b]
				for key := range uint32(1 << 16) {
					key2 := key ^ jb.mask
					if key2 < key {
						continue
					}
					s1, e1 := t.off[key], t.off[key+1]
					if s1 == e1 {
						continue
					}
					s2, e2 := t.off[key2], t.off[key2+1]
					if s2 == e2 {
						continue
					}
					av, bv := t.vals[s1:e1], t.vals[s2:e2]
					for i, x := range av {
						if key == key2 {
							bv = t.vals[int(s1)+i+1 : e1]
							s2 = s1 + int32(i) + 1
						}
						for j, y := range bv {
							if bits.OnesCount64(x^y) <= n && first(x, y, jb.b) {
								emit(t.ids[int(s1)+i], t.ids[int(s2)+j])
							}
						}
					}
				}
				if total.Add(int64(len(mine)-before)) > int64(maxPairs) {
					errs[w] = fmt.Errorf("%w: more than %d pairs within %d bits; lower max_distance", ErrTooManyPairs, maxPairs, n)
					return
				}
			}
			out[w] = mine
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var all []pair
	for _, p := range out {
		all = append(all, p...)
	}
	return all, nil
}

// group forms the groups over the values' neighbour graph and expands
// them into members.
func (u *uniq) group(hashes []uint64, pairs []pair, maxChain int) []Member {
	nv := len(u.vals)
	// Adjacency in CSR form.
	off := make([]int32, nv+1)
	for _, p := range pairs {
		off[p.a+1]++
		off[p.b+1]++
	}
	for i := 1; i <= nv; i++ {
		off[i] += off[i-1]
	}
	adj := make([]int32, 2*len(pairs))
	fill := slices.Clone(off[:nv])
	for _, p := range pairs {
		adj[fill[p.a]] = p.b
		fill[p.a]++
		adj[fill[p.b]] = p.a
		fill[p.b]++
	}
	// Values in the order of their first input index.
	order := make([]int32, nv)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(u.first[a], u.first[b]) })

	assigned := make([]bool, nv)
	var members []Member
	var queue, depth, groupVals []int32
	g := int32(0)
	for _, root := range order {
		if assigned[root] {
			continue
		}
		assigned[root] = true
		single := u.start[root+1]-u.start[root] == 1
		if off[root+1] == off[root] && single {
			continue // alone
		}
		queue, depth, groupVals = append(queue[:0], root), append(depth[:0], 0), groupVals[:0]
		for q := 0; q < len(queue); q++ {
			v := queue[q]
			groupVals = append(groupVals, v)
			if int(depth[q]) >= maxChain {
				continue
			}
			for _, w := range adj[off[v]:off[v+1]] {
				if !assigned[w] {
					assigned[w] = true
					queue = append(queue, w)
					depth = append(depth, depth[q]+1)
				}
			}
		}
		if len(groupVals) == 1 && single {
			continue // its neighbours were all taken by earlier groups
		}
		head := hashes[u.first[root]]
		start := len(members)
		for _, v := range groupVals {
			for _, i := range u.idx[u.start[v]:u.start[v+1]] {
				members = append(members, Member{Index: i, Group: g, Dist: uint8(bits.OnesCount64(hashes[i] ^ head))})
			}
		}
		grp := members[start:]
		slices.SortFunc(grp, func(a, b Member) int { return cmp.Compare(a.Index, b.Index) })
		g++
	}
	return members
}
