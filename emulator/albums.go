package emulator

import "fmt"

// Albums, as tests see them: the truth SYNC ALBUMS is compared with.

// AlbumMembers returns the ids GET /nodes/{album}/children lists (every
// member not purged), in the album's order; ok is false for an id that is
// not a live album.
func (s *Server) AlbumMembers(albumID string) (ids []string, ok bool) {
	l := s.lib
	l.mu.RLock()
	defer l.mu.RUnlock()
	a, ok := l.lookup(albumID)
	if !ok || l.nodes[a].kind != kindAlbum {
		return nil, false
	}
	for _, m := range l.albums[a] {
		if l.nodes[m].status != statusPurged {
			ids = append(ids, l.nodes[m].id)
		}
	}
	return ids, true
}

// Albums returns the AVAILABLE albums: id → name.
func (s *Server) Albums() map[string]string {
	l := s.lib
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := map[string]string{}
	for i := range l.nodes {
		if n := &l.nodes[i]; n.kind == kindAlbum && n.status == statusAvailable {
			out[n.id] = n.name
		}
	}
	return out
}

// AddAlbumMembers adds ids to an album server-side (tests build albums of
// several pages with it), as PATCH /nodes/{album}/children op add does.
func (s *Server) AddAlbumMembers(albumID string, ids ...string) error {
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.lookup(albumID)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, albumID)
	}
	members := make([]int32, 0, len(ids))
	for _, id := range ids {
		m, ok := l.lookup(id)
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		members = append(members, m)
	}
	return l.albumEdit(a, true, members, s.nowMS())
}

// RemoveAlbumMembers takes ids out of an album server-side, as PATCH
// /nodes/{album}/children op remove does.
func (s *Server) RemoveAlbumMembers(albumID string, ids ...string) error {
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.lookup(albumID)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, albumID)
	}
	members := make([]int32, 0, len(ids))
	for _, id := range ids {
		m, ok := l.lookup(id)
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		members = append(members, m)
	}
	return l.albumEdit(a, false, members, s.nowMS())
}
