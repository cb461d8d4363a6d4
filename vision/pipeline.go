package vision

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
)

// The pipeline: a feeder hands tasks, in order, to decode/resize workers
// and to the inference loop; workers fill their task's tensor; the loop
// waits for tasks in order, gathers a batch of decoded ones, runs the model
// and passes every task (decoded or not) on, in input order, to the sink,
// which runs on the caller's goroutine. Channels bound how far the workers
// run ahead, so memory does not grow with the number of images, and
// decoding overlaps with inference.

// task is one image moving through the pipeline.
type task struct {
	ref  any                    // the caller's item (file path, Image)
	load func() ([]byte, error) // reads the encoded image
	done chan struct{}          // closed once pix or err is set
	pix  *[]float32             // preprocessed image, tensorLen floats (from the pool)
	err  error                  // why the image could not be used
}

// outcome is a task after inference.
type outcome struct {
	ref   any
	probs []float32 // nil when err is set
	err   error
}

// pipe holds the settings of one run.
type pipe struct {
	m       *Model
	batch   int
	workers int
}

// run feeds tasks from feed through decoding and inference and calls sink
// for each outcome in feed's order, on the calling goroutine. feed must stop
// and return when send returns false, or when the context it is given (the
// pipeline's, which also ends on an error) is done. The first error of
// feed, inference or sink stops the run and is returned.
func (p pipe) run(ctx context.Context, feed func(ctx context.Context, send func(*task) bool) error, sink func(outcome) error) error {
	if p.m.fixedBatch > 0 {
		p.batch = p.m.fixedBatch
	}
	parent := ctx
	g, ctx := errgroup.WithContext(ctx)
	work := make(chan *task, p.workers)
	order := make(chan *task, 2*p.workers+2*p.batch)
	outs := make(chan outcome, 2*p.batch)
	n := p.m.prep.tensorLen()
	// The pool holds pointers so that Put does not allocate (SA6002).
	pool := sync.Pool{New: func() any { s := make([]float32, n); return &s }}

	g.Go(func() error {
		defer close(work)
		defer close(order)
		return feed(ctx, func(t *task) bool {
			t.done = make(chan struct{})
			select {
			case order <- t:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- t:
				return true
			case <-ctx.Done():
				// The inference loop stops at ctx.Done too, so it never
				// waits for this task.
				return false
			}
		})
	})

	for range p.workers {
		g.Go(func() error {
			lowerPriority()
			var tmp []float32
			for t := range work {
				if ctx.Err() != nil {
					t.err = ctx.Err()
					close(t.done)
					continue
				}
				tmp = p.prepare(t, &pool, tmp)
				close(t.done)
			}
			return nil
		})
	}

	g.Go(func() error {
		defer close(outs)
		var pending []*task
		decoded := 0
		flat := make([]float32, 0, p.batch*n)
		flush := func() error {
			flat = flat[:0]
			for _, t := range pending {
				if t.err == nil {
					flat = append(flat, *t.pix...)
					pool.Put(t.pix)
					t.pix = nil
				}
			}
			var probs [][]float32
			if decoded > 0 {
				var err error
				if probs, err = p.m.infer(flat, decoded); err != nil {
					return err
				}
			}
			i := 0
			for _, t := range pending {
				o := outcome{ref: t.ref, err: t.err}
				if t.err == nil {
					o.probs = probs[i]
					i++
				}
				select {
				case outs <- o:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			pending, decoded = pending[:0], 0
			return nil
		}
		for t := range order {
			select {
			case <-t.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			pending = append(pending, t)
			if t.err == nil {
				decoded++
			}
			if decoded == p.batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if len(pending) > 0 {
			return flush()
		}
		return nil
	})

	var sinkErr error
	for o := range outs {
		if sinkErr != nil {
			continue // drain so the stages can finish
		}
		err := parent.Err() // outcomes may be buffered when ctx ends
		if err == nil {
			err = sink(o)
		}
		if err != nil {
			sinkErr = err
			// Stop the other stages; outs is closed when they are done.
			g.Go(func() error { return err })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return sinkErr
}

// prepare loads, decodes and preprocesses t; tmp is the worker's scratch.
func (p pipe) prepare(t *task, pool *sync.Pool, tmp []float32) []float32 {
	data, err := t.load()
	if err != nil {
		t.err = err
		return tmp
	}
	img, err := decode(data, p.m.prep.minDecodeSize)
	if err != nil {
		t.err = err
		return tmp
	}
	pix := pool.Get().(*[]float32)
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("preprocess %dx%d image: %v", img.w, img.h, r)
			}
		}()
		tmp = p.m.prep.run(img, *pix, tmp)
	}()
	if err != nil {
		pool.Put(pix)
		t.err = err
		return tmp
	}
	t.pix = pix
	return tmp
}
