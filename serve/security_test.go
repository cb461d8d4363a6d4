package serve

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// browser is an HTTP client that behaves like one for cookies: a jar
// that keeps cookies by host name (not port, RFC 6265), and *.localhost
// resolved to the loopback address.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dial := &net.Dialer{}
	return &http.Client{Jar: jar, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if strings.HasSuffix(host, ".localhost") || host == "localhost" {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dial.DialContext(ctx, network, addr)
		},
	}}
}

// open opens the URL the gallery prints, as a browser does: the token
// goes into the jar's cookie.
func (e *env) open(c *http.Client) {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL(e.http.Listener))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("open %s = %d", e.srv.URL(e.http.Listener), resp.StatusCode)
	}
}

// origin is the gallery page's origin.
func (e *env) origin() string { return "http://" + e.named() }

func status(t *testing.T, c *http.Client, req *http.Request) int {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestCookieStaysWithGallery: after the gallery was opened, another
// server on 127.0.0.1 (another port) that the browser visits receives no
// token, and cannot use the gallery with the browser's cookies.
func TestCookieStaysWithGallery(t *testing.T) {
	e := setup(t, 20)
	var mu sync.Mutex
	var seen []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Cookie"))
		mu.Unlock()
	}))
	defer other.Close()
	c := browser(t)
	e.open(c)
	_, port, _ := net.SplitHostPort(other.Listener.Addr().String())
	for _, u := range []string{other.URL + "/", "http://localhost:" + port + "/"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		status(t, c, req)
	}
	for _, ck := range seen {
		if strings.Contains(ck, e.srv.Token()) {
			t.Errorf("another server on 127.0.0.1 received the gallery's token: Cookie: %s", ck)
		}
	}
	// The same browser at the gallery's port by its address: no cookie
	// goes there either, and the request is refused.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.http.URL+"/api/grid?limit=1", nil)
	if got := status(t, c, req); got != http.StatusForbidden {
		t.Errorf("GET 127.0.0.1:PORT/api/grid with the browser's cookies = %d, want 403", got)
	}
	// At the gallery's own name the cookie works.
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, e.origin()+"/api/grid?limit=1", nil)
	if got := status(t, c, req); got != http.StatusOK {
		t.Errorf("GET the gallery's /api/grid with its cookie = %d, want 200", got)
	}
}

// TestTwoGalleries: two galleries open in one browser at once keep
// working side by side.
func TestTwoGalleries(t *testing.T) {
	a, b := setup(t, 20), setup(t, 20)
	c := browser(t)
	a.open(c)
	b.open(c)
	for i, e := range []*env{a, b} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.origin()+"/api/grid?limit=1", nil)
		if got := status(t, c, req); got != http.StatusOK {
			t.Errorf("gallery %d after both were opened: GET /api/grid = %d, want 200", i+1, got)
		}
	}
}

// TestOriginChecked: a POST with the right cookie and CSRF token is
// refused unless it comes from the gallery's own page.
func TestOriginChecked(t *testing.T) {
	e := setup(t, 20)
	c := browser(t)
	e.open(c)
	ids := e.strings("SELECT id FROM photos ORDER BY id LIMIT 1")
	body := `{"action":"trash","ids":["` + ids[0] + `"]}`
	for _, tc := range []struct {
		name   string
		base   string
		origin string
		token  bool // in the header instead of the cookie
		want   int
	}{
		{"own page", e.origin(), e.origin(), false, http.StatusOK},
		{"another port", e.origin(), "http://127.0.0.1:9", false, http.StatusForbidden},
		{"another gallery", e.origin(), "http://apsql-0123456789abcdef.localhost" + e.named()[strings.LastIndexByte(e.named(), ':'):], false, http.StatusForbidden},
		{"null", e.origin(), "null", false, http.StatusForbidden},
		{"no Origin, cookie", e.origin(), "", false, http.StatusForbidden},
		{"no Origin, header token", e.http.URL, "", true, http.StatusOK},
		{"header token, foreign Origin", e.http.URL, "http://127.0.0.1:9", true, http.StatusForbidden},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tc.base+"/api/explain", strings.NewReader(body))
		req.Header.Set(csrfHeader, e.srv.CSRF())
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		if tc.token {
			req.Header.Set(tokenHeader, e.srv.Token())
		}
		if got := status(t, c, req); got != tc.want {
			t.Errorf("%s: POST /api/explain with Origin %q = %d, want %d", tc.name, tc.origin, got, tc.want)
		}
	}
}

// TestConfirmationRunsOnce: a replayed /api/run does not run the
// DOWNLOAD again.
func TestConfirmationRunsOnce(t *testing.T) {
	e := setup(t, 30)
	ids := e.strings("SELECT id FROM photos ORDER BY id LIMIT 2")
	req := map[string]any{"action": "download", "ids": ids, "dir": t.TempDir()}
	code, b := e.do(http.MethodPost, "/api/explain", req)
	var a actionAnswer
	if code != http.StatusOK || json.Unmarshal(b, &a) != nil || a.Confirm == "" {
		t.Fatalf("explain = %d %s", code, b)
	}
	req["confirm"] = a.Confirm
	if code, b := e.do(http.MethodPost, "/api/run", req); code != http.StatusOK {
		t.Fatalf("run = %d %s", code, b)
	}
	logged := e.strings("SELECT count(*)::VARCHAR FROM actions_log WHERE action = 'DOWNLOAD'")[0]
	requests := e.emu.Stats().Requests
	code, b = e.do(http.MethodPost, "/api/run", req)
	if code != http.StatusConflict {
		t.Errorf("replayed run = %d %s, want 409", code, b)
	}
	if n := e.strings("SELECT count(*)::VARCHAR FROM actions_log WHERE action = 'DOWNLOAD'")[0]; n != logged {
		t.Errorf("the replay ran DOWNLOAD again: actions_log went from %s to %s DOWNLOAD rows", logged, n)
	}
	if n := e.emu.Stats().Requests - requests; n != 0 {
		t.Errorf("the replay sent %d requests to the service", n)
	}
	// A new EXPLAIN gives a new code, good for one more run.
	code, b = e.do(http.MethodPost, "/api/explain", req)
	var again actionAnswer
	if code != http.StatusOK || json.Unmarshal(b, &again) != nil || again.Confirm == a.Confirm {
		t.Fatalf("second explain = %d %s: want a new code", code, b)
	}
	req["confirm"] = again.Confirm
	if code, b := e.do(http.MethodPost, "/api/run", req); code != http.StatusOK {
		t.Errorf("run after a new EXPLAIN = %d %s", code, b)
	}
}

// TestCSPOnEveryAnswer: every answer, the page's template under /static/
// included, carries the Content-Security-Policy; the template itself is
// served only as the page.
func TestCSPOnEveryAnswer(t *testing.T) {
	e := setup(t, 20)
	c := browser(t)
	e.open(c)
	for _, p := range []struct {
		path string
		want int
	}{
		{"/", 200}, {"/static/index.html", 404}, {"/static/", 404}, {"/static/app.js", 200}, {"/static/app.css", 200},
		{"/static/favicon.svg", 200}, {"/favicon.ico", 200}, {"/nothing", 404}, {"/api/grid?limit=1", 200}, {"/thumb/%20", 400},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.origin()+p.path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != p.want || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s = %d, CSP %q; want %d with the CSP", p.path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"), p.want)
		}
		if strings.Contains(string(b), "{{CSRF}}") {
			t.Errorf("GET %s serves the page's template", p.path)
		}
	}
	// Refusals too.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.http.URL+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET / without the token = %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
}
