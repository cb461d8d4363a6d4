package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// recorder collects the waits and events of a client under test.
type recorder struct {
	mu     sync.Mutex
	sleeps []time.Duration
	events []Event
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.sleeps = append(r.sleeps, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *recorder) event(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) count(k EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// newTestClient returns a client for url with an injected sleep.
func newTestClient(t *testing.T, url string, mod func(*Config)) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg := Config{
		Cookies:  cookiesFor(t, "main"),
		Endpoint: url,
		Sleep:    rec.sleep,
		Events:   rec.event,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// scripted serves the given answers in turn (the last one repeats).
type answer struct {
	status     int
	body       string
	retryAfter string
	cut        bool // write half of body, then close the connection
}

func scripted(t *testing.T, answers ...answer) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		a := answers[min(i, len(answers)-1)]
		if a.cut {
			hj, ok := w.(http.Hijacker)
			if !ok {
				t.Error("cannot hijack")
				return
			}
			conn, buf, _ := hj.Hijack()
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(a.body), a.body[:len(a.body)/2])
			buf.Flush()
			conn.Close()
			return
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestRetryPolicy(t *testing.T) {
	ok := answer{status: 200, body: `{"status":"ACTIVE"}`}
	tests := []struct {
		name      string
		method    string
		retry     func(context.Context, error) bool
		answers   []answer
		wantCalls int64
		wantErr   string // "" for success
		check     func(t *testing.T, rec *recorder, err error)
	}{
		{name: "429 honours Retry-After", answers: []answer{{status: 429, body: `{"message":"Rate exceeded"}`, retryAfter: "3"}, ok}, wantCalls: 2,
			check: func(t *testing.T, rec *recorder, _ error) {
				// The pacer pauses until Retry-After (+ up to 10%) from the
				// answer: the sleep starts a moment later.
				if len(rec.sleeps) != 1 || rec.sleeps[0] < 2900*time.Millisecond || rec.sleeps[0] > 3300*time.Millisecond {
					t.Errorf("sleeps = %v, want one of 3s..3.3s", rec.sleeps)
				}
				if rec.count(EventThrottled) != 1 {
					t.Errorf("throttled events = %d, want 1", rec.count(EventThrottled))
				}
			}},
		{name: "408 retried", answers: []answer{{status: 408}, ok}, wantCalls: 2},
		{name: "500 502 503 504 retried", answers: []answer{{status: 500, body: `{"message":"Internal failure"}`}, {status: 502}, {status: 503}, {status: 504}, ok}, wantCalls: 5,
			check: func(t *testing.T, rec *recorder, _ error) {
				if len(rec.sleeps) != 4 {
					t.Fatalf("sleeps = %v, want 4", rec.sleeps)
				}
				for i, d := range rec.sleeps {
					ceil := backoffBase << i
					if d < ceil/2 || d > ceil {
						t.Errorf("sleep %d = %v, want in [%v, %v]", i, d, ceil/2, ceil)
					}
				}
			}},
		{name: "connection cut mid-body retried", answers: []answer{{cut: true, body: `{"status":"ACTIVE","padding":"` + strings.Repeat("x", 4096) + `"}`}, ok}, wantCalls: 2},
		{name: "400 invalid filter not retried", answers: []answer{{status: 400, body: `{"message":"Invalid filter: unexpected token ANDD at 1:15"}`}}, wantCalls: 1,
			wantErr: "400 Bad Request: Invalid filter: unexpected token ANDD at 1:15",
			check: func(t *testing.T, _ *recorder, err error) {
				var ae *APIError
				if !errors.As(err, &ae) || !ae.IsInvalidFilter() || ae.Retryable {
					t.Errorf("err = %#v, want a non-retryable invalid-filter *APIError", err)
				}
			}},
		{name: "401 not retried", answers: []answer{{status: 401, body: `{"Message":"No Auth Method Provided"}`}}, wantCalls: 1,
			wantErr: "copy fresh session-id, ubid-*, at-* cookies",
			check: func(t *testing.T, _ *recorder, err error) {
				if !errors.Is(err, ErrUnauthorized) {
					t.Errorf("errors.Is(%v, ErrUnauthorized) = false", err)
				}
				if !strings.Contains(err.Error(), "No Auth Method Provided") {
					t.Errorf("err = %v, want Amazon's message", err)
				}
			}},
		{name: "404 not retried", answers: []answer{{status: 404, body: `{"logref":"x","message":"Node not found","code":"NODE_NOT_FOUND"}`}}, wantCalls: 1,
			wantErr: "404 Not Found: Node not found"},
		{name: "gives up after max retries", answers: []answer{{status: 503}}, wantCalls: 5, wantErr: "gave up after 5 attempts"},
		{name: "Retry-After too long fails", answers: []answer{{status: 429, retryAfter: "3600"}}, wantCalls: 1, wantErr: "asks to wait 1h0m0s"},
		{name: "POST not retried without decision", method: "POST", answers: []answer{{status: 503}, ok}, wantCalls: 1, wantErr: "503"},
		{name: "POST retried when caller says so", method: "POST", retry: func(context.Context, error) bool { return true }, answers: []answer{{status: 503}, ok}, wantCalls: 2},
		{name: "POST caller declines", method: "POST", retry: func(context.Context, error) bool { return false }, answers: []answer{{status: 500}, ok}, wantCalls: 1, wantErr: "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := scripted(t, tt.answers...)
			c, rec := newTestClient(t, srv.URL, func(c *Config) { c.MaxRetries = 4 })
			var out map[string]any
			err := c.Do(t.Context(), &Request{Method: tt.method, Path: "/account/info", Retry: tt.retry}, &out)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Do: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Do = %v, want error containing %q", err, tt.wantErr)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("server calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantErr == "" && out["status"] != "ACTIVE" {
				t.Errorf("answer = %v", out)
			}
			if tt.check != nil {
				tt.check(t, rec, err)
			}
		})
	}
}

func TestRequestHeadersAndParams(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		b := make([]byte, 1024)
		n, _ := r.Body.Read(b)
		body = string(b[:n])
		fmt.Fprint(w, `{}`)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	req := &Request{Method: "PATCH", Path: "/trash", Query: map[string][]string{"asset": {"NONE"}}, JSON: map[string]any{"op": "add", "value": []string{"a"}}}
	if err := c.Do(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}
	if got.URL.Path != "/drive/v1/trash" {
		t.Errorf("path = %s, want /drive/v1/trash", got.URL.Path)
	}
	q := got.URL.Query()
	for k, want := range map[string]string{"resourceVersion": "V2", "ContentType": "JSON", "tempLink": "false", "asset": "NONE"} {
		if q.Get(k) != want {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if got.Header.Get("x-amzn-sessionid") != "s" {
		t.Errorf("x-amzn-sessionid = %q, want the session-id cookie", got.Header.Get("x-amzn-sessionid"))
	}
	for _, name := range []string{"session-id", "ubid-main", "at-main"} {
		if _, err := got.Cookie(name); err != nil {
			t.Errorf("cookie %s not sent", name)
		}
	}
	for _, want := range []string{`"resourceVersion":"V2"`, `"ContentType":"JSON"`, `"op":"add"`} {
		if !strings.Contains(body, want) {
			t.Errorf("body %s lacks %s", body, want)
		}
	}
	// Content and thumbnail hosts: no base params.
	if err := c.Do(t.Context(), &Request{Host: HostThumbnail, Path: "/v1/thumbnail/x"}, nil); err != nil {
		t.Fatal(err)
	}
	if got.URL.Path != "/v1/thumbnail/x" || got.URL.RawQuery != "" {
		t.Errorf("thumbnail request = %s?%s, want /v1/thumbnail/x without params", got.URL.Path, got.URL.RawQuery)
	}
}

// TestUnauthorizedStopsInFlight: a 401 on one request ends the others of
// the client that are waiting on the server, within a second.
func TestUnauthorizedStopsInFlight(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/drive/v1/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(401)
		fmt.Fprint(w, `{"message":"No Auth Method Provided"}`)
	}))
	defer srv.Close()
	defer close(release)
	c, _ := newTestClient(t, srv.URL, nil)
	slowErr := make(chan error, 1)
	go func() { slowErr <- c.Do(context.Background(), &Request{Path: "/slow"}, nil) }()
	time.Sleep(100 * time.Millisecond) // let the slow request reach the server
	if err := c.Do(t.Context(), &Request{Path: "/account/info"}, nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Do = %v, want ErrUnauthorized", err)
	}
	select {
	case err := <-slowErr:
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("in-flight request ended with %v, want ErrUnauthorized", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the in-flight request did not stop within a second of the 401")
	}
}

func TestUnknownHostIsClearError(t *testing.T) {
	c, err := New(Config{Cookies: cookiesFor(t, "main"), Endpoint: "http://apsql-test.invalid", MaxRetries: 2, Sleep: (&recorder{}).sleep})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Do(t.Context(), &Request{Path: "/account/info"}, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot resolve apsql-test.invalid") || !strings.Contains(err.Error(), "--tld") {
		t.Errorf("Do = %v, want a resolve error naming --tld/--endpoint", err)
	}
	// No upload host for a region without one.
	c, err = New(Config{Cookies: cookiesFor(t, "acbin")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(t.Context(), &Request{Method: "POST", Host: HostContent, Path: "/cdproxy/nodes"}, nil); !errors.Is(err, errNoUploadHost) {
		t.Errorf("upload in unknown region = %v, want errNoUploadHost", err)
	}
}

// slowBody yields n bytes, one per delay.
type slowBody struct {
	n     int
	delay time.Duration
}

func (r *slowBody) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.delay)
	r.n--
	p[0] = 'x'
	return 1, nil
}

// TestUploadOutlastsRequestTimeout: an upload whose body takes longer to
// send than RequestTimeout (a big file on a slow line) is not cut off at
// it, while a JSON request still is.
func TestUploadOutlastsRequestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			time.Sleep(600 * time.Millisecond)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, `{"id":"n","size":%d}`, len(b))
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) {
		cfg.RequestTimeout = 300 * time.Millisecond // stands for the 2 min default
		cfg.MaxRetries = 1
	})
	sends := 0
	req := &Request{Method: "POST", Host: HostContent, Path: "/cdproxy/nodes",
		Body: func() (io.ReadCloser, error) {
			sends++
			return io.NopCloser(&slowBody{n: 10, delay: 45 * time.Millisecond}), nil
		},
		ContentLength: 10, ContentType: "application/octet-stream",
		Retry: func(context.Context, error) bool { return true }}
	var out []byte
	if err := c.Do(t.Context(), req, &out); err != nil || sends != 1 {
		t.Errorf("a 450 ms upload with RequestTimeout 300 ms: %v after %d sends, want success at once", err, sends)
	}
	if err := c.Do(t.Context(), &Request{Path: "/account/info"}, nil); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("a 600 ms JSON answer with RequestTimeout 300 ms: %v, want a timeout", err)
	}
}

