package dupes

import (
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"slices"
	"testing"
)

// oldRoad hashes data as HashData did before libjpeg: image/jpeg (or the
// other image packages) through Decode, then Hash.
func oldRoad(h *Hasher, data []byte) (Hashes, image.Point, error) {
	img, err := Decode(data)
	if err != nil {
		return Hashes{}, image.Point{}, err
	}
	hs, err := h.Hash(img)
	return hs, img.Bounds().Size(), err
}

// TestLumaAsImageJPEG: libjpeg's luminance of every thumbnail of jpegs
// (the emulator's, and colour and grey JPEGs of every size from 1×1 to
// 70×53) is image/jpeg's Y plane within one grey level (two IDCTs, both
// within IEEE 1180's accuracy), at the same size, and HashData gives the
// size and errors the old road gave. The bits may differ by a few
// (HasherVersion: stores hash again rather than mix the two).
func TestLumaAsImageJPEG(t *testing.T) {
	var h, ref Hasher
	same, total, worst := 0, 0, 0
	for i, data := range jpegs(t) {
		w, ht, ok := jpegSize(data)
		if !ok {
			t.Fatalf("jpeg %d: no frame header", i)
		}
		grey, ok := h.lumaJPEG(data, w, ht)
		if !ok {
			t.Fatalf("jpeg %d (%dx%d): libjpeg refused a JPEG image/jpeg decodes", i, w, ht)
		}
		img, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		var y []byte
		switch m := img.(type) {
		case *image.YCbCr:
			for r := range ht {
				y = append(y, m.Y[m.YOffset(0, r):m.YOffset(0, r)+w]...)
			}
		case *image.Gray:
			for r := range ht {
				y = append(y, m.Pix[m.PixOffset(0, r):m.PixOffset(0, r)+w]...)
			}
		default:
			t.Fatalf("jpeg %d decodes to %T", i, img)
		}
		for k := range y {
			if d := int(grey[k]) - int(y[k]); d < -1 || d > 1 {
				t.Fatalf("jpeg %d (%dx%d): pixel %d: libjpeg %d, image/jpeg %d", i, w, ht, k, grey[k], y[k])
			}
		}
		got, size, gerr := h.HashData(data)
		want, wsize, werr := oldRoad(&ref, data)
		if size != wsize || fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("jpeg %d: HashData %v, %v; image/jpeg %v, %v", i, size, gerr, wsize, werr)
		}
		if gerr != nil {
			continue
		}
		total++
		d := Distance(got.PHash, want.PHash) + Distance(got.DHash, want.DHash)
		if d == 0 {
			same++
		}
		worst = max(worst, d)
	}
	t.Logf("%d of %d hashes bit for bit as image/jpeg's; the most bits apart (pHash + dHash): %d", same, total, worst)
}

// TestHashDataCutShort: a JPEG cut short anywhere is refused, as
// image/jpeg refuses it, with its error word for word (libjpeg only
// warns of a premature end, and a warning sends it the old road).
func TestHashDataCutShort(t *testing.T) {
	var h, ref Hasher
	for i, data := range jpegs(t)[:12] {
		step := 1
		if testing.Short() {
			step = 5
		}
		for n := 0; n < len(data)-1; n += step {
			s := data[:n]
			_, size, err := h.HashData(s)
			_, wsize, werr := oldRoad(&ref, s)
			if err == nil || fmt.Sprint(err) != fmt.Sprint(werr) || size != wsize {
				t.Fatalf("jpeg %d cut at %d of %d: HashData %v, %v; image/jpeg %v, %v", i, n, len(data), size, err, wsize, werr)
			}
		}
	}
}

// TestHashDataOnDamagedJPEGs: on thousands of damaged JPEGs (bytes
// changed, bits flipped, cut short), what HashData refuses it refuses
// with image/jpeg's error, word for word, and it refuses nearly all that
// image/jpeg refuses. Neither decoder can tell every damage (a flipped
// bit in the entropy data decodes to other pixels in both: most of these
// hash), and libjpeg, like browsers, decodes without a warning a few
// that image/jpeg is stricter about; those it hashes as it sees them.
func TestHashDataOnDamagedJPEGs(t *testing.T) {
	seeds := jpegs(t)
	n := 20000
	if testing.Short() {
		n = 3000
	}
	r := rand.New(rand.NewPCG(3, 4))
	var h, ref Hasher
	refused, hashed, lenient := 0, 0, 0
	for range n {
		s := damage(r, slices.Clone(seeds[r.IntN(len(seeds))]))
		_, size, err := h.HashData(s)
		_, wsize, werr := oldRoad(&ref, s)
		undecoded := err != nil && !errors.Is(err, ErrFlat)
		wundecoded := werr != nil && !errors.Is(werr, ErrFlat)
		switch {
		case undecoded && (fmt.Sprint(err) != fmt.Sprint(werr) || size != wsize):
			t.Fatalf("HashData: %v, %v; image/jpeg: %v, %v (%q)", size, err, wsize, werr, s)
		case undecoded:
			refused++
		case wundecoded:
			lenient++
			if w, ht, ok := jpegSize(s); !ok {
				t.Fatalf("HashData decoded what image/jpeg refuses (%v) and is no JPEG: %q", werr, s)
			} else if _, ok := h.lumaJPEG(s, w, ht); !ok {
				t.Fatalf("HashData decoded what image/jpeg refuses (%v) and libjpeg did not: %q", werr, s)
			}
		default:
			hashed++
		}
	}
	if lenient*100 > refused || refused < n/10 || hashed < n/10 {
		t.Errorf("of %d: %d refused as image/jpeg refuses them, %d hashed by both, %d hashed that image/jpeg refuses: want under 1%% of the refused", n, refused, hashed, lenient)
	}
	t.Logf("of %d damaged JPEGs: %d refused as image/jpeg refuses them, %d hashed by both, %d hashed that image/jpeg refuses", n, refused, hashed, lenient)
}
