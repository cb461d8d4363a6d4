package actions

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/apsql/apsql/fetch"
)

// The trash rows of a TRASH: the service changes a node as it trashes it
// (its status, version and modifiedDate; API.md §2), so the row that goes
// into trash is the node as GET /trash shows it after the request, not
// the mirror's row from before. PATCH /trash answers no nodes (API.md
// §1.3 #22), but GET /trash sorted ['modifiedDate DESC'] (#21) lists what
// was trashed last first: each batch reads the listing from its top until
// it has seen every node the batch trashed (its subtrees too), or until
// the listing reaches nodes changed before the statement began. What it
// did not see there (a node the service did not move up, one pushed past
// the offset cap) is read one by one (GET /nodes/{id}). A batch of 50
// files costs about one page of 200 (1,000 files: 20 PATCH /trash and
// 23 GET /trash, the other workers' batches landing above a batch's).

// trashClockSlack is how long before the statement's start (by this
// machine's clock) the listing is still read: the service's clock may be
// behind this one.
const trashClockSlack = time.Minute

// trashedRows holds the nodes a TRASH read back, by id, until the
// transaction that journals them puts them into trash.
type trashedRows struct {
	mu  sync.Mutex
	raw map[string][]byte
}

// put keeps raws for their transaction.
func (t *trashedRows) put(raws map[string][]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.raw == nil {
		t.raw = map[string][]byte{}
	}
	for id, raw := range raws {
		t.raw[id] = raw
	}
}

// take returns (and forgets) the nodes read back of ids.
func (t *trashedRows) take(ids []string) [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out [][]byte
	for _, id := range ids {
		if raw, ok := t.raw[id]; ok {
			out = append(out, raw)
			delete(t.raw, id)
		}
	}
	return out
}

// readTrashed reads back, after a TRASH batch, the nodes of es the
// service trashed (its ok rows, a folder's subtree too) and keeps them for
// the transaction that journals them (applyTrash). A row whose node could
// not be read says so: trash keeps the mirror's row of it until SYNC
// TRASH.
func (mv *moveRun) readTrashed(ctx context.Context, es []sinkEntry) []sinkEntry {
	var ids []string
	for _, e := range es {
		if e.o.Status == StatusOK && e.o.ID != "" {
			ids = append(ids, e.o.ID)
		}
	}
	if len(ids) == 0 {
		return es
	}
	ctx = context.WithoutCancel(ctx) // the batch was sent: its rows are written
	found, err := mv.trashListed(ctx, ids)
	var missing []string
	for _, id := range ids {
		if _, ok := found[id]; !ok {
			missing = append(missing, id)
		}
	}
	if err == nil && len(missing) > 0 {
		var got map[string]remoteNode
		got, _, err = api{mv.c}.getNodes(ctx, missing)
		mv.r.requests.Add(int64(len(missing)))
		for id, n := range got {
			if n.Status == "TRASH" && n.Raw != nil {
				found[id] = n.Raw
			}
		}
	}
	mv.fresh.put(found)
	for i, e := range es {
		if e.o.Status != StatusOK || e.o.ID == "" {
			continue
		}
		if _, ok := found[e.o.ID]; ok {
			// Put after the move (applyTrash), not before it.
			es[i].raw, es[i].into = nil, ""
			continue
		}
		why := "the service did not show it trashed"
		if err != nil {
			why = "reading it back failed: " + err.Error()
		}
		es[i].o.Detail = joinNote(es[i].o.Detail, fmt.Sprintf("trash holds it as the mirror had it, not as the service shows it now (%s): SYNC TRASH reads it", why))
	}
	return es
}

// trashListed reads GET /trash from its top (pages of 200, newest change
// first) and returns the nodes of ids it shows trashed, stopping once it
// has all of them or the listing reaches nodes changed before the
// statement began.
func (mv *moveRun) trashListed(ctx context.Context, ids []string) (map[string][]byte, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	since := mv.since.Add(-trashClockSlack)
	found := map[string][]byte{}
	q := fetch.NodeQuery{}
	for len(found) < len(want) {
		p, err := mv.c.TrashPage(ctx, q)
		mv.r.requests.Add(1)
		if err != nil {
			return found, err
		}
		older := false
		for _, n := range p.Nodes {
			if want[n.ID] && n.Status == "TRASH" && n.Raw != nil {
				found[n.ID] = n.Raw
			}
			older = older || !n.ModifiedDate.IsZero() && n.ModifiedDate.Before(since)
		}
		q.Offset += len(p.Nodes)
		switch {
		case older || len(p.Nodes) == 0 || q.Offset >= p.Count:
			return found, nil
		case p.NextToken != "":
			q.StartToken = p.NextToken
		case q.Offset+maxListLimit > maxListOffset:
			return found, nil
		}
	}
	return found, nil
}

// The service's paging limits on /trash (API.md §1.5).
const (
	maxListLimit  = 200
	maxListOffset = 9999
)

// applyTrash is TRASH's apply: the move of the mirror's rows (recorded),
// then the nodes read back of ids (readTrashed) put into trash as the
// service shows them, in the transaction that journals them.
func (mv *moveRun) applyTrash(ids []string) func(ctx context.Context, tx *sql.Tx) error {
	apply := mv.m.recorded(mv.r.changes)(ids)
	raws := mv.fresh.take(ids)
	if apply == nil || len(raws) == 0 {
		return apply
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		if err := apply(ctx, tx); err != nil {
			return err
		}
		b, err := decodeNodes(raws)
		if err != nil {
			// Nodes a listing page decoded: not expected. The rows
			// stay the mirror's (as before the read-back); SYNC TRASH
			// reads them.
			return nil
		}
		defer b.release()
		return mv.r.putNodes(ctx, tx.ExecContext, "trash", b)
	}
}

// joinNote appends note to a row's detail.
func joinNote(detail, note string) string {
	if detail == "" {
		return note
	}
	return detail + "; " + note
}
