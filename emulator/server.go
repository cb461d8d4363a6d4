package emulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. The zero value is a valid 10,000-node library.
type Options struct {
	// Nodes is the number of photos and videos (default 10000; negative:
	// none). A few PDFs (Nodes/5000+2, at most 200) come on top.
	Nodes int
	// Seed makes the library, the cookies and the fault sequence reproducible.
	Seed int64

	// Faults (see SetFaults). RateLimit is in requests per second, 0 = none.
	Latency                        time.Duration
	FailRate, ResetRate, RateLimit float64

	// Region picks the cookie names issued: "main" (default, amazon.com)
	// or a country code such as "uk", "ca", "jp" (ubid-acb<cc>, at-acb<cc>).
	Region string
	// State serves GET /_emulator/state and the other /_emulator hooks.
	State bool
	// Now is "today" for the synthetic dates (default: today, 00:00 UTC,
	// so a seed gives the same library all day).
	Now time.Time

	// NextToken answers "nextToken" on /nodes, /nodes/{id}/children and
	// /trash while items remain, and continues a listing at startToken past
	// the 9999 offset cap. API.md §7 #1 leaves it open whether the service
	// still does, so it is off by default and clients must page by offset.
	NextToken bool
	// TokenTTL is how long after a listing's first page its tokens are
	// accepted; later ones get 400 "Next token is expired" (default 10
	// minutes, API.md §1.5).
	TokenTTL time.Duration

	// UploadNotRegistered answers POST /cdproxy/nodes with 403 {"message":
	// "Not Registered"}, as SYNC saw for some accounts (API.md §1.4 C1,
	// §7 #2); /v2/upload still works.
	UploadNotRegistered bool
	// UploadDedup makes POST /cdproxy/nodes of bytes that an AVAILABLE file
	// already holds answer 201 with that file's node and store nothing:
	// "re-uploading the same bytes is silently deduplicated" (SYNC, API.md
	// §1.4 C1; the exact answer is inferred). A name taken in the folder is
	// still 409.
	UploadDedup bool

	// NoFamily makes an account without an Amazon Household family: no
	// familyId anywhere, and POST /familyArchive/ refuses (vault.go).
	NoFamily bool
	// RootWithoutFamily leaves familyId off the root folder while the
	// account has a family (the vault works with its id): the case where a
	// client must be given the id (issue 16 item 7).
	RootWithoutFamily bool

	// TrashMissing404 answers a PATCH /trash whose batch holds ids the
	// service does not have (unknown or purged) with 404 for the whole
	// request, changing nothing, and names those ids (see
	// writeNodesNotFound): the answer issue 11 met. By default such an id
	// is 404 in the answer's errorMap and the rest is applied, as POST
	// /bulk/nodes/purge answers (API.md §1.3 #25; #22 is silent).
	TrashMissing404 bool

	// PurgeAny makes POST /bulk/nodes/purge delete a node that is not in
	// the trash too (an AVAILABLE node and, for a folder, its subtree)
	// instead of refusing it with 409: API.md §1.3 #25 does not say the
	// service checks, so a client must not rely on it (issue 16 item 1).
	PurgeAny bool
}

// Server is an emulated Amazon Photos service. Its methods are safe for
// concurrent use.
type Server struct {
	opts   Options
	lib    *library
	tpl    *templates
	cache  queryCache
	faults *faults
	// hostile: hangs, front-end pages, answer shapes (hostile.go)
	hostile hostile
	stats   *stats
	mux     *http.ServeMux
	thumbs  thumbCache

	cookieNames [3]string // session-id, ubid-*, at-*
	cookieVals  [3]string
	expired     atomic.Bool
	secret      [16]byte
	logref      atomic.Uint64
	// tokensBefore (Unix ms): tokens of listings started before it are
	// expired (ExpireTokens).
	tokensBefore atomic.Int64

	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	url  string
	done chan struct{}
}

var regionRE = regexp.MustCompile(`^(main|[a-z]{2})$`)

// New builds the synthetic library (about a second per million nodes on two
// cores). The server does not listen until Start.
func New(opts Options) (*Server, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 10000
	}
	opts.Nodes = max(opts.Nodes, 0)
	if opts.Region == "" {
		opts.Region = "main"
	}
	opts.Region = strings.ToLower(opts.Region)
	if !regionRE.MatchString(opts.Region) {
		return nil, fmt.Errorf("emulator: region %q: want \"main\" or a two-letter country code such as \"uk\"", opts.Region)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now().UTC().Truncate(24 * time.Hour)
	}
	if err := checkFaults(opts.FailRate, opts.ResetRate, opts.RateLimit); err != nil {
		return nil, err
	}
	if err := checkTokenTTL(opts.TokenTTL); err != nil {
		return nil, err
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = defaultTokenTTL
	}
	tpl, err := sharedTemplates()
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	lib, err := buildLibrary(opts, tpl)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	lib.clusters = newClusters(opts.Seed)
	for _, c := range lib.clusters {
		lib.clusterIDs = append(lib.clusterIDs, c.id)
	}
	if !opts.NoFamily {
		lib.family = familyID(opts.Seed)
	}
	lib.rootNoFamily = opts.RootWithoutFamily
	s := &Server{
		opts:   opts,
		lib:    lib,
		tpl:    tpl,
		faults: newFaults(opts.Seed),
		stats:  newStats(),
	}
	s.faults.set(opts.Latency, opts.FailRate, opts.ResetRate, opts.RateLimit)
	s.issueCookies()
	s.routes()
	return s, nil
}

