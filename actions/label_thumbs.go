package actions

// The workers of LABEL target: fetchers of thumbnails, CONCURRENCY at a
// time, feeding the model's stream, and the bookkeeping that gives every
// photo exactly one outcome.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/vision"
)

// thumbRun is one LABEL target's classification of thumbnails.
type thumbRun struct {
	c      *fetch.Client
	m      *vision.Model
	jobs   []thumbJob
	byID   map[string]thumbJob
	sink   *labelSink
	tr     engine.Tracker
	addRow func(nodeRow)
	// cancel ends the run's context: a failed write stops fetching.
	cancel context.CancelFunc

	done     sync.Map // id → true once the job has its outcome
	writeMu  sync.Mutex
	writeErr error // the sink's first failed write
	owner    struct {
		sync.Mutex
		id string
	}
}

// classifyThumbnails fetches the thumbnails of jobs, st.conc at a time, and
// classifies them as they arrive. Every job ends as exactly one outcome in
// sink and one row through addRow, also when ctx ends. The error is for
// the run as a whole: the model failing, or writing the results.
func classifyThumbnails(parent context.Context, c *fetch.Client, m *vision.Model, st labelStmt, jobs []thumbJob,
	sink *labelSink, tr engine.Tracker, addRow func(nodeRow)) error {
	// ctx also ends when writing the results fails: nothing more is fetched.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	t := &thumbRun{c: c, m: m, jobs: jobs, byID: make(map[string]thumbJob, len(jobs)), sink: sink, tr: tr, addRow: addRow, cancel: cancel}
	for _, j := range jobs {
		t.byID[j.it.ID] = j
	}
	// Fetchers hand thumbnails to the classifier as they arrive; the
	// channel's buffer lets them run ahead of the model by CONCURRENCY.
	in := make(chan vision.Image, st.conc)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(st.conc, len(jobs)) {
		wg.Go(func() { t.fetcher(ctx, &next, in) })
	}
	go func() {
		wg.Wait()
		close(in)
	}()
	err := m.ClassifyStream(ctx, in, st.opts, t.classified)
	cancel()
	wg.Wait()
	err = t.runError(parent, err)
	t.finishRest(err)
	return err
}

// fetcher takes the next job until none is left or ctx ends, and sends
// its thumbnail to the classifier; a thumbnail that cannot be fetched is
// the job's failed outcome.
func (t *thumbRun) fetcher(ctx context.Context, next *atomic.Int64, in chan<- vision.Image) {
	for ctx.Err() == nil {
		i := int(next.Add(1)) - 1
		if i >= len(t.jobs) {
			return
		}
		j := t.jobs[i]
		data, err := t.fetch(ctx, j.it)
		t.sink.r.requests.Add(1)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			t.finish(j, Outcome{ID: j.it.ID, Name: j.it.Name, Status: StatusFailed, Detail: "GET /v1/thumbnail/{id}: " + err.Error()}, "", 0, nil)
			continue
		}
		select {
		case in <- vision.Image{ID: j.it.ID, Data: data}:
		case <-ctx.Done():
			return
		}
	}
}

// fetch reads one node's thumbnail fitted into the model's input size
// (fetch.Client.ThumbnailBox caps its size).
func (t *thumbRun) fetch(ctx context.Context, it item) ([]byte, error) {
	owner, err := t.ownerID(ctx, it)
	if err != nil {
		return nil, err
	}
	w, h := t.m.InputSize()
	return t.c.ThumbnailBox(ctx, it.ID, owner, w, h)
}

// ownerID is the node's owner, for its thumbnail's URL: the mirror's, or
// else the account's, read once.
func (t *thumbRun) ownerID(ctx context.Context, it item) (string, error) {
	if it.OwnerID != "" {
		return it.OwnerID, nil
	}
	t.owner.Lock()
	defer t.owner.Unlock()
	if t.owner.id == "" {
		o, err := t.c.OwnerID(ctx)
		if err != nil {
			return "", fmt.Errorf("read the owner id for thumbnails: %w", err)
		}
		t.owner.id = o
	}
	return t.owner.id, nil
}

// classified is the outcome of one classified thumbnail.
func (t *thumbRun) classified(res vision.Result) error {
	j := t.byID[res.ID]
	o := Outcome{ID: j.it.ID, Name: j.it.Name, Status: Status(res.Status), Detail: res.Detail}
	if res.Status == vision.StatusSkipped {
		o.Detail = "thumbnail not decodable: " + res.Detail
	}
	t.finish(j, o, res.Label, res.Prob, res.Top)
	return nil
}

// finish gives job j its outcome, once: a row, progress, and the outcome
// with its predictions to the sink. A failed write ends the run.
func (t *thumbRun) finish(j thumbJob, o Outcome, label string, prob float64, top []vision.Prediction) {
	if _, dup := t.done.LoadOrStore(j.it.ID, true); dup {
		return
	}
	t.tr.Add(1)
	t.addRow(nodeRow{ord: j.ord, o: o, label: label, prob: prob})
	if err := t.sink.add(o, j.it.ID, top); err != nil {
		t.writeMu.Lock()
		if t.writeErr == nil {
			t.writeErr = err
		}
		t.writeMu.Unlock()
		t.cancel()
	}
}

// runError is the run's error from the model's: a failed write first; an
// interrupted run (parent ended) has none, the result says so.
func (t *thumbRun) runError(parent context.Context, err error) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	switch {
	case t.writeErr != nil:
		return t.writeErr
	case parent.Err() != nil:
		return nil
	}
	return err
}

// finishRest accounts for every job the run did not get to: failed, not
// sent, saying why.
func (t *thumbRun) finishRest(err error) {
	why := "not labeled: interrupted"
	if err != nil {
		why = "not labeled: the run stopped: " + err.Error()
	}
	for _, j := range t.jobs {
		if _, ok := t.done.Load(j.it.ID); !ok {
			t.finish(j, Outcome{ID: j.it.ID, Name: j.it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: why}, "", 0, nil)
		}
	}
}
