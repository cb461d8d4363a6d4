package actions

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/mirror"
)

// runRename runs RENAME 'id' TO 'new name' for any node: a file, a folder
// (its subtree's paths follow) or an album (PATCH /nodes/{id} {"name"},
// API.md §1.3 #15), on the batch pipeline.
func (x *Actions) runRename(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	id, name, err := parseRename(rest)
	if err != nil {
		return nil, err
	}
	r, items, err := begin(ctx, s, "RENAME", "rename", target{kind: targetIDs, ids: []string{id}, text: engine.Quote(id)}, "nodes", explain)
	if err != nil {
		return nil, err
	}
	rn := &renaming{x: x, r: r, it: items[0], name: name, req: `PATCH /nodes/{id} {"name":` + engine.Quote(name) + `}`,
		changes: mirror.NewActionChanges("RENAME")}
	if send, err := rn.needed(ctx, explain); err != nil || !send {
		if err != nil {
			return nil, err
		}
		return r.result(false, ""), nil
	}
	if explain {
		r.add(Outcome{ID: rn.it.ID, Name: rn.it.Name, Status: statusPlanned, Detail: rn.req})
		return r.result(false, "would send 1 request ("+rn.req+"); nothing was sent"), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	fatal, err := x.send(ctx, r, []item{rn.it}, rn.spec(api{c}))
	if err != nil {
		return nil, err
	}
	return r.end(ctx.Err() != nil, fatal, fatalSummary(fatal))
}

// parseRename reads RENAME's 'id' TO 'new name' and checks the name.
func parseRename(rest string) (id, name string, err error) {
	id, name, err = parseRenaming(rest, "the node's id")
	switch {
	case err != nil:
		return "", "", fmt.Errorf("rename: %w (RENAME 'node id' TO 'new name')", err)
	case strings.ContainsAny(name, "/\x00"):
		return "", "", fmt.Errorf("rename: %s holds a '/': a name cannot; to put the node in another folder, use MOVE 'id' TO 'folder'", engine.Quote(name))
	case name == "." || name == "..":
		return "", "", fmt.Errorf("rename: %s is not a valid name", engine.Quote(name))
	}
	return id, name, nil
}

// renaming is one RENAME statement.
type renaming struct {
	x       *Actions
	r       *run
	it      item
	name    string // the new name
	req     string
	changes *mirror.ActionChanges
	ans     answered
}

// needed reports whether the rename is to be sent. A node the mirror lacks
// fails; one it has with the new name already is read back first (renamed
// elsewhere since the last SYNC?) and skipped when the service agrees.
func (rn *renaming) needed(ctx context.Context, explain bool) (bool, error) {
	it := rn.it
	var rows []Outcome
	switch {
	case !it.known():
		rows = []Outcome{{ID: it.ID, Status: StatusFailed, Detail: "not in the local mirror (nodes, trash, folders): run SYNC, then run the statement again"}}
	case it.Name == rn.name:
		c, err := rn.x.client(ctx)
		if err != nil {
			return false, err
		}
		var send []item
		send, rows = recheck(ctx, api{c}, []item{it}, "already named "+engine.Quote(rn.name), func(n remoteNode) bool { return n.Name == rn.name })
		rn.r.requests.Add(1)
		if len(send) > 0 {
			return true, nil
		}
	default:
		return true, nil
	}
	if explain {
		rn.r.add(rows...)
		return false, nil
	}
	return false, rn.r.record(ctx, nil, rows...)
}

// spec is RENAME on the pipeline: one request, read back when its outcome
// is unknown.
func (rn *renaming) spec(a api) batchSpec {
	name := rn.name
	send := rn.ans.sender(func(ctx context.Context, id string, retry func(context.Context, error) bool) (*remoteNode, error) {
		return a.c.RenameNode(ctx, id, name, retry)
	})
	store := rn.ans.storeRows(func(string) string {
		switch {
		case rn.it.InFolders:
			return ""
		case rn.it.InNodes:
			return "nodes"
		}
		return "trash"
	})
	return batchSpec{req: rn.req, per: 1, workers: 1, progress: "rename", send: send,
		verify: rn.ans.verifier(a, func(n *remoteNode) bool { return n.Name == name }),
		apply:  rn.apply,
		outcome: func(res *sent, id, old string) Outcome {
			o := editOutcome(res, id, old, name, rn.req, "its folder")
			if o.Status == StatusOK {
				o.Name = name
			}
			return o
		},
		follow:  store,
		settled: store,
	}
}

// apply renames the node in the mirror, as the service showed it when it
// can: a file's row in nodes or trash, a folder's in folders (its
// subtree's paths follow), recorded in changes.
func (rn *renaming) apply(ids []string) func(context.Context, *sql.Tx) error {
	if len(ids) == 0 {
		return nil
	}
	it, name := rn.it, rn.name
	return func(ctx context.Context, tx *sql.Tx) error {
		modified := modifiedOf(rn.ans.node(it.ID))
		if it.InFolders {
			var parent sql.NullString
			if err := tx.QueryRowContext(ctx, `SELECT parentId FROM folders WHERE id = ?`, it.ID).Scan(&parent); err != nil {
				return err
			}
			pp := "/"
			if parent.Valid {
				if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT path FROM folders WHERE id = ?), '/')`, parent.String).Scan(&pp); err != nil {
					return err
				}
			}
			f := folderRow{id: it.ID, name: name, parentID: parent.String, path: childPath(pp, name)}
			return putFolder(ctx, tx, f, nil, modified, rn.changes, rn.changes)
		}
		for _, table := range []string{"nodes", "trash"} {
			q := `UPDATE ` + table + ` SET name = ?, modifiedDate = coalesce(?, modifiedDate) WHERE id = ?`
			if _, err := tx.ExecContext(ctx, q, name, modified, it.ID); err != nil {
				return err
			}
			if err := rn.changes.Nodes(ctx, tx, table, mirror.ChangeChanged, ids, "name"); err != nil {
				return err
			}
		}
		return nil
	}
}