// issueCookies derives the accepted cookies from the seed, in the formats a
// browser shows (session-id 123-1234567-1234567, at-* "Atza|...").
func (s *Server) issueCookies() {
	r := rand.New(rand.NewPCG(uint64(s.opts.Seed), 1<<58))
	suffix := "main"
	if s.opts.Region != "main" {
		suffix = "acb" + s.opts.Region
	}
	num := func() string {
		return fmt.Sprintf("%03d-%07d-%07d", r.IntN(1000), r.IntN(10_000_000), r.IntN(10_000_000))
	}
	var tok [48]byte
	putRand(r, tok[:])
	s.cookieNames = [3]string{"session-id", "ubid-" + suffix, "at-" + suffix}
	s.cookieVals = [3]string{num(), num(), "Atza|" + hex.EncodeToString(tok[:])}
	putRand(r, s.secret[:])
	s.lib.secret = s.secret
}

// Cookies returns the cookies this server accepts: session-id, ubid-<r>, at-<r>.
func (s *Server) Cookies() map[string]string {
	m := make(map[string]string, 3)
	for k, name := range s.cookieNames {
		m[name] = s.cookieVals[k]
	}
	return m
}

// WriteCookiesFile writes Cookies as a JSON object (SPEC §1 format 1),
// readable only by the owner.
func (s *Server) WriteCookiesFile(path string) error {
	b, err := json.MarshalIndent(s.Cookies(), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("emulator: write cookies: %w", err)
	}
	return os.Chmod(path, 0o600) // WriteFile keeps the mode of an existing file
}

// ExpireCookies makes every later authenticated request fail with 401, as
// when a browser session ends. RenewCookies undoes it.
func (s *Server) ExpireCookies() { s.expired.Store(true) }

// RenewCookies accepts Cookies again after ExpireCookies.
func (s *Server) RenewCookies() { s.expired.Store(false) }

// SetFaults changes fault injection at run time: latency added to every
// service request, the fraction answered 500 "Internal failure" or 503,
// the fraction whose connection is cut mid-body, and a rate limit in
// requests per second (0: none) beyond which requests get 429 "Rate
// exceeded" with Retry-After: 1. Invalid rates are clamped to [0, 1].
func (s *Server) SetFaults(latency time.Duration, failRate, resetRate, rateLimit float64) {
	s.faults.set(latency, clamp01(failRate), clamp01(resetRate), max(rateLimit, 0))
}

func clamp01(f float64) float64 { return min(max(f, 0), 1) }

