// Command dupesbench measures issue 20's speed targets:
//
//	go run -tags duckdb_arrow ./bench/dupesbench -what hashes -nodes 10000   # SYNC HASHES vs only fetching the thumbnails
//	go run -tags duckdb_arrow ./bench/dupesbench -what make -nodes 1000000 -db big.duckdb
//	go run -tags duckdb_arrow ./bench/dupesbench -what views -db big.duckdb       # duplicates, storage_report, timeline_gaps
//	go run -tags duckdb_arrow ./bench/dupesbench -what near -db big.duckdb        # near_duplicates() over 1M hashes
//
// "make" writes a database of synthetic nodes (5% of them extra copies of
// another node's md5, a fifth in albums) and one pHash per node (random,
// with planted families of near duplicates); "views" and "near" then run
// in a process of their own, so the peak RSS they print is theirs.
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/dupes"
	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/output"
)

func main() {
	what := flag.String("what", "hashes", "hashes, make, views or near")
	nodes := flag.Int("nodes", 10000, "library size")
	dbFile := flag.String("db", "", "database file (make, views, near)")
	runs := flag.Int("runs", 3, "runs of each measurement")
	latency := flag.Duration("latency", 0, "emulator latency per request (hashes)")
	prof := flag.String("cpuprofile", "", "write a CPU profile to `FILE`")
	flag.StringVar(&profPhase, "profphase", "", "with -what hashes: profile only `fetch` (only fetching) or `hashes` (SYNC HASHES) of the first run")
	flag.Parse()
	if *prof != "" && profPhase != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dupesbench:", err)
			os.Exit(1)
		}
		profFile = f
	} else if *prof != "" {
		f, err := os.Create(*prof)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dupesbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	var err error
	switch *what {
	case "hashes":
		err = benchHashes(ctx, *nodes, *runs, *latency)
	case "make":
		err = makeDB(ctx, *dbFile, *nodes)
	case "views":
		err = benchQueries(ctx, *dbFile, *runs, []string{
			`SELECT count(*), sum(size), sum(len(albums)) FROM duplicates`,
			`SELECT sum(count), sum(bytes), sum(duplicate_bytes) FROM storage_report`,
			`SELECT count(*) FROM timeline_gaps`,
		})
	case "query":
		err = benchQueries(ctx, *dbFile, *runs, flag.Args())
	case "near":
		err = benchQueries(ctx, *dbFile, *runs, []string{`SELECT count(*), count(DISTINCT group_id), max(distance) FROM near_duplicates()`})
	default:
		err = fmt.Errorf("-what %q: want hashes, make, views or near", *what)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "dupesbench:", err)
		os.Exit(1)
	}
}

// With -profphase, the profile covers one phase of benchHashes.
var (
	profPhase string
	profFile  *os.File
)

// phase starts (or, given a stop, stops) the profile of a phase.
func phase(name string) (stop func()) {
	if profFile == nil || name != profPhase {
		return func() {}
	}
	if err := pprof.StartCPUProfile(profFile); err != nil {
		return func() {}
	}
	profFile = nil // the first run's only: one profile a file
	return pprof.StopCPUProfile
}

// peakRSS is the process's peak resident set (VmHWM) in MB.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Maxrss >> 10
}

// cpu is the process's user+system CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func open(ctx context.Context, path string) (*engine.DB, error) {
	db, err := engine.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := db.SetMemoryLimit(ctx, "256MB"); err != nil { // the shell's default
		return nil, err
	}
	if err := mirror.RegisterDupes(db, func(context.Context) (*fetch.Client, error) {
		return nil, fmt.Errorf("no service in this benchmark")
	}); err != nil {
		return nil, err
	}
	return db, nil
}

