package emulator

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

var (
	benchOnce   sync.Once
	benchServer *Server
)

// benchLibrary is a 100,000-node library shared by the benchmarks.
func benchLibrary(b *testing.B) *Server {
	benchOnce.Do(func() {
		s, err := New(Options{Nodes: 100000, Seed: 1, Now: testNow})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Start("127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
		benchServer = s
	})
	return benchServer
}

// BenchmarkAppendNode renders node JSON (the heart of every page).
func BenchmarkAppendNode(b *testing.B) {
	s := benchLibrary(b)
	ids, _ := s.IDs("")
	idx := make([]int32, 200)
	for k := range idx {
		i, _ := s.lib.lookup(ids[k*len(ids)/200])
		idx[k] = i
	}
	buf := make([]byte, 0, 1<<20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = s.lib.appendNode(buf[:0], idx[i%len(idx)], renderOpts{})
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkSearchPages fetches /search pages of 200 over loopback with 8
// requests in flight; the custom metric is pages/s.
func BenchmarkSearchPages(b *testing.B) {
	s := benchLibrary(b)
	total, _ := s.Count("")
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	cookies := s.Cookies()
	var next atomic.Int64
	b.SetParallelism(4) // with GOMAXPROCS 2: 8 goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			off := int(next.Add(200)) % (total - 200)
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/drive/v1/search?limit=200&offset=%d", s.URL(), off), nil)
			for k, v := range cookies {
				req.AddCookie(&http.Cookie{Name: k, Value: v})
			}
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}
