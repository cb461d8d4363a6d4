package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

const (
	// createFolderReq names CREATE FOLDER's requests.
	createFolderReq = `POST /nodes {"kind":"FOLDER"}`
	// folderExists is the detail of a folder the mirror holds already.
	folderExists = "folder exists (in the mirror); not created again"
)

// runCreateFolder runs CREATE FOLDER 'a/b/c': every missing folder of the
// path is created, parents first (POST /nodes kind FOLDER). A folder the
// mirror holds is not created again; one the service holds already (409
// NAME_ALREADY_EXISTS, info.nodeId) is reused, so a re-run sends nothing
// twice.
func (x *Actions) runCreateFolder(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	prefixes, err := parseCreateFolder(rest)
	if err != nil {
		return nil, err
	}
	local, err := localFolders(ctx, s.DB, append([]string{"/"}, prefixes...))
	if err != nil {
		return nil, fmt.Errorf("create folder: %w", err)
	}
	r, err := newRun(ctx, s, "CREATE FOLDER", explain)
	if err != nil {
		return nil, err
	}
	fm := &folderMaker{r: r, local: local, changes: r.changes, parentPath: "/"}
	if explain {
		return fm.explain(prefixes), nil
	}
	// Every folder of the path is read back or made: connect now.
	if fm.c, err = x.client(ctx); err != nil {
		return nil, err
	}
	if f, ok := local["/"]; ok {
		fm.parent, fm.parentPath = f.id, f.path
	}
	for k, pre := range prefixes {
		f, ok, err := fm.mirrored(ctx, pre)
		if err != nil {
			return nil, err
		}
		if ok {
			if err := r.record(ctx, nil, Outcome{ID: f.id, Name: f.path + "/", Status: StatusSkipped, Detail: folderExists, Target: f.path + "/"}); err != nil {
				return nil, err
			}
			fm.parent, fm.parentPath = f.id, f.path
			continue
		}
		made, err := fm.make(ctx, pre)
		switch {
		case errors.Is(err, errJournal):
			return r.end(false, err, "")
		case err != nil:
			return nil, err
		case !made:
			for _, rest := range prefixes[k+1:] {
				_ = r.record(ctx, nil, Outcome{Name: rest + "/", Status: StatusFailed, Reason: ReasonNotSent, Target: rest + "/", Detail: "not sent: its parent folder could not be made"})
			}
			return r.result(ctx.Err() != nil, ""), nil
		}
	}
	return r.result(ctx.Err() != nil, ""), nil
}

// parseCreateFolder reads CREATE FOLDER's path and returns the paths of
// its folders, parents first: "/a", "/a/b", "/a/b/c".
func parseCreateFolder(rest string) ([]string, error) {
	a := engine.NewArgs(rest)
	p, err := a.String()
	if err != nil {
		return nil, fmt.Errorf("create folder: %w (CREATE FOLDER 'path/to/folder')", err)
	}
	if !a.Done() {
		return nil, fmt.Errorf("create folder: unexpected %q after the path; write CREATE FOLDER 'path/to/folder'", clip(a.Rest(), 20))
	}
	rel, err := remotePath(p)
	if err != nil {
		return nil, fmt.Errorf("create folder: %w", err)
	}
	if rel == "" {
		return nil, fmt.Errorf("create folder: %s names no folder (the root always exists); give a path like 'Backup/2024'", engine.Quote(p))
	}
	comps := strings.Split(rel, "/")
	prefixes := make([]string, len(comps))
	for i := range comps {
		prefixes[i] = "/" + strings.Join(comps[:i+1], "/")
	}
	return prefixes, nil
}

// folderMaker is one CREATE FOLDER statement.
type folderMaker struct {
	r      *run
	c      *fetch.Client
	local  map[string]folderRow // the mirrored folders, by lower-cased path
	parent string               // the folder the next one goes in; "" for the root, read on first use
	// parentPath is parent's path as the service spells it.
	parentPath string
	changes    *mirror.ActionChanges
}

// explain returns EXPLAIN's rows: each folder of the path, made or not.
func (fm *folderMaker) explain(prefixes []string) *engine.Result {
	n := 0
	for _, pre := range prefixes {
		if f, ok := fm.local[strings.ToLower(pre)]; ok {
			fm.r.add(Outcome{ID: f.id, Name: f.path + "/", Status: StatusSkipped, Detail: folderExists})
			continue
		}
		n++
		fm.r.add(Outcome{Name: pre + "/", Status: statusPlanned, Detail: createFolderReq + " (a 409 reuses the folder the service has)"})
	}
	return fm.r.result(false, fmt.Sprintf("would send up to %d %s; nothing was sent", n, plural(int64(n), "request", "requests")))
}

