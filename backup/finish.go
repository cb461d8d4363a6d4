package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/naming"
)

// get returns the record of id, or nil.
func (m *manifest) get(id string) *record { return m.byID[id] }

// moveGone moves the files of nodes that left the target (trashed,
// purged, or no longer selected) and their sidecars into
// .deleted/<date>/, keeping their paths; nothing is ever deleted.
func (r *runState) moveGone(gone []*record) {
	date := r.start.Format("2006-01-02")
	for _, g := range gone {
		name := path.Base(g.Path)
		var moved []string
		var failed error
		for _, rel := range append([]string{g.Path}, sidecarNames(g.Path, "both")...) {
			src := filepath.FromSlash(rel)
			if _, err := r.root.Lstat(src); errors.Is(err, fs.ErrNotExist) {
				continue
			}
			dst := path.Join(deletedDir, date, rel)
			for k := 2; ; k++ {
				if _, err := r.root.Lstat(filepath.FromSlash(dst)); errors.Is(err, fs.ErrNotExist) {
					break
				}
				ext := path.Ext(rel)
				dst = path.Join(deletedDir, date, fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(rel, ext), k, ext))
			}
			if err := r.root.MkdirAll(filepath.Dir(filepath.FromSlash(dst)), 0o755); err != nil {
				failed = err
				break
			}
			if err := r.root.Rename(src, filepath.FromSlash(dst)); err != nil {
				failed = err
				break
			}
			moved = append(moved, dst)
		}
		if failed != nil {
			r.add(row{g.ID, name, g.Path, statusFailed, "move to " + deletedDir + ": " + failed.Error()})
			continue
		}
		dest := ""
		if len(moved) > 0 {
			dest = moved[0]
		}
		if err := r.m.append(record{Event: "gone", ID: g.ID, Path: g.Path, Moved: dest, Run: r.runID}); err != nil {
			r.add(row{g.ID, name, g.Path, statusFailed, err.Error()})
			continue
		}
		detail := "left the target (trashed, purged or no longer selected): moved to " + dest
		if dest == "" {
			detail = "left the target; its file was already gone locally: dropped from the manifest"
		}
		r.add(row{g.ID, name, g.Path, statusOK, detail})
		r.mu.Lock()
		r.moved++
		r.mu.Unlock()
	}
}

// viewDirs are the trees of links VIEWS keeps.
var viewDirs = []string{"Albums", "People"}

// buildViews makes Albums/<album>/ and People/<name>/ hold one relative
// symbolic link per file of the album or person, and nothing else that
// apsql made: links that no longer match are removed, missing ones
// added, emptied folders removed. Files that are not links are left.
func (r *runState) buildViews(nodes []*node) error {
	want := map[string]string{} // link path → link target
	taken := map[string]bool{}
	add := func(top, group string, n *node, rel string) {
		dir := path.Join(top, naming.Clean(group))
		base := path.Base(rel)
		ext := path.Ext(base)
		link := path.Join(dir, base)
		for k := 2; taken[fold(link)]; k++ {
			link = path.Join(dir, fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(base, ext), k, ext))
		}
		taken[fold(link)] = true
		want[link] = strings.Repeat("../", strings.Count(link, "/")) + rel
	}
	for _, n := range nodes {
		rec := r.m.get(n.ID)
		if rec == nil {
			continue
		}
		for _, a := range n.Albums {
			add("Albums", a, n, rec.Path)
		}
		for _, p := range n.People {
			add("People", p, n, rec.Path)
		}
	}
	fsys := r.root.FS()
	var dirs []string
	for _, top := range viewDirs {
		fi, err := r.root.Lstat(top)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s in %s is not a folder: move it away so that VIEWS can make it", top, r.o.dir)
		}
		err = fs.WalkDir(fsys, top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, p)
				return nil
			}
			if d.Type()&fs.ModeSymlink == 0 {
				return nil // not ours
			}
			to, err := r.root.Readlink(filepath.FromSlash(p))
			if err != nil {
				return err
			}
			if want[p] == to {
				delete(want, p)
				return nil
			}
			return r.root.Remove(filepath.FromSlash(p))
		})
		if err != nil {
			return err
		}
	}
	links := make([]string, 0, len(want))
	for l := range want {
		links = append(links, l)
	}
	sort.Strings(links)
	made := map[string]bool{}
	for _, l := range links {
		dir := filepath.FromSlash(path.Dir(l))
		if !made[dir] {
			if err := r.root.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			made[dir] = true
		}
		if err := r.root.Symlink(want[l], filepath.FromSlash(l)); err != nil {
			return err
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = r.root.Remove(filepath.FromSlash(dirs[i])) // fails unless empty
	}
	r.mu.Lock()
	r.views = len(taken)
	r.mu.Unlock()
	return nil
}

