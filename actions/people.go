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
// After a change the people are read again from the service: the rows the
// statement changed are written as the service shows them (a merge's
// count, for one) and recorded in changes, and the rest of the table is
// replaced with the service's people.

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
		found, err := queryPeople(ctx, db, q, spec)
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

// queryPeople returns the people query q selects (id, name, cover).
func queryPeople(ctx context.Context, db *engine.DB, q string, args ...any) ([]person, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read people: %w", err)
	}
	defer rows.Close()
	var found []person
	for rows.Next() {
		var x person
		if err := rows.Scan(&x.id, &x.name, &x.cover); err != nil {
			return nil, err
		}
		found = append(found, x)
	}
	return found, rows.Err()
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

// sendOne sends one request for id through guardedSend (verify reads its
// effect back) and returns its outcome: ok, or failed with the reason.
func sendOne(ctx context.Context, r *run, id, req string, send func(ctx context.Context, retry func(context.Context, error) bool) error, verify verifier) Outcome {
	res := guardedSend(context.WithoutCancel(ctx), []string{id}, func(ctx context.Context, _ []string, retry func(context.Context, error) bool) (map[string]error, error) {
		return nil, send(ctx, retry)
	}, verify)
	r.requests.Add(int64(res.requests))
	return res.outcome(id, "", req)
}

// skipOrPlan adds o to the result (EXPLAIN) or journals it.
func (r *run) skipOrPlan(ctx context.Context, explain bool, o Outcome) error {
	if explain {
		r.add(o)
		return nil
	}
	return r.record(ctx, nil, o)
}

// personEdit is one request that changes people on the service (RENAME
// PERSON, MERGE PEOPLE, SET COVER): how it is sent, how its effect is read
// back, and the statement's rows.
type personEdit struct {
	req string
	// ids are the clusters it changes; the first decides the outcome.
	ids []string
	// targets are the journal's targets: the people as the statement
	// names them.
	targets []string
	send    func(ctx context.Context, c *fetch.Client, retry fetch.RetryFunc) error
	// done says whether the service's people show the change.
	done func(ps map[string]fetch.Person) bool
	// rows returns the statement's rows from the request's outcome o.
	rows func(o Outcome) []Outcome
	// set is the column of ids[0] the edit sets to value, and gone the
	// clusters it takes away: the local update (recorded in changes) when
	// the service's people cannot be read back after the change.
	set, value string
	gone       []string
}

// sendPersonEdit journals, sends and reads back e, then writes the
// people it changed as the service shows them (recorded in changes) and
// replaces the rest of the people table with the service's people.
func (x *Actions) sendPersonEdit(ctx context.Context, r *run, c *fetch.Client, e personEdit) (*engine.Result, error) {
	verify := func(ctx context.Context, _ []string) (map[string]bool, error) {
		ps, err := servicePeople(ctx, c)
		if err != nil {
			return nil, err
		}
		return map[string]bool{e.ids[0]: e.done(ps)}, nil
	}
	if err := r.intend(ctx, e.req, e.targets...); err != nil {
		return r.end(false, err, "")
	}
	o := sendOne(ctx, r, e.ids[0], e.req, func(ctx context.Context, retry func(context.Context, error) bool) error {
		return e.send(ctx, c, retry)
	}, verify)
	if o.Status != StatusOK {
		if err := r.record(ctx, nil, e.rows(o)...); err != nil {
			return nil, err
		}
		return r.result(false, ""), nil
	}
	people, err := c.People(context.WithoutCancel(ctx))
	apply := e.local(r.changes)
	if err == nil {
		apply = func(ctx context.Context, tx *sql.Tx) error {
			return mirror.PutPeople(ctx, tx, r.changes, people, e.ids)
		}
	}
	if err := r.record(ctx, apply, e.rows(o)...); err != nil {
		return nil, err
	}
	if err == nil {
		err = mirror.ReplacePeople(context.WithoutCancel(ctx), r.s.DB, people)
	}
	if err != nil {
		return r.result(false, "people could not be read back ("+err.Error()+"): run SYNC PEOPLE"), nil
	}
	return r.result(false, ""), nil
}

// local is the update of the people table from the edit alone, recorded
// in changes with ch.
func (e personEdit) local(ch *mirror.ActionChanges) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		if err := ch.Nodes(ctx, tx, "people", mirror.ChangeRemoved, e.gone); err != nil {
			return err
		}
		if len(e.gone) > 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM people WHERE clusterId IN `+idList(e.gone)); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE people SET `+engine.Ident(e.set)+` = ? WHERE clusterId = ?`, e.value, e.ids[0]); err != nil {
			return err
		}
		return ch.Nodes(ctx, tx, "people", mirror.ChangeChanged, e.ids[:1], e.set)
	}
}

