package fetch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Cookies holds a browser session's Amazon cookies under their normalised
// names (the hyphenated spelling browsers send: "ubid-main", "at-acbuk").
//
// The values are only reachable through Value and Header: String, GoString,
// Format and MarshalJSON print the cookie names, never a value, so a Cookies
// can be logged or wrapped into an error without leaking the session.
type Cookies struct {
	m map[string]string
}

// NewCookies normalises the names of a name → value map (see ParseCookies)
// and checks that it holds a usable session.
func NewCookies(m map[string]string) (Cookies, error) {
	c := Cookies{m: make(map[string]string, len(m))}
	for k, v := range m {
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" {
			continue
		}
		c.m[normaliseCookieName(k)] = v
	}
	if err := c.validate(); err != nil {
		return Cookies{}, err
	}
	return c, nil
}

// LoadCookies reads and parses a cookies file in any of the formats that
// ParseCookies accepts. The error names the file, never a cookie value.
func LoadCookies(path string) (Cookies, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Cookies{}, fmt.Errorf("cookies file %s does not exist: export session-id, ubid-*, at-* cookies from a logged-in Amazon Photos browser tab into it, or pass --cookies FILE", path)
		}
		return Cookies{}, fmt.Errorf("read cookies file: %w", err)
	}
	c, err := ParseCookies(data)
	if err != nil {
		return Cookies{}, fmt.Errorf("cookies file %s: %w", path, err)
	}
	return c, nil
}

// DefaultCookiesPath is where the cookies live when no --cookies flag is
// given: $APSQL_COOKIES, else $XDG_CONFIG_HOME/apsql/cookies, else
// ~/.config/apsql/cookies (SPEC §1).
func DefaultCookiesPath() string {
	if p := os.Getenv("APSQL_COOKIES"); p != "" {
		return p
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "apsql", "cookies")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".config", "apsql", "cookies")
	}
	return filepath.Join(home, ".config", "apsql", "cookies")
}

// ParseCookies parses cookies in one of the three formats of SPEC §1,
// detected from the content:
//
//   - a JSON object {"session-id": "...", "ubid-main": "...", "at-main": "..."};
//   - a Netscape cookies.txt (tab-separated, "#HttpOnly_" prefixes allowed),
//     keeping only the cookies of amazon.<tld> domains;
//   - one Cookie header line "session-id=...; ubid-acbca=...; at-acbca=..."
//     (with or without the leading "Cookie:").
//
// Names are normalised to the hyphenated spelling (ubid_main → ubid-main,
// at_acbuk → at-acbuk). The result must hold session-id and a matching
// ubid-X / at-X pair; otherwise the error names the missing cookie.
func ParseCookies(data []byte) (Cookies, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM from some editors
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Cookies{}, errors.New("no cookies found: the file is empty; export session-id, ubid-*, at-* cookies from a logged-in Amazon Photos browser tab")
	}
	var (
		m   map[string]string
		err error
	)
	switch {
	case trimmed[0] == '{':
		m, err = parseJSONCookies(trimmed)
	case isNetscape(trimmed):
		m, err = parseNetscapeCookies(trimmed)
	default:
		m, err = parseHeaderCookies(trimmed)
	}
	if err != nil {
		return Cookies{}, err
	}
	return NewCookies(m)
}

func parseJSONCookies(data []byte) (map[string]string, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("cookies JSON is malformed at byte %d: expected an object of cookie name to value", se.Offset)
		}
		return nil, errors.New("cookies JSON is malformed: expected an object of cookie name to value")
	}
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("cookies JSON: the value of %q is not a string", k)
		}
		m[k] = s
	}
	return m, nil
}

// isNetscape reports whether data looks like a cookies.txt: its header
// comment, or a line of seven tab-separated fields.
func isNetscape(data []byte) bool {
	if bytes.HasPrefix(data, []byte("# Netscape HTTP Cookie File")) || bytes.HasPrefix(data, []byte("# HTTP Cookie File")) {
		return true
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || (strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "#HttpOnly_")) {
			continue
		}
		return len(strings.Split(line, "\t")) >= 7
	}
	return false
}