func checkFaults(fail, reset, rate float64) error {
	switch {
	case fail < 0 || fail > 1:
		return fmt.Errorf("emulator: fail rate %v: want a fraction between 0 and 1", fail)
	case reset < 0 || reset > 1:
		return fmt.Errorf("emulator: reset rate %v: want a fraction between 0 and 1", reset)
	case rate < 0:
		return fmt.Errorf("emulator: rate limit %v: want requests per second, 0 for none", rate)
	}
	return nil
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves in the background.
// It returns the base URL, e.g. "http://127.0.0.1:41234".
func (s *Server) Start(addr string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return "", errors.New("emulator: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("emulator: listen: %w", err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s.url, nil
}

// URL returns the base URL, "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops the server and closes every connection. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	s.hostile.close()
	err := srv.Close()
	<-done
	return err
}

// Shutdown stops accepting requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// OwnerID returns the customer id in every node's ownerId.
func (s *Server) OwnerID() string { return s.lib.owner }

// newLogref returns a uuid-shaped request reference for error bodies.
func (s *Server) newLogref() string {
	n := s.logref.Add(1)
	h := sha256.Sum256(binary.BigEndian.AppendUint64(s.secret[:], n))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// templinkToken is the credential in a content URL: the node id and a MAC
// of it under the server's secret, so that no cookie is needed to fetch it
// (API.md §1.4 C7: "the token is the credential").
func (l *library) templinkToken(id string) string {
	h := sha256.Sum256(append(l.secret[:], id...))
	return id + "~" + hex.EncodeToString(h[:10])
}

// templinkID checks a token and returns the node id in it.
func (l *library) templinkID(token string) (string, bool) {
	id, _, ok := strings.Cut(token, "~")
	return id, ok && l.templinkToken(id) == token
}

// area is the part of the service a route belongs to; it decides the 401
// body and whether faults apply.
type area uint8

const (
	areaMeta    area = iota // /drive/v1
	areaContent             // /cdproxy and /v2/upload (the content host)
	areaThumb               // /v1/thumbnail
	areaOpen                // no auth: templinks (faults apply)
	areaAdmin               // /_emulator: no auth, no faults
)

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	add := func(pattern string, a area, h http.HandlerFunc) {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, pattern, a, h) })
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		s.writeError(rec, http.StatusNotFound, "Resource not found: "+r.Method+" "+r.URL.Path)
		s.stats.record("unmatched", rec.status)
	})
	const v1 = "/drive/v1"
	add("GET "+v1+"/search", areaMeta, s.handleSearch)
	add("GET "+v1+"/search/aggregation", areaMeta, s.handleAggregation)
	add("GET "+v1+"/account/usage", areaMeta, s.handleUsage)
	add("GET "+v1+"/account/info", areaMeta, s.handleInfo)
	add("GET "+v1+"/account/quota", areaMeta, s.handleQuota)
	add("GET "+v1+"/account/endpoint", areaMeta, s.handleEndpoint)
	add("GET "+v1+"/nodes", areaMeta, s.handleNodes)
	add("POST "+v1+"/nodes", areaMeta, s.handleCreate)
	add("GET "+v1+"/nodes/{id}", areaMeta, s.handleNode)
	add("PATCH "+v1+"/nodes/{id}", areaMeta, s.handlePatch)
	// The web API cannot delete a node outright: trash, then purge
	// (API.md §1.3 #26, §1.6).
	add("DELETE "+v1+"/nodes/{id}", areaMeta, func(w http.ResponseWriter, _ *http.Request) {
		s.writeError(w, http.StatusForbidden, "Insufficient permissions granted for operation: purgeNode")
	})
	add("GET "+v1+"/nodes/{id}/children", areaMeta, s.handleChildren)
	add("PATCH "+v1+"/nodes/{id}/children", areaMeta, s.handleAlbumChildren)
	add("POST "+v1+"/nodes/{id}/children", areaMeta, s.handleMove)
	add("PUT "+v1+"/nodes/{id}/children/{child}", areaMeta, s.handleAlbumLink)
	add("DELETE "+v1+"/nodes/{id}/children/{child}", areaMeta, s.handleAlbumLink)
	add("GET "+v1+"/nodes/{id}/contentRedirection", areaMeta, s.handleRedirect)
	add("GET "+v1+"/trash", areaMeta, s.handleTrashList)
	add("PATCH "+v1+"/trash", areaMeta, s.handleTrash)
	add("POST "+v1+"/bulk/nodes/purge", areaMeta, s.handlePurge)
	add("PUT "+v1+"/cluster/name", areaMeta, s.handleClusterName)
	add("POST "+v1+"/cluster", areaMeta, s.handleClusterMerge)
	add("PUT "+v1+"/cluster/hero/{id}", areaMeta, s.handleClusterHero)
	add("POST "+v1+"/familyArchive/{$}", areaMeta, s.handleFamilyArchive)
	add("PUT "+v1+"/trash/{id}", areaMeta, s.handleTrashOne)
	add("POST "+v1+"/trash/{id}/restore", areaMeta, s.handleTrashOne)
	add("POST /cdproxy/nodes", areaContent, s.handleUpload)
	add("POST /v2/upload", areaContent, s.handleUploadV2)
	add("GET /cdproxy/nodes/{id}/content", areaContent, s.handleContent)
	add("PUT /cdproxy/nodes/{id}/content", areaContent, s.handleReplaceContent) // replace.go
	add("GET /cdproxy/templink/{token}", areaOpen, s.handleTemplink)
	add("GET /v1/thumbnail/{id}", areaThumb, s.handleThumbnail)
	if s.opts.State {
		add("GET /_emulator/state", areaAdmin, s.handleState)
		add("POST /_emulator/expire-cookies", areaAdmin, func(w http.ResponseWriter, _ *http.Request) {
			s.ExpireCookies()
			w.WriteHeader(http.StatusNoContent)
		})
		add("POST /_emulator/renew-cookies", areaAdmin, func(w http.ResponseWriter, _ *http.Request) {
			s.RenewCookies()
			w.WriteHeader(http.StatusNoContent)
		})
		add("POST /_emulator/faults", areaAdmin, s.handleSetFaults)
	}
}

