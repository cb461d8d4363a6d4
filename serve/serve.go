// Package serve is apsql's local gallery: an HTTP server on 127.0.0.1 that
// shows what a SQL query or an Amazon filter selects as a thumbnail grid,
// with facets, a detail pane, and the shell's actions on a selection.
//
// Security, in short:
//   - it listens on 127.0.0.1 only, under a host name of its own, new on
//     every run (apsql-RANDOM.localhost: browsers resolve *.localhost to
//     the loopback address), and answers only requests whose Host is that
//     name, or 127.0.0.1 or localhost with the token in a header (no DNS
//     rebinding);
//   - every request carries the random token printed in the URL; the page
//     keeps it in an HttpOnly, SameSite=Strict cookie of that host name
//     alone, so it never reaches another server on 127.0.0.1 (cookies are
//     not scoped by port), and two galleries open at once each keep
//     their own; compared in constant time;
//   - every state-changing request is a POST with the session's CSRF token
//     in a header and, from a browser, this gallery's Origin; an action
//     runs only with the confirmation code of the EXPLAIN the page showed
//     for exactly that statement, and each code runs once;
//   - every answer carries the Content-Security-Policy;
//   - the grid's SQL runs in engine's Sandbox: one SELECT, in a read-only
//     transaction, as a subquery, on a database where DuckDB reads no
//     file, reaches no network and changes no setting; search() only
//     with AllowSearch;
//   - thumbnails are fetched by the server: no cookie, no URL of the
//     service ever reaches the browser.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

//go:embed static
var staticFS embed.FS

// Options configures a Server.
type Options struct {
	// Session runs the grid's queries and the actions; the server owns it
	// while it runs (the shell must not use it at the same time).
	Session *engine.Session
	// Client returns the API client (thumbnails; the actions have their
	// own through the session's registry).
	Client func(ctx context.Context) (*fetch.Client, error)
	// CacheDir holds the thumbnails; default $XDG_CACHE_HOME/apsql/thumbs.
	CacheDir string
	// DownloadDir is the default folder of DOWNLOAD (default "media", as
	// the statement's own default).
	DownloadDir string
	// AllowSearch lets the grid's queries call search(), which sends live
	// requests to the service (apsql serve --allow-search).
	AllowSearch bool
	// Logf logs one line per failed request; nil for none.
	Logf func(format string, args ...any)
}

// Server is the gallery. Create it with New; serve it with Serve or mount
// Handler in a test server.
type Server struct {
	opts     Options
	host     string // the gallery's own host name, apsql-RANDOM.localhost
	token    string
	csrf     string
	confirms *confirms
	db       *conn
	results  *results
	thumbs   *thumbs
	mux      *http.ServeMux
}

// Cookie names of the page's session.
const (
	tokenCookie = "apsql_token"
	tokenHeader = "X-Apsql-Token"
	csrfHeader  = "X-Csrf-Token"
)

// New returns a server over opts.Session with fresh random tokens.
func New(opts Options) (*Server, error) {
	if opts.Session == nil {
		return nil, errors.New("serve: no session")
	}
	if opts.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("serve: no cache folder for thumbnails (%v); set XDG_CACHE_HOME", err)
		}
		opts.CacheDir = filepath.Join(dir, "apsql", "thumbs")
	}
	if opts.DownloadDir == "" {
		opts.DownloadDir = "media"
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	// The grid runs the user's SQL: DuckDB may then read no file, reach
	// no network and change no setting (for the whole database: the
	// actions' statements do their I/O in Go).
	sb, err := opts.Session.DB.Sandbox(context.Background(), engine.SandboxOptions{AllowLive: opts.AllowSearch})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	s := &Server{opts: opts, host: "apsql-" + randomHex(8) + ".localhost", token: randomHex(16), csrf: randomHex(16), confirms: newConfirms()}
	s.db = newConn(opts.Session, sb)
	s.results = newResults(s.db)
	s.thumbs = newThumbs(opts.CacheDir, opts.Client)
	s.routes()
	return s, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return hex.EncodeToString(b)
}

// Token is the secret every request must carry.
func (s *Server) Token() string { return s.token }

// CSRF is the token every POST must carry in the X-Csrf-Token header.
func (s *Server) CSRF() string { return s.csrf }

// Handler is the server's HTTP handler, with the checks of every request.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.guard) }

// Close drops the server's temporary tables.
func (s *Server) Close() { s.results.invalidate() }

// Listen opens addr for the gallery; the host must be 127.0.0.1 (the page
// can act on the library: it is never offered to the network).
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("serve: address %q: %v (want 127.0.0.1:PORT)", addr, err)
	}
	if host != "127.0.0.1" {
		return nil, fmt.Errorf("serve: refusing to listen on %q: the gallery can act on your library, so it listens on 127.0.0.1 only", host)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve: %w (pick another --port)", err)
	}
	return ln, nil
}

// Host is the gallery's own host name (apsql-RANDOM.localhost), new on
// every run.
func (s *Server) Host() string { return s.host }

// URL is the address to open for ln: the gallery's host name, ln's port,
// and the token.
func (s *Server) URL(ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://" + net.JoinHostPort(s.host, port) + "/?t=" + s.token
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := hs.Shutdown(sctx)
		<-done
		s.Close()
		return err
	}
}

// csp is the Content-Security-Policy of every answer.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// How a request gave the token.
const (
	byURL = iota
	byHeader
	byCookie
)

