package emulator

import (
	"encoding/hex"
	"strconv"
	"unicode/utf8"
)

// Node JSON is written by hand: a page of 200 nodes is ~300 KB and the
// benchmark wants over a thousand pages a second, which reflection-based
// encoding/json cannot give on two cores.

// creators are the createdBy values (API.md §2.2).
var creators = []string{"CloudDriveFiles", "Amazon Photos iOS", "Amazon Photos Android", "Amazon Photos Desktop", "CloudDriveWeb"}

const (
	byFiles = iota
	byIOS
	byAndroid
	byDesktop
	byWeb
)

// appendString appends s as a JSON string. Strings that need no escaping
// (all synthetic ones) take the fast path.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendEscaped(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendEscaped(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && n == 1:
				b = append(b, `\ufffd`...)
			case r == '\u2028' || r == '\u2029':
				b = append(b, `\u202`...)
				b = append(b, hexd[r&0xF])
			default:
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xF])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}

// appendMember appends "key":"value"; key must need no escaping.
func appendMember(b []byte, key, value string) []byte {
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendFloat appends f the way Java serialises a double: always with a
// fraction ("44100.0").
func appendFloat(b []byte, f float64) []byte {
	start := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	for _, c := range b[start:] {
		if c == '.' || c == 'e' {
			return b
		}
	}
	return append(b, '.', '0')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendDate appends a quoted "YYYY-MM-DDTHH:MM:SS.mmmZ" for unix ms.
func appendDate(b []byte, ms int64) []byte {
	b = append(b, '"')
	b = appendDateRaw(b, ms)
	return append(b, '"')
}

// appendDateRaw appends the unquoted date (civil-from-days, no time
// package: dates are a third of the cost of a node otherwise).
func appendDateRaw(b []byte, ms int64) []byte {
	days := floorDiv(ms, 86400000)
	rem := ms - days*86400000
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		return appendDateSlow(b, y, m, d, rem)
	}
	var t [24]byte
	put2(t[0:], y/100)
	put2(t[2:], y%100)
	t[4] = '-'
	put2(t[5:], m)
	t[7] = '-'
	put2(t[8:], d)
	t[10] = 'T'
	put2(t[11:], int(rem/3600000))
	t[13] = ':'
	put2(t[14:], int(rem/60000%60))
	t[16] = ':'
	put2(t[17:], int(rem/1000%60))
	t[19] = '.'
	msec := int(rem % 1000)
	t[20] = byte('0' + msec/100)
	put2(t[21:], msec%100)
	t[23] = 'Z'
	return append(b, t[:]...)
}

const digits2 = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

func put2(b []byte, v int) {
	b[0], b[1] = digits2[2*v], digits2[2*v+1]
}

func appendDateSlow(b []byte, y, m, d int, rem int64) []byte {
	b = appendPad(b, int64(y), 4)
	b = append(b, '-')
	b = appendPad(b, int64(m), 2)
	b = append(b, '-')
	b = appendPad(b, int64(d), 2)
	b = append(b, 'T')
	b = appendPad(b, rem/3600000, 2)
	b = append(b, ':')
	b = appendPad(b, rem/60000%60, 2)
	b = append(b, ':')
	b = appendPad(b, rem/1000%60, 2)
	b = append(b, '.')
	b = appendPad(b, rem%1000, 3)
	return append(b, 'Z')
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (H. Hinnant's algorithm).
func civil(z int64) (year, month, day int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}

// appendPad appends v zero-padded to width digits.
func appendPad(b []byte, v int64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendStamps appends the members that follow "parentMap" in a node:
// the cross-account parents, n's dates, creator and version, and the eTag
// of node id at that version.
func appendStamps(b []byte, n *node, id string) []byte {
	b = append(b, `,"xAccntParents":[],"xAccntParentMap":{},"createdDate":`...)
	b = appendDate(b, n.created)
	b = append(b, `,"modifiedDate":`...)
	b = appendDate(b, n.modified)
	b = append(b, `,"createdBy":"`...)
	b = append(b, creators[creatorOf(n)]...)
	b = append(b, `","version":`...)
	b = strconv.AppendUint(b, uint64(n.version), 10)
	b = append(b, `,"eTagResponse":`...)
	return appendETag(b, id, n.version)
}

// appendETag appends a short opaque tag that changes with the version.
func appendETag(b []byte, id string, version uint32) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211
	}
	h ^= uint64(version) * 0x9E3779B97F4A7C15
	b = append(b, '"')
	for range 11 {
		b = append(b, alphabet[h&63])
		h >>= 6
	}
	return append(b, '"')
}

func appendMD5(b []byte, sum *[16]byte) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, sum[:])
	return append(b, '"')
}