// runRenamePerson runs RENAME PERSON 'name or cluster id' TO 'new'.
func (x *Actions) runRenamePerson(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	spec, name, err := parseRenaming(rest, "the person")
	if err != nil {
		return nil, fmt.Errorf("rename person: %w (RENAME PERSON 'name or cluster id' TO 'new name')", err)
	}
	r, p, err := startPersonRun(ctx, s, "RENAME PERSON", spec, explain)
	if err != nil {
		return nil, err
	}
	if p == nil {
		// A re-run after the rename: the old name is gone, the new one is there.
		if q, found, _ := findPerson(ctx, s.DB, name); found && !explain {
			_ = r.record(ctx, nil, Outcome{ID: q.id, Name: q.name, Status: StatusSkipped, Detail: "already named " + engine.Quote(name), Target: spec})
			return r.result(false, ""), nil
		}
		return nil, fmt.Errorf("rename person: %w", noPerson(spec))
	}
	req := `PUT /cluster/name {"sourceCluster":...,"newName":...}`
	return x.editPerson(ctx, r, explain, onePerson{p: p, spec: spec, req: req, plan: req + " to " + engine.Quote(name),
		already: "already named " + engine.Quote(name), set: "name", value: name, was: p.name,
		is: func(q fetch.Person) bool { return q.Name == name },
		send: func(ctx context.Context, c *fetch.Client, retry fetch.RetryFunc) error {
			return c.RenamePerson(ctx, p.id, name, retry)
		}})
}

// runSetCover runs SET COVER OF PERSON 'name or cluster id' TO 'nodeId'
// (rest starts at OF).
func (x *Actions) runSetCover(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	a0 := engine.NewArgs(rest)
	if !a0.Keyword("OF") || !a0.Keyword("PERSON") {
		return nil, errors.New("set cover: expected OF PERSON after SET COVER (SET COVER OF PERSON 'name or cluster id' TO 'nodeId')")
	}
	spec, node, err := parsePair(a0, "the person", "TO 'nodeId'", "the node id")
	if err != nil {
		return nil, fmt.Errorf("set cover: %w (SET COVER OF PERSON 'name or cluster id' TO 'nodeId')", err)
	}
	r, p, err := startPersonRun(ctx, s, "SET COVER", spec, explain)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("set cover: %w", noPerson(spec))
	}
	req := "PUT /cluster/hero/{clusterId} {\"nodeId\":" + string(mustJSON(node)) + "}"
	return x.editPerson(ctx, r, explain, onePerson{p: p, spec: spec, req: req, plan: req,
		already: "already its cover", set: "coverNodeId", value: node, was: p.cover,
		is: func(q fetch.Person) bool { return q.CoverNodeID == node },
		send: func(ctx context.Context, c *fetch.Client, retry fetch.RetryFunc) error {
			return c.SetPersonCover(ctx, p.id, node, retry)
		}})
}

// startPersonRun starts the run of a people statement and finds the
// person spec names (nil when the people table holds none).
func startPersonRun(ctx context.Context, s *engine.Session, action, spec string, explain bool) (*run, *person, error) {
	r, err := newRun(ctx, s, action, explain)
	if err != nil {
		return nil, nil, err
	}
	p, ok, err := findPerson(ctx, s.DB, spec)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", strings.ToLower(action), err)
	}
	if !ok {
		return r, nil, nil
	}
	return r, &p, nil
}

// onePerson is RENAME PERSON or SET COVER: one request that sets one
// column of one person.
type onePerson struct {
	p    *person
	spec string // the person as the statement names it
	req  string
	plan string // EXPLAIN's detail
	// set is the people column the request sets to value; was is its
	// value in the people table.
	set, value, was string
	already         string // the detail of the row of a person already so
	// is says whether the service shows the person so.
	is   func(fetch.Person) bool
	send func(ctx context.Context, c *fetch.Client, retry fetch.RetryFunc) error
}

