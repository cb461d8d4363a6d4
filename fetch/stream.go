package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// StreamStats says what a stream fetched.
type StreamStats struct {
	Count      int // nodes in the listing, as the server counted them on the first page
	Fetched    int // distinct nodes emitted
	Duplicates int // nodes received again (dropped): offsets shifted under the listing
	Pages      int // pages received
	Batches    int // record batches emitted
	Retries    int // requests re-sent
	Slices     int // modifiedDate slices a capped listing was split into (0: not split)
	Elapsed    time.Duration
}

// Complete reports whether the stream is a verified snapshot: every node
// the server counted arrived exactly once.
func (s StreamStats) Complete() bool { return s.Duplicates == 0 && s.Fetched == s.Count }

func (s StreamStats) changedError(op string) error {
	return fmt.Errorf("%s: %w: the server counted %d nodes, %d distinct arrived, %d duplicates; fetch again for a complete copy",
		op, ErrListingChanged, s.Count, s.Fetched, s.Duplicates)
}

// defaultSearchSort pages oldest-first by creation date: an upload during
// the listing then lands after the last offset instead of shifting every
// page by one (which newest-first would do).
const defaultSearchSort = "['createdDate ASC']"

// searchQuery is the query of a /search listing (UP's q() parameters).
func searchQuery(filter, sort string) url.Values {
	if sort == "" {
		sort = defaultSearchSort
	}
	q := url.Values{}
	q.Set("filters", filter)
	q.Set("sort", sort)
	q.Set("searchContext", "customer")
	q.Set("lowResThumbnail", "true")
	return q
}

// StreamSearch fetches every node matching a search filter ("type:(PHOTOS
// OR VIDEOS)", API.md §3.3) and hands them to emit as Arrow record batches
// with NodeSchema, ~Config.BatchRows rows each. sort is a /search sort
// ("['createdDate DESC']"); "" pages oldest-first.
//
//   - Pages are fetched concurrently and decoded on GOMAXPROCS goroutines;
//     memory stays bounded whatever the library size.
//   - emit is called from one goroutine at a time. The batch is released
//     when emit returns: Retain it to keep it (and see Config.Allocator:
//     by default its buffers are then reused). An error from emit stops
//     the stream and is returned as is.
//   - Each id is emitted once. When the server's count and the distinct
//     ids disagree, or an id came twice, the error wraps ErrListingChanged
//     (the stats and the batches emitted are still valid).
//   - syncedAt of every row is the time the stream started.
func (c *Client) StreamSearch(ctx context.Context, filter, sort string, emit func(arrow.RecordBatch) error) (StreamStats, error) {
	l := listing{op: "search", path: "/search", query: searchQuery(filter, sort)}
	return c.streamNodes(ctx, l, "", emit)
}

// StreamNodes is StreamSearch over GET /nodes with a node-dialect filter
// ("kind:FILE AND status:AVAILABLE", API.md §3.2), past the 9999 listing
// cap by splitting into modifiedDate ranges.
func (c *Client) StreamNodes(ctx context.Context, filter string, emit func(arrow.RecordBatch) error) (StreamStats, error) {
	q := url.Values{}
	if filter != "" {
		q.Set("filters", filter)
	}
	q.Set("sort", "['modifiedDate DESC']")
	l := listing{op: "nodes", path: "/nodes", query: q, capped: true}
	return c.streamNodes(ctx, l, filter, emit)
}

// TrashFilter is the node filter of the trash listing (UP trashed()).
const TrashFilter = "kind:(FILE* OR FOLDER*) AND status:(TRASH*)"

// StreamTrash fetches every node in the trash (GET /trash) as record
// batches with NodeSchema, like StreamSearch. Past 9999 trashed nodes the
// listing is split into modifiedDate ranges until each slice fits.
func (c *Client) StreamTrash(ctx context.Context, emit func(arrow.RecordBatch) error) (StreamStats, error) {
	q := url.Values{}
	q.Set("filters", TrashFilter)
	q.Set("sort", "['modifiedDate DESC']")
	l := listing{op: "trash", path: "/trash", query: q, capped: true}
	return c.streamNodes(ctx, l, TrashFilter, emit)
}