// mirrored returns the mirror's folder at pre when the service still has
// it. One trashed or deleted elsewhere since the last SYNC is not there to
// reuse: the mirror forgets it and its subtree, recorded in changes as
// removed by the service (by_apsql false), and it is made again. The files
// the mirror holds below it are read back first (trashedFiles): those the
// service no longer has available leave nodes the same way.
func (fm *folderMaker) mirrored(ctx context.Context, pre string) (folderRow, bool, error) {
	f, ok := fm.local[strings.ToLower(pre)]
	if !ok {
		return f, false, nil
	}
	n, gerr := api{fm.c}.getNode(ctx, f.id)
	fm.r.requests.Add(1)
	if !errors.Is(gerr, errNodeGone) && (gerr != nil || n.Status == "AVAILABLE") {
		return f, true, nil
	}
	sub := folderSubtree(idList([]string{f.id}))
	files, purged, trashed, err := fm.trashedFiles(ctx, sub)
	if err != nil {
		return f, false, err
	}
	if trashed != nil {
		defer trashed.release()
	}
	drop := func(ctx context.Context, tx *sql.Tx) error {
		// The files in the service's trash go into trash with the drop.
		if trashed != nil {
			if err := fm.r.putNodes(ctx, tx.ExecContext, "trash", trashed); err != nil {
				return err
			}
		}
		ids, err := txIDs(ctx, tx, `SELECT id FROM `+sub+` ORDER BY id`)
		if err != nil {
			return err
		}
		if err := fm.changes.Found().Nodes(ctx, tx, "folders", mirror.ChangeRemoved, ids); err != nil {
			return err
		}
		if len(files) > 0 {
			if err := fm.changes.Found().Nodes(ctx, tx, "nodes", mirror.ChangeRemoved, files); err != nil {
				return err
			}
			stmts := []string{`DELETE FROM nodes WHERE id IN ` + idList(files)}
			if len(purged) > 0 {
				stmts = append(stmts, forgetSQL(idList(purged))...)
			}
			for _, q := range stmts {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM folders WHERE id IN `+sub)
		return err
	}
	if err := fm.r.record(ctx, drop); err != nil {
		return f, false, err
	}
	delete(fm.local, strings.ToLower(pre))
	return f, false, nil
}

// make makes the folder at pre in fm.parent, or reuses the one the service
// has there (409), journaled before it is sent, and reports whether it
// did: the next folder goes in it. An error stops the statement (one that
// wraps errJournal: nothing was sent for pre).
func (fm *folderMaker) make(ctx context.Context, pre string) (bool, error) {
	if fm.parent == "" {
		root, err := fm.c.Root(ctx)
		if err != nil {
			return false, fmt.Errorf("create folder: %w", err)
		}
		fm.parent = root.ID
	}
	if err := fm.r.intend(ctx, createFolderReq, pre+"/"); err != nil {
		return false, err
	}
	n, o, err := (&uploader{c: fm.c, r: fm.r}).folder(ctx, fm.parent, pre[1:])
	if isStatus(err, http.StatusNotFound) {
		o.Detail += fmt.Sprintf("; the parent folder %s is not on the service any more: run SYNC FOLDERS", fm.parent)
	}
	var (
		learn func(context.Context, *sql.Tx) error
		made  folderRow
	)
	if err == nil {
		made, learn = learnFolder(fm.changes, n, pre[strings.LastIndexByte(pre, '/')+1:], fm.parent, fm.parentPath, o.Status == StatusSkipped)
	}
	if rerr := fm.r.record(ctx, learn, o); rerr != nil {
		return false, rerr
	}
	if err != nil {
		return false, nil
	}
	fm.parent, fm.parentPath = made.id, made.path
	return true, nil
}

// trashedFiles reads back from the service the files the mirror holds
// below the folders sub (a folder trashed or deleted elsewhere): it
// returns those the service no longer has available, and of them those
// it no longer has at all (purged: their album memberships and labels go
// too), and the ones it holds in its trash as it shows them (nil for
// none), for trash, in the transaction that drops them from nodes. A file
// the service still has available (moved out, or restored on its own)
// stays as the mirror has it, for SYNC; when reading fails, all of them
// do: the mirror drops no file on a guess.
//
// Each folder holding mirrored files is listed once (GET
// /nodes/{id}/children, which shows trashed children too), not a GET per
// file: a file the listing shows under its folder is as the listing shows
// it. Only the files it does not show there (moved out, purged) and those
// of a folder whose listing failed (gone, or past the listing's cap) are
// read one by one.
func (fm *folderMaker) trashedFiles(ctx context.Context, sub string) (out, purged []string, trashed *nodeBatch, err error) {
	rows, err := fm.r.s.DB.Query(ctx, `SELECT id, parentId FROM nodes WHERE parentId IN `+sub+` ORDER BY parentId, id`)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create folder: read nodes: %w", err)
	}
	var below, parents []string
	byParent := map[string][]string{}
	for rows.Next() {
		var id, parent string
		if err := rows.Scan(&id, &parent); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		below = append(below, id)
		if len(byParent[parent]) == 0 {
			parents = append(parents, parent)
		}
		byParent[parent] = append(byParent[parent], id)
	}
	err = rows.Err()
	rows.Close()
	if err != nil || len(below) == 0 {
		return nil, nil, nil, err
	}
	listed := map[string]*fetch.Node{}
	var unlisted []string
	for _, p := range parents {
		kids, lerr := fm.c.Children(ctx, p, "")
		fm.r.requests.Add(1)
		if lerr != nil {
			unlisted = append(unlisted, byParent[p]...)
			continue
		}
		under := make(map[string]*fetch.Node, len(kids))
		for i := range kids {
			under[kids[i].ID] = &kids[i]
		}
		for _, id := range byParent[p] {
			if n, ok := under[id]; ok {
				listed[id] = n
			} else {
				unlisted = append(unlisted, id)
			}
		}
	}
	found, gone := listed, map[string]bool{}
	if len(unlisted) > 0 {
		got, missing, err := fm.c.GetNodes(ctx, unlisted)
		fm.r.requests.Add(int64(len(unlisted)))
		if err != nil {
			return nil, nil, nil, nil
		}
		for id, n := range got {
			found[id] = n
		}
		gone = missing
	}
	var raws [][]byte
	for _, id := range below {
		n := found[id]
		switch {
		case gone[id] || n != nil && n.Status == "PURGED":
			out, purged = append(out, id), append(purged, id)
		case n == nil || n.Status == "AVAILABLE":
		default: // in the trash
			out, raws = append(out, id), append(raws, n.Raw)
		}
	}
	if len(raws) > 0 {
		if trashed, err = decodeNodes(raws); err != nil {
			return nil, nil, nil, fmt.Errorf("create folder: %w", err)
		}
	}
	return out, purged, trashed, nil
}
