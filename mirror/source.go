package mirror

import (
	"context"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/apsql/apsql/fetch"
)

// source is what the mirror needs from the service. *fetch.Client
// provides all of it; tests reach the emulator through the real client.
type source interface {
	StreamSearch(ctx context.Context, filter, sort string, emit func(arrow.RecordBatch) error) (fetch.StreamStats, error)
	StreamTrash(ctx context.Context, emit func(arrow.RecordBatch) error) (fetch.StreamStats, error)
	StreamNodes(ctx context.Context, filter string, emit func(arrow.RecordBatch) error) (fetch.StreamStats, error)
	StreamSearchChanged(ctx context.Context, filter string, unchanged fetch.NewUnchangedFunc, emit func(arrow.RecordBatch) error) (fetch.StreamStats, error)
	StreamNodesChanged(ctx context.Context, filter string, unchanged fetch.NewUnchangedFunc, emit func(arrow.RecordBatch) error) (fetch.StreamStats, error)
	StreamSearchIDs(ctx context.Context, filter string) ([]string, error)
	Folders(ctx context.Context) ([]fetch.Folder, error)
	Usage(ctx context.Context) (fetch.Usage, error)
	Aggregations(ctx context.Context, category string) ([]fetch.Aggregation, error)
	ListNodes(ctx context.Context, filter string) ([]fetch.Node, error)
	Children(ctx context.Context, parentID, filter string) ([]fetch.Node, error)
	People(ctx context.Context) ([]fetch.Person, error)
	SearchRecords(ctx context.Context, sq fetch.SearchQuery, syncedAt time.Time) (arrow.RecordBatch, fetch.PageInfo, error)
}

var _ source = (*fetch.Client)(nil)

func newService(c *fetch.Client) source { return c }

// pageLimit is the largest page /search serves (API.md §1.5).
const pageLimit = 200

// searchPage fetches one /search page as a record batch with
// fetch.NodeSchema (the caller releases it): SYNC NEW and search() need
// Arrow rows page by page, fetched only as they are consumed, which
// fetch's whole-listing streams do not offer.
func searchPage(ctx context.Context, src source, filter, sort string, offset, limit int, syncedAt time.Time) (arrow.RecordBatch, fetch.PageInfo, error) {
	return src.SearchRecords(ctx, fetch.SearchQuery{Filter: filter, Sort: sort, Offset: offset, Limit: limit}, syncedAt)
}

// searchCount asks the server how many nodes match filter (one page of
// one node), to size the progress line before a stream starts. It asks in
// the order fetch's listings page in (oldest first), so that the service
// answers both from one query: in another order the emulator sorted its
// whole library again for the count after a change (1.1 s at 1M nodes).
func searchCount(ctx context.Context, src source, filter string) (int, error) {
	rec, info, err := searchPage(ctx, src, filter, oldestSort, 0, 1, time.Now())
	if err != nil {
		return 0, err
	}
	rec.Release()
	return info.Count, nil
}
