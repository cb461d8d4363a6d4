package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/apsql/apsql/output"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

// findAlbum returns the id of the album named name in the local albums
// table (SYNC ALBUMS); "" when there is none.
func findAlbum(ctx context.Context, db *engine.DB, name string) (string, error) {
	rows, err := db.Query(ctx, `SELECT id FROM albums WHERE name = ? ORDER BY id`, name)
	if err != nil {
		return "", fmt.Errorf("find album %s: %w", engine.Quote(name), err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", nil
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%d albums are named %s (%s): album statements need a unique name; rename the others (RENAME 'id' TO 'new name'), then SYNC ALBUMS",
		len(ids), engine.Quote(name), strings.Join(ids, ", "))
}

// albumByName returns the id of the album an ALBUM 'name' target names;
// an album the albums table does not hold is an error naming SYNC ALBUMS.
func albumByName(ctx context.Context, db *engine.DB, name string) (string, error) {
	id, err := findAlbum(ctx, db, name)
	if err == nil && id == "" {
		err = fmt.Errorf("ALBUM %s: no album of that name in the albums table; run SYNC ALBUMS (or SYNC) to mirror the albums, and check the name with SELECT name FROM albums", engine.Quote(name))
	}
	return id, err
}

// putAlbum returns the local update for an album node as the service sent
// it (decoded once, by fetch): its albums row replaced (members: its count
// of members; -1 keeps the count the row had, 0 for a new row).
func putAlbum(n *fetch.Node, members int64) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		if n == nil || n.ID == "" {
			return fmt.Errorf("the album the service sent has no id: %s", clip(string(raw(n)), 80))
		}
		count := any(members)
		if members < 0 {
			count = nil
		}
		v := mirror.AlbumRow(n, 0)
		_, err := tx.ExecContext(ctx, `INSERT INTO albums VALUES (?, ?, ?, ?, coalesce(?, (SELECT count FROM albums WHERE id = ?), 0), ?, CAST(? AS JSON))
ON CONFLICT (id) DO UPDATE SET name = excluded.name, createdDate = excluded.createdDate, modifiedDate = excluded.modifiedDate,
  count = excluded.count, coverNodeId = excluded.coverNodeId, raw = excluded.raw`,
			v[0], v[1], v[2], v[3], count, n.ID, v[5], string(n.Raw))
		return err
	}
}

// remoteAlbum looks an album up by name on the service (GET /nodes with a
// node filter), to learn whether a create of unknown outcome happened.
func (a api) remoteAlbum(ctx context.Context, name string) (*fetch.Node, error) {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name)
	page, err := a.c.NodesPage(ctx, fetch.NodeQuery{Filter: `kind:VISUAL_COLLECTION AND name:"` + esc + `"`, Limit: 10})
	if err != nil {
		return nil, err
	}
	for i, n := range page.Nodes {
		if n.Name == name && n.Status == "AVAILABLE" {
			return &page.Nodes[i], nil
		}
	}
	return nil, nil
}

