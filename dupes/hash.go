// Package dupes finds near-duplicate photos from small thumbnails: a
// 64-bit perceptual hash (pHash, from a DCT) and a difference hash (dHash)
// per image, and groups of hashes within a Hamming distance found through
// a multi-index hash table, never by comparing all pairs. It knows
// nothing of DuckDB or HTTP; JPEG thumbnails are decoded by the system's
// libjpeg-turbo (cgo), everything else by Go's image packages.
package dupes

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // thumbnails may come as any of these
	"image/jpeg"
	_ "image/png"
	"math"
	"math/bits"
	"slices"
	"sync"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"
)

// Why an image has no hash. A thumbnail that hits one of these becomes a
// row with the reason, never a hash of garbage.
var (
	// ErrNotImage: the bytes are no image format Go decodes (an HTML error
	// page, a video container, an empty body).
	ErrNotImage = errors.New("not an image")
	// ErrUndecodable: the header says image, the pixels do not decode
	// (a truncated or damaged file).
	ErrUndecodable = errors.New("image does not decode")
	// ErrTooLarge: more pixels than a thumbnail has any reason to hold.
	ErrTooLarge = errors.New("image too large for a thumbnail")
	// ErrFlat: the image is (nearly) one colour; its hash would be noise.
	ErrFlat = errors.New("flat image: no detail to hash")
)

// MaxPixels bounds the images Decode accepts (a thumbnail is a few
// hundred pixels on a side; 40 megapixels covers an original too).
const MaxPixels = 40 << 20

// Decode decodes a thumbnail, checking its header first so that a huge
// or non-image body costs nothing. Errors wrap ErrNotImage, ErrTooLarge or
// ErrUndecodable.
//
// A JPEG whose frame header says a sane size goes straight to
// image/jpeg: image.DecodeConfig would build a whole decoder (17 KB) to
// read the same two numbers, and image.Decode would sniff the format and
// wrap the bytes in a bufio.Reader, some 10 of the 55 µs a 64-pixel
// thumbnail takes. Should image/jpeg refuse it, the road below decodes
// it again, so that the error reads as it always did.
func Decode(data []byte) (image.Image, error) {
	if w, h, ok := jpegSize(data); ok && w > 0 && h > 0 && int64(w)*int64(h) <= MaxPixels {
		if img, err := jpeg.Decode(bytes.NewReader(data)); err == nil {
			return img, nil
		}
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) || len(data) == 0 {
			return nil, fmt.Errorf("%w (%s)", ErrNotImage, sniff(data))
		}
		return nil, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s of %dx%d", ErrUndecodable, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, fmt.Errorf("%w: %s of %dx%d", ErrTooLarge, format, cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUndecodable, format, err)
	}
	return img, nil
}

// jpegSize reads a JPEG's width and height from its frame header (SOFn),
// walking the marker segments before it (ITU T.81, B.1.1); ok is false
// for anything else: no JPEG, a damaged segment, a scan or the end before
// any frame header.
func jpegSize(data []byte) (w, h int, ok bool) {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return 0, 0, false
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xff {
			return 0, 0, false
		}
		m := data[i+1]
		switch {
		case m == 0xff: // a fill byte
			i++
			continue
		case m == 0x01 || m >= 0xd0 && m <= 0xd8: // TEM, RSTn, SOI: no length
			i += 2
			continue
		case m == 0xd9 || m == 0xda: // EOI or SOS before a frame header
			return 0, 0, false
		}
		n := int(data[i+2])<<8 | int(data[i+3])
		if n < 2 {
			return 0, 0, false
		}
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc { // SOFn, not DHT, JPG, DAC
			if n < 7 || i+9 > len(data) {
				return 0, 0, false
			}
			return int(data[i+7])<<8 | int(data[i+8]), int(data[i+5])<<8 | int(data[i+6]), true
		}
		i += 2 + n
	}
	return 0, 0, false
}

// sniff names what a body that is not an image looks like.
func sniff(data []byte) string {
	switch {
	case len(data) == 0:
		return "empty body"
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("<")):
		return "HTML or XML"
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")):
		return "JSON"
	case len(data) > 8 && string(data[4:8]) == "ftyp":
		return "a video container"
	case bytes.HasPrefix(data, []byte("%PDF")):
		return "PDF"
	}
	return fmt.Sprintf("%d bytes of unknown format", len(data))
}

