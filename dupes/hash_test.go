package dupes

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
// SYNC HASHES did before the Hasher (DecodeRef and HashRef, the code of
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
			img, err := DecodeRef(data[i])
			if err == nil {
				_, err = HashRef(img)
			}
			return err
		}))
	})
	b.Run("before-decode", func(b *testing.B) { loopCPU(b, each(func(i int) error { _, err := DecodeRef(data[i]); return err })) })
	b.Run("before-hash", func(b *testing.B) { loopCPU(b, each(func(i int) error { _, err := HashRef(imgs[i]); return err })) })
	var h Hasher
	b.Run("after", func(b *testing.B) {
		loopCPU(b, each(func(i int) error { _, _, err := h.HashData(data[i]); return err }))
	})
	b.Run("after-decode", func(b *testing.B) { loopCPU(b, each(func(i int) error { _, err := Decode(data[i]); return err })) })
	b.Run("after-hash", func(b *testing.B) { loopCPU(b, each(func(i int) error { _, err := h.Hash(imgs[i]); return err })) })
}

// jpegs are the emulator's thumbnails and JPEGs of every size from 1×1 to
// 70×53, colour and grey, at qualities 40 to 95.
func jpegs(t testing.TB) [][]byte {
	files, err := filepath.Glob("testdata/emulator-*.jpeg")
	if err != nil || len(files) == 0 {
		t.Fatalf("testdata/emulator-*.jpeg: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	src := pattern(320, 240, 1.7)
	for w := 1; w <= 70; w += 3 {
		h := max(1, w*3/4)
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
		grey := image.NewGray(dst.Bounds())
		draw.Draw(grey, grey.Bounds(), dst, image.Point{}, draw.Src)
		for _, img := range []image.Image{dst, grey} {
			var b bytes.Buffer
			if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 40 + w%56}); err != nil {
				t.Fatal(err)
			}
			out = append(out, b.Bytes())
		}
	}
	return out
}

// TestJPEGSize: the frame size read from the header is DecodeConfig's;
// what is no JPEG, or is cut before its frame header, has none.
func TestJPEGSize(t *testing.T) {
	for _, data := range jpegs(t) {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if w, h, ok := jpegSize(data); !ok || w != cfg.Width || h != cfg.Height {
			t.Errorf("jpegSize = %d, %d, %v; DecodeConfig says %dx%d", w, h, ok, cfg.Width, cfg.Height)
		}
		if _, _, ok := jpegSize(data[:20]); ok {
			t.Errorf("jpegSize of the first 20 bytes: ok")
		}
	}
	for _, data := range [][]byte{nil, {0xff, 0xd8}, []byte("<html>"), {0x89, 'P', 'N', 'G', 0, 0, 0, 0}} {
		if _, _, ok := jpegSize(data); ok {
			t.Errorf("jpegSize(%q): ok", data)
		}
	}
}

// damage changes one to three things in s: a byte replaced, a bit
// flipped, or the end cut off.
func damage(r *rand.Rand, s []byte) []byte {
	for range 1 + r.IntN(3) {
		switch r.IntN(3) {
		case 0:
			s[r.IntN(len(s))] = byte(r.Uint32())
		case 1:
			s[r.IntN(len(s))] ^= 1 << r.IntN(8)
		case 2:
			s = s[:1+r.IntN(len(s))]
		}
	}
	return s
}

// TestDecodeAsBefore: on thousands of damaged JPEGs (bytes changed, bits
// flipped, cut short) Decode gives what it gave before its JPEG shortcut
// (DecodeRef): the same pixels, or the same error, word for word.
func TestDecodeAsBefore(t *testing.T) {
	seeds := jpegs(t)
	n := 20000
	if testing.Short() {
		n = 3000
	}
	r := rand.New(rand.NewPCG(1, 2))
	decoded := 0
	for k := range n {
		s := slices.Clone(seeds[r.IntN(len(seeds))])
		if k >= len(seeds) { // the seeds as they are first
			s = damage(r, s)
		}
		got, err := Decode(s)
		want, werr := DecodeRef(s)
		if fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("Decode: %v; before: %v (%q)", err, werr, s)
		}
		if err != nil {
			continue
		}
		decoded++
		if got.Bounds() != want.Bounds() {
			t.Fatalf("Decode: %v; before: %v", got.Bounds(), want.Bounds())
		}
		for y := got.Bounds().Min.Y; y < got.Bounds().Max.Y; y++ {
			for x := got.Bounds().Min.X; x < got.Bounds().Max.X; x++ {
				if got.At(x, y) != want.At(x, y) {
					t.Fatalf("Decode: pixel %d,%d %v; before %v", x, y, got.At(x, y), want.At(x, y))
				}
			}
		}
	}
	if decoded < n/10 {
		t.Errorf("only %d of %d JPEGs decoded: the check checks little", decoded, n)
	}
}

// TestHashAsBefore: the Hasher gives the bits and the errors of the hash
// before it (hashref_test.go) on every thumbnail of jpegs, on screenshots
// and letterboxes (trimmed), on flat images, and on RGBA, grey and
// paletted images, so the hashes users stored stay valid.
func TestHashAsBefore(t *testing.T) {
	var imgs []image.Image
	for _, data := range jpegs(t) {
		img, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	for _, s := range []float64{0.3, 1, 2.3, 4.1} {
		shot := image.NewRGBA(image.Rect(0, 0, 48, 64)) // black bars above and below
		draw.Draw(shot, shot.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
		draw.Draw(shot, image.Rect(0, 20, 48, 44), pattern(48, 24, s), image.Point{}, draw.Src)
		side := image.NewRGBA(image.Rect(0, 0, 64, 48)) // white at the sides
		draw.Draw(side, side.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(side, image.Rect(12, 0, 52, 48), pattern(40, 48, s), image.Point{}, draw.Src)
		for _, img := range []image.Image{shot, side, pattern(64, 48, s), pattern(37, 91, s)} {
			var b bytes.Buffer
			if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
				t.Fatal(err)
			}
			dec, err := Decode(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			imgs = append(imgs, img, dec)
		}
	}
	flat := image.NewGray(image.Rect(0, 0, 64, 48))
	for i := range flat.Pix {
		flat.Pix[i] = 200
	}
	imgs = append(imgs, flat, image.NewPaletted(image.Rect(0, 0, 9, 9), color.Palette{color.Black, color.White}))
	var h Hasher
	for _, img := range imgs {
		want, werr := HashRef(img)
		got, err := h.Hash(img)
		if got != want || fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Errorf("%T %v: Hash = %016x %016x, %v; before %016x %016x, %v", img, img.Bounds(), got.PHash, got.DHash, err, want.PHash, want.DHash, werr)
		}
	}
}