// runCreateAlbum runs CREATE ALBUM 'name' [FROM target].
func (x *Actions) runCreateAlbum(ctx context.Context, s *engine.Session, stmt *engine.Statement, explain bool) (*engine.Result, error) {
	a0 := stmt.Args()
	name, err := a0.String()
	if err != nil {
		return nil, fmt.Errorf("create album: %w (CREATE ALBUM 'name' [FROM target])", err)
	}
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("create album: the name is empty; give the album a name")
	}
	var st *statement
	if a0.Keyword("FROM") {
		p, err := parseStatementArgs(a0, false, nil)
		if err != nil {
			return nil, fmt.Errorf("create album: %w", err)
		}
		st = &p
	} else if !a0.Done() {
		return nil, fmt.Errorf("create album: unexpected %q after the name; write CREATE ALBUM 'name' [FROM target]", clip(a0.Rest(), 20))
	}
	if _, ok := a0.IDs(); ok {
		return nil, fmt.Errorf("create album: ids given without FROM: %w", engine.ErrNoIDTarget)
	}
	var items []item
	if st != nil {
		if items, err = resolve(ctx, s.DB, st.target, "nodes"); err != nil {
			return nil, fmt.Errorf("create album: %w", err)
		}
	}
	r, err := newRun(ctx, s, "CREATE ALBUM", explain)
	if err != nil {
		return nil, err
	}
	album, err := findAlbum(ctx, s.DB, name)
	if err != nil {
		return nil, err
	}
	if explain {
		if album != "" {
			r.add(Outcome{ID: album, Name: name, Status: StatusSkipped, Detail: "album exists; not created again"})
		} else {
			r.add(Outcome{Name: name, Status: statusPlanned, Detail: `POST /nodes {"kind":"VISUAL_COLLECTION"}`})
		}
		if st == nil {
			return r.result(false, "nothing was sent"), nil
		}
		return x.albumMembers(ctx, s, r, album, name, "add", items, true)
	}
	if album != "" {
		_ = r.record(ctx, nil, Outcome{ID: album, Name: name, Status: StatusSkipped, Detail: "album exists; not created again", Target: album})
	} else {
		c, err := x.client(ctx)
		if err != nil {
			return nil, err
		}
		a := api{c}
		// Not in the mirror is not proof: the album may come from another
		// device, or from an earlier run whose answer was lost.
		found, verr := a.remoteAlbum(ctx, name)
		if verr != nil {
			return nil, fmt.Errorf("create album: could not check whether %s already exists on the service: %w; nothing was sent", engine.Quote(name), verr)
		}
		if found != nil {
			if found.ID == "" {
				return nil, fmt.Errorf("create album: the service lists %s without an id: %s", engine.Quote(name), clip(string(found.Raw), 80))
			}
			album = found.ID
			_ = r.record(ctx, putAlbum(found, -1), Outcome{ID: album, Name: name, Status: StatusSkipped, Detail: "album exists on the service (not yet in the mirror); not created again", Target: album})
		}
	}
	if album == "" {
		c, err := x.client(ctx)
		if err != nil {
			return nil, err
		}
		a := api{c}
		var found *fetch.Node
		var verr error
		retry := func(ctx context.Context, err error) bool {
			if refusedForSure(err) {
				return true
			}
			found, verr = a.remoteAlbum(ctx, name)
			return verr == nil && found == nil
		}
		if err := r.intend(ctx, `POST /nodes {"kind":"VISUAL_COLLECTION"}`, name); err != nil {
			return r.end(false, err, "")
		}
		r.requests.Add(1)
		node, err := a.createAlbum(context.WithoutCancel(ctx), name, retry)
		if err != nil && found == nil && verr == nil && !refusedForSure(err) {
			// Retries ran out, or the error was not retried: read back
			// once more before saying anything.
			found, verr = a.remoteAlbum(context.WithoutCancel(ctx), name)
		}
		detail := `POST /nodes {"kind":"VISUAL_COLLECTION"}`
		if err != nil && found != nil {
			node, detail = found, detail+": confirmed by reading the album back after: "+err.Error()
			err = nil
		}
		if err != nil {
			if verr != nil {
				detail += ": " + unknownOutcome + ": " + err.Error() + "; reading it back failed too: " + verr.Error()
			} else {
				detail += ": " + err.Error()
			}
			_ = r.record(ctx, nil, Outcome{Name: name, Status: StatusFailed, Detail: detail, Target: name})
			return r.result(false, "the album was not created"), nil
		}
		if node == nil || node.ID == "" {
			return nil, fmt.Errorf("create album: the service answered without an album id: %s", clip(string(raw(node)), 80))
		}
		album = node.ID
		if err := r.record(ctx, putAlbum(node, -1), Outcome{ID: album, Name: name, Status: StatusOK, Detail: detail}); err != nil {
			return nil, err
		}
	}
	if st == nil {
		return r.result(false, ""), nil
	}
	return x.albumMembers(ctx, s, r, album, name, "add", items, false)
}

