package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Config configures a Client. Only Cookies is required.
type Config struct {
	// Cookies is the browser session (LoadCookies, ParseCookies).
	Cookies Cookies
	// TLD forces the Amazon domain ("co.uk"); "" derives it from the
	// cookie names (RegionFor).
	TLD string
	// Endpoint sends every request to this base URL instead of Amazon
	// (metadata at URL/drive/v1, uploads at URL/cdproxy/nodes, thumbnails
	// at URL/v1/thumbnail/{id}): the emulator, tests, proxies.
	Endpoint string
	// MaxConcurrency bounds the requests in flight; the adaptive limit
	// starts lower and never exceeds it. Default 16.
	MaxConcurrency int
	// CacheDir, when set, receives every raw JSON response body (--cache).
	CacheDir string
	// Events receives progress reports. It is called from many goroutines
	// at once and must be quick; nil discards them.
	Events func(Event)
	// HTTPClient sends the requests; nil uses a client tuned for
	// MaxConcurrency keep-alive connections.
	HTTPClient *http.Client
	// UserAgent overrides the browser User-Agent sent.
	UserAgent string
	// BatchRows is the number of rows per Arrow record batch; default 2048,
	// DuckDB's vector size. Larger batches insert no faster through one
	// stream and each decoder holds one under construction: at 8192 rows a
	// 1M-node SYNC peaked at 495 MB, at 2048 at 417 MB (bench/results/sync.md).
	BatchRows int
	// Allocator backs the record batches. Nil recycles the buffers of
	// released batches (fastest; a value read from a batch, such as a
	// string from (*array.String).Value, is then only valid until the
	// batch is released: copy it or Retain the batch). Pass
	// memory.DefaultAllocator to leave buffers to the garbage collector.
	Allocator memory.Allocator
	// MaxRetries is how often a request is re-sent; default 10.
	MaxRetries int
	// RequestTimeout bounds one attempt of a request; default 2 min. A raw
	// body (an upload) adds its size at minUploadRate (32 KiB/s).
	RequestTimeout time.Duration
	// HeaderTimeout is how long one attempt waits for the answer's
	// headers once the request is sent; default 30 s. It applies to the
	// client's own transport (HTTPClient nil).
	HeaderTimeout time.Duration
	// ProgressTimeout is the longest one request (all its retries, and
	// the pauses the service asks for with 429) goes without progress
	// before it fails; default 2 min (--timeout).
	ProgressTimeout time.Duration
	// IdleTimeout cuts a response body that brings no byte for this long
	// (default 30 s): a stalled download is then resumed, a stalled answer
	// retried, instead of waiting forever.
	IdleTimeout time.Duration
	// StallBytes is the least a body (an answer, or an upload the server
	// reads) must move in a window of IdleTimeout: fewer counts as a stall
	// and the attempt is cut, as when no byte comes (default 16 KiB, about
	// 0.5 KiB/s; a body trickling one byte every 20 s is cut).
	StallBytes int64
	// StallNotice is how long a request goes without progress before an
	// EventStalled says what it waits for; default 10 s (a quarter of
	// ProgressTimeout when that is shorter).
	StallNotice time.Duration

	// Sleep replaces the backoff wait (tests); it must return early with
	// the context's error when ctx is done.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now replaces the clock of syncedAt (tests).
	Now func() time.Time
}

// Client talks to one Amazon Photos account. It is safe for concurrent use.
type Client struct {
	cfg     Config
	region  Region
	hc      *http.Client
	lim     *limiter
	pace    *ratePacer
	cookie  string // Cookie header
	session string // x-amzn-sessionid
	ua      string
	sleep   func(context.Context, time.Duration) error
	now     func() time.Time

	// auth is cancelled (and replaced) when a request sees a 401, so that
	// every request that was in flight or waiting stops at once.
	authMu     sync.Mutex
	authCtx    context.Context
	authCancel context.CancelCauseFunc

	// reached is set once any answer came back from the server: until
	// then a connection that cannot be opened is most likely a wrong
	// --endpoint or no network, and is not retried for a minute.
	reached atomic.Bool

	// budgets are the progress budgets of downloads (Open), by method and
	// URL, so that a Range resume continues its download's budget.
	budgetMu  sync.Mutex
	budgets   map[string]*budget
	lastStall atomic.Int64 // when the last EventStalled went out (unix ns)

	cacheSeq atomic.Int64
	ownerMu  sync.Mutex
	ownerID  string
}

