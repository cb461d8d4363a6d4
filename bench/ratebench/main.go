// Command ratebench measures apsql against a rate-limited emulator (issue
// 17 item 1): SYNC NODES of a library at N requests per second, and a
// DOWNLOAD of a few files at a lower rate, each next to its ceiling (the
// requests the statement needs divided by the rate, less the one second
// of burst the service's bucket holds), with the 429s the service sent
// and a check that no page and no file was lost (the mirror against the
// emulator's own count, the files against its content).
//
//	go run -tags duckdb_arrow ./bench/ratebench -nodes 20000 -rate 5 -runs 3 -concurrency 16,4
//	go run -tags duckdb_arrow ./bench/ratebench -download 20 -rate 1
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/output"
)

func main() {
	nodes := flag.Int("nodes", 20000, "library size")
	rate := flag.Float64("rate", 5, "the emulator's requests per second")
	runs := flag.Int("runs", 3, "runs per concurrency")
	conc := flag.String("concurrency", "16,4", "comma-separated --concurrency values")
	download := flag.Int("download", 0, "DOWNLOAD this many files instead of SYNC NODES")
	flag.BoolVar(&verbose, "v", false, "print the client's events")
	flag.Parse()
	if err := run(*nodes, *rate, *runs, *conc, *download); err != nil {
		fmt.Fprintln(os.Stderr, "ratebench:", err)
		os.Exit(1)
	}
}

var verbose bool

func run(nodes int, rate float64, runs int, concs string, download int) error {
	ctx := context.Background()
	srv, err := emulator.New(emulator.Options{Nodes: nodes, Seed: 1})
	if err != nil {
		return err
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer srv.Close()
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		return err
	}
	want, err := srv.Count(mirror.DefaultFilter)
	if err != nil {
		return err
	}
	for _, cs := range strings.Split(concs, ",") {
		conc, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil {
			return err
		}
		for r := 1; r <= runs; r++ {
			srv.SetFaults(0, 0, 0, 0)
			time.Sleep(1500 * time.Millisecond) // the service's bucket full again
			var refused atomic.Int64
			var lastRate atomic.Value
			c, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: url, MaxConcurrency: conc, Events: func(e fetch.Event) {
				if verbose && e.Kind != fetch.EventPage {
					fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), e)
				}
				if e.Kind == fetch.EventThrottled && e.Status == 429 {
					refused.Store(e.Refused)
					lastRate.Store(e.Rate)
				}
			}})
			if err != nil {
				return err
			}
			db, err := engine.Open(ctx, engine.Memory)
			if err != nil {
				return err
			}
			clientFn := func(context.Context) (*fetch.Client, error) { return c, nil }
			mirror.Register(db.Commands(), clientFn)
			actions.Register(db.Commands(), clientFn)
			sess := engine.NewSession(db)
			sess.Render = output.Human // summaries as people see them
			sess.Yes = true
			var (
				stmt    string
				reqs    int
				dir     string
				ceiling float64
			)
			if download > 0 {
				dir, err = os.MkdirTemp("", "ratebench")
				if err != nil {
					return err
				}
				if _, err := sess.Run(ctx, "SYNC NODES"); err != nil {
					return err
				}
				stmt = fmt.Sprintf("DOWNLOAD WHERE id IN (SELECT id FROM photos ORDER BY id LIMIT %d) TO '%s'", download, dir)
				reqs = 2 * download // contentRedirection and the content host it sends to
			} else {
				stmt = "SYNC NODES"
				reqs = 1 + (want+199)/200 // the count, then the pages
			}
			// The service's bucket holds one second of requests.
			ceiling = max(float64(reqs)-rate, 0) / rate
			srv.SetFaults(0, 0, 0, rate)
			srv.ResetStats()
			t0 := time.Now()
			res, err := sess.Run(ctx, stmt)
			el := time.Since(t0)
			srv.SetFaults(0, 0, 0, 0)
			if err != nil {
				db.Close()
				return fmt.Errorf("%s (concurrency %d, run %d): %w", stmt, conc, r, err)
			}
			if res.Rows != nil {
				res.Rows.Release()
			}
			lost := 0
			if download > 0 {
				lost, err = checkFiles(srv, db, dir, download)
				os.RemoveAll(dir)
			} else {
				var n int
				err = db.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&n)
				lost = want - n
			}
			db.Close()
			if err != nil {
				return err
			}
			st := srv.Stats()
			lr, _ := lastRate.Load().(float64)
			fmt.Printf("%-12s rate %g  concurrency %2d  run %d: %6.1f s  ceiling %5.1f s  ratio %.2f  requests %4d  429s %4d (client saw %d, last %.1f req/s)  lost %d\n",
				strings.Fields(stmt)[0]+" "+strings.Fields(stmt)[1], rate, conc, r, el.Seconds(), ceiling, el.Seconds()/ceiling, st.Requests, st.Throttled, refused.Load(), lr, lost)
		}
	}
	return nil
}

// checkFiles compares the downloaded files (anywhere under dir, named as
// DOWNLOAD names them) with the emulator's content and returns how many of
// the n nodes have no file with their exact bytes.
func checkFiles(srv *emulator.Server, db *engine.DB, dir string, n int) (int, error) {
	have := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		have[string(b)] = true
		return nil
	})
	if err != nil {
		return 0, err
	}
	rows, err := db.Query(context.Background(), fmt.Sprintf("SELECT id FROM photos ORDER BY id LIMIT %d", n))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	bad := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return 0, err
		}
		want, _ := srv.Content(id)
		if !have[string(want)] {
			bad++
		}
	}
	return bad, rows.Err()
}
