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
//   - uploads and content: BASE/cdproxy/nodes, BASE/v2/upload,
//     BASE/cdproxy/nodes/{id}/content, BASE/cdproxy/templink/{token} (the
//     target of contentRedirection)
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
//     batch are applied. Trashing a folder trashes its subtree; purging it
//     purges what of the subtree is still in trash (a child restored on its
//     own stays). DELETE /nodes/{id} is 403 "Insufficient permissions granted
//     for operation: purgeNode".
//   - resourceVersion=V2 (query or JSON body) is required where API.md §1.2
//     says so: every node operation on photo kinds and albums (GET, PATCH,
//     /children, PATCH /trash and purge, where the id is 404 in errorMap,
//     contentRedirection) answers 404 "Node not found for ResourceVersion
//     V1" without it, and album creation answers 400 "Invalid Kind
//     VISUAL_COLLECTION". contentRedirection also needs ownerId (400
//     without, like thumbnails).
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
//   - Uploads: POST /cdproxy/nodes answers 409 NAME_ALREADY_EXISTS (C1
//     body) for a name taken in the folder, case-insensitively. With
//     Options.UploadNotRegistered it answers every upload 403 "Not
//     Registered", as SYNC saw for some accounts (API.md §7 #2). With
//     Options.UploadDedup, bytes an AVAILABLE file already holds are not
//     stored again: the answer is 201 with that file's node (SYNC: "silently
//     deduplicated"; the exact answer is inferred). POST
//     /v2/upload (query name, parentNodeId, fileSize, contentDate,
//     conflictResolution; header x-amzn-file-md5) answers 201 and the node
//     as /nodes shows it; fileSize, when sent, must equal the body length and
//     the header the body's md5 (400 otherwise); an unknown parent is 404, a
//     parent that is not an available folder 400, as on cdproxy. Its errors
//     use the v2 body {"message","errorCode","timeStamp","requestId"}, a 409
//     adding "errorDetails":{"conflictNodeIds":[id]}. Inferred: a 409
//     CONTENT_ALREADY_EXISTS for bytes (md5) an AVAILABLE file already holds,
//     whatever the name and conflictResolution (RUST always sends RENAME and
//     reads a 409 as "already uploaded"); a taken name is 409
//     NAME_ALREADY_EXISTS, or with conflictResolution=RENAME becomes
//     "name (1).ext", the first free number, as a restore does; 201 rather
//     than 200; the errorCode strings and the ISO timeStamp. Uploaded images
//     carry image.resolutionUnit, which RUST's ResponseUpload requires.
//   - PUT /cdproxy/nodes/{id}/content (API.md §1.4 C4, overwrite; replace.go)
//     takes the multipart part "content" as the file's new bytes and
//     answers 200 with the node: same id, name, folder and albums, new
//     size and md5, version bumped. An unknown or purged id is 404, a node
//     that is not an available file 400 (inferred: the status codes).
//   - Live Photos (inferred rule): a synthetic JPEG or HEIC from an iPhone
//     (make Apple) captured since 2015-09-25 is Live when a hash of its id
//     picks it, about one in ten; its childAssetTypeInfo is
//     [{"assetType":"LIVE_VIDEO"}]. Its /children lists one kind ASSET node,
//     named after it with .MOV, assetProperties.assetType LIVE_VIDEO,
//     contentProperties extension "qt", video/quicktime, parents [photo],
//     parentMap {"FILE":[photo]}; its status, dates, version and createdBy
//     follow the photo's (trashed with it, gone once it is purged). The child
//     is derived on demand from the photo (id: the photo id's bytes XOR a
//     constant), so seeds give the libraries they gave before. It can be
//     fetched by id (GET /nodes/{id}, V2 only), downloaded (contentRedirection,
//     content, templink) and filtered in /children (kind:ASSET), but is not
//     a FILE: /search, /nodes, /trash, usage, State and aggregations never
//     see it, and it cannot be renamed, trashed or purged on its own (404).
//     It has no thumbnail.
//   - Synthetic content is a small real JPEG (also for .heic nodes), PNG, or
//     MP4/QuickTime box stream, followed by a per-node trailer after the
//     image's end marker; size and md5 in the node describe exactly the bytes
//     served.
package emulator
