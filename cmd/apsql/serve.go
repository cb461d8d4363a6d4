package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/serve"
)

// valueFlags are the shell's flags that take a separate value (-c SQL), so
// that "serve" after one of them is that value, not the subcommand.
var valueFlags = map[string]bool{"c": true, "f": true, "db": true, "format": true, "cookies": true, "tld": true,
	"endpoint": true, "concurrency": true, "cache": true, "memory-limit": true}

// serveFlags are serve's own flags.
type serveFlags struct {
	port        int  // --port N; 0 picks a free one
	allowSearch bool // --allow-search: the grid's SQL may call search()
	help        bool // -h, --help: serve's own help
}

// serveUsage is `apsql serve --help`.
const serveUsage = `apsql serve — a photo gallery of the mirror in the browser

Usage:
  apsql [DBFILE] serve [--port N] [--allow-search]
  apsql --demo serve              the built-in emulated library, mirrored first

It prints http://apsql-RANDOM.localhost:PORT/?t=TOKEN: open it in a browser
(*.localhost is the loopback address; the gallery listens on 127.0.0.1 only).
The box takes an Amazon filter or a query that returns an id column; select
photos to Trash, Add to album or Download them (EXPLAIN first, then confirm).
Ctrl-C stops it.

Flags:
  --port N          the port on 127.0.0.1 (default 0: a free one)
  --allow-search    let the box's queries call search(), which sends live
                    requests to Amazon Photos (off: the box reads the mirror only)
  -h, --help        this help

The shell's --db, --demo, --cookies, --tld, --endpoint, --concurrency,
--cache, --memory-limit and -v apply too (apsql --help).
`

// serveArgs finds the serve subcommand among args (apsql serve ...,
// apsql --demo serve, apsql ap.duckdb serve --port 8080) and takes out its
// own flags; rest is for the shell's flag parser.
func serveArgs(args []string) (rest []string, sf serveFlags, found bool, err error) {
	at := subcommandAt(args, "serve")
	if at < 0 {
		return args, sf, false, nil
	}
	rest = append(rest, args[:at]...)
	for i := at + 1; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		switch name {
		case "h", "help":
			sf.help = true
			continue
		case "allow-search":
			if hasVal {
				if sf.allowSearch, err = strconv.ParseBool(val); err != nil {
					return nil, sf, true, usageError{fmt.Sprintf("--allow-search=%q: want true or false", val)}
				}
			} else {
				sf.allowSearch = true
			}
			continue
		case "port":
		default:
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, sf, true, usageError{"--port wants a port number, e.g. --port 8080"}
			}
			i++
			val = args[i]
		}
		if sf.port, err = strconv.Atoi(val); err != nil || sf.port < 0 || sf.port > 65535 {
			return nil, sf, true, usageError{fmt.Sprintf("--port %q: want a port number from 1 to 65535 (0 picks a free one)", val)}
		}
	}
	return rest, sf, true, nil
}

// runServe is `apsql serve [--port N] [--allow-search]`: the gallery over
// the database (or the demo library), on 127.0.0.1, until interrupted.
func runServe(ctx context.Context, args []string, sf serveFlags, stdout, stderr io.Writer) int {
	if sf.help {
		fmt.Fprint(stdout, serveUsage)
		return exitOK
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, errHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "apsql: %v\n", err)
		fmt.Fprintln(stderr, "Try: apsql serve --help")
		return exitUsage
	}
	if len(cfg.commands) > 0 || cfg.file != "" {
		fmt.Fprintln(stderr, "apsql: serve runs no statements: leave out -c and -f (run them before, on the same database file)")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := engine.Open(ctx, cfg.db)
	if err != nil {
		fmt.Fprintf(stderr, "apsql: %v\n", err)
		if errors.Is(err, engine.ErrBadPath) {
			return exitUsage
		}
		return exitFailed
	}
	defer db.Close()
	if cfg.memoryLimit != "" {
		if err := db.SetMemoryLimit(ctx, cfg.memoryLimit); err != nil {
			fmt.Fprintf(stderr, "apsql: --memory-limit: %v\n", err)
			return exitUsage
		}
	}
	sh := &shell{cfg: cfg, sess: newSession(db), stdout: stdout, stderr: stderr, out: stdout, dots: newDotTable()}
	defer sh.close()
	if cfg.verbose {
		sh.sess.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "apsql: "+format+"\n", args...) }
	}
	if err := setupFeatures(ctx, sh); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailed
	}
	if cfg.demo > 0 {
		// The demo library starts empty on this side: mirror it first.
		if _, err := sh.sess.Run(ctx, "SYNC"); err != nil {
			fmt.Fprintf(stderr, "Error: SYNC of the demo library: %v\n", err)
			return exitFailed
		}
	} else {
		var n int64
		if err := db.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&n); err == nil && n == 0 {
			fmt.Fprintf(stderr, "apsql: %s mirrors nothing yet: run SYNC first (apsql %s -c SYNC), or try apsql --demo serve\n", db.Path, db.Path)
		}
	}
	srv, err := serve.New(serve.Options{
		Session:     sh.sess,
		Client:      sh.api.get,
		AllowSearch: sf.allowSearch,
		Logf:        func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) },
	})
	if err != nil {
		fmt.Fprintf(stderr, "apsql: %v\n", err)
		return exitFailed
	}
	ln, err := serve.Listen("127.0.0.1:" + strconv.Itoa(sf.port))
	if err != nil {
		fmt.Fprintf(stderr, "apsql: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "apsql gallery: %s\n", srv.URL(ln))
	fmt.Fprintln(stderr, "Open the URL above (it carries the access token); Ctrl-C stops the gallery.")
	if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "apsql: serve: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// subcommandAt returns the index of the subcommand name among args (apsql
// serve ..., apsql --demo serve, apsql ap.duckdb mcp --http ...): the first
// word equal to name that is not the value of a shell flag; -1 when none
// comes before "--".
func subcommandAt(args []string, name string) int {
	for i, a := range args {
		if a == "--" {
			return -1
		}
		if a != name {
			continue
		}
		prev := ""
		if i > 0 {
			prev = strings.TrimLeft(args[i-1], "-")
		}
		if i == 0 || !strings.HasPrefix(args[i-1], "-") || strings.Contains(prev, "=") || !valueFlags[prev] {
			return i
		}
	}
	return -1
}