// streamNodes decodes a listing into batches. filter is the base filter of
// a capped listing, used to split it.
func (c *Client) streamNodes(ctx context.Context, l listing, filter string, emit func(arrow.RecordBatch) error) (StreamStats, error) {
	start := time.Now()
	syncedAt := c.now()
	var retries atomic.Int64
	ctx = countRetries(ctx, &retries)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	consumers := max(1, min(runtime.GOMAXPROCS(0), 4))
	ids := newIDSet(0)
	l.sized = ids.size
	var dups atomic.Int64
	decoders := make([]*NodeDecoder, consumers)
	for i := range decoders {
		d := NewNodeDecoder(c.cfg.Allocator, syncedAt)
		if l.unchanged != nil {
			d.Unchanged = l.unchanged()
		}
		d.Keep = func(id []byte) bool {
			if ids.add(id) {
				return true
			}
			dups.Add(1)
			return false
		}
		decoders[i] = d
		defer d.Release()
	}
	var (
		emitMu  sync.Mutex
		emitErr error
		batches int
	)
	flush := func(d *NodeDecoder) error {
		if d.Len() == 0 {
			return nil
		}
		b := d.NewBatch()
		defer b.Release()
		emitMu.Lock()
		defer emitMu.Unlock()
		if emitErr != nil {
			return emitErr
		}
		if err := emit(b); err != nil {
			emitErr = err
			cancel(err)
			return err
		}
		batches++
		return nil
	}
	consume := func(w int, body []byte) (PageInfo, error) {
		d := decoders[w]
		info, err := d.AppendPage(body)
		if err != nil {
			return info, err
		}
		if d.Len() >= c.cfg.BatchRows {
			err = flush(d)
		}
		return info, err
	}

	var st pageStats
	slices := 0
	var err error
	if l.capped {
		st, slices, err = c.listSplit(ctx, l, filter, consumers, consume)
	} else {
		st, err = c.pageAll(ctx, l, consumers, consume)
	}
	if err == nil {
		for _, d := range decoders {
			if err = flush(d); err != nil {
				break
			}
		}
	}
	stats := StreamStats{
		Count:      st.count,
		Fetched:    ids.len(),
		Duplicates: int(dups.Load()),
		Pages:      st.pages,
		Batches:    batches,
		Retries:    int(retries.Load()),
		Slices:     slices,
		Elapsed:    time.Since(start),
	}
	if emitErr != nil {
		return stats, emitErr
	}
	if err != nil {
		return stats, err
	}
	if !stats.Complete() || st.countChanged {
		return stats, stats.changedError(l.op)
	}
	return stats, nil
}

// StreamSearchIDs returns the distinct ids of the nodes matching a search
// filter (for the tags table: one search per things/people/location
// value). A listing that changed while paging wraps ErrListingChanged,
// with the ids that did arrive.
func (c *Client) StreamSearchIDs(ctx context.Context, filter string) ([]string, error) {
	l := listing{op: "search ids", path: "/search", query: searchQuery(filter, "")}
	ids := newIDSet(0)
	l.sized = ids.size
	var (
		mu  sync.Mutex
		out []string
	)
	dups := 0
	consume := func(_ int, body []byte) (PageInfo, error) {
		var local []string
		localDups := 0
		info, err := scanIDs(body, func(id []byte) {
			if ids.add(id) {
				local = append(local, string(id))
			} else {
				localDups++
			}
		})
		mu.Lock()
		out = append(out, local...)
		dups += localDups
		mu.Unlock()
		return info, err
	}
	st, err := c.pageAll(ctx, l, 2, consume)
	if err != nil {
		return out, err
	}
	if dups > 0 || len(out) != st.count || st.countChanged {
		stats := StreamStats{Count: st.count, Fetched: len(out), Duplicates: dups}
		return out, stats.changedError(l.op)
	}
	return out, nil
}

