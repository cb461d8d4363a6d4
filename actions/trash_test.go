package actions

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
)

func TestTrashRestorePurgeEndToEnd(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 150, Seed: 1}, 0)
	want := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 60`)
	before := e.srv.State().TrashIDs // the synthetic library has a few

	rows, sum := e.run(`TRASH (SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 60)`)
	if got := byStatus(rows)[StatusOK]; len(got) != 60 {
		t.Fatalf("TRASH: %d ok, want 60 (summary %q)", len(got), sum)
	}
	if n := len(e.rec.matching("PATCH", "/drive/v1/trash")); n != 2 {
		t.Errorf("TRASH of 60 nodes sent %d PATCH /trash, want 2 (batches of 50)", n)
	}
	if got := e.srv.State().TrashIDs; !slices.Equal(got, sorted(append(want, before...))) {
		t.Errorf("emulator trash = %d ids, want the 60 trashed", len(got))
	}
	if n := e.count(`SELECT count(*) FROM trash WHERE id IN (SELECT unnest(?::VARCHAR[]))`, want); n != 60 {
		t.Errorf("local trash holds %d of the 60, want all", n)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id IN (SELECT unnest(?::VARCHAR[]))`, want); n != 0 {
		t.Errorf("local nodes still holds %d trashed nodes", n)
	}
	if n := e.count(`SELECT count(*) FROM trash WHERE status <> 'TRASH'`); n != 0 {
		t.Errorf("%d trash rows without status TRASH", n)
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action = 'TRASH' AND status = 'ok'`); n != 60 {
		t.Errorf("actions_log has %d ok TRASH entries, want 60", n)
	}

	// Re-running by id skips what is done and sends nothing.
	e.rec.reset()
	rows, _ = e.run(fmt.Sprintf(`TRASH '%s', '%s'`, want[0], want[1]))
	if st := byStatus(rows); len(st[StatusSkipped]) != 2 || len(e.rec.matching("PATCH", "/trash")) != 0 {
		t.Errorf("re-run TRASH: %v, %d requests; want 2 skipped, no request", st, len(e.rec.matching("PATCH", "/trash")))
	}

	// RESTORE evaluates WHERE over trash.
	rows, _ = e.run(fmt.Sprintf(`RESTORE WHERE id IN ('%s', '%s')`, want[0], want[1]))
	if got := byStatus(rows)[StatusOK]; len(got) != 2 {
		t.Fatalf("RESTORE: %v, want 2 ok", rows)
	}
	for _, id := range want[:2] {
		if n, _ := e.node(id); n.Status != "AVAILABLE" {
			t.Errorf("restored %s has status %q on the service", id, n.Status)
		}
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE status = 'AVAILABLE' AND id IN (?, ?)`, want[0], want[1]); n != 2 {
		t.Errorf("restored nodes not back in nodes (%d of 2)", n)
	}

	// PURGE: batch mode needs --yes; nodes not in trash are an error that names them.
	if _, _, err := e.try(t.Context(), `PURGE WHERE true`); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("PURGE without --yes in batch mode: err = %v, want one naming --yes", err)
	}
	e.s.Yes = true
	_, _, err := e.try(t.Context(), fmt.Sprintf(`PURGE '%s', '%s'`, want[0], want[2]))
	if err == nil || !strings.Contains(err.Error(), want[0]) || strings.Contains(err.Error(), want[2]) {
		t.Errorf("PURGE of a node not in trash: err = %v, want one listing %s only", err, want[0])
	}
	if st := e.srv.State(); len(st.TrashIDs) != 58+len(before) {
		t.Errorf("a refused PURGE changed the trash: %d ids, want %d", len(st.TrashIDs), 58+len(before))
	}
	rows, _ = e.run(`PURGE WHERE true`)
	if got := byStatus(rows)[StatusOK]; len(got) != 58+len(before) {
		t.Fatalf("PURGE: %d ok, want %d", len(got), 58+len(before))
	}
	for _, id := range want[2:] {
		if _, ok := e.node(id); ok {
			t.Fatalf("purged %s still on the service", id)
		}
	}
	if n := e.count(`SELECT count(*) FROM trash`); n != 0 {
		t.Errorf("local trash holds %d rows after PURGE, want 0", n)
	}
}

