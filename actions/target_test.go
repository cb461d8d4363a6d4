package actions

import (
	"strings"
	"testing"

	"github.com/apsql/apsql/engine"
)

// TestSelectTargetWithoutID: a (SELECT ...) target without an id column
// is told so, decided from the query's prepared columns; a query with
// one that fails for another reason keeps DuckDB's own error, and the id
// column may be spelled in any case.
func TestSelectTargetWithoutID(t *testing.T) {
	ctx := t.Context()
	db, err := engine.Open(ctx, engine.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `INSERT INTO nodes (id, name) VALUES ('n1', 'abc')`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		target, want, not string
	}{
		{"(SELECT name, size FROM nodes)", "the query must return a column named id (e.g. SELECT id FROM nodes ...), not name, size", ""},
		{"(SELECT name AS ident FROM nodes)", "must return a column named id", ""},
		// An id column, and an error of another kind.
		{"(SELECT id FROM nodes WHERE CAST(name AS INTEGER) = 1)", "Conversion Error", "column named id"},
		{"(SELECT id FROM nodes WHERE nosuch = 1)", "nosuch", "column named id"},
		{"(SELECT n.id FROM nodes n JOIN trash t ON t.nosuch = n.id)", "nosuch", "column named id"},
	} {
		tg, _, err := parseTarget(c.target, nil, nil)
		if err != nil {
			t.Fatalf("parse %s: %v", c.target, err)
		}
		_, err = resolve(ctx, db, tg, "nodes")
		if err == nil || !strings.Contains(err.Error(), c.want) || c.not != "" && strings.Contains(err.Error(), c.not) {
			t.Errorf("target %s: error %v; want one containing %q and not %q", c.target, err, c.want, c.not)
		}
	}
	tg, _, err := parseTarget("(SELECT ID FROM nodes)", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	items, err := resolve(ctx, db, tg, "nodes")
	if err != nil || len(items) != 1 || items[0].ID != "n1" || items[0].Name != "abc" {
		t.Errorf("target (SELECT ID FROM nodes) = %v, %v; want node n1", items, err)
	}
}
