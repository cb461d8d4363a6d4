package vision

import (
	"math"
	"testing"
)

// testConfig is a config with identity normalisation (mean 0, std 1), so
// tensor values are pixel/255.
func testConfig(size int, interp string, cropPct float64) Config {
	return Config{
		InputSize:     []int{3, size, size},
		Interpolation: interp,
		CropPct:       cropPct,
		CropMode:      "center",
		Mean:          []float64{0, 0, 0},
		Std:           []float64{1, 1, 1},
		Output:        "logits",
	}
}

// gradient returns a w×h image with R = fr(x), G = fg(y), B = 255.
func gradient(w, h int, fr func(x int) uint8, fg func(y int) uint8) rgb {
	img := rgb{w: w, h: h, pix: make([]uint8, 3*w*h)}
	for y := range h {
		for x := range w {
			o := 3 * (y*w + x)
			img.pix[o], img.pix[o+1], img.pix[o+2] = fr(x), fg(y), 255
		}
	}
	return img
}

// planes runs the preprocessor and returns the tensor times 255 (pixel
// values), as [channel][row][col].
func planes(t *testing.T, c Config, img rgb) [3][][]float64 {
	t.Helper()
	if err := c.validate("test"); err != nil {
		t.Fatal(err)
	}
	p := newPreprocessor(c)
	dst := make([]float32, p.tensorLen())
	p.run(img, dst, nil)
	var out [3][][]float64
	for ch := range 3 {
		for i := range p.height {
			row := make([]float64, p.width)
			for j := range p.width {
				row[j] = float64(dst[ch*p.width*p.height+i*p.width+j]) * 255
			}
			out[ch] = append(out[ch], row)
		}
	}
	return out
}

func checkPlane(t *testing.T, name string, got, want [][]float64) {
	t.Helper()
	for i := range want {
		for j := range want[i] {
			if math.Abs(got[i][j]-want[i][j]) > 1e-3 {
				t.Errorf("%s[%d][%d] = %.4f, want %.4f (plane %v)", name, i, j, got[i][j], want[i][j], got)
				return
			}
		}
	}
}

func TestPreprocessHandComputed(t *testing.T) {
	ramp := func(step int) func(int) uint8 { return func(v int) uint8 { return uint8(v * step) } }
	tests := []struct {
		name    string
		cfg     Config
		img     rgb
		r, g, b [][]float64
	}{
		{
			// Pillow's bilinear 4→2: support widens to 2; output 0 sees
			// pixels 0,1,2 with weights 3/7,3/7,1/7 (0.75,0.75,0.25
			// normalised), output 1 sees 1,2,3 with 1/7,3/7,3/7.
			// Row 0,70,140,210 → (0*3+70*3+140)/7 = 50, (70+140*3+210*3)/7 = 160.
			name: "bilinear downscale by two",
			cfg:  testConfig(2, "bilinear", 1),
			img:  gradient(4, 4, ramp(70), ramp(70)),
			r:    [][]float64{{50, 160}, {50, 160}},
			g:    [][]float64{{50, 50}, {160, 160}},
			b:    [][]float64{{255, 255}, {255, 255}},
		},
		{
			// No resize (shorter side is already 3); the crop of width 3
			// from 5 starts at round((5-3)/2) = 1. Bicubic at scale 1 is
			// the identity.
			name: "centre crop without resize",
			cfg:  testConfig(3, "bicubic", 1),
			img:  gradient(5, 3, ramp(10), ramp(20)),
			r:    [][]float64{{10, 20, 30}, {10, 20, 30}, {10, 20, 30}},
			g:    [][]float64{{0, 0, 0}, {20, 20, 20}, {40, 40, 40}},
		},
		{
			// (4-1)/2 = 1.5 rounds to even (2), as Python's round does.
			name: "crop offset rounds half to even",
			cfg:  testConfig(1, "bilinear", 1),
			img:  gradient(4, 1, ramp(10), ramp(0)),
			r:    [][]float64{{20}},
		},
		{
			// Nearest 4→2 samples floor((x+0.5)*2): pixels 1 and 3.
			name: "nearest downscale",
			cfg:  testConfig(2, "nearest", 1),
			img:  gradient(4, 4, ramp(10), ramp(10)),
			r:    [][]float64{{10, 30}, {10, 30}},
			g:    [][]float64{{10, 10}, {30, 30}},
		},
		{
			// crop_pct 0.5: resize 6→4 (floor(2/0.5)), crop outputs 1..2.
			// Box at scale 1.5 has support 0.75 and evaluates box((x -
			// centre + 0.5)/1.5), true on (-0.5, 0.5]: output 1 (centre
			// 2.25) takes pixel 2 alone = 60; output 2 (centre 3.75) takes
			// pixels 3 and 4 equally = (90+120)/2 = 105.
			name: "crop_pct shrinks the crop",
			cfg:  testConfig(2, "box", 0.5),
			img:  gradient(6, 6, ramp(30), ramp(30)),
			r:    [][]float64{{60, 105}, {60, 105}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planes(t, tc.cfg, tc.img)
			checkPlane(t, "R", got[0], tc.r)
			if tc.g != nil {
				checkPlane(t, "G", got[1], tc.g)
			}
			if tc.b != nil {
				checkPlane(t, "B", got[2], tc.b)
			}
		})
	}
}