func TestEmptyTargetSendsNothing(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 20, Seed: 2}, 0)
	for _, stmt := range []string{`TRASH WHERE false`, `FAVORITE FILTER 'name:nothing-is-called-this'`, `DOWNLOAD WHERE false TO '` + t.TempDir() + `'`} {
		rows, sum := e.run(stmt)
		if len(rows) != 0 || !strings.Contains(sum, "nothing to do") {
			t.Errorf("%s: %d rows, summary %q; want none and 'nothing to do'", stmt, len(rows), sum)
		}
	}
	if n := len(e.rec.reqs); n != 0 {
		t.Errorf("empty targets sent %d requests", n)
	}
}

func TestExplainSendsNothing(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 130, Seed: 3}, 0)
	before := e.srv.Stats().Requests
	rows, sum := e.run(`EXPLAIN TRASH WHERE kind = 'FILE'`)
	n := e.count(`SELECT count(*) FROM nodes WHERE kind = 'FILE'`)
	if len(rows) != n || !strings.Contains(sum, fmt.Sprintf("would send %d requests", (n+49)/50)) {
		t.Errorf("EXPLAIN TRASH: %d rows (want %d), summary %q", len(rows), n, sum)
	}
	if rows[0].status != "planned" || !strings.Contains(rows[0].detail, "batch 1 of") {
		t.Errorf("EXPLAIN row = %+v, want planned with its batch", rows[0])
	}
	e.run(`EXPLAIN FAVORITE WHERE true`)
	e.run(`EXPLAIN DOWNLOAD WHERE kind = 'FILE' TO '` + t.TempDir() + `'`)
	e.run(`EXPLAIN CREATE ALBUM 'x' FROM (SELECT id FROM nodes LIMIT 3)`)
	if got := e.srv.Stats().Requests; got != before {
		t.Errorf("EXPLAIN sent %d requests", got-before)
	}
	if n := e.count(`SELECT count(*) FROM actions_log`); n != 0 {
		t.Errorf("EXPLAIN journaled %d entries", n)
	}
	if n := e.count(`SELECT count(*) FROM trash`); n != len(e.srv.State().TrashIDs) {
		t.Errorf("EXPLAIN TRASH changed the local trash: %d rows", n)
	}
}

