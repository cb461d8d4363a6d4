package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestServeArgs(t *testing.T) {
	for _, c := range []struct {
		args  []string
		rest  []string
		port  int
		found bool
		bad   bool
	}{
		{args: []string{"serve"}, rest: nil, found: true},
		{args: []string{"--demo", "serve"}, rest: []string{"--demo"}, found: true},
		{args: []string{"ap.duckdb", "serve", "--port", "8080"}, rest: []string{"ap.duckdb"}, port: 8080, found: true},
		{args: []string{"serve", "--port=9000", "-v", "lib.duckdb"}, rest: []string{"-v", "lib.duckdb"}, port: 9000, found: true},
		{args: []string{"--db", "serve"}, rest: []string{"--db", "serve"}},       // a database file named serve
		{args: []string{"-c", "serve"}, rest: []string{"-c", "serve"}},           // SQL text
		{args: []string{"--yes", "serve"}, rest: []string{"--yes"}, found: true}, // a bool flag before it
		{args: []string{"serve", "--port", "http"}, found: true, bad: true},
		{args: []string{"serve", "--port"}, found: true, bad: true},
		{args: []string{"ap.duckdb"}, rest: []string{"ap.duckdb"}},
		{args: []string{"serve", "--allow-search", "--port", "1"}, port: 1, found: true},
		{args: []string{"serve", "--allow-search=maybe"}, found: true, bad: true},
	} {
		rest, sf, found, err := serveArgs(c.args)
		port := sf.port
		if found != c.found || (err != nil) != c.bad || !c.bad && (port != c.port || !slices.Equal(rest, c.rest)) {
			t.Errorf("serveArgs(%q) = %q, %d, %v, %v; want %q, %d, %v, error %v", c.args, rest, port, found, err, c.rest, c.port, c.found, c.bad)
		}
	}
}

// TestServeHelp: apsql serve --help prints serve's own help, not the
// shell's, and starts nothing.
func TestServeHelp(t *testing.T) {
	for _, args := range [][]string{{"serve", "--help"}, {"serve", "-h"}, {"--demo", "serve", "--help"}, {"ap.duckdb", "serve", "--port", "1", "-help"}} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != exitOK || !strings.Contains(stdout.String(), "--allow-search") || !strings.Contains(out, "apsql serve") || strings.Contains(out, "apsql -c") {
			t.Errorf("apsql %s: exit %d, output:\n%s\nwant serve's own help", strings.Join(args, " "), code, out)
		}
	}
}
