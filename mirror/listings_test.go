package mirror

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// arrivals records when each request reached the emulator, by the SYNC
// part that sent it (a handler in front of the emulator's own).
type arrivals struct {
	mu   sync.Mutex
	reqs []arrival
}

type arrival struct {
	at   time.Time
	part string
}

// partOf names the SYNC part a request belongs to.
func partOf(r *http.Request) string {
	path, filters := r.URL.Path, r.URL.Query().Get("filters")
	switch {
	case path == "/drive/v1/search":
		return "nodes"
	case path == "/drive/v1/search/aggregation":
		return "people"
	case path == "/drive/v1/account/usage":
		return "usage"
	case strings.Contains(filters, "isRoot") || strings.Contains(filters, "kind:FOLDER"):
		return "folders"
	case strings.Contains(filters, "VISUAL_COLLECTION") || strings.HasSuffix(path, "/children"):
		return "albums"
	}
	return "other"
}

func (a *arrivals) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, arrival{time.Now(), partOf(r)})
		a.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (a *arrivals) reset() {
	a.mu.Lock()
	a.reqs = nil
	a.mu.Unlock()
}

// spans returns each part's first and last arrival since the reset.
func (a *arrivals) spans() map[string][2]time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string][2]time.Time{}
	for _, r := range a.reqs {
		s, ok := out[r.part]
		if !ok {
			s[0] = r.at
		}
		s[1] = r.at
		out[r.part] = s
	}
	return out
}

// newRecordedEnv is newEnv with every request recorded on its way to the
// emulator, and a client that gives a request up after 1.5 s without an
// answer (200 ms an attempt), so that a hung endpoint fails its part soon.
func newRecordedEnv(t *testing.T, opts emulator.Options) (*env, *arrivals) {
	t.Helper()
	opts.State = true
	srv := emulator.StartTest(t, opts)
	rec := &arrivals{}
	front := httptest.NewServer(rec.front(srv))
	t.Cleanup(front.Close)
	e := envAt(t, srv, front.URL, func(c *fetch.Config) {
		c.HeaderTimeout = 200 * time.Millisecond
		c.ProgressTimeout = 1500 * time.Millisecond
	})
	return e, rec
}

// openLines is a Progress that records how many of its lines were drawn at
// once: a terminal shows one.
type openLines struct {
	mu         sync.Mutex
	open, most int
	labels     []string
}

func (o *openLines) Start(label string, _ int64, _ string) engine.Tracker {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.open++
	o.most = max(o.most, o.open)
	o.labels = append(o.labels, label)
	return &openLine{o: o}
}

type openLine struct {
	o    *openLines
	once sync.Once
}

func (l *openLine) Add(int64)      {}
func (l *openLine) SetTotal(int64) {}
func (l *openLine) Done() {
	l.once.Do(func() {
		l.o.mu.Lock()
		l.o.open--
		l.o.mu.Unlock()
	})
}

// smallParts are the parts plain SYNC lists beside the nodes.
var smallParts = []string{"folders", "albums", "people", "usage"}

// listedBeside checks that every small part sent its first request before
// the nodes part its last one: their listings ran beside the nodes'.
func listedBeside(t *testing.T, rec *arrivals, what string) {
	t.Helper()
	sp := rec.spans()
	nodes, ok := sp["nodes"]
	if !ok {
		t.Fatalf("%s: no request of the nodes part reached the emulator", what)
	}
	var report []string
	for _, p := range smallParts {
		s, ok := sp[p]
		if !ok {
			t.Errorf("%s: no request of the %s part reached the emulator", what, p)
			continue
		}
		report = append(report, fmt.Sprintf("%s %s..%s", p, s[0].Sub(nodes[0]).Round(time.Millisecond), s[1].Sub(nodes[0]).Round(time.Millisecond)))
		if !s[0].Before(nodes[1]) {
			t.Errorf("%s: the %s part's first request came %s after the nodes part's last one: it was not listed beside the nodes", what, p, s[0].Sub(nodes[1]).Round(time.Millisecond))
		}
	}
	t.Logf("%s: nodes requests 0..%s; from the nodes' first: %s", what, nodes[1].Sub(nodes[0]).Round(time.Millisecond), strings.Join(report, ", "))
}

