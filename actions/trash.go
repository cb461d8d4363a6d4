package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/apsql/apsql/output"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

// move is one of TRASH, RESTORE and PURGE: nodes change place between the
// nodes and trash tables, or leave.
type move struct {
	action string // TRASH, RESTORE, PURGE
	from   string // the table the target is evaluated over
	want   string // the node's status once done: TRASH, AVAILABLE, "" (purged)
	verb   string // "trash", "restore", "purge"
}

var (
	moveTrash   = move{action: "TRASH", from: "nodes", want: "TRASH", verb: "trash"}
	moveRestore = move{action: "RESTORE", from: "trash", want: "AVAILABLE", verb: "restore"}
	movePurge   = move{action: "PURGE", from: "trash", want: "", verb: "purge"}
)

// request names the request a batch is sent with, for the journal.
func (m move) request() string {
	switch m.action {
	case "TRASH":
		return "PATCH /trash (op add)"
	case "RESTORE":
		return "PATCH /trash (op remove)"
	}
	return "POST /bulk/nodes/purge"
}

// send returns the sender of m's batches.
func (m move) send(a api) sender {
	return func(ctx context.Context, ids []string, retry func(context.Context, error) bool) (map[string]error, error) {
		var refused map[string]error
		var err error
		switch m.action {
		case "TRASH":
			refused, err = a.trash(ctx, "add", ids, retry)
		case "RESTORE":
			refused, err = a.trash(ctx, "remove", ids, retry)
		default:
			refused, err = a.purge(ctx, ids, retry)
		}
		// Both endpoints take only ids: a 404 of the whole request is
		// about them (a node gone from the service), never about the path.
		return refused, asMissing(err)
	}
}

// verify returns the verifier of m: a node is done when the service shows it
// in the wanted status (purged: not found at all).
func (m move) verify(a api) verifier {
	return func(ctx context.Context, ids []string) (map[string]bool, error) {
		found, gone, err := a.getNodes(ctx, ids)
		if err != nil {
			return nil, err
		}
		done := map[string]bool{}
		for _, id := range ids {
			if m.want == "" {
				done[id] = gone[id] || found[id].Status == "PURGED"
			} else if n, ok := found[id]; ok && n.Status == m.want {
				done[id] = true
			}
		}
		return done, nil
	}
}

// apply changes the local tables for ids that are done.
func (m move) apply(ids []string) func(ctx context.Context, tx *sql.Tx) error {
	if len(ids) == 0 {
		return nil
	}
	in := idList(ids)
	var stmts []string
	switch m.action {
	case "TRASH":
		stmts = []string{
			`INSERT OR REPLACE INTO trash SELECT * REPLACE ('TRASH' AS status) FROM nodes WHERE id IN ` + in,
			`DELETE FROM nodes WHERE id IN ` + in,
			// Nodes of a folder's subtree the mirror did not hold come
			// into trash from the listing taken before the request.
			`UPDATE trash SET status = 'TRASH' WHERE id IN ` + in,
		}
	case "RESTORE":
		stmts = []string{
			`INSERT OR REPLACE INTO nodes SELECT * REPLACE ('AVAILABLE' AS status) FROM trash WHERE id IN ` + in,
			`DELETE FROM trash WHERE id IN ` + in,
		}
	default:
		stmts = append([]string{`DELETE FROM trash WHERE id IN ` + in, `DELETE FROM nodes WHERE id IN ` + in}, forgetSQL(in)...)
	}
	// Folders among ids carry their subtree along (folders.go).
	stmts = append(folderMoveSQL(m.action, in), stmts...)
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}
}

