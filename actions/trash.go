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
		}
	case "RESTORE":
		stmts = []string{
			`INSERT OR REPLACE INTO nodes SELECT * REPLACE ('AVAILABLE' AS status) FROM trash WHERE id IN ` + in,
			`DELETE FROM trash WHERE id IN ` + in,
		}
	default:
		stmts = []string{`DELETE FROM trash WHERE id IN ` + in, `DELETE FROM nodes WHERE id IN ` + in}
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

// runMove runs TRASH, RESTORE or PURGE (explain: EXPLAIN of it).
func (x *Actions) runMove(ctx context.Context, s *engine.Session, m move, rest string, explain bool) (*engine.Result, error) {
	st, err := parseStatement(rest, false, nil)
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
	var size int64
	unknown, err := notInMirror(ctx, s.DB, items)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.verb, err)
	}
	r.add(unknown...)
	for _, it := range items {
		switch {
		case !it.known():
			// in unknown
		case m.action == "TRASH" && !it.InNodes:
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "already in trash"})
		case m.action == "RESTORE" && !it.InTrash:
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "not in trash"})
		case m.action == "PURGE" && !it.InTrash:
			notInTrash = append(notInTrash, fmt.Sprintf("%s (%s)", it.ID, it.Name))
		default:
			todo = append(todo, it)
			size += it.Size
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
	nb := (len(todo) + batchSize - 1) / batchSize
	if explain {
		for k, it := range todo {
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: statusPlanned,
				Detail: fmt.Sprintf("%s batch %d of %d", m.request(), k/batchSize+1, nb)})
		}
		return r.result(false, fmt.Sprintf("would send %d %s of up to %d ids (%s) for %s %s (%s); nothing was sent",
			nb, plural(int64(nb), "request", "requests"), batchSize, m.request(), output.Thousands(int64(len(todo))),
			plural(int64(len(todo)), "node", "nodes"), output.Bytes(size))), nil
	}
	if len(todo) == 0 {
		return r.result(false, ""), nil
	}
	// Confirmation: interactive TRASH, and PURGE always (SPEC §2.3).
	if m.action == "PURGE" || m.action == "TRASH" && s.Interactive && !s.Yes {
		q := fmt.Sprintf("%s %s %s (%s)?", m.verb, output.Thousands(int64(len(todo))), plural(int64(len(todo)), "item", "items"), output.Bytes(size))
		if !s.Yes && s.Confirm == nil {
			return nil, fmt.Errorf("%s of %s %s (%s) needs confirmation: run it interactively or pass --yes",
				m.verb, output.Thousands(int64(len(todo))), plural(int64(len(todo)), "item", "items"), output.Bytes(size))
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
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	a := api{c}
	todo, err = x.settleUnknown(ctx, r, todo, m.verify(a), m.apply)
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
	for _, it := range todo {
		names[it.ID] = it.Name
	}
	// Outcomes are journaled, and the local tables updated, in batches by
	// a sink: workers go on to the next batch without waiting for DuckDB.
	k := r.newSink(ctx, m.apply)
	fatal := pool(ctx, x.workers, batches, func(b []item) error {
		ids := make([]string, len(b))
		for i, it := range b {
			ids[i] = it.ID
		}
		res := guardedSend(context.WithoutCancel(ctx), ids, m.send(a), m.verify(a))
		r.requests.Add(int64(res.requests))
		outs := make([]Outcome, 0, len(ids))
		for _, id := range ids {
			if d, ok := res.ok[id]; ok {
				outs = append(outs, Outcome{ID: id, Name: names[id], Status: StatusOK, Detail: joinDetail(m.request(), d)})
			} else if d, ok := res.gone[id]; ok {
				outs = append(outs, goneOutcome(id, names[id], m.request(), d))
			} else {
				outs = append(outs, Outcome{ID: id, Name: names[id], Status: StatusFailed, Detail: joinDetail(m.request(), res.failed[id])})
			}
		}
		tr.Add(int64(len(ids)))
		if err := k.putAll(outs...); err != nil {
			return err
		}
		return fatalOf(res.failed)
	}, func(b []item, why string) {
		outs := make([]Outcome, len(b))
		for i, it := range b {
			outs[i] = Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Detail: why}
		}
		_ = k.putAll(outs...)
	})
	if err := k.close(); err != nil && fatal == nil {
		fatal = err
	}
	note := fatalSummary(fatal)
	if m.action == "RESTORE" {
		if n := x.restoreSubtrees(ctx, r, c, todo); n != "" {
			note = strings.TrimPrefix(note+"; "+n, "; ")
		}
	}
	return r.result(ctx.Err() != nil, note), nil
}

// joinDetail prefixes a detail with the request it came from.
func joinDetail(req, d string) string {
	if d == "" {
		return req
	}
	return req + ": " + d
}

// fatalOf returns an error that stops the statement when a failure means
// nothing else can succeed (the cookies stopped working).
func fatalOf(failed map[string]string) error {
	for _, d := range failed {
		if strings.Contains(d, fetch.ErrUnauthorized.Error()) {
			return fetch.ErrUnauthorized
		}
	}
	return nil
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