// checkSmallTables compares folders, albums, album_members, people and
// usage with the emulator's state.
func (e *env) checkSmallTables(t *testing.T) {
	t.Helper()
	e.diffFolders(t, e.srv.State().Folders)
	if d := diffAlbums(e.albumMirror(t), albumTruth(t, e.srv)); d != "" {
		t.Errorf("albums differ from the service: %s", d)
	}
	e.checkPeople(t)
	e.checkUsage(t)
}

func (e *env) checkUsage(t *testing.T) {
	t.Helper()
	for cat, want := range e.srv.Usage().Categories {
		var count, bytes int64
		if err := e.db.QueryRow(t.Context(), "SELECT total_count, total_bytes FROM usage WHERE type = ?", cat).Scan(&count, &bytes); err != nil || count != want.TotalCount || bytes != want.TotalBytes {
			t.Errorf("usage %s = %d items %d bytes (%v), want %d, %d", cat, count, bytes, err, want.TotalCount, want.TotalBytes)
		}
	}
}

// changeLibrary changes what each part of plain SYNC mirrors: renames some
// photos, uploads into a new folder, creates an album and takes a member
// out of another.
func changeLibrary(t *testing.T, e *env, round int) {
	t.Helper()
	ids, err := e.srv.IDs(DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	for i := round; i < len(ids); i += 100 {
		if err := e.srv.Rename(ids[i], fmt.Sprintf("renamed-%d-%d.jpg", round, i)); err != nil {
			t.Fatal(err)
		}
	}
	upload(t, e.srv, fmt.Sprintf("/Pictures/new-%d", round), "late", "jpg", 2)
	if _, err := e.srv.CreateAlbum(fmt.Sprintf("album %d", round), ids[round*3:round*3+3]...); err != nil {
		t.Fatal(err)
	}
	for id := range e.srv.Albums() {
		if m, _ := e.srv.AlbumMembers(id); len(m) > 1 {
			if err := e.srv.RemoveAlbumMembers(id, m[0]); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
}

// checkNodes compares the nodes table with the service's photos and videos.
func (e *env) checkNodes(t *testing.T) {
	t.Helper()
	ids, err := e.srv.IDs(DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	e.loadTruth(t, "truth_nodes", e.truth(t, ids))
	e.diffNodes(t, "nodes", `SELECT id, name, md5, "version", size FROM nodes`, "truth_nodes")
}

// Issue 23: plain SYNC lists folders, albums (and their members), people
// and usage beside the nodes listing instead of after it, and still writes
// every table exactly as the service holds it: a first SYNC, then a
// re-SYNC after the library changed.
func TestSyncListsPartsBesideNodes(t *testing.T) {
	e, rec := newRecordedEnv(t, emulator.Options{Nodes: 4000, Seed: 31, Latency: 5 * time.Millisecond})
	for round, what := range []string{"first SYNC", "re-SYNC"} {
		if round > 0 {
			changeLibrary(t, e, round)
		}
		rec.reset()
		start := time.Now()
		got := e.mustSync(t, "SYNC")
		t.Logf("%s: %s, %v", what, time.Since(start).Round(time.Millisecond), got)
		listedBeside(t, rec, what)
		e.checkNodes(t)
		e.checkSmallTables(t)
	}
}

// A part whose service does not answer fails alone, as in series: its
// tables keep their previous contents whole (albums and album_members,
// although the album list itself arrived), the others are written, and
// the statement fails at the end only when the nodes part failed (naming
// the tables it refreshed).
func TestSyncListingFails(t *testing.T) {
	e, rec := newRecordedEnv(t, emulator.Options{Nodes: 1500, Seed: 32, Latency: 2 * time.Millisecond})
	e.mustSync(t, "SYNC")

	t.Run("nodes", func(t *testing.T) {
		changeLibrary(t, e, 1)
		before := e.fingerprint(t)
		e.srv.SetHang("GET /drive/v1/search", emulator.HangHeaders, 0, -1)
		defer e.srv.SetHang("", emulator.HangNone, 0, 0)
		rec.reset()
		_, err := e.sync(t, t.Context(), "SYNC")
		var pe *partsError
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "SYNC NODES: ") || !strings.Contains(err.Error(), "(folders, albums, album_members, people, usage refreshed)") {
			t.Fatalf("SYNC with /search hung: %v; want the nodes part's error naming the five tables refreshed", err)
		}
		t.Logf("SYNC: %v", err)
		listedBeside(t, rec, "nodes hung")
		if got := e.fingerprint(t); got != before {
			t.Errorf("nodes changed from %s to %s after its part failed", before, got)
		}
		e.checkSmallTables(t)
	})

	t.Run("albums and folders", func(t *testing.T) {
		folders, albums, members := e.fingerprintOf(t, "folders"), e.fingerprintOf(t, "albums"), e.fingerprintOf(t, "album_members")
		changeLibrary(t, e, 2)
		if diffAlbums(e.albumMirror(t), albumTruth(t, e.srv)) == "" {
			t.Fatal("the albums on the service did not change: the test proves nothing")
		}
		e.srv.SetHang("GET /drive/v1/nodes/{id}/children", emulator.HangHeaders, 0, -1)
		defer e.srv.SetHang("", emulator.HangNone, 0, 0)
		rec.reset()
		lines := &openLines{}
		e.sess.Progress = lines
		defer func() { e.sess.Progress = engine.NoProgress }()
		res, err := e.sess.Run(t.Context(), "SYNC")
		if err != nil {
			t.Fatalf("SYNC with the children listings hung: %v; want the other parts to succeed", err)
		}
		res.Rows.Release()
		t.Logf("summary: %s", res.Summary)
		var warned []string
		for _, l := range strings.Split(res.Summary, "\n") {
			if strings.HasPrefix(l, "warning: SYNC ") {
				warned = append(warned, strings.Fields(l)[2])
			}
		}
		if strings.Join(warned, " ") != "FOLDERS ALBUMS" {
			t.Errorf("warnings for %v, want FOLDERS and ALBUMS", warned)
		}
		// The nodes' line first; the folders' once the statement waits
		// for their listing, which hangs; never two at once.
		if lines.most != 1 || len(lines.labels) < 2 || lines.labels[0] != "sync nodes" || lines.labels[1] != "sync folders" {
			t.Errorf("progress lines %q, at most %d at once; want sync nodes, then sync folders, one at a time", lines.labels, lines.most)
		}
		if sp := rec.spans(); !sp["albums"][0].Before(sp["nodes"][1]) {
			t.Errorf("the albums were listed after the nodes")
		}
		for tb, was := range map[string]string{"folders": folders, "albums": albums, "album_members": members} {
			if got := e.fingerprintOf(t, tb); got != was {
				t.Errorf("%s changed from %s to %s after its part failed", tb, was, got)
			}
		}
		e.checkNodes(t)
		e.checkPeople(t)
		e.checkUsage(t)
	})

	// Once the service answers again, SYNC writes everything.
	e.mustSync(t, "SYNC")
	e.checkNodes(t)
	e.checkSmallTables(t)
}

// fingerprintOf summarises the rows of table (to prove it did not change).
func (e *env) fingerprintOf(t *testing.T, table string) string {
	t.Helper()
	var s string
	if err := e.db.QueryRow(t.Context(), `SELECT count(*)::VARCHAR || '/' || coalesce(sum(hash(t))::VARCHAR, '') FROM `+table+` t`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
