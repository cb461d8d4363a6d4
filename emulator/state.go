package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apsql/apsql/filetypes"
	"github.com/apsql/apsql/filterlang"
)

// usageCategories are the keys of /account/usage (GOACD's four, API.md §1.3 #1).
var usageCategories = []string{"other", "doc", "photo", "video"}

// UsageCategory is one category of /account/usage.
type UsageCategory struct {
	TotalBytes    int64 `json:"totalBytes"`
	TotalCount    int64 `json:"totalCount"`
	BillableBytes int64 `json:"billableBytes"`
	BillableCount int64 `json:"billableCount"`
}

// Usage is what /account/usage reports: AVAILABLE files by category.
type Usage struct {
	LastCalculated time.Time                `json:"lastCalculated"`
	Categories     map[string]UsageCategory `json:"categories"`
}

// usageCategory classifies a file for /account/usage.
func (l *library) usageCategory(i int32) string {
	switch l.mediaType(i) {
	case typePhotos:
		return "photo"
	case typeVideos:
		return "video"
	}
	switch filetypes.Category(l.extension(i)) {
	case "pdf", "doc", "xls", "ppt", "txt", "markup":
		return "doc"
	}
	return "other"
}

// Usage returns the storage usage, consistent with the current nodes.
func (s *Server) Usage() Usage {
	l := s.lib
	l.mu.RLock()
	defer l.mu.RUnlock()
	u := Usage{LastCalculated: time.UnixMilli(s.nowMS()).UTC(), Categories: make(map[string]UsageCategory, 4)}
	for _, c := range usageCategories {
		u.Categories[c] = UsageCategory{}
	}
	for i := range l.nodes {
		n := &l.nodes[i]
		if n.kind != kindFile || n.status != statusAvailable {
			continue
		}
		cat := l.usageCategory(int32(i))
		c := u.Categories[cat]
		c.TotalBytes += n.size
		c.TotalCount++
		if cat != "photo" { // Prime: unlimited photo storage
			c.BillableBytes += n.size
			c.BillableCount++
		}
		u.Categories[cat] = c
	}
	return u
}

// State is a snapshot of the service's state for tests (GET /_emulator/state).
type State struct {
	Version  uint64         `json:"version"`
	OwnerID  string         `json:"ownerId"`
	RootID   string         `json:"rootId"`
	Nodes    int            `json:"nodes"` // live nodes (not purged)
	ByStatus map[string]int `json:"byStatus"`
	ByKind   map[string]int `json:"byKind"` // live nodes
	// Photos and Videos count AVAILABLE files (what /search finds).
	Photos   int               `json:"photos"`
	Videos   int               `json:"videos"`
	Albums   map[string]int    `json:"albums"`  // album name → live members
	Folders  map[string]string `json:"folders"` // path → id (AVAILABLE folders)
	TrashIDs []string          `json:"trashIds"`
	Usage    Usage             `json:"usage"`
	Requests int64             `json:"requests"`
	Faults   struct {
		Latency   string  `json:"latency"`
		FailRate  float64 `json:"failRate"`
		ResetRate float64 `json:"resetRate"`
		RateLimit float64 `json:"rateLimit"`
		Expired   bool    `json:"cookiesExpired"`
	} `json:"faults"`
}

// State returns a snapshot of the library and the fault settings.
func (s *Server) State() State {
	st := State{Usage: s.Usage(), Requests: s.Stats().Requests}
	l := s.lib
	l.mu.RLock()
	st.Version, st.OwnerID, st.RootID = l.version, l.owner, l.nodes[l.root].id
	st.ByStatus = map[string]int{"AVAILABLE": 0, "TRASH": 0, "PURGED": 0}
	st.ByKind = map[string]int{}
	st.Albums = map[string]int{}
	st.Folders = map[string]string{}
	st.TrashIDs = []string{}
	for i := range l.nodes {
		n := &l.nodes[i]
		st.ByStatus[statusNames[n.status]]++
		if n.status == statusPurged {
			continue
		}
		st.Nodes++
		st.ByKind[kindNames[n.kind]]++
		if n.status == statusTrash {
			st.TrashIDs = append(st.TrashIDs, n.id)
			continue
		}
		switch {
		case n.kind == kindAlbum:
			live := 0
			for _, m := range l.albums[int32(i)] {
				if l.nodes[m].status == statusAvailable {
					live++
				}
			}
			st.Albums[n.name] = live
		case n.kind == kindFolder && int32(i) != l.root:
			st.Folders[l.path(int32(i))] = n.id
		}
		switch l.mediaType(int32(i)) {
		case typePhotos:
			st.Photos++
		case typeVideos:
			st.Videos++
		}
	}
	l.mu.RUnlock()
	slices.Sort(st.TrashIDs)
	lat, fail, reset, rate := s.faults.get()
	st.Faults.Latency, st.Faults.FailRate, st.Faults.ResetRate, st.Faults.RateLimit = lat.String(), fail, reset, rate
	st.Faults.Expired = s.expired.Load()
	return st
}

