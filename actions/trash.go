package actions

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/model"
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
	return readBackVerifier(a, func(n *remoteNode) bool {
		if m.want == "" {
			return n.Status == "PURGED"
		}
		return n.Status == m.want
	}, m.want == "")
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

// recorded is apply that also records with changes what the statement
// did to nodes: TRASH and PURGE remove the rows (recorded while they are
// there), RESTORE adds them (recorded after); TRASH of a folder removes
// its subtree's folders and files too. A restored folder's subtree is
// recorded once it is read back (restoreSubtrees).
func (m move) recorded(changes *mirror.ActionChanges) func(ids []string) func(ctx context.Context, tx *sql.Tx) error {
	return func(ids []string) func(ctx context.Context, tx *sql.Tx) error {
		apply := m.apply(ids)
		if apply == nil {
			return nil
		}
		return func(ctx context.Context, tx *sql.Tx) error {
			if m.action == "TRASH" {
				if err := recordFolderTrash(ctx, tx, changes, idList(ids)); err != nil {
					return err
				}
			}
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

// runMove runs TRASH, RESTORE or PURGE (explain: EXPLAIN of it) on the
// batch pipeline (pipeline.go).
func (x *Actions) runMove(ctx context.Context, s *engine.Session, m move, args *engine.Args, explain bool) (*engine.Result, error) {
	st, err := parseStatementArgs(args, false, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.verb, err)
	}
	r, items, err := begin(ctx, s, m.action, m.verb, st.target, m.from, explain)
	if err != nil {
		return nil, err
	}
	mv := &moveRun{x: x, m: m, r: r}
	if err := mv.sort(ctx, items, explain); err != nil {
		return nil, err
	}
	if err := mv.listSubtrees(ctx); err != nil {
		return nil, err
	}
	if explain {
		return mv.explain(), nil
	}
	if len(mv.todo) == 0 {
		return r.result(false, ""), nil
	}
	if res, err := mv.confirm(); res != nil || err != nil {
		return res, err
	}
	if _, err := mv.client(ctx); err != nil {
		return nil, err
	}
	mv.since = time.Now()
	fatal, err := x.send(ctx, r, mv.todo, mv.spec())
	if err != nil {
		return nil, err
	}
	note := mv.note(ctx, fatal)
	// After every batch's transaction (trash_rows.go, restore_rows.go).
	rb := ""
	switch mv.m.action {
	case "TRASH":
		rb = mv.readBackTrash(ctx)
	case "RESTORE":
		rb = mv.readBackRestored(ctx)
	}
	if rb != "" {
		note = joinNote(note, rb)
	}
	return r.end(ctx.Err() != nil, fatal, note)
}

// moveRun is one TRASH, RESTORE or PURGE statement: what it sends.
type moveRun struct {
	x    *Actions
	m    move
	r    *run
	c    *fetch.Client
	todo []item
	subs map[string]*subtree // a folder's subtree, by the folder's id
	// since is when the statement began sending; trashed, for TRASH,
	// the nodes its batches trashed, read back after the last
	// (trash_rows.go).
	since   time.Time
	trashed trashedIDs
}

// client connects on first use.
func (mv *moveRun) client(ctx context.Context) (*fetch.Client, error) {
	if mv.c == nil {
		c, err := mv.x.client(ctx)
		if err != nil {
			return nil, err
		}
		mv.c = c
	}
	return mv.c, nil
}

// sort sorts the target into what is sent (todo) and what is not: nodes
// the mirror does not hold, and those the mirror says need nothing,
// checked with the service first (it may be stale: restored or trashed
// elsewhere since the last SYNC). A PURGE of nodes the service holds
// outside the trash is refused whole.
func (mv *moveRun) sort(ctx context.Context, items []item, explain bool) error {
	m, r := mv.m, mv.r
	unknown, err := notInMirror(ctx, r.s.DB, items)
	if err != nil {
		return fmt.Errorf("%s: %w", m.verb, err)
	}
	r.add(unknown...)
	var already, outside []item
	for _, it := range items {
		switch {
		case !it.known():
			// in unknown
		case m.action == "TRASH" && !it.InNodes, m.action == "RESTORE" && !it.InTrash:
			already = append(already, it)
		case m.action == "PURGE" && !it.InTrash:
			outside = append(outside, it)
		default:
			mv.todo = append(mv.todo, it)
		}
	}
	if len(already) > 0 {
		c, err := mv.client(ctx)
		if err != nil {
			return err
		}
		detail, want := "already in trash", "TRASH"
		if m.action == "RESTORE" {
			detail, want = "not in trash", "AVAILABLE"
		}
		send, rows := recheck(ctx, api{c}, already, detail, func(n remoteNode) bool { return n.Status != "AVAILABLE" && n.Status != "TRASH" || n.Status == want })
		r.requests.Add(int64(len(already)))
		if err := r.addChecked(ctx, explain, rows); err != nil {
			return err
		}
		mv.todo = append(mv.todo, send...)
	}
	return mv.trashedElsewhere(ctx, outside)
}

// trashedElsewhere reads back the nodes of a PURGE that the mirror has
// outside the trash: trashed elsewhere since the last SYNC, they are
// purged; what the service has outside the trash stops the statement.
func (mv *moveRun) trashedElsewhere(ctx context.Context, outside []item) error {
	if len(outside) == 0 {
		return nil
	}
	c, err := mv.client(ctx)
	if err != nil {
		return err
	}
	found, _, rerr := api{c}.getNodes(ctx, itemIDs(outside))
	mv.r.requests.Add(int64(len(outside)))
	var notInTrash []string
	for _, it := range outside {
		if n, ok := found[it.ID]; rerr == nil && ok && n.Status == "TRASH" {
			mv.todo = append(mv.todo, it)
		} else {
			notInTrash = append(notInTrash, fmt.Sprintf("%s (%s)", it.ID, it.Name))
		}
	}
	n := len(notInTrash)
	if n == 0 {
		return nil
	}
	more := ""
	if n > 10 {
		more = fmt.Sprintf(" and %d more", n-10)
		notInTrash = notInTrash[:10]
	}
	return fmt.Errorf("purge: %d %s not in the trash, nothing was purged: %s%s; TRASH them first (PURGE only deletes nodes already in trash)",
		n, plural(int64(n), "node is", "nodes are"), strings.Join(notInTrash, ", "), more)
}

// listSubtrees lists, for TRASH and PURGE, what each folder of todo takes
// along as the service holds it now (nodes uploaded since the last SYNC
// too), before asking; those nodes are not sent on their own.
func (mv *moveRun) listSubtrees(ctx context.Context) error {
	if !hasFolder(mv.todo) || mv.m.action == "RESTORE" {
		return nil
	}
	c, err := mv.client(ctx)
	if err != nil {
		return err
	}
	if mv.subs, err = mv.m.listSubtrees(ctx, c, mv.r, mv.todo); err != nil {
		return err
	}
	mv.todo = withoutSubtrees(mv.todo, mv.subs)
	return nil
}

// totals returns how many nodes the statement moves (subtrees too) and
// their size.
func (mv *moveRun) totals() (n, size int64) {
	for _, it := range mv.todo {
		n++
		size += it.Size
	}
	for _, sub := range mv.subs {
		n += int64(len(sub.nodes))
		size += sub.size
	}
	return n, size
}

// explain returns EXPLAIN's rows: each node with its batch, a folder's
// subtree after it.
func (mv *moveRun) explain() *engine.Result {
	m, r := mv.m, mv.r
	nb := r.plan(mv.todo, m.request())
	for _, it := range mv.todo {
		for _, n := range mv.subs[it.ID].rows(it) {
			r.add(Outcome{ID: n.ID, Name: n.Name, Status: statusPlanned, Detail: n.Detail})
		}
	}
	total, size := mv.totals()
	return r.result(false, r.s.Say("would send %d %s of up to %d ids (%s) for %v %s (%v); nothing was sent",
		nb, plural(int64(nb), "request", "requests"), batchSize, m.request(), model.Count(total),
		plural(total, "node", "nodes"), model.Size(size)))
}

// confirm asks, for an interactive TRASH and always for PURGE (SPEC
// §2.3): a result (cancelled) or an error when the statement must not go
// on.
func (mv *moveRun) confirm() (*engine.Result, error) {
	m, s := mv.m, mv.r.s
	if m.action != "PURGE" && (m.action != "TRASH" || !s.Interactive || s.Yes) {
		return nil, nil
	}
	total, size := mv.totals()
	what := s.Say("%v %s (%v)", model.Count(total), plural(total, "item", "items"), model.Size(size))
	if !s.Yes && s.Confirm == nil {
		return nil, fmt.Errorf("%s of %s needs confirmation: run it interactively or pass --yes", m.verb, what)
	}
	yes, err := s.Confirmed(fmt.Sprintf("%s %s?", m.verb, what), "--yes")
	if err != nil {
		return nil, err
	}
	if !yes {
		// One line, not a row per node: the person has just said no
		// to all of them, and a long table would bury the answer.
		return &engine.Result{Summary: "cancelled: nothing was sent"}, nil
	}
	return nil, nil
}

// spec is the statement on the pipeline: batches of 50 on the workers;
// a PURGE batch is read back right before it is sent (the mirror's trash
// may be stale); a folder's subtree follows its row.
func (mv *moveRun) spec() batchSpec {
	m, a := mv.m, api{mv.c}
	sp := batchSpec{req: m.request(), per: batchSize, workers: mv.x.workers, progress: m.verb,
		send: m.send(a), verify: m.verify(a), apply: m.recorded(mv.r.changes), follow: mv.follow, unsent: mv.unsent}
	if m.action == "PURGE" {
		sp.check = func(ctx context.Context, b []item) ([]string, error) {
			return mv.x.stillInTrash(ctx, mv.r, a, b, mv.subs)
		}
	}
	if m.action == "TRASH" {
		sp.settled = mv.settled
	}
	return sp
}

// settled is follow for the folders of a TRASH that an earlier run's
// request was confirmed done for (settleUnknown): their subtrees were
// listed before that request, and its outcomes were not journaled, so the
// re-run lists again what the service shows trashed with each folder
// (recursivelyTrashed, level by level) and adds a row per node, each going
// into trash as the service shows it now: a node uploaded behind the
// mirror's back goes into trash here, not at a later SYNC TRASH. What the
// mirror held of the subtree moves as the first run would have moved it
// (apply).
func (mv *moveRun) settled(ctx context.Context, es []sinkEntry) ([]sinkEntry, error) {
	folders := map[string]item{}
	for _, it := range mv.todo {
		if it.Kind == "FOLDER" {
			folders[it.ID] = it
		}
	}
	for _, e := range es {
		it, ok := folders[e.o.ID]
		if !ok || e.o.Status != StatusOK {
			continue
		}
		nodes, err := mv.trashedWith(ctx, it)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			se := sinkEntry{o: Outcome{ID: n.ID, Name: n.Name, Status: StatusOK,
				Detail: fmt.Sprintf("trashed with its folder %s (%s) by an earlier run (the service shows it trashed with the folder); not sent again", engine.Quote(it.Name), it.ID)}}
			if n.Kind == "FILE" || n.Kind == "FOLDER" {
				se.raw, se.into = n.Raw, "trash"
			}
			es = append(es, se)
		}
	}
	return es, nil
}

// trashedWith lists the nodes below folder it that the service shows
// trashed because it was (recursivelyTrashed): not those trashed on their
// own before it, nor what is below them.
func (mv *moveRun) trashedWith(ctx context.Context, it item) ([]fetch.Node, error) {
	c, err := mv.client(ctx)
	if err != nil {
		return nil, err
	}
	var out []fetch.Node
	seen := map[string]bool{it.ID: true}
	for queue := []string{it.ID}; len(queue) > 0; {
		fid := queue[0]
		queue = queue[1:]
		kids, err := c.Children(ctx, fid, "")
		mv.r.requests.Add(1)
		if err != nil {
			return nil, fmt.Errorf("%s: list what folder %s (%s), trashed by an earlier run, holds on the service: %w; nothing was sent, try again",
				mv.m.verb, engine.Quote(it.Name), it.ID, err)
		}
		for _, k := range kids {
			if k.Status != "TRASH" || seen[k.ID] || !recursivelyTrashed(k.Raw) {
				continue
			}
			seen[k.ID] = true
			out = append(out, k)
			if k.Kind == "FOLDER" {
				queue = append(queue, k.ID)
			}
		}
	}
	return out, nil
}

// recursivelyTrashed reports whether a trashed node's JSON says it went
// into the trash with a folder above it (API.md §2: recursivelyTrashed).
func recursivelyTrashed(raw []byte) bool {
	var n struct {
		Recursively bool `json:"recursivelyTrashed"`
	}
	return json.Unmarshal(raw, &n) == nil && n.Recursively
}

// follow adds the rows of the subtrees that went with the folders of es
// (or not): one per node. Nodes the mirror did not hold yet (uploaded
// since the last SYNC) come into trash from the listing, in the
// transaction that journals them; a TRASH notes the ids it trashed, read
// back once the last batch is sent (readBackTrash).
func (mv *moveRun) follow(_ context.Context, es []sinkEntry) ([]sinkEntry, error) {
	for _, e := range es {
		o := e.o
		sub := mv.subs[o.ID]
		if sub == nil {
			continue
		}
		rows := sub.rows(item{ID: o.ID, Name: sub.folder})
		for i := range rows {
			rows[i].Status, rows[i].Reason = o.Status, o.Reason
			if o.Status != StatusOK {
				rows[i].Detail = fmt.Sprintf("with its folder %s, which was %s: %s", o.ID, o.Status, o.Detail)
			}
			se := sinkEntry{o: rows[i]}
			if n := sub.nodes[i]; o.Status == StatusOK && mv.m.action == "TRASH" && (n.Kind == "FILE" || n.Kind == "FOLDER") {
				se.raw, se.into = n.Raw, "trash"
			}
			es = append(es, se)
		}
	}
	if mv.m.action == "TRASH" {
		mv.trashed.add(es)
	}
	return es, nil
}

// unsent returns the rows of a batch never sent, its subtrees' too.
func (mv *moveRun) unsent(b []item, why string) []Outcome {
	outs := make([]Outcome, 0, len(b))
	for _, it := range b {
		outs = append(outs, Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: why})
		for _, o := range mv.subs[it.ID].rows(it) {
			o.Status, o.Reason, o.Detail = StatusFailed, ReasonNotSent, "with its folder "+it.ID+": "+why
			outs = append(outs, o)
		}
	}
	return outs
}

