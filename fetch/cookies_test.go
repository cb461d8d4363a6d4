package fetch

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

const (
	secretSession = "SESSIONVALUE-123-4567890"
	secretUbid    = "UBIDVALUE-999-1111111"
	secretAt      = "Atza|SECRETTOKENVALUE"
)

func TestParseCookiesFormats(t *testing.T) {
	netscape := "# Netscape HTTP Cookie File\n" +
		"# https://curl.se/docs/http-cookies.html\n\n" +
		".amazon.co.uk\tTRUE\t/\tTRUE\t1999999999\tsession-id\t" + secretSession + "\n" +
		".amazon.co.uk\tTRUE\t/\tTRUE\t1999999999\tubid-acbuk\t" + secretUbid + "\n" +
		"#HttpOnly_.amazon.co.uk\tTRUE\t/\tTRUE\t1999999999\tat-acbuk\t" + secretAt + "\n" +
		".google.com\tTRUE\t/\tTRUE\t1999999999\tNID\tgoogle\n" +
		"content-eu.drive.amazonaws.com\tFALSE\t/\tTRUE\t1999999999\tx-aws\tnope\n"
	tests := []struct {
		name  string
		input string
		want  []string // names after normalisation
	}{
		{"json hyphen", `{"session-id":"` + secretSession + `","ubid-main":"` + secretUbid + `","at-main":"` + secretAt + `"}`,
			[]string{"at-main", "session-id", "ubid-main"}},
		{"json underscore (upstream README spelling)", `{"session-id":"s","ubid_main":"u","at_main":"a"}`,
			[]string{"at-main", "session-id", "ubid-main"}},
		{"json acb underscore", `{"session_id":"s","ubid_acbuk":"u","at_acbuk":"a","sess_at_acbuk":"x"}`,
			[]string{"at-acbuk", "sess-at-acbuk", "session-id", "ubid-acbuk"}},
		{"json with BOM and spaces", "\xef\xbb\xbf  {\"session-id\":\"s\",\"ubid-acbca\":\"u\",\"at-acbca\":\"a\"}\n",
			[]string{"at-acbca", "session-id", "ubid-acbca"}},
		{"netscape keeps amazon only, HttpOnly lines", netscape,
			[]string{"at-acbuk", "session-id", "ubid-acbuk"}},
		{"netscape without header", "www.amazon.de\tFALSE\t/\tTRUE\t0\tsession-id\ts\n.amazon.de\tTRUE\t/\tTRUE\t0\tubid-acbde\tu\n.amazon.de\tTRUE\t/\tTRUE\t0\tat-acbde\ta\n",
			[]string{"at-acbde", "session-id", "ubid-acbde"}},
		{"cookie-editor json array, other sites dropped", `[
  {"domain": ".amazon.com", "expirationDate": 1999999999, "hostOnly": false, "httpOnly": false, "name": "session-id", "path": "/", "sameSite": "unspecified", "secure": true, "session": false, "storeId": "0", "value": "` + secretSession + `"},
  {"domain": ".amazon.com", "name": "ubid-main", "path": "/", "secure": true, "value": "` + secretUbid + `"},
  {"domain": "www.amazon.com", "httpOnly": true, "name": "at-main", "path": "/", "value": "` + secretAt + `"},
  {"domain": ".google.com", "name": "NID", "value": "google"},
  {"domain": ".amazon.co.uk", "name": "i18n-prefs", "value": "GBP"}
]`, []string{"at-main", "session-id", "ubid-main"}},
		{"json array without domains", `[{"name":"session-id","value":"s"},{"name":"ubid-acbde","value":"u"},{"name":"at-acbde","value":"a"}]`,
			[]string{"at-acbde", "session-id", "ubid-acbde"}},
		{"netscape six fields (no flag, no expiry, empty value)", "# Netscape HTTP Cookie File\n" +
			".amazon.com\t/\tTRUE\t1999999999\tsession-id\ts\n" + // no subdomain flag
			".amazon.com\tTRUE\t/\tTRUE\tubid-main\tu\n" + // no expiry (session cookie)
			"#HttpOnly_.amazon.com\tTRUE\t/\tTRUE\t1999999999\tat-main\ta\n" +
			".amazon.com\tTRUE\t/\tTRUE\t1999999999\tcsm-hit\n", // empty value, its tab dropped
			[]string{"at-main", "csm-hit", "session-id", "ubid-main"}},
		{"netscape six fields without header", ".amazon.com\tTRUE\t/\tTRUE\tsession-id\ts\r\n.amazon.com\tTRUE\t/\tTRUE\tubid-main\tu\r\n.amazon.com\tTRUE\t/\tTRUE\tat-main\ta\r\n",
			[]string{"at-main", "session-id", "ubid-main"}},
		{"utf-16le with BOM (Windows Notepad)", utf16Text(true, true, "Cookie: session-id=s; ubid-main=u; at-main=a\r\n"),
			[]string{"at-main", "session-id", "ubid-main"}},
		{"utf-16be with BOM", utf16Text(false, true, `{"session-id":"s","ubid-main":"u","at-main":"a"}`),
			[]string{"at-main", "session-id", "ubid-main"}},
		{"utf-16le without BOM, cookies.txt", utf16Text(true, false, "# Netscape HTTP Cookie File\r\n.amazon.de\tTRUE\t/\tTRUE\t0\tsession-id\ts\r\n.amazon.de\tTRUE\t/\tTRUE\t0\tubid-acbde\tu\r\n.amazon.de\tTRUE\t/\tTRUE\t0\tat-acbde\tä\r\n"),
			[]string{"at-acbde", "session-id", "ubid-acbde"}},
		{"header line", "Cookie: session-id=s; ubid-acbca=u; at-acbca=a; i18n-prefs=CAD\n",
			[]string{"at-acbca", "i18n-prefs", "session-id", "ubid-acbca"}},
		{"header without prefix, underscores", "session-id=s;ubid_acbjp=u;  at_acbjp=\"a=b\"",
			[]string{"at-acbjp", "session-id", "ubid-acbjp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCookies([]byte(tt.input))
			if err != nil {
				t.Fatalf("ParseCookies: %v", err)
			}
			if got := c.Names(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Names() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCookiesValues(t *testing.T) {
	c, err := ParseCookies([]byte("session-id=s; ubid_acbjp=u; at_acbjp=\"a=b\""))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Value("at-acbjp"); got != "a=b" {
		t.Errorf(`Value("at-acbjp") = %q, want "a=b"`, got)
	}
	if got := c.Value("ubid_acbjp"); got != "u" {
		t.Errorf(`Value("ubid_acbjp") = %q, want "u" (names normalised on lookup too)`, got)
	}
	if got, want := c.Header(), "at-acbjp=a=b; session-id=s; ubid-acbjp=u"; got != want {
		t.Errorf("Header() = %q, want %q", got, want)
	}
}

func TestParseCookiesErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"empty", "  \n", "empty"},
		{"no session-id", `{"ubid-main":"u","at-main":"a"}`, "session-id cookie is missing"},
		{"no at", `{"session-id":"s","ubid-main":"u"}`, "at-main cookie is missing"},
		{"no ubid", `{"session-id":"s","at-acbuk":"a"}`, "ubid-acbuk cookie is missing"},
		{"neither", `{"session-id":"s"}`, "ubid-* and at-* cookies are missing"},
		{"json not strings", `{"session-id":1}`, "not a string"},
		{"json malformed", `{"session-id":"s",`, "malformed"},
		{"netscape short line", "# Netscape HTTP Cookie File\n.amazon.com\tTRUE\t/\n", "want 7 tab-separated fields"},
		{"netscape no amazon", "# Netscape HTTP Cookie File\n.google.com\tTRUE\t/\tTRUE\t0\tNID\tx\n", "no amazon.* cookies"},
		{"netscape two sites", "# Netscape HTTP Cookie File\n" +
			".amazon.com\tTRUE\t/\tTRUE\t0\tat-main\ta\n.amazon.com\tTRUE\t/\tTRUE\t0\tubid-main\tu\n" +
			".amazon.de\tTRUE\t/\tTRUE\t0\tat-acbde\ta\n", "several Amazon sites (amazon.com, amazon.de)"},
		{"several header lines", "session-id=s\nubid-main=u\n", "not a single Cookie header line"},
		{"CRLF in a JSON value", `{"session-id":"s","ubid-main":"u","at-main":"Atza|abc\r\ndef"}`, "value of cookie at-main holds a line break (CR/LF)"},
		{"CRLF in a JSON array value", `[{"name":"session-id","value":"s\r\nt"},{"name":"ubid-main","value":"u"},{"name":"at-main","value":"a"}]`, "value of cookie session-id holds a line break"},
		{"CRLF inside a header value", "session-id=s; ubid-main=u; at-main=Atza|abc\r\ndef\r\n", "a value broken by a line break?"},
		{"CRLF inside a cookies.txt value", ".amazon.com\tTRUE\t/\tTRUE\t0\tat-main\tAtza|abc\r\ndef\r\n", "line 2: want 7 tab-separated fields"},
		{"semicolon in a JSON value", `{"session-id":"s; x=y","ubid-main":"u","at-main":"a"}`, "value of cookie session-id holds a control character or \";\""},
		{"json array of strings", `["session-id=s"]`, "malformed"},
		{"json array without value", `[{"name":"session-id"}]`, "cookie 1 has no \"name\" or no \"value\""},
		{"json array no amazon", `[{"name":"NID","value":"x","domain":".google.com"}]`, "the cookies JSON array holds no amazon.* cookies"},
		{"binary with NUL bytes", "\x00\x00\x01\x02", "NUL bytes"},
		{"utf-16 cut short", "\xff\xfes\x00e\x00s", "odd number of bytes"},
		{"header garbage", "this is not a cookie", "name=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCookies([]byte(tt.input))
			if err == nil {
				t.Fatalf("ParseCookies(%q) succeeded, want error containing %q", tt.input, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseCookies(%q) = %v, want error containing %q", tt.input, err, tt.want)
			}
		})
	}
}

func TestCookiesNeverPrintValues(t *testing.T) {
	c, err := NewCookies(map[string]string{"session-id": secretSession, "ubid-main": secretUbid, "at-main": secretAt})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(c)
	outputs := []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q %d %x", c, c, c, c, c, c, c),
		fmt.Sprintf("%v", struct{ C Cookies }{c}), fmt.Sprintf("%+v", &c), string(j),
		fmt.Errorf("wrapped: %v", c).Error(),
	}
	for _, out := range outputs {
		for _, secret := range []string{secretSession, secretUbid, secretAt} {
			if strings.Contains(out, secret) {
				t.Errorf("output %q leaks a cookie value", out)
			}
		}
	}
	if !strings.Contains(fmt.Sprint(c), "at-main") {
		t.Errorf("String() = %q, want the cookie names", c)
	}
}

func TestLoadCookies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cookies")
	if err := os.WriteFile(path, []byte(`{"session-id":"`+secretSession+`","at-main":"`+secretAt+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadCookies(path)
	if err == nil || !strings.Contains(err.Error(), "ubid-main cookie is missing") || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadCookies(incomplete) = %v, want the file name and the missing cookie", err)
	}
	if err != nil && strings.Contains(err.Error(), secretAt) {
		t.Errorf("error leaks a cookie value: %v", err)
	}
	_, err = LoadCookies(filepath.Join(dir, "absent"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "--cookies") || !strings.Contains(err.Error(), "apsql login") {
		t.Errorf("LoadCookies(absent) = %v, want a does-not-exist error naming --cookies", err)
	}
}

// utf16Text encodes s as UTF-16, little- or big-endian, with or without
// a byte order mark.
func utf16Text(little, bom bool, s string) string {
	order := binary.AppendByteOrder(binary.BigEndian)
	if little {
		order = binary.LittleEndian
	}
	var b []byte
	if bom {
		b = order.AppendUint16(b, 0xfeff)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return string(b)
}

// TestLoadCookiesCRLF: a value broken by a line break is refused with the
// file's name and the cookie's, never its value.
func TestLoadCookiesCRLF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cookies.json")
	if err := os.WriteFile(path, []byte(`{"session-id":"`+secretSession+`","ubid-main":"`+secretUbid+`","at-main":"`+secretAt+`\r\nrest"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadCookies(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "at-main holds a line break") {
		t.Fatalf("LoadCookies(CRLF in a value) = %v, want an error naming %s and the cookie", err, path)
	}
	if strings.Contains(err.Error(), secretAt) {
		t.Errorf("error leaks a cookie value: %v", err)
	}
}

// TestLoadCookiesTooBig: a 100 MB file is refused at once, naming the
// file and its size, without being read whole.
func TestLoadCookiesTooBig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.txt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("Cookie: session-id=s; ubid-main=u; at-main=a\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil { // sparse: no 100 MB written
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err = LoadCookies(path)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "100.0 MiB: too big to be a cookie file") {
		t.Fatalf("LoadCookies(100 MB) = %v, want 'too big to be a cookie file' naming the file and its size", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("LoadCookies(100 MB) allocated %d bytes, want the file not read whole (< 8 MiB)", alloc)
	}
	if took > 2*time.Second {
		t.Errorf("LoadCookies(100 MB) took %v, want a quick refusal", took)
	}
}

func TestDefaultCookiesPath(t *testing.T) {
	t.Setenv("APSQL_COOKIES", "/x/explicit")
	if got := DefaultCookiesPath(); got != "/x/explicit" {
		t.Errorf("with APSQL_COOKIES: %q", got)
	}
	t.Setenv("APSQL_COOKIES", "")
	t.Setenv("XDG_CONFIG_HOME", "/x/config")
	if got, want := DefaultCookiesPath(), filepath.Join("/x/config", "apsql", "cookies"); got != want {
		t.Errorf("with XDG_CONFIG_HOME: %q, want %q", got, want)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "/x/home")
	if got, want := DefaultCookiesPath(), filepath.Join("/x/home", ".config", "apsql", "cookies"); got != want {
		t.Errorf("default: %q, want %q", got, want)
	}
}

func cookiesFor(t *testing.T, suffix string) Cookies {
	t.Helper()
	c, err := NewCookies(map[string]string{"session-id": "s", "ubid-" + suffix: "u", "at-" + suffix: "a"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRegionForEveryRow covers every row of API.md §4.2's mapping.
func TestRegionForEveryRow(t *testing.T) {
	tests := []struct {
		suffix, tld, region, upload string
	}{
		{"main", "com", "NA", "https://content-na.drive.amazonaws.com"},
		{"acbca", "ca", "NA", "https://content-na.drive.amazonaws.com"},
		{"acbmx", "com.mx", "NA", "https://content-na.drive.amazonaws.com"},
		{"acbbr", "com.br", "NA", "https://content-na.drive.amazonaws.com"},
		{"acbuk", "co.uk", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbde", "de", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbfr", "fr", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbit", "it", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbes", "es", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbnl", "nl", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbse", "se", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbpl", "pl", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbbe", "be", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbie", "ie", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbat", "at", "EU", "https://content-eu.drive.amazonaws.com"},
		{"acbjp", "co.jp", "FE", "https://content-jp.drive.amazonaws.com"},
		{"acbau", "com.au", "FE", "https://content-jp.drive.amazonaws.com"},
		{"acbin", "in", "", ""},
		{"acbsg", "sg", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.suffix, func(t *testing.T) {
			r, err := RegionFor(cookiesFor(t, tt.suffix), "")
			if err != nil {
				t.Fatal(err)
			}
			want := Region{
				TLD: tt.tld, Domain: "amazon." + tt.tld, Name: tt.region, Suffix: tt.suffix,
				MetadataURL:  "https://www.amazon." + tt.tld + "/drive/v1",
				UploadURL:    tt.upload,
				ThumbnailURL: "https://thumbnails-photos.amazon." + tt.tld,
			}
			if r != want {
				t.Errorf("RegionFor(%s) = %+v, want %+v", tt.suffix, r, want)
			}
		})
	}
}

func TestRegionForOverridesAndErrors(t *testing.T) {
	two, err := NewCookies(map[string]string{"session-id": "s", "ubid-main": "u", "at-main": "a", "ubid-acbuk": "u", "at-acbuk": "a"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cookies  Cookies
		tld      string
		wantTLD  string
		wantName string
		wantErr  string
	}{
		{"tld overrides cookie domain", cookiesFor(t, "main"), "co.uk", "co.uk", "EU", ""},
		{"tld spelled as domain", cookiesFor(t, "acbuk"), "www.amazon.co.uk", "co.uk", "EU", ""},
		{"tld with dot", cookiesFor(t, "main"), ".de", "de", "EU", ""},
		{"tld unknown region accepted", cookiesFor(t, "main"), "com.tr", "com.tr", "", ""},
		{"tld picks one of two sessions", two, "co.uk", "co.uk", "EU", ""},
		{"two sessions need tld", two, "", "", "", "pass --tld"},
		{"unknown country", cookiesFor(t, "acbzz"), "", "", "", `unknown Amazon country "zz"`},
		{"bad tld", cookiesFor(t, "main"), "co uk", "", "", "not a domain suffix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := RegionFor(tt.cookies, tt.tld)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("RegionFor = %+v, %v; want error containing %q", r, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.TLD != tt.wantTLD || r.Name != tt.wantName {
				t.Errorf("RegionFor = %s/%s, want %s/%s", r.TLD, r.Name, tt.wantTLD, tt.wantName)
			}
		})
	}
	if r, _ := RegionFor(two, "co.uk"); r.Suffix != "acbuk" {
		t.Errorf("--tld co.uk with two sessions chose suffix %q, want acbuk", r.Suffix)
	}
}

func TestNewEndpointAndErrors(t *testing.T) {
	c, err := New(Config{Cookies: cookiesFor(t, "acbuk"), Endpoint: "http://127.0.0.1:9/base/?x=1"})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Region()
	if r.MetadataURL != "http://127.0.0.1:9/base/drive/v1" || r.UploadURL != "http://127.0.0.1:9/base" || r.ThumbnailURL != "http://127.0.0.1:9/base" {
		t.Errorf("endpoint region = %+v", r)
	}
	if r.TLD != "co.uk" {
		t.Errorf("endpoint keeps the cookie site: TLD = %q, want co.uk", r.TLD)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no cookies", Config{}, "no cookies"},
		{"bad endpoint", Config{Cookies: cookiesFor(t, "main"), Endpoint: "127.0.0.1:8080"}, "not an http(s) URL"},
		{"unknown country", Config{Cookies: cookiesFor(t, "acbqq")}, "pass --tld"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

// TestCookiesExpires: cookies.txt and a JSON array export keep each
// cookie's expiry; Expires is the earliest of the session's own cookies
// (session-id, ubid-X, at-X) of the site kept, and unknown for formats
// without one.
func TestCookiesExpires(t *testing.T) {
	early, late := time.Unix(1900000000, 0).UTC(), time.Unix(1950000000, 0).UTC()
	txt := "# Netscape HTTP Cookie File\n" +
		".amazon.de\tTRUE\t/\tTRUE\t1950000000\tsession-id\t111\n" +
		".amazon.de\tTRUE\t/\tTRUE\t1950000000\tubid-acbde\t222\n" +
		"#HttpOnly_.amazon.de\tTRUE\t/\tTRUE\t1900000000\tat-acbde\tAtza|x\n" +
		".amazon.de\tTRUE\t/\tFALSE\t1800000000\ti18n-prefs\tEUR\n" +
		".amazon.com\tTRUE\t/\tTRUE\t1700000000\tsession-id\t999\n"
	arr := `[{"name":"session-id","value":"1","domain":".amazon.com","expirationDate":1950000000.5},
		{"name":"ubid-main","value":"2","domain":".amazon.com","expirationDate":1900000000},
		{"name":"at-main","value":"3","domain":".amazon.com"}]`
	for _, tt := range []struct {
		name, data string
		want       time.Time
		ok         bool
	}{
		{"cookies.txt", txt, early, true},
		{"json array", arr, early, true},
		{"json array without ubid expiry", strings.Replace(arr, `,"expirationDate":1900000000`, "", 1), late, true},
		{"json object", `{"session-id":"1","ubid-main":"2","at-main":"3"}`, time.Time{}, false},
		{"header", "session-id=1; ubid-main=2; at-main=3", time.Time{}, false},
		{"session cookies", strings.ReplaceAll(txt, "1950000000", "0"), early, true},
	} {
		c, err := ParseCookies([]byte(tt.data))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, ok := c.Expires()
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("%s: Expires() = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
