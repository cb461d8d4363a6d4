package actions

// Parsing of the LABEL statements and their options (SPEC §2.3, §2.4).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/vision"
)

// labelStmt is a parsed LABEL statement.
type labelStmt struct {
	dir     bool   // the directory form
	in, out string // directory form only
	target  target // target form only
	model   string // USING 'model.onnx'
	opts    vision.Options
	conc    int // CONCURRENCY: thumbnails fetched at a time (target form)
}

// parseLabel parses a LABEL statement from its arguments (args gives a
// new reader each call): a string followed by INTO is the directory form,
// anything else a target, ids given by the caller included.
func parseLabel(args func() *engine.Args) (labelStmt, error) {
	if isDirForm(args()) {
		return parseLabelDir(args())
	}
	return parseLabelTarget(args())
}

// isDirForm reports whether a starts with 'dir_in' INTO.
func isDirForm(a *engine.Args) bool {
	if _, ids := a.IDs(); ids || a.PeekByte() != '\'' {
		return false
	}
	if _, err := a.String(); err != nil {
		return false
	}
	return a.Keyword("INTO")
}

// parseLabelDir parses 'dir_in' INTO 'dir_out' USING 'model.onnx' [(options)].
func parseLabelDir(a *engine.Args) (labelStmt, error) {
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
	st := labelStmt{dir: true, in: in, out: out}
	if err := parseUsing(a, &st, false); err != nil {
		return labelStmt{}, err
	}
	return st, nil
}

// parseLabelNodes parses the text target USING 'model.onnx' [(options)].
func parseLabelNodes(rest string) (labelStmt, error) { return parseLabelTarget(engine.NewArgs(rest)) }

// parseLabelTarget parses target USING 'model.onnx' [(options)].
func parseLabelTarget(a *engine.Args) (labelStmt, error) {
	t, after, err := parseTargetArgs(a, []string{"USING"}, labelOptions)
	if err != nil {
		return labelStmt{}, err
	}
	st := labelStmt{target: t}
	if err := parseUsing(after, &st, true); err != nil {
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
	if st.opts, err = labelVisionOptions(raw, nodes); err != nil {
		return err
	}
	st.conc, err = concurrencyOpt(raw)
	return err
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
