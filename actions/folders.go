package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

// Folders and nodes: the folders table, and what TRASH, RESTORE and PURGE
// of a folder do to the local folders, nodes and trash tables. CREATE
// FOLDER, MOVE and RENAME (API.md §1.3 rows 13, 19, 15) are in
// folders_create.go, folders_move.go and folders_rename.go.

// folderRow is one row of the folders table.
type folderRow struct {
	id, name, parentID, path string
}

// localFolders returns the mirrored folders whose paths are given ("/a",
// "/a/b"), by lower-cased path: the service compares names without case
// (API.md §1.3 #13).
func localFolders(ctx context.Context, db *engine.DB, paths []string) (map[string]folderRow, error) {
	out := map[string]folderRow{}
	if len(paths) == 0 {
		return out, nil
	}
	lc := make([]string, len(paths))
	for i, p := range paths {
		lc[i] = strings.ToLower(p)
	}
	rows, err := db.Query(ctx, `SELECT id, coalesce(name, ''), coalesce(parentId, ''), path FROM folders WHERE lower(path) IN `+idList(lc)+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read folders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f folderRow
		if err := rows.Scan(&f.id, &f.name, &f.parentID, &f.path); err != nil {
			return nil, err
		}
		if _, dup := out[strings.ToLower(f.path)]; !dup {
			out[strings.ToLower(f.path)] = f
		}
	}
	return out, rows.Err()
}

// folderPath returns the mirrored path of folder id ("" when unknown).
func folderPath(ctx context.Context, db *engine.DB, id string) (string, error) {
	var p sql.NullString
	err := db.QueryRow(ctx, `SELECT path FROM folders WHERE id = ?`, id).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return p.String, err
}

// childPath is the path of a child named name in the folder at parent.
func childPath(parent, name string) string {
	if parent == "/" || parent == "" {
		return "/" + name
	}
	return parent + "/" + name
}

// upsertFolder writes one folder row and moves the paths of the folders
// below it (a renamed or moved folder carries its subtree along).
func upsertFolder(ctx context.Context, tx *sql.Tx, f folderRow, oldPath string, created, modified any) error {
	if oldPath != "" && oldPath != f.path {
		if _, err := tx.ExecContext(ctx, `UPDATE folders SET path = ? || substr(path, ?) WHERE starts_with(path, ?)`,
			f.path, len(oldPath)+1, oldPath+"/"); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO folders (id, name, parentId, path, createdDate, modifiedDate) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, parentId = excluded.parentId, path = excluded.path,
  createdDate = coalesce(excluded.createdDate, folders.createdDate), modifiedDate = coalesce(excluded.modifiedDate, folders.modifiedDate)`,
		f.id, f.name, nullIfEmpty(f.parentID), f.path, created, modified)
	return err
}

// putFolder writes the folder f into folders (created and modified: its
// dates as the service showed them, nil to keep the mirror's), the paths
// of the folders below following a new path, and records in changes what
// that changed: with added, the folder when the mirror lacked it; with
// changed, the columns of its row that differ (none: nothing) and the path
// of each folder below. A nil recorder records nothing.
func putFolder(ctx context.Context, tx *sql.Tx, f folderRow, created, modified any, added, changed *mirror.ActionChanges) error {
	old, had, err := readFolder(ctx, tx, f.id)
	if err != nil {
		return err
	}
	var below []string
	if had && old.path.String != f.path {
		if below, err = txIDs(ctx, tx, `SELECT id FROM folders WHERE starts_with(path, ?) ORDER BY id`, old.path.String+"/"); err != nil {
			return err
		}
	}
	if err := upsertFolder(ctx, tx, f, old.path.String, created, modified); err != nil {
		return err
	}
	if !had {
		if added == nil {
			return nil
		}
		return added.Nodes(ctx, tx, "folders", mirror.ChangeAdded, []string{f.id})
	}
	now, _, err := readFolder(ctx, tx, f.id)
	if err != nil || changed == nil {
		return err
	}
	if fields := old.differ(now); len(fields) > 0 {
		if err := changed.Nodes(ctx, tx, "folders", mirror.ChangeChanged, []string{f.id}, fields...); err != nil {
			return err
		}
	}
	return changed.Nodes(ctx, tx, "folders", mirror.ChangeChanged, below, "path")
}

// learnFolder returns the folders row of the folder n that a statement
// made, or reused (found by a 409: the service had it), in the folder
// parentID at parentPath, and the mirror's update: the row as the service
// showed it (its spelling of the name, so of the path; its dates), recorded
// in changes as added by apsql when the mirror lacked it. A reused folder
// the mirror held otherwise (renamed elsewhere since the last SYNC) is
// recorded with the columns that differ, as the service's change (by_apsql
// false). name is the name asked for, kept when the answer has none.
func learnFolder(ch *mirror.ActionChanges, n *fetch.Node, name, parentID, parentPath string, reused bool) (folderRow, func(context.Context, *sql.Tx) error) {
	if n.Name != "" {
		name = n.Name
	}
	f := folderRow{id: n.ID, name: name, parentID: parentID, path: childPath(parentPath, name)}
	changed := ch
	if reused {
		changed = ch.Found()
	}
	return f, func(ctx context.Context, tx *sql.Tx) error {
		return putFolder(ctx, tx, f, timeOrNil(n.CreatedDate), timeOrNil(n.ModifiedDate), ch, changed)
	}
}

// folderVals is a row of folders as changes compares it.
type folderVals struct {
	name, parentID, path sql.NullString
	created, modified    sql.NullTime
}

// readFolder returns the row of folder id in tx (had false: none).
func readFolder(ctx context.Context, tx *sql.Tx, id string) (v folderVals, had bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT name, parentId, path, createdDate, modifiedDate FROM folders WHERE id = ?`, id).
		Scan(&v.name, &v.parentID, &v.path, &v.created, &v.modified)
	if errors.Is(err, sql.ErrNoRows) {
		return v, false, nil
	}
	return v, err == nil, err
}

