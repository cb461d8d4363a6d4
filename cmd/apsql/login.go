package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/resultset"
	"github.com/apsql/apsql/signin"
)

// subcommand finds the subcommand name among args: the first word that is
// neither a flag nor a flag's value (apsql login, apsql --cookies F login).
// rest is args without it.
func subcommand(args []string, name string) (rest []string, found bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args, false
		}
		if strings.HasPrefix(a, "-") {
			if n := strings.TrimLeft(a, "-"); !strings.Contains(n, "=") && (valueFlags[n] || loginValueFlags[n]) {
				i++ // its value
			}
			continue
		}
		if a != name {
			return args, false
		}
		rest = append(append(rest, args[:i]...), args[i+1:]...)
		return rest, true
	}
	return args, false
}

// loginValueFlags are login's own flags that take a value.
var loginValueFlags = map[string]bool{"browser": true, "profile": true, "site": true}

// loginConfig is the command line of apsql login and apsql whoami.
type loginConfig struct {
	browser, profile, site string
	cookies, tld, endpoint string
}

func parseLoginFlags(name string, args []string, stderr io.Writer) (*loginConfig, error) {
	cfg := &loginConfig{}
	fs := flag.NewFlagSet("apsql "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if name == "login" {
		fs.StringVar(&cfg.browser, "browser", "", "read only this `BROWSER`: "+strings.Join(signin.Browsers, ", "))
		fs.StringVar(&cfg.profile, "profile", "", "read this browser profile `PATH` (its folder, or its cookies.sqlite / Cookies file)")
		fs.StringVar(&cfg.site, "site", "", "take the session of this Amazon `SITE` (amazon.de, co.uk, ...) when the profile holds several")
		fs.StringVar(&cfg.cookies, "cookies", "", "write the cookies to `FILE` (default $APSQL_COOKIES, else ~/.config/apsql/cookies)")
	} else {
		fs.StringVar(&cfg.cookies, "cookies", "", "cookies `FILE` (default $APSQL_COOKIES, else ~/.config/apsql/cookies)")
		fs.StringVar(&cfg.tld, "tld", "", "force the Amazon domain (`TLD`) instead of deriving it from the cookie names")
	}
	fs.StringVar(&cfg.endpoint, "endpoint", "", "send the check to this base `URL` instead of Amazon (the emulator, tests)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if name == "login" {
				fmt.Fprint(stderr, "Usage: apsql login [--browser B] [--profile PATH] [--site SITE] [--cookies FILE]\n\nReads the Amazon Photos session straight from a browser profile (Firefox,\nChromium, Chrome, Brave, Edge on Linux and macOS), checks it with one\nrequest and writes it to the cookies file.\n\nFlags:\n")
			} else {
				fmt.Fprint(stderr, "Usage: apsql whoami [--cookies FILE] [--tld TLD]\n\nSays whether the cookies file signs in, to which site and customer, and when\nits cookies expire. Exit status 1 when not signed in.\n\nFlags:\n")
			}
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, errHelp
		}
		return nil, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("apsql %s takes no argument %q: see apsql %s --help", name, fs.Arg(0), name)}
	}
	if cfg.browser != "" && !contains(signin.Browsers, cfg.browser) {
		return nil, usageError{fmt.Sprintf("--browser %q: use one of %s", cfg.browser, strings.Join(signin.Browsers, ", "))}
	}
	if cfg.cookies == "" {
		cfg.cookies = fetch.DefaultCookiesPath()
	}
	return cfg, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// loginEnv is where apsql login looks for browsers; tests replace it.
var loginEnv = signin.Env{}

// runLogin is `apsql login`.
func runLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseLoginFlags("login", args, stderr)
	if err != nil {
		if errors.Is(err, errHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "apsql: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := login(ctx, cfg, stdin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "apsql login: %v\n", err)
		var ue usageError
		switch {
		case ctx.Err() != nil:
			return exitInterrupted
		case errors.As(err, &ue):
			return exitUsage
		}
		return exitFailed
	}
	return exitOK
}

// session is one signed-in Amazon site of one browser profile.
type session struct {
	store *signin.Store
	site  string
}

func (s session) String() string { return s.site + " in " + s.store.Profile.String() }

// normaliseSite turns "de", "www.amazon.de", "https://www.amazon.de/" into "amazon.de".
func normaliseSite(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s = strings.TrimPrefix(strings.Trim(s, "/."), "www.")
	if !strings.HasPrefix(s, "amazon.") {
		s = "amazon." + strings.TrimPrefix(s, "amazon")
	}
	return strings.TrimRight(s, ".")
}