// Hashes are the perceptual hashes of one image.
type Hashes struct {
	// PHash is the sign of the 8×8 lowest DCT frequencies (without the DC
	// row and column) of a 32×32 grey image, against their median.
	PHash uint64
	// DHash is the sign of the horizontal gradient of a 9×8 grey image.
	DHash uint64
}

// Distance is the Hamming distance of two 64-bit hashes.
func Distance(a, b uint64) int { return bits.OnesCount64(a ^ b) }

// HasherVersion names the decoding and hashing that HashData does, for
// the hashes stored with it: 1, Go's image/jpeg (until 2026-12); 2,
// libjpeg-turbo's luminance for JPEGs. The two IDCTs differ by a grey
// level here and there, which moves up to a few bits of a 64-pixel
// thumbnail's pHash: a store recomputes the rows of another version
// rather than compare hashes across decoders.
const HasherVersion = 2

const side = 32 // pHash works on a side×side grey image

// cosTable[u][x] = cos((2x+1)uπ/(2·side)) for the 9 lowest frequencies.
var cosTable = func() (t [9][side]float32) {
	for u := range 9 {
		for x := range side {
			t[u][x] = float32(math.Cos(float64(2*x+1) * float64(u) * math.Pi / (2 * side)))
		}
	}
	return t
}()

// A Hasher decodes and hashes thumbnails, reusing its buffers from one to
// the next: a worker keeps one. It is not safe for concurrent use.
type Hasher struct {
	grey []byte    // the luminance of a decoded JPEG or grey image, tightly packed
	lum  []float32 // the grey levels of any other image
	tmp  []float32 // resample's horizontal pass
	line []float32 // trim's current row or column
	srt  []float32 // trim's sorted line
}

var hashers = sync.Pool{New: func() any { return new(Hasher) }}

// HashData decodes a thumbnail and hashes it, as Decode then Hash would,
// with the same errors, and returns the image's size too (when it
// decodes). A JPEG libjpeg decodes without a warning is decoded to its
// luminance alone (libjpeg.go); any other goes through Decode, and
// decodes to *image.YCbCr, whose Y plane Hash reads directly.
func (h *Hasher) HashData(data []byte) (Hashes, image.Point, error) {
	if w, ht, ok := jpegSize(data); ok && w > 0 && ht > 0 && int64(w)*int64(ht) <= MaxPixels {
		if grey, ok := h.lumaJPEG(data, w, ht); ok {
			hs, err := hashGrey(h, grey, w, ht)
			return hs, image.Pt(w, ht), err
		}
	}
	img, err := Decode(data)
	if err != nil {
		return Hashes{}, image.Point{}, err
	}
	hs, err := h.Hash(img)
	return hs, img.Bounds().Size(), err
}

// Hash computes the hashes of img. Uniform borders (a screenshot's bars,
// a letterbox) are trimmed first, so a screenshot of a photo hashes like
// the photo. An image with no detail returns ErrFlat.
func Hash(img image.Image) (Hashes, error) {
	h := hashers.Get().(*Hasher)
	defer hashers.Put(h)
	return h.Hash(img)
}

// Hash is the package's Hash with h's buffers.
func (h *Hasher) Hash(img image.Image) (Hashes, error) {
	b := img.Bounds()
	w, ht := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.YCbCr: // what JPEG decodes to: Y is the luminance
		grey := growT(&h.grey, w*ht)
		for y := range ht {
			copy(grey[y*w:(y+1)*w], m.Y[m.YOffset(b.Min.X, b.Min.Y+y):])
		}
		return hashGrey(h, grey, w, ht)
	case *image.Gray:
		grey := growT(&h.grey, w*ht)
		for y := range ht {
			copy(grey[y*w:(y+1)*w], m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):])
		}
		return hashGrey(h, grey, w, ht)
	}
	return hashGrey(h, h.luminance(img), w, ht)
}

// growT returns (*buf)[:n], reallocating when it is too short.
func growT[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	return (*buf)[:n]
}

// pixel is a grey level: the bytes of a decoded plane, or the float32
// luminance of an RGBA or other image. Both hash alike: every step
// converts a byte to float32 exactly where it would read the float.
type pixel interface{ ~uint8 | ~float32 }

