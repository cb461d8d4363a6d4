package actions

import (
	"context"

	"github.com/apsql/apsql/fetch"
)

// The nodes rows of a RESTORE: the service changes a node as it restores
// it (its status, version and modifiedDate, its name when another took it
// meanwhile; API.md §2), so the row that belongs in nodes is the node as
// the service shows it after the request, not the trash row from before.
// PATCH /trash answers no nodes, but GET /nodes filtered to the available
// files and sorted ['modifiedDate DESC'] (API.md §1.3 #10) lists what was
// restored last first: once every batch is sent and journaled (each
// batch's transaction moves the trash rows into nodes and records them
// added, as before), the statement reads it back once from its top, as
// TRASH reads GET /trash (trash_rows.go), and writes what it read into
// nodes in a transaction of its own that records nothing more in changes.
// A restored folder's row and what came back with it are read back by
// restoreSubtrees (folders.go); the files among the statement's own rows
// are read back here.

// restoredFilter lists the available files (API.md §3).
const restoredFilter = "kind:(FILE*) AND status:(AVAILABLE*)"

// readBackRestored reads back the files the statement restored and
// writes them into nodes as the service shows them; it returns the
// summary's note about those it could not (their rows say so too), ""
// when none.
func (mv *moveRun) readBackRestored(ctx context.Context) string {
	page := func(ctx context.Context, q fetch.NodeQuery) (*fetch.NodePage, error) {
		q.Filter = restoredFilter
		return mv.c.ChangedNodesPage(ctx, q)
	}
	return mv.readBack(ctx, readBackSpec{table: "nodes", status: "AVAILABLE", done: "restored", list: "the nodes listing", sync: "SYNC",
		page: page}, mv.restoredFiles())
}

// restoredFiles returns the ids of the ok rows of the statement's own
// nodes that are not folders, each once, in the order of the rows.
func (mv *moveRun) restoredFiles() []string {
	folders := map[string]bool{}
	for _, it := range mv.todo {
		if it.Kind == "FOLDER" {
			folders[it.ID] = true
		}
	}
	own := map[string]bool{}
	for _, it := range mv.todo {
		own[it.ID] = !folders[it.ID]
	}
	mv.r.mu.Lock()
	defer mv.r.mu.Unlock()
	seen := map[string]bool{}
	var ids []string
	for _, o := range mv.r.outcomes {
		if o.Status == StatusOK && own[o.ID] && !seen[o.ID] {
			seen[o.ID] = true
			ids = append(ids, o.ID)
		}
	}
	return ids
}
