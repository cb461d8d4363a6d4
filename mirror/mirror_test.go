package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/filetypes"
)

// env is a mirror over an emulator on loopback, through the real client.
type env struct {
	srv    *emulator.Server
	db     *engine.DB
	sess   *engine.Session
	client *fetch.Client
	hook   atomic.Pointer[func(fetch.Event)]
}

func newEnv(t *testing.T, opts emulator.Options) *env {
	t.Helper()
	opts.State = true
	srv := emulator.StartTest(t, opts)
	return envAt(t, srv, srv.URL(), nil)
}

// envAt is a mirror over srv reached at endpoint (its URL, or a handler in
// front of it), through a client that cfg, when set, configures further.
func envAt(t *testing.T, srv *emulator.Server, endpoint string, cfg func(*fetch.Config)) *env {
	t.Helper()
	e := &env{srv: srv}
	cookies, err := fetch.NewCookies(e.srv.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	c := fetch.Config{Cookies: cookies, Endpoint: endpoint, Events: func(ev fetch.Event) {
		if h := e.hook.Load(); h != nil {
			(*h)(ev)
		}
	}}
	if cfg != nil {
		cfg(&c)
	}
	e.client, err = fetch.New(c)
	if err != nil {
		t.Fatal(err)
	}
	e.db, err = engine.Open(t.Context(), engine.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	clientFn := func(context.Context) (*fetch.Client, error) { return e.client, nil }
	Register(e.db.Commands(), clientFn)
	if err := RegisterSearch(e.db, clientFn); err != nil {
		t.Fatal(err)
	}
	e.sess = engine.NewSession(e.db)
	return e
}

// counts is one row of SYNC's result.
type counts struct{ fetched, inserted, updated, removed int64 }

// sync runs stmt and returns its result rows by table.
func (e *env) sync(t *testing.T, ctx context.Context, stmt string) (map[string]counts, error) {
	t.Helper()
	res, err := e.sess.Run(ctx, stmt)
	if err != nil {
		return nil, err
	}
	defer res.Rows.Release()
	out := map[string]counts{}
	for res.Rows.Next() {
		r := res.Rows.RecordBatch()
		for i := range int(r.NumRows()) {
			c := func(k int) int64 { return r.Column(k).(*array.Int64).Value(i) }
			out[r.Column(0).(*array.String).Value(i)] = counts{c(1), c(2), c(3), c(4)}
		}
	}
	if res.Summary == "" || !strings.HasPrefix(res.Summary, "sync: ") {
		t.Errorf("%s: summary %q, want a line starting with \"sync: \"", stmt, res.Summary)
	}
	return out, nil
}

func (e *env) mustSync(t *testing.T, stmt string) map[string]counts {
	t.Helper()
	got, err := e.sync(t, t.Context(), stmt)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return got
}

func (e *env) queryInt(t *testing.T, q string) int64 {
	t.Helper()
	var n int64
	if err := e.db.QueryRow(t.Context(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// fingerprint summarises the nodes table (to prove it did not change).
func (e *env) fingerprint(t *testing.T) string {
	t.Helper()
	var s string
	if err := e.db.QueryRow(t.Context(), `SELECT count(*)::VARCHAR || '/' || coalesce(sum(hash(id, "version", name))::VARCHAR, '') FROM nodes`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFullSyncUnderFaults(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 4000
	}
	e := newEnv(t, emulator.Options{Nodes: n, Seed: 7, FailRate: 0.1, ResetRate: 0.05, RateLimit: 50})
	want, err := e.srv.IDs(DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	got := e.mustSync(t, "SYNC")
	if c := got["nodes"]; c.fetched != int64(len(want)) || c.inserted != int64(len(want)) || c.updated != 0 || c.removed != 0 {
		t.Errorf("first SYNC nodes = %+v, want %d fetched and inserted", c, len(want))
	}
	for _, tb := range []string{"folders", "usage"} {
		if got[tb].fetched == 0 {
			t.Errorf("first SYNC %s fetched nothing", tb)
		}
	}
	if st := e.srv.Stats(); st.Failed+st.Resets+st.Throttled == 0 {
		t.Errorf("the emulator injected no faults (%+v); the test proves nothing", st)
	}

	if rows, distinct := e.queryInt(t, "SELECT count(*) FROM nodes"), e.queryInt(t, "SELECT count(DISTINCT id) FROM nodes"); rows != int64(len(want)) || distinct != rows {
		t.Errorf("nodes has %d rows, %d distinct ids; want %d", rows, distinct, len(want))
	}
	// The same ids as the service.
	if _, err := e.db.Exec(t.Context(), "CREATE TEMP TABLE want_ids (id VARCHAR)"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(want); i += 1000 {
		vals := make([]string, 0, 1000)
		for _, id := range want[i:min(i+1000, len(want))] {
			vals = append(vals, "("+engine.Quote(id)+")")
		}
		if _, err := e.db.Exec(t.Context(), "INSERT INTO want_ids VALUES "+strings.Join(vals, ",")); err != nil {
			t.Fatal(err)
		}
	}
	if d := e.queryInt(t, "SELECT count(*) FROM (SELECT id FROM nodes EXCEPT SELECT id FROM want_ids UNION ALL (SELECT id FROM want_ids EXCEPT SELECT id FROM nodes))"); d != 0 {
		t.Errorf("%d ids differ between the mirror and the service", d)
	}
	// Spot checks against the service's JSON.
	for _, id := range []string{want[0], want[len(want)/2], want[len(want)-1]} {
		raw, ok := e.srv.Node(id)
		if !ok {
			t.Fatalf("emulator lost node %s", id)
		}
		var node struct {
			Name      string `json:"name"`
			Version   int64  `json:"version"`
			CreatedBy string `json:"createdBy"`
			CP        struct {
				Size      int64  `json:"size"`
				MD5       string `json:"md5"`
				Extension string `json:"extension"`
			} `json:"contentProperties"`
		}
		if err := json.Unmarshal(raw, &node); err != nil {
			t.Fatal(err)
		}
		var name, md5, category string
		var size, version int64
		if err := e.db.QueryRow(t.Context(), `SELECT name, md5, category, size, "version" FROM nodes WHERE id = ?`, id).Scan(&name, &md5, &category, &size, &version); err != nil {
			t.Fatalf("node %s: %v", id, err)
		}
		if name != node.Name || md5 != node.CP.MD5 || size != node.CP.Size || version != node.Version || category != filetypes.Category(node.CP.Extension) {
			t.Errorf("node %s = (%s, %s, %d, v%d, %s), want (%s, %s, %d, v%d, %s)", id, name, md5, size, version, category,
				node.Name, node.CP.MD5, node.CP.Size, node.Version, filetypes.Category(node.CP.Extension))
		}
		// raw arrives as Arrow's JSON extension type: DuckDB stores it as JSON.
		var rawType, createdBy string
		if err := e.db.QueryRow(t.Context(), `SELECT typeof(raw), raw->>'createdBy' FROM nodes WHERE id = ?`, id).Scan(&rawType, &createdBy); err != nil {
			t.Fatalf("node %s raw: %v", id, err)
		}
		if rawType != "JSON" || createdBy != node.CreatedBy || createdBy == "" {
			t.Errorf("node %s raw: type %s, createdBy %q, want JSON and %q", id, rawType, createdBy, node.CreatedBy)
		}
	}
	if n := e.queryInt(t, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'apsql_sync'"); n != 0 {
		t.Errorf("%d staging tables left behind", n)
	}

	again := e.mustSync(t, "SYNC")
	for tb, c := range again {
		if c.inserted+c.updated+c.removed != 0 {
			t.Errorf("second SYNC %s = %+v, want no changes", tb, c)
		}
	}
}

func TestSyncChanges(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 3000, Seed: 3})
	e.mustSync(t, "SYNC NODES")
	ids, err := e.srv.IDs(DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.TrashIDs(ids[10], ids[20], ids[30]); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{ids[40], ids[50]} {
		if err := e.srv.Rename(id, "renamed-"+id+".jpg"); err != nil {
			t.Fatal(err)
		}
	}
	jpeg, _ := e.srv.Content(ids[60])
	newID, err := e.srv.Upload("Pictures/Web", "fresh.jpg", jpeg)
	if err != nil {
		t.Fatal(err)
	}

	got := e.mustSync(t, "SYNC")["nodes"]
	if got.inserted != 1 || got.updated != 2 || got.removed != 3 {
		t.Errorf("SYNC after trash 3, rename 2, upload 1 = %+v, want inserted 1, updated 2, removed 3", got)
	}
	var name string
	if err := e.db.QueryRow(t.Context(), "SELECT name FROM nodes WHERE id = ?", ids[40]).Scan(&name); err != nil || name != "renamed-"+ids[40]+".jpg" {
		t.Errorf("renamed node's name = %q (%v), want the new name", name, err)
	}
	if n := e.queryInt(t, "SELECT count(*) FROM nodes WHERE id = '"+newID+"'"); n != 1 {
		t.Errorf("uploaded node %s is in the mirror %d times, want once", newID, n)
	}

	// SYNC NEW picks up only the new item, and only pages through the newest.
	newer, err := e.srv.Upload("Pictures/Web", "fresher.jpg", jpeg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ResetStats()
	got = e.mustSync(t, "SYNC NEW")["nodes"]
	if got.inserted != 1 || got.updated != 0 || got.removed != 0 || got.fetched > 400 {
		t.Errorf("SYNC NEW = %+v, want 1 inserted from at most two pages", got)
	}
	if n := e.queryInt(t, "SELECT count(*) FROM nodes WHERE id = '"+newer+"'"); n != 1 {
		t.Errorf("SYNC NEW did not mirror %s", newer)
	}
	if pages := e.srv.Stats().Count("GET /drive/v1/search", 0); pages > 2 {
		t.Errorf("SYNC NEW sent %d searches, want at most 2", pages)
	}
	if total, want := e.queryInt(t, "SELECT count(*) FROM nodes"), int64(len(ids)-3+2); total != want {
		t.Errorf("nodes has %d rows, want %d", total, want)
	}
}

// TestSyncNewAfterPartialUpsert: a node that entered the mirror without a
// complete listing (here SYNC NODES FILTER; UPLOAD and CREATE ALBUM do the
// same) does not make SYNC NEW stop before the uploads that came before
// it.
func TestSyncNewAfterPartialUpsert(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 500, Seed: 3})
	e.mustSync(t, "SYNC")
	ids, _ := e.srv.IDs(DefaultFilter)
	jpeg, _ := e.srv.Content(ids[0])
	for i := range 250 { // another device uploads 250 photos
		if _, err := e.srv.Upload("Pictures/Phone", fmt.Sprintf("phone%03d.jpg", i), append(append([]byte{}, jpeg...), byte(i), byte(i>>8), 'p')); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Millisecond)
	mine, err := e.srv.Upload("Pictures/Web", "mine.jpg", append(append([]byte{}, jpeg...), 'm'))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetFavorite(mine, true); err != nil {
		t.Fatal(err)
	}
	if got := e.mustSync(t, `SYNC NODES FILTER 'favorite:(true)'`)["nodes"]; got.inserted != 1 {
		t.Fatalf("SYNC NODES FILTER favorite:(true) = %+v, want the newest upload inserted", got)
	}
	want, _ := e.srv.Count(DefaultFilter)
	got := e.mustSync(t, "SYNC NEW")["nodes"]
	if have := e.queryInt(t, "SELECT count(*) FROM nodes"); have != int64(want) || got.inserted != 250 {
		t.Errorf("SYNC NEW = %+v: the mirror has %d nodes, the service %d", got, have, want)
	}
	// Nothing new: one page, nothing inserted.
	e.srv.ResetStats()
	if got := e.mustSync(t, "SYNC NEW")["nodes"]; got.inserted != 0 || got.updated != 0 {
		t.Errorf("second SYNC NEW = %+v, want no change", got)
	}
	if pages := e.srv.Stats().Count("GET /drive/v1/search", 0); pages > 1 {
		t.Errorf("second SYNC NEW sent %d searches, want 1", pages)
	}
}

// TestInterruptedSyncKeepsMirror: a 401 or a Ctrl-C in the middle of a
// full SYNC fails it fast and leaves the previous mirror untouched.
func TestInterruptedSyncKeepsMirror(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 6000, Seed: 5, Latency: 5 * time.Millisecond})
	e.mustSync(t, "SYNC NODES")
	ids, _ := e.srv.IDs(DefaultFilter)
	if err := e.srv.TrashIDs(ids[:100]...); err != nil {
		t.Fatal(err)
	}
	before := e.fingerprint(t)

	tests := []struct {
		name  string
		after func(cancel context.CancelFunc) // called once, on the 5th page
		want  error
		reset func()
	}{
		{"401", func(context.CancelFunc) { e.srv.ExpireCookies() }, fetch.ErrUnauthorized, e.srv.RenewCookies},
		{"ctrl-c", func(cancel context.CancelFunc) { cancel() }, context.Canceled, func() {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var pages atomic.Int64
			hook := func(ev fetch.Event) {
				if ev.Kind == fetch.EventPage && pages.Add(1) == 5 {
					tt.after(cancel)
				}
			}
			e.hook.Store(&hook)
			defer e.hook.Store(nil)
			defer tt.reset()
			start := time.Now()
			_, err := e.sync(t, ctx, "SYNC")
			if !errors.Is(err, tt.want) {
				t.Fatalf("SYNC error = %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("SYNC took %s to fail, want it to fail fast", d)
			}
			if got := e.fingerprint(t); got != before {
				t.Errorf("nodes changed from %s to %s after a failed SYNC", before, got)
			}
			if n := e.queryInt(t, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'apsql_sync'"); n != 0 {
				t.Errorf("%d staging tables left behind", n)
			}
		})
	}
	// Once the cause is gone, SYNC completes and sees the trashed nodes.
	if got := e.mustSync(t, "SYNC NODES")["nodes"]; got.removed != 0 {
		t.Errorf("SYNC NODES (upsert) removed %d, want 0", got.removed)
	}
	if got := e.mustSync(t, "SYNC")["nodes"]; got.removed != 100 {
		t.Errorf("SYNC after the failures removed %d, want 100", got.removed)
	}
}

// TestInterruptedFirstSync: the first SYNC writes nodes straight in one
// transaction; a 401 halfway leaves the table empty and usable.
func TestInterruptedFirstSync(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 4000, Seed: 8, Latency: 5 * time.Millisecond})
	var pages atomic.Int64
	hook := func(ev fetch.Event) {
		// On the first page: its rows go into the table, and every later
		// page is sure to meet the 401 (on a slow run, such as under
		// -race, a later trigger can come after the last page arrived).
		if ev.Kind == fetch.EventPage && pages.Add(1) == 1 {
			e.srv.ExpireCookies()
		}
	}
	threads := e.queryInt(t, "SELECT current_setting('threads')::BIGINT")
	e.hook.Store(&hook)
	if _, err := e.sync(t, t.Context(), "SYNC"); !errors.Is(err, fetch.ErrUnauthorized) {
		t.Fatalf("SYNC error = %v, want ErrUnauthorized", err)
	}
	e.hook.Store(nil)
	if n := e.queryInt(t, "SELECT count(*) FROM nodes"); n != 0 {
		t.Errorf("nodes has %d rows after an interrupted first SYNC, want 0", n)
	}
	// The insert ran with one DuckDB thread inside the aborted transaction:
	// the setting must still come back.
	if got := e.queryInt(t, "SELECT current_setting('threads')::BIGINT"); got != threads {
		t.Errorf("threads = %d after an interrupted first SYNC, want %d as before", got, threads)
	}
	// The rolled-back first SYNC leaves the keyed table as it was.
	e.checkNodesKey(t, "after an interrupted first SYNC")
	e.srv.RenewCookies()
	want, _ := e.srv.Count(DefaultFilter)
	if got := e.mustSync(t, "SYNC")["nodes"]; got.inserted != int64(want) {
		t.Errorf("SYNC after renewing the cookies = %+v, want %d inserted", got, want)
	}
	e.checkNodesKey(t, "after a first SYNC")
}

// checkNodesKey checks that nodes has its primary key on id and nothing
// else, and that the key refuses a repeated id.
func (e *env) checkNodesKey(t *testing.T, when string) {
	t.Helper()
	var cons string
	if err := e.db.QueryRow(t.Context(), `SELECT coalesce(string_agg(constraint_type || '(' || array_to_string(constraint_column_names, ',') || ')', ' ' ORDER BY constraint_type), '') FROM duckdb_constraints() WHERE table_name = 'nodes'`).Scan(&cons); err != nil {
		t.Fatal(err)
	}
	if cons != "NOT NULL(id) PRIMARY KEY(id)" {
		t.Errorf("%s: the constraints of nodes are %q, want NOT NULL(id) PRIMARY KEY(id)", when, cons)
	}
	if _, err := e.db.Exec(t.Context(), `INSERT INTO nodes (id, name) VALUES ('k', 'a'), ('k', 'b')`); err == nil {
		t.Errorf("%s: nodes took a repeated id", when)
	}
	for _, q := range []string{`INSERT INTO nodes (id, name) VALUES ('k', 'a')`, `INSERT OR REPLACE INTO nodes (id, name) VALUES ('k', 'b')`, `DELETE FROM nodes WHERE id = 'k'`} {
		if _, err := e.db.Exec(t.Context(), q); err != nil {
			t.Errorf("%s: %s: %v", when, q, err)
		}
	}
}

func TestSyncTrashPastListingCap(t *testing.T) {
	if testing.Short() {
		t.Skip("lists 10,050 trashed nodes")
	}
	e := newEnv(t, emulator.Options{Nodes: 10300, Seed: 11})
	ids, _ := e.srv.IDs(DefaultFilter)
	// Trash in chunks a millisecond apart: Amazon lists at most 9999
	// nodes sharing one modifiedDate.
	for i := 0; i < 10050; i += 500 {
		if err := e.srv.TrashIDs(ids[i:min(i+500, 10050)]...); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	want := len(e.srv.State().TrashIDs)
	got := e.mustSync(t, "SYNC TRASH")["trash"]
	if got.fetched != int64(want) || got.inserted != int64(want) {
		t.Errorf("SYNC TRASH = %+v, want %d fetched and inserted", got, want)
	}
	if n := e.queryInt(t, "SELECT count(DISTINCT id) FROM trash WHERE status = 'TRASH'"); n != int64(want) {
		t.Errorf("trash holds %d distinct trashed ids, want %d", n, want)
	}
	if err := e.srv.RestoreIDs(ids[:5]...); err != nil {
		t.Fatal(err)
	}
	if got := e.mustSync(t, "SYNC TRASH")["trash"]; got.removed != 5 || got.inserted != 0 {
		t.Errorf("SYNC TRASH after restoring 5 = %+v, want 5 removed", got)
	}
}

func TestSearchFunction(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 1500, Seed: 9})
	videos, err := e.srv.Count("type:(VIDEOS)")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.queryInt(t, "SELECT count(*) FROM search('type:(VIDEOS)')"); n != int64(videos) {
		t.Errorf("count(*) FROM search('type:(VIDEOS)') = %d, want %d", n, videos)
	}
	if n := e.queryInt(t, "SELECT count(*) FROM search('type:(VIDEOS)') WHERE starts_with(contentType, 'video/') AND category = 'vid' AND duration > 0"); n != int64(videos) {
		t.Errorf("search() columns: %d of %d videos have a video contentType, category vid and a duration", n, videos)
	}
	e.srv.ResetStats()
	rows, err := e.db.Query(t.Context(), "SELECT id, name FROM search('type:(PHOTOS)') LIMIT 5")
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for rows.Next() {
		k++
	}
	rows.Close()
	if k != 5 {
		t.Errorf("LIMIT 5 returned %d rows", k)
	}
	if n := e.srv.Stats().Count("GET /drive/v1/search", 0); n != 1 {
		t.Errorf("search() with LIMIT 5 sent %d requests, want 1", n)
	}
	// Newest upload first, as in the web app, across pages.
	if n := e.queryInt(t, `SELECT count(*) FROM (SELECT "createdDate" < lead("createdDate") OVER () AS wrong FROM (SELECT "createdDate" FROM search('type:(PHOTOS)') LIMIT 450)) WHERE wrong`); n != 0 {
		t.Errorf("search() rows are not newest first: %d out of order", n)
	}
	// It composes: the live listing equals the mirror once synced.
	e.mustSync(t, "SYNC NODES FILTER 'type:(VIDEOS)'")
	if n := e.queryInt(t, "SELECT count(*) FROM (SELECT * EXCLUDE (syncedAt, raw, parents) FROM search('type:(VIDEOS)') EXCEPT SELECT * EXCLUDE (syncedAt, raw, parents) FROM nodes)"); n != 0 {
		t.Errorf("%d rows of search() differ from the mirrored nodes", n)
	}

	// A NULL filter is an error, not a crash of the process.
	if _, err := e.db.Query(t.Context(), "SELECT * FROM search(NULL)"); err == nil || !strings.Contains(err.Error(), "not NULL") {
		t.Errorf("search(NULL): %v, want an error naming NULL", err)
	}
	_, err = e.db.Query(t.Context(), "SELECT * FROM search('type:(PHOTOS')")
	if err == nil || !strings.Contains(err.Error(), "filter") {
		t.Errorf("search() with a broken filter: %v, want a filter error", err)
	}
}

func TestFoldersTreeUsageTags(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 2000, Seed: 4})
	st := e.srv.State()
	want := int64(len(st.Folders))
	if _, ok := st.Folders["/"]; !ok {
		want++ // the root, which the mirror keeps as path "/"
	}
	got := e.mustSync(t, "SYNC FOLDERS")["folders"]
	if got.fetched != want || got.inserted != got.fetched {
		t.Errorf("SYNC FOLDERS = %+v, want %d folders", got, want)
	}
	for path, id := range st.Folders {
		if path == "" || path == "/" {
			continue
		}
		var p string
		if err := e.db.QueryRow(t.Context(), "SELECT path FROM folders WHERE id = ?", id).Scan(&p); err != nil || strings.Trim(p, "/") != strings.Trim(path, "/") {
			t.Errorf("folder %s has path %q (%v), want %q", id, p, err, path)
		}
	}
	var tree strings.Builder
	if err := Tree(t.Context(), e.db, &tree, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tree.String(), "~\n") || !strings.Contains(tree.String(), "── Pictures\n") {
		t.Errorf("Tree = %q, want it to start with ~ and show Pictures", tree.String())
	}
	tree.Reset()
	if err := Tree(t.Context(), e.db, &tree, "Pictures"); err != nil || !strings.HasPrefix(tree.String(), "/Pictures\n") {
		t.Errorf("Tree(Pictures) = %q, %v", tree.String(), err)
	}
	if err := Tree(t.Context(), e.db, &tree, "No/Such"); err == nil || !strings.Contains(err.Error(), "no folder /No/Such") {
		t.Errorf("Tree(No/Such) error = %v", err)
	}
	if again := e.mustSync(t, "SYNC FOLDERS")["folders"]; again.inserted+again.updated+again.removed != 0 {
		t.Errorf("second SYNC FOLDERS = %+v, want no changes", again)
	}

	e.mustSync(t, "SYNC USAGE")
	u := e.srv.Usage()
	for cat, want := range u.Categories {
		var count, bytes int64
		if err := e.db.QueryRow(t.Context(), "SELECT total_count, total_bytes FROM usage WHERE type = ?", cat).Scan(&count, &bytes); err != nil || count != want.TotalCount || bytes != want.TotalBytes {
			t.Errorf("usage %s = %d items %d bytes (%v), want %d, %d", cat, count, bytes, err, want.TotalCount, want.TotalBytes)
		}
	}
	res, err := Usage(t.Context(), e.sess, func(context.Context) (*fetch.Client, error) { return e.client, nil })
	if err != nil {
		t.Fatal(err)
	}
	res.Rows.Release()

	if got := e.mustSync(t, "SYNC AGGREGATIONS")["aggregations"]; got.fetched == 0 {
		t.Errorf("SYNC AGGREGATIONS fetched nothing")
	}
	got = e.mustSync(t, "SYNC TAGS things")["tags"]
	if got.fetched == 0 {
		t.Fatalf("SYNC TAGS things fetched nothing")
	}
	var value string
	var n int64
	if err := e.db.QueryRow(t.Context(), "SELECT value, count(*) FROM tags WHERE category = 'things' GROUP BY value ORDER BY 2 DESC, 1 LIMIT 1").Scan(&value, &n); err != nil {
		t.Fatal(err)
	}
	if want, err := e.srv.Count(fetch.TagFilter("things", value)); err != nil || int64(want) != n {
		t.Errorf("tags things:%s = %d nodes, the service finds %d (%v)", value, n, want, err)
	}
}

