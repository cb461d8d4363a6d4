package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/apsql/apsql/fetch"
)

// Batch limits of the service (API.md §1.5): PATCH /trash and POST
// /bulk/nodes/purge take at most 50 ids ("Member must have length less than
// or equal to 50"). Album edits use the same size: the limit is not
// documented, and 50 keeps one refused member from failing many.
const batchSize = 50

// api holds the endpoint calls of the actions, on top of fetch.Client.
type api struct {
	c *fetch.Client
}

// remoteNode is the part of a node's JSON the actions read back.
type remoteNode struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Status   string   `json:"status"`
	OwnerID  string   `json:"ownerId"`
	Parents  []string `json:"parents"`
	FamilyID string   `json:"familyId"` // set on a node in the Family Vault (vault.go)
	Settings struct {
		Favorite bool `json:"favorite"`
		Hidden   bool `json:"hidden"`
	} `json:"settings"`
	ContentProperties struct {
		MD5  string `json:"md5"`
		Size int64  `json:"size"`
	} `json:"contentProperties"`
	// AssetProperties is set on kind ASSET children (a Live Photo's video).
	AssetProperties struct {
		AssetType string `json:"assetType"`
	} `json:"assetProperties"`
	// Raw is the node's JSON as getNode read it (nil elsewhere).
	Raw json.RawMessage `json:"-"`
}

// errNodeGone is returned by getNode for a node the service does not know
// (404): purged, or never existed.
var errNodeGone = errors.New("node not found on the service")

// getNode reads one node (GET /nodes/{id}); a 404 is errNodeGone.
func (a api) getNode(ctx context.Context, id string) (remoteNode, error) {
	var n remoteNode
	var raw []byte
	err := a.c.Do(ctx, &fetch.Request{Path: "/nodes/" + url.PathEscape(id), Op: "GET /nodes/" + id}, &raw)
	if isStatus(err, http.StatusNotFound) {
		return n, errNodeGone
	}
	if err != nil {
		return n, err
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return n, fmt.Errorf("GET /nodes/%s: %w", id, err)
	}
	n.Raw = raw
	return n, nil
}