// runAlbum runs ALBUM 'name' ADD target and ALBUM 'name' REMOVE target.
func (x *Actions) runAlbum(ctx context.Context, s *engine.Session, stmt *engine.Statement, explain bool) (*engine.Result, error) {
	a0 := stmt.Args()
	name, err := a0.String()
	if err != nil {
		return nil, fmt.Errorf("album: %w (ALBUM 'name' ADD target or ALBUM 'name' REMOVE target)", err)
	}
	op := ""
	switch {
	case a0.Keyword("ADD"):
		op = "add"
	case a0.Keyword("REMOVE"):
		op = "remove"
	default:
		return nil, fmt.Errorf("album %s: expected ADD or REMOVE after the name", engine.Quote(name))
	}
	st, err := parseStatementArgs(a0, false, nil)
	if err != nil {
		return nil, fmt.Errorf("album %s %s: %w", engine.Quote(name), strings.ToUpper(op), err)
	}
	album, err := findAlbum(ctx, s.DB, name)
	if err != nil {
		return nil, err
	}
	if album == "" {
		return nil, fmt.Errorf("album %s: no such album in the albums table; run SYNC ALBUMS, or CREATE ALBUM %s first", engine.Quote(name), engine.Quote(name))
	}
	items, err := resolve(ctx, s.DB, st.target, "nodes")
	if err != nil {
		return nil, fmt.Errorf("album %s: %w", engine.Quote(name), err)
	}
	r, err := newRun(ctx, s, "ALBUM "+strings.ToUpper(op), explain)
	if err != nil {
		return nil, err
	}
	r.orderBy(items)
	return x.albumMembers(ctx, s, r, album, name, op, items, explain)
}

// albumMembers adds items to album (or removes them): members already in
// (or not in) the album are skipped, as read from the service; batches of
// 50 go one after the other, since the service refuses concurrent edits of
// one node ("Concurrent Access on same node", API.md §1.6). album is "" in
// an EXPLAIN of an album not yet created.
func (x *Actions) albumMembers(ctx context.Context, s *engine.Session, r *run, album, name, op string, items []item, explain bool) (*engine.Result, error) {
	req := "PATCH /nodes/{album}/children (op " + op + ")"
	var members map[string]bool
	complete := false            // members lists the whole album (not cut at 9999)
	if album != "" && !explain { // EXPLAIN sends nothing, not even reads
		c, err := x.client(ctx)
		if err != nil {
			return nil, err
		}
		if members, complete, err = (api{c}).children(ctx, album); err != nil {
			return nil, fmt.Errorf("album %s: list its members: %w", engine.Quote(name), err)
		}
		if complete {
			// The listing is the album's truth: album_members follows it.
			if err := r.record(ctx, setMembers(album, sortedKeys(members))); err != nil {
				return nil, err
			}
		}
	}
	var todo []item
	for _, it := range items {
		switch {
		case !it.known():
			r.add(Outcome{ID: it.ID, Status: StatusFailed, Detail: "not in the local mirror: run SYNC, then run the statement again"})
		case op == "add" && members[it.ID]:
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "already in the album"})
		case op == "remove" && !members[it.ID] && members != nil && complete:
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "not in the album"})
		case op == "add" && !strings.HasPrefix(it.Type, "image/") && !strings.HasPrefix(it.Type, "video/"):
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "not a photo or video: albums hold only those"})
		default:
			todo = append(todo, it)
		}
	}
	if explain {
		nb := r.plan(todo, req)
		return r.result(false, fmt.Sprintf("would send %d %s (%s) for %s %s; nothing was sent", nb,
			plural(int64(nb), "request", "requests"), req, output.Thousands(int64(len(todo))), plural(int64(len(todo)), "node", "nodes"))), nil
	}
	if len(todo) == 0 {
		return r.result(false, ""), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	a := api{c}
	verify := func(ctx context.Context, ids []string) (map[string]bool, error) {
		now, complete, err := a.children(ctx, album)
		if err != nil {
			return nil, err
		}
		if !complete {
			// Past the service's 9999 listing cap a member may simply not
			// be listed: nothing can be concluded either way.
			return nil, fmt.Errorf("the album lists only its first %d members, so membership cannot be read back", len(now))
		}
		done := map[string]bool{}
		for _, id := range ids {
			done[id] = now[id] == (op == "add")
		}
		return done, nil
	}
	var albumNode *fetch.Node // the album as the last edit's answer shows it
	send := func(ctx context.Context, ids []string, retry func(context.Context, error) bool) (map[string]error, error) {
		n, err := a.albumEdit(ctx, album, op == "add", ids, retry)
		if err == nil && n != nil {
			albumNode = n
		}
		// A 404 naming members (purged since the mirror saw them) refuses
		// the edit whole: guardedSend sends the rest again without them.
		// One naming the album itself fails every member.
		return nil, asMissing(err)
	}
	apply := func(ids []string) func(context.Context, *sql.Tx) error {
		return editMembers(album, op, ids, complete, albumNode)
	}
	// One refused member fails the whole batch (400 "Improper child
	// kind"): send the batch's members one by one to find which.
	split := func(ctx context.Context, ids []string, res sent) sent {
		if len(ids) < 2 || len(res.failed) != len(ids) || !refusedBatch(res.errs) {
			return res
		}
		each := newSent()
		each.requests = res.requests
		for _, id := range ids {
			each.merge(guardedSend(context.WithoutCancel(ctx), []string{id}, send, verify))
		}
		return each
	}
	fatal, err := x.send(ctx, r, todo, batchSpec{req: req, per: batchSize, workers: 1, progress: "album " + op,
		send: send, verify: verify, apply: apply, split: split, direct: true})
	if err != nil {
		return nil, err
	}
	return r.end(ctx.Err() != nil, fatal, fatalSummary(fatal))
}

