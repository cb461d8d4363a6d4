package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// MOVE and RENAME change one node per request (POST /nodes/{folder}/children,
// PATCH /nodes/{id}) on the batch pipeline (pipeline.go). What they share is
// here: the node the service showed once the change was done, kept for the
// mirror; the sender and the row of a node edit; and the mirror's update,
// recorded in changes.

// answered keeps, by id, the node as the service showed it once its change
// was done: the request's answer, or the read-back that confirmed it.
type answered struct {
	mu    sync.Mutex
	nodes map[string]*fetch.Node
}

func (an *answered) keep(n *fetch.Node) {
	if n == nil || n.ID == "" {
		return
	}
	an.mu.Lock()
	defer an.mu.Unlock()
	if an.nodes == nil {
		an.nodes = map[string]*fetch.Node{}
	}
	an.nodes[n.ID] = n
}

// node returns the node kept for id, nil when none.
func (an *answered) node(id string) *fetch.Node {
	an.mu.Lock()
	defer an.mu.Unlock()
	return an.nodes[id]
}

// verifier reads ids back and says done those whose node done accepts,
// keeping those nodes.
func (an *answered) verifier(a api, done func(n *remoteNode) bool) verifier {
	return nodesVerifier(a, func(n *remoteNode) bool {
		if !done(n) {
			return false
		}
		kept := *n
		an.keep(&kept)
		return true
	})
}

// sender sends one node's change (the batch of one id the pipeline hands
// it) with change, and keeps the node the service answered. An answer
// without a node is a change done that the mirror learns from what it
// knows. A node the service does not have (a 404 on the node's own path)
// is gone.
func (an *answered) sender(change func(ctx context.Context, id string, retry fetch.RetryFunc) (*fetch.Node, error)) sender {
	return func(ctx context.Context, ids []string, retry func(context.Context, error) bool) (map[string]error, error) {
		n, err := change(ctx, ids[0], retry)
		switch {
		case errors.Is(err, fetch.ErrUnexpectedAnswer):
			return nil, nil
		case errors.Is(err, fetch.ErrNodeGone):
			return nil, &missingError{ids: ids, err: err}
		case err != nil:
			return nil, err
		}
		an.keep(n)
		return nil, nil
	}
}

// storeRows returns the pipeline's follow step of a node edit: the rows
// of the files done are replaced by the nodes the service showed (every
// column, as a SYNC writes them, so that the next SYNC finds nothing more
// to record), in the transaction that journals them and runs apply (which
// records the change). table says which table holds an id ("" for a
// folder: apply writes the folders table). When writing them fails,
// apply's update stands and the next SYNC reads the rows again.
func (an *answered) storeRows(table func(id string) string) func(context.Context, []sinkEntry) ([]sinkEntry, error) {
	return func(_ context.Context, es []sinkEntry) ([]sinkEntry, error) {
		for i, e := range es {
			if e.o.Status != StatusOK {
				continue
			}
			if n, t := an.node(e.o.ID), table(e.o.ID); n != nil && n.Raw != nil && t != "" {
				es[i].raw, es[i].into = n.Raw, t
			}
		}
		return es, nil
	}
}

// editOutcome is the row of a node edit sent with req: the pipeline's, with
// a 409 told as the name newName taken in where.
func editOutcome(res *sent, id, name, newName, req, where string) Outcome {
	o := res.outcome(id, name, req)
	if err := res.errs[id]; o.Status == StatusFailed && isStatus(err, http.StatusConflict) {
		o.Reason, o.Detail = ReasonConflict, joinDetail(req, conflictDetail(err, newName, where))
	}
	return o
}

// conflictDetail explains a 409 of a rename or move.
func conflictDetail(err error, name, where string) string {
	var ae *fetch.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		holder := ""
		if ae.NodeID != "" {
			holder = " by " + ae.NodeID
		}
		return fmt.Sprintf("409: the name %s is taken in %s%s (names are compared without case); RENAME one of them first", engine.Quote(name), where, holder)
	}
	return err.Error()
}

// txIDs returns the first column of a query in tx.
func txIDs(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// modifiedOf is n's modifiedDate for the mirror: nil when there is no node
// or it has none (the column keeps its value).
func modifiedOf(n *fetch.Node) any {
	if n == nil {
		return nil
	}
	return timeOrNil(n.ModifiedDate)
}

// timeOrNil is t, or NULL for the zero time.
func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}
