package actions

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/model"
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

// done reports whether the service shows node n as the setting wants it.
func (st setting) done(n *remoteNode) bool {
	if st.key == "hidden" {
		return n.Settings.Hidden == st.value
	}
	return n.Settings.Favorite == st.value
}

func (st setting) req() string {
	return fmt.Sprintf(`PATCH /nodes/{id} {"settings":{"%s":%t}}`, st.key, st.value)
}

// apply sets the setting of ids in the mirror and records the change in
// ch (the statement's change log). The rows the service answered were
// written first, in the same transaction (storeRows): the update then
// changes nothing more, and the next SYNC finds the rows as the service
// has them.
func (st setting) apply(ch *mirror.ActionChanges) func(ids []string) func(context.Context, *sql.Tx) error {
	return func(ids []string) func(context.Context, *sql.Tx) error {
		if len(ids) == 0 {
			return nil
		}
		q := fmt.Sprintf(`UPDATE nodes SET %s = %t WHERE id IN %s`, engine.Ident(st.key), st.value, idList(ids))
		return func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
			return ch.Nodes(ctx, tx, "nodes", mirror.ChangeChanged, ids, st.key)
		}
	}
}

// settingSpec is st on the pipeline: a PATCH per node, x.workers at once;
// the node the service answers (or shows when read back, an earlier run's
// request confirmed too) replaces the mirror's row.
func (x *Actions) settingSpec(st setting) func(r *run, a api) (batchSpec, error) {
	return func(r *run, a api) (batchSpec, error) {
		value := st.value
		body := fetch.NodePatch{Favorite: &value}
		if st.key == "hidden" {
			body = fetch.NodePatch{Hidden: &value}
		}
		ans := &answered{}
		send := ans.sender(func(ctx context.Context, id string, retry fetch.RetryFunc) (*fetch.Node, error) {
			return a.c.PatchNode(ctx, id, body, retry)
		})
		store := ans.storeRows(func(string) string { return "nodes" })
		return batchSpec{req: st.req(), per: 1, workers: x.workers, progress: lower(st.action),
			send: send, verify: ans.verifier(a, st.done), apply: st.apply(r.changes),
			follow: store, settled: store}, nil
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
	var todo, already []item
	for _, it := range items {
		switch {
		case r.notSettable(it):
		case st.current(it) == st.value:
			already = append(already, it)
		default:
			todo = append(todo, it)
		}
	}
	more, err := x.recheckAlready(ctx, r, explain, already, "already "+st.state, st.done)
	if err != nil {
		return nil, err
	}
	todo = append(todo, more...)
	if explain {
		req := st.req()
		for _, it := range todo {
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: statusPlanned, Detail: req})
		}
		return r.result(false, r.s.Say("would send %v %s (%s); nothing was sent",
			model.Count(len(todo)), plural(int64(len(todo)), "request", "requests"), req)), nil
	}
	return x.sendAll(ctx, r, todo, x.settingSpec(st))
}

// notSettable adds the row of an item that a node setting (FAVORITE, the
// Family Vault, ...) cannot change, and reports whether it did: one the
// mirror does not hold, or one in the trash.
func (r *run) notSettable(it item) bool {
	switch {
	case !it.known():
		r.add(Outcome{ID: it.ID, Status: StatusFailed, Detail: "not in the local mirror: run SYNC, then run the statement again"})
	case !it.InNodes:
		r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "in trash: RESTORE it first"})
	default:
		return false
	}
	return true
}

// recheckAlready reads back the items the mirror says are already as the
// statement wants them (changed on another device since the last SYNC?):
// those the service shows done are skipped with detail, the others are
// returned to be sent after all.
func (x *Actions) recheckAlready(ctx context.Context, r *run, explain bool, already []item, detail string, done func(n *remoteNode) bool) ([]item, error) {
	if len(already) == 0 {
		return nil, nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	send, rows := recheck(ctx, api{c}, already, detail, func(n remoteNode) bool { return done(&n) })
	r.requests.Add(int64(len(already)))
	return send, r.addChecked(ctx, explain, rows)
}

// nodeBatch is nodes decoded for the nodes table (or trash): one Arrow
// batch and its ids.
type nodeBatch struct {
	rec arrow.RecordBatch
	ids []string
}

func (b *nodeBatch) release() { b.rec.Release() }

// decodeNodes decodes nodes (JSON objects as the service sent them) into
// one batch for the nodes table; raws must not be empty.
func decodeNodes(raws [][]byte) (*nodeBatch, error) {
	d := fetch.NewNodeDecoder(nil, time.Now())
	defer d.Release()
	for _, raw := range raws {
		if err := d.AppendNode(raw); err != nil {
			return nil, fmt.Errorf("decode the node the service returned: %w", err)
		}
	}
	b := &nodeBatch{rec: d.NewBatch()}
	col := b.rec.Column(0)
	b.ids = make([]string, 0, b.rec.NumRows())
	for i := 0; i < int(b.rec.NumRows()); i++ {
		b.ids = append(b.ids, col.ValueStr(i))
	}
	return b, nil
}

// putNodes puts b into table, replacing rows with the same id; r.mu is
// held, as every database write of a run does. exec runs the DELETE: in
// a caller's transaction (tx.ExecContext), the Arrow insert, on the
// session's one connection, joins it too. Every put goes into the
// transaction that journals it (run.recordPut, run.recordEntries) or
// records it in changes, never into one of its own.
func (r *run) putNodes(ctx context.Context, exec func(ctx context.Context, query string, args ...any) (sql.Result, error), table string, b *nodeBatch) error {
	if _, err := exec(ctx, `DELETE FROM `+engine.Ident(table)+` WHERE id IN `+idList(b.ids)); err != nil {
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
	return in.Insert(ctx, b.rec)
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
