// Command apsql is a SQL shell over an Amazon Photos library: it mirrors the
// library into embedded DuckDB, runs SQL and Amazon's filter language over
// it, and acts on what a query selects (trash, restore, download, upload,
// albums, labeling).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/apsql/apsql/engine"
)

func main() {
	// The shell's soft limit, not the emulator's: a served library of a
	// million nodes holds ~170 MiB, and under this limit its GC would run
	// without pause (a 1M SYNC against it took 3 s longer).
	emulate := len(os.Args) > 1 && os.Args[1] == "emulate"
	if os.Getenv("GOMEMLIMIT") == "" && !emulate {
		debug.SetMemoryLimit(goMemoryLimit)
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses (SPEC §1).
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// usageError is bad usage: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "emulate" {
		return runEmulate(ctx, args[1:], stdout, stderr)
	}
	if rest, ok := subcommand(args, "login"); ok {
		return runLogin(ctx, rest, stdin, stdout, stderr)
	}
	if rest, ok := subcommand(args, "whoami"); ok {
		return runWhoami(ctx, rest, stdout, stderr)
	}
	if rest, mf, ok, err := mcpArgs(args); ok {
		if err != nil {
			fmt.Fprintf(stderr, "apsql: %v\n", err)
			return exitUsage
		}
		return runMCP(ctx, rest, mf, stdout, stderr)
	}
	if rest, sf, ok, err := serveArgs(args); ok {
		if err != nil {
			fmt.Fprintf(stderr, "apsql: %v\n", err)
			return exitUsage
		}
		return runServe(ctx, rest, sf, stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, errHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "apsql: %v\n", err)
		fmt.Fprintln(stderr, "Try: apsql --help")
		return exitUsage
	}
	if cfg.version {
		fmt.Fprintln(stdout, "apsql", version())
		return exitOK
	}
	return runShell(ctx, cfg, stdin, stdout, stderr)
}

// readOnlyNote says on stderr that db was opened for queries only, because
// its file is not writable.
func readOnlyNote(db *engine.DB, stderr io.Writer) {
	if db.Damaged != nil {
		fmt.Fprintf(stderr, "apsql: note: %v\n", db.Damaged)
		return
	}
	if db.ReadOnly {
		fmt.Fprintf(stderr, "apsql: note: %s is read-only, so it is open for queries only: statements that write (SYNC, actions, INSERT, ...) will fail\n", db.Path)
	}
}
