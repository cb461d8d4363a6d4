package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apsql/apsql/filterlang"
)

// Limits and messages of API.md §1.5–§1.6.
const (
	maxLimit        = 200  // page size on /search, /nodes, /children, /trash
	maxOffsetLimit  = 9999 // offset+limit on /nodes, /children, /trash (not /search)
	maxBatch        = 50   // ids per PATCH /trash and POST /bulk/nodes/purge
	msgOffsetCap    = "Offset + limit cannot be greater than 9999"
	msgBatch        = "Member must have length less than or equal to 50"
	msgLimit        = "Limit cannot be greater than 200"
	defaultSearch   = "type:(PHOTOS OR VIDEOS)"
	maxUploadBytes  = 1 << 31
	maxRequestBytes = 4 << 20
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 8<<20 {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// nowMS is the time stamped on changes: the wall clock, but never before
// the library's "today".
func (s *Server) nowMS() int64 { return max(time.Now().UnixMilli(), s.opts.Now.UnixMilli()) }

// hasV2 reports whether resourceVersion=V2 came in the query or body.
func hasV2(r *http.Request, bodyVersion string) bool {
	return r.URL.Query().Get("resourceVersion") == "V2" || bodyVersion == "V2"
}

// writeNotFound answers 404 for id; without V2 the message is the one the
// service gives V1 requests for photo nodes (API.md §1.2).
func (s *Server) writeNotFound(w http.ResponseWriter, id string, v1 bool) {
	msg := "Node " + id + " not found"
	if v1 {
		msg = "Node not found for ResourceVersion V1"
	}
	s.writeLogref(w, http.StatusNotFound, msg, "NODE_NOT_FOUND", "")
}

// writeMutationError maps a mutation error to a response.
func (s *Server) writeMutationError(w http.ResponseWriter, err error) {
	var ce *conflictError
	switch {
	case errors.As(err, &ce):
		s.writeLogref(w, http.StatusConflict, ce.Error(), "NAME_ALREADY_EXISTS", ce.nodeID)
	case errors.Is(err, ErrNotFound):
		s.writeLogref(w, http.StatusNotFound, err.Error(), "NODE_NOT_FOUND", "")
	case errors.Is(err, ErrBadKind) && strings.Contains(err.Error(), "Improper child kind"):
		s.writeError(w, http.StatusBadRequest, "Improper child kind")
	default:
		s.writeError(w, http.StatusBadRequest, err.Error())
	}
}

// paging reads offset and limit; capped applies the 9999 rule. A page
// continued by startToken (byToken) takes its offset from the token, so the
// offset parameter and the cap do not apply to it.
func (s *Server) paging(w http.ResponseWriter, q url.Values, capped, byToken bool) (offset, limit int, ok bool) {
	limit, offset = maxLimit, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeError(w, http.StatusBadRequest, "Invalid limit: "+v)
			return 0, 0, false
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" && !byToken {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeError(w, http.StatusBadRequest, "Invalid offset: "+v)
			return 0, 0, false
		}
		offset = n
	}
	if limit > maxLimit {
		s.writeError(w, http.StatusBadRequest, msgLimit)
		return 0, 0, false
	}
	if capped && !byToken && offset > maxOffsetLimit-limit { // offset+limit could overflow
		s.writeError(w, http.StatusBadRequest, msgOffsetCap)
		return 0, 0, false
	}
	return offset, limit, true
}

// filterDetail turns a filterlang error into the text after "Invalid filter: ",
// without the advice meant for apsql's users ("; use ...", "; FIND accepts
// ..."): the service names the problem, not a fix in another tool.
func filterDetail(err error) string {
	msg := strings.TrimPrefix(err.Error(), "filter ")
	for _, hint := range []string{"; use ", "; FIND accepts "} {
		if i := strings.Index(msg, hint); i >= 0 {
			msg = msg[:i]
		}
	}
	return msg
}

// listing is a parsed list request.
type listing struct {
	offset, limit int
	res           *queryResult

	// id and start are set where nextToken is answered (Options.NextToken,
	// capped listings): the listing's identity and the Unix ms of its first
	// page, both sealed into the token. id is "" elsewhere.
	id    string
	start int64
}