// defaultIdleTimeout is how long a response body may bring no byte.
const defaultIdleTimeout = 30 * time.Second

// defaultHeaderTimeout is how long an attempt waits for the headers.
const defaultHeaderTimeout = 30 * time.Second

// defaultProgressTimeout is how long one request may go without progress.
const defaultProgressTimeout = 2 * time.Minute

// defaultUserAgent is a desktop browser's: Amazon serves the web API to
// browsers (API.md §1.2).
const defaultUserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// New checks the configuration and returns a Client. It sends nothing: a
// missing cookie or an unknown country fails here, before any DNS lookup.
func New(cfg Config) (*Client, error) {
	if cfg.Cookies.Len() == 0 {
		return nil, errors.New("no cookies: pass --cookies FILE with session-id, ubid-*, at-* cookies from a logged-in Amazon Photos browser tab")
	}
	if err := cfg.Cookies.validate(); err != nil {
		return nil, err
	}
	region, err := RegionFor(cfg.Cookies, cfg.TLD)
	if err != nil {
		return nil, err
	}
	if cfg.Endpoint != "" {
		if region, err = region.withEndpoint(cfg.Endpoint); err != nil {
			return nil, err
		}
	}
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = 16
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 2048
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = defaultMaxRetries
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 2 * time.Minute
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = defaultHeaderTimeout
	}
	if cfg.ProgressTimeout <= 0 {
		cfg.ProgressTimeout = defaultProgressTimeout
	}
	if cfg.StallBytes <= 0 {
		cfg.StallBytes = defaultStallBytes
	}
	if cfg.StallNotice <= 0 {
		// A quarter of a --timeout shorter than 40 s: the line still
		// comes well before the request fails.
		cfg.StallNotice = min(defaultStallNotice, cfg.ProgressTimeout/4)
	}
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("--cache directory: %w", err)
		}
	}
	c := &Client{
		cfg:     cfg,
		region:  region,
		hc:      cfg.HTTPClient,
		cookie:  cfg.Cookies.Header(),
		session: cfg.Cookies.Value("session-id"),
		ua:      cfg.UserAgent,
		sleep:   cfg.Sleep,
		now:     cfg.Now,
	}
	if c.hc == nil {
		tr := newTransport(cfg.MaxConcurrency)
		tr.ResponseHeaderTimeout = cfg.HeaderTimeout
		c.hc = &http.Client{Transport: tr}
	}
	if c.hc.CheckRedirect == nil {
		// A redirect (contentRedirection to the content host) is a request
		// too: it waits for the shared bucket like the others.
		hc := *c.hc
		hc.CheckRedirect = c.checkRedirect
		c.hc = &hc
	}
	if c.ua == "" {
		c.ua = defaultUserAgent
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.lim = newLimiter(cfg.MaxConcurrency, func(n int) { c.event(Event{Kind: EventConcurrency, Concurrency: n}) })
	c.pace = newRatePacer()
	c.authCtx, c.authCancel = context.WithCancelCause(context.Background())
	return c, nil
}

func newTransport(maxConns int) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConns * 2,
		MaxIdleConnsPerHost:   maxConns + 4, // keep-alive for every parallel request
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// checkRedirect follows up to 10 redirects, each after the rate pacer let
// it go.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	_, err := c.pace.wait(req.Context(), c.sleep)
	return err
}

// Region is where the client sends its requests.
func (c *Client) Region() Region { return c.region }

// Concurrency is the adaptive limit of parallel requests now.
func (c *Client) Concurrency() int { return c.lim.current() }

func (c *Client) event(e Event) {
	if c.cfg.Events != nil {
		c.cfg.Events(e)
	}
}

// host selects which of the region's hosts a request goes to.
type host int

const (
	// hostMetadata is the drive/v1 API (www.amazon.<tld>/drive/v1).
	hostMetadata host = iota
	// hostContent is the content host (content-<region>.drive.amazonaws.com):
	// Path "/cdproxy/nodes" uploads.
	hostContent
	// hostThumbnail is thumbnails-photos.amazon.<tld>: Path "/v1/thumbnail/{id}".
	hostThumbnail
)