// thenTrash trashes, in the cloud, the target's nodes whose file in the
// backup is verified: fetched and md5-checked by this run, or recorded by
// an earlier one and still holding the node's md5 (hashed now). Each is
// read back from the service right before (still AVAILABLE, same md5);
// the person confirms (or --yes); TRASH itself sends and journals it in
// actions_log (actions.TrashIDs).
func (r *runState) thenTrash(ctx context.Context, b *Backup, nodes []*node) error {
	ids := r.verifiedIDs(nodes)
	if len(ids) == 0 {
		return nil
	}
	ok, err := r.s.Confirmed(fmt.Sprintf("Trash %d nodes in Amazon Photos whose files are verified in %s?", len(ids), r.o.dir), "--yes")
	if err != nil {
		return err
	}
	if !ok {
		r.add(row{status: statusSkipped, detail: fmt.Sprintf("THEN TRASH: not confirmed; %d nodes stay in the cloud", len(ids))})
		return nil
	}
	c, err := b.client(ctx)
	if err != nil {
		return err
	}
	byID := map[string]*node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	good := r.stillThere(ctx, c, ids, byID)
	if ctx.Err() != nil || len(good) == 0 {
		return nil
	}
	outs, _, err := actions.TrashIDs(ctx, r.s, good)
	if err != nil {
		return fmt.Errorf("THEN TRASH: %w", err)
	}
	for _, o := range outs {
		name, p := o.Name, ""
		if n := byID[o.ID]; n != nil {
			name = n.Name
		}
		if rec := r.m.get(o.ID); rec != nil {
			p = rec.Path
		}
		r.add(row{o.ID, name, p, string(o.Status), "THEN TRASH: " + o.Detail})
		if o.Status == actions.StatusOK {
			r.mu.Lock()
			r.trashed++
			r.mu.Unlock()
		}
	}
	return nil
}

// verifiedIDs are the nodes whose file in the backup holds their md5:
// verified by this run, or hashed now. A file that no longer matches
// gets a row, and its node stays.
func (r *runState) verifiedIDs(nodes []*node) []string {
	var ids []string
	for _, n := range nodes {
		rec := r.m.get(n.ID)
		if rec == nil || rec.MD5 == "" || !strings.EqualFold(rec.MD5, n.MD5) {
			continue
		}
		r.mu.Lock()
		ok := r.verified[n.ID]
		r.mu.Unlock()
		if !ok {
			sum, err := md5Of(r.root, filepath.FromSlash(rec.Path))
			if err != nil || !strings.EqualFold(sum, rec.MD5) {
				r.add(row{n.ID, n.Name, rec.Path, statusSkipped, "THEN TRASH: the file in the backup no longer matches the node's md5: not trashed"})
				continue
			}
		}
		ids = append(ids, n.ID)
	}
	return ids
}

// stillThere reads each node back right before trashing: only a node
// still AVAILABLE on the service with the md5 of its verified file goes
// (sorted); every other gets a row.
func (r *runState) stillThere(ctx context.Context, c *fetch.Client, ids []string, byID map[string]*node) []string {
	found, gone, first := c.GetNodes(ctx, ids)
	var good []string
	for _, id := range ids {
		rn, n, rec := found[id], byID[id], r.m.get(id)
		switch {
		case gone[id]:
			r.add(row{id, n.Name, rec.Path, statusSkipped, "THEN TRASH: the service no longer has the node: nothing to trash"})
		case rn == nil:
			r.add(row{id, n.Name, rec.Path, statusFailed, "THEN TRASH: read the node back: " + first.Error()})
		case rn.Status != "AVAILABLE":
			r.add(row{id, n.Name, rec.Path, statusSkipped, "THEN TRASH: the node is " + rn.Status + " on the service: not trashed"})
		case !strings.EqualFold(rn.ContentProperties.MD5, rec.MD5):
			r.add(row{id, n.Name, rec.Path, statusSkipped, "THEN TRASH: the node's content changed on the service since it was backed up: not trashed"})
		default:
			good = append(good, id)
		}
	}
	sort.Strings(good)
	return good
}
