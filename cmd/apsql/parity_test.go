package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/apsql/apsql/output"
)

// TestFormatShorthand: -csv, -json, -line, ... are --format, as in
// DuckDB's CLI; the last one given wins.
func TestFormatShorthand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want output.Format
	}{
		{nil, output.Table},
		{[]string{"-csv"}, output.CSV},
		{[]string{"-json"}, output.JSON},
		{[]string{"-line"}, output.Line},
		{[]string{"-markdown"}, output.Markdown},
		{[]string{"-table"}, output.Table},
		{[]string{"--ndjson"}, output.NDJSON},
		{[]string{"-csv", "-json"}, output.JSON},
		{[]string{"--format", "tsv", "-line"}, output.Line},
		{[]string{"-line", "--format", "csv"}, output.CSV},
		{[]string{"ap.duckdb", "-csv"}, output.CSV},
	} {
		cfg, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Errorf("parseFlags(%q): %v", tc.args, err)
			continue
		}
		if cfg.format != tc.want {
			t.Errorf("parseFlags(%q).format = %q, want %q", tc.args, cfg.format, tc.want)
		}
	}
	if _, err := parseFlags([]string{"-csv=false"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-csv takes no value") {
		t.Errorf("-csv=false: err %v, want one saying -csv takes no value", err)
	}
}

// TestInteractiveMaxRows: a table at the terminal shows 40 rows of a long
// result, with a ⋮ row and a footer counting them; other formats, files
// and .maxrows -1 get every row.
func TestInteractiveMaxRows(t *testing.T) {
	env := []string{"XDG_STATE_HOME=" + t.TempDir(), "TERM=xterm"}
	tm := startTerm(t, env, ":memory:")
	tm.expect("apsql> ")
	tm.send("SELECT range AS n FROM range(100);\r")
	out := tm.expect("(100 rows, 40 shown; .maxrows -1 shows them all)")
	rows := regexp.MustCompile(`│ +([0-9]+) │`).FindAllStringSubmatch(out, -1)
	var got []int
	for _, m := range rows {
		n, _ := strconv.Atoi(m[1])
		got = append(got, n)
	}
	if len(got) != 40 || got[0] != 0 || got[19] != 19 || got[20] != 80 || got[39] != 99 || !strings.Contains(out, "│  ⋮   │") {
		t.Errorf("100 rows at the terminal showed %v, want 0-19, ⋮, 80-99:\n%s", got, out)
	}
	tm.expect("apsql> ")
	tm.send(".mode csv\r")
	tm.send("SELECT range AS n FROM range(100);\r")
	if out := tm.expect("99"); !strings.Contains(out, "\n50\r\n") {
		t.Errorf("csv at the terminal left rows out:\n%s", out)
	}
	tm.expect("apsql> ")
	file := filepath.Join(t.TempDir(), "all.txt")
	// Dot commands print nothing: a marker statement shows they are done.
	tm.send(".mode table\r")
	tm.send(".once " + file + "\r")
	tm.send("SELECT range AS n FROM range(100);\r")
	tm.send("SELECT 'done' AS marker;\r")
	tm.expect("│ done   │")
	tm.expect("apsql> ")
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), "│   50 │") || !strings.HasSuffix(string(b), "(100 rows)\n") {
		t.Errorf(".once file got %q (%v), want all 100 rows", b, err)
	}
	tm.send(".maxrows 4\r")
	tm.send("SELECT range AS n FROM range(10);\r")
	tm.expect("(10 rows, 4 shown;")
	tm.expect("apsql> ")
	tm.send(".maxrows -1\r")
	tm.send("SELECT range AS n FROM range(100);\r")
	if out := tm.expect("(100 rows)"); !strings.Contains(out, "│   50 │") {
		t.Errorf(".maxrows -1 left rows out:\n%s", out)
	}
	tm.expect("apsql> ")
	// .bail on at the prompt: the first error ends the shell with 1.
	tm.send(".bail on\r")
	tm.send("SELECT * FROM no_such_table;\r")
	tm.expect("no_such_table")
	if code := tm.wait(); code != 1 {
		t.Errorf("exit status after an error under .bail on = %d, want 1", code)
	}
}

// TestInteractiveMaxRowsStreams: ten million rows at the terminal print
// forty, and the shell's memory stays far below what the rows would take.
func TestInteractiveMaxRowsStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("10 million rows")
	}
	env := []string{"XDG_STATE_HOME=" + t.TempDir(), "TERM=xterm"}
	tm := startTerm(t, env, ":memory:")
	tm.expect("apsql> ")
	tm.send("SELECT range AS n, 'row ' || range AS s FROM range(10000000);\r")
	out := tm.expect("(10000000 rows, 40 shown;")
	if !strings.Contains(out, "row 9999999") || strings.Count(out, "│ row ") != 40 {
		t.Errorf("10M rows showed:\n%s", out)
	}
	tm.expect("apsql> ")
	status, err := os.ReadFile("/proc/" + strconv.Itoa(tm.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	m := regexp.MustCompile(`VmHWM:\s+([0-9]+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmHWM in %s", status)
	}
	kb, _ := strconv.Atoi(string(m[1]))
	t.Logf("peak RSS %d MB", kb/1024)
	// The rows take ~250 MB as Arrow batches (8-byte ints, ~10-byte
	// strings with their offsets) and more as text.
	if kb > 200<<10 {
		t.Errorf("peak RSS %d MB for 10M rows; they are held in memory", kb/1024)
	}
}

// TestDeclinedConfirmation: saying no to TRASH prints one line, sends
// nothing and journals nothing.
func TestDeclinedConfirmation(t *testing.T) {
	env := []string{"XDG_STATE_HOME=" + t.TempDir(), "TERM=xterm"}
	tm := startTerm(t, env, "--demo=80")
	tm.expect("apsql> ")
	tm.send("SYNC NODES;\r")
	tm.expect("sync: nodes")
	tm.expect("apsql> ")
	tm.send("TRASH (SELECT id FROM nodes ORDER BY id LIMIT 30);\r")
	tm.expect("trash 30 items (")
	tm.expect("? [y/N] ")
	tm.send("n\r")
	out := tm.expect("apsql> ")
	if !strings.Contains(out, "cancelled: nothing was sent") || strings.Contains(out, "skipped") || strings.Contains(out, "│") {
		t.Errorf("declined TRASH printed %q, want one line 'cancelled: nothing was sent'", out)
	}
	tm.send("SELECT count(*) AS journal FROM actions_log;\r")
	if out := tm.expect("(1 row)"); !strings.Contains(out, "│       0 │") {
		t.Errorf("declined TRASH journaled something:\n%s", out)
	}
	tm.expect("apsql> ")
	tm.send(".quit\r")
	tm.wait()
}
