package actions

// LABEL target USING 'model.onnx' [(options)]: photos of the library
// classified from their thumbnails.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/filetypes"
	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/resultset"
	"github.com/apsql/apsql/vision"
)

// nodeRow is one result row of LABEL target.
type nodeRow struct {
	ord int // the node's place in the target
	o   Outcome
	// label and prob are the prediction LABEL's rule picks (THRESHOLD,
	// EXCLUDE, RESTRICT); label is "" when none qualifies.
	label string
	prob  float64
}

// nodeRows collects the result rows of LABEL target from concurrent
// workers.
type nodeRows struct {
	mu   sync.Mutex
	rows []nodeRow
}

func (nr *nodeRows) add(r nodeRow) {
	nr.mu.Lock()
	nr.rows = append(nr.rows, r)
	nr.mu.Unlock()
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
	r, items, err := begin(ctx, s, "LABEL", "label", st.target, "nodes", explain)
	if err != nil {
		return nil, err
	}
	jobs, early := triage(items)
	if explain {
		return explainNodes(r, m, st, jobs, early), nil
	}
	var c *fetch.Client
	if len(jobs) > 0 {
		if c, err = l.client(ctx); err != nil {
			return nil, err
		}
	}
	rows := &nodeRows{}
	start := time.Now()
	written, err := labelNodes(ctx, s, c, m, st, r, jobs, early, rows)
	if err != nil {
		return nil, err
	}
	n := len(jobs)
	extra := s.Say("%v %s classified in %s; %v rows into labels (model %s)",
		model.Count(n), plural(int64(n), "thumbnail", "thumbnails"), rate(n, time.Since(start)), model.Count(written), m.Name())
	return nodesResult(r, rows.rows, extra, ctx.Err() != nil), nil
}

// triage sorts the target's nodes into the photos whose thumbnails are to
// be classified and the rows decided without the service: nodes the
// mirror lacks, nodes in the trash, nodes that are not photos.
func triage(items []item) (jobs []thumbJob, early []nodeRow) {
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
		early = append(early, nodeRow{ord: k, o: o})
	}
	return jobs, early
}

// isPhoto reports whether a node is an image: its content type, or when
// the mirror has none, its extension's category.
func isPhoto(it item) bool {
	if it.Type != "" {
		return strings.HasPrefix(strings.ToLower(it.Type), "image/")
	}
	return filetypes.Category(it.Ext) == "img"
}

// viewBox is the thumbnail size asked of the service: the model's input.
func viewBox(m *vision.Model) string {
	w, h := m.InputSize()
	return strconv.Itoa(w) + "," + strconv.Itoa(h)
}

// explainNodes is EXPLAIN LABEL target: the rows decided without the
// service, and a planned row for each thumbnail it would classify.
func explainNodes(r *run, m *vision.Model, st labelStmt, jobs []thumbJob, early []nodeRow) *engine.Result {
	rows := slices.Clone(early)
	for _, e := range early {
		r.add(e.o)
	}
	box := viewBox(m)
	for _, j := range jobs {
		o := Outcome{ID: j.it.ID, Name: j.it.Name, Status: statusPlanned,
			Detail: fmt.Sprintf("GET /v1/thumbnail/{id}?viewBox=%s → classify with %s", box, m.Name())}
		rows = append(rows, nodeRow{ord: j.ord, o: o})
	}
	return nodesResult(r, rows, r.s.Say("would fetch %v %s at %s, %d at a time, and classify them with %s (%s); nothing was sent or written",
		model.Count(len(jobs)), plural(int64(len(jobs)), "thumbnail", "thumbnails"), box, st.conc, m.Name(), vision.RuntimePath()), false)
}

// labelNodes journals the early rows, classifies the thumbnails of jobs
// and writes every outcome and prediction through one sink; rows gets
// every row. It returns how many rows went into labels. The error is for
// the run as a whole, with the statement's name; an interrupted run is
// none.
func labelNodes(ctx context.Context, s *engine.Session, c *fetch.Client, m *vision.Model, st labelStmt, r *run,
	jobs []thumbJob, early []nodeRow, rows *nodeRows) (int64, error) {
	sink := newLabelSink(r, "node", m.Name())
	defer sink.close()
	for _, e := range early {
		rows.add(e)
		if err := sink.add(e.o, "", nil); err != nil {
			return 0, fmt.Errorf("label: %w", err)
		}
	}
	var runErr error
	if len(jobs) > 0 {
		tr := s.Progress.Start("label", int64(len(jobs)), "images")
		runErr = classifyThumbnails(ctx, c, m, st, jobs, sink, tr, rows.add)
		tr.Done()
	}
	if err := sink.close(); err != nil {
		return 0, fmt.Errorf("label: %w", err)
	}
	if runErr != nil && ctx.Err() == nil {
		return 0, fmt.Errorf("label: %w (the thumbnails classified before it stopped are in labels and actions_log)", runErr)
	}
	return sink.written.Load(), nil
}

// nodesResult builds the result of LABEL target: rows in the target's
// order and the run's summary line.
func nodesResult(r *run, rows []nodeRow, extra string, interrupted bool) *engine.Result {
	slices.SortStableFunc(rows, func(a, b nodeRow) int { return a.ord - b.ord })
	b := resultset.New(nodeColumns...)
	for _, nr := range rows {
		var id any
		if nr.o.ID != "" {
			id = nr.o.ID
		}
		label, prob := prediction(nr.label, nr.prob)
		b.Append(id, nr.o.Name, string(nr.o.Status), nr.o.Detail, label, prob)
	}
	// The run's own summary, without its rows (they lack label and prob).
	sum := r.result(interrupted, extra)
	if sum.Rows != nil {
		sum.Rows.Release()
	}
	return &engine.Result{Rows: b.Reader(), Summary: sum.Summary}
}
