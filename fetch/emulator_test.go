package fetch_test

import (
	"errors"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// newEmulated starts the emulator and a client for it. Fast backoff keeps
// fault-injection tests quick; the policy is the real one otherwise.
func newEmulated(t *testing.T, opts emulator.Options, mod func(*fetch.Config)) (*emulator.Server, *fetch.Client) {
	t.Helper()
	srv := emulator.StartTest(t, opts)
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	cfg := fetch.Config{Cookies: cookies, Endpoint: srv.URL()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := fetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// idsOf gathers the id column of every batch.
func idsOf(t *testing.T, ids *[]string) func(arrow.RecordBatch) error {
	t.Helper()
	var mu sync.Mutex
	return func(b arrow.RecordBatch) error {
		col := b.Column(0).(*array.String)
		mu.Lock()
		defer mu.Unlock()
		for i := range col.Len() {
			*ids = append(*ids, strings.Clone(col.Value(i)))
		}
		return nil
	}
}

func sameSet(t *testing.T, got, want []string) {
	t.Helper()
	seen := make(map[string]int, len(got))
	for _, id := range got {
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("id %s arrived %d times, want exactly once", id, n)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("got %d distinct ids, want %d", len(seen), len(want))
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Errorf("id %s missing", id)
			return
		}
	}
}

// TestEmulatorStreamUnderFaults: a 20k library streamed through injected
// 500/503s, connection resets and a 50 req/s rate limit gives every id
// exactly once.
func TestEmulatorStreamUnderFaults(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 4000
	}
	var throttled, retries, pages atomic.Int64
	srv, c := newEmulated(t, emulator.Options{Nodes: n, Seed: 7, FailRate: 0.1, ResetRate: 0.05, RateLimit: 50}, func(cfg *fetch.Config) {
		cfg.Events = func(e fetch.Event) {
			switch e.Kind {
			case fetch.EventThrottled:
				throttled.Add(1)
			case fetch.EventRetry:
				retries.Add(1)
			case fetch.EventPage:
				pages.Add(1)
			}
		}
	})
	want, err := srv.IDs("type:(PHOTOS OR VIDEOS)")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	st, err := c.StreamSearch(t.Context(), "type:(PHOTOS OR VIDEOS)", "", idsOf(t, &ids))
	if err != nil {
		t.Fatalf("StreamSearch: %v (stats %+v)", err, st)
	}
	sameSet(t, ids, want)
	es := srv.Stats()
	if es.Failed == 0 || es.Resets == 0 {
		t.Errorf("emulator injected %d failures and %d resets, want some of each", es.Failed, es.Resets)
	}
	if st.Retries == 0 || int64(st.Retries) != throttled.Load()+retries.Load() {
		t.Errorf("stats.Retries = %d, events: %d throttled + %d retries", st.Retries, throttled.Load(), retries.Load())
	}
	if int(pages.Load()) != st.Pages || st.Pages != (len(want)+199)/200 {
		t.Errorf("pages: stats %d, events %d, want %d", st.Pages, pages.Load(), (len(want)+199)/200)
	}
	// A reset answers 200 and cuts the body: those pages are fetched again.
	if got := es.Count("GET /drive/v1/search", 200); got != int64(st.Pages)+es.Resets {
		t.Errorf("emulator answered %d search pages with 200, want %d pages + %d resets (each page once)", got, st.Pages, es.Resets)
	}
	t.Logf("%d nodes, %+v; emulator: %d throttled, %d failed, %d resets", len(ids), st, es.Throttled, es.Failed, es.Resets)
}

// TestEmulatorUnauthorizedMidStream: cookies that expire during a stream
// stop it within a second with ErrUnauthorized.
func TestEmulatorUnauthorizedMidStream(t *testing.T) {
	srv := emulator.StartTest(t, emulator.Options{Nodes: 20000, Seed: 3, Latency: 20 * time.Millisecond})
	var expiredAt time.Time
	var once sync.Once
	// Expire the cookies when the first page arrives.
	c := mustClient(t, srv, func(cfg *fetch.Config) {
		cfg.BatchRows = 200
		cfg.Events = func(e fetch.Event) {
			if e.Kind == fetch.EventPage {
				once.Do(func() { expiredAt = time.Now(); srv.ExpireCookies() })
			}
		}
	})
	_, err := c.StreamSearch(t.Context(), "type:(PHOTOS OR VIDEOS)", "", func(arrow.RecordBatch) error { return nil })
	stoppedAt := time.Now()
	if !errors.Is(err, fetch.ErrUnauthorized) {
		t.Fatalf("StreamSearch after expiry = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "run apsql login") || !strings.Contains(err.Error(), "copy fresh session-id") {
		t.Errorf("error %q does not name the fixes (apsql login, fresh cookies)", err)
	}
	if d := stoppedAt.Sub(expiredAt); d > time.Second {
		t.Errorf("stream stopped %v after the cookies expired, want < 1s", d)
	}
	if got := srv.Stats().Count("GET /drive/v1/search", 401); got > 32 {
		t.Errorf("%d requests got 401, want the stream to stop instead of hammering", got)
	}
}

func mustClient(t *testing.T, srv *emulator.Server, mod func(*fetch.Config)) *fetch.Client {
	t.Helper()
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	cfg := fetch.Config{Cookies: cookies, Endpoint: srv.URL()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := fetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEmulatorTrashPastCap: more than 9999 trashed nodes are listed whole
// by splitting into modifiedDate slices.
func TestEmulatorTrashPastCap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 12k trash")
	}
	srv, c := newEmulated(t, emulator.Options{Nodes: 13000, Seed: 11}, nil)
	ids, err := srv.IDs("type:(PHOTOS OR VIDEOS)")
	if err != nil {
		t.Fatal(err)
	}
	toTrash := ids[:12000]
	if err := srv.TrashIDs(toTrash...); err != nil {
		t.Fatal(err)
	}
	var got []string
	st, err := c.StreamTrash(t.Context(), idsOf(t, &got))
	if err != nil {
		t.Fatalf("StreamTrash: %v (stats %+v)", err, st)
	}
	if st.Slices < 2 {
		t.Errorf("stats %+v, want the listing split into slices", st)
	}
	want, err := trashIDs(srv)
	if err != nil {
		t.Fatal(err)
	}
	sameSet(t, got, want)
	if st.Count != len(want) || !st.Complete() {
		t.Errorf("stats %+v, want a complete listing of %d", st, len(want))
	}
}

// TestEmulatorTokenPaging: a /nodes listing of more than 9999 nodes paged
// by nextToken arrives complete and exactly once, also when its tokens
// expire mid-listing (400 "Next token is expired", API.md §1.6): below the
// offset cap it resumes by offset, past it it walks the listing again and
// skips what it had; when every token expires it gives up with a clear
// error instead of looping.
func TestEmulatorTokenPaging(t *testing.T) {
	const nodes, filter = 10500, "kind:FILE AND status:AVAILABLE"
	// The same library (same seed) without tokens is listed by offset,
	// split by modifiedDate past the cap: what every case must return.
	_, plain := newEmulated(t, emulator.Options{Nodes: nodes, Seed: 5}, nil)
	var want []string
	if st, err := plain.StreamNodes(t.Context(), filter, idsOf(t, &want)); err != nil || st.Count <= 9999 {
		t.Fatalf("plain listing: %v (stats %+v), want more than 9999 nodes", err, st)
	}
	tests := []struct {
		name     string
		ttl      time.Duration
		expireAt int // tokens expire once the page at this offset arrived (-1: never)
		restarts bool
		wantErr  string
	}{
		{"tokens past the cap", 0, -1, false, ""},
		{"expired below the cap: resumes by offset", 0, 1000, true, ""},
		{"expired past the cap: walks the listing again", 0, 9800, true, ""},
		{"every token expires: gives up past the cap", time.Nanosecond, -1, true, "expired 4 times in a row"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *emulator.Server
			var restarts atomic.Int64
			expired := false
			srv, c := newEmulated(t, emulator.Options{Nodes: nodes, Seed: 5, NextToken: true, TokenTTL: tt.ttl}, func(cfg *fetch.Config) {
				cfg.Events = func(e fetch.Event) {
					switch {
					case e.Kind == fetch.EventRetry && e.Status == 400:
						restarts.Add(1)
					case e.Kind == fetch.EventPage && tt.expireAt >= 0 && e.Offset >= tt.expireAt && !expired:
						expired = true // token pages come one at a time
						srv.ExpireTokens()
					}
				}
			})
			var got []string
			st, err := c.StreamNodes(t.Context(), filter, idsOf(t, &got))
			if got := restarts.Load() > 0; got != tt.restarts {
				t.Errorf("restarts after an expired token: %d, want some: %v", restarts.Load(), tt.restarts)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "Next token is expired") {
					t.Fatalf("StreamNodes error = %v, want one containing %q and Amazon's message", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("StreamNodes: %v (stats %+v)", err, st)
			}
			if st.Slices != 0 || !st.Complete() {
				t.Errorf("stats %+v, want one complete listing by tokens (no modifiedDate slices)", st)
			}
			sameSet(t, got, want)
		})
	}
}

// trashIDs is what the emulator holds in trash (the trashed nodes plus
// any the emulator's synthetic library starts with).
func trashIDs(srv *emulator.Server) ([]string, error) {
	out := srv.State().TrashIDs
	sort.Strings(out)
	return out, nil
}

func TestEmulatorSmallCalls(t *testing.T) {
	srv, c := newEmulated(t, emulator.Options{Nodes: 500, Seed: 5}, nil)
	ctx := t.Context()

	root, err := c.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if root.ID != srv.RootID() || !root.IsRoot {
		t.Errorf("root = %s (isRoot %v), want %s", root.ID, root.IsRoot, srv.RootID())
	}
	owner, err := c.OwnerID(ctx)
	if err != nil || owner != srv.OwnerID() {
		t.Errorf("OwnerID = %q, %v; want %q", owner, err, srv.OwnerID())
	}

	t.Run("folders", func(t *testing.T) { testFolders(t, srv, c, root) })
	t.Run("nodes", func(t *testing.T) {
		var got []string
		st, err := c.StreamNodes(ctx, "kind:FILE", idsOf(t, &got))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := srv.CountNodes("kind:FILE")
		if len(got) != want || st.Count != want || st.Pages != (want+199)/200 {
			t.Errorf("StreamNodes(kind:FILE) = %d ids, stats %+v; want %d", len(got), st, want)
		}
		kids, err := c.Children(ctx, root.ID, "")
		if err != nil || len(kids) == 0 {
			t.Errorf("Children(root) = %d nodes, %v", len(kids), err)
		}
	})

	usage, err := c.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(usage.Types) == 0 {
		t.Errorf("usage = %+v, want categories", usage)
	}
	info, err := c.AccountInfo(ctx)
	if err != nil || info["status"] == nil {
		t.Errorf("AccountInfo = %v, %v", info, err)
	}

	aggs, err := c.Aggregations(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	cats := map[string]int64{}
	for _, a := range aggs {
		if a.Category == "type" {
			cats[a.Value] = a.Count
		}
	}
	photos, _ := srv.Count("type:(PHOTOS)")
	if cats["PHOTOS"] != int64(photos) {
		t.Errorf("type aggregation PHOTOS = %d, want %d", cats["PHOTOS"], photos)
	}
	things, err := c.Aggregations(ctx, "things")
	if err != nil {
		t.Fatal(err)
	}
	if len(things) == 0 {
		t.Fatal("no things aggregation")
	}
	ids, err := c.StreamSearchIDs(ctx, fetch.TagFilter("things", things[0].Value))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := srv.IDs(fetch.TagFilter("things", things[0].Value))
	if len(ids) != len(want) || int64(len(ids)) != things[0].Count {
		t.Errorf("things:(%s) ids = %d, emulator %d, aggregation count %d", things[0].Value, len(ids), len(want), things[0].Count)
	}

	page, err := c.Search(ctx, fetch.SearchQuery{Filter: "type:(VIDEOS)", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	videos, _ := srv.Count("type:(VIDEOS)")
	if page.Count != videos || len(page.Nodes) != min(5, videos) {
		t.Errorf("search page count %d, %d nodes; want %d, %d", page.Count, len(page.Nodes), videos, min(5, videos))
	}

	_, err = c.Search(ctx, fetch.SearchQuery{Filter: "type:(PHOTOS) ANDD"})
	var ae *fetch.APIError
	if !errors.As(err, &ae) || !ae.IsInvalidFilter() || !strings.Contains(err.Error(), "Invalid filter") {
		t.Errorf("bad filter = %v, want an invalid-filter APIError with Amazon's message", err)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// testFolders checks the folder walk against the emulator's tree.
func testFolders(t *testing.T, srv *emulator.Server, c *fetch.Client, root *fetch.Node) {
	t.Helper()
	folders, err := c.Folders(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if folders[0].Path != "/" || folders[0].ID != root.ID {
		t.Errorf("first folder = %+v, want the root at /", folders[0])
	}
	byPath := map[string]fetch.Folder{}
	for _, f := range folders {
		byPath[f.Path] = f
	}
	for path, f := range byPath {
		if path == "/" {
			continue
		}
		id, ok := srv.FolderID(path)
		if !ok || id != f.ID {
			t.Errorf("folder %s = %s, emulator says %s (%v)", path, f.ID, id, ok)
		}
		parent := path[:strings.LastIndex(path, "/")]
		if parent == "" {
			parent = "/"
		}
		if byPath[parent].ID != f.ParentID {
			t.Errorf("folder %s parent %s, want %s", path, f.ParentID, byPath[parent].ID)
		}
	}
	if _, ok := byPath["/Pictures"]; !ok {
		t.Errorf("folders %v lack /Pictures", keys(byPath))
	}
}

// BenchmarkStreamSearchEmulator streams a library from the emulator (in
// this process, over loopback HTTP) through decode into Arrow batches, as
// SYNC does minus the DuckDB insert. APSQL_BENCH_NODES sets the size
// (default 100000); APSQL_BENCH_ENDPOINT and APSQL_BENCH_COOKIES point it
// at an emulator in another process (apsql emulate --cookies-out FILE)
// instead. Reports nodes/s and the peak Go heap.
func BenchmarkStreamSearchEmulator(b *testing.B) {
	endpoint := os.Getenv("APSQL_BENCH_ENDPOINT")
	var cookies fetch.Cookies
	var err error
	if endpoint != "" {
		cookies, err = fetch.LoadCookies(os.Getenv("APSQL_BENCH_COOKIES"))
	} else {
		n := 100000
		if v := os.Getenv("APSQL_BENCH_NODES"); v != "" {
			n, _ = strconv.Atoi(v)
		}
		srv := emulator.StartTest(b, emulator.Options{Nodes: n, Seed: 1})
		endpoint = srv.URL()
		cookies, err = fetch.NewCookies(srv.Cookies())
	}
	if err != nil {
		b.Fatal(err)
	}
	c, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: endpoint})
	if err != nil {
		b.Fatal(err)
	}
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	defer close(stop)
	b.ResetTimer()
	total := 0
	for b.Loop() {
		st, err := c.StreamSearch(b.Context(), "type:(PHOTOS OR VIDEOS)", "", func(arrow.RecordBatch) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		total += st.Fetched
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "nodes/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}