// request is one API call for do and open: only this package builds one.
type request struct {
	// Method defaults to GET.
	Method string
	// Host and Path locate the call: Path is appended to the host's base
	// ("/nodes/ID", "/cdproxy/nodes").
	Host host
	Path string
	// URL, when set, is the absolute URL to call instead of Host+Path (a
	// contentRedirection target, a templink).
	URL string
	// Query parameters. Metadata calls also get the base parameters
	// (resourceVersion=V2, ContentType=JSON, asset=ALL, tempLink=false)
	// unless NoBaseParams; a key set in Query wins.
	Query        url.Values
	NoBaseParams bool
	// JSON is marshalled as the body (Content-Type application/json). A
	// map[string]any body of a metadata call also gets
	// "resourceVersion":"V2" and "ContentType":"JSON", as the web app sends.
	JSON any
	// Body, for raw bodies (uploads), opens the body afresh for each
	// attempt; ContentLength and ContentType describe it.
	Body          func() (io.ReadCloser, error)
	ContentLength int64
	ContentType   string
	// Header adds request headers.
	Header http.Header
	// Retry decides whether a failed non-GET request is sent again: it gets
	// the retryable error (a 429/5xx or a network error) and answers true
	// when resending is safe (e.g. an upload verified absent). Nil: a
	// mutating request is never resent. GET requests always retry.
	Retry func(ctx context.Context, err error) bool
	// Op names the call in errors and events; default "METHOD path".
	Op string
}

// baseParams are the query parameters of every metadata call (API.md
// §1.2: resourceVersion=V2 is required for photo kinds).
var baseParams = [][2]string{
	{"asset", "ALL"}, {"tempLink", "false"}, {"resourceVersion", "V2"}, {"ContentType", "JSON"},
}

func (r *request) method() string {
	if r.Method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(r.Method)
}

func (r *request) op() string {
	if r.Op != "" {
		return r.Op
	}
	p := r.Path
	if r.URL != "" {
		if u, err := url.Parse(r.URL); err == nil {
			p = u.Path
		}
	}
	return r.method() + " " + p
}

func (c *Client) url(r *request) (string, error) {
	var u string
	switch {
	case r.URL != "":
		u = r.URL
	case r.Host == hostMetadata:
		u = c.region.MetadataURL + r.Path
	case r.Host == hostContent:
		if c.region.UploadURL == "" {
			return "", errNoUploadHost
		}
		u = c.region.UploadURL + r.Path
	case r.Host == hostThumbnail:
		u = c.region.ThumbnailURL + r.Path
	default:
		return "", fmt.Errorf("unknown host %d", r.Host)
	}
	q := url.Values{}
	if r.URL == "" && r.Host == hostMetadata && !r.NoBaseParams {
		for _, kv := range baseParams {
			q.Set(kv[0], kv[1])
		}
	}
	for k, vs := range r.Query {
		q[k] = vs
	}
	if len(q) > 0 {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + q.Encode()
	}
	return u, nil
}

// do sends req through the retry policy and decodes a JSON answer into out
// (nil: discard; *[]byte: the raw body; anything else: json.Unmarshal).
//
//   - GET requests are retried on 429/500/502/503/504 and network errors
//     (including a connection cut mid-body), with jittered exponential
//     backoff that honours Retry-After; other methods only when req.Retry
//     says so.
//   - 400 and 401 are never retried; a 401 returns an error that
//     errors.Is(err, ErrUnauthorized), and stops every other request of
//     the client that is in flight or waiting.
//   - Other HTTP errors are *APIError.
func (c *Client) do(ctx context.Context, req *request, out any) error {
	body, err := c.fetchBody(ctx, req)
	if err != nil {
		return err
	}
	defer putBuf(body)
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = append([]byte(nil), body.Bytes()...)
		return nil
	default:
		if body.Len() == 0 {
			return nil
		}
		if err := json.Unmarshal(body.Bytes(), out); err != nil {
			return fmt.Errorf("%s: decode answer: %w", req.op(), err)
		}
		return nil
	}
}

// open sends req through the retry policy and returns the response of the
// first 2xx answer with its body unread (downloads, thumbnails). The caller
// must close resp.Body. Errors after open returns (a cut mid-body) are the
// caller's to handle, e.g. by resuming with a Range header.
func (c *Client) open(ctx context.Context, req *request) (*http.Response, error) {
	resp, _, err := c.send(ctx, req, false)
	return resp, err
}

// fetchBody is do without decoding: the body in a pooled buffer that the
// caller gives back with putBuf.
func (c *Client) fetchBody(ctx context.Context, req *request) (*bytes.Buffer, error) {
	_, body, err := c.send(ctx, req, true)
	return body, err
}

// authGeneration is the context that the next 401 cancels.
func (c *Client) authGeneration() context.Context {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	return c.authCtx
}

