package vision

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Model is an image classifier loaded into ONNX Runtime with its
// preprocessing and class names. It is safe for concurrent use; Close
// releases it.
type Model struct {
	path       string
	name       string
	cfg        Config
	classes    []Class
	prep       *preprocessor
	session    *ort.DynamicAdvancedSession
	input      string
	output     string
	fixedBatch int // the model's fixed batch size, 0 when dynamic
	device     string

	closeOnce sync.Once
}

// LoadModel loads the ONNX model at path. Its preprocessing comes from the
// first of NAME.json, NAME.timm.json and model.json beside it (see Config),
// then opts' overrides, then timm's defaults (DefaultConfig) with the
// model's own input size when it is fixed. It loads ONNX Runtime first (see
// InitRuntime with opts.Library) and checks that the model takes one
// [N,3,H,W] float32 input and gives one [N,K] float32 output, with K the
// number of classes in the labels.
func LoadModel(path string, opts Options) (*Model, error) {
	opts = opts.withDefaults()
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	if err := InitRuntime(opts.Library); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	if len(ins) != 1 || len(outs) < 1 {
		return nil, fmt.Errorf("load model %s: want one image input and one output, got %d inputs and %d outputs", path, len(ins), len(outs))
	}
	in, out := ins[0], outs[0]
	if in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat || len(in.Dimensions) != 4 || (in.Dimensions[1] != 3 && in.Dimensions[1] > 0) {
		return nil, fmt.Errorf("load model %s: input %s must be a float32 [N,3,H,W] image tensor", path, in.String())
	}
	if out.OrtValueType != ort.ONNXTypeTensor || out.DataType != ort.TensorElementDataTypeFloat || len(out.Dimensions) != 2 {
		return nil, fmt.Errorf("load model %s: output %s must be float32 [N,K] class scores", path, out.String())
	}

	cfg := DefaultConfig()
	if h, w := in.Dimensions[2], in.Dimensions[3]; h > 0 && w > 0 {
		cfg.InputSize = []int{3, int(h), int(w)}
	}
	fileCfg, cfgPath, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	cfg = cfg.merge(fileCfg).merge(opts.overrides())
	src := cfgPath
	if src == "" {
		src = "(defaults; no model.json beside " + filepath.Base(path) + ")"
	}
	if err := cfg.validate(src); err != nil {
		return nil, err
	}
	if h, w := in.Dimensions[2], in.Dimensions[3]; (h > 0 && int(h) != cfg.InputSize[1]) || (w > 0 && int(w) != cfg.InputSize[2]) {
		return nil, fmt.Errorf("model config %s: input_size %v does not match the model's fixed input %v", src, cfg.InputSize, in.Dimensions)
	}

	classes := ImageNet1k()
	if cfg.Labels != "" {
		if classes, err = LoadLabels(cfg.Labels); err != nil {
			return nil, err
		}
	}
	if k := out.Dimensions[1]; k > 0 && int(k) != len(classes) {
		hint := "give a labels file with LABELS or in model.json"
		if cfg.Labels != "" {
			hint = "check " + cfg.Labels
		}
		return nil, fmt.Errorf("load model %s: it predicts %d classes but the labels list %d; %s", path, k, len(classes), hint)
	}
	if opts.Naming == NamingSynset && classes[0].Synset == "" {
		return nil, fmt.Errorf("naming 'synset' needs a labels file with synsets (a TSV with the header index, synset, name)")
	}

	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx runtime session options: %w", err)
	}
	defer so.Destroy()
	if opts.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opts.Threads); err != nil {
			return nil, fmt.Errorf("onnx runtime threads: %w", err)
		}
	}
	switch strings.ToLower(opts.Device) {
	case "cpu":
	case "cuda":
		if err := appendCUDA(so); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("device %q is not known: use 'cpu' or 'cuda'", opts.Device)
	}
	sess, err := ort.NewDynamicAdvancedSession(path, []string{in.Name}, []string{out.Name}, so)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	name := cfg.Model
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	m := &Model{
		path:    path,
		name:    name,
		cfg:     cfg,
		classes: classes,
		prep:    newPreprocessor(cfg),
		session: sess,
		input:   in.Name,
		output:  out.Name,
		device:  strings.ToLower(opts.Device),
	}
	if b := in.Dimensions[0]; b > 0 {
		m.fixedBatch = int(b)
	}
	return m, nil
}

// appendCUDA adds the CUDA execution provider, or explains why it cannot.
func appendCUDA(so *ort.SessionOptions) error {
	co, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return fmt.Errorf("%w: the onnx runtime library %s has no CUDA execution provider (%v); install a GPU build of ONNX Runtime with CUDA and cuDNN and point ONNXRUNTIME_LIB at it, or use DEVICE 'cpu'", ErrNoCUDA, RuntimePath(), err)
	}
	defer co.Destroy()
	if err := so.AppendExecutionProviderCUDA(co); err != nil {
		return fmt.Errorf("%w: the onnx runtime library %s has no usable CUDA execution provider (%v); install a GPU build of ONNX Runtime with CUDA and cuDNN and point ONNXRUNTIME_LIB at it, or use DEVICE 'cpu'", ErrNoCUDA, RuntimePath(), err)
	}
	return nil
}

// Close releases the ONNX Runtime session. It is safe to call twice.
func (m *Model) Close() error {
	var err error
	m.closeOnce.Do(func() { err = m.session.Destroy() })
	return err
}

