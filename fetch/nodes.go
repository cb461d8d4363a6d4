package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Node is a node decoded for the small listings (root, folders, children,
// one search page). Raw is the node's whole JSON object.
type Node struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Kind         string    `json:"kind"`
	Status       string    `json:"status"`
	OwnerID      string    `json:"ownerId"`
	Parents      []string  `json:"parents"`
	IsRoot       bool      `json:"isRoot"`
	CreatedDate  time.Time `json:"createdDate"`
	ModifiedDate time.Time `json:"modifiedDate"`
	// ContentProperties holds the file fields that actions need.
	ContentProperties struct {
		Size        int64     `json:"size"`
		MD5         string    `json:"md5"`
		ContentType string    `json:"contentType"`
		Extension   string    `json:"extension"`
		ContentDate time.Time `json:"contentDate"`
	} `json:"contentProperties"`
	// FamilyID is set on a node in the Family Vault.
	FamilyID string       `json:"familyId"`
	Settings NodeSettings `json:"settings"`
	// AssetProperties is set on kind ASSET children (a Live Photo's video).
	AssetProperties struct {
		AssetType string `json:"assetType"`
	} `json:"assetProperties"`
	// CollectionProperties is set on albums (VISUAL_COLLECTION).
	CollectionProperties struct {
		Covers []struct {
			ID        string `json:"id"`
			IsDefault bool   `json:"isDefault"`
		} `json:"covers"`
	} `json:"collectionProperties"`
	// Raw is the node's whole JSON object as the service sent it.
	Raw json.RawMessage `json:"-"`
}

// NodeSettings are a node's settings (PATCH /nodes/{id} {"settings":...}).
type NodeSettings struct {
	Favorite bool `json:"favorite"`
	Hidden   bool `json:"hidden"`
}

// Cover returns an album's cover node id: the default cover of
// collectionProperties.covers, else the first one, else "" (API.md §2.7).
func (n *Node) Cover() string {
	cover := ""
	for _, c := range n.CollectionProperties.Covers {
		if c.IsDefault {
			return c.ID
		}
		if cover == "" {
			cover = c.ID
		}
	}
	return cover
}

