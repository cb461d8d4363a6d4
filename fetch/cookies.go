package fetch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Cookies holds a browser session's Amazon cookies under their normalised
// names (the hyphenated spelling browsers send: "ubid-main", "at-acbuk").
//
// The values are only reachable through Value and Header: String, GoString,
// Format and MarshalJSON print the cookie names, never a value, so a Cookies
// can be logged or wrapped into an error without leaking the session.
type Cookies struct {
	m map[string]string
	// exp holds the expiry of the cookies whose file recorded one
	// (cookies.txt, a JSON array export); see Expires.
	exp map[string]time.Time
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
		if err := checkCookie(k, v); err != nil {
			return Cookies{}, err
		}
		c.m[normaliseCookieName(k)] = v
	}
	if err := c.validate(); err != nil {
		return Cookies{}, err
	}
	return c, nil
}

// maxCookieFile bounds what LoadCookies reads: a browser's export of the
// Amazon cookies is a few KB, and even every cookie of a browser fits well
// below it. A bigger file is the wrong file; it is never read whole.
const maxCookieFile = 1 << 20

// LoadCookies reads and parses a cookies file in any of the formats that
// ParseCookies accepts. It reads at most maxCookieFile bytes: a bigger file
// is refused at once. The error names the file, never a cookie value.
func LoadCookies(path string) (Cookies, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Cookies{}, fmt.Errorf("cookies file %s does not exist: run apsql login to read the session from your browser, or export session-id, ubid-*, at-* cookies from a logged-in Amazon Photos browser tab into it, or pass --cookies FILE", path)
		}
		return Cookies{}, fmt.Errorf("read cookies file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return Cookies{}, fmt.Errorf("cookies file %s is a directory: give the file the cookies were exported to", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCookieFile+1))
	if err != nil {
		return Cookies{}, fmt.Errorf("read cookies file %s: %w", path, err)
	}
	if len(data) > maxCookieFile {
		size := "more than 1 MiB"
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20))
		}
		return Cookies{}, fmt.Errorf("cookies file %s is %s: too big to be a cookie file (an export of the Amazon cookies is a few KB); check the --cookies path", path, size)
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

// ParseCookies parses cookies in one of the formats of SPEC §1, detected
// from the content:
//
//   - a JSON object {"session-id": "...", "ubid-main": "...", "at-main": "..."};
//   - a JSON array of cookie objects, as the Cookie-Editor and
//     EditThisCookie extensions export ([{"name": "session-id", "value":
//     "...", "domain": ".amazon.com", ...}, ...]), keeping only the cookies
//     of amazon.<tld> domains;
//   - a Netscape cookies.txt (tab-separated, "#HttpOnly_" prefixes allowed),
//     keeping only the cookies of amazon.<tld> domains; a line of six
//     fields, as some exporters write (no subdomain flag, no expiry, or an
//     empty value with its tab dropped), is accepted;
//   - one Cookie header line "session-id=...; ubid-acbca=...; at-acbca=..."
//     (with or without the leading "Cookie:").
//
// The text may be UTF-8 (with or without a BOM) or UTF-16 (with a BOM, or
// without one when the NUL bytes show it), as Windows editors save it.
// Names are normalised to the hyphenated spelling (ubid_main → ubid-main,
// at_acbuk → at-acbuk). The result must hold session-id and a matching
// ubid-X / at-X pair; otherwise the error names the missing cookie.
func ParseCookies(data []byte) (Cookies, error) {
	data, err := decodeCookieText(data)
	if err != nil {
		return Cookies{}, err
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Cookies{}, errors.New("no cookies found: the file is empty; export session-id, ubid-*, at-* cookies from a logged-in Amazon Photos browser tab")
	}
	var m map[string]string
	exp := expiries{}
	switch {
	case trimmed[0] == '{':
		m, err = parseJSONCookies(trimmed)
	case trimmed[0] == '[':
		m, err = parseJSONArrayCookies(trimmed, exp)
	case isNetscape(trimmed):
		m, err = parseNetscapeCookies(trimmed, exp)
	default:
		m, err = parseHeaderCookies(trimmed)
	}
	if err != nil {
		return Cookies{}, err
	}
	c, err := NewCookies(m)
	if err != nil {
		return Cookies{}, err
	}
	for k, v := range c.m {
		if t, ok := exp[expiryKey(k, v)]; ok {
			if c.exp == nil {
				c.exp = map[string]time.Time{}
			}
			c.exp[k] = t
		}
	}
	return c, nil
}

// expiries records the expiry a file gives a cookie, keyed by expiryKey:
// the name and value, so that the site pickSite keeps is the one whose
// expiries count.
type expiries map[string]time.Time

