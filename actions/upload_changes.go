package actions

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/model"
)

// nodesPut records in changes what the nodes an UPLOAD puts into nodes
// (run.sink) change there: a node the mirror lacked is added, one it held
// otherwise (ON CONFLICT REPLACE) is changed, with the columns that
// differ. The statement did it when the node's outcome is ok (it stored
// the file), and so did apsql when an earlier run sent the file without
// an ok outcome (earlierSent: its answer was cut); otherwise
// the service had the node already (made elsewhere since the last SYNC,
// found by a 409 or its silent dedup) and the statement merely found it:
// by_apsql false. A node the mirror already holds as it is records
// nothing, so a SYNC after the statement finds nothing more to record.
type nodesPut struct {
	r   *run
	ids []string
	// byApsql: the statement (or an earlier run of it) stored the node.
	byApsql map[string]bool
	// old holds the mirror's rows of ids before the put, as JSON objects
	// by column; a node the mirror lacked has none.
	old map[string]map[string]json.RawMessage
}

// nodesBefore reads, before the sink puts the nodes of entries into
// nodes, the mirror's rows of those nodes; nil when none has a node.
func (r *run) nodesBefore(ctx context.Context, entries []sinkEntry) (*nodesPut, error) {
	p := &nodesPut{r: r, byApsql: map[string]bool{}}
	var targets []string
	for _, e := range entries {
		if e.raw == nil || e.into != "" {
			continue
		}
		id := e.nodeID()
		if id == "" {
			continue
		}
		if _, seen := p.byApsql[id]; !seen {
			p.ids = append(p.ids, id)
		}
		p.byApsql[id] = p.byApsql[id] || e.o.Status == StatusOK
		if e.o.Status != StatusOK && e.o.Target != "" {
			targets = append(targets, e.o.Target)
		}
	}
	if len(p.ids) == 0 {
		return nil, nil
	}
	// A file an earlier run of the statement sent without learning that
	// it landed (its answer cut: failed, or never written) is that run's
	// upload, found now by a 409.
	if len(targets) > 0 {
		sent, err := r.earlierSent(ctx, targets)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.raw != nil && e.into == "" && sent[e.o.Target] && e.o.ID != "" {
				p.byApsql[e.o.ID] = true
			}
		}
	}
	rows, err := r.s.DB.Query(ctx, `SELECT id, to_json(n)::VARCHAR FROM nodes n WHERE id IN `+idList(p.ids))
	if err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	p.old, err = rowsByID(rows)
	return p, err
}

// earlierSent returns the targets among targets that an earlier run of
// this statement's action sent without an ok outcome: their latest entry
// in the journal before this statement is a failure of a request that was
// sent (one of unknown outcome, as a resend's 409 whose holder could not
// be read is; or refused, as such a 409 was journaled before), or a
// request about to be sent whose outcome was never written.
func (r *run) earlierSent(ctx context.Context, targets []string) (map[string]bool, error) {
	out, err := selectedIDs(ctx, r.s.DB, targets, `SELECT target FROM (
  SELECT target, status, reason, row_number() OVER (PARTITION BY target ORDER BY seq DESC) AS rn
  FROM actions_log WHERE action = ? AND seq <= ? AND target IN %s) WHERE rn = 1 AND (status = 'failed' AND reason IS DISTINCT FROM ? OR status = ?)`,
		r.action, r.firstSeq, string(ReasonNotSent), string(statusSending))
	if err != nil {
		return nil, fmt.Errorf("read actions_log: %w", err)
	}
	return out, nil
}

// rowsByID reads (id, JSON object) rows.
func rowsByID(rows *sql.Rows) (map[string]map[string]json.RawMessage, error) {
	defer rows.Close()
	out := map[string]map[string]json.RawMessage{}
	for rows.Next() {
		var id, js string
		if err := rows.Scan(&id, &js); err != nil {
			return nil, err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			return nil, fmt.Errorf("read the row of %s: %w", id, err)
		}
		out[id] = m
	}
	return out, rows.Err()
}

// record writes, in tx and after the put, the change rows of the put.
func (p *nodesPut) record(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, to_json(n)::VARCHAR FROM nodes n WHERE id IN `+idList(p.ids))
	if err != nil {
		return fmt.Errorf("read nodes: %w", err)
	}
	now, err := rowsByID(rows)
	if err != nil {
		return err
	}
	type group struct {
		change string
		by     bool
		fields string
	}
	groups := map[group][]string{}
	var order []group
	for _, id := range p.ids {
		n, ok := now[id]
		if !ok {
			continue // not put (its row could not be written)
		}
		g := group{change: mirror.ChangeAdded, by: p.byApsql[id]}
		if o, held := p.old[id]; held {
			var fields []string
			for _, c := range model.NodeColumns {
				if c.Name != "id" && c.Name != "syncedAt" && !sameJSON(o[c.Name], n[c.Name]) {
					fields = append(fields, c.Name)
				}
			}
			if len(fields) == 0 {
				continue
			}
			g.change, g.fields = mirror.ChangeChanged, strings.Join(fields, ",")
		}
		if _, seen := groups[g]; !seen {
			order = append(order, g)
		}
		groups[g] = append(groups[g], id)
	}
	for _, g := range order {
		ch := p.r.changes
		if !g.by {
			ch = ch.Found()
		}
		var fields []string
		if g.fields != "" {
			fields = strings.Split(g.fields, ",")
		}
		if err := ch.Nodes(ctx, tx, "nodes", g.change, groups[g], fields...); err != nil {
			return err
		}
	}
	return nil
}

// sameJSON reports whether two JSON values are equal (objects compared
// key by key, whatever their order).
func sameJSON(a, b json.RawMessage) bool {
	if string(a) == string(b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x) // maps marshal with sorted keys
	ys, _ := json.Marshal(y)
	return slices.Equal(xs, ys)
}
