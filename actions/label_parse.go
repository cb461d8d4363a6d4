package actions

// Parsing of the LABEL statements and their options (SPEC §2.3, §2.4).

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/vision"
)

// labelStmt is a parsed LABEL statement.
type labelStmt struct {
	in, out string // directory form only
	target  target // target form only
	model   string // USING 'model.onnx'
	opts    vision.Options
	conc    int // CONCURRENCY: thumbnails fetched at a time (target form)
}

// isDirForm reports whether rest starts with 'dir_in' INTO.
func isDirForm(rest string) bool {
	a := engine.NewArgs(rest)
	if a.PeekByte() != '\'' {
		return false
	}
	if _, err := a.String(); err != nil {
		return false
	}
	return a.Keyword("INTO")
}

// parseLabelDir parses 'dir_in' INTO 'dir_out' USING 'model.onnx' [(options)].
func parseLabelDir(rest string) (labelStmt, error) {
	a := engine.NewArgs(rest)
	in, err := a.String()
	if err != nil {
		return labelStmt{}, fmt.Errorf("input directory: %w", err)
	}
	a.Keyword("INTO") // isDirForm checked it
	out, err := a.String()
	if err != nil {
		return labelStmt{}, fmt.Errorf("INTO: %w", err)
	}
	if strings.TrimSpace(in) == "" || strings.TrimSpace(out) == "" {
		return labelStmt{}, errors.New("an empty directory name: write LABEL 'photos' INTO 'labeled' USING 'model.onnx'")
	}
	st := labelStmt{in: in, out: out}
	if err := parseUsing(a, &st, false); err != nil {
		return labelStmt{}, err
	}
	return st, nil
}

// parseLabelNodes parses target USING 'model.onnx' [(options)].
func parseLabelNodes(rest string) (labelStmt, error) {
	t, after, err := parseTarget(rest, []string{"USING"}, labelOptions)
	if err != nil {
		return labelStmt{}, err
	}
	st := labelStmt{target: t}
	if err := parseUsing(engine.NewArgs(after), &st, true); err != nil {
		return labelStmt{}, err
	}
	return st, nil
}

// parseUsing reads USING 'model.onnx' [(options)] and the end of the
// statement into st.
func parseUsing(a *engine.Args, st *labelStmt, nodes bool) error {
	if !a.Keyword("USING") {
		if a.Done() {
			return errors.New("missing USING 'model.onnx': name the ONNX image classifier to label with")
		}
		return fmt.Errorf("expected USING 'model.onnx', found %q", clip(a.Rest(), 20))
	}
	model, err := a.String()
	if err != nil {
		return fmt.Errorf("USING: %w", err)
	}
	if strings.TrimSpace(model) == "" {
		return errors.New("USING '' is empty: name an .onnx model file")
	}
	st.model = model
	raw, err := a.Options(labelOptions...)
	if err != nil {
		return err
	}
	if !a.Done() {
		return fmt.Errorf("unexpected %q at the end of the statement", clip(a.Rest(), 20))
	}
	only, form := labelDirOnly, "LABEL 'dir_in' INTO 'dir_out'"
	if !nodes {
		only, form = labelNodesOnly, "LABEL target"
	}
	for _, k := range only {
		if _, ok := raw[k]; ok {
			return fmt.Errorf("option %s applies only to %s", k, form)
		}
	}
	if st.opts, err = labelVisionOptions(raw); err != nil {
		return err
	}
	st.conc, err = concurrencyOpt(raw)
	return err
}

