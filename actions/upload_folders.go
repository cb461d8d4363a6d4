package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// folderRequest names a folder's creation in the journal's 'sending'
// entries.
const folderRequest = `POST /nodes {"kind":"FOLDER"}`

// folderSet is the remote folders of an UPLOAD as they are made: the id
// and path (as the service spells it) of each one made or reused, and why
// each one that could not be made failed (its files and subfolders are not
// sent).
type folderSet struct {
	mu    sync.Mutex
	ids   map[string]string
	paths map[string]string
	errs  map[string]error
}

// of returns the id of the folder p, or why it could not be made.
func (s *folderSet) of(p string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[p], s.errs[p]
}

// pathOf returns the path of the folder p as the service spells it.
func (s *folderSet) pathOf(p string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paths[p]
}

func (s *folderSet) set(p string, f folderRow, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs[p] = err
	} else {
		s.ids[p], s.paths[p] = f.id, f.path
	}
}

// folders makes the remote folders (parents first, one depth level at a
// time) into up.dirs. POST /nodes answers 409 with the existing folder's
// id when the name is taken (API.md §1.3 #13): that folder is reused, so
// re-sending a create is always safe. The error is fatal: nothing more
// can be sent.
func (up *uploader) folders(ctx context.Context, rootID string, paths []string, workers int) error {
	up.dirs = &folderSet{ids: map[string]string{"": rootID}, paths: map[string]string{"": "/"}, errs: map[string]error{}}
	for _, level := range byDepth(paths) {
		// Each folder is journaled as about to be made before it is.
		fatal := poolJournaled(ctx, up.r, workers, level, func(p string) []string { return []string{"/" + p + "/"} }, folderRequest,
			func(p string) error { return up.makeFolder(ctx, p) },
			func(p string, why string) { up.dirs.set(p, folderRow{}, errors.New(why)) })
		if fatal != nil {
			return fatal
		}
	}
	return nil
}

// byDepth cuts paths (sorted by depth) into runs of the same depth.
func byDepth(paths []string) [][]string {
	var levels [][]string
	for lo := 0; lo < len(paths); {
		depth := strings.Count(paths[lo], "/")
		hi := lo
		for hi < len(paths) && strings.Count(paths[hi], "/") == depth {
			hi++
		}
		levels = append(levels, paths[lo:hi])
		lo = hi
	}
	return levels
}

// makeFolder makes the folder p of an UPLOAD in its parent, unless the
// parent failed, and journals its outcome; the folder made or reused goes
// into folders as the service showed it, recorded in changes (learnFolder).
// The error stops the statement.
func (up *uploader) makeFolder(ctx context.Context, p string) error {
	parent, err := up.dirs.of(parentOf(p))
	if err != nil {
		up.dirs.set(p, folderRow{}, err)
		return nil
	}
	n, o, err := up.folder(ctx, parent, p)
	var (
		f     folderRow
		learn func(context.Context, *sql.Tx) error
	)
	if err == nil {
		f, learn = learnFolder(up.r.changes, n, p[strings.LastIndexByte(p, '/')+1:], parent, up.dirs.pathOf(parentOf(p)), o.Status == StatusSkipped)
	}
	up.dirs.set(p, f, err)
	if rerr := up.r.record(ctx, learn, o); rerr != nil {
		return rerr
	}
	if errors.Is(err, fetch.ErrUnauthorized) {
		return err
	}
	return nil
}

// folder makes (or finds) one remote folder: p, relative to the root, in
// the folder parentID, and returns its node as the service showed it
// (non-nil when the error is nil).
func (up *uploader) folder(ctx context.Context, parentID, p string) (*fetch.Node, Outcome, error) {
	name := p[strings.LastIndexByte(p, '/')+1:]
	o := Outcome{Name: "/" + p + "/", Target: "/" + p + "/"}
	up.r.requests.Add(1)
	n, err := up.c.CreateFolder(context.WithoutCancel(ctx), parentID, name,
		func(context.Context, error) bool { return true })
	if err == nil || errors.Is(err, fetch.ErrUnexpectedAnswer) {
		return up.folderMade(o, n)
	}
	if held, ok := (api{up.c}).conflictID(ctx, err, parentID, name, "FOLDER"); ok {
		return up.folderHeld(ctx, o, held, name)
	}
	o.Status, o.Detail = StatusFailed, "POST /nodes: "+err.Error()
	return nil, o, err
}

// folderMade reads the answer of a folder's creation.
func (up *uploader) folderMade(o Outcome, n *fetch.Node) (*fetch.Node, Outcome, error) {
	if n == nil || n.ID == "" {
		err := fmt.Errorf("POST /nodes: the answer has no folder id: %s", clip(string(raw(n)), 60))
		o.Status, o.Detail = StatusFailed, err.Error()
		return nil, o, err
	}
	o.ID, o.Status, o.Detail = n.ID, StatusOK, "POST /nodes: folder created"
	return n, o, nil
}

// folderHeld settles a 409 on a folder's creation: the name is held by the
// node id, reused when it is a folder (its node as read back is returned);
// a file holding it fails the folder.
func (up *uploader) folderHeld(ctx context.Context, o Outcome, id, name string) (*fetch.Node, Outcome, error) {
	o.ID = id
	n, err := up.c.GetNode(ctx, id)
	switch {
	case err != nil:
		err = fmt.Errorf("POST /nodes: 409, the name is taken by %s, which could not be read: %w", id, err)
	case n.Kind != "FOLDER":
		err = fmt.Errorf("POST /nodes: 409, the name %s in its parent folder is taken by a %s (%s), not a folder: rename one of them, or UPLOAD ... TO another folder",
			engine.Quote(name), strings.ToLower(n.Kind), id)
	default:
		o.Status, o.Detail = StatusSkipped, "POST /nodes: 409, the folder exists; reused"
		return n, o, nil
	}
	o.Status, o.Detail = StatusFailed, err.Error()
	return nil, o, err
}

// withTx runs fn in a transaction under the run's lock.
func (r *run) withTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s.DB.Tx(ctx, func(tx *sql.Tx) error { return fn(ctx, tx) })
}
