package fetch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// AlbumFilter is the node filter that lists the albums (API.md §5.2: ALX
// lists kind:VISUAL_COLLECTION AND status:AVAILABLE and matches names
// locally, since name filters break on multi-word names).
const AlbumFilter = "kind:VISUAL_COLLECTION AND status:AVAILABLE"

// ListNodes lists every node that a node-dialect filter selects (GET
// /nodes, pages of 200, nextToken followed when present, past 9999 nodes by
// modifiedDate slices). It is meant for small listings such as the albums;
// a listing that changed under its paging wraps ErrListingChanged.
func (c *Client) ListNodes(ctx context.Context, filter string) ([]Node, error) {
	q := url.Values{}
	if filter != "" {
		q.Set("filters", filter)
	}
	return c.listJSON(ctx, listing{op: "nodes", path: "/nodes", query: q, capped: true}, filter)
}

// Person is one face cluster of the people aggregation (API.md §3.5).
type Person struct {
	ClusterID string
	Name      string // clusterName; "" for a person not named yet
	Count     int64
	// CoverNodeID is the cluster's cover (hero) node: the aggregation's
	// nodeId, else searchData.nodeId.
	CoverNodeID string
	// Raw is the aggregation entry as the service sent it.
	Raw json.RawMessage
}

// People fetches the people aggregation (GET /search/aggregation
// ?category=people&aggregationContext=customer): one request, every
// person of the account's own library.
func (c *Client) People(ctx context.Context) ([]Person, error) {
	q := url.Values{"category": {"people"}, "aggregationContext": {"customer"}}
	var body []byte
	if err := c.do(ctx, &request{Path: "/search/aggregation", Query: q, Op: "aggregation people"}, &body); err != nil {
		return nil, err
	}
	_, items, err := aggregationItems(body, "people", "customer")
	if err != nil {
		return nil, err
	}
	out := make([]Person, 0, len(items))
	for _, raw := range items {
		a, err := parseMatch("people", raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %v", aggregationEndpoint("people", "customer"), ErrUnexpectedAnswer, err)
		}
		var sd struct {
			ClusterID   string `json:"clusterId"`
			ClusterName string `json:"clusterName"`
		}
		_ = json.Unmarshal(a.SearchData, &sd) // absent or odd: the value alone names the cluster
		id := a.Value
		if id == "" {
			id = sd.ClusterID
		}
		if id == "" {
			continue
		}
		out = append(out, Person{ClusterID: id, Name: sd.ClusterName, Count: a.Count, CoverNodeID: a.NodeID,
			Raw: append(json.RawMessage(nil), raw...)})
	}
	return out, nil
}