// guard checks the Host, the token, and (for anything but GET and HEAD)
// the CSRF header and the Origin, then serves.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", csp)
	host := hostOnly(r.Host)
	named := host == s.host
	if !named && host != "127.0.0.1" && host != "localhost" {
		http.Error(w, "apsql serve answers only at the address it printed", http.StatusMisdirectedRequest)
		return
	}
	given, how := r.URL.Query().Get("t"), byURL
	if given == "" {
		given, how = r.Header.Get(tokenHeader), byHeader
	}
	if given == "" {
		if c, err := r.Cookie(tokenCookie); err == nil {
			given, how = c.Value, byCookie
		}
	}
	if subtle.ConstantTimeCompare([]byte(given), []byte(s.token)) != 1 {
		http.Error(w, "forbidden: open the URL that apsql serve printed (it carries the access token)", http.StatusForbidden)
		return
	}
	if !named && how != byHeader {
		// A browser at 127.0.0.1 would keep the cookie for every server
		// on that address: it goes to the gallery's own name instead.
		if how == byURL && r.Method == http.MethodGet && r.URL.Path == "/" {
			_, port, _ := net.SplitHostPort(r.Host)
			http.Redirect(w, r, "http://"+net.JoinHostPort(s.host, port)+"/?t="+s.token, http.StatusSeeOther)
			return
		}
		http.Error(w, "forbidden: open the URL that apsql serve printed (http://"+s.host+":PORT/), or send the token in the "+tokenHeader+" header", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(s.csrf)) != 1 {
			http.Error(w, "forbidden: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
			return
		}
		// A browser sends the Origin of every POST: it must be this
		// gallery's page. A client that sends the token in the header
		// and no Origin is not a browser's page.
		origin := r.Header.Get("Origin")
		if (origin != "" || how != byHeader) && origin != "http://"+r.Host {
			http.Error(w, fmt.Sprintf("forbidden: a request from another page (Origin %q)", origin), http.StatusForbidden)
			return
		}
	}
	if how == byURL && r.Method == http.MethodGet && r.URL.Path == "/" {
		// The token moves into a cookie and out of the address bar. The
		// cookie has no Domain: it belongs to this gallery's host name.
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	s.mux.HandleFunc("GET /static/{name}", func(w http.ResponseWriter, r *http.Request) {
		// The page's template is served by handleIndex only.
		if r.PathValue("name") == "index.html" {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
	s.mux.HandleFunc("GET /{$}", s.handleIndex)
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		icon, _ := staticFS.ReadFile("static/favicon.svg")
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "private, max-age=86400")
		w.Write(icon)
	})
	s.mux.HandleFunc("GET /api/grid", s.handleGrid)
	s.mux.HandleFunc("GET /api/facets", s.handleFacets)
	s.mux.HandleFunc("GET /api/node/{id}", s.handleNode)
	s.mux.HandleFunc("GET /thumb/{id}", s.handleThumb)
	s.mux.HandleFunc("POST /api/explain", s.handleExplain)
	s.mux.HandleFunc("POST /api/run", s.handleRun)
}

func (s *Server) handleIndex(w http.ResponseWriter, _ *http.Request) {
	page, err := staticFS.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// The CSRF token reaches only a page that passed the token check;
	// another origin cannot read it.
	page = []byte(strings.ReplaceAll(string(page), "{{CSRF}}", s.csrf))
	page = []byte(strings.ReplaceAll(string(page), "{{DOWNLOAD_DIR}}", htmlAttr(s.opts.DownloadDir)))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.Write(page)
}

func htmlAttr(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")
	return r.Replace(s)
}

// apiError is an error for the page: status and a message that names the
// problem and the fix.
type apiError struct {
	status int
	msg    string
	caret  string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.opts.Logf("serve: write response: %v", err)
	}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	body := map[string]string{"error": err.Error()}
	var ae *apiError
	var ce interface{ CaretLines() string }
	switch {
	case errors.As(err, &ae):
		status = ae.status
		if ae.caret != "" {
			body["caret"] = ae.caret
		}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the page went on to another request
	case errors.As(err, &ce):
		status = http.StatusBadRequest
		body["caret"] = ce.CaretLines()
	}
	if status >= 500 {
		s.opts.Logf("serve: %s %s: %v", r.Method, r.URL.Path, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// confirmTTL bounds how long an EXPLAIN's confirmation code stays valid;
// maxConfirms bounds the codes kept (the oldest go first).
const (
	confirmTTL  = 30 * time.Minute
	maxConfirms = 64
)

// confirms are the confirmation codes of the EXPLAINs shown: a random
// code per EXPLAIN, for exactly its statement, good for one run.
type confirms struct {
	mu    sync.Mutex
	codes map[string]confirm
}

type confirm struct {
	stmt string
	at   time.Time
}

func newConfirms() *confirms { return &confirms{codes: map[string]confirm{}} }

// issue returns a new code for stmt.
func (c *confirms) issue(stmt string) string {
	code := randomHex(16)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k, v := range c.codes {
		if now.Sub(v.at) > confirmTTL {
			delete(c.codes, k)
		}
	}
	for len(c.codes) >= maxConfirms {
		oldest := ""
		for k, v := range c.codes {
			if oldest == "" || v.at.Before(c.codes[oldest].at) {
				oldest = k
			}
		}
		delete(c.codes, oldest)
	}
	c.codes[code] = confirm{stmt: stmt, at: now}
	return code
}

// take uses up code: it reports whether code was issued for stmt, not
// used yet and not expired. A code is gone after one take, whatever the
// answer: a replayed run is refused.
func (c *confirms) take(code, stmt string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.codes[code]
	delete(c.codes, code)
	return ok && subtle.ConstantTimeCompare([]byte(v.stmt), []byte(stmt)) == 1 && time.Since(v.at) <= confirmTTL
}
