package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

// People statements (API.md §1.3 #27–#29; the seed's rename_cluster,
// combine_clusters and update_cluster_thumbnail). A person is named by
// cluster id or by name, as the people table holds them (SYNC PEOPLE).
// After a change the people table is read again from the service, so it
// shows what the service made of it (a merge's count, for one).

// person is one row of the people table.
type person struct {
	id, name, cover string
}

// findPerson looks spec up in people: a cluster id, else a name (exact,
// then ignoring case). ok is false when nothing matches; several people of
// one name are an error naming their ids.
func findPerson(ctx context.Context, db *engine.DB, spec string) (p person, ok bool, err error) {
	for _, q := range []string{
		`SELECT clusterId, coalesce(name, ''), coalesce(coverNodeId, '') FROM people WHERE clusterId = ?`,
		`SELECT clusterId, coalesce(name, ''), coalesce(coverNodeId, '') FROM people WHERE name = ? ORDER BY clusterId`,
		`SELECT clusterId, coalesce(name, ''), coalesce(coverNodeId, '') FROM people WHERE lower(name) = lower(?) ORDER BY clusterId`,
	} {
		rows, err := db.Query(ctx, q, spec)
		if err != nil {
			return p, false, fmt.Errorf("read people: %w", err)
		}
		var found []person
		for rows.Next() {
			var x person
			if err := rows.Scan(&x.id, &x.name, &x.cover); err != nil {
				rows.Close()
				return p, false, err
			}
			found = append(found, x)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return p, false, err
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], true, nil
		}
		ids := make([]string, len(found))
		for i, x := range found {
			ids[i] = x.id
		}
		return p, false, fmt.Errorf("%d people are named %s (%s): name the person by cluster id", len(found), engine.Quote(spec), strings.Join(ids, ", "))
	}
	return p, false, nil
}

// noPerson is the error for a person the people table does not hold.
func noPerson(spec string) error {
	return fmt.Errorf("no person %s in the people table (by cluster id or name): run SYNC PEOPLE, and check with SELECT clusterId, name FROM people", engine.Quote(spec))
}

// servicePeople reads the people from the service, by cluster id.
func servicePeople(ctx context.Context, c *fetch.Client) (map[string]fetch.Person, error) {
	ps, err := c.People(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]fetch.Person, len(ps))
	for _, p := range ps {
		out[p.ClusterID] = p
	}
	return out, nil
}

// refreshPeople reads the people table again from the service after a
// change; when that fails the summary says so (the local update made in
// the journal's transaction stands).
func refreshPeople(ctx context.Context, s *engine.Session, c *fetch.Client) string {
	if err := mirror.RefreshPeople(context.WithoutCancel(ctx), s.DB, c); err != nil {
		return "people could not be read back (" + err.Error() + "): run SYNC PEOPLE"
	}
	return ""
}

// personStill reports whether the service confirms what the people table
// says of cluster id (ok), before a statement skips it as done: the table
// may be stale (renamed on another device). When the service cannot be
// read, or does not have the person, the table's word stands.
func (x *Actions) personStill(ctx context.Context, r *run, id string, ok func(fetch.Person) bool) bool {
	c, err := x.client(ctx)
	if err != nil {
		return true
	}
	r.requests.Add(1)
	ps, err := servicePeople(ctx, c)
	if err != nil {
		return true
	}
	q, found := ps[id]
	return !found || ok(q)
}

// refreshPeopleAfter reads the people table again after an action that
// changed which photos are available (TRASH, RESTORE, PURGE): the service
// counts a person's available photos, and may pick another cover. It
// does nothing when nothing was done or the table is empty (never
// SYNCed); it returns a note for the summary when the read failed.
func refreshPeopleAfter(ctx context.Context, r *run, c *fetch.Client) string {
	if r.count(StatusOK) == 0 {
		return ""
	}
	var n int
	if err := r.s.DB.QueryRow(context.WithoutCancel(ctx), `SELECT count(*) FROM people`).Scan(&n); err != nil || n == 0 {
		return ""
	}
	r.requests.Add(1)
	return refreshPeople(ctx, r.s, c)
}