// note is the summary's note: why the statement stopped, the nodes a
// PURGE found restored elsewhere, a RESTORE's subtrees, the people.
func (mv *moveRun) note(ctx context.Context, fatal error) string {
	var notes []string
	add := func(n string) {
		if n != "" {
			notes = append(notes, n)
		}
	}
	add(fatalSummary(fatal))
	if mv.m.action == "PURGE" {
		if n := mv.r.countReason(ReasonNotInTrash); n > 0 {
			add(fmt.Sprintf("%d %s no longer in the trash on the service (restored elsewhere since the last SYNC) and not purged",
				n, plural(int64(n), "node was", "nodes were")))
		}
	}
	if mv.m.action == "RESTORE" {
		add(mv.x.restoreSubtrees(ctx, mv.r, mv.c, mv.todo))
	}
	// A person's count is of available photos: read the people back.
	add(refreshPeopleAfter(ctx, mv.r, mv.c))
	return strings.Join(notes, "; ")
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

// settleUnknown reads back (sp.verify) the nodes whose last attempt (an
// earlier run) ended with an unknown outcome: those the service shows done
// are journaled ok and applied locally (sp.apply), without sending
// anything, the nodes read back going into the mirror as the first run
// would have put the answers (sp.settled) in the same transaction; the
// rest are returned to be sent.
func (x *Actions) settleUnknown(ctx context.Context, r *run, todo []item, sp batchSpec) ([]item, error) {
	verify := sp.verify
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
	es := entries(outs)
	if sp.settled != nil {
		if es, err = sp.settled(ctx, es); err != nil {
			return nil, err
		}
	}
	if err := r.recordEntries(ctx, es, sp.applyOf(doneIDs)); err != nil {
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
// shows them, recorded in changes as added by the service; a folder with
// what the service shows available below it, restored with it), or not on
// the service at all (skipped as gone). When the
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
	var send, back []string
	raws := map[string][]byte{}
	var outs []Outcome
	var folders []restoredFolder
	var below []fetch.Node // files restored with a folder of b
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
			o := Outcome{ID: it.ID, Name: n.Name, Status: StatusSkipped, Reason: ReasonNotInTrash, Detail: d}
			var subRows []Outcome
			for _, so := range subs[it.ID].rows(it) {
				so.Status, so.Detail = StatusSkipped, "with its folder "+it.ID+", which is "+notInTrashDetail+" (restored elsewhere); not purged"
				subRows = append(subRows, so)
			}
			if n.Status != "AVAILABLE" {
				outs = append(append(outs, o), subRows...)
				continue
			}
			back = append(back, it.ID)
			if n.Kind == "FOLDER" {
				parent := ""
				if len(n.Parents) > 0 {
					parent = n.Parents[0]
				}
				pp, err := folderPath(ctx, r.s.DB, parent)
				if err != nil {
					return nil, err
				}
				root := folderRow{id: it.ID, name: n.Name, parentID: parent, path: childPath(pp, n.Name)}
				folders = append(folders, restoredFolder{root, timeOrNil(n.CreatedDate), timeOrNil(n.ModifiedDate)})
				// What came back with it goes back too, as the service
				// shows it; when it cannot be read, a SYNC puts it.
				subFolders, files, ids, err := restoredBelow(context.WithoutCancel(ctx), r, a.c, root)
				if err != nil {
					o.Detail += "; " + err.Error() + ": run SYNC FOLDERS and SYNC"
				} else {
					folders, below, back = append(folders, subFolders...), append(below, files...), append(back, ids...)
				}
			} else if n.Raw != nil {
				raws[it.ID] = n.Raw
			}
			outs = append(append(outs, o), subRows...)
		}
	}
	if len(outs) == 0 {
		return send, nil
	}
	files := sortedKeys(raws)
	// The files restored with a folder, each once (not those of b).
	var belowRaws [][]byte
	var belowIDs []string
	seen := map[string]bool{}
	for _, n := range below {
		if _, own := raws[n.ID]; own || seen[n.ID] || n.Raw == nil {
			continue
		}
		seen[n.ID] = true
		belowRaws, belowIDs = append(belowRaws, n.Raw), append(belowIDs, n.ID)
	}
	var belowBatch *nodeBatch
	if len(belowRaws) > 0 {
		var err error
		if belowBatch, err = decodeNodes(belowRaws); err != nil {
			return nil, fmt.Errorf("purge: the files restored with a folder: %w", err)
		}
		defer belowBatch.release()
	}
	var apply func(context.Context, *sql.Tx) error
	if len(back) > 0 {
		apply = func(ctx context.Context, tx *sql.Tx) error {
			// They came back by the service's doing (restored elsewhere):
			// the statement records them added, as what it found, the
			// folders as the service shows them (their dates too), the
			// files put into nodes first in this transaction; the files
			// restored with a folder go into nodes here, recorded added
			// when nodes lacked them.
			found := r.changes.Found()
			for _, f := range folders {
				if err := putFolder(ctx, tx, f.f, f.created, f.modified, found, found); err != nil {
					return err
				}
			}
			if err := found.Nodes(ctx, tx, "nodes", mirror.ChangeAdded, files); err != nil {
				return err
			}
			if belowBatch != nil {
				had, err := txIDs(ctx, tx, `SELECT id FROM nodes WHERE id IN `+idList(belowIDs))
				if err != nil {
					return err
				}
				if err := r.putNodes(ctx, tx.ExecContext, "nodes", belowBatch); err != nil {
					return err
				}
				held := make(map[string]bool, len(had))
				for _, id := range had {
					held[id] = true
				}
				var added []string
				for _, id := range belowIDs {
					if !held[id] {
						added = append(added, id)
					}
				}
				if err := found.Nodes(ctx, tx, "nodes", mirror.ChangeAdded, added); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM trash WHERE id IN `+idList(back))
			return err
		}
	}
	// The nodes restored elsewhere go back into nodes in the transaction
	// that journals them and records them added.
	es := entries(outs)
	for i, e := range es {
		if raw, ok := raws[e.o.ID]; ok {
			es[i].raw, es[i].into = raw, "nodes"
			delete(raws, e.o.ID)
		}
	}
	return send, r.recordEntries(ctx, es, apply)
}

// subtree is what the service holds below a folder of a TRASH or PURGE
// target right now: the nodes that go with the folder, parents first.
type subtree struct {
	nodes  []fetch.Node
	size   int64
	verb   string
	folder string // the folder's name
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
		sub := &subtree{verb: verb, folder: it.Name}
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
