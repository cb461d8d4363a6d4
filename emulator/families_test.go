package emulator

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/apsql/apsql/dupes"
)

// TestFamilies checks the ground truth: every photo is a real JPEG whose
// thumbnail decodes, the families hold an original and two to five
// copies, and lookalikes are families of one.
func TestFamilies(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 10})
	fams, err := s.AddFamilies("Families", 60, 1)
	if err != nil {
		t.Fatal(err)
	}
	size := map[int]int{}
	for _, p := range fams {
		size[p.Family]++
	}
	hs := make([]dupes.Hashes, len(fams))
	for k, p := range fams {
		b := c.get("/v1/thumbnail/"+p.ID+"?"+q("ownerId", s.OwnerID(), "viewBox", "128"), 200, nil)
		img, err := dupes.Decode(b)
		if err != nil {
			t.Fatalf("%s (%s): %v", p.Name, p.Variant, err)
		}
		if hs[k], err = dupes.Hash(img); err != nil {
			t.Fatalf("%s (%s): %v", p.Name, p.Variant, err)
		}
		switch n := size[p.Family]; {
		case p.Variant == "lookalike" && n != 1:
			t.Errorf("lookalike %s has a family of %d", p.Name, n)
		case p.Variant != "lookalike" && (n < 3 || n > 6):
			t.Errorf("%s (%s) has a family of %d, want 3 to 6", p.Name, p.Variant, n)
		}
	}
	if os.Getenv("APSQL_FAMILY_DISTANCES") != "" {
		for _, f := range []func(dupes.Hashes) uint64{func(h dupes.Hashes) uint64 { return h.PHash }, func(h dupes.Hashes) uint64 { return h.DHash }} {
			byVariant := map[string][]int{}
			var other []int
			for i := range fams {
				for j := i + 1; j < len(fams); j++ {
					d := dupes.Distance(f(hs[i]), f(hs[j]))
					if fams[i].Family == fams[j].Family {
						v := fams[j].Variant
						if fams[i].Variant != "original" {
							v = fams[i].Variant + "-" + v
						}
						byVariant[v] = append(byVariant[v], d)
					} else {
						other = append(other, d)
					}
				}
			}
			for v, ds := range byVariant {
				slices.Sort(ds)
				fmt.Println(v, ds)
			}
			slices.Sort(other)
			fmt.Println("other", other[:40])
		}
		ph := make([]uint64, len(hs))
		for i := range hs {
			ph[i] = hs[i].PHash
		}
		for _, chain := range []int{1, 2, 3} {
			for n := 2; n <= 14; n += 2 {
				ms, err := dupes.Group(t.Context(), ph, dupes.Options{MaxDistance: n, MaxChain: chain})
				if err != nil {
					t.Fatal(err)
				}
				grp := map[int32]int32{}
				for _, m := range ms {
					grp[m.Index] = m.Group
				}
				tp, fp, fn := 0, 0, 0
				for i := range fams {
					for j := i + 1; j < len(fams); j++ {
						gi, oki := grp[int32(i)]
						gj, okj := grp[int32(j)]
						same := oki && okj && gi == gj
						truth := fams[i].Family == fams[j].Family
						switch {
						case same && truth:
							tp++
						case same:
							fp++
						case truth:
							fn++
						}
					}
				}
				fmt.Printf("chain %d n %d: precision %.3f recall %.3f\n", chain, n, float64(tp)/float64(max(1, tp+fp)), float64(tp)/float64(tp+fn))
			}
		}
	}
}
