package fetch

import (
	"context"
	"net/http"
)

// The raw request path, for the package's own tests only: outside fetch,
// callers use the typed endpoint methods and cannot build a request.

type (
	Request = request
	Host    = host
)

const (
	HostMetadata  = hostMetadata
	HostContent   = hostContent
	HostThumbnail = hostThumbnail
)

func (c *Client) Do(ctx context.Context, req *Request, out any) error { return c.do(ctx, req, out) }

func (c *Client) Open(ctx context.Context, req *Request) (*http.Response, error) {
	return c.open(ctx, req)
}
