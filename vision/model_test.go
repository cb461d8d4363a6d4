package vision

import (
	"bytes"
	"context"
	"errors"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/vision/internal/onnxgen"
)

func TestClassifyProbabilities(t *testing.T) {
	m := loadColourModel(t)
	colours := map[string]color.NRGBA{
		"red":    {255, 0, 0, 255},
		"orange": {255, 102, 0, 255},
		"white":  {255, 255, 255, 255},
		"teal":   {0, 128, 128, 255},
	}
	var imgs []Image
	for id, c := range colours {
		imgs = append(imgs, Image{ID: id, Data: encode(t, "png", 30, 20, c)})
	}
	opts := DefaultOptions()
	opts.TopK = 6
	res, err := m.Classify(t.Context(), imgs, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.ID != imgs[i].ID {
			t.Fatalf("result %d has ID %q, want %q (input order)", i, r.ID, imgs[i].ID)
		}
		want := wantProbs(colours[r.ID])
		if r.Status != StatusOK || len(r.Top) != 6 {
			t.Fatalf("%s: status %s (%s), %d predictions", r.ID, r.Status, r.Detail, len(r.Top))
		}
		for rank, p := range r.Top {
			if p.Rank != rank+1 {
				t.Errorf("%s: rank %d has Rank %d", r.ID, rank+1, p.Rank)
			}
			if math.Abs(p.Prob-want[p.Index]) > 1e-5 {
				t.Errorf("%s: P(%s) = %.6f, want %.6f", r.ID, p.Name, p.Prob, want[p.Index])
			}
			if rank > 0 && p.Prob > r.Top[rank-1].Prob {
				t.Errorf("%s: predictions not sorted: %v", r.ID, r.Top)
			}
		}
	}
	// red: 0.964 passes the default threshold 0.9; orange (red 0.674,
	// yellow 0.303) does not.
	byID := map[string]Result{}
	for _, r := range res {
		byID[r.ID] = r
	}
	if r := byID["red"]; r.Label != "red" || r.Top[0].Synset != "n00000000" {
		t.Errorf("red: label %q synset %q, want red n00000000", r.Label, r.Top[0].Synset)
	}
	if r := byID["orange"]; r.Label != "" || !strings.Contains(r.Detail, "below threshold") {
		t.Errorf("orange: label %q detail %q, want none, below threshold", r.Label, r.Detail)
	}
}

func TestClassifySkipsUndecodable(t *testing.T) {
	m := loadColourModel(t)
	imgs := []Image{
		{ID: "a", Data: encode(t, "jpeg", 20, 20, color.NRGBA{0, 0, 255, 255})},
		{ID: "heic", Data: append([]byte{0, 0, 0, 24}, []byte("ftypheic")...)},
		{ID: "reader", Reader: strings.NewReader(string(encode(t, "gif", 20, 20, color.NRGBA{0, 255, 0, 255})))},
		{ID: "empty"},
		{ID: "b", Data: encode(t, "bmp", 20, 20, color.NRGBA{255, 255, 0, 255})},
	}
	opts := DefaultOptions()
	opts.Batch = 2
	res, err := m.Classify(t.Context(), imgs, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ status, label, detail string }{
		{StatusOK, "blue", ""},
		{StatusSkipped, "", "HEIC"},
		{StatusOK, "green", ""},
		{StatusSkipped, "", "neither Data nor Reader"},
		{StatusOK, "yellow", ""},
	}
	if len(res) != len(want) {
		t.Fatalf("got %d results, want %d", len(res), len(want))
	}
	for i, w := range want {
		r := res[i]
		if r.ID != imgs[i].ID || r.Status != w.status || r.Label != w.label || !strings.Contains(r.Detail, w.detail) {
			t.Errorf("result %d = {%s %s %s %q}, want {%s %s %s %q}", i, r.ID, r.Status, r.Label, r.Detail, imgs[i].ID, w.status, w.label, w.detail)
		}
	}
}

func TestClassifyStreamStopsOnEmitError(t *testing.T) {
	m := loadColourModel(t)
	in := make(chan Image)
	go func() {
		defer close(in)
		for range 50 {
			in <- Image{ID: "x", Data: encode(t, "png", 8, 8, color.NRGBA{9, 9, 9, 255})}
		}
	}()
	stop := errors.New("stop here")
	n := 0
	err := m.ClassifyStream(t.Context(), in, DefaultOptions(), func(Result) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("ClassifyStream = %v after %d results, want %v after 3", err, n, stop)
	}
	for range in {
	}
}

