package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/apsql/apsql/fetch"
)

// sender sends one mutating request for ids. refused holds the ids the
// service answered as not done (an errorMap), with why; an id the service
// does not have is refused with an error that wraps errNodeGone. A request
// refused as a whole because of ids the service does not have returns a
// *missingError. retry is the fetch.RetryFunc the typed method takes.
type sender func(ctx context.Context, ids []string, retry func(context.Context, error) bool) (refused map[string]error, err error)

// missingError is a request refused as a whole (404) because nodes it
// holds are not on the service (purged, or never existed): nothing was
// applied, so the rest can be sent again. ids are the ids the answer
// names; none when it names none.
type missingError struct {
	ids []string
	err error
}

func (e *missingError) Error() string { return e.err.Error() }
func (e *missingError) Unwrap() error { return e.err }

// asMissing turns a 404 answer to a batch request into a *missingError
// naming the ids its body names (see namedIDs); other errors are returned
// as they are.
func asMissing(err error) error {
	var ae *fetch.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		return err
	}
	return &missingError{ids: namedIDs(ae.Body), err: err}
}

// namedIDs returns the node ids a 404 body names: info.nodeIds (the
// emulator's batch answer), info.nodeId (one node, as a 409 names its
// conflicting node) and the keys of an errorMap.
func namedIDs(body []byte) []string {
	var m struct {
		Info struct {
			NodeID  string   `json:"nodeId"`
			NodeIDs []string `json:"nodeIds"`
		} `json:"info"`
		ErrorMap map[string]json.RawMessage `json:"errorMap"`
	}
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	ids := m.Info.NodeIDs
	if m.Info.NodeID != "" {
		ids = append(ids, m.Info.NodeID)
	}
	return append(ids, sortedKeys(m.ErrorMap)...)
}

// goneDetail is the detail of a node found not to be on the service: the
// statement skips it and deletes it from the local tables.
const goneDetail = "not on the service (gone); removed from the mirror"

// verifier reads the state of ids back from the service and returns those
// whose change is in effect.
type verifier func(ctx context.Context, ids []string) (done map[string]bool, err error)

// maxRounds bounds how often the not-yet-done part of a request is sent
// again after part of it was verified done.
const maxRounds = 3

// sent is the outcome of a guarded send: a detail per id that is done
// (ok), not done (failed, with the error and its reason), or not on the
// service at all (gone: 404).
type sent struct {
	ok, failed, gone map[string]string
	errs             map[string]error  // why each failed id failed
	why              map[string]Reason // the reason of each failed id
	requests         int
}

func newSent() sent {
	return sent{ok: map[string]string{}, failed: map[string]string{}, gone: map[string]string{},
		errs: map[string]error{}, why: map[string]Reason{}}
}

// fail records id as failed with err; reason ReasonNone takes err's.
func (res *sent) fail(id string, err error, reason Reason) {
	if reason == ReasonNone {
		reason = reasonOf(err)
	}
	res.failed[id], res.errs[id], res.why[id] = err.Error(), err, reason
}

// merge adds the outcomes of o to res.
func (res *sent) merge(o sent) {
	for _, m := range [][2]map[string]string{{res.ok, o.ok}, {res.failed, o.failed}, {res.gone, o.gone}} {
		for k, v := range m[1] {
			m[0][k] = v
		}
	}
	for k, v := range o.errs {
		res.errs[k] = v
	}
	for k, v := range o.why {
		res.why[k] = v
	}
	res.requests += o.requests
}

// outcome returns the row of id, sent with req.
func (res *sent) outcome(id, name, req string) Outcome {
	if d, ok := res.ok[id]; ok {
		return Outcome{ID: id, Name: name, Status: StatusOK, Detail: joinDetail(req, d)}
	}
	if d, ok := res.gone[id]; ok {
		return goneOutcome(id, name, req, d)
	}
	return Outcome{ID: id, Name: name, Status: StatusFailed, Reason: res.why[id], Detail: joinDetail(req, res.failed[id])}
}

// fatal returns the error that stops the statement: a failure that means
// nothing else can succeed (the cookies stopped working).
func (res *sent) fatal() error {
	for _, r := range res.why {
		if err := fatalReason(r); err != nil {
			return err
		}
	}
	return nil
}

// guardedSend sends ids with send so that no id is ever applied twice and
// none is reported done without proof:
//
//   - a request refused for sure (429) is resent by the fetch retry policy;
//   - after a request of unknown outcome (5xx, connection cut) the ids are
//     read back with verify: when none is done the request is resent as it
//     was; when some are, only the rest is sent again, in a new request;
//   - when nothing can be verified, the ids fail with "outcome unknown", so
//     a re-run reads them back before it sends;
//   - ids the service does not have (an errorMap's 404, or a request
//     refused as a whole by a *missingError) are gone; the rest of a refused
//     request is sent again without them. When the refusal names no id, the
//     request is split in halves until each gone id stands alone.
func guardedSend(ctx context.Context, ids []string, send sender, verify verifier) sent {
	res := newSent()
	for queue := [][]string{ids}; len(queue) > 0; {
		cur := queue[0]
		queue = append(queue[1:], res.send(ctx, cur, send, verify)...)
	}
	return res
}

