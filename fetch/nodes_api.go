package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// The typed endpoints of the nodes (API.md §1.3). Every request that
// apsql sends is built in this package: callers name what they want done,
// never a path.

// RetryFunc decides whether a failed mutating request is sent again: it
// gets the retryable error (a 429/5xx or a network error) and answers true
// when resending is safe. Nil: a mutating request is never resent.
type RetryFunc = func(ctx context.Context, err error) bool

// webBody is the pair that every metadata request body carries, as the web
// app sends it.
type webBody struct {
	ResourceVersion string `json:"resourceVersion"`
	ContentType     string `json:"ContentType"`
}

var web = webBody{ResourceVersion: "V2", ContentType: "JSON"}

// decodeNode reads a node answer. An answer that is not a node (no id) is
// an error wrapping ErrUnexpectedAnswer, with the raw answer in Raw.
func decodeNode(op string, raw []byte) (*Node, error) {
	var n Node
	if err := json.Unmarshal(raw, &n); err != nil || n.ID == "" {
		return &Node{Raw: raw}, fmt.Errorf("%s: %w: the answer has no node id", op, ErrUnexpectedAnswer)
	}
	return &n, nil
}

// GetNode returns one node (GET /nodes/{id}); a 404 wraps ErrNodeGone
// (and the *APIError).
func (c *Client) GetNode(ctx context.Context, id string) (*Node, error) {
	op := "GET /nodes/" + id
	var raw []byte
	if err := c.do(ctx, &request{Path: "/nodes/" + url.PathEscape(id), Op: op}, &raw); err != nil {
		return nil, gone(err)
	}
	n, err := decodeNode(op, raw)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// getNodesParallel is how many GetNodes reads are in flight at once.
const getNodesParallel = 8

// GetNodes reads nodes in parallel: found holds the ones the service has,
// gone the ids it answered 404; err is the first other error.
func (c *Client) GetNodes(ctx context.Context, ids []string) (found map[string]*Node, gone map[string]bool, err error) {
	found, gone = map[string]*Node{}, map[string]bool{}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
	)
	sem := make(chan struct{}, getNodesParallel)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := c.GetNode(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrNodeGone):
				gone[id] = true
			case err != nil:
				if first == nil {
					first = err
				}
			default:
				found[id] = n
			}
		}()
	}
	wg.Wait()
	return found, gone, first
}

// NodeQuery is one page of a node listing (GET /nodes or
// /nodes/{id}/children).
type NodeQuery struct {
	// Filter is a node-dialect filter ("kind:ASSET"); "" lists all.
	Filter string
	// Limit is the page size, 1..200; 0 means 200.
	Limit int
	// Offset pages by position; StartToken, when set, continues a
	// listing from its NextToken instead.
	Offset     int
	StartToken string
}

// NodePage is one page of a node listing.
type NodePage struct {
	Count     int // every node the listing holds
	Nodes     []Node
	NextToken string
}

