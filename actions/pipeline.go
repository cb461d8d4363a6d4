package actions

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/model"
)

// The batch pipeline: every batch action (TRASH, RESTORE, PURGE,
// FAVORITE and the other settings, the Family Vault, ALBUM ADD/REMOVE,
// MOVE) sorts its target into what needs sending (resolve, the mirror's
// facts read back with recheck), shows it (EXPLAIN: plan) or asks (confirm),
// then hands the rest to send, which for each batch
//
//  1. reads back the nodes whose last attempt had an unknown outcome
//     (settleUnknown: done ones are journaled ok, never sent again),
//  2. verifies each batch's facts with the service right before sending
//     (spec.check),
//  3. journals 'sending' for the batch (run.intend, in poolJournaled),
//  4. sends it, reading back what has an unknown outcome (guardedSend),
//  5. applies what is done to the mirror and records it in changes
//     (spec.apply), and journals each outcome (the sink, or run.record).
//
// An action is a batchSpec: how it sends, verifies and applies.

// batchSpec is one batch action on the pipeline.
type batchSpec struct {
	// req names the request in the journal and the rows: "PATCH /trash
	// (op add)".
	req string
	// per is how many ids one request takes (batchSize; 1 for a request
	// per node).
	per int
	// workers is how many requests are in flight at once.
	workers int
	// progress names the work for the progress line.
	progress string
	send     sender
	verify   verifier
	// apply returns the update of the local tables for the ids done
	// (recording them in changes where the action does); nil for none.
	apply func(ids []string) func(context.Context, *sql.Tx) error
	// check, when set, reads a batch back right before it is sent and
	// returns the ids still to send; it journals the others itself.
	check func(ctx context.Context, b []item) ([]string, error)
	// split, when set, may send a batch again in smaller parts after it
	// was refused as a whole (one bad member refuses an album edit).
	split func(ctx context.Context, ids []string, res sent) sent
	// outcome, when set, replaces the row of a sent id.
	outcome func(res *sent, id, name string) Outcome
	// follow, when set, adds to a batch's rows the nodes the service
	// showed, to go into the mirror in the transaction that journals them
	// (sinkEntry.into), and the rows that follow (a folder's subtree);
	// unsent returns the rows of a batch never sent, beyond one per item.
	follow func(ctx context.Context, es []sinkEntry) ([]sinkEntry, error)
	unsent func(b []item, why string) []Outcome
	// settled, when set, is follow for the nodes an earlier run's request
	// was confirmed done for by reading them back (settleUnknown): the
	// nodes read back go into the mirror as follow puts the answers, so
	// the row is the service's, not only the edited column.
	settled func(ctx context.Context, es []sinkEntry) ([]sinkEntry, error)
	// direct journals each batch (and applies it) before the next is
	// sent, instead of through the sink's batches: for actions whose
	// batches go one at a time and whose apply reads the last answer.
	direct bool
}

// plan adds EXPLAIN's row of each item: the request and its batch.
func (r *run) plan(todo []item, req string) int {
	nb := (len(todo) + batchSize - 1) / batchSize
	for k, it := range todo {
		r.add(Outcome{ID: it.ID, Name: it.Name, Status: statusPlanned, Detail: fmt.Sprintf("%s batch %d of %d", req, k/batchSize+1, nb)})
	}
	return nb
}

// planSummary is EXPLAIN's summary of nb batches of req for n nodes; with,
// when given, says what the requests carry.
func planSummary(s *engine.Session, nb int, req string, n int, with string) string {
	if with != "" {
		req += ", with " + with
	}
	return s.Say("would send %d %s (%s) for %v %s; nothing was sent", nb,
		plural(int64(nb), "request", "requests"), req, model.Count(n), plural(int64(n), "node", "nodes"))
}

