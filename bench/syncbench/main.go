// Command syncbench measures SYNC against the emulator running in another
// process: nodes per second, peak memory, the ceiling set by the service,
// and where the time goes (decode, DuckDB insert, swap).
//
//	go run -tags duckdb_arrow ./bench/syncbench -nodes 100000
//	go run -tags duckdb_arrow ./bench/syncbench -nodes 40000 -latency 200ms -rate-limit 20
//
// It starts itself with -role emulate (the emulator, as "apsql emulate"
// would) and runs the sync in this process, so the peak RSS it reports is
// the sync's alone.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/output"
)

// profile is the -cpuprofile file ("" for none); profiled says which SYNC
// it covers (-profile).
var profile, profiled string

// emuPID is the emulator's process id (its CPU time is read from /proc).
var emuPID int

func main() {
	role := flag.String("role", "sync", "sync (default: start the emulator and measure) or emulate (serve; used by sync)")
	nodes := flag.Int("nodes", 100000, "library size")
	latency := flag.Duration("latency", 0, "emulator latency per request")
	rateLimit := flag.Float64("rate-limit", 0, "emulator requests per second (429 beyond)")
	memLimit := flag.String("memory-limit", "", "DuckDB memory_limit for the sync (e.g. 300MB); empty keeps DuckDB's default")
	breakdown := flag.Bool("breakdown", true, "also measure decode and insert separately")
	goMemLimit := flag.Int64("go-memory-limit", 0, "Go soft memory limit of the sync process in MiB (0: the Go default), as apsql sets it")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the sync process (the SYNC named by -profile) to `FILE`")
	flag.StringVar(&profiled, "profile", "first", "which SYNC -cpuprofile covers: first, or the label's start of a re-SYNC (\"re-SYNC 1 (no\", \"re-SYNC 1 (1%\")")
	changed := flag.Float64("changed", 0.01, "share of the nodes renamed on the service before each re-SYNC with changes (0: none)")
	rounds := flag.Int("rounds", 1, "re-SYNCs with nothing changed, then as many with -changed renamed, each next to its own ceiling")
	dbFile := flag.String("db", "", "database file (default: a file in a temporary folder; :memory: for none)")
	flag.Parse()
	if *role == "emulate" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		os.Exit(emulator.Main(ctx, flag.Args(), os.Stdout, os.Stderr))
	}
	profile = *cpuProfile
	if *goMemLimit > 0 {
		debug.SetMemoryLimit(*goMemLimit << 20)
	}
	if err := run(*nodes, *latency, *rateLimit, *memLimit, *dbFile, *breakdown, *changed, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "syncbench:", err)
		os.Exit(1)
	}
}