// recorded is apply that also records in the changes table what the
// statement did to nodes: TRASH and PURGE remove the rows (recorded while
// they are there), RESTORE adds them (recorded after).
func (m move) recorded() func(ids []string) func(ctx context.Context, tx *sql.Tx) error {
	changes := mirror.NewActionChanges(m.action)
	return func(ids []string) func(ctx context.Context, tx *sql.Tx) error {
		apply := m.apply(ids)
		if apply == nil {
			return nil
		}
		return func(ctx context.Context, tx *sql.Tx) error {
			if m.action != "RESTORE" {
				if err := changes.Nodes(ctx, tx, "nodes", mirror.ChangeRemoved, ids); err != nil {
					return err
				}
			}
			if err := apply(ctx, tx); err != nil {
				return err
			}
			if m.action == "RESTORE" {
				return changes.Nodes(ctx, tx, "nodes", mirror.ChangeAdded, ids)
			}
			return nil
		}
	}
}

// runMove runs TRASH, RESTORE or PURGE (explain: EXPLAIN of it).
func (x *Actions) runMove(ctx context.Context, s *engine.Session, m move, args *engine.Args, explain bool) (*engine.Result, error) {
	st, err := parseStatementArgs(args, false, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.verb, err)
	}
	items, err := resolve(ctx, s.DB, st.target, m.from)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.verb, err)
	}
	r, err := newRun(ctx, s, m.action, explain)
	if err != nil {
		return nil, err
	}
	r.orderBy(items)
	// Sort the target into what is sent and what is not.
	var todo []item
	var notInTrash []string
	var outside []item // PURGE of nodes the mirror has outside the trash
	var size int64
	unknown, err := notInMirror(ctx, s.DB, items)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.verb, err)
	}
	r.add(unknown...)
	var already []item // skipped as the mirror has them: confirmed below
	for _, it := range items {
		switch {
		case !it.known():
			// in unknown
		case m.action == "TRASH" && !it.InNodes, m.action == "RESTORE" && !it.InTrash:
			already = append(already, it)
		case m.action == "PURGE" && !it.InTrash:
			outside = append(outside, it)
		default:
			todo = append(todo, it)
			size += it.Size
		}
	}
	var c *fetch.Client
	if len(already) > 0 {
		// The mirror may be stale (restored or trashed elsewhere since
		// the last SYNC): ask the service before skipping.
		if c, err = x.client(ctx); err != nil {
			return nil, err
		}
		detail, want := "already in trash", "TRASH"
		if m.action == "RESTORE" {
			detail, want = "not in trash", "AVAILABLE"
		}
		send, rows := recheck(ctx, api{c}, already, detail, func(n remoteNode) bool { return n.Status != "AVAILABLE" && n.Status != "TRASH" || n.Status == want })
		r.requests.Add(int64(len(already)))
		if err := r.addChecked(ctx, explain, rows); err != nil {
			return nil, err
		}
		for _, it := range send {
			todo = append(todo, it)
			size += it.Size
		}
	}
	if len(outside) > 0 {
		// Trashed elsewhere since the last SYNC? Only what the service
		// has outside the trash stops the statement.
		if c == nil {
			if c, err = x.client(ctx); err != nil {
				return nil, err
			}
		}
		found, _, rerr := api{c}.getNodes(ctx, itemIDs(outside))
		r.requests.Add(int64(len(outside)))
		for _, it := range outside {
			if n, ok := found[it.ID]; rerr == nil && ok && n.Status == "TRASH" {
				todo = append(todo, it)
				size += it.Size
			} else {
				notInTrash = append(notInTrash, fmt.Sprintf("%s (%s)", it.ID, it.Name))
			}
		}
	}
	if n := len(notInTrash); n > 0 {
		more := ""
		if n > 10 {
			more = fmt.Sprintf(" and %d more", n-10)
			notInTrash = notInTrash[:10]
		}
		return nil, fmt.Errorf("purge: %d %s not in the trash, nothing was purged: %s%s; TRASH them first (PURGE only deletes nodes already in trash)",
			n, plural(int64(n), "node is", "nodes are"), strings.Join(notInTrash, ", "), more)
	}
	// A folder takes its subtree along: count it as the service holds it
	// now (nodes uploaded since the last SYNC too), before asking.
	var subs map[string]*subtree
	if hasFolder(todo) && (m.action == "TRASH" || m.action == "PURGE") {
		if c == nil {
			if c, err = x.client(ctx); err != nil {
				return nil, err
			}
		}
		if subs, err = m.listSubtrees(ctx, c, r, todo); err != nil {
			return nil, err
		}
		todo = withoutSubtrees(todo, subs)
		size = 0
		for _, it := range todo {
			size += it.Size
		}
	}
	total := int64(len(todo))
	for _, sub := range subs {
		total += int64(len(sub.nodes))
		size += sub.size
	}
	nb := (len(todo) + batchSize - 1) / batchSize
	if explain {
		for k, it := range todo {
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: statusPlanned,
				Detail: fmt.Sprintf("%s batch %d of %d", m.request(), k/batchSize+1, nb)})
			for _, n := range subs[it.ID].rows(it) {
				r.add(Outcome{ID: n.ID, Name: n.Name, Status: statusPlanned, Detail: n.Detail})
			}
		}
		return r.result(false, fmt.Sprintf("would send %d %s of up to %d ids (%s) for %s %s (%s); nothing was sent",
			nb, plural(int64(nb), "request", "requests"), batchSize, m.request(), output.Thousands(total),
			plural(total, "node", "nodes"), output.Bytes(size))), nil
	}
	if len(todo) == 0 {
		return r.result(false, ""), nil
	}
	// Confirmation: interactive TRASH, and PURGE always (SPEC §2.3).
	if m.action == "PURGE" || m.action == "TRASH" && s.Interactive && !s.Yes {
		q := fmt.Sprintf("%s %s %s (%s)?", m.verb, output.Thousands(total), plural(total, "item", "items"), output.Bytes(size))
		if !s.Yes && s.Confirm == nil {
			return nil, fmt.Errorf("%s of %s %s (%s) needs confirmation: run it interactively or pass --yes",
				m.verb, output.Thousands(total), plural(total, "item", "items"), output.Bytes(size))
		}
		yes, err := s.Confirmed(q, "--yes")
		if err != nil {
			return nil, err
		}
		if !yes {
			// One line, not a row per node: the person has just said no
			// to all of them, and a long table would bury the answer.
			return &engine.Result{Summary: "cancelled: nothing was sent"}, nil
		}
	}
	if c == nil {
		if c, err = x.client(ctx); err != nil {
			return nil, err
		}
	}
	a := api{c}
	recorded := m.recorded()
	todo, err = x.settleUnknown(ctx, r, todo, m.verify(a), recorded)
	if err != nil {
		return nil, err
	}
	var batches [][]item
	for lo := 0; lo < len(todo); lo += batchSize {
		batches = append(batches, todo[lo:min(lo+batchSize, len(todo))])
	}
	tr := s.Progress.Start(m.verb, int64(len(todo)), "nodes")
	defer tr.Done()
	names := map[string]string{}
	byID := map[string]item{}
	for _, it := range todo {
		names[it.ID] = it.Name
		byID[it.ID] = it
	}
	// Outcomes are journaled, and the local tables updated, in batches by
	// a sink: workers go on to the next batch without waiting for DuckDB.
	k := r.newSink(ctx, recorded)
	fatal := poolJournaled(ctx, r, x.workers, batches, itemIDs, m.request(), func(b []item) error {
		ids := make([]string, len(b))
		for i, it := range b {
			ids[i] = it.ID
		}
		var outs []Outcome
		if m.action == "PURGE" {
			// The mirror's trash may be stale: confirm each node is still
			// in the trash right before purging it.
			var err error
			if ids, err = x.stillInTrash(ctx, r, a, b, subs); err != nil {
				return err
			}
		}
		res := newSent()
		if len(ids) > 0 {
			res = guardedSend(context.WithoutCancel(ctx), ids, m.send(a), m.verify(a))
		}
		r.requests.Add(int64(res.requests))
		for _, id := range ids {
			outs = append(outs, res.outcome(id, names[id], m.request()))
		}
		tr.Add(int64(len(b)))
		// A folder's subtree went with it (or not): one row per node.
		var raws [][]byte
		var more []Outcome
		for _, o := range outs {
			sub := subs[o.ID]
			if sub == nil {
				continue
			}
			rows := sub.rows(byID[o.ID])
			for i := range rows {
				rows[i].Status, rows[i].Reason = o.Status, o.Reason
				if o.Status != StatusOK {
					rows[i].Detail = fmt.Sprintf("with its folder %s, which was %s: %s", o.ID, o.Status, o.Detail)
				}
			}
			more = append(more, rows...)
			if o.Status == StatusOK && m.action == "TRASH" {
				raws = append(raws, sub.raws()...)
			}
		}
		if len(raws) > 0 {
			// Nodes the mirror did not hold yet (uploaded since the last
			// SYNC) come into trash from the listing.
			if err := r.insertNodes(ctx, "trash", raws...); err != nil {
				return err
			}
		}
		if err := k.putAll(append(outs, more...)...); err != nil {
			return err
		}
		return res.fatal()
	}, func(b []item, why string) {
		outs := make([]Outcome, 0, len(b))
		for _, it := range b {
			outs = append(outs, Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: why})
			for _, o := range subs[it.ID].rows(it) {
				o.Status, o.Reason, o.Detail = StatusFailed, ReasonNotSent, "with its folder "+it.ID+": "+why
				outs = append(outs, o)
			}
		}
		_ = k.putAll(outs...)
	})
	if err := k.close(); err != nil && fatal == nil {
		fatal = err
	}
	note := fatalSummary(fatal)
	if m.action == "PURGE" {
		if n := r.countReason(ReasonNotInTrash); n > 0 {
			note = strings.TrimPrefix(note+"; "+fmt.Sprintf("%d %s no longer in the trash on the service (restored elsewhere since the last SYNC) and not purged",
				n, plural(int64(n), "node was", "nodes were")), "; ")
		}
	}
	if m.action == "RESTORE" {
		if n := x.restoreSubtrees(ctx, r, c, todo); n != "" {
			note = strings.TrimPrefix(note+"; "+n, "; ")
		}
	}
	// A person's count is of available photos: read the people back.
	if n := refreshPeopleAfter(ctx, r, c); n != "" {
		note = strings.TrimPrefix(note+"; "+n, "; ")
	}
	return r.end(ctx.Err() != nil, fatal, note)
}