func parseNetscapeCookies(data []byte) (map[string]string, error) {
	// byDomain groups the cookies per Amazon site: a file exported from a
	// browser may hold amazon.com and amazon.co.uk sessions side by side.
	byDomain := map[string]map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		line = strings.TrimPrefix(line, "#HttpOnly_") // HttpOnly cookies (at-*) are written this way
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 7 {
			return nil, fmt.Errorf("cookies.txt line %d: want 7 tab-separated fields (domain, flag, path, secure, expiry, name, value), got %d", n, len(f))
		}
		domain := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(f[0]), "."))
		site, ok := amazonSite(domain)
		if !ok {
			continue
		}
		if byDomain[site] == nil {
			byDomain[site] = map[string]string{}
		}
		byDomain[site][f[5]] = f[6]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cookies.txt: %w", err)
	}
	if len(byDomain) == 0 {
		return nil, errors.New("cookies.txt holds no amazon.* cookies: export the cookies of the Amazon Photos tab (www.amazon.<tld>) while logged in")
	}
	// Keep the site that has an authentication cookie.
	var withAuth []string
	for site, m := range byDomain {
		for k := range m {
			if strings.HasPrefix(normaliseCookieName(k), "at-") {
				withAuth = append(withAuth, site)
				break
			}
		}
	}
	sort.Strings(withAuth)
	switch len(withAuth) {
	case 0:
		// Fall through with everything: validate names the missing cookie.
		out := map[string]string{}
		for _, m := range byDomain {
			for k, v := range m {
				out[k] = v
			}
		}
		return out, nil
	case 1:
		return byDomain[withAuth[0]], nil
	default:
		return nil, fmt.Errorf("cookies.txt holds sessions of several Amazon sites (%s): export only the cookies of the site you use for Amazon Photos", strings.Join(withAuth, ", "))
	}
}

// amazonSite returns "amazon.<tld>" for an Amazon retail domain
// ("www.amazon.co.uk" → "amazon.co.uk"); amazonaws.com and other sites are
// not Amazon session cookies.
func amazonSite(domain string) (string, bool) {
	i := strings.Index(domain, "amazon.")
	if i < 0 || (i > 0 && domain[i-1] != '.') {
		return "", false
	}
	site := domain[i:]
	tld := strings.TrimPrefix(site, "amazon.")
	if tld == "" || strings.Contains(site, "amazonaws") {
		return "", false
	}
	for _, r := range tld {
		if (r < 'a' || r > 'z') && r != '.' {
			return "", false
		}
	}
	return site, true
}

func parseHeaderCookies(data []byte) (map[string]string, error) {
	s := string(data)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		// Tolerate a trailing newline and blank lines, not several headers.
		rest := strings.TrimSpace(s[i:])
		if rest != "" {
			return nil, errors.New("cookies file is not JSON, not a Netscape cookies.txt and not a single Cookie header line: use one of the formats of the README (e.g. session-id=...; ubid-main=...; at-main=...)")
		}
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) > 7 && strings.EqualFold(s[:7], "cookie:") {
		s = s[7:]
	}
	m := map[string]string{}
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, errors.New("cookie header: each cookie must be name=value, separated by \"; \" (e.g. session-id=...; ubid-main=...; at-main=...)")
		}
		m[strings.TrimSpace(name)] = strings.Trim(strings.TrimSpace(value), `"`)
	}
	return m, nil
}

// sessionCookiePrefixes are the Amazon session cookie names that carry a
// site suffix (-main or -acb<cc>); API.md §4.1.
var sessionCookiePrefixes = []string{"sess-at-", "session-id-", "session-", "ubid-", "sst-", "at-", "lc-", "x-"}

