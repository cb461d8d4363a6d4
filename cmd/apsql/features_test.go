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
	if out.Len() != 0 {
		t.Fatalf("warned before %d failures: %q", warnAfter, out.String())
	}
	a.event(retry(warnAfter))
	a.event(retry(warnAfter + 1)) // within warnEvery: no second line
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "/search offset 0") || !strings.Contains(lines[0], "still retrying") || strings.Contains(lines[0], "\r") {
		t.Errorf("warning = %q, want one line naming the request and 'still retrying'", out.String())
	}

	// Throttling (429) says what happened and the rate it slowed to.
	var thr bytes.Buffer
	th := &apiClient{cfg: &config{}, logf: func(string, ...any) {}, warn: &thr}
	th.event(fetch.Event{Kind: fetch.EventThrottled, Op: "/search offset 0", Status: 429, Refused: 12, Rate: 4.5, Err: errors.New("429")})
	if got := thr.String(); !strings.Contains(got, "throttled by the service: 12 requests refused, now at 4.5 req/s") {
		t.Errorf("throttle line = %q", got)
	}

	quiet := &apiClient{cfg: &config{}, logf: func(string, ...any) {}}
	quiet.event(retry(warnAfter + 5)) // warn is nil with -q or -v: must not panic or print
}

// TestCommandLineEdges: several -c join safely (a trailing -- comment does
// not eat the next statement), and bad usage found while setting up exits
// 2, as SPEC §1 says.
func TestCommandLineEdges(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{":memory:", "--format", "csv", "-c", "SELECT 1 AS a -- note", "-c", "SELECT 2 AS b"}, 0, "a\n1\nb\n2\n", ""},
		{[]string{":memory:", "--format", "csv", "-c", "SELECT 1 AS a", "-c", "SELECT 2 AS b;\nSELEC 3"}, 1, "a\n1\nb\n2\n", "-c #2:2: Parser Error"},
		{[]string{"--demo=100", "--cookies", "x", "-c", "SELECT 1"}, 2, "", "--demo runs its own emulated service"},
		{[]string{":memory:", "--concurrency", "0", "-c", "SELECT 1"}, 2, "", "--concurrency 0"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), c.args, strings.NewReader(""), &stdout, &stderr)
		if code != c.code || stdout.String() != c.out || !strings.Contains(stderr.String(), c.err) {
			t.Errorf("apsql %s: exit %d, stdout %q, stderr %q; want %d, %q, %q", strings.Join(c.args, " "), code, stdout.String(), stderr.String(), c.code, c.out, c.err)
		}
	}
}
