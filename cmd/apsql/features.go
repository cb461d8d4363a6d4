package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/backup"
	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

// registerFeatureFlags adds the flags of the features that talk to the
// service, the emulator and the actions (SPEC §1).
func registerFeatureFlags(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.cookies, "cookies", "", "cookies `FILE` (JSON, cookies.txt or a Cookie: header line); default $APSQL_COOKIES, else ~/.config/apsql/cookies")
	fs.StringVar(&cfg.tld, "tld", "", "force the Amazon domain (`TLD`: com, ca, co.uk, de, co.jp, ...) instead of deriving it from the cookie names")
	fs.StringVar(&cfg.endpoint, "endpoint", "", "send every request to this base `URL` instead of Amazon (the emulator, tests, proxies)")
	fs.IntVar(&cfg.concurrency, "concurrency", 16, "upper bound `N` on parallel API requests (adaptive below it)")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "how long one request (a page, a file, with its retries) may go `WITHOUT` progress before it fails (default 2m)")
	fs.StringVar(&cfg.cache, "cache", "", "also write every raw API response body to `DIR`")
	fs.BoolVar(&cfg.yes, "yes", false, "answer yes to confirmations (needed for PURGE outside the interactive shell)")
	fs.Var(demoFlag{&cfg.demo}, "demo", "open the shell on a built-in emulated library of `N` items (default 10000; no account needed)")
}

// apiClient creates the API client on first use, so that local-only use
// needs no cookies.
type apiClient struct {
	cfg  *config
	logf func(format string, args ...any)
	// warn, when set (neither -q nor -v), gets a line about a request
	// that keeps failing, so that a long wait is never silent.
	warn     io.Writer
	clearTTY bool // warn is a terminal that may hold a progress bar
	warnMu   sync.Mutex
	lastWarn time.Time

	// stderr, when set, gets the warning of cookies that expire within
	// a day, once (login.go).
	stderr     io.Writer
	expiryOnce sync.Once

	mu      sync.Mutex
	client  *fetch.Client
	cookies fetch.Cookies
}

func (a *apiClient) get(ctx context.Context) (*fetch.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client != nil {
		return a.client, nil
	}
	if a.cookies.Len() == 0 {
		path := a.cfg.cookies
		if path == "" {
			path = fetch.DefaultCookiesPath()
		}
		c, err := fetch.LoadCookies(path)
		if err != nil {
			return nil, err
		}
		a.cookies = c
		a.warnExpiry(path, c)
	}
	c, err := fetch.New(fetch.Config{
		Cookies:        a.cookies,
		TLD:            a.cfg.tld,
		Endpoint:       a.cfg.endpoint,
		MaxConcurrency: a.cfg.concurrency,
		CacheDir:       a.cfg.cache,
		Events:         a.event,
		// --timeout: how long one request may go without progress.
		ProgressTimeout: a.cfg.timeout,
	})
	if err != nil {
		return nil, err
	}
	a.client = c
	return c, nil
}

// warnAfter is the retry of one request from which a user without -v
// hears of it; warnEvery spaces those lines out.
const (
	warnAfter = 3
	warnEvery = 10 * time.Second
)

// event logs retries and throttling with -v. Without -v, a request that
// has failed warnAfter times in a row (the network or the service is in
// trouble) gets a line on stderr, at most one per warnEvery.
func (a *apiClient) event(e fetch.Event) {
	switch e.Kind {
	case fetch.EventRetry, fetch.EventThrottled, fetch.EventWarning, fetch.EventStalled:
		a.logf("%s", e)
	case fetch.EventConcurrency:
		a.logf("%s", e)
	}
	if a.warn == nil {
		return
	}
	var line string
	switch {
	case e.Kind == fetch.EventRetry && e.Attempt >= warnAfter:
		line = fmt.Sprintf("apsql: %s; still retrying (-v shows every retry)", e)
	case e.Kind == fetch.EventThrottled && e.Status == 429:
		line = fmt.Sprintf("apsql: %s; slowing down to what it grants", e)
	case e.Kind == fetch.EventStalled:
		line = "apsql: " + e.String() // why the statement is waiting, once per stall
	default:
		return
	}
	a.warnMu.Lock()
	defer a.warnMu.Unlock()
	if now := time.Now(); now.Sub(a.lastWarn) >= warnEvery || e.Kind == fetch.EventStalled {
		a.lastWarn = now
		clear := ""
		if a.clearTTY {
			clear = "\r\033[K" // over the progress bar, which redraws below
		}
		fmt.Fprintf(a.warn, "%s%s\n", clear, line)
	}
}

