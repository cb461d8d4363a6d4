package emulator

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // uploaded GIFs get image dimensions
	"math/rand/v2"
	"net/http"
	"path"
	"strings"
)

// Errors of the server-side mutations; HTTP handlers map them to statuses.
var (
	ErrNotFound   = errors.New("node not found")
	ErrConflict   = errors.New("name already exists")
	ErrBadName    = errors.New("invalid name")
	ErrBadKind    = errors.New("improper kind")
	ErrNotInTrash = errors.New("node is not in trash")
)

// conflictError carries the existing node of a name conflict.
type conflictError struct {
	name, parentID, nodeID string
}

func (e *conflictError) Error() string {
	return fmt.Sprintf("Node with the name %s already exists under parentId %s conflicting NodeId: %s", e.name, e.parentID, e.nodeID)
}

func (e *conflictError) Unwrap() error { return ErrConflict }

// All mutations below run with l.mu held for writing and bump l.version.

// newNodeID draws a fresh id from the library's creation stream.
func (l *library) newNodeID() string {
	for {
		id := newID(l.rng)
		if _, dup := l.byID.get(id, l.nodes); !dup {
			return id
		}
	}
}

// add appends a node and indexes it.
func (l *library) add(n node) int32 {
	i := int32(len(l.nodes))
	l.nodes = append(l.nodes, n)
	l.byID.put(i, l.nodes) // newNodeID checked that the id is new
	l.index(i)
	l.version++
	return i
}

func (l *library) touch(i int32, now int64) {
	n := &l.nodes[i]
	n.modified = max(now, n.modified)
	n.version++
	l.version++
}

func checkName(name string) error {
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return nil
}

// checkConflict fails when folder p has an AVAILABLE child named name
// other than self (names are case-insensitive per folder, API.md §1.3 #13).
func (l *library) checkConflict(p int32, name string, self int32) error {
	if p < 0 {
		return nil
	}
	if c, ok := l.conflict(p, name); ok && c != self {
		return &conflictError{name: name, parentID: l.nodes[p].id, nodeID: l.nodes[c].id}
	}
	return nil
}

// children returns the live nodes whose parent is folder p.
func (l *library) children(p int32) []int32 {
	var out []int32
	for i := range l.nodes {
		if l.nodes[i].parent == p && l.nodes[i].status != statusPurged {
			out = append(out, int32(i))
		}
	}
	return out
}

// trash moves an AVAILABLE node (and a folder's subtree) to trash.
func (l *library) trash(i int32, now int64, recursive bool) {
	n := &l.nodes[i]
	if n.status != statusAvailable || i == l.root {
		return
	}
	l.unindex(i)
	n.status = statusTrash
	n.flags &^= flagRecursive
	if recursive {
		n.flags |= flagRecursive
	}
	l.touch(i, now)
	if n.kind == kindFolder {
		for _, c := range l.children(i) {
			l.trash(c, now, true)
		}
	}
}

// restore brings a trashed node back, renaming it "name (1).ext" when its
// name is taken meanwhile (conflictResolution RENAME), and with it the
// nodes that were trashed because it was.
func (l *library) restore(i int32, now int64) {
	n := &l.nodes[i]
	if n.status != statusTrash {
		return
	}
	if n.parent >= 0 {
		if _, taken := l.conflict(n.parent, n.name); taken {
			n.name = l.freeName(n.parent, n.name)
		}
	}
	n.status = statusAvailable
	n.flags &^= flagRecursive
	l.index(i)
	l.touch(i, now)
	if n.kind == kindFolder {
		for _, c := range l.children(i) {
			if l.nodes[c].flags&flagRecursive != 0 {
				l.restore(c, now)
			}
		}
	}
}

func (l *library) freeName(p int32, name string) string {
	ext := path.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for k := 1; ; k++ {
		cand := fmt.Sprintf("%s (%d)%s", base, k, ext)
		if _, taken := l.conflict(p, cand); !taken {
			return cand
		}
	}
}

// purge deletes a trashed node (and a folder's subtree) for good.
func (l *library) purge(i int32) error {
	n := &l.nodes[i]
	if n.status != statusTrash {
		return ErrNotInTrash
	}
	l.purgeTree(i)
	return nil
}

// purgeAvailable deletes an AVAILABLE node and its whole subtree for
// good (Options.PurgeAny).
func (l *library) purgeAvailable(i int32) {
	n := &l.nodes[i]
	l.unindex(i)
	n.status = statusPurged
	delete(l.extra, i)
	delete(l.albums, i)
	l.version++
	if n.kind == kindFolder {
		for _, c := range l.children(i) {
			l.purgeAvailable(c)
		}
	}
}

