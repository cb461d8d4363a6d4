package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// Upload is one file to upload into a folder.
type Upload struct {
	Name     string
	ParentID string
	Size     int64
	// MD5 is the content's md5 (hex), sent by /v2/upload.
	MD5 string
	// V2 sends POST /v2/upload instead of POST /cdproxy/nodes (accounts
	// where cdproxy answers 403 "Not Registered", API.md §1.4 C1). It asks
	// for no conflictResolution: a resend of a landed upload finds the
	// first copy (409) instead of storing "name (1).ext".
	V2 bool
	// Open opens the content afresh for each attempt.
	Open func() (io.ReadCloser, error)
	// Retry decides whether a failed attempt is sent again.
	Retry RetryFunc
}

// UploadFile uploads a file (POST /cdproxy/nodes, or /v2/upload with V2)
// and returns the node the service answers with. A name taken in the
// folder is an *APIError with Status 409 and NodeID set; an answer that is
// not a node wraps ErrUnexpectedAnswer and carries the answer in Raw.
func (c *Client) UploadFile(ctx context.Context, u Upload) (*Node, error) {
	ep, req := "POST /cdproxy/nodes", &request{
		Method: http.MethodPost,
		Host:   hostContent,
		Path:   "/cdproxy/nodes",
		Query:  url.Values{"name": {u.Name}, "kind": {"FILE"}, "parentNodeId": {u.ParentID}},
	}
	if u.V2 {
		ep, req = "POST /v2/upload", &request{
			Method: http.MethodPost,
			Host:   hostContent,
			Path:   "/v2/upload",
			Query:  url.Values{"name": {u.Name}, "parentNodeId": {u.ParentID}, "fileSize": {strconv.FormatInt(u.Size, 10)}},
			Header: http.Header{"x-amzn-file-md5": {u.MD5}},
		}
	}
	req.Body, req.ContentLength, req.ContentType = u.Open, u.Size, "application/octet-stream"
	req.Retry = u.Retry
	req.Op = ep + " " + u.Name
	var raw []byte
	if err := c.do(ctx, req, &raw); err != nil {
		return nil, err
	}
	return decodeNode(ep, raw)
}

// ReplaceContent replaces a file's content (PUT
// /cdproxy/nodes/{id}/content, multipart "content", API.md §1.4 C4): the
// node keeps its id, name, folder and albums. open opens the new content
// (size bytes) afresh for each attempt.
func (c *Client) ReplaceContent(ctx context.Context, id, name string, size int64, open func() (io.ReadCloser, error), retry RetryFunc) (*Node, error) {
	const ep = "PUT /cdproxy/nodes/{id}/content"
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if _, err := mw.CreateFormFile("content", name); err != nil {
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	req := &request{
		Method:        http.MethodPut,
		Host:          hostContent,
		Path:          "/cdproxy/nodes/" + url.PathEscape(id) + "/content",
		ContentLength: int64(head.Len()) + size + int64(len(tail)),
		ContentType:   mw.FormDataContentType(),
		Op:            "PUT /cdproxy/nodes/" + id + "/content",
		Retry:         retry,
		Body: func() (io.ReadCloser, error) {
			rc, err := open()
			if err != nil {
				return nil, err
			}
			return struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(head.Bytes()), rc, strings.NewReader(tail)), rc}, nil
		},
	}
	var raw []byte
	if err := c.do(ctx, req, &raw); err != nil {
		return nil, gone(err)
	}
	return decodeNode(ep, raw)
}

// RangeError is a download resumed from an offset that the server did not
// serve from there: the caller starts the file again.
type RangeError struct{ Why string }

func (e *RangeError) Error() string { return e.Why }

// OpenContent opens a file's content (GET /nodes/{id}/contentRedirection,
// API.md §1.4 C5; ownerID is required) from byte offset on: with offset >
// 0 it sends a Range and checks that the answer starts there, else the
// error is a *RangeError. The caller closes the body; a cut while reading
// it is the caller's to resume.
func (c *Client) OpenContent(ctx context.Context, id, ownerID string, offset int64) (io.ReadCloser, error) {
	req := &request{
		Path:  "/nodes/" + url.PathEscape(id) + "/contentRedirection",
		Query: url.Values{"querySuffix": {"?download=true"}, "ownerId": {ownerID}},
		Op:    "GET /nodes/" + id + "/contentRedirection",
	}
	if offset > 0 {
		req.Header = http.Header{"Range": {fmt.Sprintf("bytes=%d-", offset)}}
	}
	resp, err := c.open(ctx, req)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusRequestedRangeNotSatisfiable && offset > 0 {
			return nil, &RangeError{"the server refused the range"}
		}
		return nil, gone(err)
	}
	if offset > 0 {
		if resp.StatusCode != http.StatusPartialContent {
			resp.Body.Close()
			return nil, &RangeError{"the server ignored the range"}
		}
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != offset {
			resp.Body.Close()
			return nil, &RangeError{"the server answered another range"}
		}
	}
	return resp.Body, nil
}

