package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/apsql/apsql/output"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/filetypes"
	"github.com/apsql/apsql/resultset"
	"github.com/apsql/apsql/vision"
)

// LABEL (SPEC §2.3, §2.4) has two forms:
//
//	LABEL 'dir_in' INTO 'dir_out' USING 'model.onnx' [(options)]
//	LABEL target USING 'model.onnx' [(options)]
//
// The first is the reference's run(...): vision.LabelDir sorts local images
// into dir_out/<label>/. The second classifies photos of the library from
// their thumbnails. Both write every image's top-k predictions into the
// labels table (replacing the rows an earlier run of the same model wrote
// for the same file or node) and journal one outcome per image in
// actions_log, in transactions of labelFlush images.

// Option names of LABEL. The preprocessing overrides mirror model.json's
// fields (vision.Config).
var (
	labelCommonOptions = []string{"THRESHOLD", "TOPK", "EXCLUDE", "RESTRICT", "BATCH", "WORKERS", "DEVICE",
		"LABELS", "LIBRARY", "THREADS", "INPUT_SIZE", "INTERPOLATION", "CROP_PCT", "CROP_MODE", "MEAN", "STD", "OUTPUT"}
	// labelDirOnly apply to LABEL 'dir_in' INTO 'dir_out' only.
	labelDirOnly = []string{"ACCUMULATE", "NAMING"}
	// labelNodesOnly apply to LABEL target only.
	labelNodesOnly = []string{"CONCURRENCY"}
	labelOptions   = slices.Concat(labelCommonOptions, labelDirOnly, labelNodesOnly)
)

// labelFlush is how many images' rows go into one transaction of labels
// and actions_log rows: large enough that the database is not the
// bottleneck, small enough that an interrupted run keeps what it did.
const labelFlush = 256

// maxThumbnail bounds the size of one thumbnail read into memory; a
// thumbnail at a model's input size is a few tens of kilobytes.
const maxThumbnail = 32 << 20

// labeler runs the LABEL statements of one shell. RegisterLabel creates it.
type labeler struct {
	// client returns the session's API client; it is called only when
	// LABEL target has thumbnails to fetch.
	client func(ctx context.Context) (*fetch.Client, error)
}

// RegisterLabel adds LABEL and EXPLAIN LABEL to reg. client returns the
// session's API client; it is called only when LABEL target has thumbnails
// to fetch, so LABEL 'dir' INTO 'dir' and EXPLAIN LABEL work without
// cookies.
func RegisterLabel(reg *engine.Registry, client func(ctx context.Context) (*fetch.Client, error)) {
	l := &labeler{client: client}
	if client == nil {
		l.client = func(context.Context) (*fetch.Client, error) { return nil, errNoClient }
	}
	const syntax = "LABEL 'dir_in' INTO 'dir_out' USING 'model.onnx' [(options)] | LABEL target USING 'model.onnx' [(options)]"
	reg.Register(engine.Command{Keywords: []string{"LABEL"}, Syntax: syntax,
		Help: "classify images with an ONNX model: local files into dir_out/<label>/, or library photos from their thumbnails; top-k predictions into labels",
		Run: func(ctx context.Context, s *engine.Session, rest string) (*engine.Result, error) {
			return l.run(ctx, s, rest, false)
		}})
	reg.Register(engine.Command{Keywords: []string{"EXPLAIN", "LABEL"}, Syntax: "EXPLAIN " + syntax,
		Help: "dry run of LABEL: loads the model and lists the files or nodes it would classify; nothing is copied, fetched or written",
		Run: func(ctx context.Context, s *engine.Session, rest string) (*engine.Result, error) {
			return l.run(ctx, s, rest, true)
		}})
}

// run dispatches on the statement's form: a string followed by INTO is
// the directory form, anything else a target.
func (l *labeler) run(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	if isDirForm(rest) {
		st, err := parseLabelDir(rest)
		if err != nil {
			return nil, fmt.Errorf("label: %w", err)
		}
		return l.runDir(ctx, s, st, explain)
	}
	st, err := parseLabelNodes(rest)
	if err != nil {
		return nil, fmt.Errorf("label: %w", err)
	}
	return l.runNodes(ctx, s, st, explain)
}

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