func TestClassifyCancelled(t *testing.T) {
	m := loadColourModel(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	imgs := []Image{{ID: "a", Data: encode(t, "png", 8, 8, color.NRGBA{9, 9, 9, 255})}}
	if _, err := m.Classify(ctx, imgs, DefaultOptions()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Classify with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestModelVariants(t *testing.T) {
	needRuntime(t)
	red := []Image{{ID: "red", Data: encode(t, "png", 24, 24, color.NRGBA{255, 0, 0, 255})}}
	want := wantProbs(color.NRGBA{255, 0, 0, 255})[0]
	tests := []struct {
		name string
		spec func(onnxgen.Spec) onnxgen.Spec
		cfg  map[string]any
	}{
		{"softmax output", func(s onnxgen.Spec) onnxgen.Spec { s.Softmax = true; return s }, map[string]any{"output": "probabilities"}},
		{"fixed batch of 4", func(s onnxgen.Spec) onnxgen.Spec { s.Batch = 4; return s }, nil},
		{"fixed input size, no input_size in model.json", func(s onnxgen.Spec) onnxgen.Spec { s.Size = 12; return s }, map[string]any{"input_size": nil}},
		{"other tensor names", func(s onnxgen.Spec) onnxgen.Spec { s.InputName, s.OutputName = "pixel_values", "probs"; return s }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadModel(writeColourModel(t, tc.spec(colourSpec), tc.cfg), DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			res, err := m.Classify(t.Context(), red, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got := res[0].Top[0]; got.Name != "red" || math.Abs(got.Prob-want) > 1e-5 {
				t.Errorf("top prediction %s %.6f, want red %.6f", got.Name, got.Prob, want)
			}
		})
	}
}

func TestLoadModelErrors(t *testing.T) {
	needRuntime(t)
	tests := []struct {
		name string
		cfg  map[string]any
		opts func(*Options)
		want string
	}{
		{"default labels do not fit", map[string]any{"labels": nil}, nil, "predicts 6 classes but the labels list 1000"},
		{"bad interpolation", map[string]any{"interpolation": "cubic-ish"}, nil, "interpolation \"cubic-ish\" is not supported"},
		{"bad crop_pct", map[string]any{"crop_pct": 1.5}, nil, "crop_pct 1.5"},
		{"bad output", map[string]any{"output": "softmax"}, nil, "output \"softmax\""},
		{"bad mean", map[string]any{"mean": []float64{0.5}}, nil, "mean and std need three values"},
		{"unknown device", nil, func(o *Options) { o.Device = "tpu" }, "device \"tpu\" is not known"},
		{"cuda on a cpu build", nil, func(o *Options) { o.Device = "cuda" }, "cuda is not available"},
		{"override labels file missing", nil, func(o *Options) { o.LabelsFile = "no-such.tsv" }, "no-such.tsv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := DefaultOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			m, err := LoadModel(writeColourModel(t, colourSpec, tc.cfg), opts)
			if err == nil {
				m.Close()
				t.Fatalf("LoadModel succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadModel error %q, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := LoadModel(filepath.Join(t.TempDir(), "missing.onnx"), DefaultOptions()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadModel(missing) = %v, want ErrNotExist", err)
	}
}

func TestConfigLookupOrder(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "net.onnx")
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, found, err := readConfig(model)
	if err != nil || found != "" {
		t.Fatalf("readConfig with no file = %v, %q, %v; want defaults", cfg, found, err)
	}
	write("model.json", `{"crop_pct": 0.9, "labels": "classes.txt"}`)
	write("net.timm.json", `{"crop_pct": 0.95}`)
	cfg, found, _ = readConfig(model)
	if filepath.Base(found) != "net.timm.json" || cfg.CropPct != 0.95 {
		t.Errorf("readConfig = %v from %s, want crop_pct 0.95 from net.timm.json", cfg, found)
	}
	write("net.json", `{"crop_pct": 1.0, "labels": "classes.txt"}`)
	cfg, found, _ = readConfig(model)
	if filepath.Base(found) != "net.json" || cfg.CropPct != 1 || cfg.Labels != filepath.Join(dir, "classes.txt") {
		t.Errorf("readConfig = %+v from %s, want crop_pct 1 and labels beside it from net.json", cfg, found)
	}
	// timm's own data config (as shipped with the benchmark model) is valid.
	timm := `{"input_size": [3, 256, 256], "interpolation": "bicubic", "mean": [0.485, 0.456, 0.406],
	  "std": [0.229, 0.224, 0.225], "crop_pct": 0.95, "crop_mode": "center", "transform": "Compose(...)"}`
	write("net.json", timm)
	cfg, _, err = readConfig(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := DefaultConfig().merge(cfg).validate("net.json"); err != nil {
		t.Errorf("timm config rejected: %v", err)
	}
}

// TestExportTimmConfig reads the config that scripts/export_timm.py wrote
// for edgenext_small on a GPU machine (torch 2.11, timm 1.0.29; its --check
// found ONNX Runtime within 8.6e-7 of PyTorch): the file the script writes
// beside NAME.onnx must be found, valid, and say what timm says.
func TestExportTimmConfig(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "label", "export", "edgenext_small.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "edgenext_small.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, found, err := readConfig(filepath.Join(dir, "edgenext_small.onnx"))
	if err != nil || filepath.Base(found) != "edgenext_small.json" {
		t.Fatalf("readConfig = %v from %q, want edgenext_small.json", err, found)
	}
	cfg = DefaultConfig().merge(cfg)
	if err := cfg.validate(found); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Model: "edgenext_small", InputSize: []int{3, 256, 256}, Interpolation: "bicubic", CropPct: 0.95, CropMode: "center",
		Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}, Output: "logits",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config = %+v, want %+v", cfg, want)
	}
}

func TestChoose(t *testing.T) {
	top := []Prediction{
		{Rank: 1, Name: "boat", Prob: 0.5},
		{Rank: 2, Name: "sandbar", Prob: 0.3},
		{Rank: 3, Name: "seashore", Prob: 0.15},
	}
	must := func(expr string) Options {
		o := DefaultOptions()
		r, err := CompilePattern(expr)
		if err != nil {
			t.Fatal(err)
		}
		o.Restrict = r
		return o
	}
	tests := []struct {
		name string
		opts func() Options
		want string
	}{
		{"threshold keeps top", func() Options { o := DefaultOptions(); o.Threshold = 0.4; return o }, "boat"},
		{"threshold too high", func() Options { return DefaultOptions() }, ""},
		{"exclude moves down", func() Options {
			o := DefaultOptions()
			o.Threshold = 0.2
			o.Exclude, _ = CompilePattern("BOAT")
			return o
		}, "sandbar"},
		{"restrict", func() Options { o := must("shore"); o.Threshold = 0.1; return o }, "seashore"},
		{"restrict below threshold", func() Options { o := must("shore"); o.Threshold = 0.2; return o }, ""},
		{"zero threshold takes first eligible", func() Options { o := must("sand|shore"); o.Threshold = 0; return o }, "sandbar"},
	}
	for _, tc := range tests {
		p, ok := Choose(top, tc.opts())
		if p.Name != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: Choose = %q, %v, want %q", tc.name, p.Name, ok, tc.want)
		}
	}
	if _, err := CompilePattern("(unclosed"); err == nil || !strings.Contains(err.Error(), "(unclosed") {
		t.Errorf("CompilePattern(bad) = %v, want an error naming the pattern", err)
	}
}

// TestCommittedColourModel: testdata/label/colours.onnx, which the LABEL
// tests outside this package load, is byte for byte what onnxgen writes
// for the spec its README gives (the generator is internal to vision).
func TestCommittedColourModel(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("..", "testdata", "label", "colours.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	spec := colourSpec
	spec.Scale = 3
	if want := spec.Model(); !bytes.Equal(got, want) {
		t.Errorf("testdata/label/colours.onnx (%d bytes) differs from onnxgen's model for its README's spec (%d bytes); rewrite it with that spec's Model()", len(got), len(want))
	}
}

// TestSoftmaxModelWithDefaultConfig: a model that ends in its own Softmax,
// with model.json's output left at "logits", keeps its probabilities (a
// second softmax would flatten 0.96 to about 0.34).
func TestSoftmaxModelWithDefaultConfig(t *testing.T) {
	needRuntime(t)
	s := colourSpec
	s.Softmax = true
	m, err := LoadModel(writeColourModel(t, s, nil), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	red := color.NRGBA{255, 0, 0, 255}
	res, err := m.Classify(t.Context(), []Image{{ID: "red", Data: encode(t, "png", 24, 24, red)}}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := wantProbs(red)[0]
	if got := res[0].Top[0]; got.Name != "red" || math.Abs(got.Prob-want) > 1e-3 {
		t.Errorf("top = %s %.4f, want red %.4f", got.Name, got.Prob, want)
	}
}

// TestClassifyStreamEmitErrorWithOpenInput: an error from emit ends
// ClassifyStream though the caller still holds the input channel open.
func TestClassifyStreamEmitErrorWithOpenInput(t *testing.T) {
	m := loadColourModel(t)
	in := make(chan Image)
	go func() {
		for range 2 {
			in <- Image{ID: "x", Data: encode(t, "png", 8, 8, color.NRGBA{9, 9, 9, 255})}
		}
	}()
	stop := errors.New("stop here")
	done := make(chan error, 1)
	opts := DefaultOptions()
	opts.Batch = 1 // the first image is emitted without waiting for more
	go func() {
		done <- m.ClassifyStream(t.Context(), in, opts, func(Result) error { return stop })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, stop) {
			t.Errorf("ClassifyStream = %v, want emit's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ClassifyStream did not return after emit failed")
	}
}
