package signin_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/signin"
	"github.com/apsql/apsql/signin/signintest"
)

// session is a signed-in amazon.de session; the values must never show
// in an error or a String.
var session = map[string]string{
	"session-id": "SECRET-SESSION-262-1234567",
	"ubid-acbde": "SECRET-UBID-262-7654321",
	"at-acbde":   "Atza|SECRET-TOKEN-abcdef",
	"i18n-prefs": "EUR",
}

var (
	now     = time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	expires = now.Add(30 * 24 * time.Hour)
	env     = signin.Env{GOOS: "linux", Now: func() time.Time { return now }}
)

// noSecret fails when s holds a cookie value of session.
func noSecret(t *testing.T, what, s string) {
	t.Helper()
	for k, v := range session {
		if k != "i18n-prefs" && strings.Contains(s, v) {
			t.Errorf("%s shows the value of %s: %q", what, k, s)
		}
	}
}

// read loads the profile and returns its sites and the cookies of amazon.de.
func read(t *testing.T, p signin.Profile) ([]string, map[string]signin.Cookie, error) {
	t.Helper()
	st, err := signin.Load(t.Context(), env, p)
	if err != nil {
		return nil, nil, err
	}
	sites := st.Sites()
	list, err := st.Cookies(t.Context(), env, "amazon.de")
	if err != nil {
		return sites, nil, err
	}
	m := map[string]signin.Cookie{}
	for _, c := range list {
		m[c.Name] = c
		noSecret(t, "Cookie.String", c.String()+fmt.Sprintf("%v %+v %#v", c, c, c))
	}
	return sites, m, nil
}

func checkSession(t *testing.T, name string, got map[string]signin.Cookie) {
	t.Helper()
	if len(got) != len(session) {
		t.Errorf("%s: got cookies %v, want %d: %v", name, got, len(session), session)
	}
	for k, v := range session {
		c, ok := got[k]
		if !ok || c.Value != v {
			t.Errorf("%s: cookie %s missing or with a wrong value", name, k)
			continue
		}
		if !c.Expires.Equal(expires) {
			t.Errorf("%s: cookie %s expires %v, want %v", name, k, c.Expires, expires)
		}
		if c.HTTPOnly != strings.HasPrefix(k, "at-") || c.Host != ".amazon.de" || c.Path != "/" {
			t.Errorf("%s: cookie %s: host %q path %q httpOnly %v", name, k, c.Host, c.Path, c.HTTPOnly)
		}
	}
}

// amazonDE is the session's cookies, an expired one of amazon.com (it
// must not count as a site) and a cookie of another site.
func amazonDE() []signintest.Cookie {
	cs := signintest.Amazon("de", session, expires)
	return append(cs, signintest.Other, signintest.Cookie{Host: ".amazon.com", Name: "at-main", Value: "Atza|OLD", Expires: now.Add(-time.Hour)},
		signintest.Cookie{Host: ".amazon.com", Name: "session-id", Value: "OLD", Expires: now.Add(-time.Hour)})
}

func TestFirefox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "abcd.default-release")
	cs := append(amazonDE(),
		// An older session-id in a container: the default one wins.
		signintest.Cookie{Host: ".amazon.de", Name: "session-id", Value: "CONTAINER", Expires: expires, Origin: "^userContextId=2"},
		// An Amazon frame inside another site: not the user's session.
		signintest.Cookie{Host: ".amazon.de", Name: "ubid-acbde", Value: "PARTITIONED", Expires: expires, Origin: "^partitionKey=%28https%2Cexample.org%29"})
	signintest.Firefox(t, dir, cs).Close()
	p, err := signin.ProfileAt(dir, "")
	if err != nil || p.Browser != "firefox" || p.Name != "abcd.default-release" {
		t.Fatalf("ProfileAt = %+v, %v", p, err)
	}
	sites, got, err := read(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sites, []string{"amazon.de"}) {
		t.Errorf("Sites = %v, want [amazon.de] (amazon.com's session expired)", sites)
	}
	checkSession(t, "firefox", got)
}

