package actions

// LABEL's options (SPEC §2.4): one table, name → the form it applies to
// and how its value is read into vision.Options.

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/vision"
)

// labelForm is the form of LABEL an option applies to.
type labelForm int

const (
	formEither labelForm = iota
	formDir              // LABEL 'dir_in' INTO 'dir_out' only
	formNodes            // LABEL target only
)

// formNames name the forms in messages.
var formNames = map[labelForm]string{formDir: "LABEL 'dir_in' INTO 'dir_out'", formNodes: "LABEL target"}

// labelOption is one option of LABEL. set reads its value into
// vision.Options and names the option and what it accepts when the value
// is bad; nil means the option is read elsewhere (CONCURRENCY).
type labelOption struct {
	name string
	form labelForm
	set  func(o *vision.Options, name, v string) error
}

// labelOptionTable lists LABEL's options in the order the "known options"
// message names them. The preprocessing overrides (INPUT_SIZE to OUTPUT)
// mirror model.json's fields (vision.Config).
var labelOptionTable = []labelOption{
	{"THRESHOLD", formEither, floatOption(func(o *vision.Options) *float64 { return &o.Threshold },
		func(f float64) bool { return f >= 0 && f <= 1 }, "a probability from 0 to 1 such as 0.5")},
	{"TOPK", formEither, intOption(1, 1000, func(o *vision.Options) *int { return &o.TopK })},
	{"EXCLUDE", formEither, func(o *vision.Options, name, v string) (err error) {
		o.Exclude, err = compilePattern(name, v)
		return err
	}},
	{"RESTRICT", formEither, func(o *vision.Options, name, v string) (err error) {
		o.Restrict, err = compilePattern(name, v)
		return err
	}},
	{"BATCH", formEither, intOption(1, 1024, func(o *vision.Options) *int { return &o.Batch })},
	{"WORKERS", formEither, intOption(1, 256, func(o *vision.Options) *int { return &o.Workers })},
	{"DEVICE", formEither, choiceOption(func(o *vision.Options) *string { return &o.Device }, "cpu", "cuda")},
	{"LABELS", formEither, setLabelsFile},
	{"LIBRARY", formEither, pathOption(func(o *vision.Options) *string { return &o.Library })},
	{"THREADS", formEither, intOption(0, 256, func(o *vision.Options) *int { return &o.Threads })},
	{"INPUT_SIZE", formEither, intOption(1, 8192, func(o *vision.Options) *int { return &o.InputSize })},
	{"INTERPOLATION", formEither, choiceOption(func(o *vision.Options) *string { return &o.Interpolation },
		"nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")},
	{"CROP_PCT", formEither, floatOption(func(o *vision.Options) *float64 { return &o.CropPct },
		func(f float64) bool { return f > 0 && f <= 1 }, "a fraction in (0, 1] such as 0.875")},
	{"CROP_MODE", formEither, choiceOption(func(o *vision.Options) *string { return &o.CropMode }, "center", "squash")},
	{"MEAN", formEither, channelsOption(func(o *vision.Options) *[]float64 { return &o.Mean }, false)},
	{"STD", formEither, channelsOption(func(o *vision.Options) *[]float64 { return &o.Std }, true)},
	{"OUTPUT", formEither, choiceOption(func(o *vision.Options) *string { return &o.Output }, "logits", "probabilities")},
	{"ACCUMULATE", formDir, func(o *vision.Options, name, v string) (err error) {
		o.Accumulate, err = engine.ParseBool(name, v)
		return err
	}},
	{"NAMING", formDir, choiceOption(func(o *vision.Options) *string { return &o.Naming },
		vision.NamingName, vision.NamingSynset, vision.NamingIndex)},
	{"CONCURRENCY", formNodes, nil}, // concurrencyOpt
}

// labelOptions are the names of LABEL's options, for the parser.
var labelOptions = func() []string {
	names := make([]string, len(labelOptionTable))
	for i, op := range labelOptionTable {
		names[i] = op.name
	}
	return names
}()