func (l *library) purgeTree(i int32) {
	n := &l.nodes[i]
	l.unindex(i)
	n.status = statusPurged
	delete(l.extra, i)
	delete(l.albums, i)
	l.version++
	if n.kind == kindFolder {
		for _, c := range l.children(i) {
			// A child restored on its own is AVAILABLE under the trashed
			// folder: purging the folder must not take it.
			if l.nodes[c].status == statusTrash {
				l.purgeTree(c)
			}
		}
	}
}

// rename renames a node, checking its folder for conflicts.
func (l *library) rename(i int32, name string, now int64) error {
	if err := checkName(name); err != nil {
		return err
	}
	n := &l.nodes[i]
	if i == l.root {
		return fmt.Errorf("%w: the root cannot be renamed", ErrBadName)
	}
	if n.status == statusAvailable {
		if err := l.checkConflict(n.parent, name, i); err != nil {
			return err
		}
	}
	l.unindex(i)
	n.name = name
	l.index(i)
	l.touch(i, now)
	return nil
}

func (l *library) setFlag(i int32, flag uint8, v bool, now int64) {
	n := &l.nodes[i]
	if (n.flags&flag != 0) == v {
		return
	}
	n.flags ^= flag
	l.touch(i, now)
}

// createFolder makes folder name under folder p.
func (l *library) createFolder(p int32, name string, now int64) (int32, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	if l.nodes[p].kind != kindFolder || l.nodes[p].status != statusAvailable {
		return 0, fmt.Errorf("%w: parent %s is not an available folder", ErrBadKind, l.nodes[p].id)
	}
	if err := l.checkConflict(p, name, -1); err != nil {
		return 0, err
	}
	return l.add(node{id: l.newNodeID(), name: name, kind: kindFolder, parent: p, created: now, modified: now, version: 1}), nil
}

// createAlbum makes an empty album.
func (l *library) createAlbum(name string, now int64) (int32, error) {
	if strings.TrimSpace(name) == "" {
		return 0, fmt.Errorf("%w: empty album name", ErrBadName)
	}
	return l.add(node{id: l.newNodeID(), name: name, kind: kindAlbum, parent: -1, created: now, modified: now, version: 1}), nil
}

// albumEdit adds or removes members of album a; every member must be a
// processed photo or video ("Improper child kind" otherwise). Nothing is
// changed when one member is refused.
func (l *library) albumEdit(a int32, add bool, members []int32, now int64) error {
	if l.nodes[a].kind != kindAlbum {
		return fmt.Errorf("%w: %s is a %s, not an album", ErrBadKind, l.nodes[a].id, kindNames[l.nodes[a].kind])
	}
	if add {
		for _, m := range members {
			if !l.hasImage(m) || l.mediaType(m) == typeNone {
				return fmt.Errorf("%w: Improper child kind", ErrBadKind)
			}
		}
	}
	cur := l.albums[a]
	in := make(map[int32]bool, len(cur))
	for _, m := range cur {
		in[m] = true
	}
	for _, m := range members {
		switch {
		case add && !in[m]:
			cur = append(cur, m)
			in[m] = true
		case !add && in[m]:
			delete(in, m)
		}
	}
	if !add {
		kept := cur[:0]
		for _, m := range cur {
			if in[m] {
				kept = append(kept, m)
			}
		}
		cur = kept
	}
	l.albums[a] = cur
	l.touch(a, now)
	return nil
}

// upload stores a new file under folder p.
func (l *library) upload(p int32, name string, data []byte, contentDate, now int64) (int32, error) {
	return l.store(p, name, data, md5.Sum(data), contentDate, now)
}

// checkUploadTarget checks a new file's name and that p is an available folder.
func (l *library) checkUploadTarget(p int32, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if l.nodes[p].kind != kindFolder || l.nodes[p].status != statusAvailable {
		return fmt.Errorf("%w: parent %s is not an available folder", ErrBadKind, l.nodes[p].id)
	}
	return nil
}

// duplicateError is a v2 upload of content (same md5) the library holds.
type duplicateError struct {
	md5, nodeID string
}

func (e *duplicateError) Error() string {
	return fmt.Sprintf("A node with the same content (md5 %s) already exists, conflicting NodeId: %s", e.md5, e.nodeID)
}

func (e *duplicateError) Unwrap() error { return ErrConflict }