// Name is the model's name for the labels table: model.json's "model", or
// the file name without its extension.
func (m *Model) Name() string { return m.name }

// Config returns the resolved preprocessing configuration.
func (m *Model) Config() Config { return m.cfg }

// Classes returns the model's class list (do not modify it).
func (m *Model) Classes() []Class { return m.classes }

// InputSize is the model's input height and width; library labeling asks
// for thumbnails of this size (viewBox).
func (m *Model) InputSize() (w, h int) { return m.prep.width, m.prep.height }

// infer runs the model on n preprocessed images laid out back to back in
// data (n*tensorLen floats) and returns n rows of class probabilities.
func (m *Model) infer(data []float32, n int) ([][]float32, error) {
	rows := n
	if m.fixedBatch > 0 {
		if n > m.fixedBatch {
			return nil, fmt.Errorf("batch of %d exceeds the model's fixed batch size %d", n, m.fixedBatch)
		}
		rows = m.fixedBatch // pad with whatever data holds; extra rows are ignored
		if need := rows * m.prep.tensorLen(); len(data) < need {
			data = append(data, make([]float32, need-len(data))...)
		}
	}
	shape := ort.NewShape(int64(rows), 3, int64(m.prep.height), int64(m.prep.width))
	in, err := ort.NewTensor(shape, data[:rows*m.prep.tensorLen()])
	if err != nil {
		return nil, fmt.Errorf("input tensor: %w", err)
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if err := m.session.Run([]ort.Value{in}, outs); err != nil {
		return nil, fmt.Errorf("run model %s: %w", m.name, err)
	}
	defer outs[0].Destroy()
	t, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, errors.New("model output is not a float32 tensor")
	}
	shp := t.GetShape()
	if len(shp) != 2 || int(shp[0]) != rows || int(shp[1]) != len(m.classes) {
		return nil, fmt.Errorf("model output shape %v, want [%d %d]", shp, rows, len(m.classes))
	}
	flat := t.GetData()
	k := len(m.classes)
	res := make([][]float32, n)
	for i := range n {
		row := make([]float32, k)
		copy(row, flat[i*k:(i+1)*k])
		if m.cfg.Output == "logits" && !isDistribution(row) {
			softmax(row)
		}
		res[i] = row
	}
	return res, nil
}

// isDistribution reports whether v already holds probabilities: none
// negative and a sum of 1. A model that ends in its own Softmax gives such
// rows even when model.json leaves "output" at "logits"; a second softmax
// would flatten them (0.96 became 0.34 with three classes), and logits of
// a real classifier practically never look like this.
func isDistribution(v []float32) bool {
	var sum float64
	for _, x := range v {
		if x < 0 || x > 1 {
			return false
		}
		sum += float64(x)
	}
	return math.Abs(sum-1) < 1e-4
}

// softmax turns logits into probabilities in place (in float64).
func softmax(v []float32) {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = math.Max(mx, float64(x))
	}
	var sum float64
	e := make([]float64, len(v))
	for i, x := range v {
		e[i] = math.Exp(float64(x) - mx)
		sum += e[i]
	}
	for i := range v {
		v[i] = float32(e[i] / sum)
	}
}

// Prediction is one of an image's best classes.
type Prediction struct {
	Rank   int // 1 is the model's best guess
	Index  int // class index in the model's output
	Synset string
	Name   string
	Prob   float64
}

// topK returns the k most probable classes, best first; ties go to the
// lower class index.
func (m *Model) topK(probs []float32, k int) []Prediction {
	k = min(k, len(probs))
	idx := make([]int, 0, k+1)
	for i, p := range probs {
		if len(idx) == k && p <= probs[idx[k-1]] {
			continue
		}
		j := len(idx)
		idx = append(idx, i)
		for j > 0 && probs[idx[j-1]] < p {
			idx[j] = idx[j-1]
			j--
		}
		idx[j] = i
		if len(idx) > k {
			idx = idx[:k]
		}
	}
	out := make([]Prediction, len(idx))
	for r, i := range idx {
		c := m.classes[i]
		out[r] = Prediction{Rank: r + 1, Index: i, Synset: c.Synset, Name: c.Name, Prob: float64(probs[i])}
	}
	return out
}

// Choose applies LABEL's rule to an image's top-k predictions, best first:
// skip a prediction whose name matches opts.Exclude, skip one whose name
// does not match opts.Restrict, and take the first left whose probability
// is at least opts.Threshold. ok is false when none qualifies.
func Choose(top []Prediction, opts Options) (p Prediction, ok bool) {
	for _, p := range top {
		if opts.Exclude != nil && opts.Exclude.MatchString(p.Name) {
			continue
		}
		if opts.Restrict != nil && !opts.Restrict.MatchString(p.Name) {
			continue
		}
		if p.Prob >= opts.Threshold {
			return p, true
		}
	}
	return Prediction{}, false
}

// whyUnlabeled explains a false Choose for the detail column.
func whyUnlabeled(top []Prediction, opts Options) string {
	for _, p := range top {
		if (opts.Exclude != nil && opts.Exclude.MatchString(p.Name)) ||
			(opts.Restrict != nil && !opts.Restrict.MatchString(p.Name)) {
			continue
		}
		return fmt.Sprintf("below threshold: best eligible prediction %s (%.3f) < %.3f", p.Name, p.Prob, opts.Threshold)
	}
	return fmt.Sprintf("no eligible label: all top %d predictions excluded or outside RESTRICT", len(top))
}