func run(nodes int, latency time.Duration, rateLimit float64, memLimit, dbFile string, breakdown bool, changed float64, rounds int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "syncbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cookiesFile := filepath.Join(dir, "cookies.json")

	args := []string{"-role", "emulate", "--", "-nodes", strconv.Itoa(nodes), "-cookies-out", cookiesFile,
		"-latency", latency.String(), "-rate-limit", strconv.FormatFloat(rateLimit, 'f', -1, 64)}
	emu := exec.Command(os.Args[0], args...)
	emu.Stderr = os.Stderr
	out, err := emu.StdoutPipe()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := emu.Start(); err != nil {
		return err
	}
	defer func() { _ = emu.Process.Signal(os.Interrupt); _ = emu.Wait() }()
	emuPID = emu.Process.Pid
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("emulator did not print its URL: %w", err)
	}
	url := strings.TrimSpace(line)
	fmt.Printf("emulator: %d nodes at %s, built in %s (latency %s, rate limit %g/s)\n", nodes, url, time.Since(t0).Round(time.Millisecond), latency, rateLimit)

	cookies, err := fetch.LoadCookies(cookiesFile)
	if err != nil {
		return err
	}
	var retries, throttled atomic.Int64
	client, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: url, Events: func(e fetch.Event) {
		switch e.Kind {
		case fetch.EventRetry:
			retries.Add(1)
		case fetch.EventThrottled:
			throttled.Add(1)
		}
	}})
	if err != nil {
		return err
	}

	// Ceiling: the same listing with ids only (HTTP + the emulator's
	// rendering, no decoding into Arrow, no DuckDB).
	t := time.Now()
	cpu0, emu0 := cpuTime(), emuCPU()
	ids, err := client.StreamSearchIDs(ctx, mirror.DefaultFilter)
	if err != nil {
		return fmt.Errorf("ceiling listing: %w", err)
	}
	ceiling := float64(len(ids)) / time.Since(t).Seconds()
	ceilCPU := cpuTime() - cpu0 + emuCPU() - emu0
	fmt.Printf("ceiling (ids-only listing): %d nodes in %s = %.0f nodes/s; CPU %.1f s here, %.1f s in the emulator\n", len(ids), time.Since(t).Round(time.Millisecond), ceiling, (cpuTime() - cpu0).Seconds(), (emuCPU() - emu0).Seconds())
	if rateLimit > 0 {
		theory := rateLimit * 200
		fmt.Printf("ceiling (rate limit x page size): %.0f nodes/s\n", theory)
		ceiling = min(ceiling, theory)
	}
	ids = nil
	// Give the ceiling listing's memory back and restart the peak (VmHWM)
	// from here, so that the peak RSS below is the SYNC's, as in a fresh
	// apsql process.
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		fmt.Fprintf(os.Stderr, "syncbench: cannot reset the peak RSS (%v); it includes the ceiling listing\n", err)
	}
	retries.Store(0)
	throttled.Store(0)

	// The SYNC, as a user runs it.
	if dbFile == "" {
		dbFile = filepath.Join(dir, "ap.duckdb")
	}
	db, err := engine.Open(ctx, dbFile)
	if err != nil {
		return err
	}
	defer db.Close()
	if memLimit != "" {
		if _, err := db.Exec(ctx, "SET memory_limit = "+engine.Quote(memLimit)); err != nil {
			return err
		}
	}
	mirror.Register(db.Commands(), func(context.Context) (*fetch.Client, error) { return client, nil })
	sess := engine.NewSession(db)
	sess.Render = output.Human // summaries as people see them
	sess.Logf = func(format string, args ...any) { fmt.Printf("      "+format+"\n", args...) }
	rssBefore := peakRSS()
	if profiled == "first" {
		stop, err := startProfile()
		if err != nil {
			return err
		}
		defer stop()
	}
	goPeak := sampleGoMemory()
	t = time.Now()
	cpu0, emu0 = cpuTime(), emuCPU()
	res, err := sess.Run(ctx, "SYNC")
	cpu := cpuTime() - cpu0
	emuUsed := emuCPU() - emu0
	pprof.StopCPUProfile()
	goPeakBytes := goPeak()
	if err != nil {
		return err
	}
	elapsed := time.Since(t)
	res.Rows.Release()
	rss := peakRSS()
	var n int64
	if err := db.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&n); err != nil {
		return err
	}
	rate := float64(n) / elapsed.Seconds()
	fmt.Printf("SYNC: %d nodes in %s = %.0f nodes/s (%.0f%% of the ceiling, %.2fx its time); load %s; %s\n", n, elapsed.Round(time.Millisecond), rate, 100*rate/ceiling, ceiling/rate, loadAvg(), res.Summary)
	fmt.Printf("      retries %d, throttled %d, failed pages 0 (SYNC succeeded)\n", retries.Load(), throttled.Load())
	fmt.Printf("      CPU time of the sync process (user+system, all threads): %.1f s = %.2f cores busy on average; the emulator's: %.1f s; %.2fx the ceiling's CPU\n", cpu.Seconds(), cpu.Seconds()/elapsed.Seconds(), emuUsed.Seconds(), (cpu+emuUsed).Seconds()/ceilCPU.Seconds())
	fmt.Printf("peak RSS of the sync process: %d MB (before SYNC: %d MB; Go runtime's share at its peak: %d MB); GOMAXPROCS %d\n", rss>>20, rssBefore>>20, goPeakBytes>>20, runtime.GOMAXPROCS(0))

	// rounds re-SYNCs with nothing changed, then as many with a share of the nodes
	// renamed on the service (PATCH /nodes/{id}, as another app would),
	// each next to a ceiling listing measured just before it.
	for r := range rounds {
		if err := reSync(ctx, client, sess, fmt.Sprintf("re-SYNC %d (no changes)", r+1)); err != nil {
			return err
		}
	}
	for r := range rounds {
		if changed <= 0 {
			break
		}
		k := int(changed * float64(n))
		t = time.Now()
		if err := renameSome(ctx, client, k, r); err != nil {
			return err
		}
		fmt.Printf("renamed %d nodes on the service in %s\n", k, time.Since(t).Round(time.Millisecond))
		if err := reSync(ctx, client, sess, fmt.Sprintf("re-SYNC %d (%g%% renamed)", r+1, 100*changed)); err != nil {
			return err
		}
	}

	if breakdown {
		return measureBreakdown(ctx, client, db, cookies, url)
	}
	return nil
}