// sameContent returns an AVAILABLE file whose md5 is sum (a scan: a
// million nodes take about a millisecond, and uploads are rare).
func (l *library) sameContent(sum [16]byte) (int32, bool) {
	for i := range l.nodes {
		n := &l.nodes[i]
		if n.md5 == sum && n.kind == kindFile && n.status == statusAvailable {
			return int32(i), true
		}
	}
	return 0, false
}

// uploadV2 stores a new file under folder p as POST /v2/upload does: the
// same checks as upload, but content the library already holds is a
// conflict whatever the name, and with rename a taken name becomes
// "name (1).ext" (the first free number) instead of a conflict.
func (l *library) uploadV2(p int32, name string, data []byte, sum [16]byte, contentDate, now int64, rename bool) (int32, error) {
	if err := l.checkUploadTarget(p, name); err != nil {
		return 0, err
	}
	if d, ok := l.sameContent(sum); ok {
		return 0, &duplicateError{md5: hex.EncodeToString(sum[:]), nodeID: l.nodes[d].id}
	}
	if _, taken := l.conflict(p, name); taken && rename {
		name = l.freeName(p, name)
	}
	return l.store(p, name, data, sum, contentDate, now)
}

// store checks and stores a new file under folder p; sum is md5(data).
func (l *library) store(p int32, name string, data []byte, sum [16]byte, contentDate, now int64) (int32, error) {
	if err := l.checkUploadTarget(p, name); err != nil {
		return 0, err
	}
	if err := l.checkConflict(p, name, -1); err != nil {
		return 0, err
	}
	e := &extra{data: data, extension: strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))}
	e.contentType = uploadType(e.extension, data)
	if strings.HasPrefix(e.contentType, "image/") {
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
			e.width, e.height = cfg.Width, cfg.Height
		}
	}
	if contentDate == 0 {
		contentDate = now
	}
	i := l.add(node{id: l.newNodeID(), name: name, kind: kindFile, parent: p, created: now, modified: now,
		content: contentDate, size: int64(len(data)), md5: sum, format: fmtUpload, by: byWeb, version: 1})
	l.extra[i] = e
	return i, nil
}

// uploadTypes maps extensions to the content type Amazon assigns.
var uploadTypes = map[string]string{
	"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "bmp": "image/bmp",
	"heic": "image/heic", "heif": "image/heif", "webp": "image/webp", "tif": "image/tiff", "tiff": "image/tiff",
	"mp4": "video/mp4", "m4v": "video/x-m4v", "mov": "video/quicktime", "qt": "video/quicktime",
	"avi": "video/x-msvideo", "3gp": "video/3gpp", "mkv": "video/x-matroska", "mpg": "video/mpeg", "mpeg": "video/mpeg",
	"pdf": "application/pdf", "txt": "text/plain", "zip": "application/zip",
}

func uploadType(ext string, data []byte) string {
	if t, ok := uploadTypes[ext]; ok {
		return t
	}
	if t := http.DetectContentType(data); strings.HasPrefix(t, "image/") || strings.HasPrefix(t, "video/") {
		return t
	}
	return "application/octet-stream"
}

// newCreationRNG is the stream new node ids come from.
func newCreationRNG(seed int64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), 1<<56)) }

// writeNodesNotFound answers 404 for a batch (PATCH /trash with
// TrashMissing404) that names ids the service does not have. API.md is
// silent on this answer (§1.3 #22: "not parsed by UP"), so it takes the
// service's logref body of a 404 (§1.6, code NODE_NOT_FOUND) and names the
// ids as a 409 names its conflicting node (info.nodeId), as a list since a
// batch may miss several: {"logref":"…","message":"Nodes not found: a, b",
// "code":"NODE_NOT_FOUND","info":{"nodeIds":["a","b"]}}. v1 gives the
// message the service gives V1 requests for photo nodes (API.md §1.2).
func (s *Server) writeNodesNotFound(w http.ResponseWriter, ids []string, v1 bool) {
	msg := "Nodes not found: " + strings.Join(ids, ", ")
	if v1 {
		msg = "Node not found for ResourceVersion V1"
	}
	b := []byte(`{"logref":"`)
	b = append(b, s.newLogref()...)
	b = append(b, `","message":`...)
	b = appendString(b, msg)
	b = append(b, `,"code":"NODE_NOT_FOUND","info":{"nodeIds":[`...)
	for k, id := range ids {
		if k > 0 {
			b = append(b, ',')
		}
		b = appendString(b, id)
	}
	writeJSON(w, http.StatusNotFound, append(b, "]}}"...))
}