// sendOne sends one person request through guardedSend (verify reads the
// people back) and returns its outcome detail and whether it is done.
func sendOne(ctx context.Context, r *run, id, req string, send func(ctx context.Context, retry func(context.Context, error) bool) error, verify verifier) (string, bool) {
	res := guardedSend(context.WithoutCancel(ctx), []string{id}, func(ctx context.Context, _ []string, retry func(context.Context, error) bool) (map[string]error, error) {
		return nil, send(ctx, retry)
	}, verify)
	r.requests.Add(int64(res.requests))
	if d, ok := res.ok[id]; ok {
		return joinDetail(req, d), true
	}
	if d, ok := res.gone[id]; ok {
		return joinDetail(req, d), false
	}
	return joinDetail(req, res.failed[id]), false
}

// runRenamePerson runs RENAME PERSON 'name or cluster id' TO 'new'.
func (x *Actions) runRenamePerson(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	spec, name, err := parseRenaming(rest, "the person")
	if err != nil {
		return nil, fmt.Errorf("rename person: %w (RENAME PERSON 'name or cluster id' TO 'new name')", err)
	}
	r, err := newRun(ctx, s, "RENAME PERSON", explain)
	if err != nil {
		return nil, err
	}
	p, ok, err := findPerson(ctx, s.DB, spec)
	if err != nil {
		return nil, fmt.Errorf("rename person: %w", err)
	}
	if !ok {
		// A re-run after the rename: the old name is gone, the new one is there.
		if q, found, _ := findPerson(ctx, s.DB, name); found && !explain {
			_ = r.record(ctx, nil, Outcome{ID: q.id, Name: q.name, Status: StatusSkipped, Detail: "already named " + engine.Quote(name), Target: spec})
			return r.result(false, ""), nil
		}
		return nil, fmt.Errorf("rename person: %w", noPerson(spec))
	}
	req := `PUT /cluster/name {"sourceCluster":...,"newName":...}`
	if p.name == name && x.personStill(ctx, r, p.id, func(q fetch.Person) bool { return q.Name == name }) {
		o := Outcome{ID: p.id, Name: p.name, Status: StatusSkipped, Detail: "already named " + engine.Quote(name), Target: spec}
		if explain {
			r.add(o)
		} else {
			_ = r.record(ctx, nil, o)
		}
		return r.result(false, ""), nil
	}
	if explain {
		r.add(Outcome{ID: p.id, Name: p.name, Status: statusPlanned, Detail: req + " to " + engine.Quote(name)})
		return r.result(false, "would send 1 request; nothing was sent"), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	verify := func(ctx context.Context, ids []string) (map[string]bool, error) {
		ps, err := servicePeople(ctx, c)
		if err != nil {
			return nil, err
		}
		return map[string]bool{p.id: ps[p.id].Name == name}, nil
	}
	if err := r.intend(ctx, req, spec); err != nil {
		return r.end(false, err, "")
	}
	detail, done := sendOne(ctx, r, p.id, req, func(ctx context.Context, retry func(context.Context, error) bool) error {
		return c.RenamePerson(ctx, p.id, name, retry)
	}, verify)
	o := Outcome{ID: p.id, Name: p.name, Status: StatusFailed, Detail: detail, Target: spec}
	var apply func(context.Context, *sql.Tx) error
	if done {
		o.Status, o.Name = StatusOK, name
		apply = func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE people SET name = ? WHERE clusterId = ?`, name, p.id)
			return err
		}
	}
	if err := r.record(ctx, apply, o); err != nil {
		return nil, err
	}
	extra := ""
	if done {
		extra = refreshPeople(ctx, s, c)
	}
	return r.result(false, extra), nil
}

// runMergePeople runs MERGE PEOPLE 'a', 'b' [, ...] INTO 'name': the first
// person keeps its cluster id and takes the others' photos and the name.
func (x *Actions) runMergePeople(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	a0 := engine.NewArgs(rest)
	var specs []string
	var err error
	for {
		var sp string
		if sp, err = a0.String(); err != nil {
			break
		}
		specs = append(specs, sp)
		if !a0.Punct(',') {
			break
		}
	}
	if err == nil && !a0.Keyword("INTO") {
		err = errors.New("expected INTO 'name' after the people")
	}
	var name string
	if err == nil {
		name, err = a0.String()
	}
	if err == nil && !a0.Done() {
		err = fmt.Errorf("unexpected %q at the end", clip(a0.Rest(), 20))
	}
	if err == nil && len(specs) < 2 {
		err = errors.New("name at least two people to merge")
	}
	if err == nil && strings.TrimSpace(name) == "" {
		err = errors.New("the name after INTO is empty")
	}
	if err != nil {
		return nil, fmt.Errorf("merge people: %w (MERGE PEOPLE 'a', 'b' [, ...] INTO 'name')", err)
	}
	r, err := newRun(ctx, s, "MERGE PEOPLE", explain)
	if err != nil {
		return nil, err
	}
	var people []person
	var specOf []string
	seen := map[string]bool{}
	for _, sp := range specs {
		p, ok, err := findPerson(ctx, s.DB, sp)
		if err != nil {
			return nil, fmt.Errorf("merge people: %w", err)
		}
		if !ok {
			// Merged away by an earlier run of this statement?
			var detail string
			qerr := s.DB.QueryRow(ctx, `SELECT detail FROM actions_log WHERE action = 'MERGE PEOPLE' AND target = ? AND status = 'ok' ORDER BY seq DESC LIMIT 1`, sp).Scan(&detail)
			if qerr != nil {
				return nil, fmt.Errorf("merge people: %w", noPerson(sp))
			}
			o := Outcome{Name: sp, Status: StatusSkipped, Detail: "merged by an earlier run: " + detail, Target: sp}
			if explain {
				r.add(o)
			} else if err := r.record(ctx, nil, o); err != nil {
				return nil, err
			}
			continue
		}
		if !seen[p.id] {
			seen[p.id] = true
			people = append(people, p)
			specOf = append(specOf, sp)
		}
	}
	req := `POST /cluster {"clusterIds":[...],"newName":...}`
	if len(people) < 2 {
		for k, p := range people {
			d := "nothing left to merge it with"
			if p.name != name {
				d += "; name it with RENAME PERSON"
			}
			o := Outcome{ID: p.id, Name: p.name, Status: StatusSkipped, Detail: d, Target: specOf[k]}
			if explain {
				r.add(o)
			} else if err := r.record(ctx, nil, o); err != nil {
				return nil, err
			}
		}
		return r.result(false, ""), nil
	}
	into := people[0]
	if explain {
		for k, p := range people {
			d := fmt.Sprintf("%s: keeps its cluster id, named %s, with the photos of %d others", req, engine.Quote(name), len(people)-1)
			if k > 0 {
				d = req + ": merged into " + into.id
			}
			r.add(Outcome{ID: p.id, Name: p.name, Status: statusPlanned, Detail: d})
		}
		return r.result(false, "would send 1 request; nothing was sent"), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(people))
	for k, p := range people {
		ids[k] = p.id
	}
	verify := func(ctx context.Context, _ []string) (map[string]bool, error) {
		ps, err := servicePeople(ctx, c)
		if err != nil {
			return nil, err
		}
		done := ps[into.id].Name == name
		for _, id := range ids[1:] {
			if _, stands := ps[id]; stands {
				done = false
			}
		}
		return map[string]bool{into.id: done}, nil
	}
	if err := r.intend(ctx, req, specOf...); err != nil {
		return r.end(false, err, "")
	}
	detail, done := sendOne(ctx, r, into.id, req, func(ctx context.Context, retry func(context.Context, error) bool) error {
		return c.MergePeople(ctx, ids, name, retry)
	}, verify)
	outs := make([]Outcome, len(people))
	for k, p := range people {
		outs[k] = Outcome{ID: p.id, Name: p.name, Status: StatusFailed, Detail: detail, Target: specOf[k]}
		if done {
			outs[k].Status = StatusOK
			if k == 0 {
				outs[k].Name, outs[k].Detail = name, detail+fmt.Sprintf(": kept, now named %s, with the photos of %d others", engine.Quote(name), len(people)-1)
			} else {
				outs[k].Detail = detail + ": merged into " + into.id + " (" + engine.Quote(name) + ")"
			}
		}
	}
	var apply func(context.Context, *sql.Tx) error
	if done {
		apply = func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE people SET name = ? WHERE clusterId = ?`, name, into.id); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM people WHERE clusterId IN `+idList(ids[1:]))
			return err
		}
	}
	if err := r.record(ctx, apply, outs...); err != nil {
		return nil, err
	}
	extra := ""
	if done {
		extra = refreshPeople(ctx, s, c)
	}
	return r.result(false, extra), nil
}

// runSetCover runs SET COVER OF PERSON 'name or cluster id' TO 'nodeId'
// (rest starts at OF).
func (x *Actions) runSetCover(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	a0 := engine.NewArgs(rest)
	var spec, node string
	var err error
	if !a0.Keyword("OF") || !a0.Keyword("PERSON") {
		err = errors.New("expected OF PERSON after SET COVER")
	}
	if err == nil {
		spec, err = a0.String()
	}
	if err == nil && !a0.Keyword("TO") {
		err = errors.New("expected TO 'nodeId' after the person")
	}
	if err == nil {
		node, err = a0.String()
	}
	if err == nil && !a0.Done() {
		err = fmt.Errorf("unexpected %q at the end", clip(a0.Rest(), 20))
	}
	if err == nil && strings.TrimSpace(node) == "" {
		err = errors.New("the node id is empty")
	}
	if err != nil {
		return nil, fmt.Errorf("set cover: %w (SET COVER OF PERSON 'name or cluster id' TO 'nodeId')", err)
	}
	r, err := newRun(ctx, s, "SET COVER", explain)
	if err != nil {
		return nil, err
	}
	p, ok, err := findPerson(ctx, s.DB, spec)
	if err != nil {
		return nil, fmt.Errorf("set cover: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("set cover: %w", noPerson(spec))
	}
	req := "PUT /cluster/hero/{clusterId} {\"nodeId\":" + string(mustJSON(node)) + "}"
	if p.cover == node && x.personStill(ctx, r, p.id, func(q fetch.Person) bool { return q.CoverNodeID == node }) {
		o := Outcome{ID: p.id, Name: p.name, Status: StatusSkipped, Detail: "already its cover", Target: spec}
		if explain {
			r.add(o)
		} else {
			_ = r.record(ctx, nil, o)
		}
		return r.result(false, ""), nil
	}
	if explain {
		r.add(Outcome{ID: p.id, Name: p.name, Status: statusPlanned, Detail: req})
		return r.result(false, "would send 1 request; nothing was sent"), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	verify := func(ctx context.Context, _ []string) (map[string]bool, error) {
		ps, err := servicePeople(ctx, c)
		if err != nil {
			return nil, err
		}
		return map[string]bool{p.id: ps[p.id].CoverNodeID == node}, nil
	}
	if err := r.intend(ctx, req, spec); err != nil {
		return r.end(false, err, "")
	}
	detail, done := sendOne(ctx, r, p.id, req, func(ctx context.Context, retry func(context.Context, error) bool) error {
		return c.SetPersonCover(ctx, p.id, node, retry)
	}, verify)
	o := Outcome{ID: p.id, Name: p.name, Status: StatusFailed, Detail: detail, Target: spec}
	var apply func(context.Context, *sql.Tx) error
	if done {
		o.Status = StatusOK
		apply = func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE people SET coverNodeId = ? WHERE clusterId = ?`, node, p.id)
			return err
		}
	}
	if err := r.record(ctx, apply, o); err != nil {
		return nil, err
	}
	extra := ""
	if done {
		extra = refreshPeople(ctx, s, c)
	}
	return r.result(false, extra), nil
}
