// Package serve is apsql's local gallery: an HTTP server on 127.0.0.1 that
// shows what a SQL query or an Amazon filter selects as a thumbnail grid,
// with facets, a detail pane, and the shell's actions on a selection.
//
// Security, in short:
//   - it listens on 127.0.0.1 only, and answers only requests whose Host is
//     127.0.0.1 or localhost (no DNS rebinding);
//   - every request carries the random token printed in the URL (the page
//     keeps it in an HttpOnly, SameSite=Strict cookie), compared in
//     constant time;
//   - every state-changing request is a POST with the session's CSRF token
//     in a header, and an action runs only with the confirmation code of
//     the EXPLAIN the page showed for exactly that statement;
//   - the grid's SQL runs in engine's Sandbox: one SELECT, in a read-only
//     transaction, as a subquery, on a database where DuckDB reads no
//     file, reaches no network and changes no setting; search() only
//     with AllowSearch;
//   - thumbnails are fetched by the server: no cookie, no URL of the
//     service ever reaches the browser.
package serve

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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
	opts    Options
	token   string
	csrf    string
	confirm []byte // key of the confirmation codes
	db      *conn
	results *results
	thumbs  *thumbs
	mux     *http.ServeMux
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
	s := &Server{opts: opts, token: randomHex(16), csrf: randomHex(16), confirm: []byte(randomHex(32))}
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

// URL is the address to open for ln: it carries the token.
func (s *Server) URL(ln net.Listener) string {
	return "http://" + ln.Addr().String() + "/?t=" + s.token
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

// guard checks the Host, the token and (for anything but GET and HEAD) the
// CSRF header, then serves.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if host := hostOnly(r.Host); host != "127.0.0.1" && host != "localhost" {
		http.Error(w, "apsql serve answers only at 127.0.0.1", http.StatusMisdirectedRequest)
		return
	}
	given := r.URL.Query().Get("t")
	fromURL := given != ""
	if !fromURL {
		given = r.Header.Get(tokenHeader)
	}
	if given == "" {
		if c, err := r.Cookie(tokenCookie); err == nil {
			given = c.Value
		}
	}
	if subtle.ConstantTimeCompare([]byte(given), []byte(s.token)) != 1 {
		http.Error(w, "forbidden: open the URL that apsql serve printed (it carries the access token)", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(s.csrf)) != 1 {
			http.Error(w, "forbidden: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
			return
		}
	}
	if fromURL && r.Method == http.MethodGet && r.URL.Path == "/" {
		// The token moves into a cookie and out of the address bar.
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
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.handleIndex)
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
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
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

// confirmCode is the code that lets the page run stmt: the page gets it
// with the statement's EXPLAIN, so an action runs only after its EXPLAIN
// was shown.
func (s *Server) confirmCode(stmt string) string {
	m := hmac.New(sha256.New, s.confirm)
	m.Write([]byte(stmt))
	return hex.EncodeToString(m.Sum(nil))
}
