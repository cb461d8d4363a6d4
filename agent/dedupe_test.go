package agent

import (
	"bytes"
	"slices"
	"testing"
)

// EXPLAIN DEDUPE through the explain tool: every copy with the keeper
// marked; run with its code trashes the other copy on the service (the
// emulator's truth), and a second run of that code is refused.
func TestExplainRunDedupe(t *testing.T) {
	e := setup(t, 50, "")
	jpg := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0, 9}, 3000)
	var ids []string
	for _, f := range []string{"A", "B"} {
		id, err := e.emu.Upload(f, "copy.jpg", jpg)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	e.ok("sync", map[string]any{}, nil)
	keep := e.strs("SELECT id FROM duplicates LIMIT 1")[0]
	stmt := "DEDUPE duplicates KEEP oldest"
	var p Plan
	e.ok("explain", map[string]any{"statement": "EXPLAIN " + stmt}, &p)
	if p.Code == "" || p.Table.Total != 2 || p.Counts["keep"] != 1 || p.Counts["planned"] != 1 {
		t.Fatalf("explain %s: %+v", stmt, p)
	}
	e.ok("run", map[string]any{"statement": stmt, "code": p.Code}, nil)
	trash := e.emu.State().TrashIDs
	for _, id := range ids {
		if slices.Contains(trash, id) == (id == keep) {
			t.Errorf("%s (keeper %s): in the service's trash %v", id, keep, slices.Contains(trash, id))
		}
	}
	e.fails("run", map[string]any{"statement": stmt, "code": p.Code}, "used already")
}
