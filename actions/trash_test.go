package actions

import (
	"context"
	"fmt"
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
