package mirror

import (
	"context"
	"database/sql/driver"
	"sync"
	"time"

	"github.com/apsql/apsql/engine"
)

// A SYNC of several parts (plain SYNC, SYNC ALL) lists its small parts —
// folders, albums with their members, people, usage — from the service
// while its first part lists the nodes: against a service 100 ms away
// their requests, in series after the nodes, added seconds of waiting.
// Each part is still written in its turn, after the parts before it, in
// its own transaction, and only from a complete listing: a listing
// touches nothing in the mirror, so a part that failed, or a statement
// that stopped, leaves its tables as they were.

// partFetch lists a part from the service without touching the mirror,
// drawing its progress on p, and returns its write.
type partFetch func(ctx context.Context, p engine.Progress, src source) (partWrite, error)

// partWrite stores a part's listing in the mirror, in one transaction, and
// says what changed: the part's own table first, then any other table it
// wrote (album_members). The seconds are left to the caller.
type partWrite func(ctx context.Context, db *engine.DB) ([]tableStats, error)

// partFetches are the parts that list apart from their write.
var partFetches = map[string]partFetch{
	"folders": fetchFolders,
	"albums":  fetchAlbums,
	"people":  fetchPeople,
	"usage":   fetchUsage,
}

// replaceWrite is the write of one small table: rows (from fetched items)
// replace its rows.
func replaceWrite(t smallTable, fetched int, rows [][]driver.Value) partWrite {
	return func(ctx context.Context, db *engine.DB) ([]tableStats, error) {
		ins, upd, rem, err := t.replace(ctx, db, rows)
		if err != nil {
			return nil, err
		}
		return []tableStats{{table: t.name, fetched: int64(fetched), inserted: ins, updated: upd, removed: rem}}, nil
	}
}

// syncUsage mirrors the storage usage by type (SYNC USAGE, .usage).
func syncUsage(ctx context.Context, s *engine.Session, src source) ([]tableStats, error) {
	w, err := fetchUsage(ctx, s.Progress, src)
	if err != nil {
		return nil, err
	}
	return w(ctx, s.DB)
}

// listings are the parts' listings started with the statement.
type listings struct {
	stop func() // cancels them and waits until every one has returned
	of   map[string]*listing
}

// listing is one part's listing, running beside the parts before it.
type listing struct {
	done     chan struct{} // closed once write or err is set
	write    partWrite
	err      error
	took     time.Duration // how long it listed
	progress *heldProgress
}

// startListings starts, when the statement has several parts, the listing
// of every later part that lists apart from its write. Its stop must run
// before the statement returns.
func startListings(ctx context.Context, svc source, parts []string) *listings {
	l := &listings{stop: func() {}, of: map[string]*listing{}}
	if len(parts) < 2 {
		return l
	}
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	l.stop = func() {
		cancel()
		wg.Wait()
	}
	for _, p := range parts[1:] {
		list, ok := partFetches[p]
		if !ok {
			continue
		}
		one := &listing{done: make(chan struct{}), progress: &heldProgress{}}
		l.of[p] = one
		wg.Go(func() {
			defer close(one.done)
			t0 := time.Now()
			one.write, one.err = list(lctx, one.progress, svc)
			one.took = time.Since(t0)
		})
	}
	return l
}

// wait returns the listing's write once it is complete, drawing its
// progress on p meanwhile.
func (one *listing) wait(ctx context.Context, p engine.Progress) (partWrite, error) {
	select {
	case <-one.done:
		return one.write, one.err
	default:
	}
	one.progress.show(p)
	select {
	case <-one.done:
		return one.write, one.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// heldProgress is the progress of a listing that runs beside another
// part: a terminal draws one progress line at a time, so its lines are
// counted without being drawn until the statement waits for the listing
// (show), and never drawn when it was complete by then.
type heldProgress struct {
	mu    sync.Mutex
	to    engine.Progress // nil while held
	lines []*heldLine
}

type heldLine struct {
	h            *heldProgress
	label, unit  string
	total, added int64
	drawn        engine.Tracker // nil while held
	ended        bool
}

func (h *heldProgress) Start(label string, total int64, unit string) engine.Tracker {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := &heldLine{h: h, label: label, unit: unit, total: total}
	if h.to != nil {
		l.drawn = h.to.Start(label, total, unit)
	}
	h.lines = append(h.lines, l)
	return l
}

// show draws the lines still running, with what they counted so far, and
// every later one, on p.
func (h *heldProgress) show(p engine.Progress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.to = p
	for _, l := range h.lines {
		if l.ended || l.drawn != nil {
			continue
		}
		l.drawn = p.Start(l.label, l.total, l.unit)
		if l.added > 0 {
			l.drawn.Add(l.added)
		}
	}
}

func (l *heldLine) Add(n int64) {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	l.added += n
	if l.drawn != nil {
		l.drawn.Add(n)
	}
}

func (l *heldLine) SetTotal(total int64) {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	l.total = total
	if l.drawn != nil {
		l.drawn.SetTotal(total)
	}
}

func (l *heldLine) Done() {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	l.ended = true
	if l.drawn != nil {
		l.drawn.Done()
	}
}
