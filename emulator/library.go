package emulator

import (
	"math/rand/v2"
	"strings"
	"sync"
)

// kind is a node's kind (API.md §2.6).
type kind uint8

const (
	kindFile kind = iota
	kindFolder
	kindAlbum
)

var kindNames = [...]string{kindFile: "FILE", kindFolder: "FOLDER", kindAlbum: "VISUAL_COLLECTION"}

// Live Photo children (kind ASSET) are not nodes of the library: see live.go.

// status is a node's status (API.md §2.6). Purged nodes stay in the slice so
// indices remain valid, but are gone from every listing and lookup.
type status uint8

const (
	statusAvailable status = iota
	statusTrash
	statusPurged
)

var statusNames = [...]string{statusAvailable: "AVAILABLE", statusTrash: "TRASH", statusPurged: "PURGED"}

// format says what a file's content is and which MIME type it has.
type format uint8

const (
	fmtNone   format = iota // folders and albums
	fmtJPG                  // image/jpeg
	fmtHEIC                 // image/heic; the served bytes are a JPEG
	fmtPNG                  // image/png
	fmtMP4                  // video/mp4
	fmtMOV                  // video/quicktime
	fmtPDF                  // application/pdf
	fmtUpload               // uploaded: type, extension and bytes are in extra
)

var (
	formatTypes = [...]string{fmtJPG: "image/jpeg", fmtHEIC: "image/heic", fmtPNG: "image/png",
		fmtMP4: "video/mp4", fmtMOV: "video/quicktime", fmtPDF: "application/pdf"}
	formatExts = [...]string{fmtJPG: "jpg", fmtHEIC: "heic", fmtPNG: "png", fmtMP4: "mp4", fmtMOV: "mov", fmtPDF: "pdf"}
)

// node flags.
const (
	flagFavorite  uint8 = 1 << iota
	flagHidden          // settings.hidden
	flagRecursive       // trashed because an ancestor folder was trashed
	flagLive            // a Live Photo still (liveRule, set at generation)
	flagVault           // in the Family Vault (POST /familyArchive/, vault.go)
)

// node is one node of the library, kept small (about 130 bytes) so that a
// million of them fit comfortably; everything derivable (content type,
// EXIF strings, JSON) is derived on demand from the small indices here.
type node struct {
	id, name string
	created  int64 // unix milliseconds
	modified int64
	content  int64 // capture date; 0 for folders and albums
	size     int64
	md5      [16]byte
	parent   int32  // folder index, -1 for the root and albums
	version  uint32 // bumped on every change
	things   uint32 // bit i: things[i]
	people   uint32 // bit i: people[i]
	dur      uint16 // video duration in tenths of a second
	camera   uint8  // 0: no image properties; else cameras[camera-1]
	kind     kind
	status   status
	format   format
	tmpl     uint8 // content template class
	loc      uint8 // 0: none; else locations[loc-1]
	flags    uint8
	exp, iso uint8 // EXIF variations
	flash    uint8
	orient   uint8
	by       uint8 // createdBy: creators[by]
}

func (n *node) isMedia() bool {
	if n.kind != kindFile {
		return false
	}
	switch n.format {
	case fmtJPG, fmtHEIC, fmtPNG, fmtMP4, fmtMOV:
		return true
	}
	return false
}

// extra holds the rare per-node data that does not fit in node: uploaded
// bytes and properties, descriptions and labels set by PATCH.
type extra struct {
	data          []byte // uploaded content
	contentType   string
	extension     string
	width, height int // 0 when not an image
	description   string
	descSet       bool // description was set by PATCH (descriptionOf)
	labels        []string
}

// library is the whole mutable state of the service. mu guards everything;
// version is bumped by every mutation and keys the query cache.
type library struct {
	mu      sync.RWMutex
	version uint64
	nodes   []node
	byID    *idIndex
	root    int32
	owner   string
	// clusters are the face clusters (people aggregation); clusterIDs their ids.
	clusters   []cluster
	clusterIDs []string
	albums     map[int32][]int32 // album index → member indices, in add order
	extra      map[int32]*extra
	// names is a per-folder index of lower-cased AVAILABLE child names,
	// built on first use by a name-conflict check and kept up to date.
	names map[int32]map[string]int32
	// secret signs templink tokens.
	secret [16]byte
	// rng draws the ids of nodes created at run time.
	rng *rand.Rand
	// tpl holds the content templates (Live Photo children derive from them).
	tpl *templates
	// family is the Amazon Household family's id ("" when the account
	// has none); vault members carry flagVault.
	family string
	// rootNoFamily leaves familyId off the root (Options.RootWithoutFamily).
	rootNoFamily bool
	// aliases, once a merge happened, holds per cluster index the ids a
	// person search matches: its own and those merged into it (people.go).
	aliases [][]string
}