// labelRow is one prediction for the labels table.
type labelRow struct {
	key string // path (source 'file') or node id (source 'node')
	p   vision.Prediction
}

// labelSink collects the outcomes of one LABEL run and writes them, with
// their predictions, to labels and actions_log every labelFlush images, in
// a goroutine of its own so that the database writes overlap fetching and
// inference. It is safe for concurrent use; close ends it.
type labelSink struct {
	r      *run
	source string // "file" or "node"
	model  string

	mu   sync.Mutex
	outs []Outcome  // not yet handed to the writer
	rows []labelRow // not yet handed to the writer
	keys []string   // files or nodes whose earlier rows are replaced

	queue     chan labelBatch // to the writer; two batches may wait
	done      chan struct{}   // closed when the writer has finished
	written   atomic.Int64    // labels rows written
	closeOnce sync.Once
	errMu     sync.Mutex
	err       error // the first failed write
}

// labelBatch is one transaction's worth of outcomes and predictions.
type labelBatch struct {
	outs []Outcome
	rows []labelRow
	keys []string
}

func newLabelSink(r *run, source, model string) *labelSink {
	k := &labelSink{r: r, source: source, model: model, queue: make(chan labelBatch, 2), done: make(chan struct{})}
	go k.writer()
	return k
}

// writer writes the batches in order; after a failed one it only drains
// the queue.
func (k *labelSink) writer() {
	defer close(k.done)
	for b := range k.queue {
		if k.failed() != nil {
			continue
		}
		apply := func(ctx context.Context, tx *sql.Tx) error {
			return writeLabels(ctx, tx, k.source, k.model, b.keys, b.rows)
		}
		// record writes even when the statement is cancelled: what was
		// labeled is kept.
		if err := k.r.record(context.Background(), apply, b.outs...); err != nil {
			k.errMu.Lock()
			k.err = err
			k.errMu.Unlock()
			continue
		}
		k.written.Add(int64(len(b.rows)))
	}
}

func (k *labelSink) failed() error {
	k.errMu.Lock()
	defer k.errMu.Unlock()
	return k.err
}

// add queues one image's outcome and, when top is not empty, its
// predictions; a full queue goes to the writer. The error is that of an
// earlier failed write: the run should stop.
func (k *labelSink) add(o Outcome, key string, top []vision.Prediction) error {
	if err := k.failed(); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.outs = append(k.outs, o)
	if len(top) > 0 {
		k.keys = append(k.keys, key)
		for _, p := range top {
			k.rows = append(k.rows, labelRow{key: key, p: p})
		}
	}
	if len(k.outs) >= labelFlush {
		k.handOff()
	}
	return nil
}

// handOff gives what is queued to the writer (it waits while two batches
// are pending: the database then sets the pace). k.mu is held.
func (k *labelSink) handOff() {
	if len(k.outs) == 0 {
		return
	}
	k.queue <- labelBatch{outs: k.outs, rows: k.rows, keys: k.keys}
	k.outs, k.rows, k.keys = nil, nil, nil
}

// close writes what is left, waits for the writer and returns the first
// failed write. add must not be called after close; calling close again
// returns the same error.
func (k *labelSink) close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		k.handOff()
		close(k.queue)
		k.mu.Unlock()
		<-k.done
	})
	return k.failed()
}

// labelInsertRows is how many rows one INSERT into labels carries.
const labelInsertRows = 1000

