// Command emulatorbench measures how many /search pages the emulator serves
// per second on loopback: one client, a fixed number of concurrent requests,
// pages of 200 nodes, the whole library paged once (as SYNC does).
//
//	go run ./bench/emulatorbench -nodes 1000000 -concurrency 8
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apsql/apsql/emulator"
)

func main() {
	nodes := flag.Int("nodes", 1000000, "library size")
	conc := flag.Int("concurrency", 8, "concurrent requests")
	limit := flag.Int("limit", 200, "nodes per page")
	pages := flag.Int("pages", 0, "pages to fetch (0: the whole library)")
	flag.Parse()
	if err := run(*nodes, *conc, *limit, *pages); err != nil {
		fmt.Fprintln(os.Stderr, "emulatorbench:", err)
		os.Exit(1)
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(nodes, conc, limit, pages int) error {
	start, cpu0 := time.Now(), cpuTime()
	s, err := emulator.New(emulator.Options{Nodes: nodes, Seed: 1})
	if err != nil {
		return err
	}
	build, buildCPU := time.Since(start), cpuTime()-cpu0
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("library: %d nodes, built in %v (%v CPU), heap in use %d MiB\n", nodes, build.Round(time.Millisecond), buildCPU.Round(time.Millisecond), ms.HeapInuse>>20)

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, DisableCompression: true}}
	cookies := s.Cookies()
	fetch := func(ctx context.Context, offset int) (int64, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/drive/v1/search?filters=type%%3A(PHOTOS+OR+VIDEOS)&limit=%d&offset=%d&sort=%%5B%%27createdDate+DESC%%27%%5D&resourceVersion=V2&ContentType=JSON", url, limit, offset), nil)
		for k, v := range cookies {
			req.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		req.Header.Set("x-amzn-sessionid", cookies["session-id"])
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return n, fmt.Errorf("offset %d: %s", offset, resp.Status)
		}
		return n, err
	}
	// The first page builds the cached, sorted match list; time it apart.
	t0 := time.Now()
	if _, err := fetch(context.Background(), 0); err != nil {
		return err
	}
	first := time.Since(t0)
	total, _ := s.Count("")
	if pages == 0 {
		pages = (total + limit - 1) / limit
	}
	var next, bytes atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	t0, cpu0 = time.Now(), cpuTime()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p := int(next.Add(1)) - 1
				if p >= pages {
					return
				}
				n, err := fetch(context.Background(), p*limit)
				if err != nil {
					errs <- err
					return
				}
				bytes.Add(n)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	d, cpu := time.Since(t0), cpuTime()-cpu0
	rate := float64(pages) / d.Seconds()
	fmt.Printf("first page (match list + sort + aggregations): %v\n", first.Round(time.Millisecond))
	fmt.Printf("%d pages of %d in %v at concurrency %d: %.0f pages/s, %.0f nodes/s, %.0f MB/s\n",
		pages, limit, d.Round(time.Millisecond), conc, rate, rate*float64(limit), float64(bytes.Load())/d.Seconds()/1e6)
	fmt.Printf("CPU (server and client, one process): %v, %.0f µs per page; at %d cores that bounds the rate at %.0f pages/s\n",
		cpu.Round(time.Millisecond), cpu.Seconds()/float64(pages)*1e6, runtime.NumCPU(), float64(runtime.NumCPU())*float64(pages)/cpu.Seconds())
	fmt.Printf("ratio to SYNC's target of 333 pages/s: %.1fx\n", rate/333)
	return nil
}
