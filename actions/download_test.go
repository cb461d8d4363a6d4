package actions

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// TestDownloadWithCutConnections: every file arrives, right, with no .part
// left, though a quarter of the responses are cut mid-body; the re-run
// downloads nothing.
func TestDownloadWithCutConnections(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 60, Seed: 9}, 0)
	// Bigger files than the synthetic ones, so that cuts land mid-body.
	for i := range 8 {
		data := []byte(strings.Repeat(fmt.Sprintf("content of file %d; ", i), 20000+i*997))
		if _, err := e.srv.Upload("Uploads", fmt.Sprintf("big%d.jpg", i), data); err != nil {
			t.Fatal(err)
		}
	}
	e.mirror()
	e.srv.SetFaults(0, 0, 0.25, 0)
	dir := filepath.Join(t.TempDir(), "out")
	rows, sum := e.run(`DOWNLOAD WHERE kind = 'FILE' TO '` + dir + `' (CONCURRENCY 4)`)
	want := e.count(`SELECT count(*) FROM nodes WHERE kind = 'FILE'`)
	if st := byStatus(rows); len(st[StatusOK]) != want {
		t.Fatalf("DOWNLOAD: %d ok of %d (%s); failed: %v", len(st[StatusOK]), want, sum, rows)
	}
	if e.srv.Stats().Resets == 0 {
		t.Fatal("the emulator cut no connection; the test proves nothing")
	}
	resumed := 0
	for _, r := range rows {
		if strings.Contains(r.detail, "resumed") {
			resumed++
		}
	}
	if resumed == 0 {
		t.Errorf("no download reports a resume")
	}
	checkDownloads(t, e, dir)

	e.srv.SetFaults(0, 0, 0, 0)
	e.rec.reset()
	rows, _ = e.run(`DOWNLOAD WHERE kind = 'FILE' TO '` + dir + `' (CONCURRENCY 4)`)
	if st := byStatus(rows); len(st[StatusSkipped]) != want || len(e.rec.reqs) != 0 {
		t.Errorf("re-run: %d skipped of %d, %d requests; want all skipped and none sent", len(st[StatusSkipped]), want, len(e.rec.reqs))
	}
}