// lookup returns the index of a live (not purged) node.
func (l *library) lookup(id string) (int32, bool) {
	i, ok := l.byID.get(id, l.nodes)
	if !ok || l.nodes[i].status == statusPurged {
		return 0, false
	}
	return i, true
}

// contentType returns the MIME type of a file ("" for folders and albums).
func (l *library) contentType(i int32) string {
	n := &l.nodes[i]
	if n.format == fmtUpload {
		return l.extra[i].contentType
	}
	return formatTypes[n.format]
}

// extension returns a file's lower-case extension without the dot.
func (l *library) extension(i int32) string {
	n := &l.nodes[i]
	if n.format == fmtUpload {
		return l.extra[i].extension
	}
	return formatExts[n.format]
}

// imageDims returns a file's image width and height, ok false when the node
// has no contentProperties.image.
func (l *library) imageDims(i int32) (w, h int, ok bool) {
	n := &l.nodes[i]
	if n.format == fmtUpload {
		e := l.extra[i]
		return e.width, e.height, e.width > 0
	}
	if n.camera == 0 || n.format == fmtMP4 || n.format == fmtMOV {
		return 0, 0, false
	}
	c := &cameras[n.camera-1]
	return c.width, c.height, true
}

// hasImage reports whether the node is a processed image (albums accept
// only those, API.md §1.6 "Improper child kind").
func (l *library) hasImage(i int32) bool {
	n := &l.nodes[i]
	if n.kind != kindFile {
		return false
	}
	if n.format == fmtMP4 || n.format == fmtMOV {
		return true
	}
	_, _, ok := l.imageDims(i)
	return ok
}

// nameIndex returns the name index of folder p, building it on first use.
func (l *library) nameIndex(p int32) map[string]int32 {
	if m, ok := l.names[p]; ok {
		return m
	}
	m := make(map[string]int32)
	for i := range l.nodes {
		n := &l.nodes[i]
		if n.parent == p && n.status == statusAvailable {
			m[strings.ToLower(n.name)] = int32(i)
		}
	}
	l.names[p] = m
	return m
}

// conflict returns the AVAILABLE child of folder p named name (case-insensitive).
func (l *library) conflict(p int32, name string) (int32, bool) {
	i, ok := l.nameIndex(p)[strings.ToLower(name)]
	return i, ok
}

// unindex and index keep the name indices in step with a node whose name,
// parent or status is about to change (unindex) or has changed (index).
func (l *library) unindex(i int32) {
	n := &l.nodes[i]
	if m, ok := l.names[n.parent]; ok && n.status == statusAvailable {
		key := strings.ToLower(n.name)
		if m[key] == i {
			delete(m, key)
		}
	}
}

func (l *library) index(i int32) {
	n := &l.nodes[i]
	if m, ok := l.names[n.parent]; ok && n.status == statusAvailable && n.parent >= 0 {
		m[strings.ToLower(n.name)] = i
	}
}

// path returns a folder's path from the root, "" for the root itself.
func (l *library) path(i int32) string {
	var parts []string
	for i >= 0 && i != l.root {
		parts = append(parts, l.nodes[i].name)
		i = l.nodes[i].parent
	}
	for a, b := 0, len(parts)-1; a < b; a, b = a+1, b-1 {
		parts[a], parts[b] = parts[b], parts[a]
	}
	return strings.Join(parts, "/")
}

// folderByPath resolves "Pictures/Web" (case-insensitive) to a folder index.
func (l *library) folderByPath(p string) (int32, bool) {
	cur := l.root
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		i, ok := l.conflict(cur, part)
		if !ok || l.nodes[i].kind != kindFolder {
			return 0, false
		}
		cur = i
	}
	return cur, true
}
