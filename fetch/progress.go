package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// A request's progress (issue 17 item 2). Each request has a budget: the
// time it may go without progress (Config.ProgressTimeout) across all its
// attempts, and for a download across its Range resumes too. Progress is
// an answer, or body bytes (either way) at no less than the minimum rate
// of Config.StallBytes per Config.IdleTimeout. A budget that runs out cuts
// the attempt in flight; after Config.StallNotice without progress it
// reports one EventStalled, saying what the request is waiting for.

// defaultStallBytes is the least a body must move in an IdleTimeout window.
const defaultStallBytes = 16 << 10

// defaultStallNotice is how long a request goes without progress before
// the user hears of it.
const defaultStallNotice = 10 * time.Second

// resumeGap is how soon after a download's body was closed unfinished an
// Open of the same URL counts as its resume, continuing its budget.
const resumeGap = 10 * time.Second

// phase is what a request is waiting for.
type phase int32

const (
	phaseQueued  phase = iota // the limiter or the pacer: not the server's doing
	phaseUpload               // the server to read the request body
	phaseHeaders              // the answer's headers
	phaseBody                 // the answer's body
	phaseCaller               // the caller, between two reads of the body
	phaseBackoff              // the pause before the next attempt
)

// budget is one request's (or one download's, across resumes) progress.
type budget struct {
	c     *Client
	op    string
	key   string // the registry's key; "" for a request's own
	limit time.Duration

	mu       sync.Mutex
	last     time.Time // the last progress
	failures int       // attempts failed since the last progress of a shared budget
	phase    phase
	moved    int64 // bytes since the last progress (upload or body)
	// uploadHigh is the furthest offset an attempt's upload reached.
	uploadHigh int64
	noticed    bool
	lastErr    error
	cut        context.CancelCauseFunc // the attempt in flight
	timer      *time.Timer
	refs       int
	ended      time.Time
}

// newBudget starts a budget for op.
func (c *Client) newBudget(op, key string) *budget {
	b := &budget{c: c, op: op, key: key, limit: c.cfg.ProgressTimeout, last: time.Now(), refs: 1}
	b.mu.Lock()
	b.timer = time.AfterFunc(time.Hour, b.fire)
	b.arm()
	b.mu.Unlock()
	return b
}

// budgetFor returns the shared budget of a download (key: method and URL):
// the one of its previous Open when that ended unfinished less than
// resumeGap ago, else a fresh one.
func (c *Client) budgetFor(op, key string) *budget {
	c.budgetMu.Lock()
	defer c.budgetMu.Unlock()
	now := time.Now()
	if c.budgets == nil {
		c.budgets = make(map[string]*budget)
	}
	if len(c.budgets) > 256 {
		for k, b := range c.budgets {
			b.mu.Lock()
			if b.refs == 0 && now.Sub(b.ended) > resumeGap {
				delete(c.budgets, k)
			}
			b.mu.Unlock()
		}
	}
	if b, ok := c.budgets[key]; ok {
		b.mu.Lock()
		if b.refs > 0 || now.Sub(b.ended) <= resumeGap {
			b.refs++
			b.op = op
			b.arm()
			b.mu.Unlock()
			return b
		}
		b.mu.Unlock()
	}
	b := c.newBudget(op, key)
	c.budgets[key] = b
	return b
}

// release ends one user of the budget; complete drops a shared one (the
// download finished).
func (b *budget) release(complete bool) {
	b.mu.Lock()
	b.refs--
	done := b.refs <= 0
	if done {
		b.ended = time.Now()
		b.timer.Stop()
		b.cut = nil
	}
	b.mu.Unlock()
	if b.key != "" && done && complete {
		b.c.budgetMu.Lock()
		if b.c.budgets[b.key] == b {
			delete(b.c.budgets, b.key)
		}
		b.c.budgetMu.Unlock()
	}
}

// arm sets the timer to the next notice or the end of the budget; b.mu held.
func (b *budget) arm() {
	next := b.last.Add(b.limit)
	if !b.noticed && b.c.cfg.StallNotice < b.limit {
		next = b.last.Add(b.c.cfg.StallNotice)
	}
	b.timer.Reset(max(time.Until(next), time.Millisecond))
}

