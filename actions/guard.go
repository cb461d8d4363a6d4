package actions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apsql/apsql/fetch"
)

// sender sends one mutating request for ids. refused holds the ids the
// service answered as not done (an errorMap), with why. retry must be put
// in the fetch.Request's Retry.
type sender func(ctx context.Context, ids []string, retry func(context.Context, error) bool) (refused map[string]string, err error)

// verifier reads the state of ids back from the service and returns those
// whose change is in effect.
type verifier func(ctx context.Context, ids []string) (done map[string]bool, err error)

// maxRounds bounds how often the not-yet-done part of a request is sent
// again after part of it was verified done.
const maxRounds = 3

// sent is the outcome of a guarded send: a detail per id that is done
// (ok) or not (failed).
type sent struct {
	ok, failed map[string]string
	requests   int
}

// guardedSend sends ids with send so that no id is ever applied twice and
// none is reported done without proof:
//
//   - a request refused for sure (429) is resent by the fetch retry policy;
//   - after a request of unknown outcome (5xx, connection cut) the ids are
//     read back with verify: when none is done the request is resent as it
//     was; when some are, only the rest is sent again, in a new request;
//   - when nothing can be verified, the ids fail with "outcome unknown", so
//     a re-run reads them back before it sends.
func guardedSend(ctx context.Context, ids []string, send sender, verify verifier) sent {
	res := sent{ok: map[string]string{}, failed: map[string]string{}}
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
				if why, ok := refused[id]; ok {
					res.failed[id] = why
				} else {
					res.ok[id] = ""
				}
			}
			return res
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
				res.failed[id] = err.Error()
			}
			return res
		case verr == nil:
			// Retries exhausted or a non-retryable network error: read
			// the state back once more before saying anything.
			d, e := verify(context.WithoutCancel(ctx), cur)
			if e == nil {
				for _, id := range cur {
					if d[id] {
						res.ok[id] = "confirmed by reading the node back after: " + err.Error()
					} else {
						res.failed[id] = err.Error()
					}
				}
				return res
			}
			verr = e
		}
		for _, id := range cur {
			res.failed[id] = fmt.Sprintf("%s: %v; reading the node back failed too (%v): a re-run checks before it sends", unknownOutcome, err, verr)
		}
		return res
	}
	return res
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
