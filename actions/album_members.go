package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

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
	return x.albumMembers(ctx, r, album, name, op, items, explain)
}

// albumEdit is ALBUM ADD or REMOVE on one album, as the pipeline sends it.
type albumEdit struct {
	album, name, op string
	// members are the album's members as the service listed them before
	// the statement; complete is false when the listing was cut at the
	// service's 9999 cap (or not read: EXPLAIN, an album not yet made).
	members  map[string]bool
	complete bool
}

func (e *albumEdit) req() string { return "PATCH /nodes/{album}/children (op " + e.op + ")" }

// albumMembers adds items to album (or removes them): members already in
// (or not in) the album are skipped, as read from the service; batches of
// 50 go one after the other, since the service refuses concurrent edits of
// one node ("Concurrent Access on same node", API.md §1.6). album is "" in
// an EXPLAIN of an album not yet created.
func (x *Actions) albumMembers(ctx context.Context, r *run, album, name, op string, items []item, explain bool) (*engine.Result, error) {
	e := &albumEdit{album: album, name: name, op: op}
	if album != "" && !explain { // EXPLAIN sends nothing, not even reads
		if err := x.listMembers(ctx, r, e); err != nil {
			return nil, err
		}
	}
	todo := e.sort(r, items)
	if explain {
		return r.result(false, planSummary(r.s, r.plan(todo, e.req()), e.req(), len(todo), "")), nil
	}
	return x.sendAll(ctx, r, todo, e.spec)
}

// listMembers reads the album's members from the service; a complete
// listing is the album's truth, which album_members then follows.
func (x *Actions) listMembers(ctx context.Context, r *run, e *albumEdit) error {
	c, err := x.client(ctx)
	if err != nil {
		return err
	}
	if e.members, e.complete, err = (api{c}).children(ctx, e.album); err != nil {
		return fmt.Errorf("album %s: list its members: %w", engine.Quote(e.name), err)
	}
	if e.complete {
		return r.record(ctx, setMembers(e.album, sortedKeys(e.members)))
	}
	return nil
}

// sort adds the rows of the items that need no request and returns the
// rest.
func (e *albumEdit) sort(r *run, items []item) []item {
	var todo []item
	for _, it := range items {
		switch {
		case !it.known():
			r.add(Outcome{ID: it.ID, Status: StatusFailed, Detail: "not in the local mirror: run SYNC, then run the statement again"})
		case e.op == "add" && e.members[it.ID]:
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "already in the album"})
		case e.op == "remove" && !e.members[it.ID] && e.members != nil && e.complete:
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "not in the album"})
		case e.op == "add" && !isMedia(it):
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "not a photo or video: albums hold only those"})
		default:
			todo = append(todo, it)
		}
	}
	return todo
}

// isMedia reports whether the item is a photo or a video (what albums and
// the Family Vault hold).
func isMedia(it item) bool {
	return strings.HasPrefix(it.Type, "image/") || strings.HasPrefix(it.Type, "video/")
}

// spec is the edit on the pipeline: batches of 50, one at a time, each
// read back by listing the album; one refused member is found by sending
// the refused batch's members one by one.
func (e *albumEdit) spec(r *run, a api) (batchSpec, error) {
	var albumNode *fetch.Node // the album as the last edit's answer shows it
	send := func(ctx context.Context, ids []string, retry func(context.Context, error) bool) (map[string]error, error) {
		n, err := a.albumEdit(ctx, e.album, e.op == "add", ids, retry)
		if err == nil && n != nil {
			albumNode = n
		}
		// A 404 naming members (purged since the mirror saw them) refuses
		// the edit whole: guardedSend sends the rest again without them.
		// One naming the album itself fails every member.
		return nil, asMissing(err)
	}
	verify := e.verifier(a)
	apply := func(ids []string) func(context.Context, *sql.Tx) error {
		return editMembers(r.changes, e.album, e.op, ids, e.complete, albumNode)
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
	return batchSpec{req: e.req(), per: batchSize, workers: 1, progress: "album " + e.op,
		send: send, verify: verify, apply: apply, split: split, direct: true}, nil
}

// verifier reads the album's members back: a member is done when it is in
// (ADD) or out of (REMOVE) the listing, which must be complete.
func (e *albumEdit) verifier(a api) verifier {
	return func(ctx context.Context, ids []string) (map[string]bool, error) {
		now, complete, err := a.children(ctx, e.album)
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
			done[id] = now[id] == (e.op == "add")
		}
		return done, nil
	}
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
// removed from it, recorded in changes with ch: album_members, and the
// album's row from the service's answer (n; nil when there was none) with
// its count when the members were listed completely.
func editMembers(ch *mirror.ActionChanges, album, op string, ids []string, complete bool, n *fetch.Node) func(context.Context, *sql.Tx) error {
	if len(ids) == 0 && n == nil {
		return nil
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		if len(ids) > 0 {
			if err := changeMembers(ctx, tx, ch, album, op, ids); err != nil {
				return err
			}
		}
		if n == nil {
			if !complete {
				return nil
			}
			return recountAlbum(ctx, tx, ch, album)
		}
		row := mirror.NewAlbumRow(n, 0)
		if complete {
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM album_members WHERE albumId = ?`, album).Scan(&row.Count); err != nil {
				return err
			}
		}
		return mirror.PutAlbum(ctx, tx, ch, row, !complete)
	}
}

// changeMembers adds ids to album's rows of album_members (op add) or
// takes them out, recording each member that comes or goes.
func changeMembers(ctx context.Context, tx *sql.Tx, ch *mirror.ActionChanges, album, op string, ids []string) error {
	change := mirror.ChangeRemoved
	q := `DELETE FROM album_members WHERE albumId = ? AND id IN ` + idList(ids)
	args := []any{album}
	if op == "add" {
		change = mirror.ChangeAdded
		q = `INSERT INTO album_members SELECT ?, id FROM (SELECT unnest(` + listLiteral(ids) + `) AS id)
WHERE id NOT IN (SELECT id FROM album_members WHERE albumId = ?)`
		args = append(args, album)
	}
	if err := ch.Members(ctx, tx, change, album, ids); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// recountAlbum sets album's count to its rows of album_members, recording
// the change of count.
func recountAlbum(ctx context.Context, tx *sql.Tx, ch *mirror.ActionChanges, album string) error {
	var was, now int64
	q := `SELECT count, (SELECT count(*) FROM album_members WHERE albumId = ?) FROM albums WHERE id = ?`
	if err := tx.QueryRowContext(ctx, q, album, album).Scan(&was, &now); err != nil || was == now {
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE albums SET count = ? WHERE id = ?`, now, album); err != nil {
		return err
	}
	return ch.Nodes(ctx, tx, "albums", mirror.ChangeChanged, []string{album}, "count")
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
