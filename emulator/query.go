package emulator

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/apsql/apsql/filterlang"
)

// A sync pages /search 5,000 times over a million nodes, so no page may scan
// the library: the matching, sorted index list of each (scope, canonical
// filter, sort) is computed once and cached until the library's version
// changes (every mutation bumps it).

// scope says which nodes a listing starts from.
type scope uint8

const (
	scopeSearch   scope = iota // AVAILABLE photos, videos and albums
	scopeNodes                 // every node but purged ones
	scopeChildren              // children of a folder, or members of an album
	scopeTrash                 // nodes in trash
	scopeFamily                // AVAILABLE photos, videos and albums in the Family Vault (searchContext=family)
)

// queryKey identifies a cached listing.
type queryKey struct {
	scope  scope
	parent int32
	filter string // canonical form
	sort   string // canonical form
}

// queryResult is a cached listing; ready is closed once ids is set.
type queryResult struct {
	version uint64
	ready   chan struct{}
	ids     []int32

	aggMu sync.Mutex
	aggs  map[string]*aggregation // by time grouping
}

// queryCache maps keys to results, computing each once (concurrent
// requests for the same key wait for the first).
type queryCache struct {
	mu sync.Mutex
	m  map[queryKey]*queryResult

	parseMu sync.Mutex
	parsed  map[parseKey]parsed
}

type parseKey struct {
	src     string
	dialect filterlang.Dialect
}

type parsed struct {
	f   *filterlang.Filter
	err error
}

const maxCached = 48

// parse parses a filter with memoisation; "" gives a nil filter.
func (c *queryCache) parse(src string, d filterlang.Dialect) (*filterlang.Filter, error) {
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	k := parseKey{src, d}
	c.parseMu.Lock()
	defer c.parseMu.Unlock()
	if p, ok := c.parsed[k]; ok {
		return p.f, p.err
	}
	f, err := filterlang.Parse(src, d)
	if c.parsed == nil || len(c.parsed) > 1024 {
		c.parsed = make(map[parseKey]parsed)
	}
	c.parsed[k] = parsed{f, err}
	return f, err
}

// get returns the listing for k at the library's current version; the
// caller holds l.mu for reading for as long as it uses the result.
func (c *queryCache) get(l *library, k queryKey, f *filterlang.Filter, keys []sortKey) *queryResult {
	c.mu.Lock()
	if r, ok := c.m[k]; ok && r.version == l.version {
		c.mu.Unlock()
		<-r.ready
		return r
	}
	if c.m == nil {
		c.m = make(map[queryKey]*queryResult)
	}
	if len(c.m) >= maxCached {
		for key, r := range c.m {
			if r.version != l.version || len(c.m) >= maxCached {
				delete(c.m, key)
			}
		}
	}
	r := &queryResult{version: l.version, ready: make(chan struct{})}
	c.m[k] = r
	c.mu.Unlock()
	r.ids = l.run(k, f, keys)
	close(r.ready)
	return r
}

// run computes a listing: candidates of the scope, filtered, sorted.
func (l *library) run(k queryKey, f *filterlang.Filter, keys []sortKey) []int32 {
	var cand []int32
	switch k.scope {
	case scopeChildren:
		switch {
		case isAsset(k.parent): // a Live Photo child has no children
		case l.nodes[k.parent].kind == kindAlbum:
			for _, m := range l.albums[k.parent] {
				if l.nodes[m].status != statusPurged {
					cand = append(cand, m)
				}
			}
		case l.nodes[k.parent].kind == kindFile:
			// A file's only child is its Live Photo video, if any.
			if l.isLive(k.parent) {
				cand = append(cand, k.parent|assetBit)
			}
		default:
			for i := range l.nodes {
				if l.nodes[i].parent == k.parent && l.nodes[i].status != statusPurged {
					cand = append(cand, int32(i))
				}
			}
		}
	default:
		for i := range l.nodes {
			if l.inScope(k.scope, int32(i)) {
				cand = append(cand, int32(i))
			}
		}
	}
	if f != nil {
		d := &docView{l: l}
		out := cand[:0]
		for _, i := range cand {
			d.i = i
			if f.Match(d) {
				out = append(out, i)
			}
		}
		cand = out
	}
	switch {
	case len(cand) < 2: // nothing to sort (and a lone Live Photo child has no node to sort by)
	case len(keys) == 1 && keys[0].field.int64Key():
		l.sortByInt(cand, keys[0])
	case len(keys) > 0:
		slices.SortFunc(cand, func(a, b int32) int { return l.compare(keys, a, b) })
	}
	return slices.Clip(cand)
}