func login(ctx context.Context, cfg *loginConfig, stdin io.Reader, stdout, stderr io.Writer) error {
	env := loginEnv
	var profiles []signin.Profile
	if cfg.profile != "" {
		p, err := signin.ProfileAt(cfg.profile, cfg.browser)
		if err != nil {
			return err
		}
		profiles = []signin.Profile{p}
	} else {
		ps, err := signin.FindProfiles(env, cfg.browser)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			which := "Firefox, Chromium, Chrome, Brave or Edge"
			if cfg.browser != "" {
				which = cfg.browser
			}
			return fmt.Errorf("found no %s profile with a cookie database in the usual places: pass --profile with the profile's folder", which)
		}
		profiles = ps
	}
	site := ""
	if cfg.site != "" {
		site = normaliseSite(cfg.site)
		if _, ok := fetch.AmazonSite(site); !ok {
			return usageError{fmt.Sprintf("--site %q is not an Amazon site: give the domain you sign in at, e.g. amazon.de or co.uk", cfg.site)}
		}
	}

	// Read every profile (copies, so an open browser does not matter);
	// values are decrypted only for the session taken.
	var found []session
	var problems []error
	for _, p := range profiles {
		st, err := signin.Load(ctx, env, p)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			problems = append(problems, err)
			continue
		}
		sites := st.Sites()
		if len(sites) == 0 {
			problems = append(problems, st.NoSession())
		}
		for _, s := range sites {
			if site == "" || s == site {
				found = append(found, session{st, s})
			}
		}
	}
	if len(found) == 0 {
		switch {
		case len(problems) == 1:
			return problems[0]
		case site != "":
			return fmt.Errorf("no browser profile holds a signed-in session of %s%s", site, listProblems(problems))
		}
		return fmt.Errorf("no browser profile holds a signed-in Amazon session: sign in to Amazon Photos in your browser, then run apsql login again%s", listProblems(problems))
	}
	chosen := found[0]
	if len(found) > 1 {
		i, err := choose(stdin, stderr, found)
		if err != nil {
			return err
		}
		chosen = found[i]
	}

	list, err := chosen.store.Cookies(ctx, env, chosen.site)
	if err != nil {
		return err
	}
	m := make(map[string]string, len(list))
	for _, c := range list {
		m[c.Name] = c.Value
	}
	cookies, err := fetch.NewCookies(m)
	if err != nil {
		return fmt.Errorf("the session of %s is incomplete: %w (sign in again in the browser, then run apsql login again)", chosen, err)
	}
	tld := strings.TrimPrefix(chosen.site, "amazon.")
	client, err := fetch.New(fetch.Config{Cookies: cookies, TLD: tld, Endpoint: cfg.endpoint, MaxConcurrency: 1})
	if err != nil {
		return err
	}
	customer, err := client.OwnerID(ctx)
	if err != nil {
		if errors.Is(err, fetch.ErrUnauthorized) {
			return fmt.Errorf("%s refused the session of %s (401: signed out or expired): sign in again at www.%s in %s, then run apsql login again; %s was not changed", chosen.site, chosen.store.Profile, chosen.site, signin.BrowserTitle(chosen.store.Profile.Browser), cfg.cookies)
		}
		return fmt.Errorf("could not check the session of %s with %s: %w; %s was not changed", chosen, chosen.site, err, cfg.cookies)
	}
	if err := signin.WriteFile(cfg.cookies, signin.CookiesTxt(list)); err != nil {
		return err
	}
	written, err := fetch.LoadCookies(cfg.cookies)
	if err != nil {
		return fmt.Errorf("the cookies file written does not read back: %w", err)
	}
	r := client.Region()
	region := r.Name
	if region == "" {
		region = "unknown: uploads need --endpoint"
	}
	fmt.Fprintf(stdout, "Signed in to %s (region %s) as customer %s, with the session of %s.\n", r.Domain, region, customer, chosen.store.Profile)
	fmt.Fprintf(stdout, "Wrote %d cookies to %s (readable only by you).\n", len(list), cfg.cookies)
	fmt.Fprintf(stdout, "The cookies %s; Amazon may end the session sooner (apsql whoami tells).\n", expiryText(written, time.Now()))
	return nil
}