func TestAccountShowsNoCookieValues(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 10, Seed: 1})
	cookies, _ := fetch.NewCookies(e.srv.Cookies())
	res, err := Account(t.Context(), func(context.Context) (*fetch.Client, error) { return e.client, nil }, cookies)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Rows.Release()
	props := map[string]string{}
	for res.Rows.Next() {
		r := res.Rows.RecordBatch()
		for i := range int(r.NumRows()) {
			props[r.Column(0).(*array.String).Value(i)] = r.Column(1).(*array.String).Value(i)
		}
	}
	if props["owner id"] != e.srv.OwnerID() || props["domain"] != "amazon.com" || !strings.Contains(props["cookies"], "session-id") {
		t.Errorf("Account = %v, want owner %s, amazon.com and the cookie names", props, e.srv.OwnerID())
	}
	for _, v := range e.srv.Cookies() {
		for k, p := range props {
			if strings.Contains(p, v) {
				t.Errorf("Account %s shows a cookie value", k)
			}
		}
	}
}

func TestParseSync(t *testing.T) {
	tests := []struct {
		name, rest string
		want       syncJob
		err        string
	}{
		{"full", "", syncJob{parts: []string{"nodes", "folders", "albums", "people", "usage"}}, ""},
		{"nodes", " nodes", syncJob{parts: []string{"nodes"}, filter: DefaultFilter}, ""},
		{"filter", "NODES FILTER 'type:(VIDEOS) AND timeYear:(2019)'", syncJob{parts: []string{"nodes"}, filter: "type:(VIDEOS) AND timeYear:(2019)"}, ""},
		{"bad filter", "NODES FILTER 'type:(VIDEOS'", syncJob{}, "filter"},
		{"filter without string", "NODES FILTER type", syncJob{}, "quoted string"},
		{"new", "new", syncJob{parts: []string{"new"}}, ""},
		{"tags", "TAGS", syncJob{parts: []string{"tags"}}, ""},
		{"tags people", "TAGS people", syncJob{parts: []string{"tags"}, category: "people"}, ""},
		{"tags quoted", "TAGS 'Location'", syncJob{parts: []string{"tags"}, category: "location"}, ""},
		{"tags unknown", "TAGS cats", syncJob{}, `unknown category "cats"`},
		{"unknown", "EVERYTHING", syncJob{}, "SYNC EVERYTHING: unknown"},
		{"trailing", "TRASH now", syncJob{}, `unexpected "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSync(tt.rest)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("parseSync(%q) error = %v, want one containing %q", tt.rest, err, tt.err)
				}
				return
			}
			if err != nil || strings.Join(got.parts, ",") != strings.Join(tt.want.parts, ",") || got.filter != tt.want.filter || got.category != tt.want.category {
				t.Errorf("parseSync(%q) = %+v, %v, want %+v", tt.rest, got, err, tt.want)
			}
		})
	}
}

// TestSyncNewMarkAfterDiffSync: a full SYNC that stages only what changed
// (here one old photo renamed) still marks the newest node of the whole
// listing for SYNC NEW, not the newest of the changed ones: a SYNC NEW
// with nothing new then reads one page, not the library back to that
// photo.
func TestSyncNewMarkAfterDiffSync(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 2000, Seed: 4})
	e.mustSync(t, "SYNC")
	var oldest string
	if err := e.db.QueryRow(t.Context(), `SELECT id FROM nodes ORDER BY "createdDate" LIMIT 1`).Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Rename(oldest, "renamed.jpg"); err != nil {
		t.Fatal(err)
	}
	if got := e.mustSync(t, "SYNC")["nodes"]; got.updated != 1 {
		t.Fatalf("SYNC after one rename = %+v, want 1 updated", got)
	}
	var mark, newest string
	if err := e.db.QueryRow(t.Context(), `SELECT (SELECT value FROM apsql_meta WHERE key = '`+sinceKey+`'), CAST(max("createdDate") AS VARCHAR) FROM nodes`).Scan(&mark, &newest); err != nil {
		t.Fatal(err)
	}
	if mark != newest {
		t.Errorf("SYNC NEW's mark after a diff SYNC = %s, want the newest node's createdDate %s", mark, newest)
	}
	e.srv.ResetStats()
	if got := e.mustSync(t, "SYNC NEW")["nodes"]; got.inserted != 0 {
		t.Errorf("SYNC NEW with nothing new = %+v, want nothing inserted", got)
	}
	if pages := e.srv.Stats().Count("GET /drive/v1/search", 0); pages > 1 {
		t.Errorf("SYNC NEW with nothing new sent %d searches, want 1", pages)
	}
}
