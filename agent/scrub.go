package agent

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
)

// signedURL matches a URL that grants access by itself: a templink (the
// content URLs Amazon signs when asked for tempLink=true), or any URL
// with a signature in its query (S3/CloudFront style).
var signedURL = regexp.MustCompile(`(?i)https?://[^\s"'<>\\]*(?:templink|[?&](?:x-amz-signature|x-amz-credential|signature|key-pair-id|policy)=)[^\s"'<>\\]*`)

// Replacements of what no output may carry.
const (
	signedMark = "[signed URL removed]"
	cookieMark = "[cookie value removed]"
)

// minSecret is the shortest cookie value scrubbed (shorter ones, "1" or
// "en_US", are not secrets and would garble text).
const minSecret = 8

// scrubber removes cookie values and signed URLs from text.
type scrubber struct{ secrets []string }

func (s *Server) scrubber() scrubber {
	var out []string
	if s.opts.Secrets != nil {
		for _, v := range s.opts.Secrets() {
			if len(v) >= minSecret {
				out = append(out, v)
			}
		}
	}
	return scrubber{out}
}

func (sc scrubber) text(t string) string {
	for _, v := range sc.secrets {
		if strings.Contains(t, v) {
			t = strings.ReplaceAll(t, v, cookieMark)
		}
	}
	if strings.Contains(t, "://") {
		t = signedURL.ReplaceAllString(t, signedMark)
	}
	return t
}

// value scrubs a value of a result cell (strings, JSON, lists).
func (sc scrubber) value(v any) any {
	switch x := v.(type) {
	case string:
		return sc.text(x)
	case json.RawMessage:
		// The replacements hold no quote or backslash: JSON stays valid.
		return json.RawMessage(sc.text(string(x)))
	case []any:
		for i := range x {
			x[i] = sc.value(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = sc.value(x[k])
		}
		return x
	}
	return v
}

// bearer lets through the requests that carry "Authorization: Bearer
// token" (compared in constant time).
func bearer(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="apsql mcp"`)
			http.Error(w, "unauthorized: send the token apsql mcp printed, as Authorization: Bearer TOKEN", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