// TestPartialFailureThenRerun: with faults, the result and the journal name
// exactly the ids that failed, which are those the service did not apply
// and those whose outcome could not be learnt (a cut answer, then failed
// read-backs); the re-run completes them, reading the unknown ones back
// instead of resending; no id is applied twice.
func TestPartialFailureThenRerun(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 400, Seed: 4}, 1)
	e.srv.SetFaults(0, 0.45, 0.15, 0)
	all := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id`)
	before := len(e.srv.State().TrashIDs)
	rows, sum := e.run(`TRASH WHERE kind = 'FILE'`)
	st := byStatus(rows)
	failed := st[StatusFailed]
	if len(failed) == 0 || len(st[StatusOK]) == 0 {
		t.Fatalf("want some ok and some failed with fail rate 0.45: %q", sum)
	}
	slices.Sort(failed)
	journal := e.ids(`SELECT target FROM actions_log WHERE action = 'TRASH' AND status = 'failed' ORDER BY target`)
	if !slices.Equal(journal, failed) {
		t.Errorf("journal failed ids (%d) differ from the result's (%d)", len(journal), len(failed))
	}
	trashed := e.srv.State().TrashIDs
	detail := map[string]string{}
	for _, r := range rows {
		detail[r.id] = r.detail
	}
	landed := 0 // failed with an unknown outcome, but applied
	for _, id := range failed {
		if _, in := slices.BinarySearch(trashed, id); in {
			landed++
			if !strings.Contains(detail[id], unknownOutcome) {
				t.Errorf("%s reported failed for sure (%q) but is in the service's trash", id, detail[id])
			}
		}
	}
	if len(trashed)-before+len(failed)-landed != len(all) {
		t.Errorf("service trash %d (%d before) + failed %d (%d of them landed) != %d targeted", len(trashed), before, len(failed), landed, len(all))
	}

	e.srv.SetFaults(0, 0, 0, 0)
	rows, sum = e.run(`TRASH WHERE kind = 'FILE'`)
	got := byStatus(rows)[StatusOK]
	slices.Sort(got)
	if !slices.Equal(got, failed) || len(rows) != len(failed) {
		t.Errorf("re-run: %d rows, %d ok; want exactly the %d failed (%s)", len(rows), len(got), len(failed), sum)
	}
	if n := len(e.srv.State().TrashIDs); n != len(all)+before {
		t.Errorf("after the re-run the service trash holds %d, want %d", n, len(all)+before)
	}
	if twice := appliedTwice(e.rec.matching("PATCH", "/trash")); len(twice) > 0 {
		t.Errorf("%d ids were applied twice, e.g. %s", len(twice), twice[0])
	}
}

// TestUnknownOutcomeIsCheckedBeforeResending: an earlier run that could not
// learn whether its request landed makes the re-run read the node back
// instead of sending it again.
func TestUnknownOutcomeIsCheckedBeforeResending(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 30, Seed: 5}, 0)
	id := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	if err := e.srv.TrashIDs(id); err != nil { // the lost request did land
		t.Fatal(err)
	}
	// The detail as runMove journals it: the request, then the marker.
	e.exec(`INSERT INTO actions_log VALUES (1, now(), 'TRASH', ?, 'failed', ?, 'unknown')`, id,
		joinDetail(moveTrash.request(), unknownOutcome+": connection reset"))
	rows, _ := e.run(fmt.Sprintf(`TRASH '%s'`, id))
	if len(rows) != 1 || rows[0].status != StatusOK || !strings.Contains(rows[0].detail, "earlier run") {
		t.Fatalf("rows = %+v, want one ok 'done by an earlier run'", rows)
	}
	if n := len(e.rec.matching("PATCH", "/trash")); n != 0 {
		t.Errorf("sent %d PATCH /trash for a node already in trash", n)
	}
	if n := e.count(`SELECT count(*) FROM trash WHERE id = ?`, id); n != 1 {
		t.Errorf("the settled node is not in the local trash")
	}
}

// TestInterruptFinishesInFlight: cancelling stops new batches; those in
// flight finish; the result, the journal and the service agree.
func TestInterruptFinishesInFlight(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 1200, Seed: 6, Latency: 80 * time.Millisecond}, 0)
	before := e.srv.State().TrashIDs
	ctx, cancel := context.WithCancel(t.Context())
	var sent atomic.Int32
	e.rec.before = func(r *http.Request) {
		if r.Method == http.MethodPatch && sent.Add(1) == 4 {
			cancel() // Ctrl-C while four batches are in flight
		}
	}
	rows, sum, err := e.try(ctx, `TRASH WHERE kind = 'FILE'`)
	if err != nil {
		t.Fatal(err)
	}
	st := byStatus(rows)
	if !strings.Contains(sum, "interrupted") || len(st[StatusOK]) == 0 || len(st[StatusFailed]) == 0 {
		t.Fatalf("summary %q, %d ok, %d failed; want an interrupted run with both", sum, len(st[StatusOK]), len(st[StatusFailed]))
	}
	for _, r := range rows {
		if r.status == StatusFailed && r.detail != notSent {
			t.Fatalf("failed row %+v, want only %q", r, notSent)
		}
	}
	ok := st[StatusOK]
	if got := e.srv.State().TrashIDs; !slices.Equal(got, sorted(append(ok, before...))) {
		t.Errorf("service trash holds %d, result says %d ok", len(got), len(ok))
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE status = 'ok'`); n != len(ok) {
		t.Errorf("journal has %d ok, result %d", n, len(ok))
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE status <> 'sending'`); n != len(rows) {
		t.Errorf("journal has %d outcome entries, result %d rows", n, len(rows))
	}
	// Every request journaled as about to be sent has its outcome after it.
	if n := e.count(`SELECT count(*) FROM (SELECT target, arg_max(status, seq) AS last FROM actions_log GROUP BY target) WHERE last = 'sending'`); n != 0 {
		t.Errorf("%d targets end with a 'sending' entry and no outcome", n)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestConfirmation(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 30, Seed: 15}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 3`)
	list := fmt.Sprintf(`'%s', '%s', '%s'`, ids[0], ids[1], ids[2])
	var asked []string
	answer := false
	e.s.Interactive = true
	e.s.Confirm = func(q string) bool { asked = append(asked, q); return answer }

	rows, sum := e.run(`TRASH ` + list)
	if len(asked) != 1 || !strings.HasPrefix(asked[0], "trash 3 items (") || !strings.HasSuffix(asked[0], "B)?") {
		t.Fatalf("asked %q, want 'trash 3 items (SIZE)?'", asked)
	}
	if len(e.rec.reqs) != 0 || sum != "cancelled: nothing was sent" || len(rows) != 0 {
		t.Errorf("declined TRASH: %d requests, summary %q, %d rows; want nothing sent, one line and no rows", len(e.rec.reqs), sum, len(rows))
	}
	if n := e.count(`SELECT count(*) FROM actions_log`); n != 0 {
		t.Errorf("declined TRASH journaled %d entries, want none", n)
	}
	answer = true
	rows, _ = e.run(`TRASH ` + list)
	if len(byStatus(rows)[StatusOK]) != 3 {
		t.Errorf("confirmed TRASH: %+v", rows)
	}
	asked = nil
	rows, _ = e.run(`PURGE ` + list)
	if len(asked) != 1 || !strings.HasPrefix(asked[0], "purge 3 items") || len(byStatus(rows)[StatusOK]) != 3 {
		t.Errorf("PURGE asked %q, rows %+v; want one question and 3 ok", asked, rows)
	}
	// Batch mode: TRASH goes ahead without asking.
	e.s.Interactive, e.s.Confirm, asked = false, nil, nil
	rows, _ = e.run(fmt.Sprintf(`TRASH '%s'`, e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]))
	if len(byStatus(rows)[StatusOK]) != 1 {
		t.Errorf("batch TRASH: %+v", rows)
	}
}

