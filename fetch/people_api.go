package fetch

import (
	"context"
	"net/http"
	"net/url"
)

// clusterContext is the "context" of every people edit: the account's own
// library.
const clusterContext = "customer"

type renamePersonBody struct {
	webBody
	Context       string `json:"context"`
	SourceCluster string `json:"sourceCluster"`
	NewName       string `json:"newName"`
}

// RenamePerson names a face cluster (PUT /cluster/name).
func (c *Client) RenamePerson(ctx context.Context, clusterID, name string, retry RetryFunc) error {
	return c.do(ctx, &request{Method: http.MethodPut, Path: "/cluster/name",
		JSON:  renamePersonBody{webBody: web, Context: clusterContext, SourceCluster: clusterID, NewName: name},
		Retry: retry, Op: "PUT /cluster/name"}, nil)
}

type mergePeopleBody struct {
	webBody
	Context    string   `json:"context"`
	ClusterIDs []string `json:"clusterIds"`
	NewName    string   `json:"newName"`
}

// MergePeople merges face clusters into the first of clusterIDs, named
// name (POST /cluster).
func (c *Client) MergePeople(ctx context.Context, clusterIDs []string, name string, retry RetryFunc) error {
	return c.do(ctx, &request{Method: http.MethodPost, Path: "/cluster",
		JSON:  mergePeopleBody{webBody: web, Context: clusterContext, ClusterIDs: clusterIDs, NewName: name},
		Retry: retry, Op: "POST /cluster"}, nil)
}

type personCoverBody struct {
	webBody
	Context   string `json:"context"`
	ClusterID string `json:"clusterId"`
	NodeID    string `json:"nodeId"`
}

// SetPersonCover makes nodeID a face cluster's cover (hero) photo (PUT
// /cluster/hero/{id}).
func (c *Client) SetPersonCover(ctx context.Context, clusterID, nodeID string, retry RetryFunc) error {
	return c.do(ctx, &request{Method: http.MethodPut, Path: "/cluster/hero/" + url.PathEscape(clusterID),
		JSON:  personCoverBody{webBody: web, Context: clusterContext, ClusterID: clusterID, NodeID: nodeID},
		Retry: retry, Op: "PUT /cluster/hero/" + clusterID}, nil)
}
