package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/model"
)

// moveReq names MOVE's requests in the journal.
const moveReq = "POST /nodes/{folder}/children (move)"

// runMoveTo runs MOVE target TO 'folder/path': each node (file or folder)
// goes into the folder with POST /nodes/{folder}/children {"fromParent",
// "childId"}, a request per node on the batch pipeline. The folder must be
// in the mirror (CREATE FOLDER makes it); a name the folder already holds
// is a failed row, nothing else is touched.
func (x *Actions) runMoveTo(ctx context.Context, s *engine.Session, stmt *engine.Statement, explain bool) (*engine.Result, error) {
	st, err := parseStatementArgs(stmt.Args(), true, nil)
	if err != nil {
		return nil, fmt.Errorf("move: %w", err)
	}
	if !st.hasTo {
		return nil, errors.New("move: missing TO 'folder/path': write MOVE target TO 'folder/path'")
	}
	dest, err := moveDestination(ctx, s.DB, st.to)
	if err != nil {
		return nil, fmt.Errorf("move: %w", err)
	}
	r, items, err := begin(ctx, s, "MOVE", "move", st.target, "nodes", explain)
	if err != nil {
		return nil, err
	}
	mv := &moveTo{x: x, r: r, dest: dest, items: map[string]item{}, from: map[string]string{}, changes: mirror.NewActionChanges("MOVE")}
	if err := mv.sort(ctx, items); err != nil {
		return nil, err
	}
	if explain {
		return mv.explain(), nil
	}
	if err := r.journalAdded(ctx); err != nil {
		return nil, err
	}
	if len(mv.todo) == 0 {
		return r.result(false, ""), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	mv.a = api{c}
	fatal, err := x.send(ctx, r, mv.todo, mv.spec())
	if err != nil {
		return nil, err
	}
	return r.end(ctx.Err() != nil, fatal, fatalSummary(fatal))
}

// moveDestination returns the mirrored folder at the path to.
func moveDestination(ctx context.Context, db *engine.DB, to string) (folderRow, error) {
	rel, err := remotePath(to)
	if err != nil {
		return folderRow{}, err
	}
	destPath := "/" + rel
	dests, err := localFolders(ctx, db, []string{destPath})
	if err != nil {
		return folderRow{}, err
	}
	dest, ok := dests[strings.ToLower(destPath)]
	if !ok {
		return folderRow{}, fmt.Errorf("the folder %s is not in the mirror: CREATE FOLDER %s first (or SYNC FOLDERS if it exists on the service); nothing was sent",
			engine.Quote(destPath), engine.Quote(rel))
	}
	return dest, nil
}

// moveTo is one MOVE statement.
type moveTo struct {
	x       *Actions
	r       *run
	a       api
	dest    folderRow
	todo    []item
	items   map[string]item // the nodes to send, by id
	changes *mirror.ActionChanges
	ans     answered

	mu   sync.Mutex
	from map[string]string // id → its folder as the service showed it right before the move
}

// sort sorts the target into what is sent (todo) and the rows of what is
// not: nodes the mirror lacks or has in the trash, nodes in no folder or
// already in the destination, and folders that would move into themselves.
func (mv *moveTo) sort(ctx context.Context, items []item) error {
	dest := mv.dest
	for _, it := range items {
		var fp string
		if it.InFolders {
			var err error
			if fp, err = folderPath(ctx, mv.r.s.DB, it.ID); err != nil {
				return fmt.Errorf("move: %w", err)
			}
		}
		switch {
		case !it.known():
			mv.r.add(Outcome{ID: it.ID, Status: StatusFailed, Detail: "not in the local mirror (nodes, trash, folders): run SYNC, then run the statement again"})
		case !it.InNodes:
			mv.r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "in trash: RESTORE it first"})
		case it.ParentID == "":
			mv.r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Detail: "not in a folder (the root or an album): it cannot be moved"})
		case it.ParentID == dest.id:
			mv.r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "already in " + dest.path})
		case it.InFolders && (fp == dest.path || strings.HasPrefix(strings.ToLower(dest.path), strings.ToLower(fp)+"/")):
			mv.r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Detail: "a folder cannot move into itself or one of its subfolders (" + dest.path + ")"})
		default:
			mv.todo = append(mv.todo, it)
			mv.items[it.ID] = it
		}
	}
	return nil
}

