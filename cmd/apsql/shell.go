package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"golang.org/x/term"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/output"
)

// shell runs statements and dot commands, for the REPL and for scripts alike.
type shell struct {
	cfg    *config
	sess   *engine.Session
	stdout io.Writer // where results go when .output is off
	stderr io.Writer
	out    io.Writer // current result writer: onceF, else outF, else stdout
	outF   *os.File  // .output file, if any
	onceF  *os.File  // .once file, if any: the next result only
	opts   output.Options
	timer  bool
	echo   bool // .echo: print each statement before running it
	// bail stops a script, or the interactive shell, at the first error:
	// on in scripts unless .bail off, off interactively unless --bail.
	bail bool
	// maxRows is .maxrows (0: every row); unless maxRowsSet, a table at
	// the terminal shows defaultMaxRows.
	maxRows    int
	maxRowsSet bool
	dots       *dotTable
	api        *apiClient // registers apsql's statements on each database
	// interactive: errors don't stop the loop, confirmations are asked.
	interactive bool
	// cleanup runs at exit (emulator, files).
	cleanup []func()
	// banner is printed when the interactive shell starts.
	banner []string
	// readDepth counts the .read commands being run, one inside another.
	readDepth int
}

// defaultMaxRows is how many rows an interactive table at the terminal
// shows, as in DuckDB's shell: the first and last 20.
const defaultMaxRows = 40

// maxReadDepth bounds .read inside .read (sqlite3 stops at 25 too).
const maxReadDepth = 25

func runShell(ctx context.Context, cfg *config, stdin io.Reader, stdout, stderr io.Writer) int {
	db, err := engine.Open(ctx, cfg.db)
	if err != nil {
		fmt.Fprintf(stderr, "apsql: %v\n", err)
		if errors.Is(err, engine.ErrBadPath) {
			return exitUsage
		}
		return exitFailed
	}
	readOnlyNote(db, stderr)
	if cfg.memoryLimit != "" {
		if err := db.SetMemoryLimit(ctx, cfg.memoryLimit); err != nil {
			db.Close()
			fmt.Fprintf(stderr, "apsql: --memory-limit: %v\n", err)
			return exitUsage
		}
	}
	sh := &shell{
		cfg:    cfg,
		sess:   newSession(db),
		stdout: stdout,
		stderr: stderr,
		out:    stdout,
		opts:   output.Options{Format: cfg.format, Headers: true},
		bail:   true, // scripts; the REPL starts with cfg.bail
		dots:   newDotTable(),
	}
	defer sh.close() // and the database, which .open may have replaced
	if cfg.verbose {
		sh.sess.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "apsql: "+format+"\n", args...) }
	}
	if !cfg.quiet && isTerminal(stderr) {
		sh.sess.Progress = newTermProgress(stderr)
	}
	if err := setupFeatures(ctx, sh); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailed
	}

	switch {
	case len(cfg.commands) > 0:
		// Each -c is a script of its own, so that its errors name its
		// lines (and a trailing -- comment cannot swallow the next one);
		// the first failure stops the rest (unless .bail off).
		status := exitOK
		for i, c := range cfg.commands {
			name := "-c"
			if len(cfg.commands) > 1 {
				name = fmt.Sprintf("-c #%d", i+1)
			}
			if code := sh.batch(ctx, name, c); code != exitOK {
				if code != exitFailed || sh.bail {
					return code
				}
				status = code
			}
		}
		return status
	case cfg.file != "":
		src, err := os.ReadFile(cfg.file)
		if err != nil {
			fmt.Fprintf(stderr, "apsql: cannot read script: %v\n", err)
			return exitUsage
		}
		return sh.batch(ctx, cfg.file, string(src))
	case isTerminal(stdin):
		return sh.repl(ctx, stdin)
	default:
		src, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "apsql: read stdin: %v\n", err)
			return exitUsage
		}
		return sh.batch(ctx, "stdin", string(src))
	}
}

func (sh *shell) close() {
	sh.endOnce()
	sh.setOutput("")
	for i := len(sh.cleanup) - 1; i >= 0; i-- {
		sh.cleanup[i]()
	}
	sh.sess.DB.Close()
}

func isTerminal(f any) bool {
	if fd, ok := f.(interface{ Fd() uintptr }); ok {
		return term.IsTerminal(int(fd.Fd()))
	}
	return false
}

// terminalWidth is the width of w when it is a terminal, else 0 (unlimited).
func terminalWidth(w io.Writer) int {
	if f, ok := w.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil {
			return width
		}
	}
	return 0
}