func (l *library) inScope(s scope, i int32) bool {
	n := &l.nodes[i]
	switch s {
	case scopeSearch:
		return n.status == statusAvailable && (n.kind == kindAlbum || l.mediaType(i) != typeNone)
	case scopeTrash:
		return n.status == statusTrash
	case scopeFamily:
		return n.status == statusAvailable && n.flags&flagVault != 0 && l.mediaType(i) != typeNone
	}
	return n.status != statusPurged
}

// Search types (API.md §3.3).
const (
	typeNone = iota
	typePhotos
	typeVideos
	typeAlbums
)

var typeNames = [...]string{typePhotos: "PHOTOS", typeVideos: "VIDEOS", typeAlbums: "ALBUMS"}

// mediaType classifies a node for type: filters and aggregations.
func (l *library) mediaType(i int32) int {
	n := &l.nodes[i]
	switch n.kind {
	case kindAlbum:
		return typeAlbums
	case kindFile:
		switch n.format {
		case fmtJPG, fmtHEIC, fmtPNG:
			return typePhotos
		case fmtMP4, fmtMOV:
			return typeVideos
		case fmtPDF:
			return typeNone
		}
		ct := l.extra[i].contentType
		switch {
		case strings.HasPrefix(ct, "image/"):
			return typePhotos
		case strings.HasPrefix(ct, "video/"):
			return typeVideos
		}
	}
	return typeNone
}

// docView exposes a node to the filter evaluator (filterlang.Doc).
type docView struct {
	l *library
	i int32
}

var _ filterlang.Doc = (*docView)(nil)

var (
	valTrue    = []string{"true"}
	valFalse   = []string{"false"}
	valKinds   = [...][]string{{"FILE"}, {"FOLDER"}, {"VISUAL_COLLECTION"}}
	valStatus  = [...][]string{{"AVAILABLE"}, {"TRASH"}, {"PURGED"}}
	valTypes   [len(formatTypes)][]string
	valExts    [len(formatExts)][]string
	thingNames []string
)

func init() {
	for i := range formatTypes {
		valTypes[i] = []string{formatTypes[i]}
		valExts[i] = []string{formatExts[i]}
	}
	for _, c := range classes {
		thingNames = append(thingNames, c.thing)
	}
}

func boolVals(v bool) []string {
	if v {
		return valTrue
	}
	return valFalse
}

// Values implements filterlang.Doc. The returned slices are shared and must
// not be modified.
func (d *docView) Values(field string) []string {
	l, i := d.l, d.i
	if isAsset(i) {
		return l.assetValues(i&^assetBit, field)
	}
	n := &l.nodes[i]
	file := n.kind == kindFile
	switch field {
	case "id":
		return []string{n.id}
	case "name":
		if i == l.root {
			return nil
		}
		return []string{n.name}
	case "kind":
		return valKinds[n.kind]
	case "status":
		return valStatus[n.status]
	case "isRoot":
		return boolVals(i == l.root)
	case "parents":
		if n.parent < 0 {
			return nil
		}
		return []string{l.nodes[n.parent].id}
	case "labels":
		if e := l.extra[i]; e != nil {
			return e.labels
		}
		return nil
	case "description":
		if d := l.descriptionOf(i); d != "" {
			return []string{d}
		}
		return nil
	case "createdDate":
		return []string{string(appendDateRaw(nil, n.created))}
	case "modifiedDate":
		return []string{string(appendDateRaw(nil, n.modified))}
	case "settings.hidden":
		if file || n.kind == kindAlbum {
			return boolVals(n.flags&flagHidden != 0)
		}
		return nil
	case "settings.favorite":
		if file || n.kind == kindAlbum {
			return boolVals(n.flags&flagFavorite != 0)
		}
		return nil
	}
	if !file {
		return nil
	}
	switch field {
	case "contentProperties.size":
		return []string{strconv.FormatInt(n.size, 10)}
	case "contentProperties.contentType":
		if n.format == fmtUpload {
			return []string{l.extra[i].contentType}
		}
		return valTypes[n.format]
	case "contentProperties.extension":
		if n.format == fmtUpload {
			return []string{l.extra[i].extension}
		}
		return valExts[n.format]
	case "contentProperties.md5":
		return []string{hex.EncodeToString(n.md5[:])}
	case "contentProperties.contentDate":
		return []string{string(appendDateRaw(nil, n.content))}
	case "things":
		return bitNames(n.things, thingNames)
	case "people", "clusterId", "allPeople":
		return l.peopleValues(n.people)
	case "location":
		if n.loc == 0 {
			return nil
		}
		return []string{places[n.loc-1].id}
	}
	return nil
}

