package actions

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/apsql/apsql/fetch"
)

// The trash rows of a TRASH: the service changes a node as it trashes it
// (its status, version and modifiedDate; API.md §2), so the row that
// belongs in trash is the node as GET /trash shows it after the request,
// not the mirror's row from before. PATCH /trash answers no nodes (API.md
// §1.3 #22), but GET /trash sorted ['modifiedDate DESC'] (#21) lists what
// was trashed last first. So once every batch is sent and journaled (each
// batch's transaction moves the mirror's rows into trash, as before), the
// statement reads the listing back once from its top: the first page,
// then, concurrently, as many pages as the nodes not yet seen fill, until
// it has seen every node the statement trashed (a folder's subtree too)
// or the listing reaches nodes changed before the statement began. A few
// nodes it did not see there are read one by one (GET /nodes/{id}). The
// nodes read back go into trash in one transaction of their own: if the
// read-back fails, or the process stops before it, trash holds the
// mirror's rows, as SYNC TRASH fixes. 10,000 files: 200 PATCH /trash and
// 50 GET /trash.

// trashClockSlack is how long before the statement's start (by this
// machine's clock) the listing is still read: the service's clock may be
// behind this one.
const trashClockSlack = time.Minute

// trashReadOne is the most nodes the read-back reads one by one when the
// listing did not show them; beyond it trash keeps the mirror's rows of
// them until SYNC TRASH.
const trashReadOne = 200

// The service's paging limits on /trash (API.md §1.5).
const (
	maxListLimit  = 200
	maxListOffset = 9999
)

// trashedIDs collects the ids a TRASH trashed (its ok rows, a folder's
// subtree too), from the batches' workers.
type trashedIDs struct {
	mu  sync.Mutex
	ids []string
}

// add keeps the ids of the ok rows of es.
func (t *trashedIDs) add(es []sinkEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range es {
		if e.o.Status == StatusOK && e.o.ID != "" {
			t.ids = append(t.ids, e.o.ID)
		}
	}
}

// all returns the ids, each once.
func (t *trashedIDs) all() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := make(map[string]bool, len(t.ids))
	var out []string
	for _, id := range t.ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// readBackSpec is what a statement's read-back reads and writes: TRASH
// reads GET /trash into trash, RESTORE GET /nodes (its files) into nodes.
type readBackSpec struct {
	table  string // the table the rows are written into
	status string // the status the service shows the nodes in once done
	done   string // "trashed", "restored"
	list   string // the listing, for the notes: "the trash listing"
	sync   string // the statement that reads the rows otherwise: "SYNC TRASH"
	page   func(ctx context.Context, q fetch.NodeQuery) (*fetch.NodePage, error)
}

// readBackTrash reads back the nodes the statement trashed and writes
// them into trash as the service shows them, in one transaction; it
// returns the summary's note about the nodes it could not (their rows say
// so too), "" when none.
func (mv *moveRun) readBackTrash(ctx context.Context) string {
	return mv.readBack(ctx, readBackSpec{table: "trash", status: "TRASH", done: "trashed", list: "the trash listing", sync: "SYNC TRASH",
		page: mv.c.TrashPage}, mv.trashed.all())
}

// readBack reads back the nodes ids as the service shows them now (sp)
// and writes them into sp.table, in one transaction; it returns the
// summary's note about the nodes it could not (their rows say so too), ""
// when none.
func (mv *moveRun) readBack(ctx context.Context, sp readBackSpec, ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	// An interrupt stops the reads (the rows stay the mirror's, noted);
	// what was read is still written (withTx ignores the cancel).
	found, err := map[string][]byte{}, ctx.Err()
	if err == nil {
		found, err = mv.listedBack(ctx, sp, ids)
	}
	var missing []string
	for _, id := range ids {
		if _, ok := found[id]; !ok {
			missing = append(missing, id)
		}
	}
	why := "the service did not show it " + sp.done
	if err == nil && len(missing) > trashReadOne {
		why = fmt.Sprintf("%s did not show %d of the nodes %s, more than the %d read one by one", sp.list, len(missing), sp.done, trashReadOne)
	} else if err == nil && len(missing) > 0 {
		var got map[string]remoteNode
		got, _, err = api{mv.c}.getNodes(ctx, missing)
		mv.r.requests.Add(int64(len(missing)))
		for id, n := range got {
			if n.Status == sp.status && n.Raw != nil {
				found[id] = n.Raw
			}
		}
	}
	if err != nil {
		why = "reading it back failed: " + err.Error()
	}
	held, werr := mv.writeRows(ctx, sp.table, ids, found)
	if werr != nil {
		why = "writing it failed: " + werr.Error()
	}
	left := map[string]bool{}
	for _, id := range ids {
		if _, ok := found[id]; (!ok || werr != nil) && (held[id] || werr != nil) {
			left[id] = true
		}
	}
	if len(left) == 0 {
		return ""
	}
	mv.r.noteOK(left, fmt.Sprintf("%s holds it as the mirror had it, not as the service shows it now (%s): %s reads it", sp.table, why, sp.sync))
	return fmt.Sprintf("%s holds %d %s %s as the mirror had them, not as the service shows them now (%s): %s reads them",
		sp.table, len(left), sp.done, plural(int64(len(left)), "node", "nodes"), why, sp.sync)
}