// list parses paging, filter and sort and returns the cached listing. On
// success the caller holds s.lib.mu for reading and must RUnlock.
func (s *Server) list(w http.ResponseWriter, r *http.Request, sc scope, parent int32, def []sortKey, capped bool) (listing, bool) {
	q := r.URL.Query()
	tokens := capped && s.opts.NextToken
	tok := ""
	if tokens {
		tok = q.Get("startToken")
	}
	offset, limit, ok := s.paging(w, q, capped, tok != "")
	if !ok {
		return listing{}, false
	}
	d, src := filterlang.Nodes, q.Get("filters")
	if sc == scopeSearch || sc == scopeFamily {
		d = filterlang.Search
		if strings.TrimSpace(src) == "" {
			src = defaultSearch
		}
	}
	f, err := s.cache.parse(src, d)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "Invalid filter: "+filterDetail(err))
		return listing{}, false
	}
	keys, canon, err := parseSort(q.Get("sort"))
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "Invalid sort: "+strings.TrimPrefix(err.Error(), errSort.Error()+": "))
		return listing{}, false
	}
	if keys == nil {
		keys = def
	}
	fc := ""
	if f != nil {
		fc = f.String()
	}
	sortID := canonOr(canon, def)
	lst := listing{offset: offset, limit: limit}
	if tokens && !s.startPage(w, &lst, listID(r.URL.Path, fc, sortID), tok) {
		return listing{}, false
	}
	s.lib.mu.RLock()
	lst.res = s.cache.get(s.lib, queryKey{scope: sc, parent: parent, filter: fc, sort: sortID}, f, keys)
	return lst, true
}

func canonOr(canon string, def []sortKey) string {
	if canon != "" || def == nil {
		return canon
	}
	return fmt.Sprintf("default%v", def)
}

// appendPage appends "count" and "data" members (without braces).
func (s *Server) appendPage(b []byte, r *http.Request, lst listing) []byte {
	ids := lst.res.ids
	b = append(b, `"count":`...)
	b = strconv.AppendInt(b, int64(len(ids)), 10)
	b = append(b, `,"data":[`...)
	var o renderOpts
	if r.URL.Query().Get("tempLink") == "true" {
		o.tempLink = "http://" + r.Host + "/cdproxy/templink/"
	}
	end := min(lst.offset+lst.limit, len(ids))
	for k := lst.offset; k < end; k++ {
		if k > lst.offset {
			b = append(b, ',')
		}
		b = s.lib.appendNode(b, ids[k], o)
	}
	return append(b, ']')
}

var (
	searchDefault = []sortKey{{field: sortContentDate, desc: true}}
	trashDefault  = []sortKey{{field: sortModified, desc: true}}
)

// GET /search: search dialect, no offset cap, aggregations always present.
// searchContext=family searches the Family Vault (API.md §1.3 #6).
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	sc := scopeSearch
	if r.URL.Query().Get("searchContext") == "family" {
		sc = scopeFamily
	}
	lst, ok := s.list(w, r, sc, 0, searchDefault, false)
	if !ok {
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], '{')
	b = s.appendPage(b, r, lst)
	b = append(b, `,"aggregations":`...)
	b = append(b, lst.res.aggregations(s.lib, timeGrouping(r.URL.Query().Get("groupByForTime"))).rendered...)
	b = append(b, `,"nodeToSearchScoreMap":{}}`...)
	s.lib.mu.RUnlock()
	*bp = b
	writeJSON(w, http.StatusOK, b)
}

func timeGrouping(g string) string {
	switch g {
	case "day", "month":
		return g
	}
	return "year"
}

// GET /search/aggregation?category=...: one category over the whole index.
func (s *Server) handleAggregation(w http.ResponseWriter, r *http.Request) {
	cat := r.URL.Query().Get("category")
	if !aggCategories[cat] {
		s.writeError(w, http.StatusBadRequest, "Invalid category: "+cat)
		return
	}
	s.lib.mu.RLock()
	res := s.cache.get(s.lib, queryKey{scope: scopeSearch, filter: "*", sort: "default"}, nil, searchDefault)
	a := res.aggregations(s.lib, timeGrouping(r.URL.Query().Get("groupBy")))
	var b []byte
	switch s.aggregationShape() {
	case AggregationObject: // the /search shape (hostile.go)
		b = append([]byte(`{"aggregations":{`), appendString(nil, cat)...)
		b = append(b, ':')
		b = append(s.lib.appendBuckets(b, a.cats[cat], "match", false), '}')
	case AggregationGarbage:
		b = []byte(`{"aggregations":"unavailable"`)
	default:
		b = []byte(`{"aggregations":`)
		b = s.lib.appendBuckets(b, a.cats[cat], "value", true)
		b = append(b, `,"category":`...)
		b = appendString(b, cat)
	}
	s.lib.mu.RUnlock()
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// GET /nodes: node dialect over every live node, offset+limit ≤ 9999
// unless continued by startToken.
func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) {
	lst, ok := s.list(w, r, scopeNodes, 0, nil, true)
	if !ok {
		return
	}
	s.writeList(w, r, lst)
}