func bitNames(mask uint32, names []string) []string {
	if mask == 0 {
		return nil
	}
	out := make([]string, 0, bits.OnesCount32(mask))
	for mask != 0 {
		b := bits.TrailingZeros32(mask)
		out = append(out, names[b])
		mask &^= 1 << b
	}
	return out
}

// Sorting (API.md §3.4): "['createdDate DESC']" in either quote style, a
// JSON-ish list of "field [ASC|DESC]".

type sortField uint8

const (
	sortName sortField = iota
	sortKind
	sortModified
	sortCreated
	sortStatus
	sortSize
	sortContentType
	sortContentDate
	sortExtension
)

var sortFields = map[string]sortField{
	"name": sortName, "kind": sortKind, "modifiedDate": sortModified, "createdDate": sortCreated,
	"status": sortStatus, "contentProperties.size": sortSize, "contentProperties.contentType": sortContentType,
	"contentProperties.contentDate": sortContentDate, "contentProperties.extension": sortExtension,
}

type sortKey struct {
	field sortField
	desc  bool
}

// errSort is wrapped by parseSort's errors.
var errSort = errors.New("invalid sort")

// parseSort parses a sort parameter and returns its keys and canonical form.
func parseSort(s string) ([]sortKey, string, error) {
	src := strings.TrimSpace(s)
	if src == "" {
		return nil, "", nil
	}
	inner := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(src, "["), "]"))
	var keys []sortKey
	var canon []string
	for _, part := range strings.Split(inner, ",") {
		part = strings.TrimSpace(part)
		part = strings.Trim(part, `'"`)
		fields := strings.Fields(part)
		if len(fields) == 0 || len(fields) > 2 {
			return nil, "", fmt.Errorf("%w: %q", errSort, s)
		}
		f, ok := sortFields[fields[0]]
		if !ok {
			return nil, "", fmt.Errorf("%w: %q is not a sortable field", errSort, fields[0])
		}
		k := sortKey{field: f}
		if len(fields) == 2 {
			switch strings.ToUpper(fields[1]) {
			case "ASC":
			case "DESC":
				k.desc = true
			default:
				return nil, "", fmt.Errorf("%w: direction %q is not ASC or DESC", errSort, fields[1])
			}
		}
		keys = append(keys, k)
		dir := "ASC"
		if k.desc {
			dir = "DESC"
		}
		canon = append(canon, fields[0]+" "+dir)
	}
	return keys, strings.Join(canon, ","), nil
}

func (f sortField) int64Key() bool {
	return f == sortModified || f == sortCreated || f == sortSize || f == sortContentDate
}

func (l *library) int64Of(f sortField, i int32) int64 {
	n := &l.nodes[i]
	switch f {
	case sortModified:
		return n.modified
	case sortCreated:
		return n.created
	case sortSize:
		return n.size
	}
	return n.content
}

// sortByInt sorts by one int64 field (then id) on a compact key array,
// several times faster than comparing through the node slice.
func (l *library) sortByInt(ids []int32, k sortKey) {
	type keyed struct {
		v int64
		i int32
	}
	ks := make([]keyed, len(ids))
	for j, i := range ids {
		v := l.int64Of(k.field, i)
		if k.desc {
			v = -v
		}
		ks[j] = keyed{v, i}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if a.v != b.v {
			return cmp.Compare(a.v, b.v)
		}
		return strings.Compare(l.nodes[a.i].id, l.nodes[b.i].id)
	})
	for j := range ks {
		ids[j] = ks[j].i
	}
}

// compare orders nodes by keys, then by id so that pages are stable.
func (l *library) compare(keys []sortKey, a, b int32) int {
	na, nb := &l.nodes[a], &l.nodes[b]
	for _, k := range keys {
		var c int
		switch k.field {
		case sortName:
			c = strings.Compare(na.name, nb.name)
		case sortKind:
			c = strings.Compare(kindNames[na.kind], kindNames[nb.kind])
		case sortModified:
			c = cmp.Compare(na.modified, nb.modified)
		case sortCreated:
			c = cmp.Compare(na.created, nb.created)
		case sortStatus:
			c = strings.Compare(statusNames[na.status], statusNames[nb.status])
		case sortSize:
			c = cmp.Compare(na.size, nb.size)
		case sortContentType:
			c = strings.Compare(l.contentType(a), l.contentType(b))
		case sortContentDate:
			c = cmp.Compare(na.content, nb.content)
		case sortExtension:
			c = strings.Compare(l.extension(a), l.extension(b))
		}
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return strings.Compare(na.id, nb.id)
}
