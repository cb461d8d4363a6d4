package fetch

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

type albumEditBody struct {
	webBody
	Op    string   `json:"op"`
	Value []string `json:"value"`
}

// AddToAlbum adds ids to an album (PATCH /nodes/{album}/children op add,
// API.md §1.3 #17). album is the album as the answer shows it, nil when
// the answer holds no node. A 404 naming members refuses the edit whole.
func (c *Client) AddToAlbum(ctx context.Context, albumID string, ids []string, retry RetryFunc) (album *Node, err error) {
	return c.albumEdit(ctx, albumID, "add", ids, retry)
}

// RemoveFromAlbum takes ids out of an album (PATCH /nodes/{album}/children
// op remove).
func (c *Client) RemoveFromAlbum(ctx context.Context, albumID string, ids []string, retry RetryFunc) (album *Node, err error) {
	return c.albumEdit(ctx, albumID, "remove", ids, retry)
}

func (c *Client) albumEdit(ctx context.Context, albumID, op string, ids []string, retry RetryFunc) (*Node, error) {
	var raw []byte
	err := c.do(ctx, &request{Method: http.MethodPatch, Path: "/nodes/" + url.PathEscape(albumID) + "/children",
		JSON: albumEditBody{webBody: web, Op: op, Value: ids}, Retry: retry, Op: "PATCH /nodes/" + albumID + "/children " + op}, &raw)
	if err != nil {
		return nil, err
	}
	var n Node
	if json.Unmarshal(raw, &n) != nil || n.ID == "" {
		return nil, nil
	}
	return &n, nil
}

// RenameAlbum renames an album (PATCH /nodes/{id} name).
func (c *Client) RenameAlbum(ctx context.Context, albumID, name string, retry RetryFunc) (*Node, error) {
	return c.RenameNode(ctx, albumID, name, retry)
}

type familyArchiveBody struct {
	webBody
	NodesToAdd    []string `json:"nodesToAdd"`
	NodesToRemove []string `json:"nodesToRemove"`
	FamilyID      string   `json:"familyId"`
}

// FamilyArchive adds nodes to the Family Vault of familyID and removes
// others (POST /familyArchive/, API.md §1.3).
func (c *Client) FamilyArchive(ctx context.Context, familyID string, add, remove []string, retry RetryFunc) (BatchResult, error) {
	if add == nil {
		add = []string{}
	}
	if remove == nil {
		remove = []string{}
	}
	var m errorMap
	err := c.do(ctx, &request{Method: http.MethodPost, Path: "/familyArchive/",
		JSON: familyArchiveBody{webBody: web, NodesToAdd: add, NodesToRemove: remove, FamilyID: familyID}, Retry: retry, Op: "POST /familyArchive/"}, &m)
	return m.result(), err
}