// joinDetail prefixes a detail with the request it came from.
func joinDetail(req, d string) string {
	if d == "" {
		return req
	}
	return req + ": " + d
}

// fatalSummary is the summary's note about a fatal error.
func fatalSummary(err error) string {
	if err == nil {
		return ""
	}
	return "stopped: " + err.Error()
}

// settleUnknown reads back the nodes whose last attempt (an earlier run)
// ended with an unknown outcome: those the service shows done are journaled
// ok and applied locally, without sending anything; the rest are returned
// to be sent.
func (x *Actions) settleUnknown(ctx context.Context, r *run, todo []item, verify verifier, apply func([]string) func(context.Context, *sql.Tx) error) ([]item, error) {
	ids := make([]string, len(todo))
	for k, it := range todo {
		ids[k] = it.ID
	}
	unknown, err := priorUnknown(ctx, r.s.DB, r.action, ids)
	if err != nil || len(unknown) == 0 {
		return todo, err
	}
	check := sortedKeys(unknown)
	done, err := verify(ctx, check)
	if err != nil {
		return nil, fmt.Errorf("%s: %d %s of an earlier run had an unknown outcome, and reading them back failed: %w; nothing was sent, try again",
			strings.ToLower(r.action), len(check), plural(int64(len(check)), "node", "nodes"), err)
	}
	var keep []item
	var outs []Outcome
	var doneIDs []string
	for _, it := range todo {
		if done[it.ID] {
			doneIDs = append(doneIDs, it.ID)
			outs = append(outs, Outcome{ID: it.ID, Name: it.Name, Status: StatusOK, Detail: "done by an earlier run (confirmed by reading the node back); not sent again"})
		} else {
			keep = append(keep, it)
		}
	}
	if err := r.record(ctx, apply(doneIDs), outs...); err != nil {
		return nil, err
	}
	return keep, nil
}