// setMembers returns the local update that makes album_members hold
// exactly ids for album, with the album's count to match.
func setMembers(album string, ids []string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM album_members WHERE albumId = ?`, album); err != nil {
			return err
		}
		for lo := 0; lo < len(ids); lo += 500 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO album_members SELECT ?, id FROM (SELECT unnest(`+listLiteral(ids[lo:min(lo+500, len(ids))])+`) AS id)`, album); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE albums SET count = ? WHERE id = ?`, len(ids), album)
		return err
	}
}

// editMembers returns the local update for ids added to album (op add) or
// removed from it: album_members, the album's count when the members were
// listed completely, and its row from the service's answer (nil when
// there was none).
func editMembers(album, op string, ids []string, complete bool, n *fetch.Node) func(context.Context, *sql.Tx) error {
	if len(ids) == 0 && n == nil {
		return nil
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		if n != nil {
			if err := putAlbum(n, -1)(ctx, tx); err != nil {
				return err
			}
		}
		if len(ids) == 0 {
			return nil
		}
		change := mirror.ChangeRemoved
		if op == "add" {
			change = mirror.ChangeAdded
		}
		if err := mirror.NewActionChanges("ALBUM "+strings.ToUpper(op)).Members(ctx, tx, change, album, ids); err != nil {
			return err
		}
		q := `DELETE FROM album_members WHERE albumId = ? AND id IN ` + idList(ids)
		args := []any{album}
		if op == "add" {
			q = `INSERT INTO album_members SELECT ?, id FROM (SELECT unnest(` + listLiteral(ids) + `) AS id)