// unauthorized stops every request that was started before now, with
// cause (ErrUnauthorized, or a *FrontEndError).
func (c *Client) unauthorized(cause error) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	c.authCancel(cause)
	c.authCtx, c.authCancel = context.WithCancelCause(context.Background())
}

// send runs the retry loop. With readBody the whole body is read inside the
// attempt (so a cut mid-body is retried) and the response is closed;
// otherwise the open response is returned.
func (c *Client) send(ctx context.Context, req *request, readBody bool) (*http.Response, *bytes.Buffer, error) {
	method := req.method()
	idempotent := method == http.MethodGet || method == http.MethodHead
	op := req.op()
	rawURL, err := c.url(req)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	authGen := c.authGeneration()
	stopAuth := context.AfterFunc(authGen, func() { cancel(context.Cause(authGen)) })
	stopHard := func() bool { return false }
	if hs := hardStop(ctx); hs != nil {
		// Even a request detached from the statement's cancellation
		// (context.WithoutCancel) stops once the interrupt's grace is over.
		stopHard = context.AfterFunc(hs, func() { cancel(context.Cause(hs)) })
	}
	stop := func() { stopAuth(); stopHard() }
	keepOpen := false
	defer func() {
		if !keepOpen {
			stop()
			cancel(nil)
		}
	}()

	// A failed attempt is no progress: the budget spans the retries, and a
	// download's Range resumes (the same method and URL, Open again soon
	// after its body was closed unfinished).
	var bud *budget
	if readBody {
		bud = c.newBudget(op, "")
	} else {
		bud = c.budgetFor(op, method+" "+rawURL)
	}
	defer func() {
		if !keepOpen {
			bud.release(readBody)
		}
	}()
	if _, over := bud.spent(); over {
		return nil, nil, bud.noProgress(op, nil)
	}
	for attempt := 1; ; attempt++ {
		bud.setPhase(phaseQueued)
		ticket, err := c.lim.acquire(ctx)
		if err != nil {
			return nil, nil, context.Cause(ctx)
		}
		paceTicket, err := c.pace.wait(ctx, c.sleep)
		if err != nil {
			c.lim.release(ticket, outcomeFailed)
			if cause := context.Cause(ctx); cause != nil {
				return nil, nil, cause
			}
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
		resp, body, err := c.attempt(ctx, req, method, rawURL, op, readBody, bud)
		var (
			apiErr     *APIError
			retryAfter time.Duration
			status     int
			o          = outcomeClean
		)
		switch {
		case err == nil:
		case errors.As(err, &apiErr):
			status, retryAfter = apiErr.Status, apiErr.RetryAfter
			switch {
			case status == http.StatusTooManyRequests:
				// A rate limit: the pacer's business, not the concurrency's.
				o = outcomeFailed
			case throttleStatus(status):
				o = outcomeThrottled
			case status >= 500:
				o = outcomeFailed
			}
		default:
			o = outcomeFailed
		}
		c.lim.release(ticket, o)
		var refused int64
		var grant float64
		if status == http.StatusTooManyRequests {
			refused, grant = c.pace.throttled(paceTicket, retryAfter)
		} else {
			c.pace.answered(o == outcomeClean)
		}
		if err == nil {
			if !readBody {
				// The body is read under ctx after send returns: cancel it
				// when the caller closes the body.
				keepOpen = true
				wb, _ := resp.Body.(*watchedBody)
				resp.Body = &closeHook{ReadCloser: resp.Body, hook: func() {
					stop()
					cancel(nil)
					bud.release(wb != nil && wb.eof.Load())
				}}
			}
			return resp, body, nil
		}
		if cause := context.Cause(ctx); cause != nil {
			return nil, nil, cause // cancelled, or another request saw a 401
		}
		if errors.Is(err, ErrNoProgress) {
			return nil, nil, err // the budget ran out during the attempt
		}
		failures := bud.failed(err)
		if status == http.StatusUnauthorized {
			c.unauthorized(ErrUnauthorized)
			return nil, nil, err
		}
		var fe *FrontEndError
		if errors.As(err, &fe) {
			// Not the API: the same page would answer every request;
			// never retried as a passing outage.
			c.unauthorized(fe)
			return nil, nil, err
		}
		retryable := (apiErr != nil && apiErr.Retryable) || (apiErr == nil && netRetryable(err))
		if !retryable {
			return nil, nil, err
		}
		if status == http.StatusTooManyRequests {
			// Throttled: not a failed attempt while the service takes
			// other requests; the pacer slows down until it does.
			if retryAfter > maxRetryAfter {
				return nil, nil, fmt.Errorf("%s: the server asks to wait %s before retrying; try again later: %w", op, retryAfter.Round(time.Second), err)
			}
			if since, ok := c.pace.progressWithin(c.cfg.ProgressTimeout, retryAfter); !ok {
				return nil, nil, fmt.Errorf("%s: %w: %s refused, now at %s req/s; none was taken for %s (and the service asks to wait %s more): try again later, or raise --timeout: %w",
					op, ErrThrottled, requestsN(refused), formatRate(grant), since.Round(100*time.Millisecond), retryAfter.Round(100*time.Millisecond), err)
			}
			if !idempotent && (req.Retry == nil || !req.Retry(ctx, err)) {
				return nil, nil, err
			}
			attempt--
			bud.throttled() // waiting its turn, not stalled: the pacer's check above bounds it
			if n, ok := ctx.Value(retryCounterKey{}).(*atomic.Int64); ok {
				n.Add(1)
			}
			c.event(Event{Kind: EventThrottled, Op: op, Attempt: attempt + 1, Status: status, Wait: retryAfter, Err: err, Refused: refused, Rate: grant})
			continue // the pacer waits Retry-After
		}
		if bud.key != "" {
			attempt = failures // a download's attempts span its resumes
		}
		if attempt > c.cfg.MaxRetries {
			return nil, nil, fmt.Errorf("%s: gave up after %d attempts: %w", op, attempt, err)
		}
		if since, _ := bud.spent(); since+backoffDelay(attempt, retryAfter, func(int64) int64 { return 0 }) > c.cfg.ProgressTimeout {
			return nil, nil, bud.noProgress(op, err)
		}
		if attempt > firstContactRetries && !c.reached.Load() && dialFailed(err) {
			return nil, nil, fmt.Errorf("cannot connect to %s (%d attempts, and no answer from it yet): check the network, or --endpoint: %w", hostOf(rawURL), attempt, err)
		}
		if retryAfter > maxRetryAfter {
			return nil, nil, fmt.Errorf("%s: the server asks to wait %s before retrying; try again later: %w", op, retryAfter.Round(time.Second), err)
		}
		if !idempotent && (req.Retry == nil || !req.Retry(ctx, err)) {
			return nil, nil, err
		}
		wait := backoffDelay(attempt, retryAfter, randInt64N)
		kind := EventRetry
		if throttleStatus(status) {
			kind = EventThrottled
		}
		c.event(Event{Kind: kind, Op: op, Attempt: attempt, Status: status, Wait: wait, Err: err})
		if n, ok := ctx.Value(retryCounterKey{}).(*atomic.Int64); ok {
			n.Add(1)
		}
		bud.setPhase(phaseBackoff)
		if err := c.sleep(ctx, wait); err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return nil, nil, cause
			}
			return nil, nil, err
		}
	}
}

