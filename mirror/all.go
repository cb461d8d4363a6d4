package mirror

import (
	"context"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// AllFilter is what SYNC ALL lists with GET /nodes (node dialect, API.md
// §3.2): every available file, documents and other files as well as
// photos and videos. /search finds only photos, videos and albums.
const AllFilter = "kind:FILE AND status:AVAILABLE"

// allScope is the rows a SYNC ALL replaces: every file (albums stay).
const allScope = `coalesce(n."kind", 'FILE') = 'FILE'`

// syncAll mirrors every file of the library through GET /nodes: a verified
// full listing (the server's count of distinct ids, fetched again when the
// library changed under it) replaces the files of the nodes table in one
// transaction.
//
// GET /nodes caps offset+limit at 9999 (API.md §1.5). fetch pages by
// nextToken/startToken when the service hands one out (API.md §7 #1: it
// may or may not), and otherwise splits the listing into modifiedDate
// ranges (then createdDate within one millisecond) until each holds at
// most 9999 nodes, so a library of any size is listed completely; the
// verification then proves it.
func syncAll(ctx context.Context, s *engine.Session, src source) (tableStats, error) {
	t0 := time.Now()
	idx, lctx, err := startKeyIndex(ctx, s.DB, "nodes", allScope)
	if err != nil {
		return tableStats{}, err
	}
	defer idx.stop()
	st, stats, err := fullListing(lctx, s, "nodes", "sync all", -1, idx, func(emit func(arrow.RecordBatch) error) (fetch.StreamStats, error) {
		return src.StreamNodesChanged(lctx, AllFilter, idx.unchangedFunc(lctx), emit)
	})
	if err != nil {
		return tableStats{}, err
	}
	defer st.drop()
	st.scope = allScope
	ins, upd, rem, err := st.apply(ctx, true)
	if err != nil {
		return tableStats{}, err
	}
	s.Logf("sync all: %d pages, %d slices, %d retries, %d duplicates dropped, %s", stats.Pages, stats.Slices, stats.Retries, stats.Duplicates, stats.Elapsed.Round(time.Millisecond))
	return tableStats{table: "nodes", fetched: int64(stats.Fetched), inserted: ins, updated: upd, removed: rem, seconds: time.Since(t0).Seconds()}, nil
}