func makeDB(ctx context.Context, path string, n int) error {
	if path == "" {
		return fmt.Errorf("make: give -db FILE")
	}
	db, err := open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	orig := n * 95 / 100
	stmts := []string{
		`DELETE FROM nodes`, `DELETE FROM album_members`, `DELETE FROM albums`,
		fmt.Sprintf(`INSERT INTO nodes (id, name, kind, status, size, md5, createdDate, contentDate, contentType, extension, make, model)
SELECT 'n' || i, 'IMG_' || i || '.jpg', 'FILE', 'AVAILABLE', 100000 + hash(i) %% 5000000,
  md5(CAST(CASE WHEN i < %[1]d THEN i ELSE hash(i) %% %[1]d END AS VARCHAR)),
  TIMESTAMP '2005-01-01' + to_seconds(CAST(hash(i * 7) %% 600000000 AS BIGINT)),
  TIMESTAMP '2005-01-01' + to_seconds(CAST(hash(i * 7) %% 600000000 AS BIGINT)),
  CASE WHEN i %% 10 = 0 THEN 'video/mp4' WHEN i %% 97 = 0 THEN 'application/pdf' ELSE 'image/jpeg' END,
  CASE WHEN i %% 10 = 0 THEN 'mp4' WHEN i %% 97 = 0 THEN 'pdf' ELSE 'jpg' END,
  ['Apple', 'Google', 'Samsung', NULL][1 + i %% 4], ['iPhone 12', 'Pixel 7', 'Galaxy S21', NULL][1 + i %% 4]
FROM range(%[2]d) t(i)`, orig, n),
		`INSERT INTO albums (id, name) SELECT 'a' || i, 'Album ' || i FROM range(200) t(i)`,
		`INSERT INTO album_members SELECT 'a' || (hash(i) % 200), 'n' || i FROM range(0, ` + strconv.Itoa(n) + `, 5) t(i)`,
		`CREATE TABLE IF NOT EXISTS hashes (id VARCHAR, md5 VARCHAR, phash UBIGINT, dhash UBIGINT, status VARCHAR, reason VARCHAR, thumbWidth INTEGER, thumbHeight INTEGER, computedAt TIMESTAMP)`,
		`DELETE FROM hashes`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(ctx, s); err != nil {
			return fmt.Errorf("%.60s: %w", s, err)
		}
	}
	// One pHash per node: random, a quarter of them starting a family of
	// one to five near copies (up to 6 bits apart).
	r := rand.New(rand.NewPCG(1, 2))
	err = db.Raw(func(c *duckdb.Conn) error {
		a, err := duckdb.NewAppenderFromConn(c, "", "hashes")
		if err != nil {
			return err
		}
		var base uint64
		left := 0
		now := time.Now().UTC()
		for i := range n {
			h := r.Uint64()
			if left > 0 {
				h = base
				for range r.IntN(7) {
					h ^= 1 << r.IntN(64)
				}
				left--
			} else if r.IntN(4) == 0 {
				base, left = h, 1+r.IntN(5)
			}
			if err := a.AppendRow("n"+strconv.Itoa(i), nil, h, h, "ok", nil, int32(128), int32(96), now); err != nil {
				return err
			}
		}
		return a.Close()
	})
	if err != nil {
		return err
	}
	// Hashes carry their node's md5, as SYNC HASHES writes them.
	if _, err := db.Exec(ctx, `UPDATE hashes SET md5 = n.md5 FROM nodes n WHERE n.id = hashes.id`); err != nil {
		return err
	}
	if _, err := db.Exec(ctx, `CHECKPOINT`); err != nil {
		return err
	}
	fmt.Printf("made %s: %d nodes and hashes in %v\n", path, n, time.Since(start).Round(time.Millisecond))
	return nil
}