// normaliseCookieName turns the underscore spellings that users paste
// (ubid_main, at_acbuk, session_id, sess_at_main) into the hyphenated names
// browsers send. Other cookie names are left unchanged.
func normaliseCookieName(name string) string {
	if !strings.Contains(name, "_") {
		return name
	}
	h := strings.ReplaceAll(name, "_", "-")
	lh := strings.ToLower(h)
	if lh == "session-id" || lh == "session-token" || lh == "session-id-time" {
		return lh
	}
	for _, p := range sessionCookiePrefixes {
		if strings.HasPrefix(lh, p) {
			suffix := lh[len(p):]
			if suffix == "main" || isACBSuffix(suffix) || strings.HasSuffix(suffix, "-main") || strings.HasPrefix(suffix, "time-") {
				return lh
			}
		}
	}
	return name
}

// isACBSuffix reports whether s is "acb" followed by a two-letter country code.
func isACBSuffix(s string) bool {
	return len(s) == 5 && strings.HasPrefix(s, "acb") && isLower(s[3]) && isLower(s[4])
}

func isLower(b byte) bool { return b >= 'a' && b <= 'z' }

// site returns the cookie suffixes ("main", "acbuk") for which the jar holds
// both ubid-X and at-X, sorted.
func (c Cookies) sites() []string {
	var out []string
	for k := range c.m {
		if s, ok := strings.CutPrefix(k, "at-"); ok && (s == "main" || isACBSuffix(s)) {
			if _, ok := c.m["ubid-"+s]; ok {
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (c Cookies) validate() error {
	if c.m["session-id"] == "" {
		return errors.New("the session-id cookie is missing: copy session-id, ubid-*, at-* from a logged-in Amazon Photos browser tab")
	}
	if len(c.sites()) > 0 {
		return nil
	}
	// Name the half of the pair that is missing.
	for k := range c.m {
		if s, ok := strings.CutPrefix(k, "ubid-"); ok {
			return fmt.Errorf("the at-%s cookie is missing (ubid-%s is there): copy at-%s from a logged-in Amazon Photos browser tab", s, s, s)
		}
		if s, ok := strings.CutPrefix(k, "at-"); ok {
			return fmt.Errorf("the ubid-%s cookie is missing (at-%s is there): copy ubid-%s from a logged-in Amazon Photos browser tab", s, s, s)
		}
	}
	return errors.New("the ubid-* and at-* cookies are missing (ubid-main/at-main on amazon.com, ubid-acb<cc>/at-acb<cc> elsewhere): copy them from a logged-in Amazon Photos browser tab")
}

// Value returns the value of the cookie with the given (normalised) name.
func (c Cookies) Value(name string) string { return c.m[normaliseCookieName(name)] }

// Has reports whether the cookie is present.
func (c Cookies) Has(name string) bool {
	_, ok := c.m[normaliseCookieName(name)]
	return ok
}

// Names returns the cookie names, sorted. Safe to print.
func (c Cookies) Names() []string {
	out := make([]string, 0, len(c.m))
	for k := range c.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Len is the number of cookies.
func (c Cookies) Len() int { return len(c.m) }

// Header returns the value of a Cookie request header carrying every cookie
// ("name=value; name=value"), in name order.
func (c Cookies) Header() string {
	var b strings.Builder
	for i, k := range c.Names() {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(c.m[k])
	}
	return b.String()
}

// String lists the cookie names, never their values.
func (c Cookies) String() string {
	return "cookies[" + strings.Join(c.Names(), " ") + "]"
}

// GoString is String: %#v must not print values either.
func (c Cookies) GoString() string { return c.String() }

// Format prints String for every verb, so no fmt verb reaches the values.
func (c Cookies) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// MarshalJSON writes the cookie names only.
func (c Cookies) MarshalJSON() ([]byte, error) { return json.Marshal(c.Names()) }