var errNoClient = errors.New("no Amazon Photos connection: pass --cookies FILE (or --endpoint URL for the emulator)")

// countReason returns how many outcomes have reason.
func (r *run) countReason(reason Reason) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, o := range r.outcomes {
		if o.Reason == reason {
			n++
		}
	}
	return n
}

// notInTrashDetail is the reason a PURGE skips a node the service shows
// outside the trash (restored on another device or the web page since the
// mirror saw it): it is not purged.
const notInTrashDetail = "no longer in the trash"

// stillInTrash reads the nodes of a PURGE batch back right before the
// batch is sent and returns the ids still in the trash. The others are
// journaled here: restored since the mirror saw them (skipped, "no longer
// in the trash", and moved back into nodes or folders as the service
// shows them), or not on the service at all (skipped as gone). When the
// nodes cannot be read, nothing of the batch is sent: its rows fail.
func (x *Actions) stillInTrash(ctx context.Context, r *run, a api, b []item, subs map[string]*subtree) ([]string, error) {
	ids := make([]string, len(b))
	for i, it := range b {
		ids[i] = it.ID
	}
	found, gone, err := a.getNodes(context.WithoutCancel(ctx), ids)
	r.requests.Add(int64(len(ids)))
	if err != nil {
		var outs []Outcome
		for _, it := range b {
			why := "not sent: could not confirm that it is still in the trash (" + err.Error() + "); run the statement again"
			outs = append(outs, Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: why})
			for _, o := range subs[it.ID].rows(it) {
				o.Status, o.Reason, o.Detail = StatusFailed, ReasonNotSent, "with its folder "+it.ID+": "+why
				outs = append(outs, o)
			}
		}
		return nil, r.record(ctx, nil, outs...)
	}
	var send, back, backFolders []string
	var raws [][]byte
	var outs []Outcome
	var folders []folderRow
	for _, it := range b {
		n, ok := found[it.ID]
		switch {
		case gone[it.ID] || ok && n.Status == "PURGED":
			o := goneOutcome(it.ID, it.Name, "GET /nodes/{id} before "+movePurge.request(), "404")
			outs = append(outs, o)
			for _, so := range subs[it.ID].rows(it) {
				so.Status, so.Reason, so.Detail = StatusSkipped, ReasonGone, "with its folder "+it.ID+": "+o.Detail
				outs = append(outs, so)
			}
		case ok && n.Status == "TRASH":
			send = append(send, it.ID)
		default:
			st := n.Status
			if st == "" {
				st = "unknown"
			}
			d := fmt.Sprintf("%s (the service shows it %s: restored elsewhere since the mirror saw it); not purged", notInTrashDetail, st)
			outs = append(outs, Outcome{ID: it.ID, Name: n.Name, Status: StatusSkipped, Reason: ReasonNotInTrash, Detail: d})
			for _, so := range subs[it.ID].rows(it) {
				so.Status, so.Detail = StatusSkipped, "with its folder "+it.ID+": "+notInTrashDetail+"; not purged (run SYNC FOLDERS and SYNC)"
				outs = append(outs, so)
			}
			if n.Status != "AVAILABLE" {
				continue
			}
			back = append(back, it.ID)
			if n.Kind == "FOLDER" {
				backFolders = append(backFolders, it.ID)
				parent := ""
				if len(n.Parents) > 0 {
					parent = n.Parents[0]
				}
				pp, err := folderPath(ctx, r.s.DB, parent)
				if err != nil {
					return nil, err
				}
				folders = append(folders, folderRow{id: it.ID, name: n.Name, parentID: parent, path: childPath(pp, n.Name)})
			} else if n.Raw != nil {
				raws = append(raws, n.Raw)
			}
		}
	}
	if len(outs) == 0 {
		return send, nil
	}
	if err := r.insertNodes(ctx, "nodes", raws...); err != nil {
		return nil, err
	}
	var apply func(context.Context, *sql.Tx) error
	if len(back) > 0 {
		apply = func(ctx context.Context, tx *sql.Tx) error {
			for _, f := range folders {
				if err := upsertFolder(ctx, tx, f, "", nil, nil); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM trash WHERE id IN `+idList(back))
			return err
		}
	}
	return send, r.record(ctx, apply, outs...)
}

// subtree is what the service holds below a folder of a TRASH or PURGE
// target right now: the nodes that go with the folder, parents first.
type subtree struct {
	nodes []fetch.Node
	size  int64
	verb  string
}

// rows returns one row per node of the subtree (nil for none), each
// naming folder it, placed after it in the result.
func (sub *subtree) rows(it item) []Outcome {
	if sub == nil {
		return nil
	}
	out := make([]Outcome, len(sub.nodes))
	for i, n := range sub.nodes {
		out[i] = Outcome{ID: n.ID, Name: n.Name, Status: StatusOK,
			Detail: fmt.Sprintf("%s with its folder %s (%s), as the service held it before the request", sub.verb, engine.Quote(it.Name), it.ID)}
	}
	return out
}

// raws returns the JSON of the subtree's nodes.
func (sub *subtree) raws() [][]byte {
	out := make([][]byte, 0, len(sub.nodes))
	for _, n := range sub.nodes {
		if n.Kind == "FILE" || n.Kind == "FOLDER" {
			out = append(out, n.Raw)
		}
	}
	return out
}

// hasFolder reports whether items hold a folder.
func hasFolder(items []item) bool {
	for _, it := range items {
		if it.Kind == "FOLDER" {
			return true
		}
	}
	return false
}

// listSubtrees lists through the service (GET /nodes/{id}/children, level
// by level) the subtree of every folder among items, as the service
// would take it along: for TRASH the available nodes below (trashing a
// folder trashes them), for PURGE the trashed ones reached through
// trashed folders (a child restored on its own stays). Result rows of the
// subtree follow their folder's.
func (m move) listSubtrees(ctx context.Context, c *fetch.Client, r *run, items []item) (map[string]*subtree, error) {
	want := "AVAILABLE"
	verb := "trashed"
	if m.action == "PURGE" {
		want, verb = "TRASH", "purged"
	}
	if r.order == nil {
		r.order = map[string]int{}
	}
	subs := map[string]*subtree{}
	for _, it := range items {
		if it.Kind != "FOLDER" {
			continue
		}
		sub := &subtree{verb: verb}
		seen := map[string]bool{it.ID: true}
		for queue := []string{it.ID}; len(queue) > 0; {
			fid := queue[0]
			queue = queue[1:]
			kids, err := c.Children(ctx, fid, "")
			r.requests.Add(1)
			if err != nil {
				return nil, fmt.Errorf("%s: list what folder %s (%s) holds on the service: %w; nothing was sent", m.verb, engine.Quote(it.Name), it.ID, err)
			}
			for _, k := range kids {
				if k.Status != want || seen[k.ID] {
					continue
				}
				seen[k.ID] = true
				sub.nodes = append(sub.nodes, k)
				sub.size += k.ContentProperties.Size
				if k.Kind == "FOLDER" {
					queue = append(queue, k.ID)
				}
			}
		}
		subs[it.ID] = sub
		// The subtree's rows come right after their folder's.
		if p, ok := r.order[it.ID]; ok {
			for _, n := range sub.nodes {
				if _, own := r.order[n.ID]; !own {
					r.order[n.ID] = p + 1
				}
			}
		}
	}
	return subs, nil
}

// withoutSubtrees drops from todo the nodes that go with a folder of
// todo: they are not sent on their own, and their rows come with it.
func withoutSubtrees(todo []item, subs map[string]*subtree) []item {
	in := map[string]bool{}
	for _, sub := range subs {
		for _, n := range sub.nodes {
			in[n.ID] = true
		}
	}
	out := todo[:0:0]
	for _, it := range todo {
		if !in[it.ID] {
			out = append(out, it)
		} else {
			delete(subs, it.ID) // a folder inside another: counted there
		}
	}
	return out
}