func expiryKey(name, value string) string {
	return normaliseCookieName(strings.TrimSpace(name)) + "\x00" + strings.TrimSpace(value)
}

// add records a Unix time in seconds; 0 (a session cookie) is no expiry.
func (e expiries) add(name, value string, unix float64) {
	if unix > 0 {
		e[expiryKey(name, value)] = time.Unix(int64(unix), 0).UTC()
	}
}

// Expires returns when the session ends as the browser saw it: the
// earliest expiry of its session-id, ubid-* and at-* cookies. ok is false
// when the file did not record one (a JSON object or a Cookie header, or
// session cookies), as only cookies.txt and JSON array exports carry it;
// apsql login writes cookies.txt. The service may end a session sooner.
func (c Cookies) Expires() (t time.Time, ok bool) {
	names := []string{"session-id"}
	for _, s := range c.sites() {
		names = append(names, "ubid-"+s, "at-"+s)
	}
	for _, n := range names {
		if e, has := c.exp[n]; has && (!ok || e.Before(t)) {
			t, ok = e, true
		}
	}
	return t, ok
}

// decodeCookieText returns data as UTF-8: a UTF-8 BOM is dropped, and
// UTF-16 (a BOM, or NUL bytes in every other place of the first
// character) is decoded. Other text with NUL bytes is not a cookies file.
func decodeCookieText(data []byte) ([]byte, error) {
	if b, ok := bytes.CutPrefix(data, []byte("\xef\xbb\xbf")); ok {
		return b, nil
	}
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xfe")):
		order, data = binary.LittleEndian, data[2:]
	case bytes.HasPrefix(data, []byte("\xfe\xff")):
		order, data = binary.BigEndian, data[2:]
	case bytes.IndexByte(data, 0) < 0:
		return data, nil
	case len(data) >= 2 && data[0] != 0 && data[1] == 0:
		order = binary.LittleEndian
	case len(data) >= 2 && data[0] == 0 && data[1] != 0:
		order = binary.BigEndian
	default:
		return nil, errors.New("the file holds NUL bytes and is not UTF-16 text: it is not a cookies file; export the cookies again as text")
	}
	if len(data)%2 != 0 {
		return nil, errors.New("the file is UTF-16 text with an odd number of bytes: it is cut short; export the cookies again")
	}
	u := make([]uint16, len(data)/2)
	for i := range u {
		u[i] = order.Uint16(data[2*i:])
	}
	return []byte(string(utf16.Decode(u))), nil
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

// jsonCookie is one cookie of a browser extension's JSON export; the
// other fields (path, expirationDate, httpOnly, ...) do not matter here.
type jsonCookie struct {
	Name    *string  `json:"name"`
	Value   *string  `json:"value"`
	Domain  string   `json:"domain"`
	Expires *float64 `json:"expirationDate"`
}

// parseJSONArrayCookies reads a Cookie-Editor / EditThisCookie export: an
// array of cookie objects. Cookies without a domain are taken as Amazon's
// (an export of one tab's cookies may leave it out).
func parseJSONArrayCookies(data []byte, exp expiries) (map[string]string, error) {
	var raw []jsonCookie
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("cookies JSON array is malformed at byte %d: expected [{\"name\": ..., \"value\": ..., \"domain\": ...}, ...] as Cookie-Editor exports", se.Offset)
		}
		return nil, errors.New("cookies JSON array is malformed: expected [{\"name\": ..., \"value\": ..., \"domain\": ...}, ...] as Cookie-Editor exports, with string names and values")
	}
	byDomain := map[string]map[string]string{}
	for i, c := range raw {
		if c.Name == nil || c.Value == nil {
			return nil, fmt.Errorf("cookies JSON array: cookie %d has no \"name\" or no \"value\": expected [{\"name\": ..., \"value\": ..., \"domain\": ...}, ...] as Cookie-Editor exports", i+1)
		}
		site := "amazon"
		if d := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(c.Domain), ".")); d != "" {
			var ok bool
			if site, ok = amazonSite(d); !ok {
				continue
			}
		}
		if byDomain[site] == nil {
			byDomain[site] = map[string]string{}
		}
		byDomain[site][*c.Name] = *c.Value
		if c.Expires != nil {
			exp.add(*c.Name, *c.Value, *c.Expires)
		}
	}
	return pickSite(byDomain, "the cookies JSON array")
}

// isNetscape reports whether data looks like a cookies.txt: its header
// comment, or a first cookie line of six or seven tab-separated fields
// with a TRUE/FALSE flag among them.
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
		f := strings.Split(line, "\t")
		if len(f) >= 7 {
			return true
		}
		return len(f) == 6 && (isBool(f[1]) || isBool(f[2]) || isBool(f[3]))
	}
	return false
}