// checkDownloads asserts that dir holds exactly the nodes' files under the
// default naming, each with its md5, and no .part.
func checkDownloads(t *testing.T, e *env, dir string) {
	t.Helper()
	rows, err := e.db.Query(t.Context(), `SELECT id, name, md5 FROM nodes WHERE kind = 'FILE'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, name, sum string
		if err := rows.Scan(&id, &name, &sum); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, cleanName(id+"_"+name)))
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if got := md5.Sum(data); hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: md5 %x, want %s", id, got, sum)
		}
	}
	noParts(t, dir)
}

// TestDownloadResumesPartFromEarlierRun: a .part kept by an interrupted run
// is continued with a Range request; a wrong one is replaced.
func TestDownloadResumesPartFromEarlierRun(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 10}, 0)
	data := []byte(strings.Repeat("0123456789", 50000))
	id, err := e.srv.Upload("", "resume.jpg", data)
	if err != nil {
		t.Fatal(err)
	}
	e.mirror()
	dir := t.TempDir()
	cases := []struct {
		name   string
		prefix []byte
		detail string
	}{
		{"good prefix", data[:123457], "md5 verified"},
		{"wrong prefix", []byte(strings.Repeat("x", 1000)), "md5 verified"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			final := filepath.Join(dir, id+"_resume.jpg")
			os.Remove(final)
			if err := os.WriteFile(fetch.PartName(final), c.prefix, 0o644); err != nil {
				t.Fatal(err)
			}
			rows, _ := e.run(fmt.Sprintf(`DOWNLOAD '%s' TO '%s'`, id, dir))
			if len(rows) != 1 || rows[0].status != StatusOK || !strings.Contains(rows[0].detail, c.detail) {
				t.Fatalf("rows = %+v", rows)
			}
			got, err := os.ReadFile(final)
			if err != nil || string(got) != string(data) {
				t.Fatalf("the file differs from the node's content (%d bytes, err %v)", len(got), err)
			}
			if _, err := os.Stat(fetch.PartName(final)); !os.IsNotExist(err) {
				t.Errorf(".part left behind")
			}
		})
	}
}

// TestDownloadHostileNames: names from the service never put a file
// outside the target directory, whatever the template.
func TestDownloadHostileNames(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 11}, 0)
	names := []string{"ok.jpg", "ünïcödé 写真.jpg", strings.Repeat("long", 100) + ".jpg", "tab\tnew\nline.jpg", "\u202egpj.exe"}
	for _, n := range names {
		if _, err := e.srv.Upload("Hostile", n, []byte("bytes of "+n)); err != nil {
			t.Fatal(err)
		}
	}
	e.mirror()
	// Names the service would refuse can still reach the mirror (or a
	// future service): plant them locally.
	ids := e.ids(`SELECT id FROM nodes WHERE parentId = (SELECT parentId FROM nodes WHERE name = 'ok.jpg') ORDER BY id`)
	hostile := []string{"../../escaped.jpg", "/etc/passwd", "..", ".", "a/../../b.jpg", `..\..\win.jpg`}
	for i, h := range hostile {
		if i < len(ids) {
			e.exec(`UPDATE nodes SET name = ? WHERE id = ?`, h, ids[i])
		}
	}
	e.exec(`UPDATE folders SET name = '../..'`) // {folder} too
	base := t.TempDir()
	dir := filepath.Join(base, "inside")
	for k, naming := range []string{"{id}_{name}", "{name}", "{folder}/{name}", "{yyyy}/{mm}/{name}.{ext}"} {
		to := filepath.Join(dir, fmt.Sprint(k))
		rows, sum := e.run(fmt.Sprintf(`DOWNLOAD WHERE parentId = (SELECT parentId FROM nodes WHERE id = '%s') TO '%s' (NAMING '%s')`, ids[0], to, naming))
		for _, r := range rows {
			if r.status == StatusFailed && !strings.Contains(r.detail, "same file name") {
				t.Errorf("NAMING %s: %+v (%s)", naming, r, sum)
			}
		}
	}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if p != base && (strings.HasPrefix(rel, "..") || filepath.IsAbs(rel)) {
			t.Errorf("a file escaped the target directory: %s", p)
		}
		if len(d.Name()) > maxComponent+len("..part") {
			t.Errorf("name of %d bytes: %s", len(d.Name()), d.Name())
		}
		for _, r := range d.Name() {
			if r < 0x20 || r == 0x7f || r == '\u202e' {
				t.Errorf("control character in %q", d.Name())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "escaped.jpg")); err == nil {
		t.Error("../../escaped.jpg was written outside")
	}
}

func TestCleanName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"IMG_0001.JPG", "IMG_0001.JPG"},
		{"../../etc/passwd", "__.._etc_passwd"},
		{"..", "_"},
		{".", "_"},
		{"", "_"},
		{"a/b\\c", "a_b_c"},
		{"tab\there", "tab_here"},
		{"nul\x00byte", "nul_byte"},
		{"\u202egpj.exe", "_gpj.exe"},
		{"bad\xffutf8", "bad_utf8"},
		{"写真.heic", "写真.heic"},
		{"  spaced  ", "spaced"},
		{"trailing.", "trailing"},
		{`what?<>:"|*`, "what_______"},
	}
	for _, c := range cases {
		if got := cleanName(c.in); got != c.want {
			t.Errorf("cleanName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := cleanName(strings.Repeat("写", 300) + ".jpg")
	if len(long) > maxComponent || !strings.HasSuffix(long, ".jpg") || !strings.HasPrefix(long, "写") {
		t.Errorf("cleanName(long) = %d bytes %q..., want at most %d, ending .jpg", len(long), long[:12], maxComponent)
	}
}

func TestTemplate(t *testing.T) {
	it := item{ID: "ID1", Name: "../x/y.JPG", Ext: "jpg", Folder: "Pictures"}
	cases := []struct {
		tmpl, want, err string
	}{
		{"{id}_{name}", "ID1_.._x_y.JPG", ""},
		{"{folder}/{name}", "Pictures/__x_y.JPG", ""},
		{"{yyyy}/{mm}/{dd}/{id}.{ext}", "0000/00/00/ID1.jpg", ""},
		{"{name}/../..", "", "'..'"},
		{"/abs/{id}", "", "relative"},
		{"{nope}", "", "unknown field"},
		{"{yyyy}", "", "include {id} or {name}"},
		{"{id", "", "unclosed"},
	}
	for _, c := range cases {
		tp, err := parseTemplate(c.tmpl)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseTemplate(%q) error = %v, want one containing %q", c.tmpl, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTemplate(%q): %v", c.tmpl, err)
			continue
		}
		if got := tp.expand(it); got != c.want {
			t.Errorf("expand(%q) = %q, want %q", c.tmpl, got, c.want)
		}
	}
}

// TestDownloadLiveVideos: with (LIVE_VIDEO true) each Live Photo's video
// lands next to its still (same name, its own extension), verified against
// its md5; stills that are not Live get nothing more; EXPLAIN lists and
// sends nothing; the re-run skips all; without the option no video comes.
func TestDownloadLiveVideos(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 400, Seed: 12}, 0)
	live := e.ids(`SELECT id FROM nodes WHERE contains(CAST(raw->'childAssetTypeInfo' AS VARCHAR), 'LIVE_VIDEO') ORDER BY id`)
	if len(live) < 2 {
		t.Fatalf("the library has %d Live Photos; the test needs some", len(live))
	}
	target := `WHERE make = 'Apple' AND category = 'img'`
	stills := e.count(`SELECT count(*) FROM nodes ` + target)
	t.Logf("%d stills, %d Live Photos", stills, len(live))
	dir := filepath.Join(t.TempDir(), "out")
	naming := `(LIVE_VIDEO true)`

	before := e.srv.Stats().Requests
	rows, sum := e.run(`EXPLAIN DOWNLOAD ` + target + ` TO '` + dir + `' ` + naming)
	if !strings.Contains(sum, fmt.Sprintf("the videos of %d Live Photos", len(live))) || len(rows) != stills+len(live) {
		t.Errorf("EXPLAIN: %d rows (want %d), summary %q", len(rows), stills+len(live), sum)
	}
	if got := e.srv.Stats().Requests; got != before {
		t.Errorf("EXPLAIN sent %d requests", got-before)
	}

	rows, sum = e.run(`DOWNLOAD ` + target + ` TO '` + dir + `' ` + naming)
	st := byStatus(rows)
	if len(st[StatusOK]) != stills+len(live) || len(rows) != stills+len(live) {
		t.Fatalf("DOWNLOAD: %d ok, %d rows; want %d stills and %d videos (%s)", len(st[StatusOK]), len(rows), stills, len(live), sum)
	}
	for _, id := range live {
		n, _ := e.node(id)
		videos, err := (api{e.c}).liveVideos(t.Context(), id)
		if err != nil || len(videos) != 1 {
			t.Fatalf("%s: %d videos, %v", id, len(videos), err)
		}
		v := videos[0]
		still := cleanName(id + "_" + n.Name) // the default NAMING, {id}_{name}
		path := filepath.Join(dir, strings.TrimSuffix(still, filepath.Ext(still))+filepath.Ext(v.Name))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("the video of %s: %v", id, err)
			continue
		}
		if got := md5.Sum(data); hex.EncodeToString(got[:]) != v.ContentProperties.MD5 || int64(len(data)) != v.ContentProperties.Size {
			t.Errorf("%s: %d bytes md5 %x, want %d %s", path, len(data), got, v.ContentProperties.Size, v.ContentProperties.MD5)
		}
	}
	var movs int
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.EqualFold(filepath.Ext(p), ".mov") {
			movs++
		}
		return nil
	})
	if movs != len(live) {
		t.Errorf("%d .MOV files in the target, want %d (one per Live Photo)", movs, len(live))
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action = 'DOWNLOAD' AND status = 'ok'`); n != stills+len(live) {
		t.Errorf("journal: %d ok, want %d", n, stills+len(live))
	}

	e.rec.reset()
	rows, _ = e.run(`DOWNLOAD ` + target + ` TO '` + dir + `' ` + naming)
	if st := byStatus(rows); len(st[StatusSkipped]) != stills+len(live) {
		t.Errorf("re-run: %d skipped of %d", len(st[StatusSkipped]), stills+len(live))
	}
	if n := len(e.rec.matching("GET", "/contentRedirection")); n != 0 {
		t.Errorf("re-run downloaded %d files again", n)
	}

	other := filepath.Join(t.TempDir(), "plain")
	rows, _ = e.run(`DOWNLOAD ` + target + ` TO '` + other + `'`)
	if len(rows) != stills {
		t.Errorf("without LIVE_VIDEO: %d rows, want the %d stills only", len(rows), stills)
	}
	if _, _, err := e.try(t.Context(), `DOWNLOAD `+target+` TO '`+other+`' (LIVE_VIDEO maybe)`); err == nil || !strings.Contains(err.Error(), "LIVE_VIDEO") {
		t.Errorf("LIVE_VIDEO maybe: err = %v, want one naming the option", err)
	}
}

func TestLiveRel(t *testing.T) {
	for _, c := range []struct{ rel, name, id, want string }{
		{"2024/x_IMG_0534.HEIC", "IMG_0534.MOV", "", "2024/x_IMG_0534.MOV"},
		{"x_IMG_0534.HEIC", "noext", "", "x_IMG_0534.MOV"},
		{"x_IMG_0534.HEIC", "IMG_0534.MOV", "vid1", "x_IMG_0534_vid1.MOV"},
		{"x_IMG_0534.HEIC", "IMG_0534.MOV", "vid/2", "x_IMG_0534_vid_2.MOV"},
	} {
		if got := liveRel(c.rel, c.name, c.id); got != c.want {
			t.Errorf("liveRel(%q, %q, %q) = %q, want %q", c.rel, c.name, c.id, got, c.want)
		}
	}
}

// TestDownloadLiveVideos401: a 401 while the Live Photo videos are listed
// stops the statement, and every target still gets its row and journal
// entry (nothing was downloaded).
func TestDownloadLiveVideos401(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 400, Seed: 12}, 0)
	target := `WHERE make = 'Apple' AND category = 'img'`
	stills := e.count(`SELECT count(*) FROM nodes ` + target)
	var once atomic.Bool
	e.rec.before = func(r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/children") && once.CompareAndSwap(false, true) {
			e.srv.ExpireCookies()
		}
	}
	dir := filepath.Join(t.TempDir(), "out")
	rows, sum := e.run(`DOWNLOAD ` + target + ` TO '` + dir + `' (LIVE_VIDEO true, CONCURRENCY 1)`)
	if st := byStatus(rows); len(rows) != stills || len(st[StatusFailed]) != stills {
		t.Errorf("%d rows (%d failed) for %d targets after a 401; want one failed row each (%s)", len(rows), len(st[StatusFailed]), stills, sum)
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action = 'DOWNLOAD' AND status = 'failed'`); n != stills {
		t.Errorf("journal: %d failed entries, want %d", n, stills)
	}
	if n := len(e.rec.matching("GET", "/contentRedirection")); n != 0 {
		t.Errorf("%d downloads after the 401", n)
	}
}