// editPerson skips the person when it already is as the statement wants
// (the table's word confirmed by the service), explains, or sends.
func (x *Actions) editPerson(ctx context.Context, r *run, explain bool, e onePerson) (*engine.Result, error) {
	p := e.p
	if e.was == e.value && x.personStill(ctx, r, p.id, e.is) {
		_ = r.skipOrPlan(ctx, explain, Outcome{ID: p.id, Name: p.name, Status: StatusSkipped, Detail: e.already, Target: e.spec})
		return r.result(false, ""), nil
	}
	if explain {
		r.add(Outcome{ID: p.id, Name: p.name, Status: statusPlanned, Detail: e.plan})
		return r.result(false, "would send 1 request; nothing was sent"), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	return x.sendPersonEdit(ctx, r, c, personEdit{req: e.req, ids: []string{p.id}, targets: []string{e.spec}, send: e.send,
		done: func(ps map[string]fetch.Person) bool { return e.is(ps[p.id]) },
		rows: func(o Outcome) []Outcome {
			o.ID, o.Name, o.Target = p.id, p.name, e.spec
			if o.Status == StatusOK && e.set == "name" {
				o.Name = e.value
			}
			return []Outcome{o}
		},
		set: e.set, value: e.value})
}

// mergeReq is the request that merges people.
const mergeReq = `POST /cluster {"clusterIds":[...],"newName":...}`

// merge is a MERGE PEOPLE statement: the people to merge, in the order
// given (the first keeps its cluster id), each with the words that named
// it, and the name they take.
type merge struct {
	people []person
	specOf []string
	name   string
}

// ids are the cluster ids of the people.
func (m *merge) ids() []string {
	ids := make([]string, len(m.people))
	for k, p := range m.people {
		ids[k] = p.id
	}
	return ids
}

// parseMerge reads MERGE PEOPLE's arguments: 'a', 'b' [, ...] INTO 'name'.
func parseMerge(rest string) (specs []string, name string, err error) {
	a0 := engine.NewArgs(rest)
	for {
		sp, err := a0.String()
		if err != nil {
			return nil, "", err
		}
		specs = append(specs, sp)
		if !a0.Punct(',') {
			break
		}
	}
	if !a0.Keyword("INTO") {
		return nil, "", errors.New("expected INTO 'name' after the people")
	}
	if name, err = a0.String(); err != nil {
		return nil, "", err
	}
	switch {
	case !a0.Done():
		return nil, "", fmt.Errorf("unexpected %q at the end", clip(a0.Rest(), 20))
	case len(specs) < 2:
		return nil, "", errors.New("name at least two people to merge")
	case strings.TrimSpace(name) == "":
		return nil, "", errors.New("the name after INTO is empty")
	}
	return specs, name, nil
}

// runMergePeople runs MERGE PEOPLE 'a', 'b' [, ...] INTO 'name': the first
// person keeps its cluster id and takes the others' photos and the name.
func (x *Actions) runMergePeople(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	specs, name, err := parseMerge(rest)
	if err != nil {
		return nil, fmt.Errorf("merge people: %w (MERGE PEOPLE 'a', 'b' [, ...] INTO 'name')", err)
	}
	r, err := newRun(ctx, s, "MERGE PEOPLE", explain)
	if err != nil {
		return nil, err
	}
	m := &merge{name: name}
	if err := m.find(ctx, r, specs, explain); err != nil {
		return nil, err
	}
	if len(m.people) < 2 {
		return m.nothingToMerge(ctx, r, explain)
	}
	if explain {
		return m.explain(r), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	if stop, err := m.mergedElsewhere(ctx, r, c); stop != nil || err != nil {
		return stop, err
	}
	into := m.people[0]
	ids := m.ids()
	return x.sendPersonEdit(ctx, r, c, personEdit{req: mergeReq, ids: ids, targets: m.specOf,
		send: func(ctx context.Context, c *fetch.Client, retry fetch.RetryFunc) error {
			return c.MergePeople(ctx, ids, name, retry)
		},
		done: func(ps map[string]fetch.Person) bool {
			for _, id := range ids[1:] {
				if _, stands := ps[id]; stands {
					return false
				}
			}
			return ps[into.id].Name == name
		},
		rows: m.rows, set: "name", value: name, gone: ids[1:]})
}

// find looks up the people specs name; one not in the people table that
// an earlier run of the statement merged is skipped, one named twice
// counts once.
func (m *merge) find(ctx context.Context, r *run, specs []string, explain bool) error {
	seen := map[string]bool{}
	for _, sp := range specs {
		p, ok, err := findPerson(ctx, r.s.DB, sp)
		if err != nil {
			return fmt.Errorf("merge people: %w", err)
		}
		if !ok {
			// Merged away by an earlier run of this statement?
			var detail string
			qerr := r.s.DB.QueryRow(ctx, `SELECT detail FROM actions_log WHERE action = 'MERGE PEOPLE' AND target = ? AND status = 'ok' ORDER BY seq DESC LIMIT 1`, sp).Scan(&detail)
			switch {
			case errors.Is(qerr, sql.ErrNoRows):
				return fmt.Errorf("merge people: %w", noPerson(sp))
			case qerr != nil:
				return fmt.Errorf("merge people: read actions_log: %w", qerr)
			}
			if err := r.skipOrPlan(ctx, explain, Outcome{Name: sp, Status: StatusSkipped, Detail: "merged by an earlier run: " + detail, Target: sp}); err != nil {
				return err
			}
			continue
		}
		if !seen[p.id] {
			seen[p.id] = true
			m.people = append(m.people, p)
			m.specOf = append(m.specOf, sp)
		}
	}
	return nil
}

// nothingToMerge skips the one person left (or none).
func (m *merge) nothingToMerge(ctx context.Context, r *run, explain bool) (*engine.Result, error) {
	for k, p := range m.people {
		d := "nothing left to merge it with"
		if p.name != m.name {
			d += "; name it with RENAME PERSON"
		}
		if err := r.skipOrPlan(ctx, explain, Outcome{ID: p.id, Name: p.name, Status: StatusSkipped, Detail: d, Target: m.specOf[k]}); err != nil {
			return nil, err
		}
	}
	return r.result(false, ""), nil
}

// explain adds the plan's rows.
func (m *merge) explain(r *run) *engine.Result {
	into := m.people[0]
	for k, p := range m.people {
		d := fmt.Sprintf("%s: keeps its cluster id, named %s, with the photos of %d others", mergeReq, engine.Quote(m.name), len(m.people)-1)
		if k > 0 {
			d = mergeReq + ": merged into " + into.id
		}
		r.add(Outcome{ID: p.id, Name: p.name, Status: statusPlanned, Detail: d})
	}
	return r.result(false, "would send 1 request; nothing was sent")
}

// mergedElsewhere reads the service's people right before the merge: a
// person merged (or removed) elsewhere since the last SYNC PEOPLE would
// make the merge mean something else, so nothing is sent and every row
// fails, saying which; the people table then follows the service. When
// the people cannot be read, the table's word stands.
func (m *merge) mergedElsewhere(ctx context.Context, r *run, c *fetch.Client) (*engine.Result, error) {
	r.requests.Add(1)
	list, err := c.People(ctx)
	if err != nil {
		return nil, nil
	}
	standing := make(map[string]bool, len(list))
	for _, p := range list {
		standing[p.ClusterID] = true
	}
	var gone []string
	for _, p := range m.people {
		if !standing[p.id] {
			gone = append(gone, p.id)
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	why := fmt.Sprintf("not sent: %s no longer on the service (merged or removed elsewhere since the last SYNC PEOPLE); check SELECT clusterId, name FROM people, then run the statement again",
		strings.Join(gone, ", ")+plural(int64(len(gone)), " is", " are"))
	outs := make([]Outcome, len(m.people))
	for k, p := range m.people {
		outs[k] = Outcome{ID: p.id, Name: p.name, Status: StatusFailed, Reason: ReasonNotSent, Detail: why, Target: m.specOf[k]}
	}
	if err := r.record(ctx, nil, outs...); err != nil {
		return nil, err
	}
	extra := ""
	if err := mirror.ReplacePeople(context.WithoutCancel(ctx), r.s.DB, list); err != nil {
		extra = "people could not be read back (" + err.Error() + "): run SYNC PEOPLE"
	}
	return r.result(false, extra), nil
}

// rows are the statement's rows from the merge's outcome o: the kept
// person, and each merged into it.
func (m *merge) rows(o Outcome) []Outcome {
	into := m.people[0]
	outs := make([]Outcome, len(m.people))
	for k, p := range m.people {
		outs[k] = o
		outs[k].ID, outs[k].Name, outs[k].Target = p.id, p.name, m.specOf[k]
		switch {
		case o.Status != StatusOK:
		case k == 0:
			outs[k].Name = m.name
			outs[k].Detail += fmt.Sprintf(": kept, now named %s, with the photos of %d others", engine.Quote(m.name), len(m.people)-1)
		default:
			outs[k].Detail += ": merged into " + into.id + " (" + engine.Quote(m.name) + ")"
		}
	}
	return outs
}
