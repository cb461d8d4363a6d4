package fetch

import (
	"context"
	"errors"
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
