package mirror

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// albumListings bounds the albums whose members are listed at once; each
// listing pages through the client's adaptive limit as well.
const albumListings = 4

// AlbumRow is one row of the albums table: an album node as the service
// sends it (SYNC ALBUMS, and the album actions for the album they made or
// changed), with its number of members.
type AlbumRow struct {
	ID, Name string
	// CreatedDate and ModifiedDate are zero when the service sent none.
	CreatedDate, ModifiedDate time.Time
	Count                     int64 // members
	CoverNodeID               string
	Raw                       json.RawMessage // the node as the service sent it
}

// NewAlbumRow is the albums row of album node n with count members.
func NewAlbumRow(n *fetch.Node, count int64) AlbumRow {
	return AlbumRow{ID: n.ID, Name: n.Name, CreatedDate: n.CreatedDate, ModifiedDate: n.ModifiedDate,
		Count: count, CoverNodeID: n.Cover(), Raw: n.Raw}
}

// values are the row's columns in the table's order (the appender's row).
func (r AlbumRow) values() []driver.Value {
	return []driver.Value{r.ID, r.Name, nullTime(r.CreatedDate), nullTime(r.ModifiedDate), r.Count,
		nullString(r.CoverNodeID), jsonValue(r.Raw)}
}

// fetchAlbums lists the albums and their members: the albums are the
// AVAILABLE VISUAL_COLLECTION nodes of GET /nodes (fetch.AlbumFilter), each
// album's members the whole of GET /nodes/{album}/children (pages of 200;
// an album of more than 9,999 members, past the service's offset+limit
// cap, is listed in modifiedDate slices of fewer, as fetch.Children does).
// Albums are listed albumListings at a time; a listing that changed under
// its paging is fetched again. Its write replaces both tables in one
// transaction; it is returned only once every album was listed completely.
func fetchAlbums(ctx context.Context, p engine.Progress, src source) (partWrite, error) {
	list, err := src.ListNodes(ctx, fetch.AlbumFilter)
	for attempt := 2; errors.Is(err, fetch.ErrListingChanged) && attempt <= maxAttempts; attempt++ {
		list, err = src.ListNodes(ctx, fetch.AlbumFilter)
	}
	if err != nil {
		return nil, fmt.Errorf("list the albums: %w", err)
	}
	tr := p.Start("sync albums", int64(len(list)), "albums")
	defer tr.Done()
	var (
		mu         sync.Mutex
		albumRows  = make([]*AlbumRow, len(list))
		memberRows [][]driver.Value
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(albumListings)
	for k := range list {
		a := &list[k]
		if a.Kind != "VISUAL_COLLECTION" || (a.Status != "" && a.Status != "AVAILABLE") {
			continue // the filter already says so; a service that ignores it must not fill the table with folders
		}
		g.Go(func() error {
			kids, err := src.Children(gctx, a.ID, "")
			for attempt := 2; errors.Is(err, fetch.ErrListingChanged) && attempt <= maxAttempts; attempt++ {
				kids, err = src.Children(gctx, a.ID, "")
			}
			if err != nil {
				return fmt.Errorf("list the members of album %s (%s): %w", engine.Quote(a.Name), a.ID, err)
			}
			mu.Lock()
			row := NewAlbumRow(a, int64(len(kids)))
			albumRows[k] = &row
			for _, m := range kids {
				memberRows = append(memberRows, []driver.Value{a.ID, m.ID})
			}
			mu.Unlock()
			tr.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var rows [][]driver.Value
	for _, r := range albumRows {
		if r != nil {
			rows = append(rows, r.values())
		}
	}
	return func(ctx context.Context, db *engine.DB) ([]tableStats, error) {
		ch, err := replaceTables(ctx, db,
			tableRows{smallTable{name: "albums", key: []string{"id"}}, rows},
			tableRows{smallTable{name: "album_members", key: []string{"albumId", "id"}}, memberRows})
		if err != nil {
			return nil, err
		}
		return []tableStats{
			{table: "albums", fetched: int64(len(rows)), inserted: ch[0].inserted, updated: ch[0].updated, removed: ch[0].removed},
			{table: "album_members", fetched: int64(len(memberRows)), inserted: ch[1].inserted, updated: ch[1].updated, removed: ch[1].removed},
		}, nil
	}, nil
}

// fetchPeople fetches the people aggregation (one request); its write
// replaces the people table.
func fetchPeople(ctx context.Context, _ engine.Progress, src source) (partWrite, error) {
	people, err := src.People(ctx)
	if err != nil {
		return nil, err
	}
	return replaceWrite(smallTable{name: "people", key: []string{"clusterId"}}, len(people), PeopleRows(people)), nil
}

// PeopleRows are the people table's rows for people (one per cluster id).
func PeopleRows(people []fetch.Person) [][]driver.Value {
	rows := make([][]driver.Value, 0, len(people))
	seen := map[string]bool{}
	for _, p := range people {
		if seen[p.ClusterID] {
			continue
		}
		seen[p.ClusterID] = true
		rows = append(rows, []driver.Value{p.ClusterID, p.Name, p.Count, nullString(p.CoverNodeID), jsonValue(p.Raw)})
	}
	return rows
}

// RefreshPeople replaces the people table with the service's people (the
// actions that change which photos are available call it after).
func RefreshPeople(ctx context.Context, db *engine.DB, c *fetch.Client) error {
	people, err := c.People(ctx)
	if err != nil {
		return err
	}
	return ReplacePeople(ctx, db, people)
}

// ReplacePeople replaces the people table with people, as the service
// listed them. Its changes are recorded under their own statement (PEOPLE
// REFRESH); by_apsql comes from the journal the action wrote.
func ReplacePeople(ctx context.Context, db *engine.DB, people []fetch.Person) error {
	ctx, _ = withChangeLog(ctx, "PEOPLE REFRESH")
	_, _, _, err := smallTable{name: "people", key: []string{"clusterId"}}.replace(ctx, db, PeopleRows(people))
	return err
}