// progress records progress: the budget starts again.
func (b *budget) progress() {
	b.mu.Lock()
	b.last, b.noticed, b.moved, b.failures = time.Now(), false, 0, 0
	b.arm()
	b.mu.Unlock()
}

// spent is how long the request has gone without progress, and whether
// that is past its budget.
func (b *budget) spent() (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	since := time.Since(b.last)
	return since, since >= b.limit
}

func (b *budget) setPhase(p phase) {
	b.mu.Lock()
	b.phase = p
	b.mu.Unlock()
}

// uploaded records that an attempt's upload reached offset, and reports
// whether that is further than any attempt of the budget went: bytes sent
// again after a cut are no progress (the sockets' buffers take the first
// megabytes of an upload the server never reads).
func (b *budget) uploaded(offset int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if offset <= b.uploadHigh {
		return false
	}
	b.uploadHigh = offset
	return true
}

func (b *budget) moveBytes(n int64) {
	b.mu.Lock()
	b.moved += n
	b.mu.Unlock()
}

// attemptStarted makes cut the way to stop the attempt in flight.
func (b *budget) attemptStarted(cut context.CancelCauseFunc) {
	b.mu.Lock()
	b.cut = cut
	b.mu.Unlock()
}

// failed records a failed attempt (or a body cut) and returns the failures
// since the last progress.
func (b *budget) failed(err error) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	b.lastErr = err
	return b.failures
}

// errBudgetSpent is the cause an attempt is cut with when its budget ran out.
var errBudgetSpent = fmt.Errorf("%w within the time allowed", ErrNoProgress)

// fire runs at the notice and at the end of the budget.
func (b *budget) fire() {
	b.mu.Lock()
	if b.refs <= 0 {
		b.mu.Unlock()
		return
	}
	since := time.Since(b.last)
	waiting := b.phase != phaseQueued && b.phase != phaseCaller
	if !waiting {
		// Not the server's doing: look again later.
		b.timer.Reset(max(b.c.cfg.StallNotice/4, 10*time.Millisecond))
		b.mu.Unlock()
		return
	}
	if since >= b.limit && b.cut != nil {
		cut := b.cut
		b.mu.Unlock()
		cut(errBudgetSpent)
		return
	}
	var ev *Event
	if !b.noticed && since >= b.c.cfg.StallNotice {
		b.noticed = true
		ev = &Event{Kind: EventStalled, Op: b.op, Wait: since, Attempt: b.failures + 1, Err: b.lastErr, Limit: b.limit, Stall: b.describe(since)}
	}
	b.arm()
	b.mu.Unlock()
	if ev != nil && b.c.stallLineDue() {
		b.c.event(*ev)
	}
}

// stallLineDue reports whether a stall may be reported now: one line per
// StallNotice for the whole client, not one per page of a listing that
// stalls with all its requests in flight.
func (c *Client) stallLineDue() bool {
	now := time.Now().UnixNano()
	last := c.lastStall.Load()
	if last != 0 && now-last < int64(c.cfg.StallNotice) {
		return false
	}
	return c.lastStall.CompareAndSwap(last, now)
}

// describe says what the request waits for; b.mu held.
func (b *budget) describe(since time.Duration) string {
	d := roundWait(since)
	switch b.phase {
	case phaseUpload:
		if b.moved == 0 {
			return fmt.Sprintf("has not read the upload for %s", d)
		}
		return fmt.Sprintf("has read only %s of the upload in %s", bytesN(b.moved), d)
	case phaseHeaders:
		return fmt.Sprintf("has sent no headers for %s", d)
	case phaseBody:
		if b.moved == 0 {
			return fmt.Sprintf("has sent no data for %s", d)
		}
		return fmt.Sprintf("has sent only %s in %s", bytesN(b.moved), d)
	}
	if b.failures == 1 {
		return fmt.Sprintf("has failed once in %s", d)
	}
	if b.failures > 1 {
		return fmt.Sprintf("has failed %d times in %s", b.failures, d)
	}
	return fmt.Sprintf("has made no progress for %s", d)
}