// render options for one response.
type renderOpts struct {
	tempLink string // when non-empty, "tempLink" = tempLink + token
}

// appendNode appends node i's JSON (i may be a Live Photo child, see
// assetBit). The caller holds l.mu (read).
func (l *library) appendNode(b []byte, i int32, o renderOpts) []byte {
	if isAsset(i) {
		return l.appendAsset(b, i&^assetBit, o)
	}
	n := &l.nodes[i]
	b = append(b, `{"id":"`...)
	b = append(b, n.id...)
	b = append(b, '"')
	if i != l.root {
		b = append(b, `,"name":`...)
		b = appendString(b, n.name)
	}
	b = append(b, `,"kind":"`...)
	b = append(b, kindNames[n.kind]...)
	b = append(b, `","status":"`...)
	b = append(b, statusNames[n.status]...)
	b = append(b, `","ownerId":"`...)
	b = append(b, l.owner...)
	b = append(b, `","parents":[`...)
	if n.parent >= 0 {
		b = append(b, '"')
		b = append(b, l.nodes[n.parent].id...)
		b = append(b, `"],"parentMap":{"FOLDER":["`...)
		b = append(b, l.nodes[n.parent].id...)
		b = append(b, `"]}`...)
	} else {
		b = append(b, `],"parentMap":{}`...)
	}
	b = appendStamps(b, n, n.id)
	b = append(b, `,"labels":[`...)
	e := l.extra[i]
	if e != nil {
		for k, lab := range e.labels {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendString(b, lab)
		}
	}
	b = append(b, ']')
	if d := l.descriptionOf(i); d != "" {
		b = append(b, `,"description":`...)
		b = appendString(b, d)
	}
	b = append(b, `,"keywords":[],"transforms":[],"subKinds":[],"accessRuleIds":[],"groupPermissions":[],"childAssetTypeInfo":[`...)
	if l.isLive(i) {
		b = append(b, `{"assetType":"`+assetType+`"}`...)
	}
	b = append(b, `],"isRoot":`...)
	b = appendBool(b, i == l.root)
	b = append(b, `,"isShared":false,"restricted":false,"protectedFolder":false`...)
	if l.family != "" && (n.flags&flagVault != 0 || i == l.root && !l.rootNoFamily) {
		// familyId (CDASDK NodeInfo): the family a vault member is shared
		// with; on the root, the account's own family (inferred).
		b = append(b, `,"familyId":"`...)
		b = append(b, l.family...)
		b = append(b, '"')
	}
	if n.status == statusTrash {
		b = append(b, `,"exclusivelyTrashed":`...)
		b = appendBool(b, n.flags&flagRecursive == 0)
		b = append(b, `,"recursivelyTrashed":`...)
		b = appendBool(b, n.flags&flagRecursive != 0)
	}
	switch n.kind {
	case kindFile:
		b = append(b, `,"settings":{"favorite":`...)
		b = appendBool(b, n.flags&flagFavorite != 0)
		b = append(b, `,"hidden":`...)
		b = appendBool(b, n.flags&flagHidden != 0)
		b = append(b, `},"properties":{},"contentProperties":`...)
		b = l.appendContent(b, i)
		if o.tempLink != "" {
			b = append(b, `,"tempLink":`...)
			b = appendString(b, o.tempLink+l.templinkToken(n.id))
		}
	case kindAlbum:
		b = append(b, `,"settings":{"favorite":`...)
		b = appendBool(b, n.flags&flagFavorite != 0)
		b = append(b, `,"hidden":`...)
		b = appendBool(b, n.flags&flagHidden != 0)
		b = append(b, `},"collectionProperties":{"covers":[`...)
		for _, m := range l.albums[i] {
			if l.nodes[m].status == statusAvailable {
				b = append(b, `{"id":"`...)
				b = append(b, l.nodes[m].id...)
				b = append(b, `","isDefault":true,"ownerId":"`...)
				b = append(b, l.owner...)
				b = append(b, `"}`...)
				break
			}
		}
		b = append(b, `]}`...)
	}
	return append(b, '}')
}

