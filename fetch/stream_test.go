package fetch

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// pagingServer is a protocol-level fake of /search: count ids, offset
// paging, and a hook that changes the library between pages.
type pagingServer struct {
	mu      sync.Mutex
	ids     []string
	offsets map[int]int // offset → times asked
	after   func(s *pagingServer, offset int)
}

func (p *pagingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	off, _ := strconv.Atoi(q.Get("offset"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	p.mu.Lock()
	p.offsets[off]++
	var b strings.Builder
	fmt.Fprintf(&b, `{"count":%d,"data":[`, len(p.ids))
	for i := off; i < min(off+limit, len(p.ids)); i++ {
		if i > off {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%q,"name":"n%d.jpg","kind":"FILE","contentProperties":{"extension":"jpg","size":%d}}`, p.ids[i], i, i)
	}
	b.WriteString(`],"aggregations":{}}`)
	if p.after != nil {
		p.after(p, off)
	}
	p.mu.Unlock()
	fmt.Fprint(w, b.String())
}

func newPagingServer(t *testing.T, n int) (*pagingServer, string) {
	t.Helper()
	p := &pagingServer{offsets: map[int]int{}}
	for i := range n {
		p.ids = append(p.ids, fmt.Sprintf("id%05d", i))
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// collect returns an emit that gathers ids and checks the schema.
func collect(t *testing.T, ids *[]string, batches *[]int64) func(arrow.RecordBatch) error {
	t.Helper()
	return func(b arrow.RecordBatch) error {
		if !b.Schema().Equal(NodeSchema()) {
			t.Errorf("batch schema %v, want NodeSchema", b.Schema())
		}
		col := b.Column(colID).(*array.String)
		for i := range col.Len() {
			*ids = append(*ids, strings.Clone(col.Value(i)))
		}
		*batches = append(*batches, b.NumRows())
		return nil
	}
}

func TestStreamSearchPaging(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		batchRows int
	}{
		{"empty", 0, 8192},
		{"one partial page", 57, 8192},
		{"exact pages", 600, 8192},
		{"many pages small batches", 2345, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, url := newPagingServer(t, tt.n)
			c, rec := newTestClient(t, url, func(c *Config) { c.BatchRows = tt.batchRows })
			var ids []string
			var batches []int64
			st, err := c.StreamSearch(t.Context(), "type:(PHOTOS)", "", collect(t, &ids, &batches))
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != tt.n || st.Fetched != tt.n || st.Count != tt.n || !st.Complete() {
				t.Errorf("ids %d, stats %+v, want %d complete", len(ids), st, tt.n)
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Errorf("id %s emitted twice", id)
				}
				seen[id] = true
			}
			for off, n := range p.offsets {
				if n != 1 {
					t.Errorf("offset %d fetched %d times, want once (the first page never twice)", off, n)
				}
			}
			wantPages := max(1, (tt.n+199)/200)
			if st.Pages != wantPages || len(p.offsets) != wantPages {
				t.Errorf("pages = %d (server saw %d), want %d", st.Pages, len(p.offsets), wantPages)
			}
			for _, rows := range batches {
				if rows > int64(tt.batchRows+200) {
					t.Errorf("batch of %d rows, want at most %d", rows, tt.batchRows+200)
				}
			}
			if rec.count(EventPage) != wantPages {
				t.Errorf("page events = %d, want %d", rec.count(EventPage), wantPages)
			}
		})
	}
}

func TestStreamSearchDetectsChangedListing(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *pagingServer, offset int)
		check  func(t *testing.T, st StreamStats)
	}{
		{"upload shifts pages (duplicate)", func(p *pagingServer, off int) {
			if off == 0 {
				p.ids = append([]string{"new00001"}, p.ids...)
			}
		}, func(t *testing.T, st StreamStats) {
			if st.Duplicates == 0 {
				t.Errorf("stats %+v, want duplicates", st)
			}
		}},
		{"delete shifts pages (skip)", func(p *pagingServer, off int) {
			if off == 0 {
				p.ids = p.ids[1:]
			}
		}, func(t *testing.T, st StreamStats) {
			if st.Fetched == st.Count {
				t.Errorf("stats %+v, want fetched ≠ count", st)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, url := newPagingServer(t, 1000)
			p.after = tt.change
			c, _ := newTestClient(t, url, nil)
			var ids []string
			var batches []int64
			st, err := c.StreamSearch(t.Context(), "type:(PHOTOS)", "", collect(t, &ids, &batches))
			if !errors.Is(err, ErrListingChanged) {
				t.Fatalf("StreamSearch = %v, want ErrListingChanged", err)
			}
			if !strings.Contains(err.Error(), "fetch again") {
				t.Errorf("error %q does not name the fix", err)
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("id %s emitted twice", id)
				}
				seen[id] = true
			}
			tt.check(t, st)
		})
	}
}

func TestStreamSearchEmitErrorStops(t *testing.T) {
	_, url := newPagingServer(t, 5000)
	c, _ := newTestClient(t, url, func(c *Config) { c.BatchRows = 200 })
	stop := errors.New("enough")
	calls := 0
	_, err := c.StreamSearch(t.Context(), "type:(PHOTOS)", "", func(arrow.RecordBatch) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("StreamSearch = %v, want the emit error", err)
	}
	if calls != 1 {
		t.Errorf("emit called %d times after failing, want 1", calls)
	}
}

func TestStreamSearchIDs(t *testing.T) {
	_, url := newPagingServer(t, 450)
	c, _ := newTestClient(t, url, nil)
	ids, err := c.StreamSearchIDs(t.Context(), TagFilter("things", "beach"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 450 {
		t.Errorf("ids = %d, want 450", len(ids))
	}
}

func TestTagFilter(t *testing.T) {
	tests := []struct{ cat, val, want string }{
		{"things", "beach", "things:(beach)"},
		{"location", "CAN#BC#Vancouver", "location:(CAN#BC#Vancouver)"},
		{"location", "USA#NY#New York", `location:("USA#NY#New York")`},
		{"things", `a"b`, `things:("a\"b")`},
	}
	for _, tt := range tests {
		if got := TagFilter(tt.cat, tt.val); got != tt.want {
			t.Errorf("TagFilter(%q, %q) = %s, want %s", tt.cat, tt.val, got, tt.want)
		}
	}
}

func TestAndFilterAndRanges(t *testing.T) {
	tests := []struct{ base, clause, want string }{
		{"", "x:1", "x:1"},
		{TrashFilter, "m:2", TrashFilter + " AND m:2"},
		{"kind:FILE OR kind:FOLDER", "m:2", "(kind:FILE OR kind:FOLDER) AND m:2"},
	}
	for _, tt := range tests {
		if got := andFilter(tt.base, tt.clause); got != tt.want {
			t.Errorf("andFilter(%q, %q) = %q, want %q", tt.base, tt.clause, got, tt.want)
		}
	}
	r := dateRange{field: "modifiedDate", lo: 0, hi: 1500000000123, openLo: true}
	if got, want := r.filter(), `modifiedDate:[* TO "2017-07-14T02:40:00.123Z"]`; got != want {
		t.Errorf("range filter = %s, want %s", got, want)
	}
}