// writeList answers a capped listing: count, data and, where tokens are
// on and items remain, nextToken.
func (s *Server) writeList(w http.ResponseWriter, r *http.Request, lst listing) {
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], '{')
	b = s.appendPage(b, r, lst)
	b = s.appendNextToken(b, lst)
	b = append(b, '}')
	s.lib.mu.RUnlock()
	*bp = b
	writeJSON(w, http.StatusOK, b)
}

// GET /nodes/{id}/children: a folder's children, an album's members, or
// a Live Photo's video (kind ASSET).
func (s *Server) handleChildren(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.lib.mu.RLock()
	i, ok := s.lib.lookupAny(id)
	v1 := ok && s.lib.needsV2(i) && !hasV2(r, "")
	s.lib.mu.RUnlock()
	if !ok || v1 {
		s.writeNotFound(w, id, v1)
		return
	}
	lst, ok := s.list(w, r, scopeChildren, i, nil, true)
	if !ok {
		return
	}
	s.writeList(w, r, lst)
}

// GET /trash: trashed nodes, newest change first, offset+limit ≤ 9999
// unless continued by startToken.
func (s *Server) handleTrashList(w http.ResponseWriter, r *http.Request) {
	lst, ok := s.list(w, r, scopeTrash, 0, trashDefault, true)
	if !ok {
		return
	}
	s.writeList(w, r, lst)
}

// needsV2 reports whether operations on node i require resourceVersion=V2
// (Live Photo children do, like their photos).
func (l *library) needsV2(i int32) bool {
	if isAsset(i) {
		return true
	}
	k := l.nodes[i].kind
	return k == kindAlbum || (k == kindFile && l.mediaType(i) != typeNone)
}

// GET /nodes/{id}
func (s *Server) handleNode(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	l := s.lib
	l.mu.RLock()
	i, ok := l.lookupAny(id)
	if !ok || (l.needsV2(i) && !hasV2(r, "")) {
		l.mu.RUnlock()
		s.writeNotFound(w, id, ok)
		return
	}
	var o renderOpts
	if r.URL.Query().Get("tempLink") == "true" {
		o.tempLink = "http://" + r.Host + "/cdproxy/templink/"
	}
	b := l.appendNode(nil, i, o)
	l.mu.RUnlock()
	writeJSON(w, http.StatusOK, b)
}

// readJSON decodes a small JSON request body.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return false
	}
	return true
}

// patchBody is PATCH /nodes/{id} (API.md §1.3 #15).
type patchBody struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Labels      *[]string `json:"labels"`
	Settings    *struct {
		Favorite *bool `json:"favorite"`
		Hidden   *bool `json:"hidden"`
	} `json:"settings"`
	ResourceVersion string `json:"resourceVersion"`
}

// PATCH /nodes/{id}: name, settings.favorite, settings.hidden, description, labels.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	var body patchBody
	if !s.readJSON(w, r, &body) {
		return
	}
	id := r.PathValue("id")
	l := s.lib
	l.mu.Lock()
	i, ok := l.lookup(id)
	if !ok || (l.needsV2(i) && !hasV2(r, body.ResourceVersion)) {
		l.mu.Unlock()
		s.writeNotFound(w, id, ok)
		return
	}
	now := s.nowMS()
	if body.Name != nil && *body.Name != l.nodes[i].name {
		if err := l.rename(i, *body.Name, now); err != nil {
			l.mu.Unlock()
			s.writeMutationError(w, err)
			return
		}
	}
	if st := body.Settings; st != nil {
		if st.Favorite != nil {
			l.setFlag(i, flagFavorite, *st.Favorite, now)
		}
		if st.Hidden != nil {
			l.setFlag(i, flagHidden, *st.Hidden, now)
		}
	}
	if body.Description != nil || body.Labels != nil {
		e := l.extra[i]
		if e == nil {
			e = &extra{}
			l.extra[i] = e
		}
		if body.Description != nil {
			e.description, e.descSet = *body.Description, true
		}
		if body.Labels != nil {
			e.labels = append([]string(nil), *body.Labels...)
		}
		l.touch(i, now)
	}
	b := l.appendNode(nil, i, renderOpts{})
	l.mu.Unlock()
	writeJSON(w, http.StatusOK, b)
}

