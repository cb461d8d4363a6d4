package fetch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
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

// ratePacer is the token bucket that every request of a Client passes
// (issue 17): unlimited until the service first answers 429, then it
// converges to the rate the service grants, AIMD on the rate itself:
//
//   - the first 429 sets the rate to what got through in the last
//     seconds (the service's grant, as measured) times rateCut; a later
//     429 cuts the rate by rateCut (rateCutFast when the previous cut was
//     less than cutSpacing ago: the estimate was far off), once per round
//     (answers to requests sent before the cut do not cut again);
//   - every second of clean answers at the rate adds rateStep of the rate
//     at the last cut (additive increase, probing slowly);
//   - a 429's Retry-After (else one token's time) pauses the whole bucket,
//     not only the request that got it: the service asked this client to
//     wait, and its own bucket refills meanwhile.
type ratePacer struct {
	lim *rate.Limiter // rate.Inf until the first 429

	mu          sync.Mutex
	limited     bool
	slowStart   bool    // after the first cut, until the second: grow by rateSlowStart
	rate        float64 // req/s while limited
	cutRate     float64 // the rate set by the last cut
	notBefore   time.Time
	seq, cutSeq uint64
	lastCut     time.Time
	lastGrow    time.Time
	refused     int64       // 429s answered, client-wide
	oks         []time.Time // times of the clean answers of the last rateWindow
	firstSend   time.Time
	lastAnswer  time.Time // last answer that was not a 429 or a failure
}

const (
	// rateWindow is how far back the granted rate is measured.
	rateWindow = 2 * time.Second
	// rateCut and rateCutFast are the multiplicative decreases.
	rateCut     = 0.9
	rateCutFast = 0.75
	// cutSpacing: a cut this soon after the previous one is a fast cut.
	cutSpacing = 3 * time.Second
	// rateStep is the additive increase per second, a fraction of the
	// rate at the last cut.
	rateStep = 0.05
	// rateSlowStart is the growth per second between the first and the
	// second 429.
	rateSlowStart = 2
	// rateFirstCut is what of the measured grant a slow start's cut keeps.
	rateFirstCut = 0.9
	// minRate is the slowest the pacer goes (one request every 20 s).
	minRate = 0.05
)

func newRatePacer() *ratePacer {
	return &ratePacer{lim: rate.NewLimiter(rate.Inf, 1)}
}

// wait blocks until the bucket lets one request go and returns its ticket.
func (p *ratePacer) wait(ctx context.Context, sleep func(context.Context, time.Duration) error) (uint64, error) {
	var served time.Time // the pause this waiter slept through (sleep may be a test's, returning at once)
	for {
		p.mu.Lock()
		nb := p.notBefore
		p.mu.Unlock()
		if d := time.Until(nb); d > 0 && nb.After(served) {
			if err := sleep(ctx, d); err != nil {
				return 0, err
			}
			served = nb
			continue
		}
		if err := p.lim.Wait(ctx); err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return 0, cause
			}
			return 0, fmt.Errorf("the request could not be sent before its deadline at the rate the service grants: %w", context.DeadlineExceeded)
		}
		p.mu.Lock()
		if time.Now().Before(p.notBefore) && p.notBefore.After(served) {
			p.mu.Unlock() // paused while this one waited
			continue
		}
		p.seq++
		t := p.seq
		if p.firstSend.IsZero() {
			p.firstSend = time.Now()
		}
		p.mu.Unlock()
		return t, nil
	}
}

// answered records an answer that is not a 429: clean (a 2xx or 4xx
// answer: the service took the request) or not (a 5xx, a network error).
func (p *ratePacer) answered(clean bool) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !clean {
		return
	}
	p.lastAnswer = now
	p.oks = append(p.oks, now)
	i := 0
	for i < len(p.oks) && now.Sub(p.oks[i]) > rateWindow {
		i++
	}
	p.oks = p.oks[i:]
	if !p.limited || now.Sub(p.lastGrow) < time.Second || now.Sub(p.lastCut) < time.Second {
		return
	}
	// Grow only while the bucket is what holds the client back.
	if float64(len(p.oks))/rateWindow.Seconds() < 0.8*p.rate {
		return
	}
	p.lastGrow = now
	if p.slowStart {
		// The first estimate is rough (it saw a second at most): find the
		// grant fast, as TCP's slow start does.
		p.rate *= rateSlowStart
	} else {
		p.rate += rateStep * p.cutRate
	}
	p.apply()
}

// throttled records a 429 for the request of ticket, with the server's
// Retry-After (0: none). It returns the number of 429s so far and the rate.
func (p *ratePacer) throttled(ticket uint64, retryAfter time.Duration) (int64, float64) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused++
	if ticket > p.cutSeq {
		// What got through lately: the service's grant, as measured.
		span := rateWindow
		if s := now.Sub(p.firstSend); s < span {
			span = max(s, time.Second)
		}
		n := 0
		for _, t := range p.oks {
			if now.Sub(t) <= span {
				n++
			}
		}
		measured := float64(n) / span.Seconds()
		var r float64
		switch {
		case !p.limited:
			p.slowStart = true
			r = measured * rateFirstCut
		case p.slowStart:
			// The grant lies between the rate before the last doubling
			// and this one; what got through says where.
			p.slowStart = false
			r = max(measured, p.rate/rateSlowStart) * rateFirstCut
		case now.Sub(p.lastCut) < cutSpacing:
			r = p.rate * rateCutFast
		default:
			r = p.rate * rateCut
		}
		p.limited = true
		p.rate = max(r, minRate)
		p.cutRate = p.rate
		p.cutSeq = p.seq
		p.lastCut = now
		p.apply()
	}
	pause := retryAfter + time.Duration(randInt64N(int64(retryAfter)/10+1)) // jitter: not all at once
	if retryAfter <= 0 {
		pause = max(200*time.Millisecond, time.Duration(float64(time.Second)/p.rate))
	}
	if nb := now.Add(pause); nb.After(p.notBefore) {
		p.notBefore = nb
	}
	return p.refused, p.rate
}

// apply sets the limiter to p.rate; p.mu is held.
func (p *ratePacer) apply() {
	p.lim.SetLimit(rate.Limit(p.rate))
	p.lim.SetBurst(max(1, int(p.rate)))
}

// progressWithin reports whether the service took a request (answered it
// with anything but a 429 or a failure; or the first was sent) less than d
// before now+ahead, and how long ago that was.
func (p *ratePacer) progressWithin(d, ahead time.Duration) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := p.lastAnswer
	if last.IsZero() {
		last = p.firstSend
	}
	since := time.Since(last)
	return since, since+ahead < d
}
