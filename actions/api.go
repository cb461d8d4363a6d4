package actions

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/apsql/apsql/fetch"
)

// Batch limits of the service (API.md §1.5): PATCH /trash and POST
// /bulk/nodes/purge take at most 50 ids ("Member must have length less than
// or equal to 50"). Album edits use the same size: the limit is not
// documented, and 50 keeps one refused member from failing many.
const batchSize = 50

// api holds the endpoint calls of the actions: thin adapters over the
// typed methods of fetch.Client, which builds every request.
type api struct {
	c *fetch.Client
}

// remoteNode is a node as the service sends it.
type remoteNode = fetch.Node

// errNodeGone is the cause of a node the service does not know (404):
// purged, or never existed.
var errNodeGone = fetch.ErrNodeGone

// getNode reads one node (GET /nodes/{id}); a 404 wraps errNodeGone.
func (a api) getNode(ctx context.Context, id string) (remoteNode, error) {
	n, err := a.c.GetNode(ctx, id)
	if err != nil {
		return remoteNode{}, err
	}
	return *n, nil
}

// getNodes reads nodes in parallel: the map holds the ones found; ids
// answered 404 are in gone.
func (a api) getNodes(ctx context.Context, ids []string) (found map[string]remoteNode, gone map[string]bool, err error) {
	got, gone, err := a.c.GetNodes(ctx, ids)
	found = make(map[string]remoteNode, len(got))
	for id, n := range got {
		found[id] = *n
	}
	return found, gone, err
}

// trash sends PATCH /trash: op "add" moves ids to the trash, "remove"
// restores them (API.md §1.3 #22, #23). The ids refused come with why (an
// error wrapping errNodeGone for a node the service does not have).
func (a api) trash(ctx context.Context, op string, ids []string, retry fetch.RetryFunc) (map[string]error, error) {
	var res fetch.BatchResult
	var err error
	if op == "add" {
		res, err = a.c.Trash(ctx, ids, retry)
	} else {
		res, err = a.c.Restore(ctx, ids, retry)
	}
	return res.Failed, err
}

// purge sends POST /bulk/nodes/purge (API.md §1.3 #25).
func (a api) purge(ctx context.Context, ids []string, retry fetch.RetryFunc) (map[string]error, error) {
	res, err := a.c.Purge(ctx, ids, retry)
	return res.Failed, err
}

// familyArchive adds ids to the Family Vault of family (add) or removes
// them (POST /familyArchive/).
func (a api) familyArchive(ctx context.Context, family string, add bool, ids []string, retry fetch.RetryFunc) (map[string]error, error) {
	var res fetch.BatchResult
	var err error
	if add {
		res, err = a.c.FamilyArchive(ctx, family, ids, nil, retry)
	} else {
		res, err = a.c.FamilyArchive(ctx, family, nil, ids, retry)
	}
	return res.Failed, err
}

// raw returns n's JSON, nil for no node.
func raw(n *fetch.Node) []byte {
	if n == nil {
		return nil
	}
	return n.Raw
}

// createAlbum sends POST /nodes for an album (API.md §1.3 #14); an answer
// without an album id comes back as it is (its Raw), for the caller to say so.
func (a api) createAlbum(ctx context.Context, name string, retry fetch.RetryFunc) (*fetch.Node, error) {
	n, err := a.c.CreateAlbum(ctx, name, retry)
	if errors.Is(err, fetch.ErrUnexpectedAnswer) {
		return n, nil
	}
	return n, err
}

// albumEdit sends PATCH /nodes/{album}/children (API.md §1.3 #17) and
// returns the album as the answer shows it (nil where it shows none).
func (a api) albumEdit(ctx context.Context, album string, add bool, ids []string, retry fetch.RetryFunc) (*fetch.Node, error) {
	var n *fetch.Node
	var err error
	if add {
		n, err = a.c.AddToAlbum(ctx, album, ids, retry)
	} else {
		n, err = a.c.RemoveFromAlbum(ctx, album, ids, retry)
	}
	return n, err
}

// children lists the ids of a folder's children or an album's members;
// complete is false when the service's listing cap cut it short.
func (a api) children(ctx context.Context, id string) (ids map[string]bool, complete bool, err error) {
	return a.c.ChildIDs(ctx, id)
}

// findChild returns parentID's AVAILABLE child named name
// (case-insensitive, as the service compares names) of kind, or nil: it
// tells a 409 whose body was lost which node holds the name.
func (a api) findChild(ctx context.Context, parentID, name, kind string) (*fetch.Node, error) {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name)
	p, err := a.c.ChildrenPage(ctx, parentID, fetch.NodeQuery{Filter: "kind:" + kind + ` AND name:"` + esc + `"`, Limit: 10})
	if err != nil {
		return nil, err
	}
	for i, n := range p.Nodes {
		if strings.EqualFold(n.Name, name) && n.Status == "AVAILABLE" {
			return &p.Nodes[i], nil
		}
	}
	return nil, nil
}

// conflictID returns the node that holds the name of a 409: the id in the
// answer, or when the answer was cut, the one found by listing the parent.
func (a api) conflictID(ctx context.Context, err error, parentID, name, kind string) (string, bool) {
	var ae *fetch.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		return "", false
	}
	if ae.NodeID != "" {
		return ae.NodeID, true
	}
	n, ferr := a.findChild(ctx, parentID, name, kind)
	if ferr != nil || n == nil || n.ID == "" {
		return "", false
	}
	return n.ID, true
}

// isStatus reports whether err is an *APIError with the given status.
func isStatus(err error, status int) bool {
	var ae *fetch.APIError
	return errors.As(err, &ae) && ae.Status == status
}

// refusedForSure reports whether a failed mutating request was certainly
// not applied: the service answered with a status that means "refused"
// (4xx, and 429 "Rate exceeded"). 5xx answers and network errors leave the
// outcome unknown: a 500 may come after the change was made, and a
// connection cut after the request was sent says nothing.
func refusedForSure(err error) bool {
	var ae *fetch.APIError
	if !errors.As(err, &ae) {
		return false
	}
	// 408 is not a refusal: an upload answered 408 may still complete
	// (API.md §1.6).
	return ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusRequestTimeout
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
