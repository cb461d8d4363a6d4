// Package emulator serves a fake Amazon Photos service over HTTP, built from
// the API notes in ../shared/API.md, for tests, benchmarks and the demo.
//
// It deliberately shares no code with the client in fetch/: a bug in the
// client must not be mirrored here.
//
// # Layout of the served URLs
//
// Everything hangs off one base URL (SPEC §1 --endpoint):
//
//   - metadata: BASE/drive/v1/... (search, nodes, trash, account, bulk purge)
//   - uploads and content: BASE/cdproxy/nodes, BASE/cdproxy/nodes/{id}/content,
//     BASE/cdproxy/templink/{token} (the target of contentRedirection)
//   - thumbnails: BASE/v1/thumbnail/{id}?ownerId=...&viewBox=W[,H]
//   - test hooks (only with Options.State): BASE/_emulator/state and friends
//
// # Behaviour that API.md leaves open, and what the emulator does
//
//   - /search covers AVAILABLE photos, videos and albums; trashed, purged,
//     folders and other files (PDFs) are not in the search index. An empty
//     filter means type:(PHOTOS OR VIDEOS). Hidden nodes stay searchable.
//   - /nodes and /nodes/{id}/children list every status except purged, so a
//     client must filter status itself, as rclone does (API.md §5.3).
//   - Default orders: /search contentProperties.contentDate DESC, /trash
//     modifiedDate DESC, /nodes and children creation order. Every explicit
//     sort breaks ties by id, so paging is stable.
//   - Paging is by offset; with Options.NextToken (--next-token) /nodes,
//     children and /trash also answer "nextToken" while items remain (never
//     /search). startToken=T continues there; offset and the 9999 cap do
//     not apply, limit does. T is signed and bound to path, filter and sort:
//     another listing's or an altered T is 400 "Invalid startToken". Every T
//     of a listing expires TokenTTL (--token-ttl, 10m) after its first page:
//     400 {"logref","message":"Next token is expired"}. A page by offset
//     starts a new listing, so a client resumes below the cap by offset.
//     Without NextToken, startToken is ignored, as before.
//   - Usage counts AVAILABLE files only (trash and purged are excluded), so
//     usage matches what a search and a nodes listing show. Photos are
//     billable 0 bytes (Prime's unlimited photo storage).
//   - PATCH /trash and POST /bulk/nodes/purge answer 200 {"errorMap":{id:status}}
//     (404 unknown id, 409 purge of a node not in trash); the other ids of the
//     batch are applied. Trashing a folder trashes its subtree.
//   - resourceVersion=V2 (query or JSON body) is required where API.md §1.2
//     says so: node operations on files and albums answer 404 "Node not found
//     for ResourceVersion V1" without it, and album creation answers 400
//     "Invalid Kind VISUAL_COLLECTION".
//   - Auth: the cookies of Server.Cookies (session-id, ubid-<r>, at-<r>) must
//     all be present with the issued values; an x-amzn-sessionid header, when
//     sent, must equal session-id. Failures are 401 "No Auth Method Provided"
//     in the three observed shapes: {"message"} on /drive/v1, the
//     {"logref","message","code"} form on /cdproxy, {"Message"} on thumbnails.
//   - Faults (latency, 429, 500/503, connection resets) hit only the service
//     endpoints (/drive/v1, /cdproxy, /v1/thumbnail), never /_emulator. A reset
//     happens after the handler ran, so a mutation may have been applied even
//     though the client saw a broken response, as with the real service
//     (API.md §5.3: "uploads can fail ... and still complete").
//   - Node JSON carries no things, people or location: those are reachable
//     only through search filters and aggregations, as on the real service.
//   - Synthetic content is a small real JPEG (also for .heic nodes), PNG, or
//     MP4/QuickTime box stream, followed by a per-node trailer after the
//     image's end marker; size and md5 in the node describe exactly the bytes
//     served.
package emulator