// createBody is POST /nodes (folders and albums).
type createBody struct {
	Kind            string   `json:"kind"`
	Name            string   `json:"name"`
	Parents         []string `json:"parents"`
	ResourceVersion string   `json:"resourceVersion"`
}

// POST /nodes: a folder (409 NAME_ALREADY_EXISTS on a taken name) or an album.
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var body createBody
	if !s.readJSON(w, r, &body) {
		return
	}
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	now := s.nowMS()
	var i int32
	var err error
	switch body.Kind {
	case "FOLDER":
		if len(body.Parents) != 1 {
			s.writeError(w, http.StatusBadRequest, "A folder needs exactly one parent in parents")
			return
		}
		p, ok := l.lookup(body.Parents[0])
		if !ok {
			s.writeNotFound(w, body.Parents[0], false)
			return
		}
		i, err = l.createFolder(p, body.Name, now)
	case "VISUAL_COLLECTION":
		if !hasV2(r, body.ResourceVersion) {
			s.writeError(w, http.StatusBadRequest, "Invalid Kind VISUAL_COLLECTION")
			return
		}
		i, err = l.createAlbum(body.Name, now)
	default:
		s.writeError(w, http.StatusBadRequest, "Invalid Kind "+body.Kind)
		return
	}
	if err != nil {
		s.writeMutationError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, l.appendNode(nil, i, renderOpts{}))
}

// opBody is PATCH /trash and PATCH /nodes/{id}/children.
type opBody struct {
	Op              string   `json:"op"`
	Value           []string `json:"value"`
	ResourceVersion string   `json:"resourceVersion"`
}

// PATCH /nodes/{album}/children: {"op":"add"|"remove","value":[ids]}.
func (s *Server) handleAlbumChildren(w http.ResponseWriter, r *http.Request) {
	var body opBody
	if !s.readJSON(w, r, &body) {
		return
	}
	if body.Op != "add" && body.Op != "remove" {
		s.writeError(w, http.StatusBadRequest, "Invalid op: "+body.Op)
		return
	}
	s.albumOp(w, r, r.PathValue("id"), body.Op == "add", body.Value, body.ResourceVersion)
}

// PUT and DELETE /nodes/{album}/children/{child}: one member (SYNC).
func (s *Server) handleAlbumLink(w http.ResponseWriter, r *http.Request) {
	s.albumOp(w, r, r.PathValue("id"), r.Method == http.MethodPut, []string{r.PathValue("child")}, "")
}

func (s *Server) albumOp(w http.ResponseWriter, r *http.Request, albumID string, add bool, ids []string, rv string) {
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.lookup(albumID)
	switch {
	case !ok:
		s.writeNodesNotFound(w, []string{albumID}, false)
		return
	case !hasV2(r, rv):
		s.writeNotFound(w, albumID, true)
		return
	}
	// Members the service does not have refuse the whole edit, named as
	// PATCH /trash names them (writeNodesNotFound): nothing is changed.
	members := make([]int32, 0, len(ids))
	var missing []string
	for _, id := range ids {
		m, ok := l.lookup(id)
		if !ok {
			missing = append(missing, id)
			continue
		}
		members = append(members, m)
	}
	if len(missing) > 0 {
		s.writeNodesNotFound(w, missing, false)
		return
	}
	if err := l.albumEdit(a, add, members, s.nowMS()); err != nil {
		s.writeMutationError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l.appendNode(nil, a, renderOpts{}))
}

// writeErrorMap writes {"errorMap":{id:status,...}}.
func writeErrorMap(w http.ResponseWriter, errs map[string]int) {
	b := []byte(`{"errorMap":{`)
	first := true
	for id, code := range errs {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, id)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(code), 10)
	}
	writeJSON(w, http.StatusOK, append(b, "}}"...))
}

