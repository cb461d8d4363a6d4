package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestMCPCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		out  string // in stdout, or stderr when code != 0
	}{
		{[]string{"mcp", "--help"}, exitOK, "claude mcp add apsql -- apsql mcp"},
		{[]string{"ap.duckdb", "mcp", "-h"}, exitOK, "--http ADDR"},
		{[]string{"mcp", ":memory:", "--http", "0.0.0.0:0"}, exitUsage, "127.0.0.1 only"},
		{[]string{"mcp", ":memory:", "--http"}, exitUsage, "--http wants an address"},
		{[]string{"mcp", ":memory:", "-c", "SELECT 1"}, exitUsage, "mcp runs no statements"},
		{[]string{"--demo", "--endpoint", "http://127.0.0.1:1", "mcp"}, exitUsage, "leave out --endpoint"},
		// "mcp" as the value of -c is a statement, not the subcommand.
		{[]string{":memory:", "-c", "mcp"}, exitFailed, "mcp"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), c.args, strings.NewReader(""), &stdout, &stderr)
		got := stdout.String()
		if code != exitOK {
			got = stderr.String()
		}
		if code != c.code || !strings.Contains(got, c.out) {
			t.Errorf("apsql %v = %d %q, want %d and %q", c.args, code, got, c.code, c.out)
		}
	}
}
