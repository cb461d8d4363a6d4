package actions

import (
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// peopleTable checks that the people table equals the service's people.
func (e *env) peopleTable(step string) {
	e.t.Helper()
	want := e.srv.People()
	rows, err := e.db.Query(e.t.Context(), `SELECT clusterId, name, count, coalesce(coverNodeId, '') FROM people ORDER BY clusterId`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var got []emulator.Person
	var covers []string
	for rows.Next() {
		var p emulator.Person
		var cover string
		if err := rows.Scan(&p.ClusterID, &p.Name, &p.Count, &cover); err != nil {
			e.t.Fatal(err)
		}
		got = append(got, p)
		covers = append(covers, cover)
	}
	if len(got) != len(want) {
		e.t.Fatalf("%s: people has %d rows, the service %d people", step, len(got), len(want))
	}
	for k, w := range want {
		g := got[k]
		if g.ClusterID != w.ClusterID || g.Name != w.Name || g.Count != w.Count || (w.Cover != "" && covers[k] != w.Cover) {
			e.t.Fatalf("%s: people row %+v (cover %s), want the service's %+v", step, g, covers[k], w)
		}
	}
}

func (e *env) syncPeople() {
	e.t.Helper()
	res, err := e.s.Run(e.t.Context(), "SYNC PEOPLE")
	if err != nil {
		e.t.Fatal(err)
	}
	res.Rows.Release()
}

// TestPeopleStatements: RENAME PERSON, MERGE PEOPLE and SET COVER against
// the emulator's clusters: EXPLAIN sends nothing, each change shows in the
// service's state and in the people table, a merged person's id keeps
// finding its photos, re-runs send nothing, a refused cover is a failed
// row, and an unknown person names SYNC PEOPLE.
func TestPeopleStatements(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 1500, Seed: 43}, 0)
	e.syncPeople()
	e.peopleTable("SYNC PEOPLE")
	var mom, dad emulator.Person
	for _, p := range e.srv.People() {
		switch p.Name {
		case "Mom":
			mom = p
		case "Dad":
			dad = p
		}
	}
	if mom.ClusterID == "" || dad.ClusterID == "" {
		t.Fatalf("the library has no Mom and Dad: %+v", e.srv.People())
	}
	e.rec.reset()
	rows, _ := e.run(`EXPLAIN RENAME PERSON 'Mom' TO 'Mother'`)
	if len(rows) != 1 || rows[0].status != statusPlanned || rows[0].id != mom.ClusterID || len(e.rec.reqs) != 0 {
		t.Fatalf("EXPLAIN RENAME PERSON: %+v, %d requests", rows, len(e.rec.reqs))
	}
	rows, sum := e.run(`RENAME PERSON 'mom' TO 'Mother'`)
	if len(rows) != 1 || rows[0].status != StatusOK {
		t.Fatalf("RENAME PERSON: %+v (%s)", rows, sum)
	}
	e.peopleTable("rename")
	e.rec.reset()
	if rows, _ = e.run(`RENAME PERSON 'Mom' TO 'Mother'`); len(rows) != 1 || rows[0].status != StatusSkipped || len(e.rec.matching("PUT", "/cluster")) != 0 {
		t.Errorf("re-run RENAME PERSON: %+v, want skipped and nothing sent", rows)
	}

	momPhotos, _ := e.srv.IDs("people:(" + mom.ClusterID + ")")
	dadPhotos, _ := e.srv.IDs("people:(" + dad.ClusterID + ")")
	union := map[string]bool{}
	for _, id := range append(momPhotos, dadPhotos...) {
		union[id] = true
	}
	rows, sum = e.run(`MERGE PEOPLE 'Mother', '` + dad.ClusterID + `' INTO 'Parents'`)
	if st := byStatus(rows); len(st[StatusOK]) != 2 {
		t.Fatalf("MERGE PEOPLE: %+v (%s)", rows, sum)
	}
	e.peopleTable("merge")
	var parents *emulator.Person
	for _, p := range e.srv.People() {
		if p.ClusterID == dad.ClusterID {
			t.Errorf("Dad's cluster still stands after the merge")
		}
		if p.ClusterID == mom.ClusterID {
			parents = &p
		}
	}
	if parents == nil || parents.Name != "Parents" || parents.Count != len(union) || !slices.Contains(parents.Aliases, dad.ClusterID) {
		t.Fatalf("after the merge: %+v, want Mom's cluster named Parents with %d photos", parents, len(union))
	}
	for _, id := range []string{mom.ClusterID, dad.ClusterID} {
		if got, _ := e.srv.IDs("people:(" + id + ")"); len(got) != len(union) {
			t.Errorf("people:(%s) finds %d photos after the merge, want %d", id, len(got), len(union))
		}
	}
	e.rec.reset()
	rows, _ = e.run(`MERGE PEOPLE 'Mother', '` + dad.ClusterID + `' INTO 'Parents'`)
	if st := byStatus(rows); len(st[StatusSkipped]) != 2 || len(e.rec.matching("POST", "/cluster")) != 0 {
		t.Errorf("re-run MERGE PEOPLE: %+v, want 2 skipped and nothing sent", rows)
	}

	var cover string
	for _, id := range momPhotos {
		if n, ok := e.node(id); ok && n.Status == "AVAILABLE" && id != parents.Cover {
			cover = id
		}
	}
	rows, sum = e.run(`SET COVER OF PERSON 'Parents' TO '` + cover + `'`)
	if len(rows) != 1 || rows[0].status != StatusOK {
		t.Fatalf("SET COVER: %+v (%s)", rows, sum)
	}
	if got := e.srv.People(); !slices.ContainsFunc(got, func(p emulator.Person) bool { return p.ClusterID == mom.ClusterID && p.Cover == cover }) {
		t.Errorf("the service's cover is not %s: %+v", cover, got)
	}
	e.peopleTable("cover")
	if n := e.count(`SELECT count(*) FROM people WHERE clusterId = ? AND coverNodeId = ?`, mom.ClusterID, cover); n != 1 {
		t.Errorf("people.coverNodeId is not %s", cover)
	}
	e.rec.reset()
	if rows, _ = e.run(`SET COVER OF PERSON 'Parents' TO '` + cover + `'`); rows[0].status != StatusSkipped || e.rec.changes() != 0 {
		t.Errorf("re-run SET COVER: %+v, %d requests", rows, len(e.rec.reqs))
	}
	var stranger string
	for _, id := range e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' ORDER BY id`) {
		if !union[id] {
			stranger = id
			break
		}
	}
	rows, _ = e.run(`SET COVER OF PERSON 'Parents' TO '` + stranger + `'`)
	if rows[0].status != StatusFailed || !strings.Contains(rows[0].detail, "400") {
		t.Errorf("cover from a photo without the person: %+v, want a failed row with the 400", rows)
	}
	if _, _, err := e.try(t.Context(), `RENAME PERSON 'Nobody' TO 'X'`); err == nil || !strings.Contains(err.Error(), "SYNC PEOPLE") {
		t.Errorf("unknown person: %v, want an error naming SYNC PEOPLE", err)
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action IN ('RENAME PERSON', 'MERGE PEOPLE', 'SET COVER')`); n < 7 {
		t.Errorf("actions_log holds %d people entries, want one per row", n)
	}
}

// TestFamilyVault: ADD TO / REMOVE FROM FAMILY VAULT against the
// emulator's vault: batches of 50, the service's vault equals what was
// added, searchContext=family finds them, nodes.raw carries the familyId,
// a re-run sends nothing, and an account without a family is a clear error.
func TestFamilyVault(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 600, Seed: 44}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' OR contentType LIKE 'video/%' ORDER BY id LIMIT 120`)
	pdf := e.ids(`SELECT id FROM nodes WHERE contentType = 'application/pdf' LIMIT 1`)
	target := `(SELECT id FROM nodes WHERE id IN ` + idList(append(slices.Clone(ids), pdf...)) + `)`
	rows, _ := e.run(`EXPLAIN ADD TO FAMILY VAULT ` + target)
	if st := byStatus(rows); len(st[statusPlanned]) != 120 || len(e.rec.reqs) != 0 || !strings.Contains(rows[0].detail, "batch 1 of 3") {
		t.Fatalf("EXPLAIN: %v, %d requests", st, len(e.rec.reqs))
	}
	rows, sum := e.run(`ADD TO FAMILY VAULT ` + target)
	if st := byStatus(rows); len(st[StatusOK]) != 120 || len(pdf) == 1 && len(st[StatusSkipped]) != 1 {
		t.Fatalf("ADD TO FAMILY VAULT: %v (%s)", st, sum)
	}
	if n := len(e.rec.matching("POST", "/familyArchive/")); n != 3 {
		t.Errorf("%d POST /familyArchive/ requests, want 3 batches of at most 50", n)
	}
	want := slices.Sorted(slices.Values(ids))
	if got := e.srv.VaultIDs(); !slices.Equal(got, want) {
		t.Fatalf("the service's vault holds %d nodes, want the %d added", len(got), len(want))
	}
	page, err := e.c.Search(t.Context(), fetch.SearchQuery{SearchContext: "family", Limit: 1})
	if err != nil || page.Count != 120 {
		t.Errorf("searchContext=family: %v nodes (%v), want 120", page, err)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE (raw->>'familyId') = ?`, e.srv.FamilyID()); n != 120 {
		t.Errorf("%d nodes carry the familyId in raw, want 120", n)
	}
	e.rec.reset()
	rows, _ = e.run(`ADD TO FAMILY VAULT ` + target)
	if st := byStatus(rows); len(st[StatusSkipped]) != 120+len(pdf) || len(e.rec.matching("POST", "/familyArchive/")) != 0 {
		t.Errorf("re-run: %v, want all skipped and nothing sent", st)
	}
	rows, _ = e.run(`REMOVE FROM FAMILY VAULT ` + idsTarget(ids[:20]))
	if st := byStatus(rows); len(st[StatusOK]) != 20 {
		t.Fatalf("REMOVE FROM FAMILY VAULT: %v", st)
	}
	if got := e.srv.VaultIDs(); !slices.Equal(got, slices.Sorted(slices.Values(ids[20:]))) {
		t.Errorf("after removing 20 the vault holds %d nodes, want 100", len(got))
	}
	// changes names each node the statements changed, once a statement
	// (issue 23 item 3): the 120 added, then the 20 removed.
	for stmt, want := range map[string][]string{"ADD TO FAMILY VAULT": want, "REMOVE FROM FAMILY VAULT": slices.Sorted(slices.Values(ids[:20]))} {
		got := e.ids(`SELECT id FROM changes WHERE statement = ? AND by_apsql AND change = 'changed' AND fields = ['raw'] ORDER BY id`, stmt)
		if !slices.Equal(got, want) {
			t.Errorf("changes of %s: %d rows, want the %d nodes it changed", stmt, len(got), len(want))
		}
	}
	// A full SYNC keeps the vault as the service has it.
	if res, err := e.s.Run(t.Context(), "SYNC"); err != nil {
		t.Fatal(err)
	} else {
		res.Rows.Release()
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE (raw->>'familyId') IS NOT NULL`); n != 100 {
		t.Errorf("after SYNC %d nodes carry a familyId, want 100", n)
	}

	lone := setup(t, emulator.Options{Nodes: 50, Seed: 45, NoFamily: true}, 0)
	one := lone.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' LIMIT 1`)
	_, _, err = lone.try(t.Context(), `ADD TO FAMILY VAULT `+idsTarget(one))
	if err == nil || !strings.Contains(err.Error(), "Household") || len(lone.rec.matching("POST", "/familyArchive/")) != 0 {
		t.Errorf("an account without a family: %v, want a clear error and nothing sent", err)
	}
}