// getNodes reads nodes in parallel (at most 8 at a time): the map holds the
// ones found; ids answered 404 are in gone.
func (a api) getNodes(ctx context.Context, ids []string) (found map[string]remoteNode, gone map[string]bool, err error) {
	found, gone = map[string]remoteNode{}, map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var first error
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := a.getNode(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, errNodeGone):
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

// errorMap reads {"errorMap":{id: status}} of PATCH /trash and POST
// /bulk/nodes/purge: the ids the service refused, with why.
type errorMap struct {
	ErrorMap map[string]json.RawMessage `json:"errorMap"`
}

// details returns why each id was refused; a 404 (the service does not
// have the node) wraps errNodeGone.
func (m errorMap) details() map[string]error {
	out := map[string]error{}
	for id, v := range m.ErrorMap {
		var code int
		if json.Unmarshal(v, &code) == nil {
			out[id] = describeCode(code)
		} else {
			out[id] = errors.New("refused by the service: " + string(v))
		}
	}
	return out
}

func describeCode(code int) error {
	switch code {
	case http.StatusNotFound:
		return fmt.Errorf("%w: errorMap 404", errNodeGone)
	case http.StatusConflict:
		return errors.New("refused by the service: 409 node is not in the trash")
	}
	return errors.New("refused by the service: " + strconv.Itoa(code) + " " + http.StatusText(code))
}

// trash sends PATCH /trash: op "add" moves ids to the trash, "remove"
// restores them (API.md §1.3 #22, #23).
func (a api) trash(ctx context.Context, op string, ids []string, retry func(context.Context, error) bool) (map[string]error, error) {
	body := map[string]any{"op": op, "value": ids}
	if op == "add" {
		body["recurse"] = "true"
		body["filters"] = ""
		body["conflictResolution"] = "RENAME"
	}
	var m errorMap
	err := a.c.Do(ctx, &fetch.Request{Method: http.MethodPatch, Path: "/trash", JSON: body, Retry: retry,
		Op: "PATCH /trash " + op}, &m)
	return m.details(), err
}

// purge sends POST /bulk/nodes/purge (API.md §1.3 #25).
func (a api) purge(ctx context.Context, ids []string, retry func(context.Context, error) bool) (map[string]error, error) {
	var m errorMap
	err := a.c.Do(ctx, &fetch.Request{Method: http.MethodPost, Path: "/bulk/nodes/purge",
		JSON: map[string]any{"recurse": "false", "nodeIds": ids}, Retry: retry, Op: "POST /bulk/nodes/purge"}, &m)
	return m.details(), err
}

// patchNode sends PATCH /nodes/{id} (settings, name; API.md §1.3 #15) and
// returns the updated node's JSON.
func (a api) patchNode(ctx context.Context, id string, body map[string]any, retry func(context.Context, error) bool) ([]byte, error) {
	var raw []byte
	err := a.c.Do(ctx, &fetch.Request{Method: http.MethodPatch, Path: "/nodes/" + url.PathEscape(id), JSON: body,
		Retry: retry, Op: "PATCH /nodes/" + id}, &raw)
	return raw, err
}

// createNode sends POST /nodes (a folder or an album; API.md §1.3 #13,
// #14) and returns the new node's JSON. A name conflict is an *APIError
// with Status 409 and NodeID set.
func (a api) createNode(ctx context.Context, body map[string]any, retry func(context.Context, error) bool) ([]byte, error) {
	var raw []byte
	err := a.c.Do(ctx, &fetch.Request{Method: http.MethodPost, Path: "/nodes", JSON: body, Retry: retry,
		Op: "POST /nodes " + fmt.Sprint(body["kind"])}, &raw)
	return raw, err
}

// albumEdit sends PATCH /nodes/{album}/children (API.md §1.3 #17) and
// returns the answer's body (the album node, where the service sends it).
func (a api) albumEdit(ctx context.Context, album, op string, ids []string, retry func(context.Context, error) bool) ([]byte, error) {
	var raw []byte
	err := a.c.Do(ctx, &fetch.Request{Method: http.MethodPatch, Path: "/nodes/" + url.PathEscape(album) + "/children",
		JSON: map[string]any{"op": op, "value": ids}, Retry: retry, Op: "PATCH /nodes/" + album + "/children " + op}, &raw)
	return raw, err
}

// children lists the ids of a folder's children or an album's members
// (GET /nodes/{id}/children, pages of 200). Offset paging stops at the
// service's offset+limit cap of 9999 (API.md §1.5) unless the service hands
// out a nextToken; complete is false when the cap cut the listing short.
func (a api) children(ctx context.Context, id string) (ids map[string]bool, complete bool, err error) {
	ids = map[string]bool{}
	const limit = 200
	offset, token := 0, ""
	for {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if token != "" {
			q.Set("startToken", token)
		} else {
			q.Set("offset", strconv.Itoa(offset))
		}
		var page struct {
			Count     int          `json:"count"`
			Data      []remoteNode `json:"data"`
			NextToken string       `json:"nextToken"`
		}
		if err := a.c.Do(ctx, &fetch.Request{Path: "/nodes/" + url.PathEscape(id) + "/children", Query: q,
			Op: "GET /nodes/" + id + "/children offset " + strconv.Itoa(offset)}, &page); err != nil {
			return nil, false, err
		}
		for _, n := range page.Data {
			ids[n.ID] = true
		}
		offset += len(page.Data)
		switch {
		case len(page.Data) == 0 || offset >= page.Count:
			return ids, true, nil
		case page.NextToken != "":
			token = page.NextToken
		case offset+limit > 9999:
			return ids, false, nil
		}
	}
}

// findChild returns the JSON of parentID's AVAILABLE child named name
// (case-insensitive, as the service compares names) of kind, or nil: it
// tells a 409 whose body was lost which node holds the name.
func (a api) findChild(ctx context.Context, parentID, name, kind string) ([]byte, error) {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name)
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	err := a.c.Do(ctx, &fetch.Request{Path: "/nodes/" + url.PathEscape(parentID) + "/children", Query: url.Values{
		"filters": {"kind:" + kind + ` AND name:"` + esc + `"`}, "limit": {"10"}}, Op: "GET /nodes/" + parentID + "/children by name"}, &page)
	if err != nil {
		return nil, err
	}
	for _, raw := range page.Data {
		var n remoteNode
		if json.Unmarshal(raw, &n) == nil && strings.EqualFold(n.Name, name) && n.Status == "AVAILABLE" {
			return raw, nil
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
	raw, ferr := a.findChild(ctx, parentID, name, kind)
	if ferr != nil || raw == nil {
		return "", false
	}
	var n remoteNode
	if json.Unmarshal(raw, &n) != nil || n.ID == "" {
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
