package vision

import (
	"math"
	"sync"
)

// This file reproduces timm's evaluation transform on Pillow images:
//
//	Resize(floor(size/crop_pct), interpolation)  shorter side, keep aspect
//	CenterCrop(size)
//	ToTensor, Normalize(mean, std)
//
// The resize uses Pillow's separable convolution (ImagingResample): for a
// reduction by a factor s the filter support widens by s, which is the
// "antialias=True" in timm's transform. Only the pixels inside the crop are
// computed. Pillow rounds to 8 bits after each pass; this code keeps float32
// and only clamps to [0, 255], so values differ from Pillow's by under one
// grey level.

// filter is a Pillow resampling filter.
type filter struct {
	support float64
	fn      func(float64) float64
}

var filters = map[string]filter{
	"nearest":  {0, nil}, // Pillow samples floor((x+0.5)*scale); no kernel
	"box":      {0.5, boxFilter},
	"bilinear": {1, triangleFilter},
	"hamming":  {1, hammingFilter},
	"bicubic":  {2, cubicFilter},
	"lanczos":  {3, lanczosFilter},
}

func boxFilter(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func triangleFilter(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

func hammingFilter(x float64) float64 {
	x = math.Abs(x)
	switch {
	case x == 0:
		return 1
	case x >= 1:
		return 0
	}
	x *= math.Pi
	return math.Sin(x) / x * (0.54 + 0.46*math.Cos(x))
}

// cubicFilter is Pillow's bicubic kernel (a = -0.5).
func cubicFilter(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

func lanczosFilter(x float64) float64 {
	if x > -3 && x < 3 {
		return sinc(x) * sinc(x/3)
	}
	return 0
}

// rgb is a decoded image: packed 8-bit R, G, B, row after row.
type rgb struct {
	w, h int
	pix  []uint8
}

// axisWeights holds, for each output pixel of a crop along one axis, the
// first source pixel and the kernel weights (ksize per output pixel; n[i]
// of them used). pad[i] marks outputs outside the resized image (crop larger
// than the image), which become black.
type axisWeights struct {
	start []int
	n     []int
	w     []float32
	ksize int
	pad   []bool
}

// weights computes the kernel of one axis, in the way of Pillow's
// precompute_coeffs, for outputs from..from+count-1 of a resize in → out.
func weights(in, out int, f filter, from, count int) axisWeights {
	scale := float64(in) / float64(out)
	aw := axisWeights{start: make([]int, count), n: make([]int, count), pad: make([]bool, count)}
	if f.fn == nil { // nearest
		aw.ksize = 1
		aw.w = make([]float32, count)
		for i := range count {
			xx := from + i
			if xx < 0 || xx >= out {
				aw.pad[i] = true
				continue
			}
			src := int((float64(xx) + 0.5) * scale)
			aw.start[i] = min(src, in-1)
			aw.n[i] = 1
			aw.w[i] = 1
		}
		return aw
	}
	filterscale := max(scale, 1)
	support := f.support * filterscale
	aw.ksize = int(math.Ceil(support))*2 + 1
	aw.w = make([]float32, count*aw.ksize)
	ss := 1 / filterscale
	k := make([]float64, aw.ksize)
	for i := range count {
		xx := from + i
		if xx < 0 || xx >= out {
			aw.pad[i] = true
			continue
		}
		center := (float64(xx) + 0.5) * scale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), in) - xmin
		xmax = min(xmax, aw.ksize)
		var sum float64
		for x := range xmax {
			k[x] = f.fn((float64(x+xmin) - center + 0.5) * ss)
			sum += k[x]
		}
		for x := range xmax {
			if sum != 0 {
				aw.w[i*aw.ksize+x] = float32(k[x] / sum)
			}
		}
		aw.start[i] = xmin
		aw.n[i] = xmax
	}
	return aw
}

// plan is the resize and crop of one source size.
type plan struct {
	resW, resH int // resized size
	x, y       axisWeights
	rowLo      int // first source row the vertical pass reads
	rowHi      int // one past the last
}

// preprocessor turns decoded images into normalised CHW float32 tensors.
type preprocessor struct {
	width, height  int // crop (model input) size
	scaleW, scaleH int // resize target: floor(size/crop_pct)
	squash         bool
	filter         filter
	mul, add       [3]float32 // v*mul+add == (v/255-mean)/std

	mu    sync.Mutex
	plans map[[2]int]*plan
}

// maxPlans bounds the plan cache; thumbnails come in few sizes, files in
// many, and a plan is cheap to rebuild.
const maxPlans = 256

func newPreprocessor(c Config) *preprocessor {
	p := &preprocessor{
		height: c.InputSize[1],
		width:  c.InputSize[2],
		squash: c.CropMode == "squash",
		filter: filters[c.Interpolation],
		plans:  make(map[[2]int]*plan),
	}
	p.scaleH = int(math.Floor(float64(p.height) / c.CropPct))
	p.scaleW = int(math.Floor(float64(p.width) / c.CropPct))
	for ch := range 3 {
		p.mul[ch] = float32(1 / (255 * c.Std[ch]))
		p.add[ch] = float32(-c.Mean[ch] / c.Std[ch])
	}
	return p
}

// tensorLen is the number of floats of one preprocessed image.
func (p *preprocessor) tensorLen() int { return 3 * p.width * p.height }

// resized returns the size torchvision's Resize gives a w×h image: the
// shorter side becomes scaleW (keeping the aspect ratio, truncating the
// longer side), or both sides are set when squashing.
func (p *preprocessor) resized(w, h int) (rw, rh int) {
	if p.squash {
		return p.scaleW, p.scaleH
	}
	s := p.scaleW
	if w <= h {
		return s, int(float64(s*h) / float64(w))
	}
	return int(float64(s*w) / float64(h)), s
}

// planFor returns the (cached) plan for a w×h source.
func (p *preprocessor) planFor(w, h int) *plan {
	key := [2]int{w, h}
	p.mu.Lock()
	pl := p.plans[key]
	p.mu.Unlock()
	if pl != nil {
		return pl
	}
	rw, rh := p.resized(w, h)
	// torchvision's CenterCrop: int(round((size - crop) / 2.0)); Python
	// rounds halves to even.
	left := int(math.RoundToEven(float64(rw-p.width) / 2))
	top := int(math.RoundToEven(float64(rh-p.height) / 2))
	pl = &plan{
		resW: rw, resH: rh,
		x: weights(w, rw, p.filter, left, p.width),
		y: weights(h, rh, p.filter, top, p.height),
	}
	pl.rowLo, pl.rowHi = h, 0
	for i := range p.height {
		if pl.y.pad[i] {
			continue
		}
		pl.rowLo = min(pl.rowLo, pl.y.start[i])
		pl.rowHi = max(pl.rowHi, pl.y.start[i]+pl.y.n[i])
	}
	if pl.rowHi < pl.rowLo {
		pl.rowLo, pl.rowHi = 0, 0
	}
	p.mu.Lock()
	if len(p.plans) >= maxPlans {
		clear(p.plans)
	}
	p.plans[key] = pl
	p.mu.Unlock()
	return pl
}

// run resizes, crops and normalises img into dst (len tensorLen, CHW).
// tmp is scratch space, grown as needed and returned for reuse.
func (p *preprocessor) run(img rgb, dst []float32, tmp []float32) []float32 {
	pl := p.planFor(img.w, img.h)
	W, H := p.width, p.height
	rows := pl.rowHi - pl.rowLo
	// tmp holds the horizontal pass's rows, then one accumulator row.
	if n := (rows + 1) * W * 3; cap(tmp) < n {
		tmp = make([]float32, n)
	} else {
		tmp = tmp[:n]
	}
	acc := tmp[rows*W*3:]

	// Horizontal pass: source rows rowLo..rowHi → crop columns, interleaved RGB.
	xw := pl.x
	for r := range rows {
		src := img.pix[(pl.rowLo+r)*img.w*3 : (pl.rowLo+r+1)*img.w*3]
		out := tmp[r*W*3 : (r+1)*W*3]
		for j := range W {
			if xw.pad[j] {
				out[3*j], out[3*j+1], out[3*j+2] = 0, 0, 0
				continue
			}
			k := xw.w[j*xw.ksize : j*xw.ksize+xw.n[j]]
			s := src[3*xw.start[j] : 3*(xw.start[j]+len(k))]
			var r0, g0, b0 float32
			for t, wt := range k {
				r0 += float32(s[3*t]) * wt
				g0 += float32(s[3*t+1]) * wt
				b0 += float32(s[3*t+2]) * wt
			}
			out[3*j], out[3*j+1], out[3*j+2] = clamp255(r0), clamp255(g0), clamp255(b0)
		}
	}

	// Vertical pass: crop rows, then normalise into planes.
	yw := pl.y
	plane := W * H
	for i := range H {
		oR := dst[i*W : (i+1)*W]
		oG := dst[plane+i*W : plane+(i+1)*W]
		oB := dst[2*plane+i*W : 2*plane+(i+1)*W]
		if yw.pad[i] {
			for j := range W {
				oR[j], oG[j], oB[j] = p.add[0], p.add[1], p.add[2]
			}
			continue
		}
		k := yw.w[i*yw.ksize : i*yw.ksize+yw.n[i]]
		base := yw.start[i] - pl.rowLo
		clear(acc)
		for t, wt := range k {
			row := tmp[(base+t)*W*3 : (base+t+1)*W*3]
			for x, v := range row {
				acc[x] += v * wt
			}
		}
		for j := range W {
			oR[j] = clamp255(acc[3*j])*p.mul[0] + p.add[0]
			oG[j] = clamp255(acc[3*j+1])*p.mul[1] + p.add[1]
			oB[j] = clamp255(acc[3*j+2])*p.mul[2] + p.add[2]
		}
	}
	return tmp
}

func clamp255(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return v
}

// minDecodeSize is the smallest source size that still only shrinks in the
// resize: a decoder that can scale while decoding (JPEG DCT scaling) may
// stop there. It is computed for the source's aspect ratio.
func (p *preprocessor) minDecodeSize(w, h int) (mw, mh int) {
	return p.resized(w, h)
}
