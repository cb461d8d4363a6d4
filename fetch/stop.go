package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// ErrInterrupted is the cause of a request cut off by WithStopGrace: the
// statement was interrupted and no answer came within the grace period,
// so whether a mutating request took effect is unknown.
var ErrInterrupted = errors.New("interrupted before the answer came")

// ErrStalled is the cause of a body read that brought no byte for
// Config.IdleTimeout: the connection stalled. Retry policies treat it as a
// cut connection (a download resumes with a Range request).
var ErrStalled = errors.New("the server stopped sending")

// hardStopKey carries the context that WithStopGrace cancels.
type hardStopKey struct{}

// WithStopGrace returns a context whose requests stop within grace of ctx
// being done, even those sent under context.WithoutCancel of it: an action
// lets the requests it has in flight finish when it is interrupted (so
// their outcome is known), but an answer that does not come must not hold
// the statement. Such a request fails with an error that
// errors.Is(err, ErrInterrupted). The returned release function must be
// called when the statement is over.
func WithStopGrace(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	hard, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	var timer atomic.Pointer[time.Timer]
	stop := context.AfterFunc(ctx, func() {
		timer.Store(time.AfterFunc(grace, func() { cancel(ErrInterrupted) }))
	})
	release := func() {
		stop()
		if t := timer.Load(); t != nil {
			t.Stop()
		}
		cancel(context.Canceled)
	}
	return context.WithValue(ctx, hardStopKey{}, hard), release
}

// hardStop is the context of the nearest WithStopGrace above ctx, nil when
// there is none.
func hardStop(ctx context.Context) context.Context {
	hs, _ := ctx.Value(hardStopKey{}).(context.Context)
	return hs
}

// idleBody cuts a response body that brings no byte for idle: each Read
// arms a timer, and when it fires the request's context is cancelled with
// ErrStalled, which the Read then returns. Time the caller spends between
// reads (writing to disk) does not count.
type idleBody struct {
	io.ReadCloser
	idle   time.Duration
	timer  *time.Timer
	fired  atomic.Bool
	op     string
	cancel context.CancelCauseFunc
}

func newIdleBody(rc io.ReadCloser, idle time.Duration, op string, cancel context.CancelCauseFunc) *idleBody {
	b := &idleBody{ReadCloser: rc, idle: idle, op: op, cancel: cancel}
	b.timer = time.AfterFunc(time.Hour, func() {
		b.fired.Store(true)
		cancel(ErrStalled)
	})
	b.timer.Stop()
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.fired.Load() {
		return 0, b.stalled()
	}
	b.timer.Reset(b.idle)
	n, err := b.ReadCloser.Read(p)
	b.timer.Stop()
	if err != nil && b.fired.Load() {
		return n, b.stalled()
	}
	return n, err
}

func (b *idleBody) stalled() error {
	return fmt.Errorf("%s: no data for %s: %w", b.op, b.idle, ErrStalled)
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}
