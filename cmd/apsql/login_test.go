package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/signin"
	"github.com/apsql/apsql/signin/signintest"
)

// loginWorld is a home folder with browser profiles and an emulated
// amazon.de account to sign in to.
type loginWorld struct {
	t       *testing.T
	home    string
	srv     *emulator.Server
	url     string
	cookies string // the cookies file login writes
	db      string // the database statements use, in the test's own folder
}

func newLoginWorld(t *testing.T) *loginWorld {
	t.Helper()
	srv, err := emulator.New(emulator.Options{Nodes: 20, Seed: 7, Region: "de"})
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	home := t.TempDir()
	old := loginEnv
	loginEnv = signin.Env{Home: home, GOOS: "linux"}
	t.Cleanup(func() { loginEnv = old })
	t.Setenv("PATH", t.TempDir()) // no keyring tools but the tests' own
	return &loginWorld{t: t, home: home, srv: srv, url: url, cookies: filepath.Join(home, "out", "cookies"), db: filepath.Join(home, "ap.duckdb")}
}

// firefox makes a Firefox profile holding cookies.
func (w *loginWorld) firefox(name string, cookies []signintest.Cookie) string {
	dir := filepath.Join(w.home, ".mozilla", "firefox", name)
	signintest.Firefox(w.t, dir, cookies).Close()
	return dir
}

