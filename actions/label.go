package actions

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apsql/apsql/output"

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

// labelRow is one prediction for the labels table.
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
			b.Append(f, nil, nil, string(statusPlanned), fmt.Sprintf("classify at %dx%d; copy into %s/<%s>/", w, h, st.out, st.opts.Naming))
		}
		empty := "dir_out is first emptied of the files earlier runs wrote"
		if st.opts.Accumulate {
			empty = "ACCUMULATE keeps what dir_out holds"
		}
		return &engine.Result{Rows: b.Reader(), Summary: fmt.Sprintf("explain label: would classify %s %s under %s with model %s (%dx%d, %s) into %s; %s; nothing was copied or written",
			output.Thousands(int64(len(files))), plural(int64(len(files)), "file", "files"), st.in, m.Name(), w, h, vision.RuntimePath(), st.out, empty)}, nil
	}

	r, err := newRun(ctx, s, "LABEL", false)
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
			if werr = sink.add(Outcome{Name: fr.Path, Status: Status(fr.Status), Detail: detail, Target: abs}, abs, fr.Top); werr != nil {
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
	r, err := newRun(ctx, s, "LABEL", explain)
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
				data, err := fetchThumbnail(ctx, c, j.it, m, ownerID)
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
		o := Outcome{ID: j.it.ID, Name: j.it.Name, Status: Status(res.Status), Detail: res.Detail}
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
			finish(j, Outcome{ID: j.it.ID, Name: j.it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: why}, "", 0, nil)
		}
	}
	return err
}

// fetchThumbnail reads one node's thumbnail fitted into the model's input
// size (fetch.Client.ThumbnailBox caps its size).
func fetchThumbnail(ctx context.Context, c *fetch.Client, it item, m *vision.Model, ownerID func(item) (string, error)) ([]byte, error) {
	owner, err := ownerID(it)
	if err != nil {
		return nil, err
	}
	w, h := m.InputSize()
	return c.ThumbnailBox(ctx, it.ID, owner, w, h)
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
		b.Append(id, nr.o.Name, string(nr.o.Status), nr.o.Detail, label, prob)
	}
	// The run's own summary, without its rows (they lack label and prob).
	sum := r.result(interrupted, extra)
	if sum.Rows != nil {
		sum.Rows.Release()
	}
	return &engine.Result{Rows: b.Reader(), Summary: sum.Summary}
}
