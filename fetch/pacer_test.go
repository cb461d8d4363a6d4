package fetch_test

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// Issue 17 item 1: against a service that grants rate req/s (a token
// bucket answering 429 with Retry-After), a listing converges to that rate
// and loses no page, and no request gives up while others get through:
// with MaxRetries 1 every request that met two 429s gave up before.
func TestRateLimitConverges(t *testing.T) {
	n, rate := 20000, 20.0
	if testing.Short() {
		n, rate = 6000, 10
	}
	for _, conc := range []int{16, 4} {
		var refused atomic.Int64
		var last atomic.Value
		srv, c := newEmulated(t, emulator.Options{Nodes: n, Seed: 4}, func(cfg *fetch.Config) {
			cfg.MaxRetries = 1
			cfg.MaxConcurrency = conc
			cfg.Events = func(e fetch.Event) {
				if e.Kind == fetch.EventThrottled && e.Status == 429 {
					refused.Store(e.Refused)
					last.Store(e.String())
				}
			}
		})
		want, err := srv.IDs("type:(PHOTOS OR VIDEOS)")
		if err != nil {
			t.Fatal(err)
		}
		srv.SetFaults(0, 0, 0, rate)
		t0 := time.Now()
		var ids []string
		st, err := c.StreamSearch(t.Context(), "type:(PHOTOS OR VIDEOS)", "", idsOf(t, &ids))
		el := time.Since(t0)
		if err != nil {
			t.Fatalf("concurrency %d: StreamSearch at %g req/s: %v (stats %+v)", conc, rate, err, st)
		}
		sameSet(t, ids, want)
		es := srv.Stats()
		if es.Throttled == 0 || refused.Load() != es.Throttled {
			t.Errorf("concurrency %d: the service refused %d, the client counted %d: want some, all counted", conc, es.Throttled, refused.Load())
		}
		// The pages need pages/rate seconds less the bucket's one-second
		// burst; 2 cores shared with other tests: a loose bound.
		pages := float64(st.Pages)
		ceiling := max(pages-rate, 1) / rate
		if el.Seconds() > 2*ceiling+1 {
			t.Errorf("concurrency %d: %d pages at %g req/s took %.1fs, the ceiling is %.1fs", conc, st.Pages, rate, el.Seconds(), ceiling)
		}
		msg, _ := last.Load().(string)
		if !strings.HasPrefix(msg, "throttled by the service: ") || !strings.Contains(msg, " refused, now at ") {
			t.Errorf("throttle event reads %q", msg)
		}
		t.Logf("concurrency %d: %d pages in %.1fs (ceiling %.1fs), %d refused; last: %s", conc, st.Pages, el.Seconds(), ceiling, es.Throttled, msg)
	}
}

// A request that the service refuses (429) for longer than ProgressTimeout
// without taking any other fails at once, saying what happened.
func TestThrottledGivesUpWithoutProgress(t *testing.T) {
	srv, c := newEmulated(t, emulator.Options{Nodes: 300, Seed: 4}, func(cfg *fetch.Config) {
		cfg.ProgressTimeout = 3 * time.Second
	})
	srv.SetFaults(0, 0, 0, 0.2) // one request, then one every 5 s: Retry-After 5
	if _, err := c.Usage(t.Context()); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	_, err := c.Usage(t.Context())
	if !errors.Is(err, fetch.ErrThrottled) || !strings.Contains(err.Error(), "throttled by the service: ") || !strings.Contains(err.Error(), " refused, now at ") {
		t.Fatalf("err = %v, want ErrThrottled saying how many were refused and the rate", err)
	}
	if el := time.Since(t0); el > 10*time.Second {
		t.Errorf("gave up after %v, want about ProgressTimeout", el)
	}
	t.Log(err)
}

// Downloads (contentRedirection, then the content host it redirects to)
// at 1 req/s all finish: the redirect waits for the shared bucket too
// (before, the second hop always met an empty bucket and every download
// failed).
func TestRateLimitedDownloads(t *testing.T) {
	if testing.Short() {
		t.Skip("about 10 s")
	}
	srv, c := newEmulated(t, emulator.Options{Nodes: 100, Seed: 4}, nil)
	ids, err := srv.IDs("type:(PHOTOS)")
	if err != nil {
		t.Fatal(err)
	}
	owner, err := c.OwnerID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFaults(0, 0, 0, 1)
	ids = ids[:4]
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Open(t.Context(), &fetch.Request{
				Path:  "/nodes/" + id + "/contentRedirection",
				Query: url.Values{"querySuffix": {"?download=true"}, "ownerId": {owner}},
			})
			if err != nil {
				t.Errorf("download %s: %v", id, err)
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			want, _ := srv.Content(id)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("download %s: %d bytes, %v; want the node's %d", id, len(got), err, len(want))
			}
		}()
	}
	wg.Wait()
}