// TagFilter is the search filter of the nodes carrying one aggregation
// value: things:(beach), people:(<clusterId>), location:(CAN#BC#Vancouver).
// Values with spaces or filter punctuation are quoted.
func TagFilter(category, value string) string {
	if strings.ContainsAny(value, " \t+-&|!(){}[]^'\"~*?:\\/") {
		value = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(value) + `"`
	}
	return category + ":(" + value + ")"
}

// Time bounds of modifiedDate splitting: the first Amazon Drive nodes date
// from 2011; open ends are written "*" so nothing outside falls through.
var splitFloor = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// dateRange is an inclusive range of a date field (modifiedDate,
// createdDate) in milliseconds; an open side is written "*" in the filter.
type dateRange struct {
	field          string
	lo, hi         int64
	openLo, openHi bool
}

func (r dateRange) filter() string {
	f := func(ms int64, open bool) string {
		if open {
			return "*"
		}
		return `"` + time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") + `"`
	}
	return r.field + ":[" + f(r.lo, r.openLo) + " TO " + f(r.hi, r.openHi) + "]"
}

// andFilter joins a base filter and a clause with AND, parenthesising a
// base that has a top-level OR.
func andFilter(base, clause string) string {
	if base == "" {
		return clause
	}
	depth := 0
	for i := 0; i < len(base); i++ {
		switch base[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case 'O':
			if depth == 0 && strings.HasPrefix(base[i:], "OR ") && i > 0 && base[i-1] == ' ' {
				return "(" + base + ") AND " + clause
			}
		}
	}
	return base + " AND " + clause
}

// listSplit lists a capped listing, splitting it into date slices while a
// slice holds more than 9999 nodes (API.md §1.5: offset+limit ≤ 9999 on
// /nodes, /children and /trash): halves of modifiedDate ranges, and, for
// more than 9999 nodes changed in the same millisecond (a bulk trash),
// halves of createdDate within it. It returns the combined stats, with
// count the unsplit listing's count, and the number of slices.
func (c *Client) listSplit(ctx context.Context, l listing, filter string, consumers int, consume pageFunc) (pageStats, int, error) {
	st, err := c.pageAll(ctx, l, consumers, consume)
	var over *overCapError
	if !errors.As(err, &over) {
		return st, 0, err
	}
	total := pageStats{count: over.count}
	slices := 0
	ceiling := time.Now().Add(24 * time.Hour).UnixMilli()
	full := func(field string) dateRange {
		return dateRange{field: field, lo: splitFloor.UnixMilli(), hi: ceiling, openLo: true, openHi: true}
	}
	var walk func(base string, r dateRange) error
	walk = func(base string, r dateRange) error {
		sl := l
		sl.query = url.Values{}
		for k, v := range l.query {
			sl.query[k] = v
		}
		sl.query.Set("filters", andFilter(base, r.filter()))
		st, err := c.pageAll(ctx, sl, consumers, consume)
		if errors.As(err, &over) {
			if r.hi <= r.lo {
				if r.field == "modifiedDate" {
					// One millisecond of changes: split it by creation date.
					return walk(andFilter(base, r.filter()), full("createdDate"))
				}
				return fmt.Errorf("%s: %d nodes share modifiedDate and createdDate (%s): Amazon lists at most %d per query",
					l.op, over.count, time.UnixMilli(r.lo).UTC().Format(time.RFC3339Nano), nodesCap)
			}
			mid := r.lo + (r.hi-r.lo)/2
			left := dateRange{field: r.field, lo: r.lo, hi: mid, openLo: r.openLo}
			right := dateRange{field: r.field, lo: mid + 1, hi: r.hi, openHi: r.openHi}
			if err := walk(base, left); err != nil {
				return err
			}
			return walk(base, right)
		}
		if err != nil {
			return err
		}
		slices++
		total.pages += st.pages
		total.items += st.items
		total.shortPages += st.shortPages
		total.countChanged = total.countChanged || st.countChanged
		return nil
	}
	err = walk(filter, full("modifiedDate"))
	return total, slices, err
}