// send sends ids (one request, and its verified re-sends) and records
// their outcomes in res. It returns the groups still to be sent: the rest
// of a request refused because of gone ids.
func (res *sent) send(ctx context.Context, ids []string, send sender, verify verifier) [][]string {
	pending := ids
	for round := 1; len(pending) > 0; round++ {
		cur := pending
		var done map[string]bool
		var verr error
		retry := func(ctx context.Context, err error) bool {
			if refusedForSure(err) {
				return true // 429: the service refused the request; nothing was applied
			}
			d, e := verify(ctx, cur)
			if e != nil {
				verr = e
				return false
			}
			if len(d) == 0 {
				return true // verified: nothing applied, so resending cannot apply twice
			}
			done = d
			return false
		}
		res.requests++
		refused, err := send(ctx, cur, retry)
		if err == nil {
			for _, id := range cur {
				switch why, ok := refused[id]; {
				case !ok:
					res.ok[id] = ""
				case errors.Is(why, errNodeGone):
					res.gone[id] = why.Error()
				default:
					res.fail(id, why, ReasonRefused)
				}
			}
			return nil
		}
		if me := (*missingError)(nil); done == nil && errors.As(err, &me) {
			return res.missing(cur, me)
		}
		if done != nil {
			pending = pending[:0:0]
			for _, id := range cur {
				if done[id] {
					res.ok[id] = "confirmed by reading the node back after: " + err.Error()
				} else {
					pending = append(pending, id)
				}
			}
			if round < maxRounds {
				continue
			}
			cur = pending
		}
		switch {
		case errors.Is(err, fetch.ErrUnauthorized) || refusedForSure(err) && !isStatus(err, 429):
			// The service refused: nothing was applied.
			for _, id := range cur {
				res.fail(id, err, ReasonNone)
			}
			return nil
		case verr == nil:
			// Retries exhausted or a non-retryable network error: read
			// the state back once more before saying anything.
			d, e := verify(context.WithoutCancel(ctx), cur)
			if e == nil {
				for _, id := range cur {
					if d[id] {
						res.ok[id] = "confirmed by reading the node back after: " + err.Error()
					} else {
						res.fail(id, err, ReasonNone)
					}
				}
				return nil
			}
			verr = e
		}
		for _, id := range cur {
			res.fail(id, fmt.Errorf("%s: %w; reading the node back failed too (%v): a re-run checks before it sends", unknownOutcome, err, verr), ReasonUnknown)
		}
		return nil
	}
	return nil
}

// missing records the outcome of ids, refused as a whole by me (nothing
// was applied): the ids it names are gone, and the rest is returned to be
// sent again. When it names none of ids, one id alone is gone, and more
// are split in halves to find which. An answer that names only other
// nodes (an album, say) says nothing about ids: they fail.
func (res *sent) missing(ids []string, me *missingError) [][]string {
	named := map[string]bool{}
	for _, id := range me.ids {
		named[id] = true
	}
	var rest []string
	for _, id := range ids {
		if named[id] {
			res.gone[id] = me.Error()
		} else {
			rest = append(rest, id)
		}
	}
	switch {
	case len(rest) < len(ids):
		if len(rest) == 0 {
			return nil
		}
		return [][]string{rest}
	case len(me.ids) > 0:
		for _, id := range ids {
			res.fail(id, me, ReasonRefused)
		}
		return nil
	case len(ids) == 1:
		res.gone[ids[0]] = me.Error()
		return nil
	}
	h := len(ids) / 2
	return [][]string{ids[:h:h], ids[h:]}
}

// pool runs do for every job on n workers. Once ctx is done, or do returns
// an error (a fatal one: authentication, the journal), no new job starts:
// the jobs never started are handed to skipped, with the reason. Jobs in
// flight finish. pool returns the first fatal error.
func pool[T any](ctx context.Context, n int, jobs []T, do func(T) error, skipped func(T, string)) error {
	var (
		next  atomic.Int64
		stop  atomic.Bool
		mu    sync.Mutex
		fatal error
		wg    sync.WaitGroup
	)
	n = max(1, min(n, len(jobs)))
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if stop.Load() || ctx.Err() != nil {
					return
				}
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				if err := do(jobs[i]); err != nil {
					mu.Lock()
					if fatal == nil {
						fatal = err
					}
					mu.Unlock()
					stop.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	for i := int(next.Load()); i < len(jobs); i++ {
		if i < 0 {
			continue
		}
		reason := notSent
		if fatal != nil {
			reason = "not sent: stopped after " + fatal.Error()
		}
		skipped(jobs[i], reason)
	}
	return fatal
}

// recheck reads back, right before the statement acts, the items the
// mirror says need nothing (already in the wanted state): the mirror may
// be stale, changed on another device since the last SYNC. It returns the
// items the service shows still needing the action (to be sent after
// all) and the rows of the rest: skipped with detail when done says the
// node is in the wanted state, skipped as gone when the service does not
// have it. When reading fails the mirror's word stands, and the row says
// so.
func recheck(ctx context.Context, a api, items []item, detail string, done func(remoteNode) bool) (send []item, rows []Outcome) {
	if len(items) == 0 {
		return nil, nil
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	found, gone, err := a.getNodes(ctx, ids)
	for _, it := range items {
		n, ok := found[it.ID]
		switch {
		case err != nil:
			rows = append(rows, Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: detail + " (as the mirror says; reading it back failed: " + err.Error() + ")"})
		case gone[it.ID]:
			rows = append(rows, goneOutcome(it.ID, it.Name, "GET /nodes/{id}", "404"))
		case ok && !done(n):
			send = append(send, it)
		default:
			rows = append(rows, Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: detail})
		}
	}
	return send, rows
}

// addChecked adds the rows recheck returned to the result: a node found
// gone is journaled at once (it leaves the mirror); in an EXPLAIN nothing
// is journaled.
func (r *run) addChecked(ctx context.Context, explain bool, rows []Outcome) error {
	var gone []Outcome
	for _, o := range rows {
		if o.gone() && !explain {
			gone = append(gone, o)
		} else {
			r.add(o)
		}
	}
	return r.record(ctx, nil, gone...)
}