// minUploadRate is the slowest upload that requestTimeout still waits for:
// a raw body adds its size at this rate to Config.RequestTimeout, so that
// a large file on a slow line is not cut off while it is being sent.
const minUploadRate = 32 << 10 // bytes per second

// requestTimeout bounds one attempt of req.
func (c *Client) requestTimeout(req *request) time.Duration {
	d := c.cfg.RequestTimeout
	if req.Body != nil && req.ContentLength > 0 {
		d += time.Duration(req.ContentLength/minUploadRate+1) * time.Second
	}
	return d
}

// attempt sends the request once.
func (c *Client) attempt(ctx context.Context, req *request, method, rawURL, op string, readBody bool, bud *budget) (*http.Response, *bytes.Buffer, error) {
	// A body that stalls, an upload the server does not read and a budget
	// that runs out cut the attempt through this context.
	ctx, cancelIdle := context.WithCancelCause(ctx)
	bud.attemptStarted(cancelIdle)
	bud.setPhase(phaseHeaders)
	var cancel context.CancelFunc = func() { cancelIdle(nil) }
	if readBody {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, c.requestTimeout(req))
		cancel = func() { cancelTimeout(); cancelIdle(nil) }
	}
	defer func() {
		if cancel != nil {
			cancel()
		}
	}()
	var body io.Reader
	var contentType string
	switch {
	case req.JSON != nil:
		b, err := c.jsonBody(req)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: encode body: %w", op, err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	case req.Body != nil:
		rc, err := req.Body()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: open body: %w", op, err)
		}
		defer rc.Close()
		up := c.watchUpload(rc, bud, op, cancelIdle)
		defer up.stop()
		body, contentType = up, req.ContentType
	}
	hr, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if req.Body != nil && req.ContentLength > 0 {
		hr.ContentLength = req.ContentLength
	}
	for k, vs := range req.Header {
		hr.Header[k] = vs
	}
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	hr.Header.Set("Cookie", c.cookie)
	hr.Header.Set("x-amzn-sessionid", c.session)
	hr.Header.Set("User-Agent", c.ua)
	if hr.Header.Get("Accept") == "" && readBody {
		hr.Header.Set("Accept", "application/json")
	}
	resp, err := c.hc.Do(hr)
	if err == nil {
		c.reached.Store(true)
	}
	if err != nil {
		if cut := bud.cutCause(ctx, op); cut != nil {
			return nil, nil, cut
		}
		// Never echo the URL's host as a DNS failure without the fix.
		return nil, nil, describeNetError(hr.URL.Hostname(), fmt.Errorf("%s: %w", op, unwrapURLError(err)))
	}
	finalPath := ""
	if resp.Request != nil && resp.Request.URL != nil {
		finalPath = resp.Request.URL.Path
	}
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if fe := frontEndAnswer(method, op, resp.StatusCode, resp.Header.Get("Content-Type"), finalPath, b, readBody); fe != nil {
			return nil, nil, fe
		}
		return nil, nil, newAPIError(method, op, resp, b)
	}
	if !readBody && strings.HasPrefix(finalPath, "/ap/") {
		// A download redirected to the sign-in page.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, nil, frontEndAnswer(method, op, resp.StatusCode, resp.Header.Get("Content-Type"), finalPath, b, false)
	}
	resp.Body = c.watchBody(ctx, resp.Body, bud, op, cancelIdle)
	if !readBody {
		// The caller reads the body under ctx; send cancels its parent
		// when the body is closed.
		cancel = nil
		return resp, nil, nil
	}
	defer resp.Body.Close()
	buf := getBuf()
	if resp.ContentLength > 0 && resp.ContentLength < 256<<20 {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		putBuf(buf)
		if errors.Is(err, ErrNoProgress) || errors.Is(err, ErrStalled) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%s: reading the answer: %w", op, unwrapURLError(err))
	}
	if fe := frontEndAnswer(method, op, resp.StatusCode, resp.Header.Get("Content-Type"), finalPath, buf.Bytes(), true); fe != nil {
		putBuf(buf)
		return nil, nil, fe
	}
	if c.cfg.CacheDir != "" {
		c.writeCache(method, rawURL, buf.Bytes())
	}
	return resp, buf, nil
}