// TestPurgeNotInTrashCounts: the refusal counts every node not in the
// trash, though it lists only the first ten.
func TestPurgeNotInTrashCounts(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40, Seed: 2}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 15`)
	e.s.Yes = true
	_, _, err := e.try(t.Context(), `PURGE '`+strings.Join(ids, `', '`)+`'`)
	if err == nil || !strings.Contains(err.Error(), "15 nodes are not in the trash") || !strings.Contains(err.Error(), "and 5 more") {
		t.Errorf("PURGE of 15 nodes not in trash: %v", err)
	}
}

// TestTrashRowsAreTheServices: the rows TRASH writes into trash are the
// nodes as the service shows them after trashing them (it bumps version
// and modifiedDate), read back once per statement from GET /trash
// (newest change first) rather than one GET per node: after a TRASH of files (two batches) and
// of a folder (its subtree, a file the mirror never held too), every row
// of trash is the emulator's node, and a SYNC TRASH right after adds,
// updates and removes nothing. Before, the rows were the mirror's from
// before the trash (a folder's without a version), and the SYNC TRASH
// updated them.
func TestTrashRowsAreTheServices(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 150, Seed: 81}, 0)
	if _, err := e.srv.MkdirAll("Box/inner"); err != nil {
		t.Fatal(err)
	}
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id`)
	for i, id := range files[60:64] {
		if err := e.srv.Move(id, []string{"Box", "Box/inner"}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	e.syncAll()
	e.runQuiet(`SYNC FOLDERS`)
	e.runQuiet(`SYNC TRASH`)
	e.serviceHas("Box/inner", "late.jpg", "uploaded behind the mirror's back")
	box := e.folderOf("Box")
	e.s.Yes = true

	singleGets := func() int {
		n := 0
		for _, q := range e.rec.matching(http.MethodGet, "/drive/v1/nodes/") {
			if !strings.HasSuffix(q.path, "/children") {
				n++
			}
		}
		return n
	}
	for _, st := range []struct{ stmt, what string }{
		{`TRASH ` + idsTarget(files[:60]), "60 files"},
		{`TRASH '` + box + `'`, "a folder with 6 nodes below it"},
	} {
		e.rec.reset()
		rows, sum := e.run(st.stmt)
		if len(byStatus(rows)[StatusOK]) != len(rows) {
			t.Fatalf("%s: %+v (%s), want all ok", st.what, rows, sum)
		}
		patch, list, gets := len(e.rec.matching(http.MethodPatch, "/trash")), len(e.rec.matching(http.MethodGet, "/trash")), singleGets()
		t.Logf("TRASH of %s (%d rows): %d PATCH /trash, %d GET /trash, %d GET /nodes/{id}, %d GET children; %s", st.what, len(rows), patch,
			list, gets, len(e.rec.matching(http.MethodGet, "/children")), sum)
		if pages := (len(rows)+199)/200 + 1; gets != 0 || list == 0 || list > pages {
			t.Errorf("TRASH of %s read its nodes back with %d GET /nodes/{id} and %d GET /trash for %d PATCH /trash; want no GET per node, one read-back of at most %d pages",
				st.what, gets, list, patch, pages)
		}
	}
	for _, id := range e.ids(`SELECT id FROM trash ORDER BY id`) {
		e.sameServiceRow("trash", id)
	}
	e.sameTrash()
	if st := e.syncTrash(); st.inserted != 0 || st.updated != 0 || st.removed != 0 {
		t.Errorf("the SYNC TRASH right after added %d, updated %d and removed %d rows of trash, want none", st.inserted, st.updated, st.removed)
	}
}

// TestTrashRowsReadBackFails: when the trashed nodes cannot be read back,
// the TRASH still journals them ok and moves the mirror's rows into trash
// as before, each row saying that trash holds the mirror's row and that
// SYNC TRASH reads it; that SYNC TRASH then updates exactly those rows.
func TestTrashRowsReadBackFails(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40, Seed: 83}, 1)
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 3`)
	e.rec.next = failingList{"/trash", e.rec.next}
	rows, sum := e.run(`TRASH ` + idsTarget(files))
	e.rec.next = e.rec.next.(failingList).next
	for _, r := range rows {
		if r.status != StatusOK || !strings.Contains(r.detail, "reading it back failed") || !strings.Contains(r.detail, "SYNC TRASH reads it") {
			t.Errorf("row %+v, want ok saying trash holds the mirror's row (%s)", r, sum)
		}
	}
	if len(rows) != 3 || e.count(`SELECT count(*) FROM trash WHERE id IN (?, ?, ?)`, files[0], files[1], files[2]) != 3 {
		t.Fatalf("rows %+v; want the 3 files ok and in trash", rows)
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action = 'TRASH' AND status = 'ok'`); n != 3 {
		t.Errorf("actions_log has %d ok TRASH entries, want 3", n)
	}
	if st := e.syncTrash(); st.inserted != 0 || st.updated != 3 || st.removed != 0 {
		t.Errorf("the SYNC TRASH after: %+v, want the 3 rows updated", st)
	}
	for _, id := range files {
		e.sameServiceRow("trash", id)
	}
}