// listProblems renders what kept profiles out, one per line.
func listProblems(errs []error) string {
	if len(errs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(":")
	for _, e := range errs {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// choose asks which session to take when stdin is a terminal; otherwise it
// is a usage error listing the choices and the flags that make one.
func choose(stdin io.Reader, stderr io.Writer, found []session) (int, error) {
	var b strings.Builder
	for i, s := range found {
		fmt.Fprintf(&b, "\n  %d. %s", i+1, s)
	}
	if !isTerminal(stdin) {
		return 0, usageError{fmt.Sprintf("found %d signed-in Amazon sessions; choose one with --profile PATH and --site SITE:%s", len(found), b.String())}
	}
	return pick(stdin, stderr, found)
}

// pick lists the sessions on w and reads the number of one from r.
func pick(r io.Reader, w io.Writer, found []session) (int, error) {
	fmt.Fprintf(w, "Found %d signed-in Amazon sessions:\n", len(found))
	for i, s := range found {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
	in := bufio.NewScanner(r)
	for tries := 0; tries < 3; tries++ {
		fmt.Fprintf(w, "Which one [1-%d]? ", len(found))
		if !in.Scan() {
			return 0, usageError{"no session chosen: pass --profile and --site"}
		}
		n, err := strconv.Atoi(strings.TrimSpace(in.Text()))
		if err == nil && n >= 1 && n <= len(found) {
			return n - 1, nil
		}
	}
	return 0, usageError{"no session chosen: pass --profile and --site"}
}

// expiryText says when a session's cookies expire: "expire 2027-01-06
// 10:00 UTC (in 30 days)".
func expiryText(c fetch.Cookies, now time.Time) string {
	t, ok := c.Expires()
	if !ok {
		return "have no expiry recorded (the cookies file does not keep one; apsql login writes one that does)"
	}
	when := t.UTC().Format("2006-01-02 15:04 MST")
	d := t.Sub(now)
	if d <= 0 {
		return fmt.Sprintf("expired %s (%s ago)", when, roughDuration(-d))
	}
	return fmt.Sprintf("expire %s (in %s)", when, roughDuration(d))
}

// expiryValue is the "cookies expire" row of whoami and .account.
func expiryValue(c fetch.Cookies, demo bool, now time.Time) string {
	t, ok := c.Expires()
	switch {
	case demo:
		return "never (the demo's own session)"
	case !ok:
		return "not recorded in the cookies file (apsql login writes one that records it)"
	}
	when := t.UTC().Format("2006-01-02 15:04 MST")
	if d := t.Sub(now); d > 0 {
		return fmt.Sprintf("%s (in %s)", when, roughDuration(d))
	}
	return fmt.Sprintf("%s, already past (%s ago): run apsql login", when, roughDuration(now.Sub(t)))
}

// roughDuration is "30 days", "5h 3m", "12m".
func roughDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dm", int(d.Minutes()))
}

// expiryWarning is the one stderr line of a session that ends within a
// day; "" otherwise.
func expiryWarning(path string, c fetch.Cookies, now time.Time) string {
	t, ok := c.Expires()
	if !ok || t.Sub(now) >= 24*time.Hour {
		return ""
	}
	return fmt.Sprintf("apsql: warning: the Amazon cookies in %s %s: run apsql login to read fresh ones from your browser", path, expiryText(c, now))
}

// runWhoami is `apsql whoami`.
func runWhoami(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseLoginFlags("whoami", args, stderr)
	if err != nil {
		if errors.Is(err, errHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "apsql: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	api := &apiClient{cfg: &config{cookies: cfg.cookies, tld: cfg.tld, endpoint: cfg.endpoint, concurrency: 1}, logf: func(string, ...any) {}}
	rows, ok := api.account(ctx)
	for _, r := range rows {
		fmt.Fprintf(stdout, "%-15s %s\n", r[0]+":", r[1])
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	if !ok {
		return exitFailed
	}
	return exitOK
}

// account reports the session: signed in or not (one request), site,
// region, customer id, cookie expiry, cookies file. ok is false when not
// signed in.
func (a *apiClient) account(ctx context.Context) (rows [][2]string, ok bool) {
	path := a.cfg.cookies
	if path == "" {
		path = fetch.DefaultCookiesPath()
	}
	if a.cfg.demo > 0 {
		path = "none: the demo's own session"
	}
	client, err := a.get(ctx)
	if err != nil {
		msg := err.Error()
		if !strings.Contains(msg, "apsql login") {
			msg += " (or run apsql login)"
		}
		return [][2]string{{"signed in", "no: " + msg}, {"cookies file", path}}, false
	}
	r := client.Region()
	region := r.Name
	if region == "" {
		region = "unknown (uploads need --endpoint)"
	}
	customer, err := client.OwnerID(ctx)
	signed := "yes"
	switch {
	case errors.Is(err, fetch.ErrUnauthorized):
		signed, customer = "no: Amazon refused the cookies (401: signed out or expired); run apsql login", "unknown (not signed in)"
	case err != nil:
		signed, customer = "unknown: "+err.Error(), "unknown"
	}
	rows = [][2]string{
		{"signed in", signed},
		{"site", r.Domain},
		{"region", region},
		{"customer id", customer},
		{"cookies expire", expiryValue(a.cookies, a.cfg.demo > 0, time.Now())},
		{"cookies file", path},
		{"cookie names", strings.Join(a.cookies.Names(), ", ")},
		{"api", r.MetadataURL},
	}
	return rows, err == nil
}

// accountDot is .account: the account rows as a result.
func accountDot(api *apiClient) dotCommand {
	return dotCommand{names: []string{".account"}, help: "signed in or not, site, region, customer id, cookie expiry (never cookie values)", run: func(ctx context.Context, sh *shell, args []string) error {
		rows, _ := api.account(ctx)
		b := resultset.New(resultset.Col("property", resultset.String), resultset.Col("value", resultset.String))
		for _, r := range rows {
			b.Append(r[0], r[1])
		}
		return sh.print(ctx, "", &engine.Result{Rows: b.Reader()})
	}}
}

// warnExpiry prints expiryWarning once per process, on the first load of
// the cookies.
func (a *apiClient) warnExpiry(path string, c fetch.Cookies) {
	if a.stderr == nil {
		return
	}
	if s := expiryWarning(path, c, time.Now()); s != "" {
		a.expiryOnce.Do(func() { fmt.Fprintln(a.stderr, s) })
	}
}