// GET /_emulator/state
func (s *Server) handleState(w http.ResponseWriter, _ *http.Request) {
	b, err := json.Marshal(s.State())
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// POST /_emulator/faults?latency=50ms&fail-rate=0.1&reset-rate=0&rate-limit=20
// sets the faults (absent parameters keep their value).
func (s *Server) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lat, fail, reset, rate := s.faults.get()
	var err error
	if v := q.Get("latency"); v != "" && err == nil {
		lat, err = time.ParseDuration(v)
	}
	for _, p := range []struct {
		name string
		dst  *float64
	}{{"fail-rate", &fail}, {"reset-rate", &reset}, {"rate-limit", &rate}} {
		if v := q.Get(p.name); v != "" && err == nil {
			*p.dst, err = strconv.ParseFloat(v, 64)
		}
	}
	if err == nil {
		err = checkFaults(fail, reset, rate)
	}
	if err != nil {
		s.writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.SetFaults(lat, fail, reset, rate)
	w.WriteHeader(http.StatusNoContent)
}

// Server-side access for tests. Ids are node ids; errors wrap ErrNotFound,
// ErrConflict, ErrBadName or ErrBadKind.

// RootID returns the root folder's id.
func (s *Server) RootID() string {
	s.lib.mu.RLock()
	defer s.lib.mu.RUnlock()
	return s.lib.nodes[s.lib.root].id
}

// FolderID returns the id of the folder at path ("Pictures/Web"; "" is the root).
func (s *Server) FolderID(path string) (string, bool) {
	s.lib.mu.Lock() // folderByPath may build a name index
	defer s.lib.mu.Unlock()
	i, ok := s.lib.folderByPath(path)
	if !ok {
		return "", false
	}
	return s.lib.nodes[i].id, true
}

// AlbumID returns the id of the first available album named name.
func (s *Server) AlbumID(name string) (string, bool) {
	s.lib.mu.RLock()
	defer s.lib.mu.RUnlock()
	for i := range s.lib.nodes {
		n := &s.lib.nodes[i]
		if n.kind == kindAlbum && n.status == statusAvailable && n.name == name {
			return n.id, true
		}
	}
	return "", false
}

// Version returns the library's state version (bumped by every change).
func (s *Server) Version() uint64 {
	s.lib.mu.RLock()
	defer s.lib.mu.RUnlock()
	return s.lib.version
}

// Node returns a live node's (or a Live Photo child's) JSON as the service
// sends it.
func (s *Server) Node(id string) (json.RawMessage, bool) {
	s.lib.mu.RLock()
	defer s.lib.mu.RUnlock()
	i, ok := s.lib.lookupAny(id)
	if !ok {
		return nil, false
	}
	return s.lib.appendNode(nil, i, renderOpts{}), true
}

// Content returns a file's (or a Live Photo child's) bytes, exactly what a
// download serves.
func (s *Server) Content(id string) ([]byte, bool) {
	s.lib.mu.RLock()
	defer s.lib.mu.RUnlock()
	i, ok := s.lib.lookupAny(id)
	if !ok || !s.lib.hasContent(i) {
		return nil, false
	}
	return s.content(i), true
}

// Count returns how many nodes /search finds for a search-dialect filter
// ("" means type:(PHOTOS OR VIDEOS)).
func (s *Server) Count(filter string) (int, error) {
	ids, err := s.ids(scopeSearch, filter, filterlang.Search)
	return len(ids), err
}

// CountNodes returns how many live nodes match a node-dialect filter
// ("" matches all), as the count of GET /nodes does.
func (s *Server) CountNodes(filter string) (int, error) {
	ids, err := s.ids(scopeNodes, filter, filterlang.Nodes)
	return len(ids), err
}

// IDs returns the ids /search finds for filter, in the default search order
// (newest capture first).
func (s *Server) IDs(filter string) ([]string, error) {
	return s.ids(scopeSearch, filter, filterlang.Search)
}

func (s *Server) ids(sc scope, filter string, d filterlang.Dialect) ([]string, error) {
	if sc == scopeSearch && strings.TrimSpace(filter) == "" {
		filter = defaultSearch
	}
	f, err := s.cache.parse(filter, d)
	if err != nil {
		return nil, err
	}
	fc := ""
	if f != nil {
		fc = f.String()
	}
	def := []sortKey(nil)
	if sc == scopeSearch {
		def = searchDefault
	}
	l := s.lib
	l.mu.RLock()
	defer l.mu.RUnlock()
	res := s.cache.get(l, queryKey{scope: sc, filter: fc, sort: canonOr("", def)}, f, def)
	out := make([]string, len(res.ids))
	for k, i := range res.ids {
		out[k] = l.nodes[i].id
	}
	return out, nil
}

// mutate runs fn on live node ids under the write lock.
func (s *Server) mutate(ids []string, fn func(l *library, i int32, now int64) error) error {
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	now := s.nowMS()
	for _, id := range ids {
		i, ok := l.lookup(id)
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err := fn(l, i, now); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
	}
	return nil
}

// TrashIDs moves nodes to trash, as PATCH /trash op add does.
func (s *Server) TrashIDs(ids ...string) error {
	return s.mutate(ids, func(l *library, i int32, now int64) error { l.trash(i, now, false); return nil })
}

// RestoreIDs restores nodes from trash, as PATCH /trash op remove does.
func (s *Server) RestoreIDs(ids ...string) error {
	return s.mutate(ids, func(l *library, i int32, now int64) error { l.restore(i, now); return nil })
}

// PurgeIDs deletes trashed nodes for good, as POST /bulk/nodes/purge does.
func (s *Server) PurgeIDs(ids ...string) error {
	return s.mutate(ids, func(l *library, i int32, _ int64) error { return l.purge(i) })
}

// Rename renames a node, as PATCH /nodes/{id} {"name"} does.
func (s *Server) Rename(id, name string) error {
	return s.mutate([]string{id}, func(l *library, i int32, now int64) error { return l.rename(i, name, now) })
}

// SetFavorite sets settings.favorite.
func (s *Server) SetFavorite(id string, v bool) error {
	return s.mutate([]string{id}, func(l *library, i int32, now int64) error { l.setFlag(i, flagFavorite, v, now); return nil })
}

// SetHidden sets settings.hidden.
func (s *Server) SetHidden(id string, v bool) error {
	return s.mutate([]string{id}, func(l *library, i int32, now int64) error { l.setFlag(i, flagHidden, v, now); return nil })
}

// MkdirAll creates the folders of path ("Pictures/Trips/2024") that are
// missing and returns the last one's id.
func (s *Server) MkdirAll(path string) (string, error) {
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	i, err := l.mkdirAll(path, s.nowMS())
	if err != nil {
		return "", err
	}
	return l.nodes[i].id, nil
}

func (l *library) mkdirAll(path string, now int64) (int32, error) {
	cur := l.root
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		if part == "" {
			continue
		}
		if c, ok := l.conflict(cur, part); ok {
			if l.nodes[c].kind != kindFolder {
				return 0, fmt.Errorf("%w: %s is not a folder", ErrBadKind, part)
			}
			cur = c
			continue
		}
		c, err := l.createFolder(cur, part, now)
		if err != nil {
			return 0, err
		}
		cur = c
	}
	return cur, nil
}

// Upload stores data as folderPath/name (creating missing folders), as
// POST /cdproxy/nodes does, and returns the new node's id.
func (s *Server) Upload(folderPath, name string, data []byte) (string, error) {
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	now := s.nowMS()
	p, err := l.mkdirAll(folderPath, now)
	if err != nil {
		return "", err
	}
	i, err := l.upload(p, name, append([]byte(nil), data...), 0, now)
	if err != nil {
		return "", err
	}
	return l.nodes[i].id, nil
}

// CreateAlbum creates an album holding ids and returns its id.
func (s *Server) CreateAlbum(name string, ids ...string) (string, error) {
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	now := s.nowMS()
	members := make([]int32, 0, len(ids))
	for _, id := range ids {
		m, ok := l.lookup(id)
		if !ok {
			return "", fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		members = append(members, m)
	}
	a, err := l.createAlbum(name, now)
	if err != nil {
		return "", err
	}
	if err := l.albumEdit(a, true, members, now); err != nil {
		l.purgeTree(a)
		return "", err
	}
	return l.nodes[a].id, nil
}
