package actions

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/output"
)

// Folders and nodes: CREATE FOLDER, MOVE and RENAME (API.md §1.3 rows 13,
// 15, 19), and what TRASH, RESTORE and PURGE of a folder do to the local
// folders, nodes and trash tables.

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

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// runCreateFolder runs CREATE FOLDER 'a/b/c': every missing folder of the
// path is created, parents first (POST /nodes kind FOLDER). A folder the
// mirror holds is not created again; one the service holds already (409
// NAME_ALREADY_EXISTS, info.nodeId) is reused, so a re-run sends nothing
// twice.
func (x *Actions) runCreateFolder(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	a0 := engine.NewArgs(rest)
	p, err := a0.String()
	if err != nil {
		return nil, fmt.Errorf("create folder: %w (CREATE FOLDER 'path/to/folder')", err)
	}
	if !a0.Done() {
		return nil, fmt.Errorf("create folder: unexpected %q after the path; write CREATE FOLDER 'path/to/folder'", clip(a0.Rest(), 20))
	}
	rel, err := remotePath(p)
	if err != nil {
		return nil, fmt.Errorf("create folder: %w", err)
	}
	if rel == "" {
		return nil, fmt.Errorf("create folder: %s names no folder (the root always exists); give a path like 'Backup/2024'", engine.Quote(p))
	}
	var prefixes []string
	comps := strings.Split(rel, "/")
	for i := range comps {
		prefixes = append(prefixes, "/"+strings.Join(comps[:i+1], "/"))
	}
	local, err := localFolders(ctx, s.DB, append([]string{"/"}, prefixes...))
	if err != nil {
		return nil, fmt.Errorf("create folder: %w", err)
	}
	r, err := newRun(ctx, s, "CREATE FOLDER", explain)
	if err != nil {
		return nil, err
	}
	const req = `POST /nodes {"kind":"FOLDER"}`
	if explain {
		n := 0
		for _, pre := range prefixes {
			if f, ok := local[strings.ToLower(pre)]; ok {
				r.add(Outcome{ID: f.id, Name: f.path + "/", Status: StatusSkipped, Detail: "folder exists (in the mirror); not created again"})
				continue
			}
			n++
			r.add(Outcome{Name: pre + "/", Status: statusPlanned, Detail: req + " (a 409 reuses the folder the service has)"})
		}
		return r.result(false, fmt.Sprintf("would send up to %d %s; nothing was sent", n, plural(int64(n), "request", "requests"))), nil
	}
	var c *fetch.Client
	parent := ""
	if f, ok := local["/"]; ok {
		parent = f.id
	}
	for k, pre := range prefixes {
		if f, ok := local[strings.ToLower(pre)]; ok {
			// Trashed or deleted elsewhere since the last SYNC? Then it
			// is not there to reuse: forget it and make it.
			if c == nil {
				if c, err = x.client(ctx); err != nil {
					return nil, err
				}
			}
			n, gerr := api{c}.getNode(ctx, f.id)
			r.requests.Add(1)
			if errors.Is(gerr, errNodeGone) || gerr == nil && n.Status != "AVAILABLE" {
				drop := func(ctx context.Context, tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `DELETE FROM folders WHERE id IN `+folderSubtree(idList([]string{f.id})))
					return err
				}
				if err := r.record(ctx, drop); err != nil {
					return nil, err
				}
				delete(local, strings.ToLower(pre))
			}
		}
		if f, ok := local[strings.ToLower(pre)]; ok {
			if err := r.record(ctx, nil, Outcome{ID: f.id, Name: f.path + "/", Status: StatusSkipped, Detail: "folder exists (in the mirror); not created again", Target: f.path + "/"}); err != nil {
				return nil, err
			}
			parent = f.id
			continue
		}
		if c == nil {
			if c, err = x.client(ctx); err != nil {
				return nil, err
			}
		}
		if parent == "" {
			root, err := c.Root(ctx)
			if err != nil {
				return nil, fmt.Errorf("create folder: %w", err)
			}
			parent = root.ID
		}
		up := &uploader{c: c, r: r}
		if err := r.intend(ctx, req, pre+"/"); err != nil {
			return r.end(false, err, "")
		}
		id, o, err := up.folder(ctx, parent, pre[1:])
		var apply func(context.Context, *sql.Tx) error
		if err == nil && o.Status == StatusSkipped {
			// Reused after a 409: the mirror learns the folder.
			f := folderRow{id: id, name: pre[strings.LastIndexByte(pre, '/')+1:], parentID: parent, path: pre}
			apply = func(ctx context.Context, tx *sql.Tx) error { return upsertFolder(ctx, tx, f, "", nil, nil) }
		}
		if err != nil && isStatus(err, http.StatusNotFound) {
			o.Detail += fmt.Sprintf("; the parent folder %s is not on the service any more: run SYNC FOLDERS", parent)
		}
		if rerr := r.record(ctx, apply, o); rerr != nil {
			return nil, rerr
		}
		if err != nil {
			for _, rest := range prefixes[k+1:] {
				_ = r.record(ctx, nil, Outcome{Name: rest + "/", Status: StatusFailed, Reason: ReasonNotSent, Target: rest + "/", Detail: "not sent: its parent folder could not be made"})
			}
			break
		}
		parent = id
	}
	return r.result(ctx.Err() != nil, ""), nil
}

