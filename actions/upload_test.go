package actions

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
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
	got := rowsByName(rows)
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
	if sub2.CreatedDate.IsZero() || e.count(`SELECT count(*) FROM folders WHERE id = ? AND epoch_us(createdDate) = ? AND epoch_us(modifiedDate) = ?`,
		sub2.ID, sub2.CreatedDate.UnixMicro(), sub2.ModifiedDate.UnixMicro()) != 1 {
		t.Errorf("folders does not hold the dates the service has for %s: %v, %v", sub2.ID, sub2.CreatedDate, sub2.ModifiedDate)
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
	taken := e.serviceHas("Dest/in", "taken.jpg", "what the service has")
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
	c := newHeldCopy(e)
	dir := c.dir
	const n = 10
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("v%02d.jpg", i)), strings.Repeat(fmt.Sprint(i), 30000))
	}
	e.srv.SetFaults(0, 0, 0.3, 0)
	rows, sum := e.run(`UPLOAD '` + dir + `' TO 'Dest' (DEDUP false, CONCURRENCY 1)`)
	e.srv.SetFaults(0, 0, 0, 0)
	got := rowsByName(rows)
	c.check(got)
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
	c := newHeldCopy(e)
	writeFile(t, filepath.Join(c.dir, "new.jpg"), "bytes nobody has")
	rows, sum := e.run(`UPLOAD '` + c.dir + `' TO 'Dest' (DEDUP false)`)
	got := rowsByName(rows)
	c.check(got)
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
	f := hashedFile(e, "moving.jpg", "version one, 30 bytes long....", "")
	writeFile(t, f.abs, "version two, 30 bytes long....") // same size, other bytes
	root, err := e.c.Root(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	o, n := testUploader(e, e.c, conflictReport).file(t.Context(), f, root.ID)
	if o.Status != StatusFailed || !strings.Contains(o.Detail, "changed") || n != nil {
		t.Errorf("outcome %+v, want failed: changed", o)
	}
	if n, _ := e.srv.CountNodes(`name:"moving.jpg"`); n != 0 {
		t.Errorf("the service stored the changed file (%d nodes)", n)
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
	file := e.serviceHas("", "trip", "not a folder")
	dir := filepath.Join(t.TempDir(), "trip")
	writeFile(t, filepath.Join(dir, "a.txt"), "hello")
	writeFile(t, filepath.Join(dir, "sub", "b.txt"), "hello from below")
	rows, sum := e.run(`UPLOAD '` + dir + `'`)
	got := rowsByName(rows)
	if r := got["/trip/"]; r.status != StatusFailed || !strings.Contains(r.detail, "not a folder") || !strings.Contains(r.detail, file) {
		t.Errorf("folder row: %+v, want failed naming the file %s (%s)", r, file, sum)
	}
	for _, name := range []string{"trip/a.txt", "trip/sub/b.txt"} {
		if r := got[name]; r.status != StatusFailed || !strings.Contains(r.detail, "could not be made") {
			t.Errorf("%s: %+v, want failed: its folder could not be made", name, r)
		}
	}
	if n := len(e.rec.matching("POST", "/cdproxy/nodes")); n != 0 {
		t.Errorf("%d uploads into a file", n)
	}
	// The subfolder of the folder that failed is not asked for.
	if n := len(e.rec.matching("POST", "/nodes")); n != 1 {
		t.Errorf("%d POST /nodes, want 1 (trip; not trip/sub)", n)
	}
}

// TestUploadOnConflict (issue 16 item 4): a local file whose name the
// folder holds with other content is a conflict (its own status; the
// statement fails) and nothing is sent; ON CONFLICT SKIP skips it, RENAME
// uploads it as "x (1).jpg" and REPLACE makes it the node's new content.
// Re-runs send no second copy. Checked against the emulator's state.
func TestUploadOnConflict(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 14}, 0)
	remote := e.serviceHas("Dest", "x.jpg", "what the service has")
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

// serviceHas puts a file holding content into the service's folder (a
// path, made as needed; "" is the root) and returns its id.
func (e *env) serviceHas(folder, name, content string) string {
	e.t.Helper()
	id, err := e.srv.Upload(folder, name, []byte(content))
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// rowsByName indexes result rows by name.
func rowsByName(rows []row) map[string]row {
	got := map[string]row{}
	for _, r := range rows {
		got[r.name] = r
	}
	return got
}

// heldCopy is a local in/copy.jpg whose bytes the service holds as
// Elsewhere/original.jpg (id held).
type heldCopy struct {
	t         *testing.T
	held, dir string
}

func newHeldCopy(e *env) heldCopy {
	e.t.Helper()
	held := e.serviceHas("Elsewhere", "original.jpg", "bytes the library holds")
	dir := filepath.Join(e.t.TempDir(), "in")
	writeFile(e.t, filepath.Join(dir, "copy.jpg"), "bytes the library holds")
	return heldCopy{e.t, held, dir}
}

// check wants the copy skipped, naming where the service holds it.
func (c heldCopy) check(got map[string]row) {
	c.t.Helper()
	if r := got["in/copy.jpg"]; r.status != StatusSkipped || r.id != c.held || !strings.Contains(r.detail, "original.jpg") {
		c.t.Errorf("copy.jpg: %+v, want skipped naming original.jpg (%s)", r, c.held)
	}
}
