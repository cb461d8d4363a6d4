package emulator

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Hostile conditions beyond the statistical faults of faults.go: answers
// that never come, bodies that trickle, uploads never read, answers from
// Amazon's front end instead of the API, and the other known shape of
// /search/aggregation. Each is set by a method of Server (tests) or by
// "apsql emulate --fault" (the command line).

// Hang is a way a request can hang.
type Hang int

const (
	// HangNone clears a hang.
	HangNone Hang = iota
	// HangHeaders never sends a status line: the request waits for its
	// headers until the client gives up.
	HangHeaders
	// HangTrickle sends the status and headers, then the body one byte
	// every period (a connection that is alive but useless).
	HangTrickle
	// HangUploadBody never reads the request body and never answers (an
	// upload whose server stopped reading).
	HangUploadBody
)

// FrontEnd is an answer from Amazon's web front end instead of the API
// (issue 22): what other clients meet when a session ends in the browser,
// when Amazon takes the client for a bot, or when a datacenter address is
// refused.
type FrontEnd int

const (
	// FrontEndNone clears it.
	FrontEndNone FrontEnd = iota
	// FrontEndSignIn answers 200 with Amazon's HTML sign-in page.
	FrontEndSignIn
	// FrontEndCaptcha answers 200 with the HTML "Robot Check" captcha page.
	FrontEndCaptcha
	// FrontEndForbidden answers 403 with a CloudFront HTML error page.
	FrontEndForbidden
	// FrontEndUnavailable answers 503 with an HTML page (what clients see
	// from datacenter addresses), not the API's JSON 503.
	FrontEndUnavailable
)

// AggregationShape is how /search/aggregation answers.
type AggregationShape int

const (
	// AggregationList is CDASDK's {"aggregations":[{"value",...}],"category"} (default).
	AggregationList AggregationShape = iota
	// AggregationObject is the /search shape: {"aggregations":{"<category>":[{"match",...}]}}.
	AggregationObject
	// AggregationGarbage is neither: {"aggregations":"unavailable"}.
	AggregationGarbage
)

type hangRule struct {
	pattern string // route pattern ("GET /drive/v1/search"); "" for every service route
	hang    Hang
	period  time.Duration
	left    int // requests still to hang; < 0: every one
}

type hostile struct {
	mu       sync.Mutex
	hangs    []hangRule
	front    FrontEnd
	frontN   int
	aggShape AggregationShape
	closed   chan struct{}
	once     sync.Once
}

func (h *hostile) init() {
	h.once.Do(func() { h.closed = make(chan struct{}) })
}

// close releases every held request (Server.Close).
func (h *hostile) close() {
	h.init()
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.closed:
	default:
		close(h.closed)
	}
}

// SetHang makes the next n requests to the route pattern (such as "GET
// /drive/v1/search" or "POST /cdproxy/nodes"; "" for every service route)
// hang as h says; n < 0 makes every such request hang, and HangNone clears
// the rules. period is HangTrickle's time between bytes.
func (s *Server) SetHang(pattern string, h Hang, period time.Duration, n int) {
	s.hostile.mu.Lock()
	defer s.hostile.mu.Unlock()
	if h == HangNone {
		s.hostile.hangs = nil
		return
	}
	if period <= 0 {
		period = time.Second
	}
	s.hostile.hangs = append(s.hostile.hangs, hangRule{pattern: pattern, hang: h, period: period, left: n})
}

// SetFrontEnd answers the next n service requests (n < 0: all of them) with
// the front end's page f instead of the API; FrontEndNone clears it.
func (s *Server) SetFrontEnd(f FrontEnd, n int) {
	s.hostile.mu.Lock()
	defer s.hostile.mu.Unlock()
	s.hostile.front, s.hostile.frontN = f, n
	if f == FrontEndNone {
		s.hostile.frontN = 0
	}
}

// SetAggregationShape picks the shape of /search/aggregation answers.
func (s *Server) SetAggregationShape(a AggregationShape) {
	s.hostile.mu.Lock()
	defer s.hostile.mu.Unlock()
	s.hostile.aggShape = a
}

func (s *Server) aggregationShape() AggregationShape {
	s.hostile.mu.Lock()
	defer s.hostile.mu.Unlock()
	return s.hostile.aggShape
}

// takeHostile draws the hostile treatment of one request.
func (h *hostile) take(pattern string) (hangRule, FrontEnd) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.front != FrontEndNone && h.frontN != 0 {
		if h.frontN > 0 {
			h.frontN--
		}
		return hangRule{}, h.front
	}
	for i := range h.hangs {
		r := &h.hangs[i]
		if (r.pattern == "" || r.pattern == pattern) && r.left != 0 {
			if r.left > 0 {
				r.left--
			}
			return *r, FrontEndNone
		}
	}
	return hangRule{}, FrontEndNone
}

