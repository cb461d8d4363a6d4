package dupes

// The hash as it was before the Hasher (commit f70f36e), kept to check
// that the faster code gives the same bits: stored hashes stay valid.

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
	"sync"
)

// cosTableRef[u][x] = cos((2x+1)uπ/(2·side)) for the 9 lowest frequencies.
var cosTableRef = func() (t [9][side]float32) {
	for u := range 9 {
		for x := range side {
			t[u][x] = float32(math.Cos(float64(2*x+1) * float64(u) * math.Pi / (2 * side)))
		}
	}
	return t
}()

// HashRef computes the hashes of img. Uniform borders (a screenshot's bars,
// a letterbox) are trimmed first, so a screenshot of a photo hashes like
// the photo. An image with no detail returns ErrFlat.
func HashRef(img image.Image) (Hashes, error) {
	lum, w, h := luminanceRef(img)
	x0, y0, x1, y1 := trimRef(lum, w, h)
	var g [side * side]float32
	resampleRef(lum, w, x0, y0, x1, y1, g[:], side, side)
	if sd := deviationRef(g[:]); sd < 2 {
		// What is left inside white or black edges is one colour (an
		// object on a plain background, cut to its inside): hash it all.
		if x0 != 0 || y0 != 0 || x1 != w || y1 != h {
			x0, y0, x1, y1 = 0, 0, w, h
			resampleRef(lum, w, x0, y0, x1, y1, g[:], side, side)
			sd = deviationRef(g[:])
		}
		if sd < 2 {
			return Hashes{}, fmt.Errorf("%w (grey deviation %.1f of 255)", ErrFlat, sd)
		}
	}

	// Separable DCT-II, only the 9 lowest frequencies each way.
	var rows [9][side]float32 // rows[v][x] = Σ_y cos_v(y) g[y][x]
	for v := range 9 {
		cv := &cosTableRef[v]
		for y := range side {
			c := cv[y]
			row := g[y*side : (y+1)*side]
			out := &rows[v]
			for x := range side {
				out[x] += c * row[x]
			}
		}
	}
	var coef [64]float32
	for v := 1; v < 9; v++ {
		for u := 1; u < 9; u++ {
			var s float32
			cu := &cosTableRef[u]
			for x := range side {
				s += cu[x] * rows[v][x]
			}
			coef[(v-1)*8+u-1] = s
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
	resampleRef(lum, w, x0, y0, x1, y1, d[:], 9, 8)
	for y := range 8 {
		for x := range 8 {
			if d[y*9+x+1] > d[y*9+x] {
				hs.DHash |= 1 << (63 - (y*8 + x))
			}
		}
	}
	return hs, nil
}

// deviationRef is the standard deviationRef of g.
func deviationRef(g []float32) float64 {
	var sum, sq float64
	for _, v := range g {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(g))
	return math.Sqrt(max(0, sq/n-(sum/n)*(sum/n)))
}

// luminanceRef returns img's grey levels (0..255), row-major, w×h.
func luminanceRef(img image.Image) ([]float32, int, int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	lum := make([]float32, w*h)
	switch m := img.(type) {
	case *image.YCbCr: // what JPEG decodes to: Y is the luminanceRef
		for y := range h {
			row := m.Y[m.YOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				lum[y*w+x] = float32(row[x])
			}
		}
	case *image.Gray:
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				lum[y*w+x] = float32(row[x])
			}
		}
	case *image.RGBA:
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				p := row[4*x : 4*x+3]
				lum[y*w+x] = 0.299*float32(p[0]) + 0.587*float32(p[1]) + 0.114*float32(p[2])
			}
		}
	default:
		for y := range h {
			for x := range w {
				g := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray)
				lum[y*w+x] = float32(g.Y)
			}
		}
	}
	return lum, w, h
}

