package mirror

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
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
	StreamSearchChanged(ctx context.Context, filter string, unchanged fetch.UnchangedFunc, emit func(arrow.RecordBatch) error) (fetch.StreamStats, error)
	StreamNodesChanged(ctx context.Context, filter string, unchanged fetch.UnchangedFunc, emit func(arrow.RecordBatch) error) (fetch.StreamStats, error)
	StreamSearchIDs(ctx context.Context, filter string) ([]string, error)
	Folders(ctx context.Context) ([]fetch.Folder, error)
	Usage(ctx context.Context) (fetch.Usage, error)
	Aggregations(ctx context.Context, category string) ([]fetch.Aggregation, error)
	ListNodes(ctx context.Context, filter string) ([]fetch.Node, error)
	Children(ctx context.Context, parentID, filter string) ([]fetch.Node, error)
	People(ctx context.Context) ([]fetch.Person, error)
	Do(ctx context.Context, req *fetch.Request, out any) error
}

var _ source = (*fetch.Client)(nil)

func newService(c *fetch.Client) source { return c }

// pageLimit is the largest page /search serves (API.md §1.5).
const pageLimit = 200

// searchPage fetches one /search page and decodes it into a record batch
// with fetch.NodeSchema (the caller releases it). fetch.Client.Search
// decodes pages with encoding/json into Go structs; SYNC NEW and search()
// need Arrow rows page by page, fetched only as they are consumed, which
// fetch's whole-listing streams do not offer.
func searchPage(ctx context.Context, src source, filter, sort string, offset, limit int, syncedAt time.Time) (arrow.RecordBatch, fetch.PageInfo, error) {
	q := url.Values{}
	q.Set("filters", filter)
	if sort != "" {
		q.Set("sort", sort)
	}
	q.Set("searchContext", "customer")
	q.Set("lowResThumbnail", "true")
	q.Set("limit", strconv.Itoa(limit))
	q.Set("offset", strconv.Itoa(offset))
	var body []byte
	op := fmt.Sprintf("/search offset %d", offset)
	if err := src.Do(ctx, &fetch.Request{Path: "/search", Query: q, Op: op}, &body); err != nil {
		return nil, fetch.PageInfo{}, err
	}
	rec, info, err := fetch.DecodeNodes(body, syncedAt)
	if err != nil {
		return nil, info, fmt.Errorf("%s: %w", op, err)
	}
	return rec, info, nil
}

// searchCount asks the server how many nodes match filter (one page of
// one node), to size the progress line before a stream starts.
func searchCount(ctx context.Context, src source, filter string) (int, error) {
	rec, info, err := searchPage(ctx, src, filter, "", 0, 1, time.Now())
	if err != nil {
		return 0, err
	}
	rec.Release()
	return info.Count, nil
}