// sendAll sends todo through the pipeline with the spec that build makes
// for the statement's client, and returns the statement's result; with
// nothing to send it sends nothing, not even a read.
func (x *Actions) sendAll(ctx context.Context, r *run, todo []item, build func(r *run, a api) (batchSpec, error)) (*engine.Result, error) {
	if len(todo) == 0 {
		return r.result(false, ""), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	sp, err := build(r, api{c})
	if err != nil {
		return nil, err
	}
	fatal, err := x.send(ctx, r, todo, sp)
	if err != nil {
		return nil, err
	}
	return r.end(ctx.Err() != nil, fatal, fatalSummary(fatal))
}

// send runs the pipeline's sending part over todo and returns the error
// that stopped it (nil when none did). An error of settleUnknown (the
// earlier unknown outcomes could not be read back) is returned as setup:
// nothing was sent.
func (x *Actions) send(ctx context.Context, r *run, todo []item, sp batchSpec) (fatal, setup error) {
	todo, err := x.settleUnknown(ctx, r, todo, sp)
	if err != nil {
		return nil, err
	}
	per := max(1, sp.per)
	var batches [][]item
	for lo := 0; lo < len(todo); lo += per {
		batches = append(batches, todo[lo:min(lo+per, len(todo))])
	}
	tr := r.s.Progress.Start(sp.progress, int64(len(todo)), "nodes")
	defer tr.Done()
	names := make(map[string]string, len(todo))
	for _, it := range todo {
		names[it.ID] = it.Name
	}
	put := func(es []sinkEntry, apply func(context.Context, *sql.Tx) error) error {
		return r.recordEntries(ctx, es, apply)
	}
	var k *sink
	if !sp.direct {
		k = r.newSink(ctx, sp.apply)
		put = func(es []sinkEntry, _ func(context.Context, *sql.Tx) error) error { return k.putEntries(es...) }
	}
	fatal = poolJournaled(ctx, r, max(1, sp.workers), batches, itemIDs, sp.req, func(b []item) error {
		ids := itemIDs(b)
		if sp.check != nil {
			var err error
			if ids, err = sp.check(ctx, b); err != nil {
				return err
			}
		}
		res := newSent()
		if len(ids) > 0 {
			res = guardedSend(context.WithoutCancel(ctx), ids, sp.send, sp.verify)
		}
		if sp.split != nil {
			res = sp.split(ctx, ids, res)
		}
		r.requests.Add(int64(res.requests))
		tr.Add(int64(len(b)))
		es := make([]sinkEntry, 0, len(ids))
		for _, id := range ids {
			if sp.outcome != nil {
				es = append(es, sinkEntry{o: sp.outcome(&res, id, names[id])})
			} else {
				es = append(es, sinkEntry{o: res.outcome(id, names[id], sp.req)})
			}
		}
		if sp.follow != nil {
			var err error
			if es, err = sp.follow(ctx, es); err != nil {
				return err
			}
		}
		var apply func(context.Context, *sql.Tx) error
		if sp.direct {
			apply = sp.applyOf(sortedKeys(res.ok))
		}
		if err := put(es, apply); err != nil {
			return err
		}
		return res.fatal()
	}, func(b []item, why string) {
		var outs []Outcome
		if sp.unsent != nil {
			outs = sp.unsent(b, why)
		} else {
			for _, it := range b {
				outs = append(outs, Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: why})
			}
		}
		_ = put(entries(outs), nil)
	})
	if k != nil {
		if err := k.close(); err != nil && fatal == nil {
			fatal = err
		}
	}
	return fatal, nil
}

// applyOf returns sp.apply for ids, or nil.
func (sp batchSpec) applyOf(ids []string) func(context.Context, *sql.Tx) error {
	if sp.apply == nil {
		return nil
	}
	return sp.apply(ids)
}

// nodesVerifier reads ids back (GET /nodes/{id}) and says done those whose
// node done accepts.
func nodesVerifier(a api, done func(n *remoteNode) bool) verifier {
	return readBackVerifier(a, done, false)
}

// readBackVerifier is nodesVerifier where an id the service no longer has
// is done when goneIsDone (PURGE's).
func readBackVerifier(a api, done func(n *remoteNode) bool, goneIsDone bool) verifier {
	return func(ctx context.Context, ids []string) (map[string]bool, error) {
		found, gone, err := a.getNodes(ctx, ids)
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, id := range ids {
			n, ok := found[id]
			if (ok && done(&n)) || (goneIsDone && gone[id]) {
				out[id] = true
			}
		}
		return out, nil
	}
}

// begin is the pipeline's first step: it resolves the target over the
// table from and starts the statement's run, its rows in the target's
// order. verb prefixes a failure to resolve.
func begin(ctx context.Context, s *engine.Session, action, verb string, t target, from string, explain bool) (*run, []item, error) {
	items, err := resolve(ctx, s.DB, t, from)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", verb, err)
	}
	r, err := newRun(ctx, s, action, explain)
	if err != nil {
		return nil, nil, err
	}
	r.orderBy(items)
	return r, items, nil
}