func isBool(s string) bool { return strings.EqualFold(s, "TRUE") || strings.EqualFold(s, "FALSE") }

// netscapeCookie returns the name and value of a cookies.txt line's
// fields: domain, subdomains flag, path, secure, expiry, name, value. Of a
// six-field line, the field left out is found from the others:
//
//   - the second field is a path: the subdomains flag is left out;
//   - the fifth is not a number: the expiry is left out (session cookies);
//   - else the value is empty and its tab was dropped.
func netscapeCookie(f []string) (name, value string, expiry int64) {
	if len(f) >= 7 {
		expiry, _ = strconv.ParseInt(strings.TrimSpace(f[4]), 10, 64)
		return f[5], f[6], expiry
	}
	expiry, err := strconv.ParseInt(strings.TrimSpace(f[4]), 10, 64)
	if strings.HasPrefix(f[1], "/") || err != nil {
		if strings.HasPrefix(f[1], "/") {
			expiry, _ = strconv.ParseInt(strings.TrimSpace(f[3]), 10, 64)
		}
		return f[4], f[5], expiry
	}
	return f[5], "", expiry
}

func parseNetscapeCookies(data []byte, exp expiries) (map[string]string, error) {
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
		if len(f) < 6 {
			return nil, fmt.Errorf("cookies.txt line %d: want 7 tab-separated fields (domain, flag, path, secure, expiry, name, value), got %d (a value broken over two lines, or spaces instead of tabs?)", n, len(f))
		}
		domain := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(f[0]), "."))
		site, ok := amazonSite(domain)
		if !ok {
			continue
		}
		if byDomain[site] == nil {
			byDomain[site] = map[string]string{}
		}
		name, value, expiry := netscapeCookie(f)
		byDomain[site][name] = value
		exp.add(name, value, float64(expiry))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cookies.txt: %w", err)
	}
	return pickSite(byDomain, "cookies.txt")
}

// pickSite returns the cookies of the one Amazon site of byDomain that has
// an authentication cookie (at-*); what names the format in errors.
func pickSite(byDomain map[string]map[string]string, what string) (map[string]string, error) {
	if len(byDomain) == 0 {
		return nil, fmt.Errorf("%s holds no amazon.* cookies: export the cookies of the Amazon Photos tab (www.amazon.<tld>) while logged in", what)
	}
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
			maps.Copy(out, m)
		}
		return out, nil
	case 1:
		if m := byDomain["amazon"]; m != nil && withAuth[0] != "amazon" {
			// Cookies without a domain join the site's.
			out := maps.Clone(m)
			maps.Copy(out, byDomain[withAuth[0]])
			return out, nil
		}
		return byDomain[withAuth[0]], nil
	default:
		return nil, fmt.Errorf("%s holds sessions of several Amazon sites (%s): export only the cookies of the site you use for Amazon Photos", what, strings.Join(withAuth, ", "))
	}
}

// AmazonSite returns "amazon.<tld>" for a cookie's domain of an Amazon
// retail site ("www.amazon.co.uk", ".amazon.de"), and false for any other
// domain, amazonaws.com included.
func AmazonSite(domain string) (string, bool) {
	return amazonSite(strings.ToLower(strings.TrimPrefix(strings.TrimSpace(domain), ".")))
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
			return nil, errors.New("cookies file is not JSON, not a Netscape cookies.txt and not a single Cookie header line (a value broken by a line break?): use one of the formats of the README (e.g. session-id=...; ubid-main=...; at-main=...) on one line")
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

// checkCookie refuses a cookie that cannot go into a Cookie header as it
// is: a line break or another control character in its name or value (a
// value copied across two lines), or a ";" that would split it in two.
// The error names the cookie, never its value.
func checkCookie(name, value string) error {
	if strings.IndexFunc(name, isCookieCtl) >= 0 || strings.ContainsAny(name, ";= ") {
		return fmt.Errorf("a cookie name holds a line break, a control character, a space, \";\" or \"=\" (%q): export the cookies again", name)
	}
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("the value of cookie %s holds a line break (CR/LF): a cookie value is one line; copy it again without the line break", name)
	}
	if strings.IndexFunc(value, isCookieCtl) >= 0 || strings.Contains(value, ";") {
		return fmt.Errorf("the value of cookie %s holds a control character or \";\", which no browser sends: copy it again from the browser", name)
	}
	return nil
}

func isCookieCtl(r rune) bool { return r < 0x20 || r == 0x7f }

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