// serveHostile applies a hostile condition to one service request and
// reports whether it answered (or held) it.
func (s *Server) serveHostile(w *recorder, r *http.Request, pattern string, h http.HandlerFunc) bool {
	s.hostile.init()
	rule, front := s.hostile.take(pattern)
	if front != FrontEndNone {
		writeFrontEnd(w, front)
		return true
	}
	switch rule.hang {
	case HangHeaders:
		s.hold(r)
		w.status = 499
		return true
	case HangUploadBody:
		s.hold(r)
		w.status = 499
		return true
	case HangTrickle:
		buf := &bufferWriter{header: w.Header()}
		h(buf, r)
		body := buf.body.Bytes()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(max(buf.status, http.StatusOK))
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		t := time.NewTicker(rule.period)
		defer t.Stop()
		for i := 0; i < len(body); i++ {
			select {
			case <-r.Context().Done():
				return true
			case <-s.hostile.closed:
				return true
			case <-t.C:
			}
			if _, err := w.Write(body[i : i+1]); err != nil {
				return true
			}
			_ = rc.Flush()
		}
		return true
	}
	return false
}

// hold keeps a request unanswered until its client goes away or the server
// closes. The body is left unread: net/http notices a client that hung up
// only after a body was read, so an unread upload is released by Close.
func (s *Server) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.hostile.closed:
	}
}

// The front end's pages, cut down to what identifies them.
const (
	signInPage = `<!DOCTYPE html><html lang="en-us"><head><meta charset="utf-8"><title>Amazon Sign-In</title></head>` +
		`<body><div id="a-page"><form name="signIn" method="post" action="https://www.amazon.com/ap/signin">` +
		`<h1>Sign in</h1><label for="ap_email">Email or mobile phone number</label><input type="email" name="email" id="ap_email">` +
		`</form></div></body></html>`
	captchaPage = `<!doctype html><html><head><title>Robot Check</title></head><body>` +
		`<h4>Enter the characters you see below</h4><p>Sorry, we just need to make sure you're not a robot. ` +
		`For best results, please make sure your browser is accepting cookies.</p>` +
		`<form method="get" action="/errors/validateCaptcha"><img src="https://images-na.ssl-images-amazon.com/captcha/xyz/Captcha_abc.jpg">` +
		`<input id="captchacharacters" name="field-keywords"></form></body></html>`
	forbiddenPage = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"><HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD>` +
		`<BODY><H1>403 ERROR</H1><H2>The request could not be satisfied.</H2><HR noshade size="1px">Request blocked. ` +
		`We can't connect to the server for this app or website at this time.<BR clear="all"><HR noshade size="1px"><PRE>Generated by cloudfront (CloudFront)</PRE></BODY></HTML>`
	unavailablePage = `<!doctype html><html><head><title>Sorry! Something went wrong!</title></head><body>` +
		`<p>To discuss automated access to Amazon data please contact api-services-support@amazon.com.</p></body></html>`
)

func writeFrontEnd(w http.ResponseWriter, f FrontEnd) {
	status, page := http.StatusOK, signInPage
	switch f {
	case FrontEndCaptcha:
		page = captchaPage
	case FrontEndForbidden:
		status, page = http.StatusForbidden, forbiddenPage
	case FrontEndUnavailable:
		status, page = http.StatusServiceUnavailable, unavailablePage
	}
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}

// parseFault reads one --fault value of "apsql emulate":
//
//	hang-headers[:ROUTE]     never answer (ROUTE like "GET /drive/v1/search")
//	trickle:PERIOD[:ROUTE]   one body byte every PERIOD
//	stall-body:BYTES         every download sends BYTES, then nothing
//	upload-unread            never read an upload's body
//	signin | captcha | forbidden | unavailable   front-end pages for every request
//	aggregation-object | aggregation-garbage     /search/aggregation's shape
func (s *Server) parseFault(v string) error {
	name, arg, _ := strings.Cut(v, ":")
	switch name {
	case "hang-headers":
		s.SetHang(arg, HangHeaders, 0, -1)
	case "trickle":
		p, route, _ := strings.Cut(arg, ":")
		d, err := time.ParseDuration(p)
		if err != nil || d <= 0 {
			return errBadFault(v)
		}
		s.SetHang(route, HangTrickle, d, -1)
	case "stall-body":
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || n < 0 {
			return errBadFault(v)
		}
		s.StallBodies(math.MaxInt32, n)
	case "upload-unread":
		s.SetHang("POST /cdproxy/nodes", HangUploadBody, 0, -1)
		s.SetHang("POST /v2/upload", HangUploadBody, 0, -1)
	case "signin":
		s.SetFrontEnd(FrontEndSignIn, -1)
	case "captcha":
		s.SetFrontEnd(FrontEndCaptcha, -1)
	case "forbidden":
		s.SetFrontEnd(FrontEndForbidden, -1)
	case "unavailable":
		s.SetFrontEnd(FrontEndUnavailable, -1)
	case "aggregation-object":
		s.SetAggregationShape(AggregationObject)
	case "aggregation-garbage":
		s.SetAggregationShape(AggregationGarbage)
	default:
		return errBadFault(v)
	}
	return nil
}

type errBadFault string

func (e errBadFault) Error() string {
	return "--fault " + string(e) + ": unknown; use hang-headers[:ROUTE], trickle:PERIOD[:ROUTE], stall-body:BYTES, upload-unread, signin, captcha, forbidden, unavailable, aggregation-object or aggregation-garbage"
}
