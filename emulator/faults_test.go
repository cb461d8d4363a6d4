package emulator

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// statuses sends n sequential GETs and returns their statuses (-1 for a
// transport or body error).
func statuses(t *testing.T, s *Server, path string, n int) []int {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	out := make([]int, n)
	for i := range out {
		req, _ := http.NewRequest("GET", s.URL()+path, nil)
		for k, v := range s.Cookies() {
			req.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		resp, err := hc.Do(req)
		if err != nil {
			out[i] = -1
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out[i] = resp.StatusCode
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Logf("body error: %v", err)
			}
			out[i] = -1
		}
	}
	return out
}

func count(xs []int, pred func(int) bool) int {
	n := 0
	for _, x := range xs {
		if pred(x) {
			n++
		}
	}
	return n
}

func TestFaultRates(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		path      string
		n         int
		faulty    func(int) bool
		lo, hi    float64
		wantCodes []int
	}{
		{"fail rate 0.3", Options{FailRate: 0.3}, "/drive/v1/account/info", 400,
			func(c int) bool { return c == 500 || c == 503 }, 0.22, 0.38, []int{500, 503}},
		{"reset rate 0.4", Options{ResetRate: 0.4}, "/drive/v1/search?limit=20", 200,
			func(c int) bool { return c == -1 }, 0.28, 0.52, nil},
		{"no faults", Options{}, "/drive/v1/account/info", 100,
			func(c int) bool { return c != 200 }, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Nodes, tt.opts.Seed = 100, 7
			s, _ := startSmall(t, tt.opts)
			got := statuses(t, s, tt.path, tt.n)
			rate := float64(count(got, tt.faulty)) / float64(tt.n)
			if rate < tt.lo || rate > tt.hi {
				t.Errorf("fault rate = %.3f, want within [%.2f, %.2f]", rate, tt.lo, tt.hi)
			}
			for _, code := range tt.wantCodes {
				if count(got, func(c int) bool { return c == code }) == 0 {
					t.Errorf("no %d among %d requests", code, tt.n)
				}
			}
		})
	}
}

func TestFaultsDeterministic(t *testing.T) {
	run := func() []int {
		s, _ := startSmall(t, Options{Nodes: 50, Seed: 3, FailRate: 0.2, ResetRate: 0.1})
		return statuses(t, s, "/drive/v1/search?limit=5", 60)
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d: %d then %d with the same seed", i, a[i], b[i])
		}
	}
}

func TestRateLimit(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 50, RateLimit: 10})
	var limited int
	for range 40 {
		resp, b := c.do("GET", "/drive/v1/account/info", nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if resp.Header.Get("Retry-After") != "1" || string(b) != `{"message":"Rate exceeded"}` {
				t.Fatalf("429 with Retry-After %q body %s", resp.Header.Get("Retry-After"), b)
			}
		}
	}
	// A burst of one second's worth passes, then the refill rate.
	if limited < 20 || limited > 30 {
		t.Errorf("%d of 40 rapid requests were limited at 10 requests/s, want about 30", limited)
	}
	if got := s.Stats().Throttled; got != int64(limited) {
		t.Errorf("Stats().Throttled = %d, want %d", got, limited)
	}
	s.SetFaults(0, 0, 0, 0)
	c.get("/drive/v1/account/info", 200, nil)
}

func TestLatency(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 10, Latency: 40 * time.Millisecond})
	start := time.Now()
	c.get("/drive/v1/account/info", 200, nil)
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("request took %v, want at least the 40ms latency", d)
	}
	s.SetFaults(0, 0, 0, 0)
	start = time.Now()
	c.get("/drive/v1/account/info", 200, nil)
	if d := time.Since(start); d > 35*time.Millisecond {
		t.Logf("request without latency took %v (busy machine?)", d)
	}
}

func TestFaultsSpareAdminEndpoints(t *testing.T) {
	_, c := startSmall(t, Options{Nodes: 10, FailRate: 1, State: true})
	c.get("/_emulator/state", 200, nil)
	if resp, _ := c.do("GET", "/drive/v1/account/info", nil); resp.StatusCode < 500 {
		t.Errorf("fail rate 1: service endpoint answered %d", resp.StatusCode)
	}
}

// A request held by the latency fault ends when its client hangs up, also
// a PATCH whose body the handler has not read yet: before, the handler
// never noticed and an httptest.Server mounting the emulator waited in
// Close until the latency ran out.
func TestHeldRequestEndsWithItsClient(t *testing.T) {
	s, err := New(Options{Nodes: 10, Seed: 1, Latency: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	hc := &http.Client{Timeout: 200 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodPatch, hs.URL+"/drive/v1/trash", strings.NewReader(`{"op":"add","value":[]}`))
	req.Header.Set("Content-Type", "application/json")
	if _, err := hc.Do(req); err == nil {
		t.Fatal("the held PATCH was answered")
	}
	closed := make(chan struct{})
	go func() { hs.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("the held handler is still running 3 s after its client left")
	}
}