// explain returns EXPLAIN's rows: each node with its request.
func (mv *moveTo) explain() *engine.Result {
	for _, it := range mv.todo {
		mv.r.add(Outcome{ID: it.ID, Name: it.Name, Status: statusPlanned, Detail: mv.request(it.ID) + " into " + mv.dest.path})
	}
	n := int64(len(mv.todo))
	return mv.r.result(false, mv.r.s.Say("would send %v %s; nothing was sent", model.Count(n), plural(n, "request", "requests")))
}

// fromParent is id's folder: as the service showed it right before the
// move, else as the mirror has it.
func (mv *moveTo) fromParent(id string) string {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	if p, ok := mv.from[id]; ok {
		return p
	}
	return mv.items[id].ParentID
}

// request is the request that moves id.
func (mv *moveTo) request(id string) string {
	return fmt.Sprintf(`POST /nodes/%s/children {"fromParent":%q,"childId":%q}`, mv.dest.id, mv.fromParent(id), id)
}

// spec is MOVE on the pipeline: a request per node on the workers, each
// node read back right before it is sent (check).
func (mv *moveTo) spec() batchSpec {
	send := mv.ans.sender(func(ctx context.Context, id string, retry func(context.Context, error) bool) (*remoteNode, error) {
		return mv.a.c.MoveNode(ctx, id, mv.fromParent(id), mv.dest.id, retry)
	})
	store := mv.ans.storeRows(func(id string) string {
		if mv.items[id].InFolders {
			return ""
		}
		return "nodes"
	})
	return batchSpec{req: moveReq, per: 1, workers: mv.x.workers, progress: "move",
		send: send, verify: mv.ans.verifier(mv.a, func(n *remoteNode) bool { return slices.Contains(n.Parents, mv.dest.id) }),
		apply: mv.apply, check: mv.check,
		outcome: func(res *sent, id, name string) Outcome {
			return editOutcome(res, id, name, name, mv.request(id), mv.dest.path)
		},
		follow:  store,
		settled: store,
	}
}

// check reads each node of a batch back right before its move: the
// mirror's parent may be stale (moved elsewhere since the last SYNC), and
// fromParent must be the node's folder now. A node gone, trashed or
// already in the folder on the service is journaled here, not sent.
func (mv *moveTo) check(ctx context.Context, b []item) ([]string, error) {
	var send []string
	for _, it := range b {
		n, err := mv.a.getNode(context.WithoutCancel(ctx), it.ID)
		mv.r.requests.Add(1)
		var skip *Outcome
		switch {
		case errors.Is(err, errNodeGone):
			o := goneOutcome(it.ID, it.Name, "GET /nodes/{id} before the move", "404")
			skip = &o
		case err != nil:
			skip = &Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: "not sent: reading the node's folder back failed: " + err.Error() + "; run the statement again"}
		case n.Status != "AVAILABLE":
			skip = &Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "in trash on the service (trashed elsewhere since the last SYNC): RESTORE it first"}
		case slices.Contains(n.Parents, mv.dest.id):
			skip = &Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "already in " + mv.dest.path + " (on the service)"}
		}
		if skip != nil {
			if err := mv.r.record(ctx, nil, *skip); err != nil {
				return nil, err
			}
			continue
		}
		if len(n.Parents) > 0 {
			mv.mu.Lock()
			mv.from[it.ID] = n.Parents[0]
			mv.mu.Unlock()
		}
		send = append(send, it.ID)
	}
	return send, nil
}

// apply moves the nodes ids in the mirror, as the service showed them
// when it can: a file's parents, a folder's row in folders (its subtree's
// paths follow), each recorded in changes.
func (mv *moveTo) apply(ids []string) func(context.Context, *sql.Tx) error {
	if len(ids) == 0 {
		return nil
	}
	dest := mv.dest
	return func(ctx context.Context, tx *sql.Tx) error {
		var files []string
		for _, id := range ids {
			it, n := mv.items[id], mv.ans.node(id)
			if it.InFolders {
				name := it.Name
				if n != nil && n.Name != "" {
					name = n.Name
				}
				f := folderRow{id: id, name: name, parentID: dest.id, path: childPath(dest.path, name)}
				if err := putFolder(ctx, tx, f, nil, modifiedOf(n), mv.changes, mv.changes); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE nodes SET parentId = ?, parents = [?], modifiedDate = coalesce(?, modifiedDate) WHERE id = ?`,
				dest.id, dest.id, modifiedOf(n), id); err != nil {
				return err
			}
			files = append(files, id)
		}
		return mv.changes.Nodes(ctx, tx, "nodes", mirror.ChangeChanged, files, "parents", "parentId")
	}
}