// labelVisionOptions turns LABEL's option list into vision.Options, from
// SPEC §2.4's defaults. Each bad value is an error naming the option and
// what it accepts.
func labelVisionOptions(raw map[string]string) (vision.Options, error) {
	o := vision.DefaultOptions()
	var err error
	intOpt := func(name string, lo, hi int) (int, bool, error) {
		v, ok := raw[name]
		if !ok {
			return 0, false, nil
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < lo || n > hi {
			return 0, false, fmt.Errorf("option %s wants a whole number from %d to %d, not %q", name, lo, hi, v)
		}
		return n, true, nil
	}
	floatOpt := func(name string, ok func(float64) bool, want string) (float64, bool, error) {
		v, present := raw[name]
		if !present {
			return 0, false, nil
		}
		f, perr := strconv.ParseFloat(v, 64)
		if perr != nil || math.IsNaN(f) || !ok(f) {
			return 0, false, fmt.Errorf("option %s wants %s, not %q", name, want, v)
		}
		return f, true, nil
	}
	if f, ok, err := floatOpt("THRESHOLD", func(f float64) bool { return f >= 0 && f <= 1 }, "a probability from 0 to 1 such as 0.5"); err != nil {
		return o, err
	} else if ok {
		o.Threshold = f
	}
	if f, ok, err := floatOpt("CROP_PCT", func(f float64) bool { return f > 0 && f <= 1 }, "a fraction in (0, 1] such as 0.875"); err != nil {
		return o, err
	} else if ok {
		o.CropPct = f
	}
	for _, n := range []struct {
		name   string
		lo, hi int
		dst    *int
	}{
		{"TOPK", 1, 1000, &o.TopK},
		{"BATCH", 1, 1024, &o.Batch},
		{"WORKERS", 1, 256, &o.Workers},
		{"THREADS", 0, 256, &o.Threads},
		{"INPUT_SIZE", 1, 8192, &o.InputSize},
	} {
		v, ok, err := intOpt(n.name, n.lo, n.hi)
		if err != nil {
			return o, err
		}
		if ok {
			*n.dst = v
		}
	}
	if v, ok := raw["EXCLUDE"]; ok {
		if o.Exclude, err = vision.CompilePattern(v); err != nil {
			return o, fmt.Errorf("option EXCLUDE: %w", err)
		}
	}
	if v, ok := raw["RESTRICT"]; ok {
		if o.Restrict, err = vision.CompilePattern(v); err != nil {
			return o, fmt.Errorf("option RESTRICT: %w", err)
		}
	}
	if v, ok := raw["ACCUMULATE"]; ok {
		if o.Accumulate, err = engine.ParseBool("ACCUMULATE", v); err != nil {
			return o, err
		}
	}
	choice := func(name string, dst *string, allowed ...string) error {
		v, ok := raw[name]
		if !ok {
			return nil
		}
		for _, a := range allowed {
			if strings.EqualFold(v, a) {
				*dst = a
				return nil
			}
		}
		return fmt.Errorf("option %s wants '%s', not %q", name, strings.Join(allowed, "', '"), v)
	}
	for _, c := range []struct {
		name    string
		dst     *string
		allowed []string
	}{
		{"NAMING", &o.Naming, []string{vision.NamingName, vision.NamingSynset, vision.NamingIndex}},
		{"DEVICE", &o.Device, []string{"cpu", "cuda"}},
		{"INTERPOLATION", &o.Interpolation, []string{"nearest", "box", "bilinear", "hamming", "bicubic", "lanczos"}},
		{"CROP_MODE", &o.CropMode, []string{"center", "squash"}},
		{"OUTPUT", &o.Output, []string{"logits", "probabilities"}},
	} {
		if err := choice(c.name, c.dst, c.allowed...); err != nil {
			return o, err
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"LABELS", &o.LabelsFile}, {"LIBRARY", &o.Library}} {
		if v, ok := raw[f.name]; ok {
			if strings.TrimSpace(v) == "" {
				return o, fmt.Errorf("option %s is empty: give a file path", f.name)
			}
			*f.dst = v
		}
	}
	if o.LabelsFile != "" {
		if _, err := os.Stat(o.LabelsFile); err != nil {
			return o, fmt.Errorf("option LABELS: %w: give a TSV with the header index, synset, name, or a file with one class name per line", unwrapPath(err))
		}
	}
	for _, t := range []struct {
		name string
		dst  *[]float64
	}{{"MEAN", &o.Mean}, {"STD", &o.Std}} {
		v, ok := raw[t.name]
		if !ok {
			continue
		}
		fields := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '[' || r == ']' })
		vals := make([]float64, 0, 3)
		for _, f := range fields {
			x, perr := strconv.ParseFloat(f, 64)
			if perr != nil || math.IsNaN(x) || math.IsInf(x, 0) || (t.name == "STD" && x <= 0) {
				vals = nil
				break
			}
			vals = append(vals, x)
		}
		if len(vals) != 3 {
			return o, fmt.Errorf("option %s wants three numbers, one per channel, such as '0.485, 0.456, 0.406', not %q", t.name, v)
		}
		*t.dst = vals
	}
	return o, nil
}

// unwrapPath drops the "stat" operation from a path error.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// loadLabelModel loads the model of a LABEL statement. A missing file, a
// missing ONNX Runtime (the message names vision.InstallCommand) and a
// missing CUDA each come back as one line naming the fix.
func loadLabelModel(st labelStmt) (*vision.Model, error) {
	fi, err := os.Stat(st.model)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("label: model file %s not found: give the path of an .onnx image classifier (python scripts/export_timm.py MODEL --out models exports one)", st.model)
	case err != nil:
		return nil, fmt.Errorf("label: model file: %w", unwrapPath(err))
	case fi.IsDir():
		return nil, fmt.Errorf("label: model %s is a directory: give the path of the .onnx file", st.model)
	}
	m, err := vision.LoadModel(st.model, st.opts)
	if err != nil {
		return nil, fmt.Errorf("label: %w", err)
	}
	return m, nil
}