// ServeHTTP serves one request (Server is an http.Handler, so it can also
// be mounted in an httptest.Server).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// heldBodyMax is the largest request body read before a latency fault
// holds the request (larger ones, uploads, are held unread).
const heldBodyMax = 1 << 20

// serve wraps an endpoint handler with fault injection, auth and statistics.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, pattern string, a area, h http.HandlerFunc) {
	rec := &recorder{ResponseWriter: w}
	recorded := false
	record := func() {
		if !recorded {
			recorded = true
			s.stats.record(pattern, rec.status)
		}
	}
	// Counted when the status is written, before the body: a client can
	// read a whole answer (and a test read the stats) before this
	// goroutine returns from the handler.
	rec.onStatus = record
	defer record()
	var d decision
	if a != areaAdmin && s.serveHostile(rec, r, pattern, h) {
		return
	}
	if a != areaAdmin {
		d = s.faults.decide(time.Now())
		if d.latency > 0 {
			// net/http sees a client hang up only once the request body
			// has been read to its end: read a small one first, or a
			// held PATCH outlives its client (and Close waits for it).
			if r.Body != nil && r.Body != http.NoBody && r.ContentLength >= 0 && r.ContentLength <= heldBodyMax {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					rec.status = 499
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			t := time.NewTimer(d.latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				rec.status = 499 // client went away; nothing is written
				return
			}
		}
		switch {
		case d.throttle:
			s.stats.fault(&s.stats.throttled)
			rec.Header().Set("Retry-After", fmt.Sprint(d.retryAfter))
			s.writeError(rec, http.StatusTooManyRequests, "Rate exceeded")
			return
		case d.fail == http.StatusInternalServerError:
			s.stats.fault(&s.stats.failed)
			s.writeError(rec, http.StatusInternalServerError, "Internal failure")
			return
		case d.fail == http.StatusServiceUnavailable:
			s.stats.fault(&s.stats.failed)
			s.writeError(rec, http.StatusServiceUnavailable, "Service Unavailable")
			return
		}
	}
	if a <= areaThumb && !s.authorized(r) {
		s.stats.fault(&s.stats.unauthorized)
		s.writeUnauthorized(rec, a)
		return
	}
	if d.reset {
		s.stats.fault(&s.stats.resets)
		s.serveThenReset(rec, r, h, record)
		return
	}
	h(rec, r)
}

// authorized checks the cookies and the x-amzn-sessionid header.
func (s *Server) authorized(r *http.Request) bool {
	if s.expired.Load() {
		return false
	}
	for k, name := range s.cookieNames {
		c, err := r.Cookie(name)
		if err != nil || c.Value != s.cookieVals[k] {
			return false
		}
	}
	if h := r.Header.Get("x-amzn-sessionid"); h != "" && h != s.cookieVals[0] {
		return false
	}
	return true
}

// writeUnauthorized answers 401 in the body shape observed for each host
// (API.md §1.6, §8.1).
func (s *Server) writeUnauthorized(w http.ResponseWriter, a area) {
	const msg = "No Auth Method Provided"
	switch a {
	case areaContent:
		s.writeLogref(w, http.StatusUnauthorized, msg, "", "")
	case areaThumb:
		writeJSON(w, http.StatusUnauthorized, []byte(`{"Message":"`+msg+`"}`))
	default:
		s.writeError(w, http.StatusUnauthorized, msg)
	}
}

// writeJSON writes a complete JSON response.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that hung up is not our error
}

// writeError writes {"message": msg}.
func (s *Server) writeError(w http.ResponseWriter, status int, msg string) {
	b := append([]byte(`{"message":`), appendString(nil, msg)...)
	writeJSON(w, status, append(b, '}'))
}

// writeLogref writes {"logref","message","code"[,"info":{"nodeId"}]}.
func (s *Server) writeLogref(w http.ResponseWriter, status int, msg, code, nodeID string) {
	b := []byte(`{"logref":"`)
	b = append(b, s.newLogref()...)
	b = append(b, `","message":`...)
	b = appendString(b, msg)
	b = append(b, `,"code":`...)
	b = appendString(b, code)
	if nodeID != "" {
		b = append(b, `,"info":{"nodeId":"`...)
		b = append(b, nodeID...)
		b = append(b, `"}`...)
	}
	writeJSON(w, status, append(b, '}'))
}

// recorder remembers the status written, for statistics.
type recorder struct {
	http.ResponseWriter
	status   int
	onStatus func() // called once the status is known, before it is sent
}

func (r *recorder) setStatus(code int) {
	if r.status == 0 {
		r.status = code
		if r.onStatus != nil {
			r.onStatus()
		}
	}
}

func (r *recorder) WriteHeader(code int) {
	r.setStatus(code)
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.setStatus(http.StatusOK)
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (hijack, flush).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
