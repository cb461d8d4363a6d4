package mirror

import (
	"errors"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// checkPeople compares the people table with the emulator's clusters.
func (e *env) checkPeople(t *testing.T) {
	t.Helper()
	want := e.srv.People()
	if n := e.queryInt(t, `SELECT count(*) FROM people`); n != int64(len(want)) || n == 0 {
		t.Fatalf("people: %d rows, want %d", n, len(want))
	}
	for _, p := range want {
		var name string
		var count int64
		if err := e.db.QueryRow(t.Context(), `SELECT name, count FROM people WHERE clusterId = ?`, p.ClusterID).Scan(&name, &count); err != nil {
			t.Fatalf("person %s: %v", p.ClusterID, err)
		}
		if name != p.Name || count != int64(p.Count) {
			t.Errorf("person %s: %q %d, want %q %d", p.ClusterID, name, count, p.Name, p.Count)
		}
	}
}

// Issue 17 item 3: /search/aggregation answered in the /search shape (an
// object keyed by category) is read like CDASDK's list; a garbage answer
// fails the people part alone, with a one-line warning naming the
// endpoint, and plain SYNC still refreshes usage and succeeds.
func TestSyncPartsFailAlone(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 1500, Seed: 5})

	e.srv.SetAggregationShape(emulator.AggregationObject)
	e.mustSync(t, "SYNC")
	e.checkPeople(t)
	e.mustSync(t, "SYNC AGGREGATIONS")
	if n := e.queryInt(t, `SELECT count(*) FROM aggregations WHERE category = 'people'`); n != int64(len(e.srv.People())) {
		t.Errorf("aggregations: %d people rows, want %d", n, len(e.srv.People()))
	}

	e.srv.SetAggregationShape(emulator.AggregationGarbage)
	// Something for usage to pick up: a photo uploaded meanwhile.
	upload(t, e.srv, "/Pictures", "late", "jpg", 1)
	res, err := e.sess.Run(t.Context(), "SYNC")
	if err != nil {
		t.Fatalf("plain SYNC with a garbage people answer failed: %v", err)
	}
	res.Rows.Release()
	var warn string
	for _, l := range strings.Split(res.Summary, "\n") {
		if strings.HasPrefix(l, "warning:") {
			if warn != "" {
				t.Errorf("more than one warning line:\n%s", res.Summary)
			}
			warn = l
		}
	}
	if !strings.Contains(warn, "SYNC PEOPLE") || !strings.Contains(warn, "GET /search/aggregation?category=people") {
		t.Errorf("warning %q: want one line naming SYNC PEOPLE and GET /search/aggregation?category=people\n(summary %q)", warn, res.Summary)
	}
	e.checkPeople(t) // kept from the SYNC before
	photos := e.srv.Usage().Categories["photo"].TotalCount
	if n := e.queryInt(t, `SELECT total_count FROM usage WHERE type = 'photo'`); n != photos || photos == 0 {
		t.Errorf("usage after SYNC: %d photos, the service says %d", n, photos)
	}

	// SYNC PEOPLE alone fails, naming the endpoint and the problem.
	_, err = e.sess.Run(t.Context(), "SYNC PEOPLE")
	if !errors.Is(err, fetch.ErrUnexpectedAnswer) || !strings.Contains(err.Error(), "GET /search/aggregation?category=people") {
		t.Errorf("SYNC PEOPLE on garbage: %v, want ErrUnexpectedAnswer naming the endpoint", err)
	}
}
