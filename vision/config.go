package vision

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// Config is a model's preprocessing and output description: the contents of
// model.json. Its field names are those of timm's data config
// (timm.data.resolve_data_config), so timm's config of a model is a valid
// model.json as it stands; Labels and Output are apsql's additions.
type Config struct {
	// Model names the model, for people and for the labels table.
	Model string `json:"model,omitempty"`
	// InputSize is [channels, height, width]; channels must be 3.
	InputSize []int `json:"input_size,omitempty"`
	// Interpolation is the resize filter: nearest, box, bilinear, hamming,
	// bicubic or lanczos (Pillow's filters, as timm uses them).
	Interpolation string `json:"interpolation,omitempty"`
	// CropPct is the fraction of the resized image kept by the centre crop:
	// the shorter side is resized to floor(size/crop_pct), then cropped.
	CropPct float64 `json:"crop_pct,omitempty"`
	// CropMode is "center" (resize the shorter side, keep the aspect ratio)
	// or "squash" (resize both sides, ignoring the aspect ratio).
	CropMode string `json:"crop_mode,omitempty"`
	// Mean and Std normalise each channel after scaling pixels to [0, 1].
	Mean []float64 `json:"mean,omitempty"`
	Std  []float64 `json:"std,omitempty"`
	// Labels is the class list file, relative to the model.json; empty
	// means ImageNet-1k (see LoadLabels for the formats).
	Labels string `json:"labels,omitempty"`
	// Output says what the model's output holds: "logits" (apsql applies a
	// softmax) or "probabilities" (used as they are).
	Output string `json:"output,omitempty"`
}

// DefaultConfig is timm's default evaluation transform for ImageNet
// classifiers: 224 px, bicubic, crop_pct 0.875, ImageNet mean and std.
func DefaultConfig() Config {
	return Config{
		InputSize:     []int{3, 224, 224},
		Interpolation: "bicubic",
		CropPct:       0.875,
		CropMode:      "center",
		Mean:          []float64{0.485, 0.456, 0.406},
		Std:           []float64{0.229, 0.224, 0.225},
		Output:        "logits",
	}
}

// Names of the values Options.Naming takes.
const (
	NamingName   = "name"
	NamingSynset = "synset"
	NamingIndex  = "index"
)

// Options holds LABEL's options (SPEC §2.4). Start from DefaultOptions and
// change what the user gave: the zero value of Threshold is a real choice
// (keep everything), so zero fields are not replaced by defaults there.
//
// LoadModel reads Library, Device, Threads, LabelsFile and the preprocessing
// overrides; LabelDir, Classify and ClassifyStream read the rest.
type Options struct {
	// Threshold is the minimum probability (0..1) a prediction needs.
	Threshold float64
	// TopK is how many of the model's best predictions are considered and
	// reported (default 5).
	TopK int
	// Exclude skips predictions whose class name matches; Restrict skips
	// those whose class name does not match. Both may be nil. Compile them
	// with CompilePattern for the reference's case-insensitive matching.
	Exclude, Restrict *regexp.Regexp
	// Batch is the number of images per inference call (default 4).
	Batch int
	// Workers is the number of decode/resize goroutines (default: cores).
	Workers int
	// Accumulate keeps what is already in dir_out; when false, LabelDir
	// first removes the files earlier runs wrote there.
	Accumulate bool
	// Naming picks the folder name: NamingName, NamingSynset or NamingIndex.
	Naming string
	// Device is "cpu" (default) or "cuda".
	Device string
	// Threads is ONNX Runtime's intra-op thread count; 0 lets it choose
	// (one per physical core).
	Threads int
	// LabelsFile overrides the class list of model.json (see LoadLabels).
	LabelsFile string
	// Library is the ONNX Runtime shared library to load (see InitRuntime).
	Library string

	// Preprocessing overrides of model.json; zero values keep the file's.
	InputSize     int       // height and width
	Interpolation string    // see Config.Interpolation
	CropPct       float64   // see Config.CropPct
	CropMode      string    // see Config.CropMode
	Mean, Std     []float64 // three values each
	Output        string    // "logits" or "probabilities"
}

// DefaultOptions returns the defaults of SPEC §2.4: threshold 0.9, top 5,
// batch 4, one worker per core, naming by class name, CPU.
func DefaultOptions() Options {
	return Options{
		Threshold: 0.9,
		TopK:      5,
		Batch:     4,
		Workers:   runtime.NumCPU(),
		Naming:    NamingName,
		Device:    "cpu",
	}
}

// CompilePattern compiles an EXCLUDE or RESTRICT pattern. Matching is
// case-insensitive, like the reference's re.search(..., flags=re.I).
func CompilePattern(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile("(?i)" + expr)
	if err != nil {
		return nil, fmt.Errorf("label pattern %q: %w", expr, err)
	}
	return re, nil
}