// unwrapURLError drops *url.Error's wrapper, whose message repeats the whole
// URL (with its query) in every error.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) jsonBody(req *request) ([]byte, error) {
	if m, ok := req.JSON.(map[string]any); ok && req.URL == "" && req.Host == hostMetadata {
		cp := make(map[string]any, len(m)+2)
		cp["resourceVersion"] = "V2"
		cp["ContentType"] = "JSON"
		for k, v := range m {
			cp[k] = v
		}
		return json.Marshal(cp)
	}
	return json.Marshal(req.JSON)
}

// writeCache stores one raw answer under CacheDir as
// NNNNNN_METHOD_path_query.json. Failures are reported as events, never
// fail the request.
func (c *Client) writeCache(method, rawURL string, body []byte) {
	name := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		q := u.Query()
		for _, kv := range baseParams {
			q.Del(kv[0])
		}
		name = strings.TrimPrefix(u.Path, "/drive/v1")
		if enc := q.Encode(); enc != "" {
			name += "_" + enc
		}
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '=':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	clean := strings.Trim(b.String(), "_")
	if len(clean) > 120 {
		clean = clean[:120]
	}
	file := filepath.Join(c.cfg.CacheDir, fmt.Sprintf("%06d_%s_%s.json", c.cacheSeq.Add(1), method, clean))
	if err := os.WriteFile(file, body, 0o644); err != nil {
		c.event(Event{Kind: EventWarning, Op: "cache", Err: fmt.Errorf("write --cache file: %w", err)})
	}
}

// closeHook runs hook once after closing the body.
type closeHook struct {
	io.ReadCloser
	once sync.Once
	hook func()
}

func (h *closeHook) Close() error {
	err := h.ReadCloser.Close()
	h.once.Do(h.hook)
	return err
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b == nil || b.Cap() > 16<<20 {
		return
	}
	b.Reset()
	bufPool.Put(b)
}