// TestDownloadPartNeverAnotherFile: a node named like another's partial
// file ("a.jpg.part" beside "a.jpg") is never taken for it: both arrive,
// in one run or two.
func TestDownloadPartNeverAnotherFile(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 30, Seed: 9}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' AND md5 <> '' ORDER BY size DESC, id LIMIT 2`)
	a, b := ids[1], ids[0]
	if err := e.srv.Rename(a, "a.jpg"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Rename(b, "a.jpg.part"); err != nil {
		t.Fatal(err)
	}
	e.mirror()
	dir := t.TempDir()
	verify := func(when string) {
		t.Helper()
		for id, name := range map[string]string{a: "a.jpg", b: "a.jpg.part"} {
			want, _ := e.srv.Content(id)
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(got) != string(want) {
				t.Errorf("%s: %s holds %d bytes (%v), want node %s's %d", when, name, len(got), err, id, len(want))
			}
		}
	}
	e.run(`DOWNLOAD '` + b + `' TO '` + dir + `' (NAMING '{name}')`)
	e.run(`DOWNLOAD '` + a + `' TO '` + dir + `' (NAMING '{name}')`)
	verify("two runs")
	dir = t.TempDir()
	rows, sum := e.run(`DOWNLOAD '` + b + `', '` + a + `' TO '` + dir + `' (NAMING '{name}')`)
	if st := byStatus(rows); len(st[StatusOK]) != 2 {
		t.Errorf("one run: %v (%s)", rows, sum)
	}
	verify("one run")
}

