// Command servebench measures the gallery's first grid (apsql serve) on a
// large mirror: the time from the request of a new query to its first page
// of 200 tiles, over HTTP on loopback, against the ceiling of a bare
// `SELECT id FROM nodes LIMIT 200` on the same connection.
//
//	go run -tags duckdb_arrow ./bench/servebench -nodes 1000000 -db /tmp/serve1m.duckdb
//
// The mirror is made once by SYNC from an in-process emulator and kept in
// -db, so a second run measures at once.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/output"
	"github.com/apsql/apsql/serve"
)

func main() {
	nodes := flag.Int("nodes", 1000000, "library size")
	dbFile := flag.String("db", "", "database file to keep the mirror in (default: a temporary one)")
	runs := flag.Int("runs", 7, "runs of each query (the median is reported)")
	memLimit := flag.String("memory-limit", "256MB", "DuckDB memory_limit, as apsql's default")
	flag.Parse()
	if err := run(*nodes, *dbFile, *runs, *memLimit); err != nil {
		fmt.Fprintln(os.Stderr, "servebench:", err)
		os.Exit(1)
	}
}

func run(nodes int, dbFile string, runs int, memLimit string) error {
	ctx := context.Background()
	if dbFile == "" {
		dir, err := os.MkdirTemp("", "servebench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbFile = dir + "/serve.duckdb"
	}
	emu, err := emulator.New(emulator.Options{Nodes: nodes, Seed: 1})
	if err != nil {
		return err
	}
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer emu.Close()
	cookies, err := fetch.NewCookies(emu.Cookies())
	if err != nil {
		return err
	}
	c, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: base})
	if err != nil {
		return err
	}
	client := func(context.Context) (*fetch.Client, error) { return c, nil }
	db, err := engine.Open(ctx, dbFile)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.SetMemoryLimit(ctx, memLimit); err != nil {
		return err
	}
	mirror.Register(db.Commands(), client)
	actions.Register(db.Commands(), client)
	sess := engine.NewSession(db)
	sess.Render = output.Human // summaries as people see them
	var have int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&have); err != nil {
		return err
	}
	if have < nodes*9/10 {
		start := time.Now()
		if _, err := sess.Run(ctx, "SYNC"); err != nil {
			return fmt.Errorf("SYNC: %w", err)
		}
		db.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&have)
		fmt.Printf("mirrored %d nodes in %.1f s\n", have, time.Since(start).Seconds())
	}
	fmt.Printf("mirror: %d nodes in %s; %d cores, GOMAXPROCS %d, DuckDB memory_limit %s\n", have, dbFile, runtime.NumCPU(), runtime.GOMAXPROCS(0), memLimit)

	// The ceiling: a bare LIMIT 200 on the same connection.
	ceiling := median(runs, func() (time.Duration, error) {
		start := time.Now()
		rows, err := db.Query(ctx, "SELECT id FROM nodes LIMIT 200")
		if err != nil {
			return 0, err
		}
		n := 0
		for rows.Next() {
			var id string
			rows.Scan(&id)
			n++
		}
		rows.Close()
		return time.Since(start), rows.Err()
	})
	fmt.Printf("%-58s %8.1f ms\n", "ceiling: SELECT id FROM nodes LIMIT 200", ms(ceiling.d))

	for _, q := range []string{
		"",
		"type:(PHOTOS) AND timeYear:(2019)",
		"SELECT id FROM photos WHERE make = 'Apple' ORDER BY size DESC",
	} {
		var first, ready, deep []time.Duration
		for range runs {
			// A new server each run: its result cache is empty, as for a
			// query never asked before.
			srv, err := serve.New(serve.Options{Session: sess, Client: client, CacheDir: os.TempDir() + "/servebench-thumbs"})
			if err != nil {
				return err
			}
			hs := httptest.NewServer(srv.Handler())
			get := func(path string) (time.Duration, []byte, error) {
				req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
				req.Header.Set("X-Apsql-Token", srv.Token())
				start := time.Now()
				resp, err := hs.Client().Do(req)
				if err != nil {
					return 0, nil, err
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
				}
				return time.Since(start), b, err
			}
			v := url.Values{"q": {q}, "limit": {"200"}}
			d, b, err := get("/api/grid?" + v.Encode())
			if err != nil {
				return err
			}
			var page struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(b, &page); err != nil || len(page.Items) == 0 {
				return fmt.Errorf("first page of %q: %d items (%v)", q, len(page.Items), err)
			}
			first = append(first, d)
			// Then the whole result is materialised (facets wait for it),
			// and a page deep in it reads from the table.
			fd, fb, err := get("/api/facets?" + url.Values{"q": {q}}.Encode())
			if err != nil {
				return err
			}
			ready = append(ready, d+fd)
			var f struct {
				Total int `json:"total"`
			}
			json.Unmarshal(fb, &f)
			v.Set("offset", fmt.Sprint(f.Total/2))
			dd, _, err := get("/api/grid?" + v.Encode())
			if err != nil {
				return err
			}
			deep = append(deep, dd)
			hs.Close()
			srv.Close()
			if len(first) == 1 {
				fmt.Printf("query %q: %d rows\n", q, f.Total)
			}
		}
		m := medianOf(first)
		fmt.Printf("  %-56s %8.1f ms  (%.1f× the ceiling; runs %s)\n", "first grid (200 tiles, HTTP, new query)", ms(m), float64(m)/float64(ceiling.d), list(first))
		fmt.Printf("  %-56s %8.1f ms\n", "first grid + facets (whole result materialised)", ms(medianOf(ready)))
		fmt.Printf("  %-56s %8.1f ms\n", "a page in the middle of the result", ms(medianOf(deep)))
	}
	return nil
}

type timing struct{ d time.Duration }

func median(runs int, f func() (time.Duration, error)) timing {
	var ds []time.Duration
	for range runs {
		d, err := f()
		if err != nil {
			fmt.Fprintln(os.Stderr, "servebench:", err)
			os.Exit(1)
		}
		ds = append(ds, d)
	}
	return timing{medianOf(ds)}
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func list(ds []time.Duration) string {
	out := ""
	for i, d := range ds {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%.0f", ms(d))
	}
	return out
}