// hashGrey hashes a w×h grey image (0..255, row-major).
func hashGrey[T pixel](h *Hasher, lum []T, w, ht int) (Hashes, error) {
	x0, y0, x1, y1 := trim(h, lum, w, ht)
	var g [side * side]float32
	resample(h, lum, w, x0, y0, x1, y1, g[:], side, side)
	if sd := deviation(g[:]); sd < 2 {
		// What is left inside white or black edges is one colour (an
		// object on a plain background, cut to its inside): hash it all.
		if x0 != 0 || y0 != 0 || x1 != w || y1 != ht {
			x0, y0, x1, y1 = 0, 0, w, ht
			resample(h, lum, w, x0, y0, x1, y1, g[:], side, side)
			sd = deviation(g[:])
		}
		if sd < 2 {
			return Hashes{}, fmt.Errorf("%w (grey deviation %.1f of 255)", ErrFlat, sd)
		}
	}

	// Separable DCT-II: only frequencies 1..8 each way are kept (the DC
	// row and column are left out of the hash, so not computed). Every
	// sum adds its terms in the order it always did (x, y ascending):
	// the same bits as before.
	var rows [9][side]float32 // rows[v][x] = Σ_y cos_v(y) g[y][x]
	for v := 1; v < 9; v++ {
		cv := &cosTable[v]
		out := &rows[v]
		for x := 0; x < side; x += 8 { // eight columns' sums in registers
			var s0, s1, s2, s3, s4, s5, s6, s7 float32
			for y := range side {
				c := cv[y]
				r := (*[8]float32)(g[y*side+x : y*side+x+8])
				s0 += c * r[0]
				s1 += c * r[1]
				s2 += c * r[2]
				s3 += c * r[3]
				s4 += c * r[4]
				s5 += c * r[5]
				s6 += c * r[6]
				s7 += c * r[7]
			}
			out[x], out[x+1], out[x+2], out[x+3], out[x+4], out[x+5], out[x+6], out[x+7] = s0, s1, s2, s3, s4, s5, s6, s7
		}
	}
	var coef [64]float32
	for v := 1; v < 9; v++ {
		rv := &rows[v]
		for u := 1; u < 9; u += 4 { // four sums at once: independent chains
			c0, c1, c2, c3 := &cosTable[u], &cosTable[u+1], &cosTable[u+2], &cosTable[u+3]
			var s0, s1, s2, s3 float32
			for x := range side {
				r := rv[x]
				s0 += c0[x] * r
				s1 += c1[x] * r
				s2 += c2[x] * r
				s3 += c3[x] * r
			}
			i := (v-1)*8 + u - 1
			coef[i], coef[i+1], coef[i+2], coef[i+3] = s0, s1, s2, s3
		}
	}
	sorted := coef
	slices.Sort(sorted[:])
	med := (sorted[31] + sorted[32]) / 2
	var hs Hashes
	for i, c := range coef {
		if c > med {
			hs.PHash |= 1 << (63 - i)
		}
	}

	var d [9 * 8]float32
	resample(h, lum, w, x0, y0, x1, y1, d[:], 9, 8)
	for y := range 8 {
		for x := range 8 {
			if d[y*9+x+1] > d[y*9+x] {
				hs.DHash |= 1 << (63 - (y*8 + x))
			}
		}
	}
	return hs, nil
}

// deviation is the standard deviation of g.
func deviation(g []float32) float64 {
	var sum, sq float64
	for _, v := range g {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(g))
	return math.Sqrt(max(0, sq/n-(sum/n)*(sum/n)))
}

// luminance returns the grey levels (0..255) of an image that is neither
// YCbCr nor Gray, row-major, in h.lum.
func (h *Hasher) luminance(img image.Image) []float32 {
	b := img.Bounds()
	w, ht := b.Dx(), b.Dy()
	lum := growT(&h.lum, w*ht)
	switch m := img.(type) {
	case *image.RGBA:
		for y := range ht {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				p := row[4*x : 4*x+3]
				lum[y*w+x] = 0.299*float32(p[0]) + 0.587*float32(p[1]) + 0.114*float32(p[2])
			}
		}
	default:
		for y := range ht {
			for x := range w {
				g := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray)
				lum[y*w+x] = float32(g.Y)
			}
		}
	}
	return lum
}