// TestFirefoxMilliseconds: newer Firefox versions keep expiry in milliseconds.
func TestFirefoxMilliseconds(t *testing.T) {
	dir := t.TempDir()
	db := signintest.Firefox(t, dir, signintest.Amazon("de", session, expires))
	if _, err := db.Exec(`UPDATE moz_cookies SET expiry = expiry * 1000`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	p, _ := signin.ProfileAt(dir, "firefox")
	_, got, err := read(t, p)
	if err != nil {
		t.Fatal(err)
	}
	checkSession(t, "firefox ms", got)
}

// TestFirefoxLocked: Firefox holds its database in exclusive locking mode
// with the newest cookies still in the -wal; the copy reads them.
func TestFirefoxLocked(t *testing.T) {
	dir := t.TempDir()
	db := signintest.Firefox(t, dir, nil)
	defer db.Close()
	for _, q := range []string{`PRAGMA wal_autocheckpoint = 0`, `PRAGMA locking_mode = EXCLUSIVE`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range signintest.Amazon("de", session, expires) {
		if _, err := db.Exec(`INSERT INTO moz_cookies (name, value, host, path, expiry, lastAccessed, creationTime, isSecure, isHttpOnly) VALUES (?, ?, ?, '/', ?, 0, 0, 1, ?)`,
			c.Name, c.Value, c.Host, c.Expires.Unix(), c.HTTPOnly); err != nil {
			t.Fatal(err)
		}
	}
	// The database is locked: opening it in place fails.
	other := signintest.Open(t, filepath.Join(dir, "cookies.sqlite"))
	defer other.Close()
	if _, err := other.Exec(`PRAGMA busy_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := other.QueryRow(`SELECT count(*) FROM moz_cookies`).Scan(&n); err == nil {
		t.Fatalf("the database is not locked (read %d rows in place): the test proves nothing", n)
	}
	if fi, err := os.Stat(filepath.Join(dir, "cookies.sqlite-wal")); err != nil || fi.Size() == 0 {
		t.Fatalf("no -wal beside the database (%v): the test proves nothing", err)
	}
	p, _ := signin.ProfileAt(filepath.Join(dir, "cookies.sqlite"), "")
	_, got, err := read(t, p)
	if err != nil {
		t.Fatal(err)
	}
	checkSession(t, "locked firefox", got)
}

// writeTool puts a shell script named name on a PATH of its own.
func writeTool(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestChromium reads each form of encrypted value the Chromium family
// writes on Linux and macOS, against a database in Chromium's real schema.
func TestChromium(t *testing.T) {
	tools := t.TempDir()
	// secret-tool answers for Chromium's application only, as libsecret does.
	writeTool(t, tools, "secret-tool", `[ "$1 $2 $3" = "lookup application chromium" ] && echo 'keyring-pw-v11' && exit 0; exit 1`+"\n")
	writeTool(t, tools, "security", `[ "$1 $2 $3 $4 $5 $6" = "find-generic-password -w -a Chrome -s Chrome Safe Storage" ] && echo 'keychain-pw' && exit 0; exit 44`+"\n")
	// KWallet keeps Chrome's password in the folder "Chrome Keys".
	writeTool(t, tools, "kwallet-query", `[ "$1 $2 $3 $4 $5" = "--read-password Chrome Safe Storage --folder Chrome Keys kdewallet" ] && echo 'kwallet-pw' && exit 0; echo "Failed to read"; exit 1`+"\n")
	t.Setenv("PATH", tools)
	for _, tt := range []struct {
		name, goos, browser string
		version             int
		enc                 signintest.Encrypt
	}{
		{"plain value column", "linux", "chromium", 21, nil},
		{"v10 peanuts", "linux", "chromium", 21, signintest.CBC("v10", signintest.Key("peanuts", 1), false)},
		{"v10 peanuts host hash", "linux", "chromium", 24, signintest.CBC("v10", signintest.Key("peanuts", 1), true)},
		{"v10 empty password", "linux", "chromium", 21, signintest.CBC("v10", signintest.Key("", 1), false)},
		{"v10 empty password host hash", "linux", "chromium", 24, signintest.CBC("v10", signintest.Key("", 1), true)},
		{"v11 secret-tool", "linux", "chromium", 21, signintest.CBC("v11", signintest.Key("keyring-pw-v11", 1), false)},
		{"v11 secret-tool host hash", "linux", "chromium", 24, signintest.CBC("v11", signintest.Key("keyring-pw-v11", 1), true)},
		{"v11 kwallet-query", "linux", "chrome", 24, signintest.CBC("v11", signintest.Key("kwallet-pw", 1), true)},
		{"macOS keychain", "darwin", "chrome", 21, signintest.CBC("v10", signintest.Key("keychain-pw", 1003), false)},
		{"macOS keychain host hash", "darwin", "chrome", 24, signintest.CBC("v10", signintest.Key("keychain-pw", 1003), true)},
		{"newer compatible version", "linux", "chromium", 25, signintest.CBC("v10", signintest.Key("peanuts", 1), true)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "Default")
			signintest.Chromium(t, dir, tt.version, tt.enc, amazonDE())
			p, err := signin.ProfileAt(dir, tt.browser)
			if err != nil {
				t.Fatal(err)
			}
			e := env
			e.GOOS = tt.goos
			st, err := signin.Load(t.Context(), e, p)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Sites(); !reflect.DeepEqual(got, []string{"amazon.de"}) {
				t.Errorf("Sites = %v, want [amazon.de]", got)
			}
			list, err := st.Cookies(t.Context(), e, "amazon.de")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]signin.Cookie{}
			for _, c := range list {
				got[c.Name] = c
			}
			checkSession(t, tt.name, got)
		})
	}
}

// TestChromiumErrors: a newer layout, missing columns, a keyring that is
// not there, a wrong key, a profile without Amazon cookies: each a clear
// error, none showing a cookie value.
func TestChromiumErrors(t *testing.T) {
	empty := t.TempDir()
	locked := t.TempDir()
	writeTool(t, locked, "secret-tool", "exit 1\n") // a locked keyring answers nothing
	v11 := signintest.CBC("v11", signintest.Key("keyring-pw-v11", 1), true)
	for _, tt := range []struct {
		name    string
		path    string
		build   func(t *testing.T, dir string)
		want    error
		message string
	}{
		{"newer meta version", empty, func(t *testing.T, dir string) {
			signintest.Chromium(t, dir, 99, nil, amazonDE())
			db := signintest.Open(t, filepath.Join(dir, "Network", "Cookies"))
			defer db.Close()
			if _, err := db.Exec(`UPDATE meta SET value = '99' WHERE key = 'last_compatible_version'`); err != nil {
				t.Fatal(err)
			}
		}, signin.ErrSchema, "version 99, newer than the versions apsql reads"},
		{"missing column", empty, func(t *testing.T, dir string) {
			signintest.Chromium(t, dir, 24, nil, amazonDE())
			db := signintest.Open(t, filepath.Join(dir, "Network", "Cookies"))
			defer db.Close()
			if _, err := db.Exec(`ALTER TABLE cookies DROP COLUMN is_httponly`); err != nil {
				t.Fatal(err)
			}
		}, signin.ErrSchema, "lacks the column(s) is_httponly"},
		{"no meta table", empty, func(t *testing.T, dir string) {
			signintest.Chromium(t, dir, 24, nil, amazonDE())
			db := signintest.Open(t, filepath.Join(dir, "Network", "Cookies"))
			defer db.Close()
			if _, err := db.Exec(`DROP TABLE meta`); err != nil {
				t.Fatal(err)
			}
		}, signin.ErrSchema, "has no meta table"},
		{"v11 without a keyring tool", empty, func(t *testing.T, dir string) {
			signintest.Chromium(t, dir, 24, v11, amazonDE())
		}, signin.ErrNoKeyring, "neither secret-tool (package libsecret-tools) nor kwallet-query is installed"},
		{"v11 with a locked keyring", locked, func(t *testing.T, dir string) {
			signintest.Chromium(t, dir, 24, v11, amazonDE())
		}, signin.ErrNoKeyring, `secret-tool found no "Chromium Safe Storage" entry`},
		{"wrong v10 key", empty, func(t *testing.T, dir string) {
			signintest.Chromium(t, dir, 24, signintest.CBC("v10", signintest.Key("not-peanuts", 1), true), amazonDE())
		}, signin.ErrDecrypt, "the v10 key does not decrypt it"},
		{"host hash of another host", empty, func(t *testing.T, dir string) {
			enc := signintest.CBC("v10", signintest.Key("peanuts", 1), true)
			signintest.Chromium(t, dir, 24, func(host, v string) []byte { return enc("www.example.org", v) }, amazonDE())
		}, signin.ErrDecrypt, "does not decrypt"},
		{"no amazon cookies", empty, func(t *testing.T, dir string) {
			signintest.Chromium(t, dir, 24, nil, []signintest.Cookie{{Host: ".example.org", Name: "session-id", Value: "SECRET-SESSION-262-1234567"}})
		}, signin.ErrNoAmazon, "holds no Amazon cookies"},
		{"expired session", empty, func(t *testing.T, dir string) {
			signintest.Chromium(t, dir, 24, nil, signintest.Amazon("de", session, now.Add(-time.Minute)))
		}, signin.ErrNoAmazon, "(amazon.de) has expired: sign in at www.amazon.de in Chromium"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", tt.path)
			dir := filepath.Join(t.TempDir(), "Default")
			tt.build(t, dir)
			p, err := signin.ProfileAt(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = read(t, p)
			if err == nil {
				t.Fatalf("read succeeded, want %v", tt.want)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q, want %v saying %q", err, tt.want, tt.message)
			}
			noSecret(t, "error", err.Error())
		})
	}
}

func TestFirefoxMissingColumn(t *testing.T) {
	dir := t.TempDir()
	db := signintest.Firefox(t, dir, amazonDE())
	if _, err := db.Exec(`ALTER TABLE moz_cookies RENAME COLUMN expiry TO expiry_ms`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	p, _ := signin.ProfileAt(dir, "")
	_, err := signin.Load(t.Context(), env, p)
	if !errors.Is(err, signin.ErrSchema) || !strings.Contains(err.Error(), "lacks the column(s) expiry") {
		t.Errorf("Load = %v, want ErrSchema naming expiry", err)
	}
}

func TestFindProfiles(t *testing.T) {
	home := t.TempDir()
	e := signin.Env{Home: home, GOOS: "linux"}
	signintest.Firefox(t, filepath.Join(home, ".mozilla", "firefox", "x1.default-release"), nil).Close()
	signintest.Chromium(t, filepath.Join(home, ".config", "google-chrome", "Default"), 24, nil, nil)
	signintest.Chromium(t, filepath.Join(home, ".config", "BraveSoftware", "Brave-Browser", "Profile 1"), 24, nil, nil)
	if err := os.MkdirAll(filepath.Join(home, ".config", "chromium", "Empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A Firefox profile kept elsewhere, named in profiles.ini.
	elsewhere := filepath.Join(home, "elsewhere", "work")
	signintest.Firefox(t, elsewhere, nil).Close()
	ini := "[Profile1]\nName=work\nIsRelative=0\nPath=" + elsewhere + "\n\n[Profile0]\nName=default-release\nIsRelative=1\nPath=x1.default-release\nDefault=1\n"
	if err := os.WriteFile(filepath.Join(home, ".mozilla", "firefox", "profiles.ini"), []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	ps, err := signin.FindProfiles(e, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Browser+":"+p.Name)
	}
	if want := []string{"brave:Profile 1", "chrome:Default", "firefox:work", "firefox:x1.default-release"}; !reflect.DeepEqual(got, want) {
		t.Errorf("FindProfiles = %v, want %v", got, want)
	}
	// macOS keeps them under Library/Application Support.
	signintest.Firefox(t, filepath.Join(home, "Library", "Application Support", "Firefox", "Profiles", "y.default"), nil).Close()
	ps, err = signin.FindProfiles(signin.Env{Home: home, GOOS: "darwin"}, "firefox")
	if err != nil || len(ps) != 1 || ps[0].Name != "y.default" {
		t.Errorf("FindProfiles on macOS = %v, %v", ps, err)
	}
	if _, err := signin.FindProfiles(signin.Env{Home: home, GOOS: "windows"}, ""); !errors.Is(err, signin.ErrUnsupported) {
		t.Errorf("FindProfiles on Windows = %v, want ErrUnsupported", err)
	}
	if _, err := signin.ProfileAt(filepath.Join(home, ".config", "chromium", "Empty"), ""); err == nil || !strings.Contains(err.Error(), "holds no cookie database") {
		t.Errorf("ProfileAt an empty folder = %v", err)
	}
	if p, err := signin.ProfileAt(filepath.Join(home, ".config", "google-chrome", "Default"), ""); err != nil || p.Browser != "chrome" {
		t.Errorf("ProfileAt a Chrome profile = %+v, %v; want browser chrome", p, err)
	}
}

// TestWriteFile: the cookies file is replaced whole with mode 0600 and reads
// back with its expiry; a failed write leaves the old file as it was and
// no temporary file behind.
func TestWriteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "apsql")
	path := filepath.Join(dir, "cookies")
	var list []signin.Cookie
	for _, c := range signintest.Amazon("de", session, expires) {
		if c.Host != ".amazon.de" {
			continue
		}
		list = append(list, signin.Cookie{Host: c.Host, Path: "/", Name: c.Name, Value: c.Value, Secure: true, HTTPOnly: c.HTTPOnly, Expires: c.Expires})
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := signin.WriteFile(path, signin.CookiesTxt(list)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cookies file mode %v, %v; want 0600", fi.Mode(), err)
	}
	c, err := fetch.LoadCookies(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range session {
		if c.Value(k) != v {
			t.Errorf("cookie %s did not read back", k)
		}
	}
	if exp, ok := c.Expires(); !ok || !exp.Equal(expires) {
		t.Errorf("Expires = %v, %v; want %v", exp, ok, expires)
	}
	// A folder that cannot be written: an error, the old file kept.
	if os.Getuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o700)
		before, _ := os.ReadFile(path)
		if err := signin.WriteFile(path, []byte("new")); err == nil {
			t.Error("WriteFile into a read-only folder succeeded")
		}
		after, _ := os.ReadFile(path)
		if string(before) != string(after) {
			t.Error("a failed WriteFile changed the cookies file")
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want the cookies file only", len(entries))
	}
}

// TestKeychainDenied: on macOS, a Keychain that refuses the password (the
// user clicked Deny) is a clear error naming the entry.
func TestKeychainDenied(t *testing.T) {
	tools := t.TempDir()
	writeTool(t, tools, "security", "echo 'security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.' >&2; exit 44\n")
	t.Setenv("PATH", tools)
	dir := filepath.Join(t.TempDir(), "Default")
	signintest.Chromium(t, dir, 24, signintest.CBC("v10", signintest.Key("keychain-pw", 1003), true), amazonDE())
	p, _ := signin.ProfileAt(dir, "brave")
	e := env
	e.GOOS = "darwin"
	st, err := signin.Load(t.Context(), e, p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Cookies(t.Context(), e, "amazon.de")
	if !errors.Is(err, signin.ErrNoKeyring) || !strings.Contains(err.Error(), `the Keychain gave no "Brave Safe Storage" password`) {
		t.Errorf("Cookies = %v, want ErrNoKeyring naming Brave Safe Storage", err)
	}
	if err != nil {
		noSecret(t, "error", err.Error())
	}
}