// TestDownloadGoneNodeAndNoEmptyParts (issue 16 item 4): a node purged
// since the mirror saw it answers 404; it is skipped as gone, leaves the
// mirror, and the re-run skips it without a request. A download that
// fails leaves no empty .part behind.
func TestDownloadGoneNodeAndNoEmptyParts(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 12}, 0)
	keep, err := e.srv.Upload("", "keep.jpg", []byte(strings.Repeat("k", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	lost, err := e.srv.Upload("", "lost.jpg", []byte(strings.Repeat("l", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	e.mirror()
	if err := e.srv.TrashIDs(lost); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(lost); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stmt := fmt.Sprintf(`DOWNLOAD '%s', '%s' TO '%s'`, keep, lost, dir)
	res, err := e.s.Run(t.Context(), stmt)
	if err != nil {
		t.Fatal(err)
	}
	res.Rows.Release()
	st := map[string]Status{}
	for _, r := range e.ids(`SELECT target || '=' || status FROM actions_log WHERE action = 'DOWNLOAD'`) {
		k, v, _ := strings.Cut(r, "=")
		st[k] = Status(v)
	}
	if st[keep] != StatusOK || st[lost] != StatusSkipped || res.Failed != 0 {
		t.Fatalf("journal %v, Result.Failed %d: want %s ok, %s skipped as gone, nothing failed", st, res.Failed, keep, lost)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, lost); n != 0 {
		t.Errorf("the gone node is still in nodes")
	}
	noParts(t, dir)
	e.rec.reset()
	again, _ := e.run(stmt)
	if len(again) != 2 || again[1].status != StatusSkipped || !strings.Contains(again[1].detail, "gone") {
		t.Errorf("re-run rows %+v: want the gone node skipped as gone", again)
	}
	if reqs := e.rec.matching("GET", lost); len(reqs) != 0 {
		t.Errorf("the re-run asked for the gone node: %+v", reqs)
	}

	// Every request fails: the row fails, and no empty .part is left.
	e.srv.SetFaults(0, 1, 0, 0)
	defer e.srv.SetFaults(0, 0, 0, 0)
	os.Remove(filepath.Join(dir, keep+"_keep.jpg"))
	rows, _, err := e.try(t.Context(), fmt.Sprintf(`DOWNLOAD '%s' TO '%s'`, keep, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].status != StatusFailed {
		t.Fatalf("rows %+v, want one failed", rows)
	}
	noParts(t, dir)
}

// noParts fails the test for each .part file under dir.
func noParts(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if strings.HasSuffix(p, ".part") {
			fi, _ := os.Stat(p)
			t.Errorf("left behind: %s (%d bytes)", p, fi.Size())
		}
		return nil
	})
}

// TestDownloadNamesNeverMove (issue 16 item 6): a node that appears with a
// lower id and the same local name as a downloaded one ("a:b.jpg" and
// "a_b.jpg" are both a_b.jpg on disk) gets a new free name; the file
// already on disk with the old node's md5 stays that node's, untouched.
func TestDownloadNamesNeverMove(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 5, Seed: 13}, 0)
	oldData := []byte(strings.Repeat("old ", 3000))
	old, err := e.srv.Upload("Pics", "a_b.jpg", oldData)
	if err != nil {
		t.Fatal(err)
	}
	e.mirror()
	dir := t.TempDir()
	stmt := `DOWNLOAD WHERE name IN ('a_b.jpg', 'a:b.jpg') TO '` + dir + `' (NAMING '{name}')`
	rows, _ := e.run(stmt)
	if len(rows) != 1 || rows[0].status != StatusOK {
		t.Fatalf("first run: %+v", rows)
	}
	oldPath := filepath.Join(dir, "a_b.jpg")
	before, err := os.Stat(oldPath)
	if err != nil {
		t.Fatal(err)
	}
	// A same-named node whose id sorts first.
	var newer string
	for try := 0; ; try++ {
		id, err := e.srv.Upload("Pics", "a:b.jpg", []byte(fmt.Sprintf("newer content %d", try)))
		if err != nil {
			t.Fatal(err)
		}
		if id < old {
			newer = id
			break
		}
		if err := e.srv.TrashIDs(id); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.PurgeIDs(id); err != nil {
			t.Fatal(err)
		}
	}
	e.mirror()
	res, err := e.s.Run(t.Context(), stmt)
	if err != nil {
		t.Fatal(err)
	}
	res.Rows.Release()
	got := map[string]string{}
	for _, r := range e.ids(`SELECT target || ' ' || status || ': ' || detail FROM actions_log WHERE action = 'DOWNLOAD' AND seq > 1 ORDER BY seq`) {
		id, rest, _ := strings.Cut(r, " ")
		got[id] = rest
	}
	if !strings.HasPrefix(got[old], "skipped: already present") || !strings.HasSuffix(got[old], ": a_b.jpg") ||
		!strings.HasPrefix(got[newer], "ok:") || !strings.Contains(got[newer], "a_b (2).jpg") || res.Failed != 0 {
		t.Fatalf("re-run: old %s: %q; new %s: %q; Result.Failed %d\nwant the old skipped as already there at a_b.jpg, the new ok as a_b (2).jpg, nothing failed",
			old, got[old], newer, got[newer], res.Failed)
	}
	after, err := os.Stat(oldPath)
	if data, _ := os.ReadFile(oldPath); err != nil || string(data) != string(oldData) || !after.ModTime().Equal(before.ModTime()) || !os.SameFile(before, after) {
		t.Errorf("a_b.jpg was touched: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "a_b (2).jpg")); err != nil || !strings.HasPrefix(string(data), "newer content") {
		t.Errorf("a_b (2).jpg: %q, %v", data, err)
	}
	// And again: nothing moves, nothing is sent.
	e.rec.reset()
	rows, _ = e.run(stmt)
	if st := byStatus(rows); len(st[StatusSkipped]) != 2 || len(e.rec.reqs) != 0 {
		t.Errorf("third run: %+v, %d requests; want both skipped, none sent", rows, len(e.rec.reqs))
	}
	// A target of the new node alone finds it under its number.
	rows, _ = e.run(`DOWNLOAD '` + newer + `' TO '` + dir + `' (NAMING '{name}')`)
	if len(rows) != 1 || rows[0].status != StatusSkipped || !strings.HasSuffix(rows[0].detail, "a_b (2).jpg") {
		t.Errorf("the new node alone: %+v, want skipped as already present at a_b (2).jpg", rows)
	}
	noParts(t, dir)
}
