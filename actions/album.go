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

// Albums (API.md §1.3 #14, #15, #17): CREATE ALBUM and RENAME ALBUM here,
// ALBUM ADD/REMOVE in album_members.go. Each keeps albums and
// album_members as the service answered, and records in changes what it
// changed (by_apsql).

// createAlbumReq is the request that makes an album.
const createAlbumReq = `POST /nodes {"kind":"VISUAL_COLLECTION"}`

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

// startAlbumRun starts the run of an album statement and finds the album
// named name in the mirror ("" when it holds none).
func startAlbumRun(ctx context.Context, s *engine.Session, action, name string, explain bool) (*run, string, error) {
	r, err := newRun(ctx, s, action, explain)
	if err != nil {
		return nil, "", err
	}
	album, err := findAlbum(ctx, s.DB, name)
	if err != nil {
		return nil, "", err
	}
	return r, album, nil
}

// putAlbum returns the local update for an album node as the service sent
// it (decoded once, by fetch): its albums row replaced, keeping the count
// the row had (0 for a new row). record says whether it goes into changes
// as this statement's doing (an album found made elsewhere does not).
func (r *run) putAlbum(n *fetch.Node, record bool) func(context.Context, *sql.Tx) error {
	ch := r.changes
	if !record {
		ch = nil
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		if n == nil {
			return errors.New("the service sent no album")
		}
		return mirror.PutAlbum(ctx, tx, ch, mirror.NewAlbumRow(n, 0), true)
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

// createAlbumArgs is a parsed CREATE ALBUM 'name' [FROM target].
type createAlbumArgs struct {
	name string
	from *statement // nil without FROM
}

// parseCreateAlbum reads CREATE ALBUM's arguments.
func parseCreateAlbum(stmt *engine.Statement) (createAlbumArgs, error) {
	a0 := stmt.Args()
	name, err := a0.String()
	if err != nil {
		return createAlbumArgs{}, fmt.Errorf("%w (CREATE ALBUM 'name' [FROM target])", err)
	}
	if strings.TrimSpace(name) == "" {
		return createAlbumArgs{}, errors.New("the name is empty; give the album a name")
	}
	ca := createAlbumArgs{name: name}
	if a0.Keyword("FROM") {
		p, err := parseStatementArgs(a0, false, nil)
		if err != nil {
			return createAlbumArgs{}, err
		}
		ca.from = &p
	} else if !a0.Done() {
		return createAlbumArgs{}, fmt.Errorf("unexpected %q after the name; write CREATE ALBUM 'name' [FROM target]", clip(a0.Rest(), 20))
	}
	if _, ok := a0.IDs(); ok {
		return createAlbumArgs{}, fmt.Errorf("ids given without FROM: %w", engine.ErrNoIDTarget)
	}
	return ca, nil
}

// runCreateAlbum runs CREATE ALBUM 'name' [FROM target]: the album is made
// unless it exists (in the mirror or on the service), then the target's
// photos and videos are added to it.
func (x *Actions) runCreateAlbum(ctx context.Context, s *engine.Session, stmt *engine.Statement, explain bool) (*engine.Result, error) {
	ca, err := parseCreateAlbum(stmt)
	if err != nil {
		return nil, fmt.Errorf("create album: %w", err)
	}
	var items []item
	if ca.from != nil {
		if items, err = resolve(ctx, s.DB, ca.from.target, "nodes"); err != nil {
			return nil, fmt.Errorf("create album: %w", err)
		}
	}
	r, album, err := startAlbumRun(ctx, s, "CREATE ALBUM", ca.name, explain)
	if err != nil {
		return nil, err
	}
	switch {
	case explain && album != "":
		r.add(Outcome{ID: album, Name: ca.name, Status: StatusSkipped, Detail: "album exists; not created again"})
	case explain:
		r.add(Outcome{Name: ca.name, Status: statusPlanned, Detail: createAlbumReq})
	default:
		var stop *engine.Result
		if album, stop, err = x.ensureAlbum(ctx, r, album, ca.name); stop != nil || err != nil {
			return stop, err
		}
	}
	if ca.from == nil {
		if explain {
			return r.result(false, "nothing was sent"), nil
		}
		return r.result(false, ""), nil
	}
	return x.albumMembers(ctx, r, album, ca.name, "add", items, explain)
}

// ensureAlbum returns the id of the album named name: album when the
// mirror holds it, else the one the service holds by that name, else one
// it creates. A create that fails ends the statement with stop.
func (x *Actions) ensureAlbum(ctx context.Context, r *run, album, name string) (id string, stop *engine.Result, err error) {
	if album != "" {
		_ = r.record(ctx, nil, Outcome{ID: album, Name: name, Status: StatusSkipped, Detail: "album exists; not created again", Target: album})
		return album, nil, nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return "", nil, err
	}
	a := api{c}
	// Not in the mirror is not proof: the album may come from another
	// device, or from an earlier run whose answer was lost.
	found, err := a.remoteAlbum(ctx, name)
	switch {
	case err != nil:
		return "", nil, fmt.Errorf("create album: could not check whether %s already exists on the service: %w; nothing was sent", engine.Quote(name), err)
	case found != nil && found.ID == "":
		return "", nil, fmt.Errorf("create album: the service lists %s without an id: %s", engine.Quote(name), clip(string(found.Raw), 80))
	case found != nil:
		_ = r.record(ctx, r.putAlbum(found, false), Outcome{ID: found.ID, Name: name, Status: StatusSkipped, Detail: "album exists on the service (not yet in the mirror); not created again", Target: found.ID})
		return found.ID, nil, nil
	}
	return x.createAlbum(ctx, r, a, name)
}

// createAlbum sends the create of album name, at most once: after an
// answer of unknown outcome the album is looked up by name (remoteAlbum)
// before anything is sent again, and once more before the create is
// called failed. A failed create ends the statement with stop.
func (x *Actions) createAlbum(ctx context.Context, r *run, a api, name string) (id string, stop *engine.Result, err error) {
	if err := r.intend(ctx, createAlbumReq, name); err != nil {
		stop, err = r.end(false, err, "")
		return "", stop, err
	}
	var node *fetch.Node
	send := func(ctx context.Context, retry func(context.Context, error) bool) (err error) {
		node, err = a.createAlbum(ctx, name, retry)
		return err
	}
	verify := func(ctx context.Context, _ []string) (map[string]bool, error) {
		n, err := a.remoteAlbum(ctx, name)
		if n == nil {
			return nil, err
		}
		node = n
		return map[string]bool{name: true}, nil
	}
	o := sendOne(ctx, r, name, createAlbumReq, send, verify)
	if o.Status != StatusOK {
		o.ID, o.Name, o.Target = "", name, name
		_ = r.record(ctx, nil, o)
		return "", r.result(false, "the album was not created"), nil
	}
	if node == nil || node.ID == "" {
		return "", nil, fmt.Errorf("create album: the service answered without an album id: %s", clip(string(raw(node)), 80))
	}
	o.ID, o.Name, o.Target = node.ID, name, node.ID
	if err := r.record(ctx, r.putAlbum(node, true), o); err != nil {
		return "", nil, err
	}
	return node.ID, nil, nil
}

// renameAlbumReq is the request that renames an album.
const renameAlbumReq = `PATCH /nodes/{id} {"name": ...}`

// parseRenaming reads the arguments of the RENAME statements, 'what' TO
// 'new name', where what names the first; the new name may not be blank.
func parseRenaming(rest, what string) (from, to string, err error) {
	return parsePair(engine.NewArgs(rest), what, "TO", "the new name")
}

// parsePair reads 'first' TO 'second' and nothing after: what names the
// first in errors, to the TO clause, second the second, which may not be
// blank.
func parsePair(a *engine.Args, what, to, second string) (string, string, error) {
	first, err := a.String()
	if err != nil {
		return "", "", err
	}
	if !a.Keyword("TO") {
		return "", "", fmt.Errorf("expected %s after %s", to, what)
	}
	val, err := a.String()
	switch {
	case err != nil:
		return "", "", err
	case !a.Done():
		return "", "", fmt.Errorf("unexpected %q at the end", clip(a.Rest(), 20))
	case strings.TrimSpace(val) == "":
		return "", "", fmt.Errorf("%s is empty", second)
	}
	return first, val, nil
}

// runRenameAlbum runs RENAME ALBUM 'old' TO 'new'. The album is found by
// name in the mirror, and read back from the service right before the
// request: an album renamed or deleted elsewhere since the last SYNC
// ALBUMS is not renamed on the mirror's word.
func (x *Actions) runRenameAlbum(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	old, name, err := parseRenaming(rest, "the album's name")
	if err != nil {
		return nil, fmt.Errorf("rename album: %w (RENAME ALBUM 'old' TO 'new')", err)
	}
	r, album, err := startAlbumRun(ctx, s, "RENAME ALBUM", old, explain)
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
	switch {
	case explain:
		r.add(Outcome{ID: album, Name: old, Status: statusPlanned, Detail: renameAlbumReq + " to " + engine.Quote(name)})
		return r.result(false, "would send 1 request; nothing was sent"), nil
	case old == name:
		_ = r.record(ctx, nil, Outcome{ID: album, Name: name, Status: StatusSkipped, Detail: "already named " + engine.Quote(name)})
		return r.result(false, ""), nil
	}
	rn := &albumRename{album: album, old: old, name: name}
	return x.sendAll(ctx, r, []item{{ID: album, Name: old}}, rn.spec)
}

// albumRename is RENAME ALBUM of one album, as the pipeline sends it.
type albumRename struct {
	album, old, name string
	// last is the album as the service last showed it renamed: the
	// PATCH's answer, or the node read back.
	last *fetch.Node
}

// spec is the rename on the pipeline: one request, read back with GET
// /nodes/{id} before it is sent (check) and after an unknown outcome.
func (rn *albumRename) spec(r *run, a api) (batchSpec, error) {
	verify := nodesVerifier(a, func(n *remoteNode) bool {
		if n.Name != rn.name {
			return false
		}
		c := *n
		rn.last = &c
		return true
	})
	send := func(ctx context.Context, _ []string, retry func(context.Context, error) bool) (map[string]error, error) {
		n, err := a.c.PatchNode(ctx, rn.album, fetch.NodePatch{Name: &rn.name}, retry)
		switch {
		case errors.Is(err, fetch.ErrUnexpectedAnswer):
			return nil, nil // done, but the answer shows no node to keep
		case err == nil:
			rn.last = n
		}
		return nil, err
	}
	outcome := func(res *sent, id, name string) Outcome {
		o := res.outcome(id, name, renameAlbumReq)
		if o.Status == StatusOK {
			o.Name = rn.name
		}
		return o
	}
	check := func(ctx context.Context, _ []item) ([]string, error) { return rn.check(ctx, r, a) }
	return batchSpec{req: renameAlbumReq, per: 1, workers: 1, progress: "rename album",
		send: send, verify: verify, apply: rn.apply(r), outcome: outcome, check: check, direct: true}, nil
}

// check reads the album back right before the rename is sent and returns
// it to send when the service still names it as the mirror does; else it
// journals why not: gone, renamed already, renamed to another name.
func (rn *albumRename) check(ctx context.Context, r *run, a api) ([]string, error) {
	n, err := a.getNode(ctx, rn.album)
	r.requests.Add(1)
	o := Outcome{ID: rn.album, Name: rn.old, Status: StatusFailed, Reason: ReasonNotSent}
	switch {
	case errors.Is(err, errNodeGone) || err == nil && n.Status != "" && n.Status != "AVAILABLE":
		o.Reason, o.Detail = ReasonGone, "the album is no longer on the service (deleted since the last SYNC ALBUMS): run SYNC ALBUMS"
	case err != nil:
		o.Detail = "not sent: the album could not be read back before renaming it (" + err.Error() + "); run the statement again"
	case n.Name == rn.name:
		o.Status, o.Reason, o.Name = StatusSkipped, ReasonAlready, rn.name
		o.Detail = "already named " + engine.Quote(rn.name) + " on the service (renamed elsewhere since the last SYNC ALBUMS)"
	case n.Name != rn.old:
		o.Detail = "not sent: the service names the album " + engine.Quote(n.Name) + " (renamed elsewhere since the last SYNC ALBUMS): run SYNC ALBUMS, then name it by that name"
	default:
		return []string{rn.album}, nil
	}
	return nil, r.record(ctx, nil, o)
}

// apply returns the local update of a done rename: the album's row as the
// service showed it renamed, recorded in changes; without such an answer,
// its name alone.
func (rn *albumRename) apply(r *run) func(ids []string) func(context.Context, *sql.Tx) error {
	return func(ids []string) func(context.Context, *sql.Tx) error {
		if len(ids) == 0 {
			return nil
		}
		if n := rn.last; n != nil {
			return r.putAlbum(n, true)
		}
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE albums SET name = ?, raw = json_merge_patch(raw, json_object('name', ?)) WHERE id = ?`, rn.name, rn.name, rn.album)
			if err != nil {
				return err
			}
			return r.changes.Nodes(ctx, tx, "albums", mirror.ChangeChanged, []string{rn.album}, "name", "raw")
		}
	}
}