// trim finds the box inside the bars of a screenshot or a letterbox, so
// that a screenshot of a photo hashes like the photo. A side is trimmed
// only when its outermost line and the opposite one are nearly all black,
// or both all white (a phone's dark or light theme, a letterbox; never a
// plain or saturated sky, which would trim differently in a photo and in
// its brightened copy), and then line by
// line while most of a line is that colour (icons and the clock of a
// status bar are not). It trims at most 40% from each side.
func trim[T pixel](h *Hasher, lum []T, w, ht int) (x0, y0, x1, y1 int) {
	x0, y0, x1, y1 = 0, 0, w, ht
	line := growT(&h.line, max(w, ht))
	row := func(y int) []float32 {
		c := line[:x1-x0]
		for i, v := range lum[y*w+x0 : y*w+x1] {
			c[i] = float32(v)
		}
		return c
	}
	col := func(x int) []float32 {
		c := line[:0]
		for y := y0; y < y1; y++ {
			c = append(c, float32(lum[y*w+x]))
		}
		return c
	}
	// near is the fraction of vals within 24 grey levels of c.
	near := func(vals []float32, c float32) float64 {
		k := 0
		for _, v := range vals {
			if v > c-24 && v < c+24 {
				k++
			}
		}
		return float64(k) / float64(len(vals))
	}
	// bar returns the colour of a trimmable outer line: its median, when
	// that is under 32 or over 223 and nine in ten of the line are near
	// it. Counting first tells whether the median can be that dark or
	// light (the k-th smallest is < 32 when more than k values are); a
	// photo's edge, most often, cannot, and is never sorted.
	bar := func(vals []float32) (float32, bool) {
		k := len(vals) / 2
		dark, light := 0, 0
		for _, v := range vals {
			if v < 32 {
				dark++
			} else if v > 223 {
				light++
			}
		}
		if dark <= k && light < len(vals)-k {
			return 0, false
		}
		s := append(growT(&h.srt, len(vals))[:0], vals...)
		slices.Sort(s)
		c := s[k]
		return c, (c < 32 || c > 223) && near(vals, c) >= 0.9
	}
	// Bars come in pairs of one colour (top and bottom, left and right):
	// a saturated sky at the top alone is no bar.
	ct, okt := bar(row(0))
	cb, okb := bar(row(ht - 1))
	if okt && okb && ct-cb < 24 && cb-ct < 24 {
		for y0 < ht*2/5 && near(row(y0), ct) >= 0.6 {
			y0++
		}
		for y1 > ht-ht*2/5 && near(row(y1-1), cb) >= 0.6 {
			y1--
		}
	}
	cl, okl := bar(col(0))
	cr, okr := bar(col(w - 1))
	if okl && okr && cl-cr < 24 && cr-cl < 24 {
		for x0 < w*2/5 && near(col(x0), cl) >= 0.6 {
			x0++
		}
		for x1 > w-w*2/5 && near(col(x1-1), cr) >= 0.6 {
			x1--
		}
	}
	if x1-x0 < 2 || y1-y0 < 2 { // nothing left: hash the whole image
		return 0, 0, w, ht
	}
	return x0, y0, x1, y1
}