func benchQueries(ctx context.Context, path string, runs int, qs []string) error {
	db, err := open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM nodes`).Scan(&n); err != nil {
		return err
	}
	fmt.Printf("%d nodes, %d CPUs, peak RSS after open %d MB\n", n, runtime.NumCPU(), peakRSS())
	for _, q := range qs {
		var times []time.Duration
		var cpus []time.Duration
		var res string
		for range runs {
			c0, t0 := cpu(), time.Now()
			rows, err := db.Query(ctx, q)
			if err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
			}
			rows.Close()
			times = append(times, time.Since(t0))
			cpus = append(cpus, cpu()-c0)
			res = fmt.Sprint(vals...)
		}
		slices.Sort(times)
		slices.Sort(cpus)
		fmt.Printf("%s\n  → %s; median %v (best %v), CPU median %v; peak RSS %d MB\n", q, res,
			times[len(times)/2].Round(time.Millisecond), times[0].Round(time.Millisecond), cpus[len(cpus)/2].Round(time.Millisecond), peakRSS())
	}
	return nil
}

// benchHashes compares SYNC HASHES of every photo and video of an
// emulated library with only fetching the same thumbnails, 16 at a time
// through the same client, in the same process.
func benchHashes(ctx context.Context, n, runs int, latency time.Duration) error {
	srv, err := emulator.New(emulator.Options{Nodes: n, Seed: 1})
	if err != nil {
		return err
	}
	if _, err := srv.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer srv.Close()
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		return err
	}
	newClient := func() (*fetch.Client, error) {
		return fetch.New(fetch.Config{Cookies: cookies, Endpoint: srv.URL()})
	}
	dir, err := os.MkdirTemp("", "dupesbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var fetchT, hashT, fetchC, hashC []time.Duration // wall and CPU times
	var count int
	var bodies [][]byte // the first run's thumbnails, for the breakdown
	for k := range runs {
		// Only fetching: every thumbnail, read and dropped.
		c, err := newClient()
		if err != nil {
			return err
		}
		db, err := engine.Open(ctx, fmt.Sprintf("%s/lib%d.duckdb", dir, k))
		if err != nil {
			return err
		}
		clientFn := func(context.Context) (*fetch.Client, error) { return c, nil }
		mirror.Register(db.Commands(), clientFn)
		if err := mirror.RegisterDupes(db, clientFn); err != nil {
			return err
		}
		sess := engine.NewSession(db)
		sess.Render = output.Human // summaries as people see them
		if _, err := sess.Run(ctx, "SYNC"); err != nil {
			return err
		}
		var ids, owners []string
		srv.SetFaults(latency, 0, 0, 0)
		rows, err := db.Query(ctx, `SELECT id, ownerId FROM nodes WHERE starts_with(contentType, 'image/') OR starts_with(contentType, 'video/') ORDER BY id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, o string
			if err := rows.Scan(&id, &o); err != nil {
				return err
			}
			ids, owners = append(ids, id), append(owners, o)
		}
		rows.Close()
		count = len(ids)
		keep := k == 0
		if keep {
			bodies = make([][]byte, len(ids))
		}
		// Each measured phase has a fresh client: its adaptive concurrency
		// starts low and ramps up the same way in both.
		if c, err = newClient(); err != nil {
			return err
		}
		stop := phase("fetch")
		t0, c0 := time.Now(), cpu()
		var next atomic.Int64
		var wg sync.WaitGroup
		var ferr atomic.Pointer[error]
		for range 16 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= len(ids) {
						return
					}
					data, err := c.Thumbnail(ctx, ids[i], owners[i], mirror.HashViewBox)
					if err != nil {
						ferr.Store(&err)
					}
					if keep {
						bodies[i] = data
					}
				}
			})
		}
		wg.Wait()
		if e := ferr.Load(); e != nil {
			return *e
		}
		fetchT, fetchC = append(fetchT, time.Since(t0)), append(fetchC, cpu()-c0)
		stop()

		// SYNC HASHES of the same nodes, with a fresh client.
		c2, err := newClient()
		if err != nil {
			return err
		}
		c = c2
		stop = phase("hashes")
		t0, c0 = time.Now(), cpu()
		res, err := sess.Run(ctx, "SYNC HASHES")
		if err != nil {
			return err
		}
		hashT, hashC = append(hashT, time.Since(t0)), append(hashC, cpu()-c0)
		stop()
		if res.Rows != nil {
			for res.Rows.Next() {
				r := res.Rows.RecordBatch()
				for i := range int(r.NumRows()) {
					if r.Column(0).ValueStr(i) != "ok" {
						fmt.Println("  ", r.Column(0).ValueStr(i), r.Column(1).ValueStr(i), r.Column(2).ValueStr(i))
					}
				}
			}
			res.Rows.Release()
		}
		fmt.Println(res.Summary)
		db.Close()
		srv.SetFaults(0, 0, 0, 0)
	}
	// Each run's two phases follow each other within a second or two:
	// the ratio of a pair saw the same machine, whatever else ran on it.
	pairs := make([]float64, len(fetchT))
	for i := range pairs {
		pairs[i] = hashT[i].Seconds() / fetchT[i].Seconds()
	}
	slices.Sort(pairs)
	slices.Sort(fetchT)
	slices.Sort(hashT)
	f, h := fetchT[len(fetchT)/2], hashT[len(hashT)/2]
	fmt.Printf("latency %v: %d thumbnails (viewBox %d), %d runs, %d CPUs: only fetching median %v (%.0f/s), SYNC HASHES median %v (%.0f/s): ratio %.2f\n",
		latency, count, mirror.HashViewBox, runs, runtime.NumCPU(), f.Round(time.Millisecond), float64(count)/f.Seconds(), h.Round(time.Millisecond), float64(count)/h.Seconds(), h.Seconds()/f.Seconds())
	fmt.Println("runs:", strings.Trim(fmt.Sprint(fetchT), "[]"), "|", strings.Trim(fmt.Sprint(hashT), "[]"))
	fmt.Printf("ratio of each run's pair: median %.2f (%s)\n", pairs[len(pairs)/2], strings.Trim(fmt.Sprintf("%.2f", pairs), "[]"))
	// CPU time (client and emulator together, one process) says what
	// each costs whatever else runs on the machine.
	slices.Sort(fetchC)
	slices.Sort(hashC)
	fc, hc := fetchC[len(fetchC)/2], hashC[len(hashC)/2]
	fmt.Printf("CPU: only fetching median %v (%.0f µs a thumbnail), SYNC HASHES median %v (%.0f µs): ratio %.2f\n",
		fc.Round(time.Millisecond), float64(fc.Microseconds())/float64(count), hc.Round(time.Millisecond), float64(hc.Microseconds())/float64(count), hc.Seconds()/fc.Seconds())
	return breakdown(bodies)
}

