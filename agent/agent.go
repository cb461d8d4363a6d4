// Package agent serves the library to AI agents over the Model Context
// Protocol (apsql mcp), with github.com/modelcontextprotocol/go-sdk.
//
// Tools: query (read-only SQL in engine's Sandbox, as the gallery's box),
// find (Amazon's filter language), schema, explain (an action statement's
// plan and a single-use confirmation code), run (exactly the explained
// plan, with its code), sync (SYNC or SYNC NEW with progress
// notifications), thumbnail (through the gallery's cache) and usage.
// Resources: the schema and a short guide. Prompts: cleaning up
// duplicates, and what uses the storage.
//
// Safety, in short:
//   - queries run in the sandbox: one SELECT, read-only transaction, no
//     file, network, extension or setting (the database is locked down);
//   - an action runs only through explain then run: run wants the code
//     explain gave for exactly that statement, uses the code up whatever
//     happens, and refuses when the mirror changed since the EXPLAIN or
//     when the statement's plan (its rows: ids, names, what would be
//     sent) is no longer the one explained;
//   - no output carries a cookie value or a signed content URL (scrub).
package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/serve"
)

// Options configures a Server.
type Options struct {
	// Session runs the queries and statements; the server owns it while
	// it serves.
	Session *engine.Session
	// Client returns the API client (thumbnails, usage; the statements
	// have their own through the session's registry).
	Client func(ctx context.Context) (*fetch.Client, error)
	// CacheDir holds the thumbnails; "" for the gallery's.
	CacheDir string
	// Secrets returns the strings no output may carry (the cookie
	// values); nil for none.
	Secrets func() []string
	// Init, when set, runs once before the first tool call, holding the
	// database (the demo's first SYNC), so that initialize is answered
	// at once.
	Init func(ctx context.Context, s *engine.Session) error
	// Version is the server's version in initialize.
	Version string
	// Logf logs a line about the server itself; nil for none.
	Logf func(format string, args ...any)
}

// Server is the MCP server over one session.
type Server struct {
	opts   Options
	mcp    *mcp.Server
	sb     *engine.Sandbox
	sem    chan struct{}
	thumbs *serve.Thumbs
	codes  *codes

	ready   chan struct{}
	initErr error
}

// ErrNotReady is the cause of a tool call while Init failed.
var ErrNotReady = errors.New("the library is not ready")

// New returns the server over opts.Session: it locks the database down
// (engine.DB.Lockdown) and registers the tools, resources and prompts.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Session == nil {
		return nil, errors.New("agent: no session")
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Version == "" {
		opts.Version = "(devel)"
	}
	sb, err := opts.Session.DB.Sandbox(ctx, engine.SandboxOptions{})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	th, err := serve.NewThumbs(opts.CacheDir, opts.Client)
	if err != nil {
		return nil, fmt.Errorf("agent: no cache folder for thumbnails (%v); set XDG_CACHE_HOME", err)
	}
	s := &Server{opts: opts, sb: sb, sem: make(chan struct{}, 1), thumbs: th, codes: newCodes(), ready: make(chan struct{})}
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: "apsql", Title: "apsql: your Amazon Photos library", Version: opts.Version},
		&mcp.ServerOptions{Instructions: instructions})
	s.addTools()
	s.addResources()
	s.addPrompts()
	if opts.Init == nil {
		close(s.ready)
	} else {
		go func() {
			defer close(s.ready)
			s.sem <- struct{}{}
			defer func() { <-s.sem }()
			if err := opts.Init(ctx, opts.Session); err != nil {
				s.initErr = fmt.Errorf("%w: %v", ErrNotReady, err)
				if ctx.Err() == nil {
					opts.Logf("apsql mcp: %v", s.initErr)
				}
			}
		}()
	}
	return s, nil
}

// MCP is the SDK's server (to connect a transport to it).
func (s *Server) MCP() *mcp.Server { return s.mcp }

// Close waits for Init (cancel its context first to cut it short) and
// releases the sandbox.
func (s *Server) Close() error {
	<-s.ready
	return s.sb.Close()
}

// HTTPHandler is the streamable HTTP transport behind a bearer token:
// every request must carry "Authorization: Bearer TOKEN". The SDK refuses
// a Host that is not the loopback's (DNS rebinding) and cross-origin
// browser requests.
func (s *Server) HTTPHandler(token string) http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.mcp }, nil)
	return bearer(token, http.NewCrossOriginProtection().Handler(h))
}

// with runs fn while holding the database (one statement at a time), once
// Init is done; waiting honours ctx.
func (s *Server) with(ctx context.Context, fn func(sess *engine.Session) error) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.initErr != nil {
		return s.initErr
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()
	return fn(s.opts.Session)
}

// instructions is the server's word to the agent at initialize.
const instructions = `apsql mirrors an Amazon Photos library into a local DuckDB database: questions are answered from the mirror in milliseconds, without calls to Amazon.
- Read: query (read-only SQL), find (Amazon's filter language), schema (tables and columns). Read the apsql://guide resource first.
- Change the library: explain an action statement (TRASH, RESTORE, ALBUM 'x' ADD, DOWNLOAD, ...), show its plan to the user, then run it with the code explain returned. Nothing changes without that code.
- sync refreshes the mirror from Amazon (sync with new=true for only what is new); usage reads the storage quota; thumbnail shows a photo.`

// oneLine joins the lines of s (for messages that quote a statement).
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
