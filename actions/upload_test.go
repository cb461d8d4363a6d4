package actions

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUploadTreeTwice: a three-level tree keeps its shape, duplicates (in
// the library, or twice in the tree) are skipped with why, and a second run
// sends nothing.
func TestUploadTreeTwice(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 20, Seed: 12}, 0)
	inLib := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	libBytes, _ := e.srv.Content(inLib)
	root := filepath.Join(t.TempDir(), "tree")
	writeFile(t, filepath.Join(root, "a.jpg"), "photo a")
	writeFile(t, filepath.Join(root, "sub1", "b.jpg"), "photo b")
	writeFile(t, filepath.Join(root, "sub1", "sub2", "c.jpg"), "photo c")
	writeFile(t, filepath.Join(root, "sub1", "sub2", "copy of a.jpg"), "photo a")
	writeFile(t, filepath.Join(root, "sub1", "known.jpg"), string(libBytes))
	writeFile(t, filepath.Join(root, ".DS_Store"), "junk")

	rows, sum := e.run(`UPLOAD '` + root + `' TO 'Backup/2024'`)
	got := map[string]row{}
	for _, r := range rows {
		got[r.name] = r
	}
	for _, name := range []string{"tree/a.jpg", "tree/sub1/b.jpg", "tree/sub1/sub2/c.jpg"} {
		if got[name].status != StatusOK {
			t.Errorf("%s: %+v, want ok (%s)", name, got[name], sum)
		}
	}
	if r := got["tree/sub1/sub2/copy of a.jpg"]; r.status != StatusSkipped || !strings.Contains(r.detail, "tree/a.jpg") {
		t.Errorf("duplicate in the tree: %+v, want skipped naming tree/a.jpg", r)
	}
	if r := got["tree/sub1/known.jpg"]; r.status != StatusSkipped || r.id != inLib {
		t.Errorf("file already in the library: %+v, want skipped with id %s", r, inLib)
	}
	if r := got["tree/.DS_Store"]; r.status != StatusSkipped {
		t.Errorf("hidden file: %+v, want skipped", r)
	}
	folders := e.srv.State().Folders
	for _, p := range []string{"Backup", "Backup/2024", "Backup/2024/tree", "Backup/2024/tree/sub1", "Backup/2024/tree/sub1/sub2"} {
		if folders[p] == "" {
			t.Errorf("the service has no folder %s", p)
		}
	}
	c := got["tree/sub1/sub2/c.jpg"]
	if n, ok := e.node(c.id); !ok || len(n.Parents) != 1 || n.Parents[0] != folders["Backup/2024/tree/sub1/sub2"] || n.Name != "c.jpg" {
		t.Errorf("c.jpg on the service: %+v, want in Backup/2024/tree/sub1/sub2", n)
	}
	sumC := md5.Sum([]byte("photo c"))
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ? AND md5 = ?`, c.id, hex.EncodeToString(sumC[:])); n != 1 {
		t.Errorf("the uploaded node is not in nodes")
	}
	if n := e.count(`SELECT count(*) FROM folders WHERE path = '/Backup/2024/tree/sub1/sub2'`); n != 1 {
		t.Errorf("the new folder is not in folders")
	}
	// The new folder's dates are the service's (its answer, decoded once).
	sub2, _ := e.node(folders["Backup/2024/tree/sub1/sub2"])
	var created, modified time.Time
	if err := e.db.QueryRow(t.Context(), `SELECT createdDate, modifiedDate FROM folders WHERE id = ?`, sub2.ID).Scan(&created, &modified); err != nil ||
		sub2.CreatedDate.IsZero() || !created.Equal(sub2.CreatedDate) || !modified.Equal(sub2.ModifiedDate) {
		t.Errorf("folders holds dates %v, %v (%v) for %s; the service has %v, %v", created, modified, err, sub2.ID, sub2.CreatedDate, sub2.ModifiedDate)
	}

	e.rec.reset()
	rows, sum = e.run(`UPLOAD '` + root + `' TO 'Backup/2024'`)
	if st := byStatus(rows); len(st[StatusOK]) != 0 || len(st[StatusFailed]) != 0 || len(e.rec.reqs) != 0 {
		t.Errorf("second run: %v, %d requests (%s); want nothing uploaded, nothing sent", st, len(e.rec.reqs), sum)
	}
}

// TestUploadConflictsAndCuts: a name taken in the folder is skipped with the
// existing id; a response cut after the upload landed is resolved by the
// resend's 409, never by a second copy.
func TestUploadConflictsAndCuts(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 13}, 0)
	taken, err := e.srv.Upload("Dest/in", "taken.jpg", []byte("what the service has"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "in")
	writeFile(t, filepath.Join(dir, "taken.jpg"), "something else")
	for i := range 12 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%02d.jpg", i)), strings.Repeat(fmt.Sprint(i), 40000))
	}
	e.srv.SetFaults(0, 0, 0.3, 0)
	rows, sum := e.run(`UPLOAD '` + dir + `' TO 'Dest' (DEDUP false)`)
	e.srv.SetFaults(0, 0, 0, 0)
	for _, r := range rows {
		switch {
		case r.name == "in/taken.jpg":
			if r.status != StatusConflict || r.id != taken || !strings.Contains(r.detail, "different file") {
				t.Errorf("taken.jpg: %+v, want a conflict with id %s", r, taken)
			}
		case strings.HasPrefix(r.name, "in/f"):
			if r.status != StatusOK {
				t.Errorf("%s: %+v (%s)", r.name, r, sum)
			}
		}
	}
	if e.srv.Stats().Resets == 0 {
		t.Fatal("no connection was cut; the test proves nothing")
	}
	for i := range 12 {
		n, err := e.srv.CountNodes(fmt.Sprintf(`name:"f%02d.jpg"`, i))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("f%02d.jpg is %d times on the service", i, n)
		}
	}
}

// TestUploadNotRegisteredUsesV2: where POST /cdproxy/nodes answers 403
// "Not Registered" (some accounts, API.md §7 #2), the first file is sent
// again to /v2/upload and the rest go there directly; cut answers are
// settled by the resend's 409, never by a second copy; content the library
// already holds under another name is skipped (DEDUP false) with where it
// is.
func TestUploadNotRegisteredUsesV2(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 14, UploadNotRegistered: true}, 0)
	held, err := e.srv.Upload("Elsewhere", "original.jpg", []byte("bytes the library holds"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "in")
	writeFile(t, filepath.Join(dir, "copy.jpg"), "bytes the library holds")
	const n = 10
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("v%02d.jpg", i)), strings.Repeat(fmt.Sprint(i), 30000))
	}
	e.srv.SetFaults(0, 0, 0.3, 0)
	rows, sum := e.run(`UPLOAD '` + dir + `' TO 'Dest' (DEDUP false, CONCURRENCY 1)`)
	e.srv.SetFaults(0, 0, 0, 0)
	got := map[string]row{}
	for _, r := range rows {
		got[r.name] = r
	}
	if r := got["in/copy.jpg"]; r.status != StatusSkipped || r.id != held || !strings.Contains(r.detail, "original.jpg") {
		t.Errorf("copy.jpg: %+v, want skipped naming original.jpg (%s)", r, held)
	}
	for i := range n {
		name := fmt.Sprintf("v%02d.jpg", i)
		if r := got["in/"+name]; r.status != StatusOK || !strings.Contains(r.detail, "POST /v2/upload") {
			t.Errorf("%s: %+v, want ok through /v2/upload (%s)", name, r, sum)
		}
		if k, err := e.srv.CountNodes(`name:"` + name + `"`); err != nil || k != 1 {
			t.Errorf("%s is %d times on the service (%v)", name, k, err)
		}
	}
	if k := len(e.rec.matching("POST", "/cdproxy/nodes")); k != 1 {
		t.Errorf("%d POST /cdproxy/nodes; want 1, then /v2/upload only", k)
	}
	if e.srv.Stats().Resets == 0 {
		t.Fatal("no connection was cut; the test proves nothing")
	}
	if k := e.count(`SELECT count(*) FROM nodes WHERE name LIKE 'v__.jpg'`); k != n {
		t.Errorf("local nodes holds %d of the %d uploads", k, n)
	}
}

// TestUploadSilentDedup: where the service keeps the file it already has
// for the same bytes (cdproxy's silent dedup), the result says so instead
// of claiming an upload.
func TestUploadSilentDedup(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 15, UploadDedup: true}, 0)
	held, err := e.srv.Upload("Elsewhere", "original.jpg", []byte("bytes the library holds"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "in")
	writeFile(t, filepath.Join(dir, "copy.jpg"), "bytes the library holds")
	writeFile(t, filepath.Join(dir, "new.jpg"), "bytes nobody has")
	rows, sum := e.run(`UPLOAD '` + dir + `' TO 'Dest' (DEDUP false)`)
	got := map[string]row{}
	for _, r := range rows {
		got[r.name] = r
	}
	if r := got["in/copy.jpg"]; r.status != StatusSkipped || r.id != held || !strings.Contains(r.detail, "original.jpg") {
		t.Errorf("copy.jpg: %+v, want skipped naming original.jpg (%s)", r, held)
	}
	if r := got["in/new.jpg"]; r.status != StatusOK {
		t.Errorf("new.jpg: %+v, want ok (%s)", r, sum)
	}
	if k, err := e.srv.CountNodes(`name:"copy.jpg"`); err != nil || k != 0 {
		t.Errorf("copy.jpg is %d times on the service (%v), want 0", k, err)
	}
}

// TestUploadChangedFile: a file that changes between hashing and sending is
// reported and never stored with another md5 than the one recorded.
func TestUploadChangedFile(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 5, Seed: 14}, 0)
	p := filepath.Join(t.TempDir(), "moving.jpg")
	writeFile(t, p, "version one, 30 bytes long....")
	files, _, err := walkUpload(p, "")
	if err != nil {
		t.Fatal(err)
	}
	hashFiles(t.Context(), files, 1, engine.NoProgress.Start("", 0, ""))
	writeFile(t, p, "version two, 30 bytes long....") // same size, other bytes
	r, err := newRun(t.Context(), e.s, "UPLOAD", false)
	if err != nil {
		t.Fatal(err)
	}
	root, err := e.c.Root(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	up := &uploader{c: e.c, r: r, bytes: engine.NoProgress.Start("", 0, "")}
	o, raw := up.file(t.Context(), files[0], root.ID)
	if o.Status != StatusFailed || !strings.Contains(o.Detail, "changed") || raw != nil {
		t.Errorf("outcome %+v, want failed: changed", o)
	}
	if n, _ := e.srv.CountNodes(`name:"moving.jpg"`); n != 0 {
		t.Errorf("the service stored the changed file (%d nodes)", n)
	}
}

func TestCheckedFile(t *testing.T) {
	hashed := "0123456789abcdef"
	sum := md5.Sum([]byte(hashed))
	cases := []struct {
		name, now string
		wantErr   bool
	}{
		{"unchanged", hashed, false},
		{"same size, other bytes", "0123456789abcdeX", true},
		{"shrank", "0123456789", true},
		{"grew", hashed + "more", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			writeFile(t, p, c.now)
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			var failed error
			cf := &checkedFile{f: f, h: md5.New(), size: int64(len(hashed)), want: hex.EncodeToString(sum[:]), failed: &failed}
			defer cf.Close()
			got, err := io.ReadAll(io.LimitReader(cf, 1<<20))
			if c.wantErr {
				if !errors.Is(err, errChanged) || failed == nil {
					t.Fatalf("err = %v, want errChanged", err)
				}
				if len(got) >= len(hashed) {
					t.Errorf("delivered all %d bytes of a changed file", len(got))
				}
				return
			}
			if err != nil || string(got) != hashed {
				t.Errorf("read %q, %v; want the file", got, err)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	known := []string{"NAMING", "CONCURRENCY", "OVERWRITE"}
	cases := []struct {
		name, in string
		kind     targetKind
		sql      string
		ids      []string
		to       string
		opts     map[string]string
		err      string
	}{
		{"where", `WHERE model = 'iPhone XS' AND size < 50000`, targetWhere, `model = 'iPhone XS' AND size < 50000`, nil, "", nil, ""},
		{"where to options", `WHERE name = 'to TO x' AND x IN (1, 2) TO 'out' (NAMING '{id}', CONCURRENCY 3)`, targetWhere,
			`name = 'to TO x' AND x IN (1, 2)`, nil, "out", map[string]string{"NAMING": "{id}", "CONCURRENCY": "3"}, ""},
		{"where options only", `WHERE x IN (1) (OVERWRITE true)`, targetWhere, `x IN (1)`, nil, "", map[string]string{"OVERWRITE": "true"}, ""},
		{"select", `(SELECT id FROM nodes ORDER BY size DESC LIMIT 10) TO 'd'`, targetSelect, `SELECT id FROM nodes ORDER BY size DESC LIMIT 10`, nil, "d", nil, ""},
		{"ids", `'a', 'b''c'`, targetIDs, "", []string{"a", "b'c"}, "", nil, ""},
		{"filter", `FILTER 'type:(VIDEOS) AND timeYear:(2019)'`, targetFilter, "", nil, "", nil, ""},
		{"bad filter", `FILTER 'type:(VIDEOS'`, 0, "", nil, "", nil, "FILTER"},
		{"empty", ``, 0, "", nil, "", nil, "missing target"},
		{"no query", `(1, 2)`, 0, "", nil, "", nil, "id column"},
		{"junk", `WHERE`, 0, "", nil, "", nil, "predicate"},
		{"trailing", `'a' LIMIT 3`, 0, "", nil, "", nil, "unexpected"},
		{"unknown option", `'a' (SPEED 3)`, 0, "", nil, "", nil, "unknown option"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := parseStatement(c.in, true, known)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("parseStatement(%q) error = %v, want one containing %q", c.in, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseStatement(%q): %v", c.in, err)
			}
			if st.target.kind != c.kind || c.sql != "" && st.target.sql != c.sql || st.to != c.to {
				t.Errorf("parseStatement(%q) = kind %d sql %q to %q, want kind %d sql %q to %q", c.in, st.target.kind, st.target.sql, st.to, c.kind, c.sql, c.to)
			}
			if strings.Join(st.target.ids, "|") != strings.Join(c.ids, "|") {
				t.Errorf("ids = %q, want %q", st.target.ids, c.ids)
			}
			for k, v := range c.opts {
				if st.opts[k] != v {
					t.Errorf("option %s = %q, want %q", k, st.opts[k], v)
				}
			}
		})
	}
}

// TestUploadFolderNameHeldByFile: a remote file holding the name of a
// folder to create is not "reused" as that folder: the folder fails with
// a message naming the conflict, and its files are not sent.
func TestUploadFolderNameHeldByFile(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 13}, 0)
	file, err := e.srv.Upload("", "trip", []byte("not a folder"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "trip")
	writeFile(t, filepath.Join(dir, "a.txt"), "hello")
	rows, sum := e.run(`UPLOAD '` + dir + `'`)
	got := map[string]row{}
	for _, r := range rows {
		got[r.name] = r
	}
	if r := got["/trip/"]; r.status != StatusFailed || !strings.Contains(r.detail, "not a folder") || !strings.Contains(r.detail, file) {
		t.Errorf("folder row: %+v, want failed naming the file %s (%s)", r, file, sum)
	}
	if r := got["trip/a.txt"]; r.status != StatusFailed {
		t.Errorf("a.txt: %+v, want failed", r)
	}
	if n := len(e.rec.matching("POST", "/cdproxy/nodes")); n != 0 {
		t.Errorf("%d uploads into a file", n)
	}
}

// TestUploadOnConflict (issue 16 item 4): a local file whose name the
// folder holds with other content is a conflict (its own status; the
// statement fails) and nothing is sent; ON CONFLICT SKIP skips it, RENAME
// uploads it as "x (1).jpg" and REPLACE makes it the node's new content.
// Re-runs send no second copy. Checked against the emulator's state.
func TestUploadOnConflict(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 14}, 0)
	remote, err := e.srv.Upload("Dest", "x.jpg", []byte("what the service has"))
	if err != nil {
		t.Fatal(err)
	}
	e.mirror()
	dir := t.TempDir()
	file := filepath.Join(dir, "x.jpg")
	writeFile(t, file, "the local, changed x.jpg")
	local := md5.Sum([]byte("the local, changed x.jpg"))
	upload := func(clause string) ([]row, *engine.Result) {
		t.Helper()
		res, err := e.s.Run(t.Context(), `UPLOAD '`+file+`' TO 'Dest' `+clause)
		if err != nil {
			t.Fatal(err)
		}
		var rows []row
		for _, r := range readRows(t, res) {
			if r["name"] != "x.jpg" {
				continue // the folder's row
			}
			rows = append(rows, row{fmt.Sprint(r["id"]), fmt.Sprint(r["name"]), Status(fmt.Sprint(r["status"])), fmt.Sprint(r["detail"])})
		}
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows, want 1", clause, len(rows))
		}
		return rows, res
	}
	nodes := func() int {
		st := e.srv.State()
		return st.Nodes
	}
	before := nodes()

	rows, res := upload("")
	if rows[0].status != StatusConflict || res.Failed != 1 || !strings.Contains(rows[0].detail, "ON CONFLICT") {
		t.Fatalf("no clause: %+v, Result.Failed %d: want a conflict that fails the statement and names ON CONFLICT", rows, res.Failed)
	}
	if data, _ := e.srv.Content(remote); string(data) != "what the service has" || nodes() != before {
		t.Fatalf("a conflict changed the service: %q, %d nodes (was %d)", data, nodes(), before)
	}
	rows, res = upload("ON CONFLICT SKIP")
	if rows[0].status != StatusSkipped || res.Failed != 0 || nodes() != before {
		t.Fatalf("ON CONFLICT SKIP: %+v, Result.Failed %d", rows, res.Failed)
	}

	rows, res = upload("ON CONFLICT RENAME (DEDUP false)")
	if rows[0].status != StatusOK || res.Failed != 0 || nodes() != before+1 {
		t.Fatalf("ON CONFLICT RENAME: %+v, Result.Failed %d, %d nodes (was %d)", rows, res.Failed, nodes(), before)
	}
	ids := []string{rows[0].id}
	if n, ok := e.node(ids[0]); !ok || n.Name != "x (1).jpg" || n.ContentProperties.MD5 != hex.EncodeToString(local[:]) {
		t.Errorf("the renamed node on the service: %+v, want x (1).jpg with the local file's md5", n)
	}
	for _, clause := range []string{"ON CONFLICT RENAME (DEDUP false)", "ON CONFLICT RENAME"} {
		rows, res = upload(clause)
		if rows[0].status != StatusSkipped || res.Failed != 0 || nodes() != before+1 {
			t.Errorf("re-run %s: %+v, %d nodes: want skipped, no second copy", clause, rows, nodes())
		}
	}
	e.exec(`DELETE FROM nodes WHERE id = ?`, ids[0]) // so that DEDUP does not skip REPLACE

	// The renamed copy goes; REPLACE then makes the content the node's.
	if err := e.srv.TrashIDs(ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(ids[0]); err != nil {
		t.Fatal(err)
	}
	rows, res = upload("ON CONFLICT REPLACE")
	if rows[0].status != StatusOK || res.Failed != 0 {
		t.Fatalf("ON CONFLICT REPLACE: %+v, Result.Failed %d", rows, res.Failed)
	}
	if data, _ := e.srv.Content(remote); string(data) != "the local, changed x.jpg" {
		t.Errorf("the node's content is %q, want the local file's", data)
	}
	if n, _ := e.node(remote); n.Name != "x.jpg" || n.ContentProperties.MD5 != hex.EncodeToString(local[:]) {
		t.Errorf("the node after REPLACE: %+v", n)
	}
	if got := e.ids(`SELECT md5 FROM nodes WHERE id = ?`, remote); len(got) != 1 || got[0] != hex.EncodeToString(local[:]) {
		t.Errorf("nodes holds md5 %v for %s, want the new content's", got, remote)
	}
	rows, res = upload("ON CONFLICT REPLACE (DEDUP false)")
	if rows[0].status != StatusSkipped || res.Failed != 0 {
		t.Errorf("re-run of REPLACE: %+v, want skipped (same content)", rows)
	}
}

// rewriting returns a client for e's emulator whose answers to the
// requests that match pass through rewrite (status and body in, body out).
func rewriting(e *env, match func(*http.Request) bool, rewrite func(status int, body []byte) []byte) *fetch.Client {
	e.t.Helper()
	cookies, err := fetch.NewCookies(e.srv.Cookies())
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := fetch.New(fetch.Config{
		Cookies: cookies, Endpoint: e.srv.URL(),
		Sleep:      func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		HTTPClient: &http.Client{Transport: answerRewriter{next: e.rec, match: match, rewrite: rewrite}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

type answerRewriter struct {
	next    http.RoundTripper
	match   func(*http.Request) bool
	rewrite func(status int, body []byte) []byte
}

func (a answerRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err != nil || !a.match(req) {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = a.rewrite(resp.StatusCode, body)
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// testUploader is an uploader of one run of UPLOAD through c.
func testUploader(e *env, c *fetch.Client, onConflict string) *uploader {
	e.t.Helper()
	r, err := newRun(e.t.Context(), e.s, "UPLOAD", false)
	if err != nil {
		e.t.Fatal(err)
	}
	return &uploader{c: c, r: r, onConflict: onConflict, bytes: engine.NoProgress.Start("", 0, "")}
}

// hashedFile is a local file named name holding content, hashed for an
// upload into remote.
func hashedFile(e *env, name, content, remote string) *upFile {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), name)
	writeFile(e.t, p, content)
	files, _, err := walkUpload(p, remote)
	if err != nil {
		e.t.Fatal(err)
	}
	hashFiles(e.t.Context(), files, 1, engine.NoProgress.Start("", 0, ""))
	return files[0]
}

// TestUploadAnswerWithoutNodeID: an upload the service answers 200 with
// something that is not a node is an unknown outcome (it may have landed),
// never ok, and nothing goes into nodes; the emulator holds the file.
func TestUploadAnswerWithoutNodeID(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 5, Seed: 21}, 0)
	c := rewriting(e, func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/cdproxy/nodes" },
		func(status int, body []byte) []byte {
			if status != http.StatusOK && status != http.StatusCreated {
				return body
			}
			return []byte(`{"message":"accepted"}`)
		})
	root, err := e.c.Root(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f := hashedFile(e, "lost.jpg", "an answer that names no node", "")
	o, n := testUploader(e, c, conflictReport).file(t.Context(), f, root.ID)
	if o.Status != StatusFailed || o.Reason != ReasonUnknown || n != nil || !strings.Contains(o.Detail, "accepted") {
		t.Errorf("outcome %+v (node %v), want failed with reason unknown quoting the answer", o, n != nil)
	}
	if k, err := e.srv.CountNodes(`name:"lost.jpg"`); err != nil || k != 1 {
		t.Errorf("the service holds lost.jpg %d times (%v), want 1: the test proves nothing", k, err)
	}
}

// TestUploadConflictWithoutNodeID: a 409 whose answer does not name the
// node holding the name is settled by listing the folder (findChild):
// the same content is skipped with the existing id, other content is a
// conflict naming it.
func TestUploadConflictWithoutNodeID(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 5, Seed: 22}, 0)
	held, err := e.srv.Upload("Dest", "x.jpg", []byte("what the service has"))
	if err != nil {
		t.Fatal(err)
	}
	dest := e.srv.State().Folders["Dest"]
	c := rewriting(e, func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/cdproxy/nodes" },
		func(status int, body []byte) []byte {
			if status != http.StatusConflict {
				return body
			}
			return []byte(`{"message":"Node with the same name already exists"}`)
		})
	for _, tc := range []struct {
		content string
		status  Status
		reason  Reason
	}{
		{"what the service has", StatusSkipped, ReasonNone},
		{"other bytes", StatusConflict, ReasonConflict},
	} {
		f := hashedFile(e, "x.jpg", tc.content, "Dest")
		o, _ := testUploader(e, c, conflictReport).file(t.Context(), f, dest)
		if o.Status != tc.status || o.Reason != tc.reason || o.ID != held {
			t.Errorf("%q: outcome %+v, want %s (%q) with the id %s", tc.content, o, tc.status, tc.reason, held)
		}
	}
	if k, err := e.srv.CountNodes(`name:"x.jpg"`); err != nil || k != 1 {
		t.Errorf("the service holds x.jpg %d times (%v), want 1", k, err)
	}
}
