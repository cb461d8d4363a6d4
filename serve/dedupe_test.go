package serve

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// dupesSetup is a gallery over a library of near-duplicate families
// (emulator.AddFamilies), synced and hashed.
func dupesSetup(t *testing.T, families int) (*env, []emulator.FamilyPhoto) {
	t.Helper()
	e := setup(t, -1)
	fams, err := e.emu.AddFamilies("Families", families, 11)
	if err != nil {
		t.Fatal(err)
	}
	e.sync("SYNC")
	e.sync("SYNC HASHES")
	return e, fams
}

func (e *env) sync(stmt string) {
	e.t.Helper()
	res, err := e.srv.opts.Session.Run(e.t.Context(), stmt)
	if err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
	if res.Rows != nil {
		res.Rows.Release()
	}
}

// dedupeExplain POSTs the Duplicates view's EXPLAIN.
func (e *env) dedupeExplain(policy string) actionAnswer {
	e.t.Helper()
	code, b := e.do(http.MethodPost, "/api/explain", map[string]any{"action": "dedupe", "dedupe": map[string]any{"target": "near", "policy": policy}})
	if code != http.StatusOK {
		e.t.Fatalf("explain dedupe: %d %s", code, b)
	}
	var ans actionAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		e.t.Fatal(err)
	}
	return ans
}

// planGroups reads an answer's rows: group → ids, group → keeper.
func planGroups(t *testing.T, ans actionAnswer) (map[string][]string, map[string]string) {
	t.Helper()
	col := map[string]int{}
	for i, c := range ans.Columns {
		col[c] = i
	}
	for _, c := range []string{"group_id", "id", "keep", "size", "width", "height", "date", "albums"} {
		if _, ok := col[c]; !ok {
			t.Fatalf("the Duplicates view's rows have no %s: %v", c, ans.Columns)
		}
	}
	members, keeper := map[string][]string{}, map[string]string{}
	for _, r := range ans.Rows {
		g := jsonText(r[col["group_id"]])
		id := r[col["id"]].(string)
		members[g] = append(members[g], id)
		if r[col["keep"]] == true {
			if keeper[g] != "" {
				t.Errorf("group %s: two keepers", g)
			}
			keeper[g] = id
		}
	}
	return members, keeper
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDuplicatesView (issue 20 item 6): the Duplicates view's API against
// the emulator's families. The EXPLAIN sends nothing and marks one keeper
// per group; its confirmation names the plan; a run after the groups
// changed is refused and trashes nothing; a run of the plan shown leaves
// exactly each keeper available on the service and the others in its
// trash; a confirmation runs once.
func TestDuplicatesView(t *testing.T) {
	e, _ := dupesSetup(t, 6)
	before := e.emu.State().Requests
	ans := e.dedupeExplain("largest")
	if n := e.emu.State().Requests - before; n != 0 {
		t.Errorf("the view's EXPLAIN sent %d requests", n)
	}
	members, keeper := planGroups(t, ans)
	if len(members) < 4 || ans.Plan == "" || ans.Confirm == "" || !strings.HasSuffix(ans.Statement, "(PLAN '"+ans.Plan+"')") {
		t.Fatalf("explain: %d groups, plan %q, statement %q", len(members), ans.Plan, ans.Statement)
	}
	for g := range members {
		if keeper[g] == "" {
			t.Errorf("group %s has no keeper", g)
		}
	}
	run := func(ans actionAnswer, policy string) (int, []byte) {
		return e.do(http.MethodPost, "/api/run", map[string]any{"action": "dedupe", "confirm": ans.Confirm,
			"dedupe": map[string]any{"target": "near", "policy": policy, "plan": ans.Plan}})
	}
	// Another policy with this confirmation: refused.
	if code, b := run(ans, "oldest"); code != http.StatusConflict {
		t.Errorf("a run of another policy with the confirmation: %d %s, want 409", code, b)
	}
	// The groups change: a member trashed elsewhere, and SYNC sees it.
	ans = e.dedupeExplain("largest")
	members, keeper = planGroups(t, ans)
	var changed string
	for g, ms := range members {
		for _, id := range ms {
			if id != keeper[g] && changed == "" {
				changed = id
			}
		}
	}
	if err := e.emu.TrashIDs(changed); err != nil {
		t.Fatal(err)
	}
	e.sync("SYNC")
	trashed := len(e.emu.State().TrashIDs)
	code, b := run(ans, "largest")
	if code != http.StatusBadRequest || !strings.Contains(string(b), "changed since the EXPLAIN") {
		t.Errorf("a run after the groups changed: %d %s, want 400 naming the change", code, b)
	}
	if n := len(e.emu.State().TrashIDs); n != trashed {
		t.Fatalf("a refused run trashed %d nodes", n-trashed)
	}
	// The plan shown now runs.
	ans = e.dedupeExplain("largest")
	members, keeper = planGroups(t, ans)
	code, b = run(ans, "largest")
	if code != http.StatusOK {
		t.Fatalf("run: %d %s", code, b)
	}
	var done actionAnswer
	if err := json.Unmarshal(b, &done); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %v", done.Summary, done.Counts)
	trash := map[string]bool{}
	for _, id := range e.emu.State().TrashIDs {
		trash[id] = true
	}
	for g, ms := range members {
		for _, id := range ms {
			_, st, _ := e.emu.PathOf(id)
			if id == keeper[g] && st != "AVAILABLE" || id != keeper[g] && !trash[id] {
				t.Errorf("group %s: %s is %s on the service (keeper %s)", g, id, st, keeper[g])
			}
		}
	}
	if code, _ := run(ans, "largest"); code != http.StatusConflict {
		t.Errorf("the confirmation ran twice: %d", code)
	}
	for _, bad := range []map[string]any{
		{"action": "dedupe", "dedupe": map[string]any{"target": "all", "policy": "oldest"}},
		{"action": "dedupe", "dedupe": map[string]any{"target": "near", "policy": "oldest; DROP TABLE nodes"}},
		{"action": "dedupe", "dedupe": map[string]any{"target": "near", "policy": "oldest", "plan": "x') OR ('"}},
		{"action": "dedupe", "ids": []string{"a"}, "dedupe": map[string]any{"target": "near", "policy": "oldest"}},
		{"action": "trash", "dedupe": map[string]any{"target": "near", "policy": "oldest"}},
	} {
		if code, b := e.do(http.MethodPost, "/api/explain", bad); code != http.StatusBadRequest {
			t.Errorf("%v: %d %s, want 400", bad, code, b)
		}
	}
}
