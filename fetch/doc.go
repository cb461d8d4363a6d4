// Package fetch is the Amazon Photos API client: cookies and regions,
// requests through one retry policy with adaptive concurrency, paging, and
// decoding of nodes straight into Arrow record batches.
//
// The package never touches DuckDB or the terminal: it hands
// arrow.RecordBatch values with the schema of the nodes table
// (model.NodeColumns, see NodeSchema) to whoever asks, and reports progress
// through Config.Events. It builds with CGO_ENABLED=0.
//
// Quick tour:
//
//	cookies, err := fetch.LoadCookies(fetch.DefaultCookiesPath())
//	c, err := fetch.New(fetch.Config{Cookies: cookies})
//	stats, err := c.StreamSearch(ctx, "type:(PHOTOS OR VIDEOS)", "", func(b arrow.RecordBatch) error {
//		return insert(b) // b is released after emit returns; Retain it to keep it
//	})
//
// Every request apsql sends is built here, by one typed method per endpoint
// (GetNode, Trash, Purge, AddToAlbum, UploadFile, OpenContent, Thumbnail,
// DownloadFile (the resumable, verified download of a file; download.go),
// SearchRecords, ...; see nodes_api.go, albums_api.go, people_api.go,
// transfer_api.go): the request type and the generic call are unexported,
// so no other package can spell a path. Batch requests answer a
// BatchResult whose per-id errors wrap ErrNodeGone or ErrRefused.
//
// Errors are classified by behaviour: errors.Is(err, ErrUnauthorized) for
// bad cookies (never retried, stops every request of the client),
// errors.As(err, *APIError) for any other HTTP status, errors.Is(err,
// ErrListingChanged) when offset paging saw the library change under it and
// the caller should fetch again.
package fetch
