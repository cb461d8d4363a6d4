// Command firstlab measures the DuckDB side of a first SYNC apart from the
// listing: the pages of an emulated library are fetched once, then for each
// configuration decoded into record batches held in memory and inserted
// into the empty nodes table of a fresh database file, in one transaction,
// as the first SYNC does (BEGIN, one streamed INSERT, COMMIT), with the CPU
// time of the insert and of the COMMIT printed apart. Configurations run
// alternately, -reps times each, so that a busy machine weighs on all alike.
//
//	go build -tags duckdb_arrow -o /tmp/firstlab ./bench/firstlab
//	/tmp/firstlab -nodes 300000 -reps 3 -configs "2048;8192;2048||SET threads = 1"
//
// A configuration is "ROWS[|SQL[|COMMITSQL]]": ROWS rows per record batch;
// SQL statements, separated by ",,", run after the database is opened (they
// may recreate nodes: DROP TABLE nodes,,CREATE TABLE nodes(...), to try
// another DDL); COMMITSQL runs inside the transaction just before COMMIT.
// -pause waits before each insert and COMMIT, printing the process id, for
// `perf record -p`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

func main() {
	nodes := flag.Int("nodes", 200000, "library size")
	configs := flag.String("configs", "2048", `configurations separated by ";": ROWS or ROWS|SQL,,SQL`)
	reps := flag.Int("reps", 2, "runs of each configuration (alternating)")
	memLimit := flag.String("memory-limit", "256MB", "DuckDB memory_limit, as SYNC runs")
	pause := flag.Duration("pause", 0, "wait this long before each insert and COMMIT, printing the process id (for perf record -p)")
	flag.Parse()
	if err := run(*nodes, *configs, *reps, *memLimit, *pause); err != nil {
		fmt.Fprintln(os.Stderr, "firstlab:", err)
		os.Exit(1)
	}
}

func run(nodes int, configs string, reps int, memLimit string, pause time.Duration) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "firstlab")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bodies, err := pages(ctx, nodes, filepath.Join(dir, "pages"))
	if err != nil {
		return err
	}
	fmt.Printf("%d pages of %d nodes\n", len(bodies), nodes)
	for r := range reps {
		for i, cfg := range strings.Split(configs, ";") {
			if err := trial(ctx, bodies, cfg, filepath.Join(dir, fmt.Sprintf("db%d_%d.duckdb", r, i)), memLimit, pause); err != nil {
				return fmt.Errorf("%s: %w", cfg, err)
			}
		}
	}
	return nil
}

// pages fetches every /search page of an emulated library once and returns
// the bodies (the client's response cache).
func pages(ctx context.Context, nodes int, cache string) ([][]byte, error) {
	srv, err := emulator.New(emulator.Options{Nodes: nodes, Seed: 1})
	if err != nil {
		return nil, err
	}
	if _, err := srv.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(cache, 0o755); err != nil {
		return nil, err
	}
	c, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: srv.URL(), CacheDir: cache})
	if err != nil {
		return nil, err
	}
	if _, err := c.StreamSearch(ctx, mirror.DefaultFilter, "", func(arrow.RecordBatch) error { return nil }); err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(cache, "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var bodies [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if len(b) > 1000 && strings.Contains(string(b[:200]), `"count"`) {
			bodies = append(bodies, b)
		}
	}
	return bodies, nil
}

// trial decodes every page into batches of the configuration's size, then
// inserts them into a fresh database's nodes table and commits.
func trial(ctx context.Context, bodies [][]byte, cfg, path, memLimit string, pause time.Duration) error {
	rowsText, rest, _ := strings.Cut(cfg, "|")
	sqlText, commitSQL, _ := strings.Cut(rest, "|")
	var rows int
	if _, err := fmt.Sscan(rowsText, &rows); err != nil || rows <= 0 {
		return fmt.Errorf("rows per batch %q: want a positive number", rowsText)
	}
	c0 := cpu()
	d := fetch.NewNodeDecoder(nil, time.Now())
	defer d.Release()
	var batches []arrow.RecordBatch
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	for _, b := range bodies {
		if _, err := d.AppendPage(b); err != nil {
			return err
		}
		if d.Len() >= rows {
			batches = append(batches, d.NewBatch())
		}
	}
	if d.Len() > 0 {
		batches = append(batches, d.NewBatch())
	}
	decode := cpu() - c0

	db, err := engine.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	stmts := []string{"SET memory_limit = " + engine.Quote(memLimit)}
	if sqlText != "" {
		stmts = append(stmts, strings.Split(sqlText, ",,")...)
	}
	for _, q := range stmts {
		if _, err := db.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	wait(pause, "insert")
	t0, c1 := time.Now(), cpu()
	if _, err := db.Exec(ctx, "BEGIN TRANSACTION"); err != nil {
		return err
	}
	in, err := db.Ingester(ctx, "nodes", fetch.NodeSchema())
	if err != nil {
		return err
	}
	st := in.Stream(ctx)
	for _, b := range batches {
		if err := st.Send(ctx, b); err != nil {
			break // Close says why
		}
	}
	if err := st.Close(nil); err != nil {
		return err
	}
	if commitSQL != "" {
		if _, err := db.Exec(ctx, commitSQL); err != nil {
			return fmt.Errorf("%s: %w", commitSQL, err)
		}
	}
	wait(pause, "COMMIT")
	c2, t1 := cpu(), time.Now()
	if _, err := db.Exec(ctx, "COMMIT"); err != nil {
		return err
	}
	c3, t2 := cpu(), time.Now()
	if err := db.Close(); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	label := cfg
	if len(label) > 60 {
		label = label[:57] + "..."
	}
	fmt.Printf("%-60s decode CPU %.2fs | insert CPU %.2fs, wall %.2fs | COMMIT CPU %.2fs, wall %.2fs | DuckDB CPU %.2fs | file %d MB\n",
		label, decode.Seconds(), (c2 - c1).Seconds(), t1.Sub(t0).Seconds(), (c3 - c2).Seconds(), t2.Sub(t1).Seconds(), (c3 - c1).Seconds(), fi.Size()>>20)
	return os.Remove(path)
}

// wait prints the process id and sleeps, when asked to pause.
func wait(pause time.Duration, before string) {
	if pause <= 0 {
		return
	}
	fmt.Printf("pid %d: %s in %s\n", os.Getpid(), before, pause)
	time.Sleep(pause)
}

// cpu is the user+system CPU time of this process, all threads.
func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
