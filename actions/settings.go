package actions

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"time"

	"github.com/apsql/apsql/output"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// setting is one of FAVORITE, UNFAVORITE, HIDE, UNHIDE: PATCH /nodes/{id}
// with {"settings":{key: value}} (API.md §1.3 #15).
type setting struct {
	action string
	key    string // favorite or hidden; also the nodes column
	value  bool
	state  string // what the node is once done: "favorite", "hidden", ...
}

var (
	setFavorite   = setting{"FAVORITE", "favorite", true, "a favorite"}
	setUnfavorite = setting{"UNFAVORITE", "favorite", false, "not a favorite"}
	setHide       = setting{"HIDE", "hidden", true, "hidden"}
	setUnhide     = setting{"UNHIDE", "hidden", false, "not hidden"}
)

func (st setting) current(it item) bool {
	if st.key == "favorite" {
		return it.Favorite
	}
	return it.Hidden
}

func (st setting) verify(a api) verifier {
	return nodesVerifier(a, func(n *remoteNode) bool {
		if st.key == "hidden" {
			return n.Settings.Hidden == st.value
		}
		return n.Settings.Favorite == st.value
	})
}

func (st setting) apply(ids []string) func(context.Context, *sql.Tx) error {
	if len(ids) == 0 {
		return nil
	}
	q := fmt.Sprintf(`UPDATE nodes SET %s = %t WHERE id IN %s`, engine.Ident(st.key), st.value, idList(ids))
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, q)
		return err
	}
}

// runSetting runs FAVORITE, UNFAVORITE, HIDE or UNHIDE.
func (x *Actions) runSetting(ctx context.Context, s *engine.Session, st setting, args *engine.Args, explain bool) (*engine.Result, error) {
	verb := lower(st.action)
	stmt, err := parseStatementArgs(args, false, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	r, items, err := begin(ctx, s, st.action, verb, stmt.target, "nodes", explain)
	if err != nil {
		return nil, err
	}
	req := fmt.Sprintf(`PATCH /nodes/{id} {"settings":{"%s":%t}}`, st.key, st.value)
	var todo, already []item
	for _, it := range items {
		switch {
		case !it.known():
			r.add(Outcome{ID: it.ID, Status: StatusFailed, Detail: "not in the local mirror: run SYNC, then run the statement again"})
		case !it.InNodes:
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "in trash: RESTORE it first"})
		case st.current(it) == st.value:
			already = append(already, it)
		default:
			todo = append(todo, it)
		}
	}
	if len(already) > 0 {
		// Changed on another device since the last SYNC? Ask before skipping.
		c, err := x.client(ctx)
		if err != nil {
			return nil, err
		}
		send, rows := recheck(ctx, api{c}, already, "already "+st.state, func(n remoteNode) bool {
			if st.key == "hidden" {
				return n.Settings.Hidden == st.value
			}
			return n.Settings.Favorite == st.value
		})
		r.requests.Add(int64(len(already)))
		if err := r.addChecked(ctx, explain, rows); err != nil {
			return nil, err
		}
		todo = append(todo, send...)
	}
	if explain {
		for _, it := range todo {
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: statusPlanned, Detail: req})
		}
		return r.result(false, fmt.Sprintf("would send %s %s (%s); nothing was sent",
			output.Thousands(int64(len(todo))), plural(int64(len(todo)), "request", "requests"), req)), nil
	}
	if len(todo) == 0 {
		return r.result(false, ""), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	a := api{c}
	value := st.value
	body := fetch.NodePatch{Favorite: &value}
	if st.key == "hidden" {
		body = fetch.NodePatch{Hidden: &value}
	}
	send := func(ctx context.Context, ids []string, retry func(context.Context, error) bool) (map[string]error, error) {
		_, err := a.patchNode(ctx, ids[0], body, retry)
		if isStatus(err, http.StatusNotFound) {
			// The path names the node: a 404 says it is not on the service.
			err = &missingError{ids: ids, err: err}
		}
		return nil, err
	}
	fatal, err := x.send(ctx, r, todo, batchSpec{req: req, per: 1, workers: x.workers, progress: verb,
		send: send, verify: st.verify(a), apply: st.apply})
	if err != nil {
		return nil, err
	}
	return r.end(ctx.Err() != nil, fatal, fatalSummary(fatal))
}

// insertNodes puts nodes (JSON objects as the service sent them) into
// table, replacing rows with the same id. It holds the run's lock, as every
// database write of a run does.
func (r *run) insertNodes(ctx context.Context, table string, raws ...[]byte) error {
	if len(raws) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	d := fetch.NewNodeDecoder(nil, time.Now())
	defer d.Release()
	for _, raw := range raws {
		if err := d.AppendNode(raw); err != nil {
			return fmt.Errorf("decode the node the service returned: %w", err)
		}
	}
	rec := d.NewBatch()
	defer rec.Release()
	ids := make([]string, 0, len(raws))
	col := rec.Column(0)
	for i := 0; i < int(rec.NumRows()); i++ {
		ids = append(ids, col.ValueStr(i))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.s.DB.Exec(ctx, `DELETE FROM `+engine.Ident(table)+` WHERE id IN `+idList(ids)); err != nil {
		return fmt.Errorf("update %s: %w", table, err)
	}
	if r.ingesters == nil {
		r.ingesters = map[string]*engine.Ingester{}
	}
	in := r.ingesters[table]
	if in == nil {
		var err error
		if in, err = r.s.DB.Ingester(ctx, table, fetch.NodeSchema()); err != nil {
			return err
		}
		r.ingesters[table] = in
	}
	return in.Insert(ctx, rec)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