func creatorOf(n *node) int {
	switch n.kind {
	case kindFolder:
		return byFiles
	case kindAlbum:
		return byWeb
	}
	return int(n.by)
}

// appendContent appends a file's contentProperties object.
func (l *library) appendContent(b []byte, i int32) []byte {
	n := &l.nodes[i]
	b = append(b, `{"size":`...)
	b = strconv.AppendInt(b, n.size, 10)
	b = append(b, `,"version":1,"md5":`...)
	b = appendMD5(b, &n.md5)
	b = append(b, `,"contentType":`...)
	b = appendString(b, l.contentType(i))
	b = append(b, `,"extension":`...)
	b = appendString(b, l.extension(i))
	var cd [26]byte
	date := appendDate(cd[:0], n.content)
	b = append(b, `,"contentDate":`...)
	b = append(b, date...)
	b = append(b, `,"contentSignatures":[{"contentSignatureType":"MD5","contentSignature":`...)
	b = appendMD5(b, &n.md5)
	b = append(b, `}]`...)
	switch {
	case n.format == fmtMP4 || n.format == fmtMOV:
		c := &cameras[n.camera-1]
		w, h := c.width, c.height
		b = append(b, `,"video":{"width":`...)
		b = strconv.AppendInt(b, int64(w), 10)
		b = append(b, `,"height":`...)
		b = strconv.AppendInt(b, int64(h), 10)
		b = append(b, `,"rotate":`...)
		b = strconv.AppendInt(b, int64(rotations[n.orient]), 10)
		b = append(b, `,"duration":`...)
		b = appendFloat(b, float64(n.dur)/10)
		b = append(b, `,"creationDate":`...)
		b = append(b, date...)
		if loc := l.location(i); loc != "" {
			b = append(b, `,"location":`...)
			b = appendString(b, loc)
		}
		b = append(b, ',')
		b = append(b, c.frag...)
		b = append(b, '}')
	case n.format == fmtUpload:
		if w, h, ok := l.imageDims(i); ok {
			// resolutionUnit: RUST's ResponseUpload requires it of an
			// uploaded image (API.md §1.4 C2); the value is inferred.
			b = append(b, `,"image":{"resolutionUnit":"Pixels/Inch","width":`...)
			b = strconv.AppendInt(b, int64(w), 10)
			b = append(b, `,"height":`...)
			b = strconv.AppendInt(b, int64(h), 10)
			b = append(b, '}')
		}
	case n.camera > 0:
		c := &cameras[n.camera-1]
		b = append(b, `,"image":{`...)
		if len(c.frag) > 0 {
			b = append(b, c.frag...)
			b = append(b, `,"exposureTime":"`...)
			b = append(b, exposures[n.exp]...)
			b = append(b, `","isoSpeedRatings":"`...)
			b = append(b, isos[n.iso]...)
			b = append(b, `","flash":"`...)
			b = append(b, flashes[n.flash]...)
			b = append(b, `","orientation":"`...)
			b = append(b, orients[n.orient]...)
			b = append(b, `","dateTime":`...)
			b = append(b, date...)
			b = append(b, `,"dateTimeOriginal":`...)
			b = append(b, date...)
			b = append(b, `,"dateTimeDigitized":`...)
			b = append(b, date...)
			if loc := l.location(i); loc != "" {
				b = append(b, `,"location":`...)
				b = appendString(b, loc)
			}
			b = append(b, ',')
		}
		b = append(b, `"width":`...)
		b = strconv.AppendInt(b, int64(c.width), 10)
		b = append(b, `,"height":`...)
		b = strconv.AppendInt(b, int64(c.height), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}