WHERE id NOT IN (SELECT id FROM album_members WHERE albumId = ?)`
			args = append(args, album)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		if complete {
			_, err := tx.ExecContext(ctx, `UPDATE albums SET count = (SELECT count(*) FROM album_members WHERE albumId = ?) WHERE id = ?`, album, album)
			return err
		}
		return nil
	}
}

// listLiteral renders ids as a DuckDB list literal: ['a', 'b'].
func listLiteral(ids []string) string {
	l := idList(ids)
	return "[" + l[1:len(l)-1] + "]"
}

// refusedBatch reports whether a batch failed with a 400 (one bad member
// refuses all), as opposed to a failure that would hit each member alike.
func refusedBatch(errs map[string]error) bool {
	for _, err := range errs {
		return isStatus(err, http.StatusBadRequest)
	}
	return false
}

// parseRenaming reads the arguments of the RENAME statements, 'what' TO
// 'new name', where what names the first; the new name may not be blank.
func parseRenaming(rest, what string) (from, to string, err error) {
	a := engine.NewArgs(rest)
	if from, err = a.String(); err != nil {
		return "", "", err
	}
	if !a.Keyword("TO") {
		return "", "", fmt.Errorf("expected TO after %s", what)
	}
	if to, err = a.String(); err != nil {
		return "", "", err
	}
	if !a.Done() {
		return "", "", fmt.Errorf("unexpected %q at the end", clip(a.Rest(), 20))
	}
	if strings.TrimSpace(to) == "" {
		return "", "", errors.New("the new name is empty")
	}
	return from, to, nil
}

// runRenameAlbum runs RENAME ALBUM 'old' TO 'new'.
func (x *Actions) runRenameAlbum(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	old, name, err := parseRenaming(rest, "the album's name")
	if err != nil {
		return nil, fmt.Errorf("rename album: %w (RENAME ALBUM 'old' TO 'new')", err)
	}
	r, err := newRun(ctx, s, "RENAME ALBUM", explain)
	if err != nil {
		return nil, err
	}
	album, err := findAlbum(ctx, s.DB, old)
	if err != nil {
		return nil, err
	}
	if album == "" {
		if again, _ := findAlbum(ctx, s.DB, name); again != "" && !explain {
			_ = r.record(ctx, nil, Outcome{ID: again, Name: name, Status: StatusSkipped, Detail: "already named " + engine.Quote(name)})
			return r.result(false, ""), nil
		}
		return nil, fmt.Errorf("rename album: no album named %s in the albums table; run SYNC ALBUMS, or check the name", engine.Quote(old))
	}
	req := `PATCH /nodes/{id} {"name": ...}`
	if explain {
		r.add(Outcome{ID: album, Name: old, Status: statusPlanned, Detail: req + " to " + engine.Quote(name)})
		return r.result(false, "would send 1 request; nothing was sent"), nil
	}
	if old == name {
		_ = r.record(ctx, nil, Outcome{ID: album, Name: name, Status: StatusSkipped, Detail: "already named " + engine.Quote(name)})
		return r.result(false, ""), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	a := api{c}
	verify := func(ctx context.Context, ids []string) (map[string]bool, error) {
		n, err := a.getNode(ctx, ids[0])
		if err != nil {
			return nil, err
		}
		return map[string]bool{ids[0]: n.Name == name}, nil
	}
	send := func(ctx context.Context, ids []string, retry func(context.Context, error) bool) (map[string]error, error) {
		_, err := a.patchNode(ctx, ids[0], fetch.NodePatch{Name: &name}, retry)
		return nil, err
	}
	if err := r.intend(ctx, req, album); err != nil {
		return r.end(false, err, "")
	}
	res := guardedSend(context.WithoutCancel(ctx), []string{album}, send, verify)
	r.requests.Add(int64(res.requests))
	o := Outcome{ID: album, Name: name}
	var apply func(context.Context, *sql.Tx) error
	if d, ok := res.ok[album]; ok {
		o.Status, o.Detail = StatusOK, joinDetail(req, d)
		apply = func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE albums SET name = ?, raw = json_merge_patch(raw, json_object('name', ?)) WHERE id = ?`, name, name, album)
			return err
		}
	} else {
		o.Status, o.Reason, o.Detail, o.Name = StatusFailed, res.why[album], joinDetail(req, res.failed[album]), old
	}
	if err := r.record(ctx, apply, o); err != nil {
		return nil, err
	}
	return r.result(false, ""), nil
}
