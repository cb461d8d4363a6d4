package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"path"
	"strconv"
	"strings"
	"time"
)

// Live Photos (API.md §2.2 childAssetTypeInfo and assetProperties, §2.7
// "Live Photo child (ASSET)"). Which photos are Live is a function of the
// generated node alone (a hash of its id, its camera and capture date),
// kept as flagLive, and the child's id, name, size and md5 derive from the
// photo, so the children take no memory and draw nothing from the
// generator's streams: a seed gives the same library as before Live Photos
// existed, except for the childAssetTypeInfo of the Live ones.
//
// A child is not in the node slice. Where a listing holds it (the photo's
// /children), it stands as the photo's index with assetBit set; appendNode,
// docView and content resolve such indices.

// assetBit marks a listing entry as the Live Photo child of node i&^assetBit.
const assetBit int32 = 1 << 30

func isAsset(i int32) bool { return i&assetBit != 0 }

const (
	liveShare      = 10 // about one eligible photo in liveShare is Live
	assetType      = "LIVE_VIDEO"
	assetExtension = "qt" // API.md §2.3: extension "qt" on the Live Photo video
	assetMIME      = "video/quicktime"
)

// liveSince is when Live Photos appeared (iPhone 6s, 2015-09-25).
var liveSince = time.Date(2015, 9, 25, 0, 0, 0, 0, time.UTC).UnixMilli()

// assetMask turns a photo's id into its child's (a bijection on ids).
var assetMask = [16]byte{0x4c, 0x49, 0x56, 0x45, 0x5f, 0x56, 0x49, 0x44, 0x45, 0x4f, 0x9e, 0x37, 0x79, 0xb9, 0x7f, 0x4a}

var idEncoding = base64.RawURLEncoding.Strict()

// liveHash mixes the last eight characters of an id (random base64; the
// id index hashes the first eight): a few instructions per generated node.
func liveHash(id string) uint64 {
	var b [8]byte
	copy(b[:], id[max(len(id)-8, 0):])
	h := binary.LittleEndian.Uint64(b[:])
	h ^= h >> 33
	h *= 0xFF51AFD7ED558CCD
	return h ^ h>>33
}

// liveRule reports whether a generated node is a Live Photo still: a
// synthetic JPEG or HEIC from an iPhone camera (make Apple), captured since
// Live Photos exist, and picked by a hash of its id (about one in
// liveShare). The generator records it as flagLive; uploads are never Live.
func liveRule(n *node) bool {
	return n.kind == kindFile && (n.format == fmtJPG || n.format == fmtHEIC) && n.camera > 0 &&
		cameras[n.camera-1].group == camApple && n.content >= liveSince && liveHash(n.id)%liveShare == 0
}

// markLive sets flagLive from liveRule, once n's id is final.
func markLive(n *node) {
	n.flags &^= flagLive
	if liveRule(n) {
		n.flags |= flagLive
	}
}

// isLive reports whether node i is a Live Photo still.
func (l *library) isLive(i int32) bool { return l.nodes[i].flags&flagLive != 0 }

// assetID returns the id of photo p's child: the photo id's 16 bytes
// XOR assetMask, in the same 22-character form.
func (l *library) assetID(p int32) string {
	var raw [16]byte
	id := l.nodes[p].id
	if n, err := idEncoding.Decode(raw[:], []byte(id)); err != nil || n != len(raw) {
		// Not a 16-byte id (never so for the synthetic library).
		return "L" + id[1:]
	}
	for k := range raw {
		raw[k] ^= assetMask[k]
	}
	return idEncoding.EncodeToString(raw[:])
}

// assetParent returns the Live photo whose child has id id.
func (l *library) assetParent(id string) (int32, bool) {
	var raw [16]byte
	if len(id) != 22 {
		return 0, false
	}
	if n, err := idEncoding.Decode(raw[:], []byte(id)); err != nil || n != len(raw) {
		return 0, false
	}
	for k := range raw {
		raw[k] ^= assetMask[k]
	}
	p, ok := l.lookup(idEncoding.EncodeToString(raw[:]))
	if !ok || !l.isLive(p) {
		return 0, false
	}
	return p, true
}

// lookupAny is lookup that also finds Live Photo children (as p|assetBit).
// A child lives and dies with its photo: trashed with it, gone once it is
// purged.
func (l *library) lookupAny(id string) (int32, bool) {
	if i, ok := l.lookup(id); ok {
		return i, true
	}
	if p, ok := l.assetParent(id); ok {
		return p | assetBit, true
	}
	return 0, false
}