// setupFeatures starts the demo emulator if asked and registers apsql's own
// statements and the dot commands that need the service.
func setupFeatures(ctx context.Context, sh *shell) error {
	cfg := sh.cfg
	api := &apiClient{cfg: cfg, logf: sh.sess.Logf, stderr: sh.stderr}
	if !cfg.quiet && !cfg.verbose {
		api.warn, api.clearTTY = sh.stderr, isTerminal(sh.stderr)
	}
	if cfg.demo > 0 {
		if err := startDemo(sh, api); err != nil {
			return err
		}
	}
	sh.sess.Yes = cfg.yes
	sh.api = api
	if err := api.register(sh.sess.DB); err != nil {
		return err
	}
	sh.dots.add(dotCommand{names: []string{".tree"}, args: "[PATH]", help: "the folder tree (SYNC FOLDERS first)", run: func(ctx context.Context, sh *shell, args []string) error {
		// A path may be quoted or not: .tree My Photos, .tree 'My Photos'.
		return mirror.Tree(ctx, sh.sess.DB, sh.out, strings.Join(args, " "))
	}})
	sh.dots.add(dotCommand{names: []string{".usage"}, help: "storage usage from the service", run: func(ctx context.Context, sh *shell, args []string) error {
		res, err := mirror.Usage(ctx, sh.sess, api.get)
		if err != nil {
			return err
		}
		return sh.print(ctx, "", res)
	}})
	sh.dots.add(accountDot(api))
	return nil
}

// register adds apsql's own statements and search() to db. Each database
// has its own registry: .open registers them on the new one.
func (a *apiClient) register(db *engine.DB) error {
	reg := db.Commands()
	mirror.Register(reg, a.get)
	actions.Register(reg, a.get)
	actions.RegisterLabel(reg, a.get)
	backup.Register(reg, a.get)
	if err := backup.RegisterLocalFiles(db); err != nil {
		return fmt.Errorf("register local_files(): %w", err)
	}
	if err := mirror.RegisterDupes(db, a.get); err != nil {
		return err
	}
	if err := mirror.RegisterSearch(db, a.get); err != nil {
		return fmt.Errorf("register search(): %w", err)
	}
	return nil
}

// startDemo serves an emulated library in this process and points the
// client at it.
func startDemo(sh *shell, api *apiClient) error {
	n := sh.cfg.demo
	if sh.cfg.endpoint != "" || sh.cfg.cookies != "" {
		return usageError{"--demo runs its own emulated service: leave out --endpoint and --cookies"}
	}
	srv, err := emulator.New(emulator.Options{Nodes: n, Seed: 1})
	if err != nil {
		return fmt.Errorf("start the demo library: %w", err)
	}
	raiseMemoryLimitBy(liveHeap())
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start the demo library: %w", err)
	}
	sh.cleanup = append(sh.cleanup, func() { srv.Close() })
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		return err
	}
	api.cookies = cookies
	sh.cfg.endpoint = url
	sh.banner = []string{
		fmt.Sprintf("apsql demo: an emulated Amazon Photos library of %d items at %s (database %s).", n, url, sh.sess.DB.Path),
		"Try:",
		"  SYNC;",
		"  SELECT model, count(*) AS n, round(sum(size) / 1e6) AS mb FROM photos GROUP BY ALL ORDER BY n DESC LIMIT 5;",
		"  FIND 'type:(VIDEOS) AND timeYear:(2019)' LIMIT 5;",
		".help lists everything; Ctrl-D leaves.",
	}
	return nil
}

// liveHeap is the Go heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// raiseMemoryLimitBy lifts the Go soft memory limit, where one is set, by
// n bytes: the in-process demo library lives beside the shell's own
// buffers, and a large one (--demo=1000000 holds ~170 MiB) would otherwise
// keep the GC running without pause.
func raiseMemoryLimitBy(n int64) {
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		debug.SetMemoryLimit(limit + n)
	}
}

// runEmulate is `apsql emulate`.
func runEmulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return emulator.Main(ctx, args, stdout, stderr)
}

var _ engine.Progress = (*termProgress)(nil)
