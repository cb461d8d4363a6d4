package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/apsql/apsql/agent"
	"github.com/apsql/apsql/engine"
)

// mcpFlags are mcp's own flags.
type mcpFlags struct {
	http string // --http 127.0.0.1:PORT: streamable HTTP instead of stdio
	help bool
}

// mcpUsage is `apsql mcp --help`.
const mcpUsage = `apsql mcp — the library for AI agents, over the Model Context Protocol

Usage:
  apsql mcp [DBFILE]                         MCP over stdin/stdout (what MCP clients start)
  apsql --demo mcp                           the built-in emulated library, mirrored first
  apsql mcp [DBFILE] --http 127.0.0.1:PORT   streamable HTTP at /mcp, behind a bearer token

Tools: query (read-only SQL), find (Amazon filter), schema, explain (an
action's plan and a single-use code), run (the explained plan, with its
code), sync, thumbnail, usage. Resources apsql://schema and apsql://guide.

Claude Code:     claude mcp add apsql -- apsql mcp ~/ap.duckdb
Claude Desktop:  "mcpServers": {"apsql": {"command": "apsql", "args": ["mcp", "/home/me/ap.duckdb"]}}

Flags:
  --http ADDR    serve streamable HTTP on ADDR (127.0.0.1 only) instead of
                 stdio; the token is printed on stderr
  -h, --help     this help

The shell's --db, --demo, --cookies, --tld, --endpoint, --concurrency,
--cache, --memory-limit and -v apply too (apsql --help).
`

// mcpArgs finds the mcp subcommand among args and takes out its own
// flags; rest is for the shell's flag parser.
func mcpArgs(args []string) (rest []string, mf mcpFlags, found bool, err error) {
	at := subcommandAt(args, "mcp")
	if at < 0 {
		return args, mf, false, nil
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
			mf.help = true
		case "http":
			if !hasVal {
				if i+1 >= len(args) {
					return nil, mf, true, usageError{"--http wants an address, e.g. --http 127.0.0.1:8765"}
				}
				i++
				val = args[i]
			}
			mf.http = val
		default:
			rest = append(rest, a)
		}
	}
	return rest, mf, true, nil
}

// runMCP is `apsql mcp`: the MCP server over the database (or the demo
// library), on stdio or streamable HTTP, until the client leaves or an
// interrupt.
func runMCP(ctx context.Context, args []string, mf mcpFlags, stdout, stderr io.Writer) int {
	if mf.help {
		fmt.Fprint(stdout, mcpUsage)
		return exitOK
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, errHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "apsql: %v\n", err)
		fmt.Fprintln(stderr, "Try: apsql mcp --help")
		return exitUsage
	}
	if len(cfg.commands) > 0 || cfg.file != "" {
		fmt.Fprintln(stderr, "apsql: mcp runs no statements: leave out -c and -f (run them before, on the same database file)")
		return exitUsage
	}
	var ln net.Listener
	if mf.http != "" {
		if ln, err = listenLoopback(mf.http); err != nil {
			fmt.Fprintf(stderr, "apsql: %v\n", err)
			return exitUsage
		}
		defer ln.Close()
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
	readOnlyNote(db, stderr)
	if cfg.memoryLimit != "" {
		if err := db.SetMemoryLimit(ctx, cfg.memoryLimit); err != nil {
			fmt.Fprintf(stderr, "apsql: --memory-limit: %v\n", err)
			return exitUsage
		}
	}
	// stdout is the protocol's: nothing else may be written there.
	sh := &shell{cfg: cfg, sess: newSession(db), stdout: io.Discard, stderr: stderr, out: io.Discard, dots: newDotTable()}
	defer sh.close()
	if cfg.verbose {
		sh.sess.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "apsql: "+format+"\n", args...) }
	}
	// The demo library is made and mirrored while the client
	// initializes (Init below): initialize is answered at once.
	demo := cfg.demo
	cfg.demo = 0
	if err := setupFeatures(ctx, sh); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailed
	}
	opts := agent.Options{
		Session: sh.sess,
		Client:  sh.api.get,
		Secrets: sh.api.secrets,
		Version: version(),
		Logf:    func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) },
	}
	if demo > 0 {
		if cfg.endpoint != "" || cfg.cookies != "" {
			fmt.Fprintln(stderr, "Error: --demo runs its own emulated service: leave out --endpoint and --cookies")
			return exitUsage
		}
		// Tools wait for it.
		opts.Init = func(ctx context.Context, s *engine.Session) error {
			cfg.demo = demo
			if err := startDemo(sh, sh.api); err != nil {
				return err
			}
			_, err := s.Run(ctx, "SYNC")
			return err
		}
	} else {
		var n int64
		if err := db.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&n); err == nil && n == 0 {
			fmt.Fprintf(stderr, "apsql: %s mirrors nothing yet: the sync tool fills it (or apsql %s -c SYNC first)\n", db.Path, db.Path)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	srv, err := agent.New(sctx, opts)
	if err != nil {
		cancel()
		fmt.Fprintf(stderr, "apsql: %v\n", err)
		return exitFailed
	}
	defer func() {
		cancel() // the demo's mirroring, if the client left before it ended
		srv.Close()
	}()
	if ln == nil {
		if err := srv.RunStdio(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "apsql: mcp: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	token := randomToken()
	url := "http://" + ln.Addr().String() + "/mcp"
	fmt.Fprintf(stderr, "apsql mcp: %s\nAuthorization: Bearer %s\n", url, token)
	fmt.Fprintf(stderr, "Claude Code: claude mcp add --transport http apsql %s --header \"Authorization: Bearer %s\"\nCtrl-C stops it.\n", url, token)
	mux := http.NewServeMux()
	mux.Handle("/mcp", srv.HTTPHandler(token))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "apsql: mcp: %v\n", err)
		return exitFailed
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		<-done
		return exitOK
	}
}

// listenLoopback opens addr, whose host must be 127.0.0.1 (the server
// can act on the library: it is never offered to the network).
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--http %q: %v (want 127.0.0.1:PORT)", addr, err)
	}
	if host != "127.0.0.1" {
		return nil, fmt.Errorf("--http %q: refusing to listen on %q: the server can act on your library, so it listens on 127.0.0.1 only", addr, host)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http: %w (pick another port)", err)
	}
	return ln, nil
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// secrets are the cookie values, which no output may carry.
func (a *apiClient) secrets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, n := range a.cookies.Names() {
		out = append(out, a.cookies.Value(n))
	}
	return out
}
