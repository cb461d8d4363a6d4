package dupes

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/draw"
)

// pattern draws a photo-like test image: smooth shapes over a gradient.
func pattern(w, h int, seed float64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			v := 120 + 60*math.Sin(6*fx+seed) + 50*math.Cos(5*fy*seed+1)
			if (fx-0.3*seed)*(fx-0.3*seed)+(fy-0.5)*(fy-0.5) < 0.05 {
				v = 30
			}
			c := uint8(math.Max(0, math.Min(255, v)))
			img.SetRGBA(x, y, color.RGBA{c, c / 2, 255 - c, 255})
		}
	}
	return img
}

func encode(t *testing.T, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func hashOf(t *testing.T, data []byte) Hashes {
	t.Helper()
	img, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Hash(img)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashNearAndFar(t *testing.T) {
	a := pattern(160, 120, 1)
	small := image.NewRGBA(image.Rect(0, 0, 64, 48))
	draw.ApproxBiLinear.Scale(small, small.Bounds(), a, a.Bounds(), draw.Src, nil)
	// A letterboxed copy: black bars above and below.
	box := image.NewRGBA(image.Rect(0, 0, 160, 200))
	draw.Draw(box, box.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	draw.Draw(box, image.Rect(0, 40, 160, 160), a, image.Point{}, draw.Src)
	ha := hashOf(t, encode(t, a, 90))
	for name, img := range map[string]image.Image{"recompressed": a, "resized": small, "letterboxed": box} {
		if d := Distance(ha.PHash, hashOf(t, encode(t, img, 40)).PHash); d > 6 {
			t.Errorf("%s: pHash distance %d, want ≤ 6", name, d)
		}
	}
	if d := Distance(ha.PHash, hashOf(t, encode(t, pattern(160, 120, 2.3), 90)).PHash); d < 12 {
		t.Errorf("another image: pHash distance %d, want ≥ 12", d)
	}
}

func TestBadThumbnails(t *testing.T) {
	good := encode(t, pattern(80, 60, 1), 90)
	for _, tt := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrNotImage},
		{"html error page", []byte("<html><body>503</body></html>"), ErrNotImage},
		{"json", []byte(`{"message":"Not Found"}`), ErrNotImage},
		{"truncated jpeg", good[:len(good)/2], ErrUndecodable},
		{"video", append([]byte{0, 0, 0, 24}, []byte("ftypisom\x00\x00\x02\x00isomiso2")...), ErrNotImage},
	} {
		if _, err := Decode(tt.data); !errors.Is(err, tt.want) {
			t.Errorf("%s: Decode = %v, want %v", tt.name, err, tt.want)
		}
		var h Hasher
		if _, size, err := h.HashData(tt.data); !errors.Is(err, tt.want) || size != (image.Point{}) {
			t.Errorf("%s: HashData = %v, %v; want %v and no size", tt.name, size, err, tt.want)
		}
	}
	var h Hasher
	flatJPEG := image.NewGray(image.Rect(0, 0, 64, 48))
	for i := range flatJPEG.Pix {
		flatJPEG.Pix[i] = 90
	}
	if _, size, err := h.HashData(encode(t, flatJPEG, 85)); !errors.Is(err, ErrFlat) || size != image.Pt(64, 48) {
		t.Errorf("a flat JPEG: HashData = %v, %v; want ErrFlat and its size", size, err)
	}
	flat := image.NewGray(image.Rect(0, 0, 50, 50))
	for i := range flat.Pix {
		flat.Pix[i] = 90
	}
	if _, err := Hash(flat); !errors.Is(err, ErrFlat) {
		t.Errorf("flat image: Hash = %v, want ErrFlat", err)
	}
	tiny := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := range tiny.Pix {
		tiny.Pix[i] = uint8(i * 20)
	}
	if _, err := Hash(tiny); err != nil {
		t.Errorf("a 3×2 image: %v", err)
	}
}

// loopCPU runs f in b.Loop and reports its CPU time per operation too.
func loopCPU(b *testing.B, f func() error) {
	b.ReportAllocs()
	c0, n := cpuTime(), 0
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(n), "cpu-ns/op")
}

// thumbnails are eight 64-pixel thumbnails the emulator serves
// (testdata/emulator-*.jpeg: image/jpeg's encoder at quality 85, 4:2:0,
// 650 to 2,700 bytes).
func thumbnails(b *testing.B) [][]byte {
	files, err := filepath.Glob("testdata/emulator-*.jpeg")
	if err != nil || len(files) < 8 {
		b.Fatalf("testdata/emulator-*.jpeg: %v (%d files)", err, len(files))
	}
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// BenchmarkThumbnail: decoding and hashing one 64-pixel thumbnail, as
// SYNC HASHES did before the Hasher (Decode, then the hash of
// hashref_test.go) and as it does now (a Hasher's HashData), and each
// half alone.
func BenchmarkThumbnail(b *testing.B) {
	data := thumbnails(b)
	imgs := make([]image.Image, len(data))
	for i, d := range data {
		img, err := Decode(d)
		if err != nil {
			b.Fatal(err)
		}
		imgs[i] = img
	}
	// each runs f on the thumbnails in turn.
	each := func(f func(i int) error) func() error {
		i := 0
		return func() error {
			err := f(i % len(data))
			i++
			return err
		}
	}
	b.Run("before", func(b *testing.B) {
		loopCPU(b, each(func(i int) error {
			img, err := Decode(data[i])
			if err == nil {
				_, err = HashRef(img)
			}
			return err
		}))
	})
	b.Run("before-decode", func(b *testing.B) { loopCPU(b, each(func(i int) error { _, err := Decode(data[i]); return err })) })
	b.Run("before-hash", func(b *testing.B) { loopCPU(b, each(func(i int) error { _, err := HashRef(imgs[i]); return err })) })
	var h Hasher
	b.Run("after", func(b *testing.B) {
		loopCPU(b, each(func(i int) error { _, _, err := h.HashData(data[i]); return err }))
	})
	b.Run("after-decode", func(b *testing.B) { loopCPU(b, each(func(i int) error { _, err := Decode(data[i]); return err })) })
	b.Run("after-hash", func(b *testing.B) { loopCPU(b, each(func(i int) error { _, err := h.Hash(imgs[i]); return err })) })
}