// writeLabels replaces the rows of keys (paths or ids, by source) for model
// with rows.
func writeLabels(ctx context.Context, tx *sql.Tx, source, model string, keys []string, rows []labelRow) error {
	col := "path"
	if source == "node" {
		col = "id"
	}
	for lo := 0; lo < len(keys); lo += 1000 {
		hi := min(lo+1000, len(keys))
		q := fmt.Sprintf(`DELETE FROM labels WHERE source = ? AND model = ? AND %s IN %s`, col, idList(keys[lo:hi]))
		if _, err := tx.ExecContext(ctx, q, source, model); err != nil {
			return fmt.Errorf("replace earlier labels: %w", err)
		}
	}
	// Literal VALUES: DuckDB binds parameters of a many-row INSERT several
	// times slower than it parses literals (BenchmarkLabelNodes).
	at := engine.Quote(time.Now().UTC().Format("2006-01-02 15:04:05.999999")) + "::TIMESTAMP"
	src, mdl := engine.Quote(source), engine.Quote(model)
	var b strings.Builder
	for lo := 0; lo < len(rows); lo += labelInsertRows {
		hi := min(lo+labelInsertRows, len(rows))
		b.Reset()
		b.WriteString(`INSERT INTO labels (source, path, id, rank, label, synset, classIndex, prob, model, labeledAt) VALUES `)
		for i, r := range rows[lo:hi] {
			if i > 0 {
				b.WriteString(", ")
			}
			path, id := "NULL", engine.Quote(r.key)
			if source != "node" {
				path, id = id, path
			}
			synset := "NULL"
			if r.p.Synset != "" {
				synset = engine.Quote(r.p.Synset)
			}
			fmt.Fprintf(&b, "(%s, %s, %s, %d, %s, %s, %d, %s, %s, %s)", src, path, id, r.p.Rank, engine.Quote(r.p.Name), synset,
				r.p.Index, strconv.FormatFloat(r.p.Prob, 'g', -1, 64), mdl, at)
		}
		if _, err := tx.ExecContext(ctx, b.String()); err != nil {
			return fmt.Errorf("write labels: %w", err)
		}
	}
	return nil
}

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
	w, h := m.InputSize()
	if explain {
		b := resultset.New(dirColumns...)
		for _, f := range files {
			b.Append(f, nil, nil, statusPlanned, fmt.Sprintf("classify at %dx%d; copy into %s/<%s>/", w, h, st.out, st.opts.Naming))
		}
		empty := "dir_out is first emptied of the files earlier runs wrote"
		if st.opts.Accumulate {
			empty = "ACCUMULATE keeps what dir_out holds"
		}
		return &engine.Result{Rows: b.Reader(), Summary: fmt.Sprintf("explain label: would classify %s %s under %s with model %s (%dx%d, %s) into %s; %s; nothing was copied or written",
			output.Thousands(int64(len(files))), plural(int64(len(files)), "file", "files"), st.in, m.Name(), w, h, vision.RuntimePath(), st.out, empty)}, nil
	}

	r, err := newRun(ctx, s, "LABEL")
	if err != nil {
		return nil, err
	}
	sink := newLabelSink(r, "file", m.Name())
	tr := s.Progress.Start("label", int64(len(files)), "images")
	defer tr.Done()
	var rows []dirRow
	var werr error
	// runCtx also ends when writing the results fails.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sum, err := m.LabelDir(runCtx, st.in, st.out, st.opts, func(fr vision.FileResult) {
		tr.Add(1)
		abs, aerr := filepath.Abs(fr.Path)
		if aerr != nil {
			abs = fr.Path
		}
		detail := fr.Detail
		if fr.Dest != "" {
			if detail != "" {
				detail = fr.Dest + " (" + detail + ")"
			} else {
				detail = fr.Dest
			}
		}
		rows = append(rows, dirRow{path: fr.Path, label: fr.Label, prob: fr.Prob, status: fr.Status, detail: detail})
		if werr == nil {
			if werr = sink.add(Outcome{Name: fr.Path, Status: fr.Status, Detail: detail, Target: abs}, abs, fr.Top); werr != nil {
				cancel()
			}
		}
	})
	if cerr := sink.close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("label: %w", werr)
	}
	interrupted := ctx.Err() != nil && errors.Is(err, ctx.Err())
	if err != nil && !interrupted {
		if !strings.HasPrefix(err.Error(), "label: ") {
			err = fmt.Errorf("label: %w", err)
		}
		if sum.Files == 0 {
			return nil, err
		}
		return nil, fmt.Errorf("%w (the %d images classified before it stopped are in labels and actions_log)", err, sum.Files)
	}
	b := resultset.New(dirColumns...)
	for _, d := range rows {
		var label, prob any
		if d.label != "" {
			label, prob = d.label, d.prob
		}
		b.Append(d.path, label, prob, d.status, d.detail)
	}
	var line strings.Builder
	line.WriteString("label")
	if interrupted {
		line.WriteString(" interrupted")
	}
	fmt.Fprintf(&line, ": %s %s: %s labeled, %s unlabeled, %s skipped, %s failed",
		output.Thousands(int64(sum.Files)), plural(int64(sum.Files), "file", "files"),
		output.Thousands(int64(sum.Labeled)), output.Thousands(int64(sum.Unlabeled)), output.Thousands(int64(sum.Skipped)), output.Thousands(int64(sum.Failed)))
	fmt.Fprintf(&line, " into %s", st.out)
	if sum.Removed > 0 {
		fmt.Fprintf(&line, " (%s earlier %s removed first)", output.Thousands(int64(sum.Removed)), plural(int64(sum.Removed), "copy", "copies"))
	}
	fmt.Fprintf(&line, " in %s; %s rows into labels (model %s)", rate(sum.Files, sum.Elapsed), output.Thousands(sink.written.Load()), m.Name())
	return &engine.Result{Rows: b.Reader(), Summary: line.String()}, nil
}