func TestPreprocessNormalises(t *testing.T) {
	c := DefaultConfig()
	c.InputSize = []int{3, 4, 4}
	p := newPreprocessor(c)
	img := gradient(8, 8, func(int) uint8 { return 255 }, func(int) uint8 { return 0 })
	dst := make([]float32, p.tensorLen())
	p.run(img, dst, nil)
	want := [3]float64{(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (1 - 0.406) / 0.225}
	for ch := range 3 {
		for i := range 16 {
			if got := float64(dst[ch*16+i]); math.Abs(got-want[ch]) > 1e-5 {
				t.Fatalf("channel %d value %d = %v, want %v", ch, i, got, want[ch])
			}
		}
	}
}

func TestResizedSize(t *testing.T) {
	// edgenext_small: 256 px, crop_pct 0.95 → shorter side floor(269.47) = 269.
	c := DefaultConfig()
	c.InputSize, c.CropPct = []int{3, 256, 256}, 0.95
	p := newPreprocessor(c)
	tests := []struct{ w, h, rw, rh int }{
		{448, 336, 358, 269}, // int(269*448/336) = int(358.67)
		{336, 448, 269, 358},
		{4000, 3000, 358, 269},
		{269, 269, 269, 269},
		{100, 50, 538, 269}, // upscaled
	}
	for _, tc := range tests {
		if rw, rh := p.resized(tc.w, tc.h); rw != tc.rw || rh != tc.rh {
			t.Errorf("resized(%d, %d) = %d, %d, want %d, %d", tc.w, tc.h, rw, rh, tc.rw, tc.rh)
		}
	}
	c.CropMode = "squash"
	p = newPreprocessor(c)
	if rw, rh := p.resized(448, 336); rw != 269 || rh != 269 {
		t.Errorf("squash resized(448, 336) = %d, %d, want 269, 269", rw, rh)
	}
}

func TestPreprocessConstantStaysConstant(t *testing.T) {
	// Every filter's weights sum to one, so a flat image stays flat at
	// any scale, down or up.
	for interp := range filters {
		for _, size := range [][2]int{{37, 23}, {600, 400}, {5, 9}} {
			c := testConfig(8, interp, 0.875)
			img := gradient(size[0], size[1], func(int) uint8 { return 200 }, func(int) uint8 { return 17 })
			got := planes(t, c, img)
			for i := range 8 {
				for j := range 8 {
					if math.Abs(got[0][i][j]-200) > 1e-2 || math.Abs(got[1][i][j]-17) > 1e-2 {
						t.Fatalf("%s %v: pixel %d,%d = %v,%v, want 200,17", interp, size, i, j, got[0][i][j], got[1][i][j])
					}
				}
			}
		}
	}
}

func BenchmarkPreprocess448(b *testing.B) {
	c := DefaultConfig()
	c.InputSize, c.CropPct = []int{3, 256, 256}, 0.95
	p := newPreprocessor(c)
	img := gradient(448, 336, func(x int) uint8 { return uint8(x) }, func(y int) uint8 { return uint8(y) })
	dst := make([]float32, p.tensorLen())
	var tmp []float32
	b.ReportAllocs()
	for b.Loop() {
		tmp = p.run(img, dst, tmp)
	}
}
