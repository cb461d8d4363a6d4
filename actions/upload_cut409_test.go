package actions

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestUploadCut409Unknown (issue 23): the upload landed, its answer was
// cut, the resend's 409 was cut too, and so was every lookup of the node
// that holds the name: the first send may be what holds it, so the
// outcome is unknown, not refused. The re-run finds the file by its name
// and md5 (409), says it is the earlier run's upload, sends no second copy
// and journals no failure. Before, the file was journaled failed | refused
// though the service held it.
func TestUploadCut409Unknown(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 73}, 2)
	if _, err := e.srv.MkdirAll("Dest/cut"); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	dir := filepath.Join(t.TempDir(), "cut")
	writeFile(t, filepath.Join(dir, "y.jpg"), "photo y, whose answers are lost")
	rows, sum := e.runFaulted(cutUploadAnswers(e), `UPLOAD '`+dir+`' TO 'Dest'`)
	if e.srv.Stats().Resets == 0 || len(e.rec.matching("POST", "/cdproxy/nodes")) < 2 {
		t.Fatalf("no answer was cut or nothing was resent (%s): the test proves nothing", sum)
	}
	ids, err := e.srv.NodeIDs(`name:"y.jpg"`)
	if err != nil || len(ids) != 1 {
		t.Fatalf("the service holds y.jpg %d times (%v), want the first send landed once", len(ids), err)
	}
	id := ids[0]
	rows = slices.DeleteFunc(rows, func(r row) bool { return strings.HasSuffix(r.name, "/") })
	journal := func() string {
		return strings.Join(e.ids(`SELECT concat_ws(' | ', status, coalesce(reason, '')) FROM actions_log
WHERE action = 'UPLOAD' AND target = 'cut/y.jpg' AND status <> 'sending' ORDER BY seq`), "; ")
	}
	if len(rows) != 1 || rows[0].status != StatusFailed || !strings.Contains(rows[0].detail, unknownOutcome) {
		t.Errorf("the first run: %+v (%s), want y.jpg failed with its outcome unknown", rows, sum)
	}
	if got := journal(); got != "failed | unknown" {
		t.Errorf("the first run journaled y.jpg %q, want \"failed | unknown\" (the service holds it as %s)", got, id)
	}

	posts := len(e.rec.matching("POST", "/cdproxy/nodes"))
	rows, sum = e.run(`UPLOAD '` + dir + `' TO 'Dest'`)
	rows = slices.DeleteFunc(rows, func(r row) bool { return strings.HasSuffix(r.name, "/") })
	if len(rows) != 1 || rows[0].id != id || rows[0].status == StatusFailed || !strings.Contains(rows[0].detail, "earlier run") {
		t.Errorf("the re-run: %+v (%s), want y.jpg found as %s, the upload of the earlier run", rows, sum, id)
	}
	if n, err := e.srv.CountNodes(`name:"y.jpg"`); err != nil || n != 1 {
		t.Errorf("after the re-run the service holds y.jpg %d times (%v), want once", n, err)
	}
	if got := journal(); got != "failed | unknown; skipped | " {
		t.Errorf("the journal of y.jpg after the re-run: %q, want the first run's unknown, then the re-run's find", got)
	}
	t.Logf("the re-run sent %d uploads; %s", len(e.rec.matching("POST", "/cdproxy/nodes"))-posts, sum)
	e.nodesQuiet("the re-run")
}

// TestUploadResent409UnreadHolder (issue 23): the upload's answer was
// cut, the resend's 409 named the node that holds the name, but reading
// that node failed (its answers cut): the first send may be that node, so
// the outcome is unknown, not a plain failure. Before, it was journaled
// failed with no reason, which neither a re-run nor a reader can tell
// from a refusal.
func TestUploadResent409UnreadHolder(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 79}, 2)
	if _, err := e.srv.MkdirAll("Dest/unread"); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	dir := filepath.Join(t.TempDir(), "unread")
	writeFile(t, filepath.Join(dir, "z.jpg"), "photo z, whose holder cannot be read")
	posts := 0
	before := func(r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/cdproxy/nodes"):
			posts++
			if posts == 1 {
				e.srv.SetFaults(0, 0, 1, 0) // the first send's answer is cut
			} else {
				e.srv.SetFaults(0, 0, 0, 0) // the resend's 409 arrives whole
			}
		case posts >= 2 && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/nodes/"):
			e.srv.SetFaults(0, 0, 1, 0) // reading the holder is cut
		}
	}
	rows, sum := e.runFaulted(before, `UPLOAD '`+dir+`' TO 'Dest'`)
	if n, err := e.srv.CountNodes(`name:"z.jpg"`); err != nil || n != 1 || posts < 2 {
		t.Fatalf("the service holds z.jpg %d times (%v) after %d sends, want the first send landed once", n, err, posts)
	}
	rows = slices.DeleteFunc(rows, func(r row) bool { return strings.HasSuffix(r.name, "/") })
	if len(rows) != 1 || rows[0].status != StatusFailed || !strings.Contains(rows[0].detail, unknownOutcome) {
		t.Errorf("the UPLOAD: %+v (%s), want z.jpg failed with its outcome unknown", rows, sum)
	}
	if got := e.ids(`SELECT concat_ws(' | ', status, coalesce(reason, '')) FROM actions_log
WHERE action = 'UPLOAD' AND target = 'unread/z.jpg' AND status <> 'sending' ORDER BY seq`); !slices.Equal(got, []string{"failed | unknown"}) {
		t.Errorf("z.jpg journaled %q, want \"failed | unknown\"", got)
	}
}

// cutUploadAnswers cuts every answer of the emulator from the first
// upload on (runFaulted's before).
func cutUploadAnswers(e *env) func(r *http.Request) {
	return func(r *http.Request) {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/cdproxy/nodes") {
			e.srv.SetFaults(0, 0, 1, 0)
		}
	}
}