// withDefaults fills the fields whose zero value means "default".
func (o Options) withDefaults() Options {
	if o.TopK <= 0 {
		o.TopK = 5
	}
	if o.Batch <= 0 {
		o.Batch = 4
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Naming == "" {
		o.Naming = NamingName
	}
	if o.Device == "" {
		o.Device = "cpu"
	}
	return o
}

// check validates the per-run options.
func (o Options) check() error {
	if o.Threshold < 0 || o.Threshold > 1 || math.IsNaN(o.Threshold) {
		return fmt.Errorf("threshold %v is out of range: give a probability between 0 and 1", o.Threshold)
	}
	switch o.Naming {
	case NamingName, NamingSynset, NamingIndex:
	default:
		return fmt.Errorf("naming %q is not known: use 'name', 'synset' or 'index'", o.Naming)
	}
	return nil
}

// configPaths lists where the model's config may be, in order: NAME.json,
// NAME.timm.json and model.json beside NAME.onnx.
func configPaths(modelPath string) []string {
	dir := filepath.Dir(modelPath)
	stem := strings.TrimSuffix(filepath.Base(modelPath), filepath.Ext(modelPath))
	return []string{
		filepath.Join(dir, stem+".json"),
		filepath.Join(dir, stem+".timm.json"),
		filepath.Join(dir, "model.json"),
	}
}

// readConfig reads the first config file found beside the model; found is
// its path, or "" when there is none (the defaults then apply).
func readConfig(modelPath string) (cfg Config, found string, err error) {
	for _, p := range configPaths(modelPath) {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Config{}, "", fmt.Errorf("read model config: %w", err)
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return Config{}, "", fmt.Errorf("model config %s: %w", p, err)
		}
		if cfg.Labels != "" && !filepath.IsAbs(cfg.Labels) {
			cfg.Labels = filepath.Join(filepath.Dir(p), cfg.Labels)
		}
		return cfg, p, nil
	}
	return Config{}, "", nil
}

// merge overlays the non-zero fields of c on base.
func (base Config) merge(c Config) Config {
	if c.Model != "" {
		base.Model = c.Model
	}
	if len(c.InputSize) > 0 {
		base.InputSize = c.InputSize
	}
	if c.Interpolation != "" {
		base.Interpolation = c.Interpolation
	}
	if c.CropPct != 0 {
		base.CropPct = c.CropPct
	}
	if c.CropMode != "" {
		base.CropMode = c.CropMode
	}
	if len(c.Mean) > 0 {
		base.Mean = c.Mean
	}
	if len(c.Std) > 0 {
		base.Std = c.Std
	}
	if c.Labels != "" {
		base.Labels = c.Labels
	}
	if c.Output != "" {
		base.Output = c.Output
	}
	return base
}

// overrides turns the preprocessing options into a Config to merge.
func (o Options) overrides() Config {
	c := Config{
		Interpolation: o.Interpolation,
		CropPct:       o.CropPct,
		CropMode:      o.CropMode,
		Mean:          o.Mean,
		Std:           o.Std,
		Labels:        o.LabelsFile,
		Output:        o.Output,
	}
	if o.InputSize > 0 {
		c.InputSize = []int{3, o.InputSize, o.InputSize}
	}
	return c
}

// validate checks a resolved config; src names where it came from.
func (c Config) validate(src string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("model config %s: "+format, append([]any{src}, args...)...)
	}
	if len(c.InputSize) != 3 || c.InputSize[0] != 3 || c.InputSize[1] <= 0 || c.InputSize[2] <= 0 {
		return bad("input_size %v must be [3, height, width]", c.InputSize)
	}
	if _, ok := filters[c.Interpolation]; !ok {
		return bad("interpolation %q is not supported: use nearest, box, bilinear, hamming, bicubic or lanczos", c.Interpolation)
	}
	if !(c.CropPct > 0 && c.CropPct <= 1) {
		return bad("crop_pct %v must be in (0, 1]", c.CropPct)
	}
	switch c.CropMode {
	case "center":
		if c.InputSize[1] != c.InputSize[2] {
			return bad("crop_mode center needs a square input_size, got %dx%d; use crop_mode squash", c.InputSize[2], c.InputSize[1])
		}
	case "squash":
	default:
		return bad("crop_mode %q is not supported: use center or squash", c.CropMode)
	}
	if len(c.Mean) != 3 || len(c.Std) != 3 {
		return bad("mean and std need three values each, got %d and %d", len(c.Mean), len(c.Std))
	}
	for _, s := range c.Std {
		if s <= 0 {
			return bad("std %v must be positive", c.Std)
		}
	}
	if c.Output != "logits" && c.Output != "probabilities" {
		return bad("output %q must be \"logits\" or \"probabilities\"", c.Output)
	}
	return nil
}