// UnmarshalJSON decodes a node and keeps its JSON in Raw. Dates that do not
// parse are left zero rather than failing the page.
func (n *Node) UnmarshalJSON(b []byte) error {
	type plain Node
	var p struct {
		plain
		CreatedDate       string `json:"createdDate"`
		ModifiedDate      string `json:"modifiedDate"`
		ContentProperties struct {
			Size        int64  `json:"size"`
			MD5         string `json:"md5"`
			ContentType string `json:"contentType"`
			Extension   string `json:"extension"`
			ContentDate string `json:"contentDate"`
		} `json:"contentProperties"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*n = Node(p.plain)
	n.CreatedDate = parseTime(p.CreatedDate)
	n.ModifiedDate = parseTime(p.ModifiedDate)
	cp := p.ContentProperties
	n.ContentProperties.Size, n.ContentProperties.MD5 = cp.Size, cp.MD5
	n.ContentProperties.ContentType, n.ContentProperties.Extension = cp.ContentType, cp.Extension
	n.ContentProperties.ContentDate = parseTime(cp.ContentDate)
	n.Raw = append(json.RawMessage(nil), b...)
	return nil
}

func parseTime(s string) time.Time {
	if us, ok := parseTimestamp([]byte(s)); ok {
		return time.UnixMicro(us).UTC()
	}
	return time.Time{}
}

// ParentID is the first parent, "" for the root and albums.
func (n *Node) ParentID() string {
	if len(n.Parents) == 0 {
		return ""
	}
	return n.Parents[0]
}

// nodePage is a listing page decoded with encoding/json.
type nodePage struct {
	Count        int                        `json:"count"`
	Data         []Node                     `json:"data"`
	NextToken    string                     `json:"nextToken"`
	Aggregations map[string]json.RawMessage `json:"aggregations"`
}

// Root returns the root folder (GET /nodes?filters=isRoot:true); its
// OwnerID is the account's owner id.
func (c *Client) Root(ctx context.Context) (*Node, error) {
	var p nodePage
	q := url.Values{"filters": {"isRoot:true"}}
	if err := c.do(ctx, &request{Path: "/nodes", Query: q, Op: "root folder"}, &p); err != nil {
		return nil, err
	}
	for i := range p.Data {
		if p.Data[i].IsRoot || len(p.Data) == 1 {
			return &p.Data[i], nil
		}
	}
	return nil, errors.New("root folder: the answer holds no root node; check that the cookies belong to an Amazon Photos account")
}

// OwnerID returns the account's owner id (needed for thumbnails and
// contentRedirection), fetching the root once.
func (c *Client) OwnerID(ctx context.Context) (string, error) {
	c.ownerMu.Lock()
	defer c.ownerMu.Unlock()
	if c.ownerID != "" {
		return c.ownerID, nil
	}
	root, err := c.Root(ctx)
	if err != nil {
		return "", err
	}
	if root.OwnerID == "" {
		return "", errors.New("root folder has no ownerId")
	}
	c.ownerID = root.OwnerID
	return c.ownerID, nil
}

// Children lists every child of a node (GET /nodes/{id}/children), with an
// optional node-dialect filter ("kind:FOLDER"): pages of 200, nextToken
// followed when present, past 9999 children by modifiedDate slices.
func (c *Client) Children(ctx context.Context, parentID, filter string) ([]Node, error) {
	q := url.Values{}
	if filter != "" {
		q.Set("filters", filter)
	}
	l := listing{op: "children", path: "/nodes/" + url.PathEscape(parentID) + "/children", query: q, capped: true}
	return c.listJSON(ctx, l, filter)
}

// listJSON collects a capped listing's nodes with encoding/json (small
// listings), de-duplicated by id. Like StreamSearch it checks the result:
// when the server's count and the distinct ids disagree, or an id came
// twice (offsets shifted under the paging), the error wraps
// ErrListingChanged, with the nodes that did arrive.
func (c *Client) listJSON(ctx context.Context, l listing, filter string) ([]Node, error) {
	var (
		mu   sync.Mutex
		out  []Node
		seen = map[string]bool{}
		dups int
	)
	consume := func(_ int, body []byte) (PageInfo, error) {
		var p nodePage
		if err := json.Unmarshal(body, &p); err != nil {
			return PageInfo{}, err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, n := range p.Data {
			if seen[n.ID] {
				dups++
				continue
			}
			seen[n.ID] = true
			out = append(out, n)
		}
		return PageInfo{Count: p.Count, Items: len(p.Data), Appended: len(p.Data), NextToken: p.NextToken}, nil
	}
	st, _, err := c.listSplit(ctx, l, filter, 1, consume)
	if err != nil {
		return out, err
	}
	if dups > 0 || len(out) != st.count || st.countChanged {
		return out, StreamStats{Count: st.count, Fetched: len(out), Duplicates: dups}.changedError(l.op)
	}
	return out, nil
}

// listAttempts is how often Folders lists one folder's children again
// when the listing changed under its paging.
const listAttempts = 3

// Folder is one row of the folders table.
type Folder struct {
	ID, Name, ParentID string
	// Path is "/" for the root, "/Pictures/Web" below it.
	Path                      string
	CreatedDate, ModifiedDate time.Time
}

// Folders lists every folder with its path: a breadth-first walk from the
// root over paged children (kind:FOLDER), the folders of one level listed
// concurrently. The root comes first (Path "/"); the rest sorted by path.
func (c *Client) Folders(ctx context.Context) ([]Folder, error) {
	root, err := c.Root(ctx)
	if err != nil {
		return nil, err
	}
	c.ownerMu.Lock()
	if c.ownerID == "" {
		c.ownerID = root.OwnerID
	}
	c.ownerMu.Unlock()
	out := []Folder{{ID: root.ID, Name: root.Name, Path: "/", CreatedDate: root.CreatedDate, ModifiedDate: root.ModifiedDate}}
	seen := map[string]bool{root.ID: true}
	level := []Folder{out[0]}
	for depth := 0; len(level) > 0; depth++ {
		if depth > 1000 {
			return nil, errors.New("folders: the tree is deeper than 1000 levels; it probably has a cycle")
		}
		children := make([][]Node, len(level))
		g, gctx := errgroup.WithContext(ctx)
		for i, f := range level {
			g.Go(func() error {
				var err error
				for range listAttempts {
					var kids []Node
					if kids, err = c.Children(gctx, f.ID, "kind:FOLDER"); err == nil {
						children[i] = kids
						return nil
					}
					if !errors.Is(err, ErrListingChanged) {
						break
					}
				}
				return fmt.Errorf("folders: list %s: %w", f.Path, err)
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		var next []Folder
		for i, parent := range level {
			for _, n := range children[i] {
				if seen[n.ID] || n.Kind != "FOLDER" || (n.Status != "" && n.Status != "AVAILABLE") {
					continue // RCL ignores nodes that are not AVAILABLE
				}
				seen[n.ID] = true
				p := parent.Path + "/" + n.Name
				if parent.Path == "/" {
					p = "/" + n.Name
				}
				f := Folder{ID: n.ID, Name: n.Name, ParentID: parent.ID, Path: p, CreatedDate: n.CreatedDate, ModifiedDate: n.ModifiedDate}
				next = append(next, f)
				out = append(out, f)
			}
		}
		level = next
	}
	sort.SliceStable(out[1:], func(i, j int) bool { return out[1+i].Path < out[1+j].Path })
	return out, nil
}

// SearchQuery is one /search page request.
type SearchQuery struct {
	Filter string // search-dialect filter; "" means type:(PHOTOS OR VIDEOS)
	Sort   string // "['createdDate DESC']"; "" oldest-first
	Offset int
	Limit  int // 1..200; 0 means 200
	// SearchContext is customer (default), all, family or groups.
	SearchContext string
	// GroupByForTime is day, month or year ("" omits it).
	GroupByForTime string
}

// SearchPage is one page of /search.
type SearchPage struct {
	Count int    // total matches
	Nodes []Node // this page
	// Aggregations by category (type, time, things, people, location, ...).
	Aggregations []Aggregation
}

// Search fetches one page of a search (for the search() table function and
// actions with FILTER targets). Whole listings: StreamSearch.
func (c *Client) Search(ctx context.Context, sq SearchQuery) (*SearchPage, error) {
	if sq.Filter == "" {
		sq.Filter = "type:(PHOTOS OR VIDEOS)"
	}
	if sq.Limit <= 0 || sq.Limit > pageLimit {
		sq.Limit = pageLimit
	}
	q := searchQuery(sq.Filter, sq.Sort)
	q.Set("limit", strconv.Itoa(sq.Limit))
	q.Set("offset", strconv.Itoa(sq.Offset))
	if sq.SearchContext != "" {
		q.Set("searchContext", sq.SearchContext)
	}
	if sq.GroupByForTime != "" {
		q.Set("groupByForTime", sq.GroupByForTime)
	}
	var p nodePage
	if err := c.do(ctx, &request{Path: "/search", Query: q, Op: fmt.Sprintf("/search offset %d", sq.Offset)}, &p); err != nil {
		return nil, err
	}
	aggs, err := searchAggregations(p.Aggregations)
	if err != nil {
		return nil, err
	}
	return &SearchPage{Count: p.Count, Nodes: p.Data, Aggregations: aggs}, nil
}