// TestChildrenChangedListing: a folder trashed between two pages shifts
// its siblings by one offset, so one of them is never listed; Children
// says so (ErrListingChanged) instead of returning the listing short, and
// Folders lists that folder again.
func TestChildrenChangedListing(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	for i := range 250 {
		ids = append(ids, fmt.Sprintf("folder%03d", i))
	}
	shrinkOnce := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		defer mu.Unlock()
		if q.Get("filters") == "isRoot:true" {
			fmt.Fprint(w, `{"count":1,"data":[{"id":"top","name":"","kind":"FOLDER","status":"AVAILABLE","isRoot":true}]}`)
			return
		}
		var list []string
		if strings.Contains(r.URL.Path, "/nodes/top/") {
			list = ids
		}
		off, _ := strconv.Atoi(q.Get("offset"))
		limit, _ := strconv.Atoi(q.Get("limit"))
		var b strings.Builder
		fmt.Fprintf(&b, `{"count":%d,"data":[`, len(list))
		for i := off; i < min(off+limit, len(list)); i++ {
			if i > off {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%q,"name":%q,"kind":"FOLDER","status":"AVAILABLE"}`, list[i], list[i])
		}
		b.WriteString(`]}`)
		if off == 0 && list != nil && shrinkOnce {
			shrinkOnce = false
			ids = ids[1:] // folder000 is trashed after the first page was served
		}
		fmt.Fprint(w, b.String())
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.Children(t.Context(), "top", "kind:FOLDER")
	if !errors.Is(err, ErrListingChanged) {
		t.Fatalf("Children over a listing that shrank between pages: %v, want ErrListingChanged", err)
	}
	mu.Lock()
	shrinkOnce = true
	ids = append([]string{"folderXXX"}, ids...)
	mu.Unlock()
	folders, err := c.Folders(t.Context())
	got := map[string]bool{}
	for _, f := range folders {
		got[f.ID] = true
	}
	if err != nil || len(folders) != 1+249 || !got["folder200"] || got["folderXXX"] {
		t.Errorf("Folders = %d folders (folder200: %v), %v; want the root and the 249 left (listed again)", len(folders), got["folder200"], err)
	}
}

// TestUnreachableFailsFast: a server that was never reached (nothing
// listens at --endpoint) fails after a few quick tries with a message that
// names the fix, not after a minute of backoff; one that answered before
// and then goes away is retried as usual (a blip in the network).
func TestUnreachableFailsFast(t *testing.T) {
	srv, _ := scripted(t, answer{status: 200, body: `{}`})
	url := srv.URL
	srv.Close() // nothing listens there any more: connection refused

	rec := &recorder{}
	c, err := New(Config{Cookies: cookiesFor(t, "main"), Endpoint: url, MaxRetries: 10, Sleep: rec.sleep})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Do(t.Context(), &Request{Path: "/account/info"}, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot connect to "+strings.TrimPrefix(url, "http://")) || !strings.Contains(err.Error(), "--endpoint") {
		t.Errorf("Do = %v, want 'cannot connect' naming the host and --endpoint", err)
	}
	if len(rec.sleeps) != firstContactRetries {
		t.Errorf("slept %d times before giving up, want %d", len(rec.sleeps), firstContactRetries)
	}

	// Reached once, then gone: the full retry policy applies.
	srv2, _ := scripted(t, answer{status: 200, body: `{}`})
	rec = &recorder{}
	c, err = New(Config{Cookies: cookiesFor(t, "main"), Endpoint: srv2.URL, MaxRetries: 5, Sleep: rec.sleep})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(t.Context(), &Request{Path: "/account/info"}, nil); err != nil {
		t.Fatal(err)
	}
	srv2.Close()
	err = c.Do(t.Context(), &Request{Path: "/account/info"}, nil)
	if err == nil || !strings.Contains(err.Error(), "gave up after 6 attempts") || len(rec.sleeps) != 5 {
		t.Errorf("after an answer: Do = %v with %d sleeps, want 'gave up after 6 attempts' and 5", err, len(rec.sleeps))
	}
}

func TestCacheDirWritesBodies(t *testing.T) {
	srv, _ := scripted(t, answer{status: 200, body: `{"count":0,"data":[]}`})
	dir := t.TempDir()
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.CacheDir = dir })
	if _, err := c.Search(t.Context(), SearchQuery{Filter: "type:(PHOTOS)"}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files = %v, want 1", files)
	}
	name := filepath.Base(files[0])
	if !strings.HasPrefix(name, "000001_GET_search_") || strings.Contains(name, "resourceVersion") {
		t.Errorf("cache file name = %s", name)
	}
	if b, _ := os.ReadFile(files[0]); string(b) != `{"count":0,"data":[]}` {
		t.Errorf("cache file holds %q", b)
	}
}

func TestBackoffDelay(t *testing.T) {
	maxRnd := func(n int64) int64 { return n - 1 }
	minRnd := func(int64) int64 { return 0 }
	tests := []struct {
		name       string
		attempt    int
		retryAfter time.Duration
		rnd        func(int64) int64
		lo, hi     time.Duration
	}{
		{"first retry low", 1, 0, minRnd, backoffBase / 2, backoffBase / 2},
		{"first retry high", 1, 0, maxRnd, backoffBase, backoffBase},
		{"third retry", 3, 0, maxRnd, 4 * backoffBase, 4 * backoffBase},
		{"capped", 30, 0, maxRnd, backoffMax, backoffMax},
		{"retry-after plus jitter", 5, 2 * time.Second, maxRnd, 2 * time.Second, 2200 * time.Millisecond},
		{"retry-after exact", 5, 2 * time.Second, minRnd, 2 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := backoffDelay(tt.attempt, tt.retryAfter, tt.rnd)
			if d < tt.lo || d > tt.hi {
				t.Errorf("backoffDelay(%d, %v) = %v, want in [%v, %v]", tt.attempt, tt.retryAfter, d, tt.lo, tt.hi)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"2", 2 * time.Second}, {"0.5", 500 * time.Millisecond}, {"-1", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second}, {"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestLimiterAdapts(t *testing.T) {
	var changes []int
	l := newLimiter(16, func(n int) { changes = append(changes, n) })
	ctx := t.Context()
	take := func() uint64 {
		tk, err := l.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	if l.current() != startConcurrency {
		t.Fatalf("start = %d, want %d", l.current(), startConcurrency)
	}
	// Slow start: every clean answer adds one, up to the maximum.
	for range 40 {
		l.release(take(), outcomeClean)
	}
	if l.current() != 16 {
		t.Errorf("after 40 clean answers limit = %d, want the maximum 16", l.current())
	}
	// Several throttles of requests sent before the cut halve only once.
	a, b, c := take(), take(), take()
	l.release(a, outcomeThrottled)
	l.release(b, outcomeThrottled)
	l.release(c, outcomeThrottled)
	if l.current() != 8 {
		t.Errorf("after one round of throttles limit = %d, want 8", l.current())
	}
	// A throttle of a request sent after the cut, out of slow start,
	// steps down by a quarter.
	l.release(take(), outcomeThrottled)
	if l.current() != 6 {
		t.Errorf("after a second throttle limit = %d, want 6", l.current())
	}
	// Congestion avoidance: +1 per avoidRounds rounds of clean answers.
	for range avoidRounds*6 - 1 {
		l.release(take(), outcomeClean)
	}
	if l.current() != 6 {
		t.Errorf("one answer short of %d clean rounds, limit = %d, want 6", avoidRounds, l.current())
	}
	l.release(take(), outcomeClean)
	if l.current() != 7 {
		t.Errorf("after %d clean rounds limit = %d, want 7", avoidRounds, l.current())
	}
	// Failures neither grow nor shrink.
	l.release(take(), outcomeFailed)
	if l.current() != 7 {
		t.Errorf("after a failure limit = %d, want 7", l.current())
	}
	if len(changes) == 0 || changes[len(changes)-1] != 7 {
		t.Errorf("concurrency events = %v, want the last to be 7", changes)
	}
}

func TestLimiterBoundsInFlight(t *testing.T) {
	l := newLimiter(3, nil)
	var inflight, peak atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk, err := l.acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			n := inflight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inflight.Add(-1)
			l.release(tk, outcomeClean)
		}()
	}
	wg.Wait()
	if peak.Load() > 3 {
		t.Errorf("peak in flight = %d, want ≤ 3", peak.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 3 {
		if _, err := l.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("acquire on a full limiter with a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestNetRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", errConnReset())}, true},
		{"unexpected EOF", fmt.Errorf("x: %w", errUnexpectedEOF()), true},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}, false},
		{"dns temporary", &net.DNSError{Err: "timeout", Name: "x", IsTemporary: true}, true},
		{"cancelled", context.Canceled, false},
		{"plain", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := netRetryable(tt.err); got != tt.want {
			t.Errorf("%s: netRetryable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func errConnReset() error     { return syscall.ECONNRESET }
func errUnexpectedEOF() error { return io.ErrUnexpectedEOF }

// TestLooksHTML: an HTML page is known by its first tag in any case,
// after any leading space, whatever its Content-Type; JSON, images and
// text that merely mention html are not.
func TestLooksHTML(t *testing.T) {
	for _, tt := range []struct {
		ct   string
		body string
		want bool
	}{
		{"", "<!DOCTYPE html><html>", true},
		{"", "\n\t  <HTML><body>503</body>", true},
		{"image/jpeg", "<!doctype HTML>", true},
		{"text/html; charset=utf-8", "", true},
		{"application/json", "<html>", false},
		{"", "<htm", false},
		{"image/jpeg", "\xff\xd8\xff\xe0", false},
		{"text/plain", "about <html> pages", false},
		{"", "", false},
	} {
		if got := looksHTML(tt.ct, []byte(tt.body)); got != tt.want {
			t.Errorf("looksHTML(%q, %q) = %v, want %v", tt.ct, tt.body, got, tt.want)
		}
	}
}
