package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestPageMillion builds the 1,000,000-node library, checks its memory, and
// pages /search end to end at concurrency 8, as SYNC does: every node once.
func TestPageMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("1M library: skipped with -short")
	}
	start := time.Now()
	s, err := New(Options{Nodes: 1000000, Seed: 11, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	build := time.Since(start)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("built 1M nodes in %v, heap in use %d MiB", build, ms.HeapInuse>>20)
	if ms.HeapInuse > 1<<30 {
		t.Errorf("heap in use %d MiB, want under 1 GiB", ms.HeapInuse>>20)
	}
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c := newClient(t, s)
	total, _ := s.Count("")
	pages := (total + 199) / 200
	seen := make(map[string]bool, total)
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, 8)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: time.Minute}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/drive/v1/search?%s&limit=200&offset=%d", s.URL(), q("filters", "type:(PHOTOS OR VIDEOS)", "sort", "['createdDate DESC']"), p*200), nil)
				for k, v := range c.cookies {
					req.AddCookie(&http.Cookie{Name: k, Value: v})
				}
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var page struct {
					Count int `json:"count"`
					Data  []struct {
						ID string `json:"id"`
					} `json:"data"`
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					err = json.Unmarshal(b, &page)
				}
				if err != nil || page.Count != total {
					errs <- fmt.Errorf("page %d: count %d: %v", p, page.Count, err)
					return
				}
				mu.Lock()
				for _, n := range page.Data {
					seen[n.ID] = true
				}
				mu.Unlock()
			}
		}()
	}
	t0 := time.Now()
	for p := 0; p < pages; p++ {
		select {
		case next <- p:
		case err := <-errs:
			t.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Logf("paged %d nodes in %d pages in %v", total, pages, time.Since(t0))
	if len(seen) != total {
		t.Errorf("paging saw %d distinct ids, want %d", len(seen), total)
	}
}
