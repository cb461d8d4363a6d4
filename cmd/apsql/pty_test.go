package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// buildBinary compiles apsql once for the tests that drive it as a process.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "apsql-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "apsql")
	out, err := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// ptyTerm is apsql running in a pseudo-terminal.
type ptyTerm struct {
	t    *testing.T
	cmd  *exec.Cmd
	pty  *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func startTerm(t *testing.T, env []string, args ...string) *ptyTerm {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	tm := &ptyTerm{t: t, cmd: cmd, pty: f, done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			tm.mu.Lock()
			tm.buf.Write(b[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
	return tm
}

// expect waits until the output since the last expect contains s.
func (tm *ptyTerm) expect(s string) string {
	tm.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		tm.mu.Lock()
		out := tm.buf.String()
		if i := strings.Index(out, s); i >= 0 {
			tm.buf.Next(i + len(s))
			tm.mu.Unlock()
			return out[:i+len(s)]
		}
		tm.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.t.Fatalf("timed out waiting for %q; output so far:\n%s", s, tm.buf.String())
	return ""
}

func (tm *ptyTerm) send(s string) {
	tm.t.Helper()
	if _, err := io.WriteString(tm.pty, s); err != nil {
		tm.t.Fatal(err)
	}
}

func (tm *ptyTerm) wait() int {
	tm.t.Helper()
	select {
	case <-tm.done:
	case <-time.After(20 * time.Second):
		tm.t.Fatal("apsql did not exit")
	}
	tm.cmd.Wait()
	return tm.cmd.ProcessState.ExitCode()
}

func TestInteractiveShell(t *testing.T) {
	state := t.TempDir()
	env := []string{"XDG_STATE_HOME=" + state, "TERM=xterm"}

	tm := startTerm(t, env, ":memory:")
	tm.expect("apsql> ")
	// A statement over three lines, with the continuation prompt.
	tm.send("SELECT 40\r")
	tm.expect("...> ")
	tm.send("  + 2\r")
	tm.expect("...> ")
	tm.send("  AS answer;\r")
	if out := tm.expect("(1 row)"); !strings.Contains(out, "42") {
		t.Errorf("multi-line statement printed %q, want 42", out)
	}
	tm.expect("apsql> ")
	// Ctrl-C at the prompt clears the line being typed.
	tm.send("SELECT 'discarded'")
	tm.send("\x03")
	tm.expect("^C")
	tm.send("SELECT 'kept' AS k;\r")
	if out := tm.expect("(1 row)"); !strings.Contains(out, "│ kept │") || strings.Contains(out, "discarded │") {
		t.Errorf("after Ctrl-C at the prompt got %q", out)
	}
	tm.expect("apsql> ")
	// Ctrl-C during a long query cancels it and the shell stays usable.
	tm.send("SELECT count(*) FROM range(100000000000) a;\r")
	time.Sleep(500 * time.Millisecond)
	tm.send("\x03")
	tm.expect("Interrupted")
	tm.expect("apsql> ")
	tm.send("SELECT 'still here' AS s;\r")
	tm.expect("(1 row)")
	tm.expect("apsql> ")
	// A line with a cookie never reaches the history.
	tm.send("SELECT 'at-main=secret' AS c;\r")
	tm.expect("(1 row)")
	tm.expect("apsql> ")
	tm.send("\x04") // Ctrl-D
	if code := tm.wait(); code != 0 {
		t.Errorf("exit status after Ctrl-D = %d, want 0", code)
	}

	hist, err := os.ReadFile(filepath.Join(state, "apsql", "history"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(hist), "AS answer;") {
		t.Errorf("history %q lacks the multi-line statement", hist)
	}
	if strings.Contains(string(hist), "secret") {
		t.Errorf("history %q holds a cookie value", hist)
	}

	// A second run recalls the first run's statements with the up arrow.
	tm = startTerm(t, env, ":memory:")
	tm.expect("apsql> ")
	tm.send("\x1b[A") // up: 'still here'
	tm.send("\r")
	if out := tm.expect("(1 row)"); !strings.Contains(out, "│ still here │") {
		t.Errorf("history recall ran %q, want the 'still here' statement", out)
	}
	tm.expect("apsql> ")
	tm.send(".quit\r")
	if code := tm.wait(); code != 0 {
		t.Errorf("exit status after .quit = %d, want 0", code)
	}
}

// TestBatchInterrupt: Ctrl-C (SIGINT) in batch mode exits with 130.
func TestBatchInterrupt(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", "SELECT count(*) FROM range(100000000000) a", ":memory:")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit status = %d, want 130 (stderr %q)", code, stderr.String())
	}
}

// TestLockedDatabase: a database file held by another apsql gets one clear line.
func TestLockedDatabase(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "ap.duckdb")
	holder := exec.Command(bin, "-c", "SELECT count(*) FROM range(100000000000) a", db)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	time.Sleep(700 * time.Millisecond)
	out, _ := exec.Command(bin, "-c", "SELECT 1", db).CombinedOutput()
	got := strings.TrimSpace(string(out))
	if !strings.Contains(got, "in use by process") || strings.Count(got, "\n") != 0 {
		t.Errorf("second apsql printed %q, want one line saying the file is in use", got)
	}
}
