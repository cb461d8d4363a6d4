package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
)

// Issue 17 item 2: a statement whose request never gets an answer says
// why it waits on stderr, once, well before it fails, and fails at
// --timeout (here 4 s: the line comes after a quarter of it).
func TestStallLineOnStderr(t *testing.T) {
	srv := emulator.StartTest(t, emulator.Options{Nodes: 50, Seed: 17})
	srv.SetHang("GET /drive/v1/search", emulator.HangHeaders, 0, -1)
	dir := t.TempDir()
	cookies := filepath.Join(dir, "cookies.json")
	if err := srv.WriteCookiesFile(cookies); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	code, _, stderr := apsql(t, "--endpoint", srv.URL(), "--cookies", cookies, "--timeout", "4s", filepath.Join(dir, "ap.duckdb"), "-c", "SYNC NODES")
	el := time.Since(t0)
	t.Logf("exit %d after %v:\n%s", code, el.Round(time.Millisecond), stderr)
	if code != 1 || !strings.Contains(stderr, "no progress for 4") {
		t.Fatalf("exit %d, want 1 with \"no progress for 4s\"", code)
	}
	if el > 8*time.Second {
		t.Errorf("failed after %v, want about --timeout (4 s)", el)
	}
	line := regexp.MustCompile(`(?m)^apsql: waiting for the service: /search offset 0 has sent no headers for 1s \(still waiting; gives up after 4s without progress, --timeout\)$`)
	if n := len(line.FindAllString(stderr, -1)); n != 1 {
		t.Errorf("%d stall lines, want one: \"apsql: waiting for the service: /search offset 0 has sent no headers for 1s ...\"", n)
	}
}