// TestTrashRowsReadBackPages: a TRASH of 450 files (9 batches) reads the
// trash listing back once, after the last batch: its first page, then the
// two more its nodes fill, fetched together; every row of trash is then
// the emulator's node, and a SYNC TRASH right after changes nothing.
func TestTrashRowsReadBackPages(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 520, Seed: 85}, 0)
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 450`)
	if len(files) != 450 {
		t.Fatalf("the library holds %d files, want 450", len(files))
	}
	e.s.Yes = true
	e.rec.reset()
	rows, sum := e.run(`TRASH ` + idsTarget(files))
	if len(byStatus(rows)[StatusOK]) != 450 {
		t.Fatalf("%d rows ok (%s), want 450", len(byStatus(rows)[StatusOK]), sum)
	}
	patch, list, gets := len(e.rec.matching(http.MethodPatch, "/trash")), len(e.rec.matching(http.MethodGet, "/trash")), len(e.rec.matching(http.MethodGet, "/drive/v1/nodes/"))
	t.Logf("TRASH of 450 files: %d PATCH /trash, %d GET /trash, %d GET /nodes/{id}; %s", patch, list, gets, sum)
	if patch != 9 || list != 3 || gets != 0 {
		t.Errorf("TRASH of 450 files sent %d PATCH /trash, %d GET /trash and %d GET /nodes/{id}; want 9, 3 (one read-back of 3 pages) and 0", patch, list, gets)
	}
	for _, id := range files {
		e.sameServiceRow("trash", id)
	}
	if st := e.syncTrash(); st.inserted != 0 || st.updated != 0 || st.removed != 0 {
		t.Errorf("the SYNC TRASH right after added %d, updated %d and removed %d rows of trash, want none", st.inserted, st.updated, st.removed)
	}
}

// emptyTrashList answers every GET /trash with an empty listing, as a
// service that has not indexed the nodes yet would.
type emptyTrashList struct{ next http.RoundTripper }

func (f emptyTrashList) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/trash") {
		body := `{"count":0,"data":[]}`
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: r}, nil
	}
	return f.next.RoundTrip(r)
}

// TestTrashRowsNotListed: nodes the trash listing does not show are read
// one by one when they are few (30: 30 GET /nodes/{id}, the rows the
// service's); when they are more than 200 (250), none is read, each row
// and the summary say trash holds the mirror's row, and the SYNC TRASH
// after updates exactly those.
func TestTrashRowsNotListed(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 520, Seed: 87}, 0)
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 280`)
	if len(files) != 280 {
		t.Fatalf("the library holds %d files, want 280", len(files))
	}
	e.s.Yes = true
	e.rec.next = emptyTrashList{e.rec.next}

	e.rec.reset()
	rows, sum := e.run(`TRASH ` + idsTarget(files[:30]))
	gets := len(e.rec.matching(http.MethodGet, "/drive/v1/nodes/"))
	t.Logf("TRASH of 30 files not listed: %d GET /nodes/{id}; %s", gets, sum)
	if len(byStatus(rows)[StatusOK]) != 30 || gets != 30 || strings.Contains(sum, "SYNC TRASH") {
		t.Errorf("TRASH of 30 files not listed: %d ok, %d GET /nodes/{id} (%s); want 30 ok read one by one", len(byStatus(rows)[StatusOK]), gets, sum)
	}
	for _, id := range files[:30] {
		e.sameServiceRow("trash", id)
	}

	e.rec.reset()
	rows, sum = e.run(`TRASH ` + idsTarget(files[30:]))
	gets = len(e.rec.matching(http.MethodGet, "/drive/v1/nodes/"))
	t.Logf("TRASH of 250 files not listed: %d GET /nodes/{id}; %s", gets, sum)
	if gets != 0 || !strings.Contains(sum, "trash holds 250 trashed nodes as the mirror had them") {
		t.Errorf("TRASH of 250 files not listed: %d GET /nodes/{id}, summary %q; want none read one by one, the summary saying so", gets, sum)
	}
	for _, r := range rows {
		if r.status != StatusOK || !strings.Contains(r.detail, "SYNC TRASH reads it") {
			t.Errorf("row %+v, want ok saying trash holds the mirror's row", r)
		}
	}
	e.rec.next = e.rec.next.(emptyTrashList).next
	if st := e.syncTrash(); st.inserted != 0 || st.updated != 250 || st.removed != 0 {
		t.Errorf("the SYNC TRASH after: %+v, want the 250 rows updated", st)
	}
}
