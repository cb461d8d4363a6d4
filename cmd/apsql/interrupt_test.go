package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
)

// TestSignalStopsHeldAction: the real binary, TRASH against a service that
// answers nothing: SIGINT (Ctrl-C) and SIGTERM each end the script within
// a second, with exit status 130 (issue 11, item 3b), after printing the
// rows the statement has (issue 16, item 4).
func TestSignalStopsHeldAction(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := emulator.New(emulator.Options{Nodes: 200, Seed: 34})
	if err != nil {
		t.Fatal(err)
	}
	// The emulator behind a handler that reports each PATCH /trash as it
	// arrives (before the emulator holds it).
	arrived := make(chan struct{}, 100)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/trash") {
			arrived <- struct{}{}
		}
		// Read the body first: until it is read, net/http does not notice
		// that the client hung up, and a held request would never end.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	dir := t.TempDir()
	cookies := filepath.Join(dir, "cookies.json")
	if err := srv.WriteCookiesFile(cookies); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "ap.duckdb")
	apsql := func(sql string) *exec.Cmd {
		cmd := exec.Command(bin, "--cookies", cookies, "--endpoint", hs.URL, "-q", "-c", sql, db)
		cmd.Dir = dir
		return cmd
	}
	if out, err := apsql("SYNC NODES").CombinedOutput(); err != nil {
		t.Fatalf("SYNC NODES: %v\n%s", err, out)
	}
	srv.SetFaults(time.Hour, 0, 0, 0) // from now on, no answer
	t.Cleanup(func() { srv.SetFaults(0, 0, 0, 0) })

	// Two runs on different nodes: a re-run would first read back the
	// nodes the other left unknown (and wait on that, not on a PATCH).
	for _, run := range []struct {
		sig   os.Signal
		order string
	}{{os.Interrupt, "id"}, {syscall.SIGTERM, "id DESC"}} {
		sig := run.sig
		cmd := apsql("TRASH (SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY " + run.order + " LIMIT 50)")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%v: no PATCH /trash arrived in 30 s (stderr %q)", sig, stderr.String())
		}
		time.Sleep(100 * time.Millisecond) // the others of the first batches are sent too
		sent := time.Now()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v: apsql still ran 5 s after the signal (stderr %q)", sig, stderr.String())
		}
		took := time.Since(sent)
		t.Logf("%v: exited %s after the signal", sig, took.Round(time.Millisecond))
		// One second, and room for a loaded machine (the race detector, two
		// shared cores) to close the database.
		if took > 1500*time.Millisecond {
			t.Errorf("%v: exited %s after the signal, want within 1 s", sig, took)
		}
		if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("%v: exit status %d, stderr %q; want 130, interrupted", sig, code, stderr.String())
		}
		// The rows it has are printed, not only the header (issue 16
		// item 4): the 50 nodes, each with what became of it.
		if n := strings.Count(stdout.String(), "outcome unknown") + strings.Count(stdout.String(), "not sent"); n != 50 {
			t.Errorf("%v: %d rows say outcome unknown or not sent, want 50; stdout:\n%s", sig, n, stdout.String())
		}
		for len(arrived) > 0 {
			<-arrived
		}
	}
	// The journal marks both batches unknown, for a re-run to read back.
	srv.SetFaults(0, 0, 0, 0)
	out, err := apsql("SELECT count(*) FROM actions_log WHERE action = 'TRASH' AND detail LIKE '%outcome unknown%'").CombinedOutput()
	if err != nil || !strings.Contains(string(out), " 100 ") {
		t.Errorf("journal query: %v\n%s\nwant rows marked outcome unknown", err, out)
	}
}
