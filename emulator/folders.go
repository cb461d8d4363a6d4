package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/apsql/apsql/filterlang"
)

// Moving nodes between folders and trashing one node by id: API.md §1.3
// rows 19 and 24 (GOACD ReplaceParent, PUT /trash/{id}, POST
// /trash/{id}/restore; legacy, answered here as the web API would).

// ErrBadParent is a move whose fromParent is not the node's parent.
var ErrBadParent = fmt.Errorf("%w: fromParent is not a parent of the node", ErrBadKind)

// move puts node i into folder p. fromParent must be its current parent
// (GOACD sends the parent it replaces); a folder cannot go into itself or
// below itself; the name must be free in p (409 NAME_ALREADY_EXISTS, names
// compared case-insensitively as on create).
func (l *library) move(i, from, p int32, now int64) error {
	n := &l.nodes[i]
	if i == l.root {
		return fmt.Errorf("%w: the root cannot be moved", ErrBadKind)
	}
	if n.kind == kindAlbum || n.parent < 0 {
		return fmt.Errorf("%w: %s is not in a folder", ErrBadKind, n.id)
	}
	if n.status != statusAvailable {
		return fmt.Errorf("%w: %s is in the trash", ErrBadKind, n.id)
	}
	if l.nodes[p].kind != kindFolder || l.nodes[p].status != statusAvailable {
		return fmt.Errorf("%w: parent %s is not an available folder", ErrBadKind, l.nodes[p].id)
	}
	if from != n.parent {
		return ErrBadParent
	}
	if from == p {
		return nil // already there: nothing changes
	}
	for a := p; a >= 0; a = l.nodes[a].parent {
		if a == i {
			return fmt.Errorf("%w: a folder cannot be moved into itself or one of its subfolders", ErrBadKind)
		}
	}
	if err := l.checkConflict(p, n.name, i); err != nil {
		return err
	}
	l.unindex(i)
	n.parent = p
	l.index(i)
	l.touch(i, now)
	return nil
}

// moveBody is POST /nodes/{newParentId}/children.
type moveBody struct {
	FromParent      string `json:"fromParent"`
	ChildID         string `json:"childId"`
	ResourceVersion string `json:"resourceVersion"`
}

// POST /nodes/{newParentId}/children {"fromParent","childId"}: move a node
// (API.md §1.3 #19); answers the moved node.
func (s *Server) handleMove(w http.ResponseWriter, r *http.Request) {
	var body moveBody
	if !s.readJSON(w, r, &body) {
		return
	}
	if body.ChildID == "" || body.FromParent == "" {
		s.writeError(w, http.StatusBadRequest, "fromParent and childId are required")
		return
	}
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.lookup(r.PathValue("id"))
	if !ok {
		s.writeNotFound(w, r.PathValue("id"), false)
		return
	}
	i, ok := l.lookup(body.ChildID)
	if !ok || (l.needsV2(i) && !hasV2(r, body.ResourceVersion)) {
		s.writeNotFound(w, body.ChildID, ok)
		return
	}
	from, ok := l.lookup(body.FromParent)
	if !ok {
		s.writeNotFound(w, body.FromParent, false)
		return
	}
	if err := l.move(i, from, p, s.nowMS()); err != nil {
		s.writeMutationError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l.appendNode(nil, i, renderOpts{}))
}

// PUT /trash/{id} (trash one node) and POST /trash/{id}/restore (API.md
// §1.3 #24): the node as it is afterwards.
func (s *Server) handleTrashOne(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.lookup(id)
	if !ok || (l.needsV2(i) && !hasV2(r, "")) {
		s.writeNotFound(w, id, ok)
		return
	}
	if r.Method == http.MethodPut {
		l.trash(i, s.nowMS(), false)
	} else {
		l.restore(i, s.nowMS())
	}
	writeJSON(w, http.StatusOK, l.appendNode(nil, i, renderOpts{}))
}

// NodeIDs returns the ids of the live nodes that GET /nodes lists for a
// node-dialect filter ("" matches all), sorted: the service's truth for
// comparing a mirror with.
func (s *Server) NodeIDs(filter string) ([]string, error) {
	ids, err := s.ids(scopeNodes, filter, filterlang.Nodes)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// PathOf returns the folder path of a live node's parent ("Pictures/Web";
// "" for the root's children) and the node's status.
func (s *Server) PathOf(id string) (folder, status string, ok bool) {
	l := s.lib
	l.mu.RLock()
	defer l.mu.RUnlock()
	i, ok := l.lookup(id)
	if !ok {
		return "", "", false
	}
	n := &l.nodes[i]
	if n.parent >= 0 {
		folder = l.path(n.parent)
	}
	return folder, statusNames[n.status], true
}

// Move moves a node into the folder at path (which must exist), as POST
// /nodes/{newParentId}/children does.
func (s *Server) Move(id, folderPath string) error {
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.lookup(id)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	p, ok := l.folderByPath(folderPath)
	if !ok {
		return fmt.Errorf("%w: folder %s", ErrNotFound, strings.Trim(folderPath, "/"))
	}
	return l.move(i, l.nodes[i].parent, p, s.nowMS())
}