// scriptStatements splits a whole script: the text after its last ';' is
// a final statement, unless it is only a comment left open at the end
// (which the REPL would read on from, and a script simply ends in).
func scriptStatements(src string) []engine.Stmt {
	stmts, rest := engine.Split(src)
	r := strings.TrimSpace(rest)
	if r != "" && !strings.HasPrefix(r, "/*") {
		_, line := lineOf(src, rest)
		stmts = append(stmts, engine.Stmt{Text: r, Line: line, Dot: strings.HasPrefix(r, ".")})
	}
	return stmts
}

// batch runs a whole script, stopping at the first error (SPEC §1: --bail is
// the default outside the interactive shell); after .bail off it goes on
// and exits 1 at the end when a statement failed. Ctrl-C exits with 130.
func (sh *shell) batch(ctx context.Context, name, src string) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	status := exitOK
	for _, st := range scriptStatements(src) {
		err := sh.exec(ctx, st)
		if ctx.Err() != nil {
			// Interrupted: the statement printed the rows it has; the
			// script stops here, whether or not they hold a failure.
			fmt.Fprintf(sh.stderr, "%s:%d: interrupted\n", name, st.Line)
			return exitInterrupted
		}
		if err == nil {
			continue
		}
		if errors.Is(err, errQuit) {
			return status
		}
		if !errors.Is(err, errReported) {
			sh.printError(fmt.Sprintf("%s:%d: ", name, st.Line), err)
		}
		if sh.bail {
			return exitFailed
		}
		status = exitFailed
	}
	return status
}

// errReported is a failure whose errors were printed where they happened
// (statements of a .read under .bail off): it counts, it is not printed
// again.
var errReported = errors.New("statements failed")

// lineOf returns the 1-based line at which the suffix rest of src starts.
func lineOf(src, rest string) (int, int) {
	off := len(src) - len(rest)
	lead := len(rest) - len(strings.TrimLeft(rest, " \t\r\n"))
	return off, 1 + strings.Count(src[:off+lead], "\n")
}

var errQuit = errors.New("quit")

// exec runs one statement or dot command and prints its result.
func (sh *shell) exec(ctx context.Context, st engine.Stmt) error {
	if sh.echo {
		text := st.Text
		if !st.Dot {
			text += ";"
		}
		// To the terminal or the pipe, never into an .output or .once
		// file: an exported CSV stays one document.
		fmt.Fprintln(sh.stdout, text)
	}
	once := sh.onceF
	start := time.Now()
	var err error
	if st.Dot {
		err = sh.dots.run(ctx, sh, st.Text)
	} else {
		err = sh.statement(ctx, st.Text)
	}
	if once != nil && sh.onceF == once && !(st.Dot && sh.dots.setting(st.Text)) {
		if cerr := sh.endOnce(); err == nil {
			err = cerr
		}
	}
	if sh.timer && !errors.Is(err, errQuit) {
		fmt.Fprintf(sh.stderr, "Run Time: %.3fs\n", time.Since(start).Seconds())
	}
	return err
}

func (sh *shell) statement(ctx context.Context, text string) error {
	res, err := sh.sess.Run(ctx, text)
	if err != nil {
		return err
	}
	return sh.print(ctx, text, res)
}

