package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrUnauthorized is the cause of every 401: the cookies are expired, for
// another site, or incomplete. It is never retried, and once one request of
// a Client sees it, every other request of that Client fails with it too
// (a statement stops within a second). Test with errors.Is.
var ErrUnauthorized = errors.New("authentication failed (401): the cookies are expired or incomplete; run apsql login to read fresh ones from your browser, or copy fresh session-id, ubid-*, at-* cookies from a logged-in browser")

// ErrNoProgress is the cause of a request that failed again and again
// (no answer, a stalled body, 5xx) for Config.ProgressTimeout (--timeout,
// 2 min by default) with nothing gained: it is not retried further.
var ErrNoProgress = errors.New("no progress")

// ErrThrottled is the cause of a request that the service kept refusing
// with 429 while it took no other request of the client for
// Config.ProgressTimeout: the message says how many were refused and the
// rate the client had slowed down to.
var ErrThrottled = errors.New("throttled by the service")

// formatRate writes a request rate for messages: "4.3", "0.25".
func formatRate(r float64) string {
	switch {
	case r <= 0:
		return "an unlimited"
	case r < 1:
		return strconv.FormatFloat(r, 'f', 2, 64)
	}
	return strconv.FormatFloat(r, 'f', 1, 64)
}

// requestsN writes "1 request", "12 requests".
func requestsN(n int64) string {
	if n == 1 {
		return "1 request"
	}
	return strconv.FormatInt(n, 10) + " requests"
}

// ErrListingChanged reports that offset paging saw the library change while
// it was being listed (a duplicate id, a count that differs from what was
// fetched): the batches already emitted are valid but not a complete,
// verified snapshot, so the caller should fetch again before it removes rows.
var ErrListingChanged = errors.New("the library changed during the listing")

// APIError is an HTTP error answer of the service.
type APIError struct {
	Method string // "GET"
	Op     string // what was being done: "/search offset 400"
	Status int    // HTTP status
	// Message and Code are Amazon's "message"/"Message" and "code" fields.
	Message, Code string
	// NodeID is the conflicting node of a 409 (info.nodeId or
	// errorDetails.conflictNodeIds[0]); "" otherwise.
	NodeID string
	// Retryable is true for the statuses the retry policy retries.
	Retryable bool
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Body is the response body (at most 64 KiB).
	Body []byte
}

// Error reads "GET /search offset 400: 503 Service Unavailable: message".
// A 401 reads as ErrUnauthorized with Amazon's message appended.
func (e *APIError) Error() string {
	if e.Status == http.StatusUnauthorized {
		s := ErrUnauthorized.Error()
		if e.Message != "" {
			s += " (server: " + e.Message + ")"
		}
		return s
	}
	var b strings.Builder
	if e.Method != "" && !strings.HasPrefix(e.Op, e.Method+" ") {
		b.WriteString(e.Method + " ")
	}
	b.WriteString(e.Op)
	fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrUnauthorized) true for a 401.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusUnauthorized {
		return ErrUnauthorized
	}
	return nil
}

// IsInvalidFilter reports whether Amazon rejected the filter
// (400 "Invalid filter: ..."); Message then says what is wrong.
func (e *APIError) IsInvalidFilter() bool {
	return e.Status == http.StatusBadRequest && strings.HasPrefix(e.Message, "Invalid filter")
}

// retryableStatus is the one list of statuses retried by the policy.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout: // 408: transient (RCL retries it); an upload may still complete
		return true
	case http.StatusTooManyRequests: // 429: "Rate exceeded" / "Concurrent Access on same node"; honour Retry-After
		return true
	case http.StatusInternalServerError: // 500: "Internal failure", transient
		return true
	case http.StatusBadGateway: // 502: big listings; transient
		return true
	case http.StatusServiceUnavailable: // 503: overload or bot detection under high concurrency; back off
		return true
	case http.StatusGatewayTimeout: // 504: gateway timeout; transient
		return true
	}
	// 400 (bad filter, bad request) and 401 (cookies) are never retried.
	return false
}

// throttleStatus reports statuses that mean "too fast": they also shrink the
// adaptive concurrency.
func throttleStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable
}

// newAPIError builds an APIError from an error response.
func newAPIError(method, op string, resp *http.Response, body []byte) *APIError {
	e := &APIError{
		Method:     method,
		Op:         op,
		Status:     resp.StatusCode,
		Retryable:  retryableStatus(resp.StatusCode),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	if len(body) > 64<<10 {
		body = body[:64<<10]
	}
	e.Body = body
	var m struct {
		Message  string `json:"message"`
		MessageU string `json:"Message"`
		Code     any    `json:"code"`
		Err      string `json:"errorCode"`
		Info     struct {
			NodeID string `json:"nodeId"`
		} `json:"info"`
		Details struct {
			Conflict []string `json:"conflictNodeIds"`
		} `json:"errorDetails"`
	}
	if json.Unmarshal(body, &m) == nil {
		e.Message = m.Message
		if e.Message == "" {
			e.Message = m.MessageU
		}
		if s, ok := m.Code.(string); ok {
			e.Code = s
		}
		if e.Code == "" {
			e.Code = m.Err
		}
		e.NodeID = m.Info.NodeID
		if e.NodeID == "" && len(m.Details.Conflict) > 0 {
			e.NodeID = m.Details.Conflict[0]
		}
	} else if s := strings.TrimSpace(string(body)); s != "" && len(s) < 300 && !strings.ContainsAny(s, "<>") {
		e.Message = s // plain-text bodies, not HTML error pages
	}
	return e
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var secs float64
	if _, err := fmt.Sscanf(v, "%g", &secs); err == nil && !strings.ContainsAny(v, " ,") {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// netRetryable classifies a transport error: a connection reset, refused, cut
// mid-body or timed out is retried; a DNS name that does not exist, a
// certificate error or a cancelled context is not.
func netRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTemporary || dns.IsTimeout
	}
	var (
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
	)
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalidErr) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrStalled) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// firstContactRetries is how often a connection that cannot be opened is
// retried before the client has had any answer from the server.
const firstContactRetries = 2

// dialFailed reports whether err is a failure to open a connection
// (refused, unreachable, timed out while connecting), as opposed to one
// that broke after the request was sent.
func dialFailed(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// hostOf returns the host:port of rawURL, or rawURL itself.
func hostOf(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		return u.Host
	}
	return rawURL
}

// describeNetError turns a transport error into a message naming the fix.
func describeNetError(host string, err error) error {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return fmt.Errorf("cannot resolve %s: check --tld (the domain you log in at, e.g. co.uk) or --endpoint: %w", host, err)
	}
	return err
}