// labelVisionOptions turns LABEL's option list into vision.Options, from
// SPEC §2.4's defaults, for the directory form or (nodes) the target
// form. An option of the other form, and each bad value, is an error
// naming the option and what it accepts.
func labelVisionOptions(raw map[string]string, nodes bool) (vision.Options, error) {
	o := vision.DefaultOptions()
	this := formDir
	if nodes {
		this = formNodes
	}
	for _, op := range labelOptionTable {
		v, ok := raw[op.name]
		switch {
		case !ok:
			continue
		case op.form != formEither && op.form != this:
			return o, fmt.Errorf("option %s applies only to %s", op.name, formNames[op.form])
		case op.set != nil:
			if err := op.set(&o, op.name, v); err != nil {
				return o, err
			}
		}
	}
	return o, nil
}

// intOption reads a whole number from lo to hi into field.
func intOption(lo, hi int, field func(*vision.Options) *int) func(*vision.Options, string, string) error {
	return func(o *vision.Options, name, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("option %s wants a whole number from %d to %d, not %q", name, lo, hi, v)
		}
		*field(o) = n
		return nil
	}
}

// floatOption reads a number that ok accepts (want says which) into
// field.
func floatOption(field func(*vision.Options) *float64, ok func(float64) bool, want string) func(*vision.Options, string, string) error {
	return func(o *vision.Options, name, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || !ok(f) {
			return fmt.Errorf("option %s wants %s, not %q", name, want, v)
		}
		*field(o) = f
		return nil
	}
}

// choiceOption reads one of allowed (any case) into field, spelled as in
// allowed.
func choiceOption(field func(*vision.Options) *string, allowed ...string) func(*vision.Options, string, string) error {
	return func(o *vision.Options, name, v string) error {
		for _, a := range allowed {
			if strings.EqualFold(v, a) {
				*field(o) = a
				return nil
			}
		}
		return fmt.Errorf("option %s wants '%s', not %q", name, strings.Join(allowed, "', '"), v)
	}
}

// pathOption reads a file path that is not empty into field.
func pathOption(field func(*vision.Options) *string) func(*vision.Options, string, string) error {
	return func(o *vision.Options, name, v string) error {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("option %s is empty: give a file path", name)
		}
		*field(o) = v
		return nil
	}
}

// setLabelsFile reads LABELS: a path to a file that exists.
func setLabelsFile(o *vision.Options, name, v string) error {
	if err := pathOption(func(o *vision.Options) *string { return &o.LabelsFile })(o, name, v); err != nil {
		return err
	}
	if _, err := os.Stat(v); err != nil {
		return fmt.Errorf("option %s: %w: give a TSV with the header index, synset, name, or a file with one class name per line", name, unwrapPath(err))
	}
	return nil
}

// channelsOption reads three numbers, one per channel ("0.485, 0.456,
// 0.406", brackets allowed), into field; positive only when positive.
func channelsOption(field func(*vision.Options) *[]float64, positive bool) func(*vision.Options, string, string) error {
	return func(o *vision.Options, name, v string) error {
		fields := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '[' || r == ']' })
		vals := make([]float64, 0, 3)
		for _, f := range fields {
			x, err := strconv.ParseFloat(f, 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || (positive && x <= 0) {
				vals = nil
				break
			}
			vals = append(vals, x)
		}
		if len(vals) != 3 {
			return fmt.Errorf("option %s wants three numbers, one per channel, such as '0.485, 0.456, 0.406', not %q", name, v)
		}
		*field(o) = vals
		return nil
	}
}

// compilePattern compiles an EXCLUDE or RESTRICT pattern.
func compilePattern(name, v string) (*regexp.Regexp, error) {
	re, err := vision.CompilePattern(v)
	if err != nil {
		return nil, fmt.Errorf("option %s: %w", name, err)
	}
	return re, nil
}
