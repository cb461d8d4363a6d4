package actions

import (
	"errors"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
)

// TestRunOnIDs: an action runs on a fixed set of ids given as ids
// (engine.WithIDs, as the gallery and agents call it), without the ids
// being written into statement text: EXPLAIN sends nothing, TRASH trashes
// exactly those nodes on the service (its own state), ALBUM ADD and
// DOWNLOAD take their other clauses from the text, and statements that
// take no target refuse a set of ids.
func TestRunOnIDs(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 60, Seed: 71}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 3`)
	exec := func(text string, ids []string) (*engine.Result, error) {
		return e.s.Exec(t.Context(), engine.WithIDs(text, ids))
	}
	res, err := exec("EXPLAIN TRASH", ids)
	if err != nil {
		t.Fatal(err)
	}
	res.Rows.Release()
	if n := len(e.rec.matching("PATCH", "/trash")); n != 0 {
		t.Fatalf("EXPLAIN sent %d requests", n)
	}
	res, err = exec("TRASH", ids)
	if err != nil {
		t.Fatal(err)
	}
	res.Rows.Release()
	if res.Failed != 0 || !strings.Contains(res.Summary, "3 ok") {
		t.Errorf("TRASH on ids: %q, %d failed", res.Summary, res.Failed)
	}
	trashed := map[string]bool{}
	for _, id := range e.srv.State().TrashIDs {
		trashed[id] = true
	}
	for _, id := range ids {
		if !trashed[id] {
			t.Errorf("%s is not in the service's trash", id)
		}
	}
	e.sameTrash()
	album := e.ids(`SELECT name FROM albums ORDER BY name LIMIT 1`)
	albumID := e.ids(`SELECT id FROM albums ORDER BY name LIMIT 1`)
	if len(album) != 1 {
		t.Fatal("no album in the library")
	}
	more := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 2`)
	for _, c := range []struct {
		text string
		ids  []string
		want error
		msg  string
	}{
		{"RENAME TO 'x'", ids, engine.ErrNoIDTarget, ""},
		{"CREATE ALBUM 'new'", ids, engine.ErrNoIDTarget, ""},
		{"EXPLAIN FAVORITE", ids, nil, ""},
		{"EXPLAIN ADD TO FAMILY VAULT", ids, nil, ""},
		{"SELECT 1", ids, engine.ErrNoIDTarget, ""},
		{"RESTORE", []string{}, nil, "missing target"},
		{"RESTORE", []string{" "}, nil, "empty id"},
		{"ALBUM " + engine.Quote(album[0]) + " ADD", more, nil, ""},
		{"EXPLAIN DOWNLOAD TO " + engine.Quote(t.TempDir()), more, nil, ""},
	} {
		res, err := exec(c.text, c.ids)
		switch {
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s on ids: %v, want %v", c.text, err, c.want)
		case c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)):
			t.Errorf("%s on %q: %v, want an error about %s", c.text, c.ids, err, c.msg)
		case c.want == nil && c.msg == "" && err != nil:
			t.Errorf("%s on ids: %v", c.text, err)
		}
		if res != nil && res.Rows != nil {
			res.Rows.Release()
		}
	}
	members := strings.Join(e.albumTruth(albumID[0]), " ")
	for _, id := range more {
		if !strings.Contains(members, id) {
			t.Errorf("ALBUM ADD on ids: %s is not in the service's album %s", id, album[0])
		}
	}
}