// trimRef finds the box inside the bars of a screenshot or a letterbox, so
// that a screenshot of a photo hashes like the photo. A side is trimmed
// only when its outermost line and the opposite one are nearly all black,
// or both all white (a phone's dark or light theme, a letterbox; never a
// plain or saturated sky, which would trimRef differently in a photo and in
// its brightened copy), and then line by
// line while most of a line is that colour (icons and the clock of a
// status bar are not). It trims at most 40% from each side.
func trimRef(lum []float32, w, h int) (x0, y0, x1, y1 int) {
	x0, y0, x1, y1 = 0, 0, w, h
	line := make([]float32, 0, max(w, h))
	row := func(y int) []float32 { return append(line[:0], lum[y*w+x0:y*w+x1]...) }
	col := func(x int) []float32 {
		c := line[:0]
		for y := y0; y < y1; y++ {
			c = append(c, lum[y*w+x])
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
	// bar returns the colour of a trimmable outer line.
	bar := func(vals []float32) (float32, bool) {
		s := slices.Clone(vals)
		slices.Sort(s)
		c := s[len(s)/2]
		return c, (c < 32 || c > 223) && near(vals, c) >= 0.9
	}
	// Bars come in pairs of one colour (top and bottom, left and right):
	// a saturated sky at the top alone is no bar.
	ct, okt := bar(row(0))
	cb, okb := bar(row(h - 1))
	if okt && okb && ct-cb < 24 && cb-ct < 24 {
		for y0 < h*2/5 && near(row(y0), ct) >= 0.6 {
			y0++
		}
		for y1 > h-h*2/5 && near(row(y1-1), cb) >= 0.6 {
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
		return 0, 0, w, h
	}
	return x0, y0, x1, y1
}

// resampleRef averages the box [x0,x1)×[y0,y1) of src (stride w) into dst,
// dw×dh, each destination cell the area-weighted mean of the source
// pixels it covers (a box filter, exact for any ratio).
func resampleRef(src []float32, w, x0, y0, x1, y1 int, dst []float32, dw, dh int) {
	sw, sh := x1-x0, y1-y0
	xs := spansRef(sw, dw)
	ys := spansRef(sh, dh)
	tmp := make([]float32, sh*dw) // horizontal pass: sh rows of dw
	for y := range sh {
		row := src[(y0+y)*w+x0 : (y0+y)*w+x1]
		for i, sp := range xs {
			var s float32
			for k, wt := range sp.w {
				s += wt * row[sp.first+k]
			}
			tmp[y*dw+i] = s
		}
	}
	for j, sp := range ys {
		out := dst[j*dw : (j+1)*dw]
		clear(out)
		for k, wt := range sp.w {
			in := tmp[(sp.first+k)*dw : (sp.first+k+1)*dw]
			for i := range out {
				out[i] += wt * in[i]
			}
		}
	}
}

// spanRef is the source pixels one destination cell covers, with weights
// summing to 1.
type spanRef struct {
	first int
	w     []float32
}

// spanCacheRef keeps the spansRef of the few sizes thumbnails come in.
var spanCacheRef struct {
	sync.Mutex
	m map[[2]int][]spanRef
}

// spansRef maps n source pixels onto m cells (read-only: shared).
func spansRef(n, m int) []spanRef {
	spanCacheRef.Lock()
	defer spanCacheRef.Unlock()
	if sp, ok := spanCacheRef.m[[2]int{n, m}]; ok {
		return sp
	}
	if spanCacheRef.m == nil || len(spanCacheRef.m) > 256 {
		spanCacheRef.m = make(map[[2]int][]spanRef)
	}
	sp := newSpansRef(n, m)
	spanCacheRef.m[[2]int{n, m}] = sp
	return sp
}

func newSpansRef(n, m int) []spanRef {
	out := make([]spanRef, m)
	scale := float64(n) / float64(m)
	for i := range m {
		lo, hi := float64(i)*scale, float64(i+1)*scale
		first := int(lo)
		last := min(int(math.Ceil(hi)), n) // exclusive
		if last <= first {
			last = first + 1
		}
		sp := spanRef{first: first, w: make([]float32, last-first)}
		for p := first; p < last; p++ {
			cover := math.Min(hi, float64(p+1)) - math.Max(lo, float64(p))
			sp.w[p-first] = float32(cover / scale)
		}
		out[i] = sp
	}
	return out
}

// DecodeRef is Decode before its JPEG shortcut: DecodeConfig, then
// image.Decode.
func DecodeRef(data []byte) (image.Image, error) {
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
