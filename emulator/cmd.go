package emulator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// Main implements "apsql emulate": it builds a library, serves it, prints
// the base URL as the first line of stdout and serves until ctx is
// cancelled. It returns the process exit status (0, 1 on a failure to
// start, 2 on bad usage).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("emulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		opts       Options
		addr       = fs.String("addr", "127.0.0.1:0", "listen address `HOST:PORT`")
		cookiesOut = fs.String("cookies-out", "", "write a cookies `FILE` (JSON) that the emulator accepts")
		families   = fs.Int("families", 0, "add `N` near-duplicate families (an original and 2-5 copies, and a lookalike each) as JPEGs in the folder Families")
	)
	fs.IntVar(&opts.Nodes, "nodes", 10000, "number of photos and videos in the synthetic library")
	fs.Int64Var(&opts.Seed, "seed", 1, "seed of the library, cookies and fault sequence")
	fs.DurationVar(&opts.Latency, "latency", 0, "latency added to every request (e.g. 20ms)")
	fs.Float64Var(&opts.FailRate, "fail-rate", 0, "fraction of requests answered 500 or 503")
	fs.Float64Var(&opts.RateLimit, "rate-limit", 0, "requests per second beyond which 429 is answered (0: none)")
	fs.Float64Var(&opts.RateLimit, "rate", 0, "the same as --rate-limit: a token bucket of `N` requests per second, 429 with Retry-After beyond it")
	var faultFlags []string
	fs.Func("fault", "a hostile condition (repeatable): hang-headers[:ROUTE], trickle:PERIOD[:ROUTE], stall-body:BYTES, upload-unread, signin, captcha, forbidden, unavailable, aggregation-object, aggregation-garbage", func(v string) error {
		faultFlags = append(faultFlags, v)
		return nil
	})
	fs.Float64Var(&opts.ResetRate, "reset-rate", 0, "fraction of responses whose connection is cut mid-body")
	fs.StringVar(&opts.Region, "region", "main", `cookie names issued: "main" (amazon.com) or a country code ("uk", "ca", ...)`)
	fs.BoolVar(&opts.State, "state", false, "serve GET /_emulator/state and the other test hooks")
	fs.BoolVar(&opts.NextToken, "next-token", false, "answer nextToken on /nodes, /children and /trash, and page past 9999 by startToken")
	fs.DurationVar(&opts.TokenTTL, "token-ttl", defaultTokenTTL, "how long after a listing's first page its startTokens are accepted")
	fs.BoolVar(&opts.NoFamily, "no-family", false, "an account without an Amazon Household family: no familyId, and POST /familyArchive/ refuses")
	fs.BoolVar(&opts.RootWithoutFamily, "root-without-family", false, "leave familyId off the root folder while the account has a family (the Family Vault statements then need FAMILY_ID)")
	fs.BoolVar(&opts.UploadDedup, "upload-dedup", false, "answer a /cdproxy/nodes upload of content the library holds with the existing node (no new file)")
	fs.BoolVar(&opts.TrashMissing404, "trash-missing-404", false, "answer a PATCH /trash batch holding an unknown or purged id with 404 for the whole batch (naming the ids), changing nothing")
	fs.BoolVar(&opts.PurgeAny, "purge-any", false, "let POST /bulk/nodes/purge delete nodes that are not in the trash (the service may not check)")
	fs.BoolVar(&opts.UploadNotRegistered, "upload-not-registered", false, `answer POST /cdproxy/nodes 403 "Not Registered" (as for some accounts); /v2/upload still works`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: apsql emulate [flags]")
		fmt.Fprintln(stderr, "Serve an emulated Amazon Photos library; prints its base URL first.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "apsql emulate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if opts.Nodes <= 0 {
		opts.Nodes = -1 // an explicit 0 means an empty library here
	}
	if err := checkFaults(opts.FailRate, opts.ResetRate, opts.RateLimit); err != nil {
		fmt.Fprintf(stderr, "apsql emulate: %v\n", err)
		return 2
	}
	if err := checkTokenTTL(opts.TokenTTL); err != nil {
		fmt.Fprintf(stderr, "apsql emulate: %v\n", err)
		return 2
	}
	start := time.Now()
	s, err := New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "apsql emulate: %v\n", err)
		return 2
	}
	if *families > 0 {
		if _, err := s.AddFamilies("Families", *families, opts.Seed); err != nil {
			fmt.Fprintf(stderr, "apsql emulate: %v\n", err)
			return 2
		}
	}
	for _, f := range faultFlags {
		if err := s.parseFault(f); err != nil {
			fmt.Fprintf(stderr, "apsql emulate: %v\n", err)
			return 2
		}
	}
	url, err := s.Start(*addr)
	if err != nil {
		fmt.Fprintf(stderr, "apsql emulate: %v\n", err)
		return 1
	}
	defer s.Close()
	if *cookiesOut != "" {
		if err := s.WriteCookiesFile(*cookiesOut); err != nil {
			fmt.Fprintf(stderr, "apsql emulate: %v\n", err)
			return 1
		}
	}
	fmt.Fprintln(stdout, url)
	s.lib.mu.RLock()
	summary := s.lib.describe()
	s.lib.mu.RUnlock()
	fmt.Fprintf(stderr, "emulator: %s (built in %v), owner %s\n", summary, time.Since(start).Round(time.Millisecond), s.OwnerID())
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Shutdown(shut); err != nil {
		return 1
	}
	return 0
}