// roundWait rounds a wait for a message: whole seconds from one second.
func roundWait(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

func bytesN(n int64) string {
	switch {
	case n == 1:
		return "1 byte"
	case n < 10<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 10<<20:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// meter applies the minimum-progress rule to a stream of bytes: fewer than
// min bytes in a sliding window of the clock counts as a stall; bytes at
// the minimum rate or better are progress.
type meter struct {
	window   time.Duration
	min      int64
	total    int64
	samples  []sample // (clock, total), about window/8 apart
	markAt   time.Duration
	markHave int64
}

type sample struct {
	at    time.Duration
	total int64
}

// add counts n bytes at clock now and reports whether they are progress
// and whether the window holds too few bytes (a stall).
func (m *meter) add(now time.Duration, n int64) (progress, stalled bool) {
	m.total += n
	if len(m.samples) == 0 {
		m.samples = append(m.samples, sample{0, 0})
	}
	if last := m.samples[len(m.samples)-1]; now-last.at >= m.window/8 {
		m.samples = append(m.samples, sample{now, m.total})
		// Keep one sample at or before the window's start.
		i := 0
		for i+1 < len(m.samples) && m.samples[i+1].at <= now-m.window {
			i++
		}
		m.samples = m.samples[i:]
	}
	got, since := m.total-m.markHave, now-m.markAt
	if got > 0 && (got >= 64<<10 || since >= time.Second) && got*int64(m.window) >= m.min*int64(since) {
		progress = true
		m.markAt, m.markHave = now, m.total
	}
	if now >= m.window {
		base := m.samples[0]
		if base.at <= now-m.window && m.total-base.total < m.min {
			stalled = true
		}
	}
	return progress, stalled
}

// watchedBody is a response body under the progress rules: a read that
// brings no byte for idle, or a window of reads that brings fewer than the
// minimum, cuts the attempt (ErrStalled); reads at the minimum rate are
// the budget's progress. Only the time spent inside Read counts: the
// caller writing to disk between reads is not the server's stall.
type watchedBody struct {
	io.ReadCloser
	ctx    context.Context // the attempt's: its cause says why a read failed
	cancel context.CancelCauseFunc
	b      *budget
	op     string
	idle   time.Duration
	timer  *time.Timer
	m      meter
	clock  time.Duration
	eof    atomic.Bool
	failed bool
}

func (c *Client) watchBody(ctx context.Context, rc io.ReadCloser, b *budget, op string, cancel context.CancelCauseFunc) *watchedBody {
	w := &watchedBody{ReadCloser: rc, ctx: ctx, cancel: cancel, b: b, op: op, idle: c.cfg.IdleTimeout,
		m: meter{window: c.cfg.IdleTimeout, min: c.cfg.StallBytes}}
	w.timer = time.AfterFunc(time.Hour, func() {
		cancel(fmt.Errorf("%s: no data for %s: %w", op, w.idle, ErrStalled))
	})
	w.timer.Stop()
	b.setPhase(phaseCaller)
	return w
}

func (w *watchedBody) Read(p []byte) (int, error) {
	if err := w.cutErr(); err != nil {
		return 0, err
	}
	w.b.setPhase(phaseBody)
	t0 := time.Now()
	w.timer.Reset(w.idle)
	n, err := w.ReadCloser.Read(p)
	w.timer.Stop()
	w.clock += time.Since(t0)
	w.b.setPhase(phaseCaller)
	if n > 0 {
		w.b.moveBytes(int64(n))
	}
	if errors.Is(err, io.EOF) {
		w.eof.Store(true)
		w.b.progress()
		return n, err
	}
	if err != nil {
		if ce := w.cutErr(); ce != nil {
			err = ce
		}
		if !w.failed && w.b.key != "" {
			w.failed = true
			w.b.failed(err)
		}
		return n, err
	}
	progress, stalled := w.m.add(w.clock, int64(n))
	if progress {
		w.b.progress()
	}
	if stalled {
		e := fmt.Errorf("%s: less than %s in %s: %w", w.op, bytesN(w.m.min), w.m.window, ErrStalled)
		w.cancel(e)
		if !w.failed && w.b.key != "" {
			w.failed = true
			w.b.failed(e)
		}
		return n, e
	}
	return n, nil
}

// cutErr is why the attempt was cut, nil while it was not.
func (w *watchedBody) cutErr() error { return w.b.cutCause(w.ctx, w.op) }

func (w *watchedBody) Close() error {
	w.timer.Stop()
	return w.ReadCloser.Close()
}

// watchedUpload is a request body under the progress rules: a server that
// takes no byte of it for idle, or fewer than the minimum in a window,
// cuts the attempt (ErrStalled). The clock is the wall clock: the
// transport reads the body as fast as the server takes it.
type watchedUpload struct {
	io.Reader
	cancel context.CancelCauseFunc
	b      *budget
	op     string
	start  time.Time
	timer  *time.Timer
	m      meter
	done   bool
}

func (c *Client) watchUpload(r io.Reader, b *budget, op string, cancel context.CancelCauseFunc) *watchedUpload {
	idle := c.cfg.IdleTimeout
	u := &watchedUpload{Reader: r, cancel: cancel, b: b, op: op, m: meter{window: idle, min: c.cfg.StallBytes}}
	u.timer = time.AfterFunc(time.Hour, func() {
		cancel(fmt.Errorf("%s: the server has not read the upload for %s: %w", op, idle, ErrStalled))
	})
	u.timer.Stop()
	return u
}

func (u *watchedUpload) Read(p []byte) (int, error) {
	if u.done {
		return 0, io.EOF
	}
	if u.start.IsZero() {
		u.start = time.Now()
		u.b.setPhase(phaseUpload)
	}
	u.timer.Stop()
	n, err := u.Reader.Read(p)
	if n > 0 {
		u.b.moveBytes(int64(n))
		progress, stalled := u.m.add(time.Since(u.start), int64(n))
		if progress && u.b.uploaded(u.m.total) {
			u.b.progress()
		}
		if stalled {
			e := fmt.Errorf("%s: the server read less than %s of the upload in %s: %w", u.op, bytesN(u.m.min), u.m.window, ErrStalled)
			u.cancel(e)
			return n, e
		}
	}
	if err != nil {
		u.done = true
		u.b.setPhase(phaseHeaders)
		return n, err
	}
	u.timer.Reset(u.m.window)
	return n, nil
}

// stop ends the watch (the attempt is over).
func (u *watchedUpload) stop() { u.timer.Stop() }

// throttled restarts the clock of a request the service asked to wait
// (429): waiting its turn is not a stall; the pacer bounds it.
func (b *budget) throttled() {
	b.mu.Lock()
	b.last, b.noticed = time.Now(), false
	b.arm()
	b.mu.Unlock()
}

// noProgress is the error of a request whose budget ran out; err is the
// last attempt's error (nil: the one recorded).
func (b *budget) noProgress(op string, err error) error {
	b.mu.Lock()
	since, n := time.Since(b.last), b.failures
	if err == nil {
		err = b.lastErr
	}
	what := ""
	if err == nil || errors.Is(err, context.Canceled) {
		err, what = nil, b.describe(since)
	}
	b.mu.Unlock()
	if err == nil {
		if n == 0 {
			return fmt.Errorf("%s: %w for %s (it %s; --timeout sets the limit)", op, ErrNoProgress, roundWait(since), what)
		}
		return fmt.Errorf("%s: %w for %s (%d failed attempts; it %s; --timeout sets the limit)", op, ErrNoProgress, roundWait(since), n, what)
	}
	return fmt.Errorf("%s: %w for %s (%d failed attempts; --timeout sets the limit): %w", op, ErrNoProgress, roundWait(since), n, err)
}

// cutCause is why the attempt under ctx was cut by the progress rules, nil
// when it was not.
func (b *budget) cutCause(ctx context.Context, op string) error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errBudgetSpent):
		return b.noProgress(op, nil)
	case errors.Is(cause, ErrStalled):
		return cause
	}
	return nil
}
