package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/output"
)

var errHelp = errors.New("help shown")

// config is the parsed command line.
type config struct {
	db          string
	commands    []string // -c, in order
	file        string   // -f
	format      output.Format
	bail        bool
	quiet       bool
	verbose     bool
	version     bool
	yes         bool
	cookies     string
	tld         string
	endpoint    string
	concurrency int
	cache       string
	timeout     time.Duration // --timeout: a request's longest time without progress (0: fetch's default)
	demo        int           // 0: no demo
	memoryLimit string        // DuckDB memory_limit ("" keeps DuckDB's default)
}

// demoFlag is --demo or --demo=N.
type demoFlag struct{ n *int }

func (d demoFlag) String() string {
	if d.n == nil || *d.n == 0 {
		return ""
	}
	return strconv.Itoa(*d.n)
}
func (d demoFlag) IsBoolFlag() bool { return true }
func (d demoFlag) Set(s string) error {
	switch s {
	case "true":
		*d.n = defaultDemoNodes
		return nil
	case "false":
		*d.n = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("--demo wants a number of items, like --demo=50000")
	}
	*d.n = n
	return nil
}

const defaultDemoNodes = 10000

// defaultMemoryLimit keeps a SYNC of a million nodes near half a gigabyte
// (BENCHMARKS.md); DuckDB spills to disk beyond it.
const defaultMemoryLimit = "256MB"

// goMemoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT is
// set: the decoders' buffers are reused rather than left to grow.
const goMemoryLimit = 192 << 20

// formatFlag is -csv, -json, -line, ...: DuckDB's CLI shorthand for
// --format; the last format given wins.
type formatFlag struct {
	f   output.Format
	dst *string
}

func (f formatFlag) String() string   { return "" }
func (f formatFlag) IsBoolFlag() bool { return true }
func (f formatFlag) Set(s string) error {
	if s != "true" {
		return fmt.Errorf("-%s takes no value", f.f)
	}
	*f.dst = string(f.f)
	return nil
}

type multiFlag struct{ vals *[]string }

func (m multiFlag) String() string     { return "" }
func (m multiFlag) Set(s string) error { *m.vals = append(*m.vals, s); return nil }

const usageText = `apsql — a SQL shell over your Amazon Photos library

Usage:
  apsql [flags] [DBFILE]          interactive shell (or run a script piped on stdin)
  apsql -c "SQL; SQL; ..."        run statements, print results, exit
  apsql -f script.sql             run a script, exit
  apsql --demo[=N]                shell on a built-in emulated library (no account needed)
  apsql [DBFILE] serve [--port N] a photo gallery of the mirror in the browser (127.0.0.1 only)
  apsql [DBFILE] mcp [--http A]   the library for AI agents over MCP (stdio; apsql mcp --help)
  apsql emulate [flags]           run the Amazon Photos emulator as a server
  apsql login [flags]             read the Amazon session from a browser profile into the cookies file
  apsql whoami                    signed in? site, customer id, cookie expiry

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("apsql", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := "table"
	fs.StringVar(&cfg.db, "db", "", "local database `FILE` (default ap.duckdb; :memory: allowed)")
	fs.Var(multiFlag{&cfg.commands}, "c", "run `SQL` statements and exit (repeatable)")
	fs.StringVar(&cfg.file, "f", "", "run the script `FILE` and exit")
	fs.StringVar(&format, "format", "table", "output `FORMAT`: table, csv, tsv, json, ndjson, markdown, line")
	for _, f := range output.Formats() {
		fs.Var(formatFlag{f, &format}, string(f), fmt.Sprintf("shorthand for --format %s", f))
	}
	fs.BoolVar(&cfg.bail, "bail", false, "stop at the first error (always on in -c, -f and stdin modes)")
	fs.BoolVar(&cfg.quiet, "q", false, "quieter: no progress bars")
	fs.BoolVar(&cfg.verbose, "v", false, "more log detail on stderr")
	fs.BoolVar(&cfg.version, "version", false, "print the version and exit")
	fs.StringVar(&cfg.memoryLimit, "memory-limit", defaultMemoryLimit, "DuckDB's memory `LIMIT` (e.g. 2GB; \"\" for DuckDB's default of 80% of RAM); a larger one makes SYNC of a big library faster")
	registerFeatureFlags(fs, cfg)
	fs.Usage = func() {}
	// Flags may come before or after DBFILE (apsql ap.duckdb -c '...').
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stderr, usageText)
				fs.SetOutput(stderr)
				fs.PrintDefaults()
				return nil, errHelp
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
	switch {
	case len(rest) > 1:
		return nil, usageError{fmt.Sprintf("more than one database file given: %s", strings.Join(rest, " "))}
	case len(rest) == 1 && cfg.db != "":
		return nil, usageError{fmt.Sprintf("database given twice: --db %s and %s", cfg.db, rest[0])}
	case len(rest) == 1:
		cfg.db = rest[0]
	}
	f, err := output.ParseFormat(format)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	cfg.format = f
	if cfg.file != "" && len(cfg.commands) > 0 {
		return nil, usageError{"-c and -f cannot be used together"}
	}
	if cfg.concurrency < 1 {
		return nil, usageError{fmt.Sprintf("--concurrency %d: give at least 1 (the default, 16, adapts below it)", cfg.concurrency)}
	}
	if cfg.db == "" {
		cfg.db = engine.DefaultPath
		if cfg.demo > 0 {
			cfg.db = engine.Memory
		}
	}
	return cfg, nil
}

// version is the module version of the binary ("(devel)" when built from a checkout).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "(unknown)"
}
