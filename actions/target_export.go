package actions

import (
	"context"
	"fmt"
	"strings"

	"github.com/apsql/apsql/engine"
)

// Target is a parsed action target (SPEC §2.3: WHERE, FILTER, ALBUM,
// ( SELECT ... ) or a list of ids), for the statements of other packages
// (BACKUP) that select nodes as every action does.
type Target struct{ t target }

// ParseTarget reads a target from rest and returns it with the text that
// follows it; stops are the keywords that end a WHERE predicate at the top
// level (e.g. "TO").
func ParseTarget(rest string, stops []string) (Target, string, error) {
	t, after, err := parseTarget(rest, stops, nil)
	return Target{t}, after, err
}

// IDs is the target of a fixed set of node ids (a selection, an agent's
// list), made without statement text. To run an action on ids, see
// engine.WithIDs and Session.Exec.
func IDs(ids ...string) Target { return Target{newIDsTarget(ids)} }

// Text is the target as written, for journals and messages.
func (t Target) Text() string { return t.t.text }

// Album is the name of an ALBUM 'name' target, else "".
func (t Target) Album() string {
	if t.t.kind == targetAlbum {
		return t.t.album
	}
	return ""
}

// IDQuery returns a query (with its arguments) whose rows are the ids the
// target selects (column id), each once: WHERE and FILTER are evaluated
// over nodes; ids of a list or a SELECT are returned as given.
func (t Target) IDQuery(ctx context.Context, db *engine.DB) (string, []any, error) {
	switch t.t.kind {
	case targetWhere, targetFilter:
		return fmt.Sprintf(`SELECT id FROM nodes WHERE (%s)`, t.t.sql), t.t.args, nil
	case targetSelect:
		return fmt.Sprintf(`SELECT DISTINCT CAST(id AS VARCHAR) AS id FROM (%s) AS sub WHERE id IS NOT NULL`, t.t.sql), nil, nil
	case targetAlbum:
		album, err := albumByName(ctx, db, t.t.album)
		if err != nil {
			return "", nil, err
		}
		return `SELECT DISTINCT id FROM album_members WHERE albumId = ` + engine.Quote(album), nil, nil
	case targetIDs:
		vals := make([]string, len(t.t.ids))
		for i, id := range t.t.ids {
			vals[i] = "(" + engine.Quote(id) + ")"
		}
		return `SELECT DISTINCT id FROM (VALUES ` + strings.Join(vals, ", ") + `) AS v(id)`, nil, nil
	}
	return "", nil, fmt.Errorf("unknown target kind %d", t.t.kind)
}