// resample averages the box [x0,x1)×[y0,y1) of src (stride w) into dst,
// dw×dh, each destination cell the area-weighted mean of the source
// pixels it covers (a box filter, exact for any ratio).
func resample[T pixel](h *Hasher, src []T, w, x0, y0, x1, y1 int, dst []float32, dw, dh int) {
	sw, sh := x1-x0, y1-y0
	xs := spans(sw, dw)
	ys := spans(sh, dh)
	tmp := growT(&h.tmp, sh*dw) // horizontal pass: sh rows of dw
	k := xs.k
	for y := range sh {
		row := src[(y0+y)*w+x0 : (y0+y)*w+x1]
		out := tmp[y*dw : (y+1)*dw]
		switch {
		case sw == 2*dw: // halving, the common case: 64 pixels into 32
			// Every cell is pixels 2i and 2i+1 at weights 0.5 and 0.5.
			w0, w1 := xs.w[0], xs.w[1]
			in := row[:2*len(out)]
			for i := range out {
				s := w0 * float32(in[2*i])
				s += w1 * float32(in[2*i+1])
				out[i] = s
			}
		case k == 8: // 64 pixels into dHash's 9 cells
			for i := range out {
				f := xs.first[i]
				in := (*[8]T)(row[f : f+8])
				wt := (*[8]float32)(xs.w[8*i : 8*i+8])
				s := wt[0] * float32(in[0])
				s += wt[1] * float32(in[1])
				s += wt[2] * float32(in[2])
				s += wt[3] * float32(in[3])
				s += wt[4] * float32(in[4])
				s += wt[5] * float32(in[5])
				s += wt[6] * float32(in[6])
				s += wt[7] * float32(in[7])
				out[i] = s
			}
		case k == 2:
			for i := range out {
				f := xs.first[i]
				in := row[f : f+2 : f+2]
				wt := xs.w[2*i : 2*i+2 : 2*i+2]
				s := wt[0] * float32(in[0])
				s += wt[1] * float32(in[1])
				out[i] = s
			}
		default:
			for i := range out {
				f := xs.first[i]
				in := row[f : f+k : f+k]
				wt := xs.w[k*i : k*i+k : k*i+k]
				var s float32
				for j, v := range in {
					s += wt[j] * float32(v)
				}
				out[i] = s
			}
		}
	}
	for j := range dh {
		out := dst[j*dw : (j+1)*dw]
		f := ys.first[j]
		if ys.k == 2 {
			w0, w1 := ys.w[2*j], ys.w[2*j+1]
			in0 := tmp[f*dw : (f+1)*dw]
			in1 := tmp[(f+1)*dw : (f+2)*dw]
			in0, in1 = in0[:len(out)], in1[:len(out)]
			for i := range out {
				s := w0 * in0[i]
				s += w1 * in1[i]
				out[i] = s
			}
			continue
		}
		clear(out)
		for i, wt := range ys.w[ys.k*j : ys.k*j+ys.k] {
			in := tmp[(f+i)*dw : (f+i+1)*dw]
			in = in[:len(out)]
			for i := range out {
				out[i] += wt * in[i]
			}
		}
	}
}

// spanSet maps n source pixels onto m cells, each the weighted sum of
// the k pixels from first[i] with the weights w[k*i:k*i+k] (summing to
// 1). A cell that covers fewer than k pixels has weights 0 for the rest,
// before or after its own: adding 0·v, v ≥ 0, to a sum of non-negative
// terms leaves every bit of it as it was, so the sums are the ones of
// the cell's own pixels, in order.
type spanSet struct {
	k     int
	first []int
	w     []float32
}

// spanCache keeps the spans of the few sizes thumbnails come in.
var spanCache struct {
	sync.Mutex
	m map[[2]int]*spanSet
}

// spans maps n source pixels onto m cells (read-only: shared).
func spans(n, m int) *spanSet {
	spanCache.Lock()
	defer spanCache.Unlock()
	if sp, ok := spanCache.m[[2]int{n, m}]; ok {
		return sp
	}
	if spanCache.m == nil || len(spanCache.m) > 256 {
		spanCache.m = make(map[[2]int]*spanSet)
	}
	sp := newSpans(n, m)
	spanCache.m[[2]int{n, m}] = sp
	return sp
}

func newSpans(n, m int) *spanSet {
	type cell struct {
		first int
		w     []float32
	}
	cells := make([]cell, m)
	scale := float64(n) / float64(m)
	k := 0
	for i := range m {
		lo, hi := float64(i)*scale, float64(i+1)*scale
		first := int(lo)
		last := min(int(math.Ceil(hi)), n) // exclusive
		if last <= first {
			last = first + 1
		}
		c := cell{first: first, w: make([]float32, last-first)}
		for p := first; p < last; p++ {
			cover := math.Min(hi, float64(p+1)) - math.Max(lo, float64(p))
			c.w[p-first] = float32(cover / scale)
		}
		cells[i] = c
		k = max(k, last-first)
	}
	sp := &spanSet{k: k, first: make([]int, m), w: make([]float32, m*k)}
	for i, c := range cells {
		// Pad after the cell's pixels, or before them at the end of the
		// line, so that all k stay inside it.
		first := min(c.first, n-k)
		sp.first[i] = first
		copy(sp.w[k*i+c.first-first:], c.w)
	}
	return sp
}
