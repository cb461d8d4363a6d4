package fetch

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode"
)

// ErrNotAPI is the cause of an answer that did not come from the Amazon
// Photos API but from Amazon's web front end: a sign-in page, a captcha or
// bot wall, an HTML 403 or 503. It is not a passing outage (it is never
// retried as one) and not a 401: *FrontEndError says which page it was and
// what to try. Like a 401, it stops every other request of the Client.
var ErrNotAPI = errors.New("the answer came from Amazon's web front end, not the Photos API")

// FrontEndKind is which front-end page answered.
type FrontEndKind int

const (
	// FrontEndPage is an HTML page not recognised further.
	FrontEndPage FrontEndKind = iota
	// FrontEndSignIn is Amazon's sign-in page: the browser session ended.
	FrontEndSignIn
	// FrontEndCaptcha is a captcha ("Robot Check"): the requests were taken
	// for a bot.
	FrontEndCaptcha
	// FrontEndBlocked is an HTML 403 from the front end (CloudFront): the
	// address or the client was refused before the API.
	FrontEndBlocked
	// FrontEndUnavailable is an HTML 503: what other clients report from
	// datacenter addresses (bot detection), not the API's own 503.
	FrontEndUnavailable
)

// FrontEndError is an answer from Amazon's web front end instead of the
// API. errors.Is(err, ErrNotAPI) is true.
type FrontEndError struct {
	Method, Op string
	Status     int
	Kind       FrontEndKind
	// Title is the page's <title>, "" when it has none.
	Title string
}

func (e *FrontEndError) Error() string {
	var b strings.Builder
	if e.Method != "" && !strings.HasPrefix(e.Op, e.Method+" ") {
		b.WriteString(e.Method + " ")
	}
	b.WriteString(e.Op)
	fmt.Fprintf(&b, ": %d %s: ", e.Status, http.StatusText(e.Status))
	page := "an HTML page"
	if e.Title != "" {
		page += fmt.Sprintf(" (%q)", e.Title)
	}
	switch e.Kind {
	case FrontEndSignIn:
		fmt.Fprintf(&b, "Amazon answered with its sign-in page instead of data: the browser session behind the cookies has ended (signed out, or a new sign-in is asked for); sign in at Amazon Photos in the browser again and copy fresh cookies (apsql login)")
	case FrontEndCaptcha:
		fmt.Fprintf(&b, "Amazon answered with a captcha (%s) instead of data: it takes these requests for a bot; open Amazon Photos in the browser the cookies come from and answer the check, wait a few minutes, then retry with a lower --concurrency (requests from a VPN or a datacenter address meet this more often)", page)
	case FrontEndBlocked:
		fmt.Fprintf(&b, "refused by Amazon's front end (%s), not by the Photos API: this address or client is blocked; retry later or from another network, and check any proxy or --endpoint", page)
	case FrontEndUnavailable:
		fmt.Fprintf(&b, "%s from Amazon's front end, not the API's own 503: Amazon turns away automated requests like this, most often from datacenter or VPN addresses; retry from a home connection or later, with a lower --concurrency", page)
	default:
		fmt.Fprintf(&b, "%s instead of the API's JSON answer: something between apsql and the API answered (a proxy, a captive portal, a wrong --endpoint or --tld)", page)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrNotAPI) true.
func (e *FrontEndError) Unwrap() error { return ErrNotAPI }

var titleRE = regexp.MustCompile(`(?is)<title[^>]*>\s*(.*?)\s*</title>`)

// looksHTML reports whether a body is an HTML page (by its type or its
// first bytes).
func looksHTML(contentType string, body []byte) bool {
	ct := strings.ToLower(contentType)
	if strings.Contains(ct, "json") {
		return false
	}
	if strings.Contains(ct, "text/html") || strings.Contains(ct, "application/xhtml") {
		return true
	}
	b := bytes.TrimLeftFunc(body, unicode.IsSpace)
	return hasPrefixFold(b, "<!doctype html") || hasPrefixFold(b, "<html")
}

// hasPrefixFold reports whether b begins with prefix, ignoring case
// (looksHTML runs on every thumbnail: lowering its first 512 bytes to
// compare 14 was 7 µs of a 60 µs fetch).
func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// frontEndAnswer classifies an answer that is not the API's: an HTML body
// on a 200 where JSON was asked for, or on a 403 or 503; a sign-in or
// captcha page on any status. It returns nil for the API's own answers
// (JSON, or empty) and for HTML error pages of passing outages (500, 502,
// 504, which stay retryable). finalPath is the path of the last URL after
// redirects (/ap/signin).
func frontEndAnswer(method, op string, status int, contentType, finalPath string, body []byte, wantJSON bool) *FrontEndError {
	signInPath := strings.HasPrefix(finalPath, "/ap/signin") || strings.HasPrefix(finalPath, "/ap/")
	if !signInPath && !looksHTML(contentType, body) {
		return nil
	}
	e := &FrontEndError{Method: method, Op: op, Status: status}
	if m := titleRE.FindSubmatch(body); m != nil {
		t := strings.Join(strings.Fields(string(m[1])), " ")
		if len(t) > 80 {
			t = t[:80]
		}
		e.Title = t
	}
	lb := bytes.ToLower(body)
	has := func(s string) bool { return bytes.Contains(lb, []byte(s)) }
	switch {
	case signInPath || has(`name="signin"`) || has("/ap/signin") || strings.EqualFold(e.Title, "Amazon Sign-In") || strings.EqualFold(e.Title, "Amazon Sign In"):
		e.Kind = FrontEndSignIn
	case has("captcha") || strings.EqualFold(e.Title, "Robot Check") || has("not a robot"):
		e.Kind = FrontEndCaptcha
	case status == http.StatusForbidden:
		e.Kind = FrontEndBlocked
	case status == http.StatusServiceUnavailable:
		e.Kind = FrontEndUnavailable
	case status >= 200 && status < 300 && wantJSON:
		e.Kind = FrontEndPage
	default:
		return nil // an HTML 404, 429 or 5xx: the usual handling
	}
	return e
}