// rangeStart reads the first byte of "bytes START-END/TOTAL".
func rangeStart(v string) (int64, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "bytes ")
	i := strings.IndexByte(v, '-')
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	return n, err == nil
}

// MaxThumbnailBytes is the largest thumbnail apsql accepts (the gallery,
// SYNC HASHES and LABEL alike); a larger answer is ErrThumbnailTooLarge.
const MaxThumbnailBytes = 16 << 20

var (
	// ErrThumbnailTooLarge: the thumbnail is larger than MaxThumbnailBytes.
	ErrThumbnailTooLarge = errors.New("thumbnail too large")
	// ErrThumbnailEmpty: the service answered an empty thumbnail.
	ErrThumbnailEmpty = errors.New("empty thumbnail")
)

// Thumbnail returns a node's thumbnail (a JPEG; a video's poster frame)
// fitted into size pixels (GET /v1/thumbnail/{id} on the thumbnail host,
// API.md §1.4 C6; ownerID is required). A 404 wraps ErrNodeGone.
func (c *Client) Thumbnail(ctx context.Context, id, ownerID string, size int) ([]byte, error) {
	return c.thumbnail(ctx, id, ownerID, strconv.Itoa(size))
}

// ThumbnailBox is Thumbnail fitted into width × height pixels.
func (c *Client) ThumbnailBox(ctx context.Context, id, ownerID string, width, height int) ([]byte, error) {
	return c.thumbnail(ctx, id, ownerID, strconv.Itoa(width)+","+strconv.Itoa(height))
}

func (c *Client) thumbnail(ctx context.Context, id, ownerID, viewBox string) ([]byte, error) {
	var data []byte
	err := c.do(ctx, &request{Host: hostThumbnail, Path: "/v1/thumbnail/" + url.PathEscape(id),
		Query: url.Values{"ownerId": {ownerID}, "viewBox": {viewBox}}, Op: "GET /v1/thumbnail/" + id}, &data)
	switch {
	case err != nil:
		return nil, gone(err)
	case len(data) == 0:
		return nil, fmt.Errorf("thumbnail of %s: %w", id, ErrThumbnailEmpty)
	case len(data) > MaxThumbnailBytes:
		return nil, fmt.Errorf("thumbnail of %s: %d bytes, more than %d: %w", id, len(data), MaxThumbnailBytes, ErrThumbnailTooLarge)
	}
	return data, nil
}

// SearchRecords fetches one /search page and decodes it into a record
// batch with NodeSchema (the caller releases it), for readers that need
// Arrow rows page by page, fetched only as they are consumed (SYNC NEW,
// search()). An empty Sort sends none (the service's order); Limit 0
// means 200. The searchContext is always the customer's.
func (c *Client) SearchRecords(ctx context.Context, sq SearchQuery, syncedAt time.Time) (arrow.RecordBatch, PageInfo, error) {
	q := url.Values{}
	q.Set("filters", sq.Filter)
	if sq.Sort != "" {
		q.Set("sort", sq.Sort)
	}
	q.Set("searchContext", "customer")
	q.Set("lowResThumbnail", "true")
	if sq.Limit <= 0 || sq.Limit > pageLimit {
		sq.Limit = pageLimit
	}
	q.Set("limit", strconv.Itoa(sq.Limit))
	q.Set("offset", strconv.Itoa(sq.Offset))
	op := fmt.Sprintf("/search offset %d", sq.Offset)
	body, err := c.fetchBody(ctx, &request{Path: "/search", Query: q, Op: op})
	if err != nil {
		return nil, PageInfo{}, err
	}
	defer putBuf(body)
	rec, info, err := DecodeNodes(body.Bytes(), syncedAt)
	if err != nil {
		return nil, info, fmt.Errorf("%s: %w", op, err)
	}
	return rec, info, nil
}
