package fetch

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Retry timing. One policy for every request (STYLE: rclone's pacer idea):
// jittered exponential backoff, the server's Retry-After when it sends one.
const (
	// backoffBase is the first retry's ceiling; it doubles per retry.
	backoffBase = 250 * time.Millisecond
	// backoffMax caps one wait without Retry-After.
	backoffMax = 16 * time.Second
	// backoffMin is the shortest wait (rclone's 20 ms floor).
	backoffMin = 20 * time.Millisecond
	// maxRetryAfter is the longest Retry-After honoured; a longer one fails
	// the request rather than freezing the statement.
	maxRetryAfter = 5 * time.Minute
	// defaultMaxRetries is how many times one request is re-sent.
	defaultMaxRetries = 10
)

// backoffDelay is the wait before retry number attempt (1-based): the
// server's Retry-After plus up to 10% jitter when given, else a random
// duration in [ceiling/2, ceiling] with ceiling = base·2^(attempt-1) ≤ max
// ("equal jitter": never a hot loop, never a thundering herd).
func backoffDelay(attempt int, retryAfter time.Duration, rnd func(int64) int64) time.Duration {
	if retryAfter > 0 {
		return retryAfter + time.Duration(rnd(int64(retryAfter)/10+1))
	}
	ceil := backoffBase
	for i := 1; i < attempt && ceil < backoffMax; i++ {
		ceil *= 2
	}
	ceil = min(ceil, backoffMax)
	d := ceil/2 + time.Duration(rnd(int64(ceil/2)+1))
	return max(d, backoffMin)
}

// sleepCtx waits d or until ctx is done; never a bare time.Sleep.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func randInt64N(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return rand.Int64N(n)
}

// outcome is how a request ended, for the adaptive limiter.
type outcome int

const (
	outcomeClean     outcome = iota // an answer that is not "too fast" (2xx, 4xx)
	outcomeThrottled                // 429 or 503
	outcomeFailed                   // 5xx, network error: neither grow nor shrink
)

// limiter bounds the requests in flight with an adaptive limit (AIMD, as
// TCP): it starts low, doubles per round of clean answers until the first
// throttle (slow start), then grows by one per round; a 429/503 halves it,
// once per round (answers to requests sent before the cut do not cut
// again). It never exceeds max.
type limiter struct {
	mu       sync.Mutex
	limit    int
	max      int
	inflight int
	seq      uint64 // tickets issued
	cutSeq   uint64 // tickets issued before the last cut
	clean    int    // clean answers since the last change
	slow     bool   // slow start: no throttle seen yet
	wake     chan struct{}
	notify   func(int)
}

// avoidRounds is how many rounds of clean answers (limit answers each)
// congestion avoidance waits before it adds one: a rate limiter (429)
// refills at a fixed pace, so probing it every round costs a throttled
// request — and its Retry-After — about every second.
const avoidRounds = 4

// startConcurrency is the limit before any answer arrived.
const startConcurrency = 4

func newLimiter(maxN int, notify func(int)) *limiter {
	return &limiter{limit: min(startConcurrency, maxN), max: maxN, slow: true, wake: make(chan struct{}), notify: notify}
}

// acquire waits for a free slot; the ticket goes back to release.
func (l *limiter) acquire(ctx context.Context) (uint64, error) {
	for {
		l.mu.Lock()
		if l.inflight < l.limit {
			l.inflight++
			l.seq++
			t := l.seq
			l.mu.Unlock()
			return t, nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		case <-wake:
		}
	}
}

// release frees the slot of ticket and adapts the limit to the outcome.
func (l *limiter) release(ticket uint64, o outcome) {
	l.mu.Lock()
	l.inflight--
	old := l.limit
	switch o {
	case outcomeClean:
		l.clean++
		if l.slow {
			l.limit++
			l.clean = 0
		} else if l.clean >= avoidRounds*l.limit {
			l.limit++
			l.clean = 0
		}
		l.limit = min(l.limit, l.max)
	case outcomeThrottled:
		if ticket > l.cutSeq {
			if l.slow {
				// Slow start overshoots by up to twice: halve.
				l.limit = max(1, l.limit/2)
			} else {
				// Near a rate limit already: step down gently, so that
				// the rate oscillates just under the limit instead of
				// swinging between it and half of it.
				l.limit = max(1, min(l.limit-1, l.limit*3/4))
			}
			l.cutSeq = l.seq
			l.clean = 0
		}
		l.slow = false
	}
	changed := l.limit != old
	n := l.limit
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
	if changed && l.notify != nil {
		l.notify(n)
	}
}

// current is the limit now.
func (l *limiter) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}
