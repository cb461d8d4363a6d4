package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/apsql/apsql/fetch"
)

// TestRetryWarning: without -v, a request that keeps failing is reported
// once it has failed warnAfter times, and such lines are spaced out; -q
// and -v (which logs every retry) print none.
func TestRetryWarning(t *testing.T) {
	var out bytes.Buffer
	a := &apiClient{cfg: &config{}, logf: func(string, ...any) {}, warn: &out}
	retry := func(attempt int) fetch.Event {
		return fetch.Event{Kind: fetch.EventRetry, Op: "/search offset 0", Attempt: attempt, Status: 500, Err: errors.New("500 Internal Server Error")}
	}
	for at := 1; at < warnAfter; at++ {
		a.event(retry(at))
	}
	a.event(fetch.Event{Kind: fetch.EventThrottled, Op: "/search offset 0", Attempt: warnAfter + 2, Status: 429, Err: errors.New("429")})
	if out.Len() != 0 {
		t.Fatalf("warned before %d failures, or about throttling: %q", warnAfter, out.String())
	}
	a.event(retry(warnAfter))
	a.event(retry(warnAfter + 1)) // within warnEvery: no second line
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "/search offset 0") || !strings.Contains(lines[0], "still retrying") || strings.Contains(lines[0], "\r") {
		t.Errorf("warning = %q, want one line naming the request and 'still retrying'", out.String())
	}

	quiet := &apiClient{cfg: &config{}, logf: func(string, ...any) {}}
	quiet.event(retry(warnAfter + 5)) // warn is nil with -q or -v: must not panic or print
}