// hasContent reports whether a download can serve i (files and assets).
func (l *library) hasContent(i int32) bool {
	return isAsset(i) || l.nodes[i].kind == kindFile
}

// assetInfo is what a Live Photo child is made of, derived on demand.
type assetInfo struct {
	id, name string
	tpl      *tmpl
	size     int64
	md5      [16]byte
}

// asset derives photo p's child: a QuickTime stream (a video template of
// the photo's class followed by the child's trailer) named after the photo
// with the extension .MOV.
func (l *library) asset(p int32) assetInfo {
	n := &l.nodes[p]
	a := assetInfo{id: l.assetID(p), tpl: l.tpl.template(fmtMOV, n.tmpl)}
	a.name = strings.TrimSuffix(n.name, path.Ext(n.name)) + ".MOV"
	a.size = int64(len(a.tpl.data) + trailerLen(fmtMOV, a.id))
	a.md5 = newSummer().sum(a.tpl, fmtMOV, a.id)
	return a
}

// assetContent returns the bytes of photo p's child.
func (l *library) assetContent(p int32) []byte {
	a := l.asset(p)
	b := make([]byte, len(a.tpl.data), a.size)
	copy(b, a.tpl.data)
	return appendTrailer(b, fmtMOV, a.id)
}

// appendAsset appends the JSON of photo p's child (API.md §2.7). Status,
// dates, version and createdBy follow the photo. The caller holds l.mu.
func (l *library) appendAsset(b []byte, p int32, o renderOpts) []byte {
	n := &l.nodes[p]
	a := l.asset(p)
	b = append(b, `{"id":"`...)
	b = append(b, a.id...)
	b = append(b, `","name":`...)
	b = appendString(b, a.name)
	b = append(b, `,"kind":"ASSET","status":"`...)
	b = append(b, statusNames[n.status]...)
	b = append(b, `","ownerId":"`...)
	b = append(b, l.owner...)
	b = append(b, `","parents":["`...)
	b = append(b, n.id...)
	b = append(b, `"],"parentMap":{"FILE":["`...)
	b = append(b, n.id...)
	b = append(b, `"]}`...)
	b = appendStamps(b, n, a.id) // the child's follow the photo's
	b = append(b, `,"labels":[],"keywords":[],"transforms":[],"subKinds":[],"accessRuleIds":[],"groupPermissions":[],"childAssetTypeInfo":[],"isRoot":false,"isShared":false,"restricted":false,"protectedFolder":false`...)
	if n.status == statusTrash {
		b = append(b, `,"exclusivelyTrashed":false,"recursivelyTrashed":true`...)
	}
	b = append(b, `,"assetProperties":{"assetType":"`+assetType+`"},"contentProperties":{"size":`...)
	b = strconv.AppendInt(b, a.size, 10)
	b = append(b, `,"version":1,"md5":`...)
	b = appendMD5(b, &a.md5)
	b = append(b, `,"contentType":"`+assetMIME+`","extension":"`+assetExtension+`","contentDate":`...)
	b = appendDate(b, n.content)
	b = append(b, `,"contentSignatures":[{"contentSignatureType":"MD5","contentSignature":`...)
	b = appendMD5(b, &a.md5)
	b = append(b, `}]}`...)
	if o.tempLink != "" {
		b = append(b, `,"tempLink":`...)
		b = appendString(b, o.tempLink+l.templinkToken(a.id))
	}
	return append(b, '}')
}

var valAsset = []string{"ASSET"}

// assetValues is docView.Values for photo p's child: the node fields and
// the contentProperties a filter can name; nothing else (no settings,
// things, people or location).
func (l *library) assetValues(p int32, field string) []string {
	n := &l.nodes[p]
	switch field {
	case "id":
		return []string{l.assetID(p)}
	case "name":
		return []string{l.asset(p).name}
	case "kind":
		return valAsset
	case "status":
		return valStatus[n.status]
	case "isRoot":
		return valFalse
	case "parents":
		return []string{n.id}
	case "createdDate":
		return []string{string(appendDateRaw(nil, n.created))}
	case "modifiedDate":
		return []string{string(appendDateRaw(nil, n.modified))}
	case "contentProperties.size":
		return []string{strconv.FormatInt(l.asset(p).size, 10)}
	case "contentProperties.contentType":
		return []string{assetMIME}
	case "contentProperties.extension":
		return []string{assetExtension}
	case "contentProperties.md5":
		a := l.asset(p)
		return []string{hex.EncodeToString(a.md5[:])}
	case "contentProperties.contentDate":
		return []string{string(appendDateRaw(nil, n.content))}
	}
	return nil
}