// breakdown times, on one goroutine, what SYNC HASHES does to each
// fetched thumbnail: decoding it with image/jpeg (dupes.Decode, what it
// did before the Hasher), hashing that image, and a Hasher's HashData
// (luminance-only decode and hash, what it does now). CPU time is the
// process's, so the figures hold on a shared machine.
func breakdown(bodies [][]byte) error {
	var n, size int
	for _, b := range bodies {
		if b != nil {
			n++
			size += len(b)
		}
	}
	if n == 0 {
		return nil
	}
	imgs := make([]image.Image, 0, n)
	measure := func(name string, f func([]byte) error) error {
		runtime.GC()
		c0, t0 := cpu(), time.Now()
		for _, b := range bodies {
			if b != nil {
				if err := f(b); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
		}
		fmt.Printf("  %-36s %5.1f µs CPU, %5.1f µs wall a thumbnail\n", name,
			float64((cpu()-c0).Nanoseconds())/1e3/float64(n), float64(time.Since(t0).Nanoseconds())/1e3/float64(n))
		return nil
	}
	fmt.Printf("per thumbnail (%d thumbnails, %d bytes on average, one goroutine):\n", n, size/n)
	var h dupes.Hasher
	i := 0
	for _, m := range []struct {
		name string
		f    func([]byte) error
	}{
		{"decode with image/jpeg (dupes.Decode)", func(b []byte) error {
			img, err := dupes.Decode(b)
			imgs = append(imgs, img)
			return err
		}},
		{"hash that image (dupes.Hash)", func([]byte) error {
			_, err := dupes.Hash(imgs[i])
			i++
			return err
		}},
		{"Hasher.HashData (both, now)", func(b []byte) error { _, _, err := h.HashData(b); return err }},
	} {
		if err := measure(m.name, m.f); err != nil {
			return err
		}
	}
	return nil
}
