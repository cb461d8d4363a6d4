package vision

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Statuses of a result row (SPEC §2.3).
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
)

// Image is an encoded image to classify, such as a thumbnail fetched from
// the library: Data, or Reader when Data is nil (read by a worker).
type Image struct {
	ID     string
	Data   []byte
	Reader io.Reader
}

// Result is the classification of one Image.
type Result struct {
	ID string
	// Status is StatusOK, or StatusSkipped when the image could not be
	// decoded (Detail says why).
	Status string
	Detail string
	// Top holds the TopK best predictions, best first (empty when skipped).
	Top []Prediction
	// Label and Prob are the prediction Choose picks under the options'
	// threshold, exclude and restrict; Label is "" when none qualifies.
	Label string
	Prob  float64
}

// Classify classifies imgs and returns one Result per image, in order.
// Images that cannot be decoded are skipped with the reason, never an
// error; the error is for the model or ctx failing. Options used: TopK,
// Threshold, Exclude, Restrict, Batch, Workers.
func (m *Model) Classify(ctx context.Context, imgs []Image, opts Options) ([]Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the feeding goroutine when ClassifyStream fails
	in := make(chan Image)
	go func() {
		defer close(in)
		for _, im := range imgs {
			select {
			case in <- im:
			case <-ctx.Done():
				return
			}
		}
	}()
	res := make([]Result, 0, len(imgs))
	err := m.ClassifyStream(ctx, in, opts, func(r Result) error {
		res = append(res, r)
		return nil
	})
	if err == nil && len(res) != len(imgs) {
		err = ctx.Err()
	}
	return res, err
}

// ClassifyStream classifies the images received from in until it is
// closed, calling emit for each, in input order, on the calling goroutine.
// The caller can keep fetching thumbnails into in while earlier ones are
// decoded and classified. An error from emit stops the run and is returned.
// When ctx ends, ClassifyStream returns ctx.Err() without draining in.
func (m *Model) ClassifyStream(ctx context.Context, in <-chan Image, opts Options, emit func(Result) error) error {
	opts = opts.withDefaults()
	if err := opts.check(); err != nil {
		return err
	}
	p := pipe{m: m, batch: opts.Batch, workers: opts.Workers}
	// pctx is the pipeline's context: it also ends when emit fails, while
	// the caller may still hold in open.
	feed := func(pctx context.Context, send func(*task) bool) error {
		for {
			var im Image
			var ok bool
			select {
			case im, ok = <-in:
			case <-pctx.Done():
				return nil
			}
			if !ok {
				return nil
			}
			t := &task{ref: im.ID, load: imageLoader(im)}
			if !send(t) {
				return nil
			}
		}
	}
	return p.run(ctx, feed, func(o outcome) error {
		return emit(m.result(o.ref.(string), o, opts))
	})
}

func imageLoader(im Image) func() ([]byte, error) {
	return func() ([]byte, error) {
		if im.Data != nil {
			return im.Data, nil
		}
		if im.Reader == nil {
			return nil, errors.New("image has neither Data nor Reader")
		}
		b, err := io.ReadAll(im.Reader)
		if err != nil {
			return nil, fmt.Errorf("read image: %w", err)
		}
		return b, nil
	}
}

// result turns an outcome into a Result.
func (m *Model) result(id string, o outcome, opts Options) Result {
	if o.err != nil {
		return Result{ID: id, Status: StatusSkipped, Detail: o.err.Error()}
	}
	r := Result{ID: id, Status: StatusOK, Top: m.topK(o.probs, opts.TopK)}
	if p, ok := Choose(r.Top, opts); ok {
		r.Label, r.Prob = p.Name, p.Prob
	} else {
		r.Detail = whyUnlabeled(r.Top, opts)
	}
	return r
}
