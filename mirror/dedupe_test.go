package mirror_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

// dedupeEnv is a mirror of an emulator with SYNC, SYNC HASHES, TRASH and
// DEDUPE registered (DEDUPE trashes through TRASH, so these tests live
// outside package mirror, which actions imports).
type dedupeEnv struct {
	srv  *emulator.Server
	db   *engine.DB
	sess *engine.Session
}

func newDedupeEnv(t testing.TB, opts emulator.Options) *dedupeEnv {
	t.Helper()
	opts.State = true
	e := &dedupeEnv{srv: emulator.StartTest(t, opts)}
	cookies, err := fetch.NewCookies(e.srv.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	client, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: e.srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	e.db, err = engine.Open(context.Background(), engine.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	fn := func(context.Context) (*fetch.Client, error) { return client, nil }
	mirror.Register(e.db.Commands(), fn)
	actions.Register(e.db.Commands(), fn)
	if err := mirror.RegisterDupes(e.db, fn); err != nil {
		t.Fatal(err)
	}
	e.sess = engine.NewSession(e.db)
	return e
}

// run runs stmt and returns its rows as maps of column to text.
func (e *dedupeEnv) run(t testing.TB, stmt string) ([]map[string]string, *engine.Result) {
	t.Helper()
	res, err := e.sess.Run(context.Background(), stmt)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return readRows(t, res), res
}

func readRows(t testing.TB, res *engine.Result) []map[string]string {
	t.Helper()
	var out []map[string]string
	if res.Rows == nil {
		return nil
	}
	defer res.Rows.Release()
	for res.Rows.Next() {
		r := res.Rows.RecordBatch()
		for i := range int(r.NumRows()) {
			row := map[string]string{}
			for c, f := range r.Schema().Fields() {
				row[f.Name] = r.Column(c).ValueStr(i)
			}
			out = append(out, row)
		}
	}
	if err := res.Rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// status is the emulator's status of a node ("" when it has none).
func (e *dedupeEnv) status(id string) string {
	_, st, ok := e.srv.PathOf(id)
	if !ok {
		return ""
	}
	return st
}

// groups reads plan rows into group → members, and group → keeper.
func groupsOf(t testing.TB, rows []map[string]string) (map[string][]string, map[string]string) {
	t.Helper()
	members, keeper := map[string][]string{}, map[string]string{}
	for _, r := range rows {
		g := r["group_id"]
		members[g] = append(members[g], r["id"])
		if r["keep"] == "true" {
			if k, ok := keeper[g]; ok {
				t.Errorf("group %s has two keepers: %s and %s", g, k, r["id"])
			}
			keeper[g] = r["id"]
		}
	}
	return members, keeper
}

func (e *dedupeEnv) trashRequests() int64 {
	var n int64
	for ep, codes := range e.srv.Stats().ByEndpoint {
		if strings.Contains(ep, "/trash") && strings.HasPrefix(ep, "PATCH") {
			for _, c := range codes {
				n += c
			}
		}
	}
	return n
}

// TestDedupe (issue 20 item 5) against the emulator's truth: EXPLAIN sends
// nothing and marks one keeper per group; a DEDUPE whose groups changed
// since its EXPLAIN (PLAN 'id') refuses; a group whose keeper was trashed
// elsewhere is skipped whole; every other group ends with exactly its
// keeper available on the service and the others in its trash; a second
// run sends no TRASH.
func TestDedupe(t *testing.T) {
	e := newDedupeEnv(t, emulator.Options{Nodes: -1, Seed: 3})
	fams, err := e.srv.AddFamilies("Families", 12, 7)
	if err != nil {
		t.Fatal(err)
	}
	jpg := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3}, 2000)
	var exact []string
	for _, f := range []string{"A", "B", "C"} {
		id, err := e.srv.Upload(f, "same.jpg", jpg)
		if err != nil {
			t.Fatal(err)
		}
		exact = append(exact, id)
	}
	e.run(t, "SYNC")
	e.run(t, "SYNC HASHES")
	t.Logf("%d family photos", len(fams))

	before := e.srv.Stats().Requests
	rows, res := e.run(t, "EXPLAIN DEDUPE near_duplicates() KEEP oldest")
	if got := e.srv.Stats().Requests - before; got != 0 {
		t.Errorf("EXPLAIN DEDUPE sent %d requests", got)
	}
	plan := res.Plan
	members, keeper := groupsOf(t, rows)
	if len(members) < 8 || len(plan) != 12 || !strings.Contains(res.Summary, "PLAN '"+plan+"'") {
		t.Fatalf("EXPLAIN DEDUPE: %d groups, plan %q, %q", len(members), plan, res.Summary)
	}
	for g, ms := range members {
		if keeper[g] == "" {
			t.Errorf("group %s has no keeper: %v", g, ms)
		}
		// oldest: the group's first member (near_duplicates() lists the
		// oldest first, and DEDUPE keeps the target's order).
		if keeper[g] != ms[0] {
			t.Errorf("KEEP oldest of group %s kept %s, not its oldest %s", g, keeper[g], ms[0])
		}
	}
	// The same statement gives the same plan.
	if _, again := e.run(t, "EXPLAIN DEDUPE near_duplicates() KEEP oldest"); again.Plan != plan {
		t.Errorf("the plan id changed between two EXPLAINs of the same mirror: %s, %s", plan, again.Plan)
	}

	// A group changed since the EXPLAIN: one of its copies was trashed
	// elsewhere and SYNC saw it. The plan refuses; nothing is sent.
	gs := make([]string, 0, len(members))
	for g := range members {
		gs = append(gs, g)
	}
	changed := members[gs[0]][len(members[gs[0]])-1]
	if err := e.srv.TrashIDs(changed); err != nil {
		t.Fatal(err)
	}
	e.run(t, "SYNC")
	trashBefore := len(e.srv.State().TrashIDs)
	_, err = e.sess.Run(context.Background(), "DEDUPE near_duplicates() KEEP oldest (PLAN '"+plan+"')")
	if !errors.Is(err, mirror.ErrPlanChanged) {
		t.Fatalf("DEDUPE of a changed plan: %v, want ErrPlanChanged", err)
	}
	if n := len(e.srv.State().TrashIDs); n != trashBefore || e.trashRequests() != 0 {
		t.Fatalf("a refused DEDUPE trashed %d nodes, sent %d trash requests", n-trashBefore, e.trashRequests())
	}
	t.Logf("refused: %v", err)

	// EXPLAIN again; then a keeper is trashed elsewhere (the mirror does
	// not know): its group is skipped whole.
	rows, res = e.run(t, "EXPLAIN DEDUPE near_duplicates() KEEP oldest")
	plan = res.Plan
	members, keeper = groupsOf(t, rows)
	var victim string
	for g, ms := range members {
		if len(ms) >= 3 {
			victim = g
			break
		}
	}
	if victim == "" {
		t.Fatal("no group of three or more")
	}
	if err := e.srv.TrashIDs(keeper[victim]); err != nil {
		t.Fatal(err)
	}
	rows, res = e.run(t, "DEDUPE near_duplicates() KEEP oldest (PLAN '"+plan+"')")
	t.Logf("%s", res.Summary)
	if res.Failed != 0 {
		t.Errorf("DEDUPE: %d failed: %s", res.Failed, res.Summary)
	}
	for _, r := range rows {
		if r["group_id"] == victim {
			if r["status"] != mirror.DedupeSkipped || !strings.Contains(r["reason"], mirror.ErrKeeperGone.Error()) {
				t.Errorf("group %s whose keeper was trashed elsewhere: %s %s %q, want skipped for the keeper", victim, r["id"], r["status"], r["reason"])
			}
		}
	}
	for g, ms := range members {
		for _, id := range ms {
			st := e.status(id)
			switch {
			case g == victim && id == keeper[g]:
				if st != "TRASH" {
					t.Errorf("the victim keeper %s is %s", id, st)
				}
			case g == victim:
				if st != "AVAILABLE" {
					t.Errorf("group %s was skipped, but its member %s is %s on the service", g, id, st)
				}
			case id == keeper[g]:
				if st != "AVAILABLE" {
					t.Errorf("group %s: its keeper %s is %s on the service", g, id, st)
				}
			default:
				if st != "TRASH" {
					t.Errorf("group %s: %s is %s on the service, want TRASH", g, id, st)
				}
			}
		}
	}
	// Re-run: nothing is trashed again.
	sent := e.trashRequests()
	e.run(t, "DEDUPE near_duplicates() KEEP oldest")
	if n := e.trashRequests() - sent; n != 0 {
		t.Errorf("a second DEDUPE sent %d trash requests", n)
	}

	// Exact duplicates: all the same size (and, uploaded at once, the
	// same date), so KEEP largest keeps the oldest, the smallest id; the
	// others go to the trash.
	oldest := e.firstDuplicate(t)
	rows, _ = e.run(t, "DEDUPE duplicates KEEP largest")
	_, keeper = groupsOf(t, rows)
	if len(keeper) != 1 || keeper["1"] != oldest {
		t.Errorf("DEDUPE duplicates KEEP largest kept %v, want the oldest copy %s", keeper, oldest)
	}
	for _, id := range exact {
		want := "TRASH"
		if id == oldest {
			want = "AVAILABLE"
		}
		if st := e.status(id); st != want {
			t.Errorf("exact copy %s is %s on the service, want %s", id, st, want)
		}
	}
}

// firstDuplicate is the first member of the first group of duplicates.
func (e *dedupeEnv) firstDuplicate(t testing.TB) string {
	t.Helper()
	var id string
	if err := e.db.QueryRow(context.Background(), `SELECT id FROM duplicates LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestDedupeBadInput: malformed statements fail with an error that names
// the fix, and nothing is sent.
func TestDedupeBadInput(t *testing.T) {
	e := newDedupeEnv(t, emulator.Options{Nodes: 30, Seed: 1})
	e.run(t, "SYNC")
	for _, c := range []struct{ stmt, want string }{
		{"DEDUPE duplicates", "missing KEEP"},
		{"DEDUPE KEEP oldest", "missing target"},
		{"DEDUPE duplicates KEEP best", "unknown policy"},
		{"DEDUPE duplicates KEEP oldest (PLAN)", "PLAN wants"},
		{"DEDUPE duplicates KEEP oldest extra", "unexpected"},
		{"DEDUPE (SELECT id FROM nodes) KEEP oldest", "group_id"},
		{"DEDUPE (SELECT 1 AS group_id, id FROM nodes UNION ALL SELECT 2, id FROM nodes) KEEP oldest", "one group only"},
	} {
		_, err := e.sess.Run(context.Background(), c.stmt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %s", c.stmt, err, c.want)
		}
	}
	_, err := e.sess.Exec(context.Background(), engine.WithIDs("DEDUPE", []string{"x"}))
	if !errors.Is(err, engine.ErrNoIDTarget) {
		t.Errorf("DEDUPE on ids: %v", err)
	}
	if n := e.trashRequests(); n != 0 {
		t.Errorf("bad statements sent %d trash requests", n)
	}
}

// TestDedupeThousandGroups measures DEDUPE over 1,000 groups of exact
// copies (three each) against TRASH of the same 2,000 copies on a twin
// library (the ceiling: what DEDUPE adds is the plan and the keepers'
// reads), with and without 20 ms of latency per request (BENCHMARKS.md).
func TestDedupeThousandGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 groups: not with -short")
	}
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		twin := func() *dedupeEnv {
			e := newDedupeEnv(t, emulator.Options{Nodes: -1, Seed: 5})
			for g := range 1000 {
				data := []byte(fmt.Sprintf("\xFF\xD8\xFF\xE0 group %d of identical copies", g))
				for c := range 3 {
					if _, err := e.srv.Upload(fmt.Sprintf("F%d", c), fmt.Sprintf("IMG_%04d.jpg", g), data); err != nil {
						t.Fatal(err)
					}
				}
			}
			e.run(t, "SYNC")
			e.srv.SetFaults(latency, 0, 0, 0)
			return e
		}
		a, b := twin(), twin()
		start := time.Now()
		_, ex := a.run(t, "EXPLAIN DEDUPE duplicates KEEP oldest")
		explain := time.Since(start)
		req0 := a.srv.Stats().Requests
		start = time.Now()
		rows, res := a.run(t, "DEDUPE duplicates KEEP oldest (PLAN '"+ex.Plan+"')")
		dedupe := time.Since(start)
		dreq := a.srv.Stats().Requests - req0
		trashed := 0
		for _, r := range rows {
			if r["status"] == "ok" {
				trashed++
			}
		}
		if trashed != 2000 || len(a.srv.State().TrashIDs) != 2000 {
			t.Fatalf("DEDUPE trashed %d (service: %d), want 2000: %s", trashed, len(a.srv.State().TrashIDs), res.Summary)
		}
		req0 = b.srv.Stats().Requests
		start = time.Now()
		b.run(t, "TRASH (SELECT id FROM duplicates QUALIFY row_number() OVER (PARTITION BY group_id ORDER BY createdDate, id) > 1)")
		trash := time.Since(start)
		treq := b.srv.Stats().Requests - req0
		if n := len(b.srv.State().TrashIDs); n != 2000 {
			t.Fatalf("TRASH trashed %d", n)
		}
		t.Logf("latency %v: EXPLAIN DEDUPE %v; DEDUPE %v in %d requests; TRASH of the same copies %v in %d requests; ratio %.2f\n%s",
			latency, explain.Round(time.Millisecond), dedupe.Round(time.Millisecond), dreq, trash.Round(time.Millisecond), treq,
			dedupe.Seconds()/trash.Seconds(), res.Summary)
	}
}

// TestDedupeConfirmation: interactively DEDUPE asks first, and a no sends
// nothing; with a yes the other copies go to the service's trash.
func TestDedupeConfirmation(t *testing.T) {
	e := newDedupeEnv(t, emulator.Options{Nodes: -1, Seed: 2})
	data := []byte("\xFF\xD8\xFF\xE0 two identical copies")
	for _, f := range []string{"A", "B"} {
		if _, err := e.srv.Upload(f, "x.jpg", data); err != nil {
			t.Fatal(err)
		}
	}
	e.run(t, "SYNC")
	var asked []string
	answer := false
	e.sess.Interactive = true
	e.sess.Confirm = func(q string) bool { asked = append(asked, q); return answer }
	_, res := e.run(t, "DEDUPE duplicates KEEP newest")
	if len(asked) != 1 || !strings.Contains(asked[0], "trash 1 copy") || !strings.HasPrefix(res.Summary, "cancelled") || e.trashRequests() != 0 {
		t.Fatalf("DEDUPE answered no: asked %q, %q, %d trash requests", asked, res.Summary, e.trashRequests())
	}
	answer = true
	e.run(t, "DEDUPE duplicates KEEP newest")
	if len(asked) != 2 || len(e.srv.State().TrashIDs) != 1 {
		t.Fatalf("DEDUPE answered yes: asked %q, service trash %v", asked, e.srv.State().TrashIDs)
	}
}