func (q NodeQuery) values() url.Values {
	v := url.Values{}
	if q.Filter != "" {
		v.Set("filters", q.Filter)
	}
	if q.Limit <= 0 || q.Limit > pageLimit {
		q.Limit = pageLimit
	}
	v.Set("limit", strconv.Itoa(q.Limit))
	if q.StartToken != "" {
		v.Set("startToken", q.StartToken)
	} else {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	return v
}

func (c *Client) nodePage(ctx context.Context, path, op string, q NodeQuery) (*NodePage, error) {
	var p nodePage
	if err := c.do(ctx, &request{Path: path, Query: q.values(), Op: op + " offset " + strconv.Itoa(q.Offset)}, &p); err != nil {
		return nil, err
	}
	return &NodePage{Count: p.Count, Nodes: p.Data, NextToken: p.NextToken}, nil
}

// NodesPage fetches one page of GET /nodes (whole listings: ListNodes).
func (c *Client) NodesPage(ctx context.Context, q NodeQuery) (*NodePage, error) {
	return c.nodePage(ctx, "/nodes", "GET /nodes", q)
}

// TrashPage fetches one page of GET /trash, the trashed files and folders
// newest change first (TrashFilter, sort ['modifiedDate DESC'], API.md
// §1.3 #21): what was trashed last comes first. q.Filter is ignored.
func (c *Client) TrashPage(ctx context.Context, q NodeQuery) (*NodePage, error) {
	q.Filter = TrashFilter
	v := q.values()
	v.Set("sort", "['modifiedDate DESC']")
	var p nodePage
	if err := c.do(ctx, &request{Path: "/trash", Query: v, Op: "GET /trash offset " + strconv.Itoa(q.Offset)}, &p); err != nil {
		return nil, err
	}
	return &NodePage{Count: p.Count, Nodes: p.Data, NextToken: p.NextToken}, nil
}

// ChangedNodesPage fetches one page of GET /nodes filtered by q.Filter,
// newest change first (sort ['modifiedDate DESC'], API.md §1.3 #10):
// what was changed last (restored, say) comes first.
func (c *Client) ChangedNodesPage(ctx context.Context, q NodeQuery) (*NodePage, error) {
	v := q.values()
	v.Set("sort", "['modifiedDate DESC']")
	var p nodePage
	if err := c.do(ctx, &request{Path: "/nodes", Query: v, Op: "GET /nodes offset " + strconv.Itoa(q.Offset)}, &p); err != nil {
		return nil, err
	}
	return &NodePage{Count: p.Count, Nodes: p.Data, NextToken: p.NextToken}, nil
}

// ChildrenPage fetches one page of GET /nodes/{id}/children (whole
// listings: Children, ChildIDs). A 404 of the parent wraps ErrNodeGone.
func (c *Client) ChildrenPage(ctx context.Context, parentID string, q NodeQuery) (*NodePage, error) {
	p, err := c.nodePage(ctx, "/nodes/"+url.PathEscape(parentID)+"/children", "GET /nodes/"+parentID+"/children", q)
	return p, gone(err)
}

// ChildIDs lists the ids of a folder's children or an album's members
// (GET /nodes/{id}/children, pages of 200). Offset paging stops at the
// service's offset+limit cap of 9999 (API.md §1.5) unless the service
// hands out a nextToken; complete is false when the cap cut the listing
// short.
func (c *Client) ChildIDs(ctx context.Context, id string) (ids map[string]bool, complete bool, err error) {
	ids = map[string]bool{}
	q := NodeQuery{Limit: pageLimit}
	for {
		p, err := c.ChildrenPage(ctx, id, q)
		if err != nil {
			return nil, false, err
		}
		for _, n := range p.Nodes {
			ids[n.ID] = true
		}
		q.Offset += len(p.Nodes)
		switch {
		case len(p.Nodes) == 0 || q.Offset >= p.Count:
			return ids, true, nil
		case p.NextToken != "":
			q.StartToken = p.NextToken
		case q.Offset+pageLimit > 9999:
			return ids, false, nil
		}
	}
}

// NewNode is a folder or an album to create (POST /nodes, API.md §1.3
// #13, #14).
type NewNode struct {
	webBody
	Kind    string   `json:"kind"` // FOLDER or VISUAL_COLLECTION
	Name    string   `json:"name"`
	Parents []string `json:"parents,omitempty"` // a folder's parent folder
}

// CreateFolder creates a folder in parentID (POST /nodes). A name taken
// there is an *APIError with Status 409 and NodeID set.
func (c *Client) CreateFolder(ctx context.Context, parentID, name string, retry RetryFunc) (*Node, error) {
	return c.createNode(ctx, NewNode{webBody: web, Kind: "FOLDER", Name: name, Parents: []string{parentID}}, retry)
}

// CreateAlbum creates an album (POST /nodes kind VISUAL_COLLECTION).
func (c *Client) CreateAlbum(ctx context.Context, name string, retry RetryFunc) (*Node, error) {
	return c.createNode(ctx, NewNode{webBody: web, Kind: "VISUAL_COLLECTION", Name: name}, retry)
}

func (c *Client) createNode(ctx context.Context, body NewNode, retry RetryFunc) (*Node, error) {
	op := "POST /nodes " + body.Kind
	var raw []byte
	if err := c.do(ctx, &request{Method: http.MethodPost, Path: "/nodes", JSON: body, Retry: retry, Op: op}, &raw); err != nil {
		return nil, err
	}
	return decodeNode(op, raw)
}

// NodePatch is what PATCH /nodes/{id} changes (API.md §1.3 #15): the
// fields left nil stay as they are.
type NodePatch struct {
	Name     *string
	Favorite *bool
	Hidden   *bool
}

type nodePatchBody struct {
	webBody
	Name     *string `json:"name,omitempty"`
	Settings *struct {
		Favorite *bool `json:"favorite,omitempty"`
		Hidden   *bool `json:"hidden,omitempty"`
	} `json:"settings,omitempty"`
}

// PatchNode sends PATCH /nodes/{id} and returns the updated node. A name
// taken in the folder is an *APIError with Status 409; a 404 wraps
// ErrNodeGone.
func (c *Client) PatchNode(ctx context.Context, id string, p NodePatch, retry RetryFunc) (*Node, error) {
	body := nodePatchBody{webBody: web, Name: p.Name}
	if p.Favorite != nil || p.Hidden != nil {
		body.Settings = &struct {
			Favorite *bool `json:"favorite,omitempty"`
			Hidden   *bool `json:"hidden,omitempty"`
		}{p.Favorite, p.Hidden}
	}
	op := "PATCH /nodes/" + id
	var raw []byte
	if err := c.do(ctx, &request{Method: http.MethodPatch, Path: "/nodes/" + url.PathEscape(id), JSON: body, Retry: retry, Op: op}, &raw); err != nil {
		return nil, gone(err)
	}
	return decodeNode(op, raw)
}

// RenameNode renames a file, folder or album (PATCH /nodes/{id} name).
func (c *Client) RenameNode(ctx context.Context, id, name string, retry RetryFunc) (*Node, error) {
	return c.PatchNode(ctx, id, NodePatch{Name: &name}, retry)
}

type moveBody struct {
	webBody
	FromParent string `json:"fromParent"`
	ChildID    string `json:"childId"`
}

// MoveNode moves id from folder from into folder to (POST
// /nodes/{to}/children, API.md §1.3 #19) and returns the moved node.
func (c *Client) MoveNode(ctx context.Context, id, from, to string, retry RetryFunc) (*Node, error) {
	op := "POST /nodes/" + to + "/children"
	var raw []byte
	if err := c.do(ctx, &request{Method: http.MethodPost, Path: "/nodes/" + url.PathEscape(to) + "/children",
		JSON: moveBody{webBody: web, FromParent: from, ChildID: id}, Retry: retry, Op: op}, &raw); err != nil {
		return nil, err
	}
	return decodeNode(op, raw)
}

type trashBody struct {
	webBody
	Op                 string   `json:"op"`
	Value              []string `json:"value"`
	Recurse            string   `json:"recurse,omitempty"`
	Filters            *string  `json:"filters,omitempty"`
	ConflictResolution string   `json:"conflictResolution,omitempty"`
}

// Trash moves ids to the trash (PATCH /trash op add, API.md §1.3 #22; at
// most 50 ids).
func (c *Client) Trash(ctx context.Context, ids []string, retry RetryFunc) (BatchResult, error) {
	empty := ""
	return c.trash(ctx, trashBody{webBody: web, Op: "add", Value: ids, Recurse: "true", Filters: &empty, ConflictResolution: "RENAME"}, retry)
}

// Restore takes ids out of the trash (PATCH /trash op remove, API.md
// §1.3 #23; at most 50 ids).
func (c *Client) Restore(ctx context.Context, ids []string, retry RetryFunc) (BatchResult, error) {
	return c.trash(ctx, trashBody{webBody: web, Op: "remove", Value: ids}, retry)
}

func (c *Client) trash(ctx context.Context, body trashBody, retry RetryFunc) (BatchResult, error) {
	var m errorMap
	err := c.do(ctx, &request{Method: http.MethodPatch, Path: "/trash", JSON: body, Retry: retry, Op: "PATCH /trash " + body.Op}, &m)
	return m.result(), err
}

type purgeBody struct {
	webBody
	Recurse string   `json:"recurse"`
	NodeIDs []string `json:"nodeIds"`
}

// Purge deletes ids for good (POST /bulk/nodes/purge, API.md §1.3 #25; at
// most 50 ids).
func (c *Client) Purge(ctx context.Context, ids []string, retry RetryFunc) (BatchResult, error) {
	var m errorMap
	err := c.do(ctx, &request{Method: http.MethodPost, Path: "/bulk/nodes/purge",
		JSON: purgeBody{webBody: web, Recurse: "false", NodeIDs: ids}, Retry: retry, Op: "POST /bulk/nodes/purge"}, &m)
	return m.result(), err
}
