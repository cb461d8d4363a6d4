package emulator

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// faults decides, request by request, whether to throttle, fail, delay or
// cut a service request. Decisions come from one seeded stream drawn in
// arrival order, so a sequential client sees the same faults on every run;
// concurrent clients see the same rates.
type faults struct {
	mu         sync.Mutex
	rng        *rand.Rand
	latency    time.Duration
	failRate   float64
	resetRate  float64
	rateLimit  float64
	tokens     float64
	last       time.Time
	stalls     atomic.Int64 // downloads still to stall (StallBodies)
	stallAfter int64        // bytes they send first
}

// decision is what happens to one request.
type decision struct {
	latency  time.Duration
	throttle bool
	// retryAfter is the whole seconds until the bucket holds a token
	// again (Retry-After of the 429), at least 1.
	retryAfter int
	fail       int // 0, 500 or 503
	reset      bool
}

func newFaults(seed int64) *faults {
	return &faults{rng: rand.New(rand.NewPCG(uint64(seed), 1<<57))}
}

func (f *faults) set(latency time.Duration, failRate, resetRate, rateLimit float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency, f.failRate, f.resetRate, f.rateLimit = latency, failRate, resetRate, rateLimit
	f.tokens, f.last = max(rateLimit, 1), time.Time{}
}

func (f *faults) get() (time.Duration, float64, float64, float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latency, f.failRate, f.resetRate, f.rateLimit
}

// decide draws the faults of one request arriving at now. The rate limit is
// a token bucket holding one second of requests.
func (f *faults) decide(now time.Time) decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := decision{latency: f.latency}
	if f.rateLimit > 0 {
		if !f.last.IsZero() {
			f.tokens = min(f.tokens+now.Sub(f.last).Seconds()*f.rateLimit, max(f.rateLimit, 1))
		}
		f.last = now
		if f.tokens < 1 {
			d.throttle = true
			d.retryAfter = max(1, int(math.Ceil((1-f.tokens)/f.rateLimit)))
			return d
		}
		f.tokens--
	}
	if f.failRate == 0 && f.resetRate == 0 {
		return d
	}
	u, v, which := f.rng.Float64(), f.rng.Float64(), f.rng.IntN(2)
	if u < f.failRate {
		d.fail = http.StatusInternalServerError
		if which == 1 {
			d.fail = http.StatusServiceUnavailable
		}
		return d
	}
	d.reset = v < f.resetRate
	return d
}

// serveThenReset runs the handler into a buffer, then sends the status, the
// headers (with the full Content-Length) and half of the body, and cuts the
// connection: the client sees an unexpected EOF mid-body. An empty body is
// cut before the status line. record counts the answer before the cut: the
// client retries as soon as it sees the EOF, and may finish its whole
// listing before this handler's goroutine runs again.
func (s *Server) serveThenReset(w *recorder, r *http.Request, h http.HandlerFunc, record func()) {
	buf := &bufferWriter{header: w.Header()}
	h(buf, r)
	body := buf.body.Bytes()
	rc := http.NewResponseController(w)
	if len(body) > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(max(buf.status, http.StatusOK))
		_, _ = w.Write(body[:len(body)/2])
		_ = rc.Flush()
	} else {
		w.status = buf.status
	}
	record()
	conn, rw, err := rc.Hijack()
	if err != nil {
		// HTTP/2 or a test recorder: abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	_ = rw.Flush()
	_ = conn.Close()
}

// StallBodies makes the next n file downloads (a templink or
// /cdproxy/nodes/{id}/content, with or without Range) send their status,
// headers and the first after bytes of the body (at most what was asked
// for), then nothing until the client goes away: a connection that stalls
// mid-body. n = 0 ends it.
func (s *Server) StallBodies(n int, after int64) {
	s.faults.mu.Lock()
	s.faults.stallAfter = after
	s.faults.mu.Unlock()
	s.faults.stalls.Store(int64(n))
}

// takeStall reports whether this download is one StallBodies asked for,
// and after how many bytes it stalls.
func (f *faults) takeStall() (int64, bool) {
	for {
		n := f.stalls.Load()
		if n <= 0 {
			return 0, false
		}
		if f.stalls.CompareAndSwap(n, n-1) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.stallAfter, true
		}
	}
}

// stallWriter passes the first limit bytes of a body, flushes them, and
// then holds the handler until the client is gone.
type stallWriter struct {
	http.ResponseWriter
	r     *http.Request
	limit int64
}

func (w *stallWriter) Write(p []byte) (int, error) {
	n := 0
	if w.limit > 0 {
		var err error
		n, err = w.ResponseWriter.Write(p[:min(int64(len(p)), w.limit)])
		w.limit -= int64(n)
		if err != nil || w.limit > 0 {
			return n, err
		}
	}
	if w.limit <= 0 {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
		<-w.r.Context().Done()
		return n, w.r.Context().Err()
	}
	return n, nil
}

// bufferWriter collects a handler's response.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// Stats counts requests served.
type Stats struct {
	// Requests is the number of requests answered (all endpoints).
	Requests int64
	// ByEndpoint maps a route pattern such as "GET /drive/v1/search" (or
	// "unmatched") to the count of each status code sent.
	ByEndpoint map[string]map[int]int64
	// Injected faults and auth failures.
	Throttled, Failed, Resets, Unauthorized int64
}

// Count returns how many requests to endpoint got status (0: any status).
func (s Stats) Count(endpoint string, status int) int64 {
	if status != 0 {
		return s.ByEndpoint[endpoint][status]
	}
	var n int64
	for _, c := range s.ByEndpoint[endpoint] {
		n += c
	}
	return n
}

type stats struct {
	mu         sync.Mutex
	requests   int64
	byEndpoint map[string]map[int]int64
	throttled  atomic.Int64
	failed     atomic.Int64
	resets     atomic.Int64

	unauthorized atomic.Int64
}

func newStats() *stats { return &stats{byEndpoint: make(map[string]map[int]int64)} }

func (s *stats) record(endpoint string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	m := s.byEndpoint[endpoint]
	if m == nil {
		m = make(map[int]int64)
		s.byEndpoint[endpoint] = m
	}
	m[status]++
}

func (s *stats) fault(c *atomic.Int64) { c.Add(1) }

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats {
	st := s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	out := Stats{
		Requests:     st.requests,
		ByEndpoint:   make(map[string]map[int]int64, len(st.byEndpoint)),
		Throttled:    st.throttled.Load(),
		Failed:       st.failed.Load(),
		Resets:       st.resets.Load(),
		Unauthorized: st.unauthorized.Load(),
	}
	for k, m := range st.byEndpoint {
		c := make(map[int]int64, len(m))
		for code, n := range m {
			c[code] = n
		}
		out.ByEndpoint[k] = c
	}
	return out
}

// ResetStats zeroes the request counters.
func (s *Server) ResetStats() {
	st := s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	st.requests = 0
	st.byEndpoint = make(map[string]map[int]int64)
	st.throttled.Store(0)
	st.failed.Store(0)
	st.resets.Store(0)
	st.unauthorized.Store(0)
}