// idsTarget renders ids as an id-list target: 'a', 'b'.
func idsTarget(ids []string) string {
	l := idList(ids)
	return l[1 : len(l)-1]
}

// TestFamilyVaultUnderResets: with connections cut after the service
// applied a request, ADD TO FAMILY VAULT reads the nodes back instead of
// guessing; after at most a re-run the vault is exactly the target.
func TestFamilyVaultUnderResets(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 500, Seed: 46}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' ORDER BY id LIMIT 150`)
	e.srv.SetFaults(0, 0.1, 0.3, 0)
	rows, _ := e.run(`ADD TO FAMILY VAULT ` + idsTarget(ids))
	if st := byStatus(rows); len(st[StatusFailed]) > 0 {
		rows, _ = e.run(`ADD TO FAMILY VAULT ` + idsTarget(ids))
		if st := byStatus(rows); len(st[StatusFailed]) > 0 {
			t.Fatalf("re-run still failed: %v", st[StatusFailed])
		}
	}
	e.srv.SetFaults(0, 0, 0, 0)
	if got := e.srv.VaultIDs(); !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
		t.Errorf("the vault holds %d nodes, want the %d of the target", len(got), len(ids))
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE (raw->>'familyId') IS NOT NULL`); n != len(ids) {
		t.Errorf("%d nodes carry a familyId locally, want %d", n, len(ids))
	}
}

// The people statements under 500/503 answers and connections cut after
// the service applied the change: each ends as asked, at most after one
// re-run, the service's clusters are exactly what was asked for, and the
// people table equals them.
func TestPeopleStatementsUnderResets(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 1500, Seed: 47}, 0)
	e.syncPeople()
	people := e.srv.People()
	if len(people) < 3 {
		t.Fatalf("the library has %d people, want 3 or more", len(people))
	}
	a, b, c := people[0], people[1], people[2]
	cover, _ := e.srv.IDs("people:(" + c.ClusterID + ")")
	if len(cover) == 0 {
		t.Fatalf("%s is in no photo", c.ClusterID)
	}
	e.srv.SetFaults(0, 0.2, 0.4, 0)
	for _, stmt := range []string{
		`RENAME PERSON '` + a.ClusterID + `' TO 'Renamed under faults'`,
		`MERGE PEOPLE '` + a.ClusterID + `', '` + b.ClusterID + `' INTO 'Merged under faults'`,
		`SET COVER OF PERSON '` + c.ClusterID + `' TO '` + cover[len(cover)-1] + `'`,
	} {
		rows, _ := e.run(stmt)
		if st := byStatus(rows); len(st[StatusFailed]) > 0 {
			if rows, sum := e.run(stmt); len(byStatus(rows)[StatusFailed]) > 0 {
				t.Fatalf("%s: re-run still failed: %+v (%s)", stmt, rows, sum)
			}
		}
	}
	e.srv.SetFaults(0, 0, 0, 0)
	if st := e.srv.Stats(); st.Failed+st.Resets == 0 {
		t.Fatalf("no fault was injected (%+v): the test proves nothing", st)
	}
	byID := map[string]emulator.Person{}
	for _, p := range e.srv.People() {
		byID[p.ClusterID] = p
	}
	merged, gone := byID[a.ClusterID], byID[b.ClusterID]
	if merged.Name != "Merged under faults" || merged.Count < a.Count || gone.ClusterID != "" {
		t.Errorf("after MERGE: %+v and %+v, want one person named 'Merged under faults'", merged, gone)
	}
	if got := byID[c.ClusterID].Cover; got != cover[len(cover)-1] {
		t.Errorf("cover of %s = %q, want %q", c.ClusterID, got, cover[len(cover)-1])
	}
	e.peopleTable("under faults")
}
