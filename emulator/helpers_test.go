package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testNow fixes "today" so that the synthetic library is the same every run.
var testNow = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// client talks to a test server with its cookies (unless overridden).
type client struct {
	t       testing.TB
	s       *Server
	hc      *http.Client
	cookies map[string]string
	header  http.Header
}

func newClient(t testing.TB, s *Server) *client {
	t.Helper()
	return &client{t: t, s: s, cookies: s.Cookies(), hc: &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func startSmall(t testing.TB, opts Options) (*Server, *client) {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 1000
	}
	if opts.Now.IsZero() {
		opts.Now = testNow
	}
	s := StartTest(t, opts)
	return s, newClient(t, s)
}

// do sends a request; body is marshalled as JSON unless it is []byte.
func (c *client) do(method, path string, body any) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.s.URL() + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// get GETs path and decodes a JSON body into v (when v is non-nil),
// failing unless the status is want.
func (c *client) get(path string, want int, v any) []byte {
	c.t.Helper()
	resp, b := c.do("GET", path, nil)
	if resp.StatusCode != want {
		c.t.Fatalf("GET %s = %d %s, want %d", path, resp.StatusCode, b, want)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			c.t.Fatalf("GET %s: decode %s: %v", path, b, err)
		}
	}
	return b
}

// jnode is the part of a node the tests look at.
type jnode struct {
	ID           string   `json:"id"`
	Name         *string  `json:"name"`
	Kind         string   `json:"kind"`
	Status       string   `json:"status"`
	OwnerID      string   `json:"ownerId"`
	Parents      []string `json:"parents"`
	IsRoot       bool     `json:"isRoot"`
	CreatedDate  string   `json:"createdDate"`
	ModifiedDate string   `json:"modifiedDate"`
	Version      int      `json:"version"`
	TempLink     string   `json:"tempLink"`
	Settings     *struct {
		Favorite bool `json:"favorite"`
		Hidden   bool `json:"hidden"`
	} `json:"settings"`
	ContentProperties *struct {
		Size        int64  `json:"size"`
		MD5         string `json:"md5"`
		ContentType string `json:"contentType"`
		Extension   string `json:"extension"`
		ContentDate string `json:"contentDate"`
		Image       *struct {
			Make          string `json:"make"`
			Model         string `json:"model"`
			ApertureValue string `json:"apertureValue"`
			FocalLength   string `json:"focalLength"`
			ExposureTime  string `json:"exposureTime"`
			Width, Height int
		} `json:"image"`
		Video *struct {
			Width, Height int
			Duration      float64 `json:"duration"`
		} `json:"video"`
	} `json:"contentProperties"`
}

type jlist struct {
	Count        int                          `json:"count"`
	Data         []jnode                      `json:"data"`
	Aggregations map[string][]json.RawMessage `json:"aggregations"`
}

type jmsg struct {
	Message  string  `json:"message"`
	Message2 string  `json:"Message"`
	Logref   string  `json:"logref"`
	Code     *string `json:"code"`
	Info     *struct {
		NodeID string `json:"nodeId"`
	} `json:"info"`
}

func q(params ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	return v.Encode()
}

// v2 is the query the web client sends with every node operation.
const v2 = "resourceVersion=V2&ContentType=JSON&asset=ALL&tempLink=false"
