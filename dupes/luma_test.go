package dupes

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/image/draw"
)

// The JPEGs of testdata/ are image/jpeg's own test images (Go's
// src/image/testdata): every chroma subsampling image/jpeg decodes, a
// restart interval, grey, and four that lumaDecoder leaves to image/jpeg
// (two progressive, CMYK, RGB).
var lumaFallbacks = map[string]bool{
	"video-001.q50.420.progressive.jpeg":     true,
	"video-001.separate.dc.progression.jpeg": true,
	"video-001.cmyk.jpeg":                    true,
	"video-001.rgb.jpeg":                     true,
}

// jpegCorpus is testdata's JPEGs and thumbnails made here the way the
// emulator makes them (image/jpeg's encoder, 4:2:0 or grey, quality
// 40-95), of every size from 1×1 to 70×53, bars and letterboxes too.
func jpegCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	files, err := filepath.Glob("testdata/*.jpeg")
	if err != nil || len(files) == 0 {
		t.Fatalf("testdata JPEGs: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	enc := func(name string, img image.Image, q int) {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
			t.Fatal(err)
		}
		out[name] = b.Bytes()
	}
	src := pattern(320, 240, 1.7)
	for w := 1; w <= 70; w += 3 {
		h := max(1, w*3/4)
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
		enc(fmt.Sprintf("rgba-%dx%d-q%d", w, h, 40+w%56), dst, 40+w%56)
		grey := image.NewGray(dst.Bounds())
		draw.Draw(grey, grey.Bounds(), dst, image.Point{}, draw.Src)
		enc(fmt.Sprintf("grey-%dx%d", w, h), grey, 85)
	}
	for _, s := range []float64{0.3, 1, 2.3, 4.1} {
		enc(fmt.Sprintf("pattern-%.1f", s), pattern(64, 48, s), 85)
		// A screenshot of it: black bars above and below, white at the sides.
		box := image.NewRGBA(image.Rect(0, 0, 48, 64))
		draw.Draw(box, box.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
		draw.Draw(box, image.Rect(0, 20, 48, 44), pattern(48, 24, s), image.Point{}, draw.Src)
		enc(fmt.Sprintf("screenshot-%.1f", s), box, 75)
		side := image.NewRGBA(image.Rect(0, 0, 64, 48))
		draw.Draw(side, side.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(side, image.Rect(12, 0, 52, 48), pattern(40, 48, s), image.Point{}, draw.Src)
		enc(fmt.Sprintf("pillarbox-%.1f", s), side, 90)
	}
	flat := image.NewGray(image.Rect(0, 0, 64, 48))
	for i := range flat.Pix {
		flat.Pix[i] = 200
	}
	enc("flat", flat, 85)
	return out
}

// yPlane is the luminance image/jpeg decodes: Y of a YCbCr, the pixels of
// a Gray.
func yPlane(img image.Image) (pix []byte, stride int, ok bool) {
	switch m := img.(type) {
	case *image.YCbCr:
		return m.Y[m.YOffset(m.Rect.Min.X, m.Rect.Min.Y):], m.YStride, true
	case *image.Gray:
		return m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y):], m.Stride, true
	}
	return nil, 0, false
}

// sameLuma says where lumaDecoder's plane differs from image/jpeg's.
func sameLuma(d *lumaDecoder, img image.Image) error {
	want, stride, ok := yPlane(img)
	if !ok {
		return fmt.Errorf("image/jpeg decodes it to %T, lumaDecoder decoded it", img)
	}
	b := img.Bounds()
	if d.width != b.Dx() || d.height != b.Dy() {
		return fmt.Errorf("size %dx%d, image/jpeg %dx%d", d.width, d.height, b.Dx(), b.Dy())
	}
	for y := range d.height {
		got := d.pix[y*d.stride : y*d.stride+d.width]
		w := want[y*stride : y*stride+d.width]
		if !bytes.Equal(got, w) {
			return fmt.Errorf("row %d differs:\n got %v\nwant %v", y, got, w)
		}
	}
	return nil
}

