package vision

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/image/bmp"

	"github.com/apsql/apsql/vision/internal/onnxgen"
)

// needRuntime loads ONNX Runtime or fails with the install command; only
// APSQL_SKIP_NATIVE=1 turns the failure into a skip.
func needRuntime(t testing.TB) {
	t.Helper()
	if os.Getenv("APSQL_SKIP_NATIVE") == "1" {
		t.Skip("APSQL_SKIP_NATIVE=1: skipping a test that needs ONNX Runtime")
	}
	if err := InitRuntime(""); err != nil {
		t.Fatalf("%v\n(run %s from the repository root; set APSQL_SKIP_NATIVE=1 only to skip native tests on purpose)", err, InstallCommand)
	}
}

// colourSpec is the test classifier: the normalised mean colour (mean and
// std 0.5, so each channel is in [-1, 1]) against six colour prototypes.
var colourSpec = onnxgen.Spec{
	Prototypes: [][3]float32{
		{1, -1, -1},  // red
		{-1, 1, -1},  // green
		{-1, -1, 1},  // blue
		{1, 1, -1},   // yellow
		{1, 1, 1},    // white
		{-1, -1, -1}, // black
	},
	Scale: 2,
}

const colourLabels = "index\tsynset\tname\n" +
	"0\tn00000000\tred\n" +
	"1\tn00000001\tgreen\n" +
	"2\tn00000002\tblue\n" +
	"3\tn00000003\tyellow\n" +
	"4\tn00000004\twhite\n" +
	"5\tn00000005\tblack\n"

// writeColourModel writes the classifier, its model.json and labels into a
// new directory and returns the model's path.
func writeColourModel(t testing.TB, spec onnxgen.Spec, cfg map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "colours.onnx")
	if err := os.WriteFile(path, spec.Model(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "colours.tsv"), []byte(colourLabels), 0o644); err != nil {
		t.Fatal(err)
	}
	base := map[string]any{
		"input_size":    []int{3, 16, 16},
		"interpolation": "bilinear",
		"crop_pct":      0.875,
		"mean":          []float64{0.5, 0.5, 0.5},
		"std":           []float64{0.5, 0.5, 0.5},
		"labels":        "colours.tsv",
	}
	for k, v := range cfg {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	b, _ := json.Marshal(base)
	if err := os.WriteFile(filepath.Join(dir, "model.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadColourModel loads a fresh colour classifier with default options.
func loadColourModel(t testing.TB) *Model {
	t.Helper()
	needRuntime(t)
	m, err := LoadModel(writeColourModel(t, colourSpec, nil), DefaultOptions())
	if err != nil {
		t.Fatalf("LoadModel: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// wantProbs is what the classifier gives a uniformly coloured image.
func wantProbs(c color.NRGBA) []float64 {
	x := [3]float64{2*float64(c.R)/255 - 1, 2*float64(c.G)/255 - 1, 2*float64(c.B)/255 - 1}
	l := colourSpec.Logits(x)
	var sum float64
	for i := range l {
		l[i] = math.Exp(l[i])
		sum += l[i]
	}
	for i := range l {
		l[i] /= sum
	}
	return l
}

func solid(w, h int, c color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return m
}

// encode returns a uniformly coloured w×h image in the given format.
func encode(t testing.TB, format string, w, h int, c color.NRGBA) []byte {
	t.Helper()
	var buf bytes.Buffer
	m := solid(w, h, c)
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, m)
	case "jpeg":
		err = jpeg.Encode(&buf, m, &jpeg.Options{Quality: 100})
	case "gif":
		// A one-colour palette keeps the colour exact.
		pm := image.NewPaletted(m.Bounds(), color.Palette{c})
		err = gif.Encode(&buf, pm, nil)
	case "bmp":
		err = bmp.Encode(&buf, m)
	case "webp":
		return solidWebP(w, h, c)
	default:
		t.Fatalf("encode: unknown format %q", format)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeFile writes data to dir/rel with modification time mtime.
func writeFile(t testing.TB, dir, rel string, data []byte, mtime time.Time) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return p
}

// solidWebP encodes a uniformly coloured lossless WebP (VP8L): no
// transforms, and five one-symbol prefix codes, so every pixel takes zero
// bits. Go has no WebP encoder; this is enough to test decoding.
func solidWebP(w, h int, c color.NRGBA) []byte {
	var bw struct {
		buf   []byte
		acc   uint64
		nbits uint
	}
	put := func(v uint32, n uint) {
		bw.acc |= uint64(v) << bw.nbits
		bw.nbits += n
		for bw.nbits >= 8 {
			bw.buf = append(bw.buf, byte(bw.acc))
			bw.acc >>= 8
			bw.nbits -= 8
		}
	}
	put(0x2f, 8) // signature
	put(uint32(w-1), 14)
	put(uint32(h-1), 14)
	put(0, 1) // alpha is not used
	put(0, 3) // version
	put(0, 1) // no transform
	put(0, 1) // no colour cache
	put(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, 0xff} {
		put(1, 1) // simple code
		put(0, 1) // one symbol
		put(1, 1) // 8-bit symbol
		put(uint32(sym), 8)
	}
	put(1, 1) // distance: simple code, one 1-bit symbol, 0
	put(0, 1)
	put(0, 1)
	put(0, 1)
	if bw.nbits > 0 {
		bw.buf = append(bw.buf, byte(bw.acc))
	}
	data := bw.buf
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	var out []byte
	out = append(out, "RIFF"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(4+8+len(data)))
	out = append(out, "WEBPVP8L"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(bw.buf)))
	return append(out, data...)
}