// dirColumns are the result columns of LABEL 'dir_in' INTO 'dir_out'.
var dirColumns = []resultset.Column{
	resultset.Col("path", resultset.String),
	resultset.Col("label", resultset.String),
	resultset.Col("prob", resultset.Float64),
	resultset.Col("status", resultset.String),
	resultset.Col("detail", resultset.String),
}

// rate formats a run's duration and images per second: "1.2 s, 35.0 images/s".
func rate(n int, d time.Duration) string {
	s := fmt.Sprintf("%.1f s", d.Seconds())
	if n > 0 && d > 0 {
		s += fmt.Sprintf(", %.1f images/s", float64(n)/d.Seconds())
	}
	return s
}

// listImages lists the regular files under in that LabelDir will read, in
// its walk order, skipping out when it lies inside in (for the progress
// total and EXPLAIN).
func listImages(in, out string) ([]string, error) {
	outAbs, _ := filepath.Abs(out)
	var files []string
	err := filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", path, err)
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

// nodeRow is one result row of LABEL target.
type nodeRow struct {
	ord int // the node's place in the target
	o   Outcome
	// label and prob are the prediction LABEL's rule picks (THRESHOLD,
	// EXCLUDE, RESTRICT); label is "" when none qualifies.
	label string
	prob  float64
}

// nodeColumns are the result columns of LABEL target.
var nodeColumns = []resultset.Column{
	resultset.Col("id", resultset.String),
	resultset.Col("name", resultset.String),
	resultset.Col("status", resultset.String),
	resultset.Col("detail", resultset.String),
	resultset.Col("label", resultset.String),
	resultset.Col("prob", resultset.Float64),
}

// isPhoto reports whether a node is an image: its content type, or when
// the mirror has none, its extension's category.
func isPhoto(it item) bool {
	if it.Type != "" {
		return strings.HasPrefix(strings.ToLower(it.Type), "image/")
	}
	return filetypes.Category(it.Ext) == "img"
}

// thumbJob is one thumbnail to fetch.
type thumbJob struct {
	ord int
	it  item
}

// runNodes runs LABEL target USING 'model.onnx' [(options)]: the photos'
// thumbnails are fetched at the model's input size, CONCURRENCY at a
// time, while earlier ones are decoded and classified.
func (l *labeler) runNodes(ctx context.Context, s *engine.Session, st labelStmt, explain bool) (*engine.Result, error) {
	m, err := loadLabelModel(st)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	items, err := resolve(ctx, s.DB, st.target, "nodes")
	if err != nil {
		return nil, fmt.Errorf("label: %w", err)
	}
	action := "LABEL"
	if explain {
		action = "EXPLAIN LABEL"
	}
	r, err := newRun(ctx, s, action)
	if err != nil {
		return nil, err
	}
	r.orderBy(items)
	w, h := m.InputSize()
	viewBox := strconv.Itoa(w) + "," + strconv.Itoa(h)
	var mu sync.Mutex
	var rows []nodeRow
	addRow := func(nr nodeRow) {
		mu.Lock()
		rows = append(rows, nr)
		mu.Unlock()
	}
	var jobs []thumbJob
	var early []Outcome // decided without the service
	for k, it := range items {
		o := Outcome{ID: it.ID, Name: it.Name}
		switch {
		case !it.known():
			o.Status, o.Detail = StatusFailed, "not in the local mirror: run SYNC, then run the statement again"
		case !it.InNodes:
			o.Status, o.Detail = StatusSkipped, "in the trash: RESTORE it first"
		case !isPhoto(it):
			what := it.Type
			if what == "" {
				what = it.Kind
			}
			o.Status, o.Detail = StatusSkipped, "not a photo ("+what+")"
		default:
			jobs = append(jobs, thumbJob{ord: k, it: it})
			continue
		}
		early = append(early, o)
		addRow(nodeRow{ord: k, o: o})
	}
	if explain {
		r.add(early...)
		for _, j := range jobs {
			o := Outcome{ID: j.it.ID, Name: j.it.Name, Status: statusPlanned,
				Detail: fmt.Sprintf("GET /v1/thumbnail/{id}?viewBox=%s → classify with %s", viewBox, m.Name())}
			addRow(nodeRow{ord: j.ord, o: o})
		}
		return nodesResult(r, rows, fmt.Sprintf("would fetch %s %s at %s, %d at a time, and classify them with %s (%s); nothing was sent or written",
			output.Thousands(int64(len(jobs))), plural(int64(len(jobs)), "thumbnail", "thumbnails"), viewBox, st.conc, m.Name(), vision.RuntimePath()), false), nil
	}
	var c *fetch.Client
	if len(jobs) > 0 {
		if c, err = l.client(ctx); err != nil {
			return nil, err
		}
	}
	sink := newLabelSink(r, "node", m.Name())
	defer sink.close()
	for _, o := range early {
		if err := sink.add(o, "", nil); err != nil {
			return nil, fmt.Errorf("label: %w", err)
		}
	}
	start := time.Now()
	var fetchErr error
	if len(jobs) > 0 {
		tr := s.Progress.Start("label", int64(len(jobs)), "images")
		fetchErr = l.classifyThumbnails(ctx, c, m, st, jobs, viewBox, sink, tr, addRow)
		tr.Done()
	}
	if err := sink.close(); err != nil {
		return nil, fmt.Errorf("label: %w", err)
	}
	interrupted := ctx.Err() != nil
	if fetchErr != nil && !interrupted {
		return nil, fmt.Errorf("label: %w (the thumbnails classified before it stopped are in labels and actions_log)", fetchErr)
	}
	n := len(jobs)
	extra := fmt.Sprintf("%s %s classified in %s; %s rows into labels (model %s)",
		output.Thousands(int64(n)), plural(int64(n), "thumbnail", "thumbnails"), rate(n, time.Since(start)), output.Thousands(sink.written.Load()), m.Name())
	return nodesResult(r, rows, extra, interrupted), nil
}

// classifyThumbnails fetches the thumbnails of jobs, st.conc at a time, and
// classifies them as they arrive. Every job ends as exactly one outcome in
// sink and one row through addRow, also when ctx ends. The error is for
// the run as a whole: the model failing, or writing the results.
func (l *labeler) classifyThumbnails(parent context.Context, c *fetch.Client, m *vision.Model, st labelStmt, jobs []thumbJob,
	viewBox string, sink *labelSink, tr engine.Tracker, addRow func(nodeRow)) error {
	// ctx also ends when writing the results fails: nothing more is fetched.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	byID := make(map[string]thumbJob, len(jobs))
	for _, j := range jobs {
		byID[j.it.ID] = j
	}
	var done sync.Map // id → true once the job has its outcome
	var writeErr error
	var writeMu sync.Mutex
	finish := func(j thumbJob, o Outcome, label string, prob float64, top []vision.Prediction) {
		if _, dup := done.LoadOrStore(j.it.ID, true); dup {
			return
		}
		tr.Add(1)
		addRow(nodeRow{ord: j.ord, o: o, label: label, prob: prob})
		if err := sink.add(o, j.it.ID, top); err != nil {
			writeMu.Lock()
			if writeErr == nil {
				writeErr = err
			}
			writeMu.Unlock()
			cancel()
		}
	}

	var owner struct {
		sync.Mutex
		id string
	}
	ownerID := func(it item) (string, error) {
		if it.OwnerID != "" {
			return it.OwnerID, nil
		}
		owner.Lock()
		defer owner.Unlock()
		if owner.id == "" {
			o, err := c.OwnerID(ctx)
			if err != nil {
				return "", fmt.Errorf("read the owner id for thumbnails: %w", err)
			}
			owner.id = o
		}
		return owner.id, nil
	}

	// Fetchers hand thumbnails to the classifier as they arrive; the
	// channel's buffer lets them run ahead of the model by CONCURRENCY.
	in := make(chan vision.Image, st.conc)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(st.conc, len(jobs)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				data, err := fetchThumbnail(ctx, c, j.it, viewBox, ownerID)
				sink.r.requests.Add(1)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					finish(j, Outcome{ID: j.it.ID, Name: j.it.Name, Status: StatusFailed, Detail: "GET /v1/thumbnail/{id}: " + err.Error()}, "", 0, nil)
					continue
				}
				select {
				case in <- vision.Image{ID: j.it.ID, Data: data}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(in)
	}()

	err := m.ClassifyStream(ctx, in, st.opts, func(res vision.Result) error {
		j := byID[res.ID]
		o := Outcome{ID: j.it.ID, Name: j.it.Name, Status: res.Status, Detail: res.Detail}
		if res.Status == vision.StatusSkipped {
			o.Detail = "thumbnail not decodable: " + res.Detail
		}
		finish(j, o, res.Label, res.Prob, res.Top)
		return nil
	})
	cancel()
	wg.Wait()
	writeMu.Lock()
	werr := writeErr
	writeMu.Unlock()
	switch {
	case werr != nil:
		err = werr
	case parent.Err() != nil:
		err = nil // interrupted: the result says so
	}
	// Every node the run did not get to is accounted for.
	why := "not labeled: interrupted"
	if err != nil {
		why = "not labeled: the run stopped: " + err.Error()
	}
	for _, j := range jobs {
		if _, ok := done.Load(j.it.ID); !ok {
			finish(j, Outcome{ID: j.it.ID, Name: j.it.Name, Status: StatusFailed, Detail: why}, "", 0, nil)
		}
	}
	return err
}

// fetchThumbnail reads one node's thumbnail fitted into viewBox (API.md
// §1.4 C6: ownerId is required).
func fetchThumbnail(ctx context.Context, c *fetch.Client, it item, viewBox string, ownerID func(item) (string, error)) ([]byte, error) {
	owner, err := ownerID(it)
	if err != nil {
		return nil, err
	}
	var data []byte
	err = c.Do(ctx, &fetch.Request{Host: fetch.HostThumbnail, Path: "/v1/thumbnail/" + url.PathEscape(it.ID),
		Query: url.Values{"ownerId": {owner}, "viewBox": {viewBox}}, Op: "GET /v1/thumbnail/" + it.ID}, &data)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, errors.New("empty thumbnail")
	}
	if len(data) > maxThumbnail {
		return nil, fmt.Errorf("thumbnail of %s is larger than %s", output.Bytes(int64(len(data))), output.Bytes(maxThumbnail))
	}
	return data, nil
}

// nodesResult builds the result of LABEL target: rows in the target's
// order and the run's summary line.
func nodesResult(r *run, rows []nodeRow, extra string, interrupted bool) *engine.Result {
	slices.SortStableFunc(rows, func(a, b nodeRow) int { return a.ord - b.ord })
	b := resultset.New(nodeColumns...)
	for _, nr := range rows {
		var id, label, prob any
		if nr.o.ID != "" {
			id = nr.o.ID
		}
		if nr.label != "" {
			label, prob = nr.label, nr.prob
		}
		b.Append(id, nr.o.Name, nr.o.Status, nr.o.Detail, label, prob)
	}
	// The run's own summary, without its rows (they lack label and prob).
	sum := r.result(interrupted, extra)
	if sum.Rows != nil {
		sum.Rows.Release()
	}
	return &engine.Result{Rows: b.Reader(), Summary: sum.Summary}
}