// run runs apsql with args and checks that no cookie value of the
// emulator shows in its output.
func (w *loginWorld) run(args ...string) (int, string, string) {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(w.t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	for name, v := range w.srv.Cookies() {
		if strings.Contains(stdout.String(), v) || strings.Contains(stderr.String(), v) {
			w.t.Errorf("apsql %s shows the value of cookie %s", strings.Join(args, " "), name)
		}
	}
	return code, stdout.String(), stderr.String()
}

func (w *loginWorld) login(args ...string) (int, string, string) {
	w.t.Helper()
	return w.run(append([]string{"login", "--endpoint", w.url, "--cookies", w.cookies}, args...)...)
}

// noCookieFile fails when login left a cookies file (or a part of one).
func (w *loginWorld) noCookieFile() {
	w.t.Helper()
	entries, _ := os.ReadDir(filepath.Dir(w.cookies))
	if len(entries) > 0 {
		w.t.Errorf("a failed login left %d files in the cookies folder", len(entries))
	}
}

// TestLoginFirefox: apsql login finds the Firefox profile, checks the
// session against the emulator, writes the cookies file 0600 with the
// emulator's cookies and their expiry, and says region, customer and
// expiry; whoami and .account then say the same. No value is printed.
func TestLoginFirefox(t *testing.T) {
	w := newLoginWorld(t)
	exp := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	w.firefox("abc.default-release", append(signintest.Amazon("de", w.srv.Cookies(), exp), signintest.Other))

	code, stdout, stderr := w.login()
	if code != exitOK {
		t.Fatalf("login: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Signed in to amazon.de (region EU) as customer " + w.srv.OwnerID(), `Firefox profile "abc.default-release"`, "Wrote 3 cookies to " + w.cookies, "expire " + exp.UTC().Format("2006-01-02 15:04"), "in 29 days"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("login output lacks %q:\n%s", want, stdout)
		}
	}
	fi, err := os.Stat(w.cookies)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cookies file: %v, mode %v; want 0600", err, fi.Mode())
	}
	c, err := fetch.LoadCookies(w.cookies)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range w.srv.Cookies() {
		if c.Value(k) != v {
			t.Errorf("cookie %s not written as the emulator issued it", k)
		}
	}
	if c.Len() != 3 {
		t.Errorf("cookies file holds %v, want the emulator's 3 (not example.org's)", c)
	}

	code, stdout, stderr = w.run("whoami", "--endpoint", w.url, "--cookies", w.cookies)
	if code != exitOK {
		t.Fatalf("whoami: exit %d: %s%s", code, stdout, stderr)
	}
	for _, want := range []string{"signed in:      yes", "site:           amazon.de", "region:         EU", "customer id:    " + w.srv.OwnerID(), "cookies expire: " + exp.UTC().Format("2006-01-02 15:04"), "cookies file:   " + w.cookies} {
		if !strings.Contains(stdout, want) {
			t.Errorf("whoami lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = w.run(w.db, "-v", "--endpoint", w.url, "--cookies", w.cookies, "-csv", "-c", ".account")
	if code != exitOK || !strings.Contains(stdout, "signed in,yes") || !strings.Contains(stdout, "customer id,"+w.srv.OwnerID()) || !strings.Contains(stdout, "in 29 days") {
		t.Errorf(".account: exit %d:\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("cookies that last 30 days got a warning: %s", stderr)
	}

	// Signed out at Amazon: whoami says so and names apsql login; login
	// refuses the session and leaves the cookies file alone.
	w.srv.ExpireCookies()
	before, _ := os.ReadFile(w.cookies)
	code, stdout, _ = w.run("whoami", "--endpoint", w.url, "--cookies", w.cookies)
	if code != exitFailed || !strings.Contains(stdout, "signed in:      no") || !strings.Contains(stdout, "run apsql login") {
		t.Errorf("whoami after expiry: exit %d:\n%s", code, stdout)
	}
	code, _, stderr = w.run(w.db, "--endpoint", w.url, "--cookies", w.cookies, "-c", "SYNC FOLDERS")
	if code != exitFailed || !strings.Contains(stderr, "401") || !strings.Contains(stderr, "run apsql login") {
		t.Errorf("SYNC after expiry: exit %d: %s; want the 401 to name apsql login", code, stderr)
	}
	code, _, stderr = w.login()
	if code != exitFailed || !strings.Contains(stderr, "amazon.de refused the session") || !strings.Contains(stderr, "was not changed") {
		t.Errorf("login after expiry: exit %d: %s", code, stderr)
	}
	if after, _ := os.ReadFile(w.cookies); !bytes.Equal(before, after) {
		t.Error("a refused login changed the cookies file")
	}
}

// TestLoginExpiryWarning: cookies that expire within a day make a command
// that talks to the service warn once on stderr, however many statements
// it runs.
func TestLoginExpiryWarning(t *testing.T) {
	w := newLoginWorld(t)
	w.firefox("p.default", signintest.Amazon("de", w.srv.Cookies(), time.Now().Add(5*time.Hour)))
	if code, _, stderr := w.login(); code != exitOK {
		t.Fatalf("login: exit %d: %s", code, stderr)
	}
	code, _, stderr := w.run(w.db, "--endpoint", w.url, "--cookies", w.cookies, "-c", "SYNC FOLDERS;\n.usage\n.account")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stderr, "warning: the Amazon cookies in "+w.cookies+" expire"); n != 1 || !strings.Contains(stderr, "(in 4h 59m)") || !strings.Contains(stderr, "run apsql login") {
		t.Errorf("want one warning naming the expiry and apsql login, got %d:\n%s", n, stderr)
	}
	// A local statement loads no cookies and says nothing.
	if _, _, stderr := w.run(w.db, "--cookies", w.cookies, "-c", "SELECT 1"); stderr != "" {
		t.Errorf("a local statement printed %q", stderr)
	}
}

// TestLoginChoices: several sessions (two sites in one profile, two
// profiles) are listed for the user to choose with --site/--profile; each
// flag picks one. Chrome's v11 values are read with the password of a
// secret-tool on PATH.
func TestLoginChoices(t *testing.T) {
	w := newLoginWorld(t)
	exp := time.Now().Add(10 * 24 * time.Hour)
	us := map[string]string{"session-id": "US-SESSION-1", "ubid-main": "US-UBID-2", "at-main": "Atza|US-TOKEN"}
	ff := w.firefox("two.default", append(signintest.Amazon("de", w.srv.Cookies(), exp), signintest.Amazon("com", us, exp)...))

	code, _, stderr := w.login()
	if code != exitUsage || !strings.Contains(stderr, "found 2 signed-in Amazon sessions; choose one with --profile PATH and --site SITE") ||
		!strings.Contains(stderr, "1. amazon.com in Firefox profile \"two.default\"") || !strings.Contains(stderr, "2. amazon.de in Firefox profile") {
		t.Errorf("two sites: exit %d: %s", code, stderr)
	}
	w.noCookieFile()
	if code, stdout, stderr := w.login("--site", "www.amazon.de"); code != exitOK || !strings.Contains(stdout, "Signed in to amazon.de") {
		t.Fatalf("--site www.amazon.de: exit %d: %s%s", code, stdout, stderr)
	}
	os.Remove(w.cookies)

	// A Chrome profile with v11 values beside it.
	tools := filepath.SplitList(os.Getenv("PATH"))[0]
	if err := os.WriteFile(filepath.Join(tools, "secret-tool"), []byte("#!/bin/sh\n[ \"$1 $2 $3\" = \"lookup application chrome\" ] && echo chrome-keyring-pw\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	chrome := filepath.Join(w.home, ".config", "google-chrome", "Profile 2")
	signintest.Chromium(t, chrome, 24, signintest.CBC("v11", signintest.Key("chrome-keyring-pw", 1), true), signintest.Amazon("de", w.srv.Cookies(), exp))
	code, _, stderr = w.login("--site", "amazon.de")
	if code != exitUsage || !strings.Contains(stderr, "amazon.de in Chrome profile \"Profile 2\"") || !strings.Contains(stderr, "amazon.de in Firefox profile") {
		t.Errorf("two profiles: exit %d: %s", code, stderr)
	}
	w.noCookieFile()
	code, stdout, stderr := w.login("--profile", chrome)
	if code != exitOK || !strings.Contains(stdout, `Signed in to amazon.de (region EU) as customer `+w.srv.OwnerID()+`, with the session of Chrome profile "Profile 2"`) {
		t.Fatalf("--profile chrome: exit %d: %s%s", code, stdout, stderr)
	}
	c, err := fetch.LoadCookies(w.cookies)
	if err != nil || c.Value("at-acbde") != w.srv.Cookies()["at-acbde"] {
		t.Errorf("the v11 cookies did not decrypt to the emulator's: %v", err)
	}
	os.Remove(w.cookies)
	if code, _, stderr := w.login("--browser", "chrome"); code != exitOK {
		t.Errorf("--browser chrome: exit %d: %s", code, stderr)
	}
	os.Remove(w.cookies)

	// The Firefox profile by its path, the site not given: two sites.
	if code, _, stderr := w.login("--profile", ff); code != exitUsage || !strings.Contains(stderr, "found 2 signed-in") {
		t.Errorf("--profile with two sites: exit %d: %s", code, stderr)
	}
	if code, _, stderr := w.login("--site", "amazon.fr"); code != exitFailed || !strings.Contains(stderr, "no browser profile holds a signed-in session of amazon.fr") {
		t.Errorf("--site amazon.fr: exit %d: %s", code, stderr)
	}
	w.noCookieFile()
}

// TestLoginBadProfiles: no Amazon cookies, a newer schema, no profile at
// all, a keyring that is not there: a clear error and no cookies file.
func TestLoginBadProfiles(t *testing.T) {
	w := newLoginWorld(t)
	if code, _, stderr := w.login(); code != exitFailed || !strings.Contains(stderr, "found no Firefox, Chromium, Chrome, Brave or Edge profile") {
		t.Errorf("no profiles: exit %d: %s", code, stderr)
	}
	w.firefox("empty.default", []signintest.Cookie{{Host: ".example.org", Name: "a", Value: "b"}})
	if code, _, stderr := w.login(); code != exitFailed || !strings.Contains(stderr, "holds no Amazon cookies: sign in to Amazon Photos in Firefox") {
		t.Errorf("no Amazon cookies: exit %d: %s", code, stderr)
	}
	exp := time.Now().Add(24 * time.Hour * 3)
	newer := filepath.Join(w.home, ".config", "chromium", "Default")
	signintest.Chromium(t, newer, 24, nil, signintest.Amazon("de", w.srv.Cookies(), exp))
	db := signintest.Open(t, filepath.Join(newer, "Network", "Cookies"))
	if _, err := db.Exec(`UPDATE meta SET value = '30'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, _, stderr := w.login()
	if code != exitFailed || !strings.Contains(stderr, "version 30, newer than the versions apsql reads (up to 24)") || !strings.Contains(stderr, "holds no Amazon cookies") {
		t.Errorf("a newer schema: exit %d: %s", code, stderr)
	}
	brave := filepath.Join(w.home, ".config", "BraveSoftware", "Brave-Browser", "Default")
	signintest.Chromium(t, brave, 24, signintest.CBC("v11", signintest.Key("pw", 1), true), signintest.Amazon("de", w.srv.Cookies(), exp))
	code, _, stderr = w.login("--browser", "brave")
	if code != exitFailed || !strings.Contains(stderr, "Brave keeps the key of these cookies (v11) in the desktop keyring, and neither secret-tool") {
		t.Errorf("v11 without a keyring: exit %d: %s", code, stderr)
	}
	w.noCookieFile()
	if code, stdout, _ := w.run("whoami", "--cookies", w.cookies); code != exitFailed || !strings.Contains(stdout, "signed in:      no: cookies file "+w.cookies+" does not exist: run apsql login") {
		t.Errorf("whoami without a cookies file: exit %d: %s", code, stdout)
	}
	if code, _, stderr := w.run("login", "--browser", "netscape"); code != exitUsage || !strings.Contains(stderr, "use one of firefox, chromium, chrome, brave, edge") {
		t.Errorf("--browser netscape: exit %d: %s", code, stderr)
	}
}

func TestPickSession(t *testing.T) {
	found := []session{{site: "amazon.com"}, {site: "amazon.de"}}
	for i := range found {
		found[i].store = &signin.Store{Profile: signin.Profile{Browser: "firefox", Name: "p", Dir: "/p"}}
	}
	var out bytes.Buffer
	i, err := pick(strings.NewReader("7\nx\n2\n"), &out, found)
	if err != nil || i != 1 || strings.Count(out.String(), "Which one [1-2]?") != 3 {
		t.Errorf("pick = %d, %v:\n%s", i, err, out.String())
	}
	if _, err := pick(strings.NewReader(""), &out, found); err == nil {
		t.Error("pick with no answer succeeded")
	}
}

// TestLoginAsks: at a terminal, several sessions are listed and the one
// whose number is typed is taken.
func TestLoginAsks(t *testing.T) {
	if _, err := buildBinary(); err != nil { // while go is on PATH
		t.Fatal(err)
	}
	w := newLoginWorld(t)
	exp := time.Now().Add(10 * 24 * time.Hour)
	us := map[string]string{"session-id": "US-SESSION-1", "ubid-main": "US-UBID-2", "at-main": "Atza|US-TOKEN"}
	w.firefox("two.default", append(signintest.Amazon("de", w.srv.Cookies(), exp), signintest.Amazon("com", us, exp)...))
	tm := startTerm(t, []string{"HOME=" + w.home, "XDG_CONFIG_HOME=" + filepath.Join(w.home, ".config"), "APSQL_COOKIES="}, "login", "--endpoint", w.url)
	out := tm.expect("Which one [1-2]? ")
	if !strings.Contains(out, "1. amazon.com in Firefox profile \"two.default\"") || !strings.Contains(out, "2. amazon.de in Firefox profile \"two.default\"") {
		t.Errorf("the list of sessions: %q", out)
	}
	tm.send("2\r")
	out = tm.expect("apsql whoami tells")
	if !strings.Contains(out, "Signed in to amazon.de (region EU) as customer "+w.srv.OwnerID()) {
		t.Errorf("after choosing 2: %q", out)
	}
	if code := tm.wait(); code != exitOK {
		t.Errorf("exit %d", code)
	}
	c, err := fetch.LoadCookies(filepath.Join(w.home, ".config", "apsql", "cookies"))
	if err != nil || c.Value("at-acbde") != w.srv.Cookies()["at-acbde"] {
		t.Errorf("the default cookies file does not hold the amazon.de session: %v", err)
	}
}

// TestExpiryTexts: the expiry row and the warning, before and after the
// cookies expire, and for a file that keeps no expiry.
func TestExpiryTexts(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(exp time.Time) fetch.Cookies {
		t.Helper()
		var b strings.Builder
		for _, n := range []string{"session-id", "ubid-main", "at-main"} {
			b.WriteString(".amazon.com\tTRUE\t/\tTRUE\t" + itoa(exp.Unix()) + "\t" + n + "\tv\n")
		}
		c, err := fetch.ParseCookies([]byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		c           fetch.Cookies
		value, warn string
	}{
		{at(now.Add(72 * time.Hour)), "2026-12-10 12:00 UTC (in 3 days)", ""},
		{at(now.Add(90 * time.Minute)), "2026-12-07 13:30 UTC (in 1h 30m)", "apsql: warning: the Amazon cookies in F expire 2026-12-07 13:30 UTC (in 1h 30m): run apsql login"},
		{at(now.Add(-25 * time.Hour)), "2026-12-06 11:00 UTC, already past (25h 0m ago): run apsql login", "apsql: warning: the Amazon cookies in F expired 2026-12-06 11:00 UTC (25h 0m ago): run apsql login"},
	} {
		if got := expiryValue(tt.c, false, now); got != tt.value {
			t.Errorf("expiryValue = %q, want %q", got, tt.value)
		}
		if got := expiryWarning("F", tt.c, now); !strings.HasPrefix(got, tt.warn) || (tt.warn == "") != (got == "") {
			t.Errorf("expiryWarning = %q, want %q...", got, tt.warn)
		}
	}
	plain, err := fetch.ParseCookies([]byte("session-id=1; ubid-main=2; at-main=3"))
	if err != nil {
		t.Fatal(err)
	}
	if got := expiryValue(plain, false, now); !strings.HasPrefix(got, "not recorded") || expiryWarning("F", plain, now) != "" {
		t.Errorf("a header line: %q", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