// TestLumaMatchesImageJPEG: the luminance plane of every sequential JPEG
// is byte for byte image/jpeg's, and what lumaDecoder does not decode it
// says so (the caller then uses image/jpeg).
func TestLumaMatchesImageJPEG(t *testing.T) {
	var d lumaDecoder // one decoder for all: nothing leaks from one to the next
	n := 0
	for name, data := range jpegCorpus(t) {
		err := d.decode(data)
		if lumaFallbacks[name] {
			if !errors.Is(err, errLumaFallback) {
				t.Errorf("%s: decode = %v, want errLumaFallback", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: image/jpeg: %v", name, err)
		}
		if err := sameLuma(&d, img); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		n++
	}
	if n < 50 {
		t.Errorf("only %d JPEGs compared", n)
	}
}

// TestLumaBadData: truncated, damaged and foreign bytes are refused (the
// caller then asks image/jpeg, which names the error), never a panic.
func TestLumaBadData(t *testing.T) {
	var d lumaDecoder
	good := jpegCorpus(t)["video-001.q50.420.jpeg"]
	for _, data := range [][]byte{nil, {0xff}, {0xff, 0xd8}, good[:len(good)/2], good[:300], []byte("<html>"), append([]byte{0xff, 0xd8, 0xff, 0xc0, 0, 11}, make([]byte, 9)...)} {
		if err := d.decode(data); err == nil {
			t.Errorf("%q...: decode accepted it", data[:min(len(data), 12)])
		}
	}
}

// TestLumaMutations: thousands of damaged copies of the corpus (bytes
// changed, bits flipped, cut short), and whenever lumaDecoder accepts one,
// image/jpeg decodes it to the same luminance (the fuzzer's check,
// deterministic and in every test run).
func TestLumaMutations(t *testing.T) {
	var seeds [][]byte
	for _, data := range jpegCorpus(t) {
		seeds = append(seeds, data)
	}
	slices.SortFunc(seeds, bytes.Compare)
	n := 20000
	if testing.Short() {
		n = 3000
	}
	r := rand.New(rand.NewPCG(1, 2))
	var d lumaDecoder
	accepted := 0
	for range n {
		s := slices.Clone(seeds[r.IntN(len(seeds))])
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
		if d.decode(s) != nil {
			continue
		}
		accepted++
		img, err := jpeg.Decode(bytes.NewReader(s))
		if err != nil {
			t.Fatalf("lumaDecoder accepted what image/jpeg refuses (%v): %q", err, s)
		}
		if err := sameLuma(&d, img); err != nil {
			t.Fatalf("%v: %q", err, s)
		}
	}
	if accepted < n/10 {
		t.Errorf("only %d of %d damaged JPEGs decoded: the check checks little", accepted, n)
	}
}

// TestHasherMatchesReference: HashData and Hash give the same bits and
// the same errors as the hash before the Hasher (hashref_test.go), so
// the hashes users stored stay valid.
func TestHasherMatchesReference(t *testing.T) {
	var h Hasher
	compared := 0
	for name, data := range jpegCorpus(t) {
		img, derr := Decode(data)
		got, size, err := h.HashData(data)
		if derr != nil {
			if err == nil || err.Error() != derr.Error() {
				t.Errorf("%s: HashData error %v, Decode error %v", name, err, derr)
			}
			continue
		}
		if size != img.Bounds().Size() {
			t.Errorf("%s: size %v, want %v", name, size, img.Bounds().Size())
		}
		want, werr := HashRef(img)
		if fmt.Sprint(err) != fmt.Sprint(werr) || got != want {
			t.Errorf("%s: HashData = %016x %016x, %v; before: %016x %016x, %v", name, got.PHash, got.DHash, err, want.PHash, want.DHash, werr)
		}
		if g2, err2 := Hash(img); g2 != want || fmt.Sprint(err2) != fmt.Sprint(werr) {
			t.Errorf("%s: Hash = %016x, %v; before %016x, %v", name, g2.PHash, err2, want.PHash, werr)
		}
		compared++
	}
	// Images that are no JPEG: RGBA, grey, paletted.
	for _, img := range []image.Image{pattern(64, 48, 1), pattern(37, 91, 3.3), image.NewGray(image.Rect(0, 0, 10, 10)),
		image.NewPaletted(image.Rect(0, 0, 9, 9), color.Palette{color.Black, color.White})} {
		want, werr := HashRef(img)
		got, err := h.Hash(img)
		if got != want || fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Errorf("%T %v: Hash = %016x, %v; before %016x, %v", img, img.Bounds(), got.PHash, err, want.PHash, werr)
		}
	}
	if compared < 50 {
		t.Errorf("only %d thumbnails compared", compared)
	}
}

// FuzzLuma: whatever the bytes, lumaDecoder never panics, and when it
// accepts them image/jpeg decodes them to the same luminance; HashData
// agrees with Decode on whether there is an image.
func FuzzLuma(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input it finds, one
	// byte at a time, which takes minutes for the 20 KB images.
	for name, data := range jpegCorpus(f) {
		if len(data) < 5000 && (strings.HasPrefix(name, "video") || strings.HasSuffix(name, "x53") || name == "pattern-1.0") {
			f.Add(data)
		}
	}
	var d lumaDecoder
	var h Hasher
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8<<10 {
			return
		}
		// Large frames only make each run slow (the fuzzer runs a new
		// input thousands of times to minimize it).
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(data)); err == nil && cfg.Width*cfg.Height > 1<<16 {
			return
		}
		if err := d.decode(data); err == nil {
			img, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("lumaDecoder accepted what image/jpeg refuses: %v", err)
			}
			if err := sameLuma(&d, img); err != nil {
				t.Fatal(err)
			}
		}
		_, derr := Decode(data)
		if _, _, err := h.HashData(data); derr != nil && (err == nil || err.Error() != derr.Error()) {
			t.Fatalf("HashData: %v, Decode: %v", err, derr)
		}
	})
}