// print writes a statement's result to the current output and its summary
// to stderr.
func (sh *shell) print(ctx context.Context, text string, res *engine.Result) error {
	if res.Rows != nil {
		defer res.Rows.Release()
		if len(res.Rows.Schema().Fields()) > 0 && !isRowCount(text, res) {
			opts := sh.opts
			if sh.out == sh.stdout {
				opts.Width = terminalWidth(sh.stdout)
			}
			opts.MaxRows = sh.rowLimit()
			w := bufio.NewWriterSize(sh.out, 64<<10)
			wctx := ctx
			if res.Held {
				// An action's rows are in memory: an interrupted
				// statement prints every row it has (what was sent,
				// what was not), not only the header.
				wctx = context.WithoutCancel(ctx)
			}
			_, werr := output.Write(wctx, w, res.Rows, opts)
			if ferr := w.Flush(); werr == nil {
				werr = ferr
			}
			if werr != nil {
				return werr
			}
		}
	}
	if res.Summary != "" {
		fmt.Fprintln(sh.stderr, res.Summary)
	}
	if res.Failed > 0 {
		return fmt.Errorf("%s %s failed (see the rows above and actions_log); re-run the statement to retry", output.Thousands(int64(res.Failed)), plural(res.Failed, "item", "items"))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// isRowCount reports whether res is only the affected-row count that DuckDB
// returns for INSERT, UPDATE, DELETE, COPY and DDL, or the "Success" marker
// of SET, BEGIN, COMMIT, CHECKPOINT, LOAD and the like; like DuckDB's own
// CLI, the shell does not print them (a CSV or JSON output stays one
// document).
func isRowCount(text string, res *engine.Result) bool {
	f := res.Rows.Schema().Fields()
	if len(f) == 1 && f[0].Name == "Success" && f[0].Type.ID() == arrow.BOOL && !strings.Contains(strings.ToUpper(text), "RETURNING") {
		if kw := engine.Keywords(text, 1); len(kw) > 0 {
			switch kw[0] {
			case "SET", "RESET", "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "CHECKPOINT", "FORCE",
				"LOAD", "INSTALL", "ATTACH", "DETACH", "USE", "VACUUM", "ANALYZE", "PREPARE", "DEALLOCATE",
				"CREATE", "DROP", "ALTER", "COMMENT", "EXPORT", "IMPORT":
				return true // the marker of a statement that returns nothing
			}
		}
	}
	if len(f) != 1 || f[0].Name != "Count" {
		return false
	}
	switch kw := engine.Keywords(text, 1); {
	case len(kw) == 0:
		return false
	case kw[0] == "INSERT" || kw[0] == "UPDATE" || kw[0] == "DELETE":
		return !strings.Contains(strings.ToUpper(text), "RETURNING")
	case kw[0] == "COPY" || kw[0] == "CREATE" || kw[0] == "DROP" || kw[0] == "ALTER":
		return true
	}
	return false
}

// printError prints err, with a caret under the column for errors that
// carry their input (filter errors).
func (sh *shell) printError(prefix string, err error) {
	if prefix == "" {
		prefix = "Error: "
	}
	fmt.Fprintf(sh.stderr, "%s%v\n", prefix, err)
	var ce interface{ CaretLines() string }
	if errors.As(err, &ce) {
		for _, l := range strings.Split(strings.TrimRight(ce.CaretLines(), "\n"), "\n") {
			fmt.Fprintf(sh.stderr, "  %s\n", l)
		}
	}
}

// rowLimit is the Options.MaxRows of the next result: .maxrows when set,
// else defaultMaxRows for a table the interactive shell prints at the
// terminal; scripts, pipes, files and other formats get every row.
func (sh *shell) rowLimit() int {
	switch {
	case sh.opts.Format != output.Table:
		return 0
	case sh.maxRowsSet:
		return sh.maxRows
	case sh.interactive && sh.out == sh.stdout && isTerminal(sh.stdout):
		return defaultMaxRows
	}
	return 0
}

// setOutput redirects results to path ("" = back to stdout).
func (sh *shell) setOutput(path string) error {
	if sh.outF != nil {
		err := sh.outF.Close()
		sh.outF = nil
		sh.route()
		if err != nil {
			return err
		}
	}
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf(".output: %w", err)
	}
	sh.outF = f
	sh.route()
	return nil
}

// setOnce sends the next result only to path (.once); the one before
// it, not yet used, is closed.
func (sh *shell) setOnce(path string) error {
	if err := sh.endOnce(); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf(".once: %w", err)
	}
	sh.onceF = f
	sh.route()
	return nil
}

// endOnce closes the .once file, if any; results go back to the .output
// file or stdout.
func (sh *shell) endOnce() error {
	if sh.onceF == nil {
		return nil
	}
	err := sh.onceF.Close()
	sh.onceF = nil
	sh.route()
	if err != nil {
		return fmt.Errorf(".once: %w", err)
	}
	return nil
}

// route points out at the .once file, else the .output file, else stdout.
func (sh *shell) route() {
	switch {
	case sh.onceF != nil:
		sh.out = sh.onceF
	case sh.outF != nil:
		sh.out = sh.outF
	default:
		sh.out = sh.stdout
	}
}

// open closes the database and opens path instead (.open), with apsql's
// statements registered on it. When path cannot be opened, the database
// in use stays open.
func (sh *shell) open(ctx context.Context, path string) error {
	old := sh.sess.DB
	if path != engine.Memory && old.Path != engine.Memory && sameFile(path, old.Path) {
		return nil // already open
	}
	db, err := engine.Open(ctx, path)
	if err != nil {
		return fmt.Errorf(".open: %w; %s is still open", err, old.Path)
	}
	if sh.cfg.memoryLimit != "" {
		if err := db.SetMemoryLimit(ctx, sh.cfg.memoryLimit); err != nil {
			db.Close()
			return fmt.Errorf(".open: --memory-limit: %w; %s is still open", err, old.Path)
		}
	}
	if err := sh.api.register(db); err != nil {
		db.Close()
		return fmt.Errorf(".open: %w; %s is still open", err, old.Path)
	}
	sh.sess.DB = db
	readOnlyNote(db, sh.stderr)
	if err := old.Close(); err != nil {
		return fmt.Errorf(".open: closing %s: %w (%s is open)", old.Path, err, path)
	}
	return nil
}

// sameFile reports whether a and b name the same file; a file that does
// not exist yet is the same as no other.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// newSession returns the session of the shell, the gallery or the MCP
// server over db: its lines for people write numbers with output.Human.
func newSession(db *engine.DB) *engine.Session {
	s := engine.NewSession(db)
	s.Render = output.Human
	return s
}