// writeRows puts the nodes read back (found, by id) into table, in one
// transaction (all of them or none), and returns which of ids the table
// holds: only those are written, the nodes of batches whose transaction
// was written (a batch whose journal failed left its rows where they
// were). It records nothing in changes: the batch's transaction recorded
// the node.
func (mv *moveRun) writeRows(ctx context.Context, table string, ids []string, found map[string][]byte) (map[string]bool, error) {
	held := map[string]bool{}
	err := mv.r.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		in, err := txIDs(ctx, tx, `SELECT id FROM `+table+` WHERE id IN `+idList(ids))
		if err != nil {
			return err
		}
		var raws [][]byte
		for _, id := range in {
			held[id] = true
			if raw, ok := found[id]; ok {
				raws = append(raws, raw)
			}
		}
		if len(raws) == 0 {
			return nil
		}
		b, err := decodeNodes(raws)
		if err != nil {
			return err
		}
		defer b.release()
		return mv.r.putNodes(ctx, tx.ExecContext, table, b)
	})
	return held, err
}

// listedBack reads sp's listing from its top (pages of 200, newest change
// first) and returns the nodes of ids it shows in sp.status: the first
// page, then the pages the ids not seen yet fill, concurrently (the
// client's limit paces them), again until it has all of them, the listing
// ends or reaches nodes changed before the statement began, or the offset
// cap. With nextToken, the pages follow one another.
func (mv *moveRun) listedBack(ctx context.Context, sp readBackSpec, ids []string) (map[string][]byte, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	since := mv.since.Add(-trashClockSlack)
	found := map[string][]byte{}
	// take keeps the nodes of p wanted and reports whether p reaches
	// nodes changed before the statement began.
	take := func(p *fetch.NodePage) (older bool) {
		for _, n := range p.Nodes {
			if want[n.ID] && n.Status == sp.status && n.Raw != nil {
				found[n.ID] = n.Raw
			}
			older = older || !n.ModifiedDate.IsZero() && n.ModifiedDate.Before(since)
		}
		return older
	}
	p, err := sp.page(ctx, fetch.NodeQuery{})
	mv.r.requests.Add(1)
	if err != nil {
		return found, err
	}
	older := take(p)
	count, next := p.Count, len(p.Nodes)
	for token := p.NextToken; token != "" && !older && len(found) < len(want) && len(p.Nodes) > 0; token = p.NextToken {
		p, err = sp.page(ctx, fetch.NodeQuery{StartToken: token})
		mv.r.requests.Add(1)
		if err != nil {
			return found, err
		}
		older = take(p)
		if p.NextToken == "" {
			return found, nil
		}
	}
	if p.NextToken != "" || len(p.Nodes) == 0 {
		return found, nil
	}
	for !older && len(found) < len(want) && next < count && next < maxListOffset {
		var offs []int
		for n := (len(want) - len(found) + maxListLimit - 1) / maxListLimit; n > 0 && next < count && next < maxListOffset; n-- {
			offs = append(offs, next)
			next += maxListLimit
		}
		pages := make([]*fetch.NodePage, len(offs))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(max(1, mv.c.Concurrency()))
		for i, off := range offs {
			g.Go(func() error {
				p, err := sp.page(gctx, fetch.NodeQuery{Offset: off, Limit: min(maxListLimit, maxListOffset-off)})
				mv.r.requests.Add(1)
				pages[i] = p
				return err
			})
		}
		err := g.Wait()
		for _, p := range pages {
			if p != nil {
				older = take(p) || older
			}
		}
		if err != nil {
			return found, err
		}
	}
	return found, nil
}

// noteOK appends note to the detail of the ok rows of ids, in the
// result (their journal entries were written before).
func (r *run) noteOK(ids map[string]bool, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, o := range r.outcomes {
		if o.Status == StatusOK && ids[o.ID] {
			r.outcomes[i].Detail = joinNote(o.Detail, note)
		}
	}
}

// joinNote appends note to a row's detail.
func joinNote(detail, note string) string {
	if detail == "" {
		return note
	}
	return detail + "; " + note
}