// moveNode sends POST /nodes/{newParent}/children (API.md §1.3 #19) and
// returns the moved node's JSON.
func (a api) moveNode(ctx context.Context, id, from, to string, retry func(context.Context, error) bool) ([]byte, error) {
	n, err := a.c.MoveNode(ctx, id, from, to, retry)
	if n != nil && (err == nil || errors.Is(err, fetch.ErrUnexpectedAnswer)) {
		return n.Raw, nil // an answer without the node is read back by the caller
	}
	return nil, err
}

// conflictDetail explains a 409 of a rename or move.
func conflictDetail(err error, name, where string) string {
	var ae *fetch.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		holder := ""
		if ae.NodeID != "" {
			holder = " by " + ae.NodeID
		}
		return fmt.Sprintf("409: the name %s is taken in %s%s (names are compared without case); RENAME one of them first", engine.Quote(name), where, holder)
	}
	return err.Error()
}

// runRename runs RENAME 'id' TO 'new name' for any node: a file, a
// folder (its subtree's paths follow) or an album (PATCH /nodes/{id}
// {"name"}, API.md §1.3 #15).
func (x *Actions) runRename(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	id, name, err := parseRenaming(rest, "the node's id")
	if err != nil {
		return nil, fmt.Errorf("rename: %w (RENAME 'node id' TO 'new name')", err)
	}
	switch {
	case strings.ContainsAny(name, "/\x00"):
		return nil, fmt.Errorf("rename: %s holds a '/': a name cannot; to put the node in another folder, use MOVE 'id' TO 'folder'", engine.Quote(name))
	case name == "." || name == "..":
		return nil, fmt.Errorf("rename: %s is not a valid name", engine.Quote(name))
	}
	items, err := resolve(ctx, s.DB, target{kind: targetIDs, ids: []string{id}, text: engine.Quote(id)}, "nodes")
	if err != nil {
		return nil, fmt.Errorf("rename: %w", err)
	}
	r, err := newRun(ctx, s, "RENAME", explain)
	if err != nil {
		return nil, err
	}
	it := items[0]
	req := `PATCH /nodes/{id} {"name":` + engine.Quote(name) + `}`
	switch {
	case !it.known():
		o := Outcome{ID: it.ID, Status: StatusFailed, Detail: "not in the local mirror (nodes, trash, folders): run SYNC, then run the statement again"}
		if explain {
			r.add(o)
		} else if err := r.record(ctx, nil, o); err != nil {
			return nil, err
		}
		return r.result(false, ""), nil
	case it.Name == name:
		// Renamed elsewhere since the last SYNC? Ask before skipping.
		c, err := x.client(ctx)
		if err != nil {
			return nil, err
		}
		send, rows := recheck(ctx, api{c}, []item{it}, "already named "+engine.Quote(name), func(n remoteNode) bool { return n.Name == name })
		r.requests.Add(1)
		if len(send) == 0 {
			if explain {
				r.add(rows...)
			} else if err := r.record(ctx, nil, rows...); err != nil {
				return nil, err
			}
			return r.result(false, ""), nil
		}
	}
	if explain {
		r.add(Outcome{ID: it.ID, Name: it.Name, Status: statusPlanned, Detail: req})
		return r.result(false, "would send 1 request ("+req+"); nothing was sent"), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	a := api{c}
	verify := func(ctx context.Context, ids []string) (map[string]bool, error) {
		n, err := a.getNode(ctx, ids[0])
		if err != nil {
			return nil, err
		}
		if n.Name == name {
			return map[string]bool{ids[0]: true}, nil
		}
		return map[string]bool{}, nil
	}
	var raw []byte
	send := func(ctx context.Context, retry func(context.Context, error) bool) (err error) {
		raw, err = a.patchNode(ctx, it.ID, fetch.NodePatch{Name: &name}, retry)
		return err
	}
	if todo, err := x.settleUnknown(ctx, r, []item{it}, verify, func([]string) func(context.Context, *sql.Tx) error {
		return x.renameApply(it, name, nil)
	}); err != nil || len(todo) == 0 {
		if err != nil {
			return nil, err
		}
		return r.result(false, ""), nil
	}
	if err := r.intend(ctx, req, it.ID); err != nil {
		return nil, fmt.Errorf("rename: %w", err)
	}
	done, detail, lastErr := guardedOne(ctx, send, func(ctx context.Context) (bool, error) {
		d, err := verify(ctx, []string{it.ID})
		return d[it.ID], err
	})
	r.requests.Add(1)
	o := Outcome{ID: it.ID, Name: name}
	var apply func(context.Context, *sql.Tx) error
	if done {
		o.Status, o.Detail = StatusOK, joinDetail(req, detail)
		if detail != "" {
			raw = nil // read back, not answered: the answer was not this node
		}
		apply = x.renameApply(it, name, raw)
	} else {
		o.Name = it.Name
		if isStatus(lastErr, http.StatusConflict) {
			detail = conflictDetail(lastErr, name, "its folder")
		}
		o.Status, o.Detail = StatusFailed, joinDetail(req, detail)
	}
	if err := r.record(ctx, apply, o); err != nil {
		return nil, err
	}
	return r.result(false, ""), nil
}

// renameApply updates the local tables for a renamed node: its row (from
// the service's answer when there is one) and, for a folder, the paths of
// its subtree.
func (x *Actions) renameApply(it item, name string, raw []byte) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		if it.InFolders {
			var old, parent sql.NullString
			if err := tx.QueryRowContext(ctx, `SELECT path, parentId FROM folders WHERE id = ?`, it.ID).Scan(&old, &parent); err != nil {
				return err
			}
			pp := "/"
			if parent.Valid {
				if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT path FROM folders WHERE id = ?), '/')`, parent.String).Scan(&pp); err != nil {
					return err
				}
			}
			f := folderRow{id: it.ID, name: name, parentID: parent.String, path: childPath(pp, name)}
			return upsertFolder(ctx, tx, f, old.String, nil, modifiedOf(raw))
		}
		for _, table := range []string{"nodes", "trash"} {
			q := `UPDATE ` + table + ` SET name = ?, modifiedDate = coalesce(?, modifiedDate) WHERE id = ?`
			if _, err := tx.ExecContext(ctx, q, name, modifiedOf(raw), it.ID); err != nil {
				return err
			}
		}
		return nil
	}
}

// modifiedOf is the modifiedDate of a node's JSON (nil when absent).
func modifiedOf(raw []byte) any {
	var n struct {
		ModifiedDate string `json:"modifiedDate"`
	}
	if raw == nil || json.Unmarshal(raw, &n) != nil {
		return nil
	}
	return parseAPITime(n.ModifiedDate)
}

// runMoveTo runs MOVE target TO 'folder/path': each node (file or folder)
// goes into the folder with POST /nodes/{folder}/children {"fromParent",
// "childId"}. The folder must be in the mirror (CREATE FOLDER makes it); a
// name the folder already holds is a failed row, nothing else is touched.
func (x *Actions) runMoveTo(ctx context.Context, s *engine.Session, stmt *engine.Statement, explain bool) (*engine.Result, error) {
	st, err := parseStatementArgs(stmt.Args(), true, nil)
	if err != nil {
		return nil, fmt.Errorf("move: %w", err)
	}
	if !st.hasTo {
		return nil, errors.New("move: missing TO 'folder/path': write MOVE target TO 'folder/path'")
	}
	rel, err := remotePath(st.to)
	if err != nil {
		return nil, fmt.Errorf("move: %w", err)
	}
	destPath := "/" + rel
	dests, err := localFolders(ctx, s.DB, []string{destPath})
	if err != nil {
		return nil, fmt.Errorf("move: %w", err)
	}
	dest, ok := dests[strings.ToLower(destPath)]
	if !ok {
		return nil, fmt.Errorf("move: the folder %s is not in the mirror: CREATE FOLDER %s first (or SYNC FOLDERS if it exists on the service); nothing was sent",
			engine.Quote(destPath), engine.Quote(rel))
	}
	items, err := resolve(ctx, s.DB, st.target, "nodes")
	if err != nil {
		return nil, fmt.Errorf("move: %w", err)
	}
	r, err := newRun(ctx, s, "MOVE", explain)
	if err != nil {
		return nil, err
	}
	r.orderBy(items)
	var todo []item
	paths := map[string]string{} // folder id → its path, for folders moved
	for _, it := range items {
		var fp string
		if it.InFolders {
			if fp, err = folderPath(ctx, s.DB, it.ID); err != nil {
				return nil, fmt.Errorf("move: %w", err)
			}
			paths[it.ID] = fp
		}
		switch {
		case !it.known():
			r.add(Outcome{ID: it.ID, Status: StatusFailed, Detail: "not in the local mirror (nodes, trash, folders): run SYNC, then run the statement again"})
		case !it.InNodes:
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "in trash: RESTORE it first"})
		case it.ParentID == "":
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Detail: "not in a folder (the root or an album): it cannot be moved"})
		case it.ParentID == dest.id:
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "already in " + dest.path})
		case it.InFolders && (fp == dest.path || strings.HasPrefix(strings.ToLower(dest.path), strings.ToLower(fp)+"/")):
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Detail: "a folder cannot move into itself or one of its subfolders (" + dest.path + ")"})
		default:
			todo = append(todo, it)
		}
	}
	reqOf := func(it item) string {
		return fmt.Sprintf(`POST /nodes/%s/children {"fromParent":%q,"childId":%q}`, dest.id, it.ParentID, it.ID)
	}
	if explain {
		for _, it := range todo {
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: statusPlanned, Detail: reqOf(it) + " into " + dest.path})
		}
		return r.result(false, fmt.Sprintf("would send %s %s; nothing was sent", output.Thousands(int64(len(todo))), plural(int64(len(todo)), "request", "requests"))), nil
	}
	if err := r.journalAdded(ctx); err != nil {
		return nil, err
	}
	if len(todo) == 0 {
		return r.result(false, ""), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	a := api{c}
	verify := nodesVerifier(a, func(n *remoteNode) bool { return slices.Contains(n.Parents, dest.id) })
	applyOf := func(it item, raw []byte) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			if it.InFolders {
				f := folderRow{id: it.ID, name: it.Name, parentID: dest.id, path: childPath(dest.path, it.Name)}
				return upsertFolder(ctx, tx, f, paths[it.ID], nil, modifiedOf(raw))
			}
			_, err := tx.ExecContext(ctx, `UPDATE nodes SET parentId = ?, parents = [?], modifiedDate = coalesce(?, modifiedDate) WHERE id = ?`,
				dest.id, dest.id, modifiedOf(raw), it.ID)
			return err
		}
	}
	todo, err = x.settleUnknown(ctx, r, todo, verify, func(ids []string) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			for _, it := range items {
				if slices.Contains(ids, it.ID) {
					if err := applyOf(it, nil)(ctx, tx); err != nil {
						return err
					}
				}
			}
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	tr := s.Progress.Start("move", int64(len(todo)), "nodes")
	defer tr.Done()
	fatal := poolJournaled(ctx, r, x.workers, todo, oneID, "POST /nodes/{folder}/children (move)", func(it item) error {
		// The mirror's parent may be stale (moved elsewhere since the
		// last SYNC): fromParent must be the node's parent now.
		n, err := a.getNode(context.WithoutCancel(ctx), it.ID)
		r.requests.Add(1)
		var skip *Outcome
		switch {
		case errors.Is(err, errNodeGone):
			o := goneOutcome(it.ID, it.Name, "GET /nodes/{id} before the move", "404")
			skip = &o
		case err != nil:
			skip = &Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: "not sent: reading the node's folder back failed: " + err.Error() + "; run the statement again"}
		case n.Status != "AVAILABLE":
			skip = &Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "in trash on the service (trashed elsewhere since the last SYNC): RESTORE it first"}
		case slices.Contains(n.Parents, dest.id):
			skip = &Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "already in " + dest.path + " (on the service)"}
		case len(n.Parents) > 0:
			it.ParentID = n.Parents[0]
		}
		if skip != nil {
			tr.Add(1)
			return r.record(ctx, nil, *skip)
		}
		var raw []byte
		send := func(ctx context.Context, retry func(context.Context, error) bool) (err error) {
			raw, err = a.moveNode(ctx, it.ID, it.ParentID, dest.id, retry)
			return err
		}
		done, detail, lastErr := guardedOne(ctx, send, func(ctx context.Context) (bool, error) {
			d, err := verify(ctx, []string{it.ID})
			return d[it.ID], err
		})
		r.requests.Add(1)
		tr.Add(1)
		o := Outcome{ID: it.ID, Name: it.Name}
		var apply func(context.Context, *sql.Tx) error
		if done {
			if detail != "" {
				raw = nil
			}
			o.Status, o.Detail = StatusOK, joinDetail(reqOf(it), detail)
			apply = applyOf(it, raw)
		} else {
			if isStatus(lastErr, http.StatusConflict) {
				detail = conflictDetail(lastErr, it.Name, dest.path)
			}
			o.Status, o.Detail = StatusFailed, joinDetail(reqOf(it), detail)
		}
		if err := r.record(ctx, apply, o); err != nil {
			return err
		}
		if errors.Is(lastErr, fetch.ErrUnauthorized) {
			return fetch.ErrUnauthorized
		}
		return nil
	}, func(it item, why string) {
		_ = r.record(ctx, nil, Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: why})
	})
	return r.end(ctx.Err() != nil, fatal, fatalSummary(fatal))
}

// guardedOne sends one mutating request for one node so that it is never
// applied twice and never reported done without proof (guardedSend's rule
// for a single node): a 4xx is a refusal; after an unknown outcome (5xx, a
// cut connection) done reads the node back, and the request is resent only
// when the change is verified absent. It returns whether the change is in
// effect, a detail (empty for a plain success) and the last error.
func guardedOne(ctx context.Context, send func(ctx context.Context, retry func(context.Context, error) bool) error, done func(ctx context.Context) (bool, error)) (bool, string, error) {
	ctx = context.WithoutCancel(ctx)
	var verr error
	confirmed := false
	retry := func(ctx context.Context, err error) bool {
		if refusedForSure(err) {
			return true // 429: refused, nothing applied
		}
		d, e := done(ctx)
		switch {
		case e != nil:
			verr = e
			return false
		case d:
			confirmed = true
			return false
		}
		return true // verified not applied: resending cannot apply twice
	}
	err := send(ctx, retry)
	switch {
	case err == nil:
		return true, "", nil
	case confirmed:
		return true, "confirmed by reading the node back after: " + err.Error(), err
	case errors.Is(err, fetch.ErrUnauthorized) || refusedForSure(err):
		return false, err.Error(), err
	case verr == nil:
		d, e := done(ctx)
		if e == nil {
			if d {
				return true, "confirmed by reading the node back after: " + err.Error(), err
			}
			return false, err.Error(), err
		}
		verr = e
	}
	return false, fmt.Sprintf("%s: %v; reading the node back failed too (%v): a re-run checks before it sends", unknownOutcome, err, verr), err
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

// restoreSubtrees reads back, after a RESTORE, the subtrees of the folders
// among items that were restored: the service brings back what was trashed
// with a folder and leaves what was trashed before it, which the mirror
// cannot tell apart. Available nodes below go into nodes and folders and
// leave trash. It returns a note for the summary when that failed.
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
	var (
		folders []folderRow
		files   [][]byte
		back    []string
	)
	for _, id := range roots {
		n, err := c.GetNode(ctx, id) // a restore may have renamed it ("name (1)")
		if err != nil {
			return "reading restored folder " + id + " back failed: " + err.Error() + "; run SYNC FOLDERS and SYNC"
		}
		var pp string
		if pp, err = folderPath(ctx, r.s.DB, n.ParentID()); err != nil {
			return err.Error()
		}
		root := folderRow{id: id, name: n.Name, parentID: n.ParentID(), path: childPath(pp, n.Name)}
		folders = append(folders, root)
		queue := []folderRow{root}
		for len(queue) > 0 {
			f := queue[0]
			queue = queue[1:]
			kids, err := c.Children(ctx, f.id, "")
			r.requests.Add(1)
			if err != nil {
				return "reading restored folder " + f.path + " back failed: " + err.Error() + "; run SYNC FOLDERS and SYNC"
			}
			for _, k := range kids {
				if k.Status != "AVAILABLE" {
					continue
				}
				back = append(back, k.ID)
				switch k.Kind {
				case "FOLDER":
					sub := folderRow{id: k.ID, name: k.Name, parentID: f.id, path: childPath(f.path, k.Name)}
					folders = append(folders, sub)
					queue = append(queue, sub)
				case "FILE":
					files = append(files, k.Raw)
				}
			}
		}
	}
	if err := r.insertNodes(ctx, "nodes", files...); err != nil {
		return err.Error() + "; run SYNC"
	}
	err := r.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, f := range folders {
			if err := upsertFolder(ctx, tx, f, "", nil, nil); err != nil {
				return err
			}
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
