package vision

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDecodeFormats(t *testing.T) {
	c := color.NRGBA{200, 100, 50, 255}
	for _, f := range []string{"png", "jpeg", "gif", "bmp", "webp"} {
		t.Run(f, func(t *testing.T) {
			img, err := decode(encode(t, f, 12, 7, c), nil)
			if err != nil {
				t.Fatalf("decode %s: %v", f, err)
			}
			if img.w != 12 || img.h != 7 {
				t.Fatalf("decode %s: size %dx%d, want 12x7", f, img.w, img.h)
			}
			tol := 0
			if f == "jpeg" {
				tol = 3 // YCbCr round trip
			}
			got := color.NRGBA{img.pix[0], img.pix[1], img.pix[2], 255}
			if absDiff(got.R, c.R) > tol || absDiff(got.G, c.G) > tol || absDiff(got.B, c.B) > tol {
				t.Errorf("decode %s: first pixel %v, want %v", f, got, c)
			}
		})
	}
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestDecodeUnsupported(t *testing.T) {
	heic := append([]byte{0, 0, 0, 24}, []byte("ftypheic\x00\x00\x00\x00mif1heic")...)
	jpegData := encode(t, "jpeg", 40, 30, color.NRGBA{1, 2, 3, 255})
	tests := []struct {
		name        string
		data        []byte
		unsupported bool
		want        string
	}{
		{"heic", heic, true, "HEIC"},
		{"text", []byte("hello, world"), true, "not a JPEG"},
		{"empty", nil, true, "not a JPEG"},
		{"mp4", append([]byte{0, 0, 0, 24}, []byte("ftypisom")...), true, "video"},
		{"truncated jpeg", jpegData[:len(jpegData)/3], false, "jpeg"},
		{"damaged png", []byte("\x89PNG\r\n\x1a\nnot really"), false, "png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(tc.data, nil)
			if err == nil {
				t.Fatalf("decode(%s) = nil error, want one", tc.name)
			}
			if errors.Is(err, ErrUnsupported) != tc.unsupported {
				t.Errorf("decode(%s) = %v; errors.Is(ErrUnsupported) = %v, want %v", tc.name, err, !tc.unsupported, tc.unsupported)
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
				t.Errorf("decode(%s) = %q, want it to mention %q", tc.name, err, tc.want)
			}
		})
	}
}

// TestJPEGDecoders checks that libjpeg-turbo (when installed) and Go's
// decoder agree, and that DCT scaling stops at the size the resize needs.
func TestJPEGDecoders(t *testing.T) {
	if turboJPEG() == nil {
		t.Skipf("libturbojpeg not installed: %s", JPEGDecoder())
	}
	data := encode(t, "jpeg", 800, 600, color.NRGBA{30, 160, 220, 255})
	need := func(w, h int) (int, int) { return 250, 180 }
	fast, err := decode(data, need)
	if err != nil {
		t.Fatal(err)
	}
	// 800*3/8 = 300 ≥ 250 and 600*3/8 = 225 ≥ 180, while 2/8 gives 150 < 180.
	if fast.w != 300 || fast.h != 225 {
		t.Errorf("turbo decode size %dx%d, want 300x225 (3/8 scale)", fast.w, fast.h)
	}
	forceGoJPEG = true
	slow, err := decode(data, need)
	forceGoJPEG = false
	if err != nil {
		t.Fatal(err)
	}
	if slow.w != 800 || slow.h != 600 {
		t.Errorf("Go decode size %dx%d, want 800x600", slow.w, slow.h)
	}
	for i := range 3 {
		if d := absDiff(fast.pix[i], slow.pix[i]); d > 3 {
			t.Errorf("channel %d: turbo %d, Go %d", i, fast.pix[i], slow.pix[i])
		}
	}
}

// photo returns a w×h JPEG with smooth gradients and noise, like a photo.
func photo(b *testing.B, w, h int) []byte {
	b.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			n := uint8(r.IntN(12))
			m.SetRGBA(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, uint8((x+y)*127/(w+h)) + n, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkDecode measures decoding plus preprocessing for edgenext_small
// (256 px, crop_pct 0.95) of a thumbnail and of a 12-megapixel photo, with
// each JPEG decoder.
func BenchmarkDecode(b *testing.B) {
	c := DefaultConfig()
	c.InputSize, c.CropPct = []int{3, 256, 256}, 0.95
	p := newPreprocessor(c)
	for _, size := range [][2]int{{448, 336}, {4000, 3000}} {
		data := photo(b, size[0], size[1])
		for _, dec := range []string{"turbo", "go"} {
			b.Run(fmt.Sprintf("%dx%d/%s", size[0], size[1], dec), func(b *testing.B) {
				if dec == "turbo" && turboJPEG() == nil {
					b.Skip("libturbojpeg not installed")
				}
				forceGoJPEG = dec == "go"
				defer func() { forceGoJPEG = false }()
				dst := make([]float32, p.tensorLen())
				var tmp []float32
				for b.Loop() {
					img, err := decode(data, p.minDecodeSize)
					if err != nil {
						b.Fatal(err)
					}
					tmp = p.run(img, dst, tmp)
				}
			})
		}
	}
}
