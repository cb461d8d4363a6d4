package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected .out files of testdata/scripts")

// TestScripts runs every ../../testdata/scripts/NAME.sql through the whole
// shell (apsql -f NAME.sql) and compares stdout, stderr and the exit status
// with NAME.out. A first line "-- args: ..." adds command-line flags; the
// script runs in a fresh temporary directory, with $TMP in its text and args
// replaced by that directory.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("../../testdata/scripts/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario scripts found: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".sql")
		t.Run(name, func(t *testing.T) {
			got := runScript(t, file)
			want := strings.TrimSuffix(file, ".sql") + ".out"
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(exp) {
				t.Errorf("%s: output differs from %s (run with -update to accept)\n--- got\n%s\n--- want\n%s", file, want, got, exp)
			}
		})
	}
}

var argsLine = regexp.MustCompile(`^-- args:(.*)\n`)

// volatile replaces what changes from run to run (timings, temp dirs).
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`Run Time: [0-9.]+s`), "Run Time: Xs"},
	{regexp.MustCompile(`in [0-9.]+ ?s\b`), "in Xs"},
	{regexp.MustCompile(`\([0-9.]+ ?s\)`), "(Xs)"},
	{regexp.MustCompile(`at [0-9.]+ [kMG]?B/s`), "at X MB/s"},
	{regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`), "http://127.0.0.1:PORT"},
}

func runScript(t *testing.T, file string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	text := strings.ReplaceAll(string(src), "$TMP", dir)
	var args []string
	if m := argsLine.FindStringSubmatch(text); m != nil {
		args = strings.Fields(strings.ReplaceAll(m[1], "$TMP", dir))
	}
	script := filepath.Join(dir, filepath.Base(file))
	if err := os.WriteFile(script, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append(args, "-f", filepath.Base(file)), strings.NewReader(""), &stdout, &stderr)
	out := fmt.Sprintf("%s--- stderr\n%s--- exit %d\n", stdout.String(), stderr.String(), code)
	out = strings.ReplaceAll(out, dir, "$TMP")
	for _, v := range volatile {
		out = v.re.ReplaceAllString(out, v.with)
	}
	return out
}
