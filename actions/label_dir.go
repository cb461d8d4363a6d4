package actions

// LABEL 'dir_in' INTO 'dir_out' USING 'model.onnx' [(options)]: local
// images sorted into dir_out/<label>/ by vision.LabelDir.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/resultset"
	"github.com/apsql/apsql/vision"
)

// dirRow is one result row of LABEL 'dir_in' INTO 'dir_out'.
type dirRow struct {
	path, label    string
	prob           float64
	status, detail string
}

// runDir runs LABEL 'dir_in' INTO 'dir_out' USING 'model.onnx' [(options)]
// through vision.LabelDir. Result rows show paths as walked (dir_in joined
// with the file's relative path); labels.path and the journal hold the
// absolute path, so that runs from other directories replace the same rows.
func (l *labeler) runDir(ctx context.Context, s *engine.Session, st labelStmt, explain bool) (*engine.Result, error) {
	if fi, err := os.Stat(st.in); err != nil {
		return nil, fmt.Errorf("label: input directory: %w", unwrapPath(err))
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("label: input %s is not a directory: give the directory that holds the images", st.in)
	}
	m, err := loadLabelModel(st)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	files, err := listImages(st.in, st.out)
	if err != nil {
		return nil, fmt.Errorf("label: %w", err)
	}
	if explain {
		return explainDir(s, st, m, files), nil
	}
	r, err := newRun(ctx, s, "LABEL", false)
	if err != nil {
		return nil, err
	}
	d := &dirRun{s: s, st: st, m: m, sink: newLabelSink(r, "file", m.Name())}
	tr := s.Progress.Start("label", int64(len(files)), "images")
	defer tr.Done()
	sum, err := d.label(ctx, tr)
	interrupted := ctx.Err() != nil && errors.Is(err, ctx.Err())
	if err != nil && !interrupted {
		return nil, err
	}
	return d.result(sum, interrupted), nil
}

// explainDir is EXPLAIN LABEL 'dir_in' INTO 'dir_out': the files it would
// classify and where their copies would go.
func explainDir(s *engine.Session, st labelStmt, m *vision.Model, files []string) *engine.Result {
	w, h := m.InputSize()
	b := resultset.New(dirColumns...)
	for _, f := range files {
		b.Append(f, nil, nil, string(statusPlanned), fmt.Sprintf("classify at %dx%d; copy into %s/<%s>/", w, h, st.out, st.opts.Naming))
	}
	empty := "dir_out is first emptied of the files earlier runs wrote"
	if st.opts.Accumulate {
		empty = "ACCUMULATE keeps what dir_out holds"
	}
	return &engine.Result{Rows: b.Reader(), Summary: s.Say("explain label: would classify %v %s under %s with model %s (%dx%d, %s) into %s; %s; nothing was copied or written",
		model.Count(len(files)), plural(int64(len(files)), "file", "files"), st.in, m.Name(), w, h, vision.RuntimePath(), st.out, empty)}
}

// dirRun is one LABEL 'dir_in' INTO 'dir_out': the rows of the files
// vision.LabelDir reported, and the sink their outcomes and predictions
// go through.
type dirRun struct {
	s    *engine.Session
	st   labelStmt
	m    *vision.Model
	sink *labelSink
	rows []dirRow
	// werr is the first failed write of the sink; cancel then ends the
	// run.
	werr   error
	cancel context.CancelFunc
}

// label runs vision.LabelDir and writes what it reports. The error is for
// the run as a whole, with the statement's name: a failed write, or
// LabelDir's own (ctx's when interrupted).
func (d *dirRun) label(ctx context.Context, tr engine.Tracker) (vision.Summary, error) {
	// runCtx also ends when writing the results fails.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.cancel = cancel
	sum, err := d.m.LabelDir(runCtx, d.st.in, d.st.out, d.st.opts, func(fr vision.FileResult) {
		tr.Add(1)
		d.add(fr)
	})
	if cerr := d.sink.close(); d.werr == nil {
		d.werr = cerr
	}
	switch {
	case d.werr != nil:
		return sum, fmt.Errorf("label: %w", d.werr)
	case err == nil || ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return sum, err
	case sum.Files == 0:
		return sum, fmt.Errorf("label: %w", err)
	}
	return sum, fmt.Errorf("label: %w (the %d images classified before it stopped are in labels and actions_log)", err, sum.Files)
}

// add keeps one file's row and hands its outcome and predictions to the
// sink; a failed write stops the run.
func (d *dirRun) add(fr vision.FileResult) {
	abs, err := filepath.Abs(fr.Path)
	if err != nil {
		abs = fr.Path
	}
	detail := fr.Detail
	switch {
	case fr.Dest != "" && detail != "":
		detail = fr.Dest + " (" + detail + ")"
	case fr.Dest != "":
		detail = fr.Dest
	}
	d.rows = append(d.rows, dirRow{path: fr.Path, label: fr.Label, prob: fr.Prob, status: fr.Status, detail: detail})
	if d.werr != nil {
		return
	}
	if d.werr = d.sink.add(Outcome{Name: fr.Path, Status: Status(fr.Status), Detail: detail, Target: abs}, abs, fr.Top); d.werr != nil {
		d.cancel()
	}
}

// result returns the rows, in walk order, and the summary line.
func (d *dirRun) result(sum vision.Summary, interrupted bool) *engine.Result {
	b := resultset.New(dirColumns...)
	for _, r := range d.rows {
		label, prob := prediction(r.label, r.prob)
		b.Append(r.path, label, prob, r.status, r.detail)
	}
	var line strings.Builder
	line.WriteString("label")
	if interrupted {
		line.WriteString(" interrupted")
	}
	line.WriteString(d.s.Say(": %v %s: %v labeled, %v unlabeled, %v skipped, %v failed",
		model.Count(sum.Files), plural(int64(sum.Files), "file", "files"),
		model.Count(sum.Labeled), model.Count(sum.Unlabeled), model.Count(sum.Skipped), model.Count(sum.Failed)))
	fmt.Fprintf(&line, " into %s", d.st.out)
	if sum.Removed > 0 {
		line.WriteString(d.s.Say(" (%v earlier %s removed first)", model.Count(sum.Removed), plural(int64(sum.Removed), "copy", "copies")))
	}
	line.WriteString(d.s.Say(" in %s; %v rows into labels (model %s)", rate(sum.Files, sum.Elapsed), model.Count(d.sink.written.Load()), d.m.Name()))
	return &engine.Result{Rows: b.Reader(), Summary: line.String()}
}

// listImages lists the regular files under in that LabelDir will read, in
// its walk order, skipping out when it lies inside in (for the progress
// total and EXPLAIN).
func listImages(in, out string) ([]string, error) {
	outAbs, _ := filepath.Abs(out)
	var files []string
	err := filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == in {
				return fmt.Errorf("walk %s: %w", path, err)
			}
			// LabelDir reports an unreadable file or folder in its place
			// (one skipped row) and goes on: count it as one entry.
			files = append(files, path)
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if a, err := filepath.Abs(path); err == nil && a == outAbs && path != in {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
				return nil
			}
		}
		files = append(files, path)
		return nil
	})
	return files, err
}