// startProfile starts the -cpuprofile (if any) and returns its stop.
func startProfile() (stop func(), err error) {
	if profile == "" {
		return func() {}, nil
	}
	f, err := os.Create(profile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// ceilingListing times the ids-only listing of every page (fetched, ids
// scanned, nothing decoded or stored) and gives its memory back.
func ceilingListing(ctx context.Context, client *fetch.Client) (time.Duration, int, error) {
	t := time.Now()
	ids, err := client.StreamSearchIDs(ctx, mirror.DefaultFilter)
	d := time.Since(t)
	n := len(ids)
	ids = nil
	debug.FreeOSMemory()
	return d, n, err
}

// reSync measures a SYNC into the filled mirror next to a ceiling listing
// taken just before it, with the peak RSS of the SYNC alone.
func reSync(ctx context.Context, client *fetch.Client, sess *engine.Session, label string) error {
	e0, c0 := emuCPU(), cpuTime()
	ceil, n, err := ceilingListing(ctx, client)
	if err != nil {
		return fmt.Errorf("ceiling listing: %w", err)
	}
	ceilEmu, ceilCPU := emuCPU()-e0, cpuTime()-c0
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	stop := func() {}
	if profiled != "first" && strings.HasPrefix(label, profiled) {
		if stop, err = startProfile(); err != nil {
			return err
		}
	}
	t := time.Now()
	cpu0, emu0 := cpuTime(), emuCPU()
	res, err := sess.Run(ctx, "SYNC")
	stop()
	if err != nil {
		return err
	}
	el := time.Since(t)
	parts := partSeconds(res.Rows)
	if os.Getenv("SYNCBENCH_MEM") != "" {
		r, _ := sess.Run(ctx, "SELECT tag, memory_usage_bytes>>20 AS mb, temporary_storage_bytes>>20 AS tmp FROM duckdb_memory() WHERE memory_usage_bytes > 1000000 OR temporary_storage_bytes > 0")
		if r != nil && r.Rows != nil {
			for r.Rows.Next() {
				b := r.Rows.RecordBatch()
				for i := range int(b.NumRows()) {
					fmt.Printf("      memory: %s %s MB, temporary %s MB\n", b.Column(0).ValueStr(i), b.Column(1).ValueStr(i), b.Column(2).ValueStr(i))
				}
			}
			r.Rows.Release()
		}
	}
	cpu, emu := cpuTime()-cpu0, emuCPU()-emu0
	fmt.Printf("%s: %s, %.2fx the ceiling (ids-only listing of %d nodes just before: %s, CPU %.1f s here and %.1f s in the emulator); peak RSS %d MB; CPU %.1f s, emulator %.1f s: %.2fx the ceiling's CPU; load %s; parts: %s; %s\n",
		label, el.Round(time.Millisecond), el.Seconds()/ceil.Seconds(), n, ceil.Round(time.Millisecond), ceilCPU.Seconds(), ceilEmu.Seconds(), peakRSS()>>20, cpu.Seconds(), emu.Seconds(), (cpu+emu).Seconds()/(ceilCPU+ceilEmu).Seconds(), loadAvg(), parts, res.Summary)
	return nil
}

// partSeconds reads SYNC's result (table, ..., seconds) as "table s, ..."
// and releases it.
func partSeconds(rr array.RecordReader) string {
	defer rr.Release()
	var out []string
	for rr.Next() {
		rec := rr.RecordBatch()
		tables, ok1 := rec.Column(0).(*array.String)
		secs, ok2 := rec.Column(int(rec.NumCols()) - 1).(*array.Float64)
		if !ok1 || !ok2 {
			return "?"
		}
		for i := range int(rec.NumRows()) {
			out = append(out, fmt.Sprintf("%s %.2fs", tables.Value(i), secs.Value(i)))
		}
	}
	return strings.Join(out, ", ")
}

// renameSome renames k nodes spread over the library on the service, eight
// requests at a time, to a name of the round.
func renameSome(ctx context.Context, client *fetch.Client, k, round int) error {
	ids, err := client.StreamSearchIDs(ctx, mirror.DefaultFilter)
	if err != nil {
		return err
	}
	if k <= 0 || len(ids) == 0 {
		return nil
	}
	step := max(1, len(ids)/k)
	work := make(chan string)
	errc := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for id := range work {
				if err == nil {
					_, err = client.RenameNode(ctx, id, fmt.Sprintf("renamed-%d-%s.jpg", round, id), nil)
				}
			}
			errc <- err
		}()
	}
	for i := 0; i < len(ids) && i/step < k; i += step {
		work <- ids[i]
	}
	close(work)
	var first error
	for range 8 {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// measureBreakdown splits a first SYNC into its parts, each measured alone:
// the listing fetched and decoded with nothing inserted (the batches are
// kept in memory: use it up to a few hundred thousand nodes), then those
// batches streamed into an empty keyed table in one transaction (DuckDB
// alone, as the first SYNC inserts), and the decoder alone on one core.
// Each phase prints its CPU time (user+system of this process) beside its
// wall time. Experiments on the DuckDB phase, from the environment:
// SYNCBENCH_SQL (a statement run first, e.g. a SET), SYNCBENCH_NOKEY (the
// table without its primary key), SYNCBENCH_ADDPK (with NOKEY: ALTER
// TABLE ADD PRIMARY KEY after the insert, before the commit) and
// SYNCBENCH_CHECKPOINT (a CHECKPOINT after the commit, timed).
func measureBreakdown(ctx context.Context, client *fetch.Client, db *engine.DB, cookies fetch.Cookies, endpoint string) error {
	// The kept batches exceed apsql's Go soft limit: lift it, or the GC
	// would run without pause and be measured instead.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	var batches []arrow.RecordBatch
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	t := time.Now()
	cpu0 := cpuTime()
	stats, err := client.StreamSearch(ctx, mirror.DefaultFilter, "", func(b arrow.RecordBatch) error {
		b.Retain()
		batches = append(batches, b)
		return nil
	})
	if err != nil && !errors.Is(err, fetch.ErrListingChanged) {
		return err
	}
	fetchDecode := time.Since(t)
	fmt.Printf("breakdown: fetch + decode, nothing inserted: %s (%d pages, %d batches) = %.0f nodes/s; CPU %.2f s\n",
		fetchDecode.Round(time.Millisecond), stats.Pages, len(batches), float64(stats.Fetched)/fetchDecode.Seconds(), (cpuTime() - cpu0).Seconds())

	// DuckDB alone: the same batches into an empty keyed table, committed.
	key := "id"
	if os.Getenv("SYNCBENCH_NOKEY") != "" {
		key = "" // the same table without its primary key
	}
	if _, err := db.Exec(ctx, strings.Replace(db.CreateTableSQL(model.Table{Columns: model.NodeColumns, Key: key}, "bench_keyed"), "IF NOT EXISTS ", "", 1)); err != nil {
		return err
	}
	in, err := db.Ingester(ctx, "bench_keyed", fetch.NodeSchema())
	if err != nil {
		return err
	}
	if q := os.Getenv("SYNCBENCH_SQL"); q != "" {
		if _, err := db.Exec(ctx, q); err != nil {
			return err
		}
		fmt.Printf("breakdown: with %s\n", q)
	}
	t = time.Now()
	cpu0 = cpuTime()
	if _, err := db.Exec(ctx, "BEGIN TRANSACTION"); err != nil {
		return err
	}
	ins := in.Stream(ctx)
	for _, b := range batches {
		if err := ins.Send(ctx, b); err != nil {
			break
		}
	}
	if err := ins.Close(nil); err != nil {
		return err
	}
	if os.Getenv("SYNCBENCH_ADDPK") != "" {
		t1, c1 := time.Now(), cpuTime()
		if _, err := db.Exec(ctx, "ALTER TABLE bench_keyed ADD PRIMARY KEY (id)"); err != nil {
			return err
		}
		fmt.Printf("breakdown: ADD PRIMARY KEY after the insert: %s, CPU %.2f s\n", time.Since(t1).Round(time.Millisecond), (cpuTime() - c1).Seconds())
	}
	streamed := time.Since(t)
	cpuInsert := cpuTime() - cpu0
	if _, err := db.Exec(ctx, "COMMIT"); err != nil {
		return err
	}
	insert := time.Since(t)
	cpuAll := cpuTime() - cpu0
	fmt.Printf("breakdown: DuckDB alone (one INSERT of those batches into a keyed table, then COMMIT): %s = %.0f rows/s (insert %s, CPU %.2f s; commit %s, CPU %.2f s)\n",
		insert.Round(time.Millisecond), float64(in.Rows())/insert.Seconds(), streamed.Round(time.Millisecond), cpuInsert.Seconds(), (insert - streamed).Round(time.Millisecond), (cpuAll - cpuInsert).Seconds())
	if os.Getenv("SYNCBENCH_CHECKPOINT") != "" {
		t, cpu0 = time.Now(), cpuTime()
		if _, err := db.Exec(ctx, "CHECKPOINT"); err != nil {
			return err
		}
		fmt.Printf("breakdown: CHECKPOINT after it: %s, CPU %.2f s\n", time.Since(t).Round(time.Millisecond), (cpuTime() - cpu0).Seconds())
	}

	// Decode alone: 20 pages fetched once, decoded repeatedly on one core.
	// The raw pages come from a client that keeps every answer (--cache).
	cache, err := os.MkdirTemp("", "syncbench-pages-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	rawClient, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: endpoint, CacheDir: cache})
	if err != nil {
		return err
	}
	for off := 0; off < 20*200; off += 200 {
		rec, _, err := rawClient.SearchRecords(ctx, fetch.SearchQuery{Filter: mirror.DefaultFilter, Offset: off, Limit: 200}, time.Now())
		if err != nil {
			return err
		}
		rec.Release()
	}
	pages, err := filepath.Glob(filepath.Join(cache, "*.json"))
	if err != nil {
		return err
	}
	sort.Strings(pages)
	var bodies [][]byte
	for _, p := range pages {
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		bodies = append(bodies, body)
	}
	var size int
	for _, b := range bodies {
		size += len(b)
	}
	d := fetch.NewNodeDecoder(nil, time.Now())
	defer d.Release()
	rows := 0
	t = time.Now()
	for round := 0; time.Since(t) < 2*time.Second; round++ {
		for _, b := range bodies {
			info, err := d.AppendPage(b)
			if err != nil {
				return err
			}
			rows += info.Appended
			if d.Len() >= 2048 {
				d.NewBatch().Release()
			}
		}
	}
	dec := time.Since(t)
	fmt.Printf("breakdown: decode (JSON scan + Arrow build) %.0f nodes/s on one core (%.0f MB/s of JSON, %d bytes/node)\n",
		float64(rows)/dec.Seconds(), float64(rows)*float64(size)/float64(len(bodies)*200)/dec.Seconds()/1e6, size/(len(bodies)*200))
	return nil
}

// sampleGoMemory samples the memory the Go runtime holds from the OS
// (Sys minus HeapReleased) every 50 ms; the returned function stops the
// sampling and returns the largest value seen.
func sampleGoMemory() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if v := ms.Sys - ms.HeapReleased; v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

// cpuTime is the user+system CPU time of this process, all threads (the
// emulator runs in a child process and is not counted).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// emuCPU is the user+system CPU time of the emulator process so far.
func emuCPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", emuPID))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces): utime and
	// stime are the 12th and 13th of them, in clock ticks (100 a second).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// loadAvg is the one-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