// differ names the columns whose values differ between v and w, in the
// table's order.
func (v folderVals) differ(w folderVals) []string {
	sameTime := func(a, b sql.NullTime) bool { return a.Valid == b.Valid && a.Time.Equal(b.Time) }
	var out []string
	for _, c := range []struct {
		col  string
		same bool
	}{{"name", v.name == w.name}, {"parentId", v.parentID == w.parentID}, {"path", v.path == w.path},
		{"createdDate", sameTime(v.created, w.created)}, {"modifiedDate", sameTime(v.modified, w.modified)}} {
		if !c.same {
			out = append(out, c.col)
		}
	}
	return out
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// folderSubtree is a SQL subquery of the folder ids at and below the
// folders in the id list in (the folders table).
func folderSubtree(in string) string {
	return `(WITH RECURSIVE sub(id) AS (SELECT id FROM folders WHERE id IN ` + in +
		` UNION SELECT f.id FROM folders f JOIN sub ON f.parentId = sub.id) SELECT id FROM sub)`
}

// folderMoveSQL returns the statements that carry the subtree of the
// folders among ids along when TRASH, RESTORE or PURGE moves them; they run
// before the move's own statements, in the same transaction. They do what
// the service does (the emulator follows it):
//   - TRASH recurses: every available node below goes to the trash, so
//     the subtree's files leave nodes and its folders leave folders, all
//     into trash;
//   - RESTORE brings the folder back into folders (its subtree is read
//     back from the service afterwards: restoreSubtrees; the service
//     restores only what was trashed with the folder);
//   - PURGE deletes the trashed subtree for good; a child restored on its
//     own is available, so it is not in trash and stays.
func folderMoveSQL(action, in string) []string {
	switch action {
	case "TRASH":
		sub := folderSubtree(in)
		return []string{
			`INSERT OR REPLACE INTO trash SELECT * REPLACE ('TRASH' AS status) FROM nodes WHERE parentId IN ` + sub,
			`DELETE FROM nodes WHERE parentId IN ` + sub,
			`INSERT OR REPLACE INTO trash (id, name, kind, status, parents, parentId, createdDate, modifiedDate)
  SELECT id, name, 'FOLDER', 'TRASH', CASE WHEN parentId IS NULL THEN [] ELSE [parentId] END, parentId, createdDate, modifiedDate
  FROM folders WHERE id IN ` + sub,
			`DELETE FROM folders WHERE id IN ` + sub,
		}
	case "RESTORE":
		return []string{
			`INSERT OR REPLACE INTO folders
  SELECT t.id, t.name, t.parentId, CASE WHEN p.path IS NULL OR p.path = '/' THEN '/' || t.name ELSE p.path || '/' || t.name END, t.createdDate, t.modifiedDate
  FROM trash t LEFT JOIN folders p ON p.id = t.parentId WHERE t.kind = 'FOLDER' AND t.id IN ` + in,
			`DELETE FROM trash WHERE kind = 'FOLDER' AND id IN ` + in,
		}
	case "PURGE":
		return []string{`DELETE FROM trash WHERE id IN (WITH RECURSIVE sub(id) AS (SELECT id FROM trash WHERE kind = 'FOLDER' AND id IN ` + in +
			` UNION SELECT t.id FROM trash t JOIN sub ON t.parentId = sub.id) SELECT id FROM sub)`}
	}
	return nil
}

// recordFolderTrash records in changes, before TRASH takes them out of
// the mirror, what goes with the folders among the ids in (an id list):
// each folder at and below them leaves folders, and each file below them
// leaves nodes (the ids in themselves are the statement's own rows).
func recordFolderTrash(ctx context.Context, tx *sql.Tx, ch *mirror.ActionChanges, in string) error {
	sub := folderSubtree(in)
	folders, err := txIDs(ctx, tx, `SELECT id FROM `+sub+` ORDER BY id`)
	if err != nil || len(folders) == 0 {
		return err
	}
	files, err := txIDs(ctx, tx, `SELECT id FROM nodes WHERE parentId IN `+sub+` AND id NOT IN `+in+` ORDER BY id`)
	if err != nil {
		return err
	}
	if err := ch.Nodes(ctx, tx, "folders", mirror.ChangeRemoved, folders); err != nil {
		return err
	}
	return ch.Nodes(ctx, tx, "nodes", mirror.ChangeRemoved, files)
}

// restoredFolder is a folder a RESTORE brought back, as the service
// showed it.
type restoredFolder struct {
	f                 folderRow
	created, modified any
}

// restoreSubtrees reads back, after a RESTORE, the subtrees of the folders
// among items that were restored: the service brings back what was trashed
// with a folder and leaves what was trashed before it, which the mirror
// cannot tell apart. Each restored folder's row becomes the service's (a
// restore may rename it, and sets its modifiedDate), and available nodes
// below go into nodes and folders, as the service holds them, and leave
// trash; all recorded in changes as added (the restored folders already
// in folders, where RESTORE put them, too). It returns a note for the
// summary when that failed.
func (x *Actions) restoreSubtrees(ctx context.Context, r *run, c *fetch.Client, items []item) string {
	r.mu.Lock()
	ok := map[string]bool{}
	for _, o := range r.outcomes {
		if o.Status == StatusOK {
			ok[o.ID] = true
		}
	}
	r.mu.Unlock()
	var roots []string
	for _, it := range items {
		if it.Kind == "FOLDER" && ok[it.ID] {
			roots = append(roots, it.ID)
		}
	}
	if len(roots) == 0 {
		return ""
	}
	ctx = context.WithoutCancel(ctx)
	folders, files, back, note := readRestored(ctx, r, c, roots)
	if note != "" {
		// The roots are in folders as RESTORE wrote them: recorded so.
		_ = r.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return r.changes.Nodes(ctx, tx, "folders", mirror.ChangeAdded, roots)
		})
		return note
	}
	var raws [][]byte
	var fileIDs []string
	for _, n := range files {
		raws = append(raws, n.Raw)
		fileIDs = append(fileIDs, n.ID)
	}
	had := map[string]bool{}
	if len(fileIDs) > 0 {
		in, err := r.s.DB.Query(ctx, `SELECT id FROM nodes WHERE id IN `+idList(fileIDs))
		if err != nil {
			return err.Error() + "; run SYNC"
		}
		for in.Next() {
			var id string
			if err := in.Scan(&id); err != nil {
				in.Close()
				return err.Error() + "; run SYNC"
			}
			had[id] = true
		}
		in.Close()
	}
	var nodes *nodeBatch
	if len(raws) > 0 {
		b, err := decodeNodes(raws)
		if err != nil {
			return err.Error() + "; run SYNC"
		}
		defer b.release()
		nodes = b
	}
	var added []string
	for _, id := range fileIDs {
		if !had[id] {
			added = append(added, id)
		}
	}
	// The files go into nodes in the transaction that records them.
	err := r.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if nodes != nil {
			if err := r.putNodes(ctx, tx.ExecContext, "nodes", nodes); err != nil {
				return err
			}
		}
		for _, rf := range folders {
			var ch *mirror.ActionChanges
			if !slices.Contains(roots, rf.f.id) {
				ch = r.changes
			}
			if err := putFolder(ctx, tx, rf.f, rf.created, rf.modified, ch, ch); err != nil {
				return err
			}
		}
		if err := r.changes.Nodes(ctx, tx, "folders", mirror.ChangeAdded, roots); err != nil {
			return err
		}
		if err := r.changes.Nodes(ctx, tx, "nodes", mirror.ChangeAdded, added); err != nil {
			return err
		}
		if len(back) > 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM trash WHERE id IN `+idList(back))
			return err
		}
		return nil
	})
	if err != nil {
		return "updating the restored folders in the mirror failed: " + err.Error() + "; run SYNC FOLDERS and SYNC"
	}
	return ""
}

// readRestored reads the restored folders roots back, and their available
// subtrees level by level: the folders (roots first, parents before their
// children), the files, and the ids of all the nodes below. note says why
// that failed.
func readRestored(ctx context.Context, r *run, c *fetch.Client, roots []string) (folders []restoredFolder, files []fetch.Node, back []string, note string) {
	for _, id := range roots {
		n, err := c.GetNode(ctx, id) // a restore may have renamed it ("name (1)")
		r.requests.Add(1)
		if err != nil {
			return nil, nil, nil, "reading restored folder " + id + " back failed: " + err.Error() + "; run SYNC FOLDERS and SYNC"
		}
		pp, err := folderPath(ctx, r.s.DB, n.ParentID())
		if err != nil {
			return nil, nil, nil, err.Error()
		}
		root := folderRow{id: id, name: n.Name, parentID: n.ParentID(), path: childPath(pp, n.Name)}
		folders = append(folders, restoredFolder{root, timeOrNil(n.CreatedDate), timeOrNil(n.ModifiedDate)})
		subs, fs, bs, err := restoredBelow(ctx, r, c, root)
		if err != nil {
			return nil, nil, nil, err.Error() + "; run SYNC FOLDERS and SYNC"
		}
		folders, files, back = append(folders, subs...), append(files, fs...), append(back, bs...)
	}
	return folders, files, back, ""
}

// restoredBelow lists, level by level, the available subtree of the
// restored folder root (its row as the service shows it): the folders
// below (parents before their children), the files, and the ids of all
// of them. The service restores with a folder what was trashed with it
// and leaves in the trash what was trashed before it (API.md §2,
// recursivelyTrashed), so what is available below is what came back.
func restoredBelow(ctx context.Context, r *run, c *fetch.Client, root folderRow) (folders []restoredFolder, files []fetch.Node, back []string, err error) {
	queue := []folderRow{root}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		kids, err := c.Children(ctx, f.id, "")
		r.requests.Add(1)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("reading restored folder %s back failed: %w", f.path, err)
		}
		for _, k := range kids {
			if k.Status != "AVAILABLE" {
				continue
			}
			back = append(back, k.ID)
			switch k.Kind {
			case "FOLDER":
				sub := folderRow{id: k.ID, name: k.Name, parentID: f.id, path: childPath(f.path, k.Name)}
				folders = append(folders, restoredFolder{sub, timeOrNil(k.CreatedDate), timeOrNil(k.ModifiedDate)})
				queue = append(queue, sub)
			case "FILE":
				files = append(files, k)
			}
		}
	}
	return folders, files, back, nil
}

// expandFolders replaces the folders among items by the files of their
// subtrees (from nodes), in id order, each node once: DOWNLOAD of a folder
// downloads what it holds.
func expandFolders(ctx context.Context, db *engine.DB, items []item) ([]item, error) {
	var fids []string
	for _, it := range items {
		if it.InFolders {
			fids = append(fids, it.ID)
		}
	}
	if len(fids) == 0 {
		return items, nil
	}
	files, err := resolve(ctx, db, target{kind: targetSelect,
		sql:  `SELECT id FROM nodes WHERE parentId IN ` + folderSubtree(idList(fids)) + ` ORDER BY id`,
		text: "the files of folders " + strings.Join(fids, ", ")}, "nodes")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []item
	for _, it := range append(items, files...) {
		if it.InFolders || seen[it.ID] {
			continue
		}
		seen[it.ID] = true
		out = append(out, it)
	}
	return out, nil
}