// PATCH /trash: {"op":"add"|"remove","value":[≤50 ids]}.
func (s *Server) handleTrash(w http.ResponseWriter, r *http.Request) {
	var body opBody
	if !s.readJSON(w, r, &body) {
		return
	}
	if len(body.Value) > maxBatch {
		s.writeError(w, http.StatusBadRequest, msgBatch)
		return
	}
	if body.Op != "add" && body.Op != "remove" {
		s.writeError(w, http.StatusBadRequest, "Invalid op: "+body.Op)
		return
	}
	l := s.lib
	l.mu.Lock()
	now := s.nowMS()
	v2 := hasV2(r, body.ResourceVersion)
	found := func(id string) (int32, bool) {
		i, ok := l.lookup(id)
		return i, ok && (v2 || !l.needsV2(i)) // photo kinds need V2 (API.md §1.2)
	}
	if s.opts.TrashMissing404 {
		var missing []string
		for _, id := range body.Value {
			if _, ok := found(id); !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			l.mu.Unlock()
			s.writeNodesNotFound(w, missing, !v2)
			return
		}
	}
	errs := map[string]int{}
	for _, id := range body.Value {
		i, ok := found(id)
		switch {
		case !ok:
			errs[id] = http.StatusNotFound
		case body.Op == "add":
			l.trash(i, now, false)
		default:
			l.restore(i, now)
		}
	}
	l.mu.Unlock()
	writeErrorMap(w, errs)
}

// purgeBody is POST /bulk/nodes/purge.
type purgeBody struct {
	NodeIDs         []string `json:"nodeIds"`
	ResourceVersion string   `json:"resourceVersion"`
}

// POST /bulk/nodes/purge: {"nodeIds":[≤50 ids]}; only nodes in trash.
func (s *Server) handlePurge(w http.ResponseWriter, r *http.Request) {
	var body purgeBody
	if !s.readJSON(w, r, &body) {
		return
	}
	if len(body.NodeIDs) > maxBatch {
		s.writeError(w, http.StatusBadRequest, msgBatch)
		return
	}
	l := s.lib
	l.mu.Lock()
	errs := map[string]int{}
	v2 := hasV2(r, body.ResourceVersion)
	for _, id := range body.NodeIDs {
		i, ok := l.lookup(id)
		if !ok || (!v2 && l.needsV2(i)) { // photo kinds need V2 (API.md §1.2)
			errs[id] = http.StatusNotFound
			continue
		}
		if s.opts.PurgeAny && l.nodes[i].status == statusAvailable && i != l.root {
			l.purgeAvailable(i)
			continue
		}
		if err := l.purge(i); err != nil {
			errs[id] = http.StatusConflict
		}
	}
	l.mu.Unlock()
	writeErrorMap(w, errs)
}

// GET /account/info
func (s *Server) handleInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []byte(`{"termsOfUse":"1.0.0","status":"ACTIVE"}`))
}

// quotaBytes is the account's storage quota (1 TiB).
const quotaBytes = 1 << 40

// GET /account/quota
func (s *Server) handleQuota(w http.ResponseWriter, _ *http.Request) {
	u := s.Usage()
	var used int64
	for _, c := range u.Categories {
		used += c.BillableBytes
	}
	b := []byte(`{"quota":`)
	b = strconv.AppendInt(b, quotaBytes, 10)
	b = append(b, `,"lastCalculated":`...)
	b = appendDate(b, s.nowMS())
	b = append(b, `,"available":`...)
	b = strconv.AppendInt(b, quotaBytes-used, 10)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// GET /account/endpoint: where each service lives (all on this server).
func (s *Server) handleEndpoint(w http.ResponseWriter, r *http.Request) {
	base := "http://" + r.Host
	region := "NA"
	switch s.opts.Region {
	case "main", "ca", "mx", "br":
	case "jp", "au":
		region = "FE"
	default:
		region = "EU"
	}
	b := []byte(`{"customerExists":true,`)
	b = appendMember(b, "contentUrl", base+"/cdproxy/")
	b = append(b, ',')
	b = appendMember(b, "metadataUrl", base+"/drive/v1/")
	b = append(b, ',')
	b = appendMember(b, "thumbnailServiceUrl", base+"/v1/thumbnail/")
	b = append(b, ',')
	b = appendMember(b, "region", region)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// GET /account/usage (API.md §1.3 #1).
func (s *Server) handleUsage(w http.ResponseWriter, _ *http.Request) {
	u := s.Usage()
	b := []byte(`{"lastCalculated":`)
	b = appendDate(b, u.LastCalculated.UnixMilli())
	for _, cat := range usageCategories {
		c := u.Categories[cat]
		b = append(b, `,"`...)
		b = append(b, cat...)
		b = append(b, `":{"total":{"bytes":`...)
		b = strconv.AppendInt(b, c.TotalBytes, 10)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, c.TotalCount, 10)
		b = append(b, `},"billable":{"bytes":`...)
		b = strconv.AppendInt(b, c.BillableBytes, 10)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, c.BillableCount, 10)
		b = append(b, `}}`...)
	}
	writeJSON(w, http.StatusOK, append(b, '}'))
}
