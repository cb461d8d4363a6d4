package backup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestCheck: CHECK 'dir' over a backup says matched for every file that
// holds its node's bytes (by the emulator), differs for one edited,
// missing_locally for one removed and missing_in_cloud for a file of
// nobody's; the sidecars and the backup's own files are not listed;
// AGAINST narrows the nodes.
func TestCheck(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 120, Seed: 11}, "SYNC")
	dir := filepath.Join(t.TempDir(), "bk")
	e.run(`BACKUP TO '` + dir + `' (SIDECAR 'xmp')`)
	m := readManifestT(t, dir)
	files := e.strings(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id`)
	edited, removed := files[0], files[1]
	os.WriteFile(filepath.Join(dir, filepath.FromSlash(m.byID[edited].Path)), []byte("edited"), 0o644)
	os.Remove(filepath.Join(dir, filepath.FromSlash(m.byID[removed].Path)))
	stranger := filepath.Join(dir, "mine.txt")
	os.WriteFile(stranger, []byte("not in the cloud"), 0o644)

	rows, sum := e.run(`CHECK '` + dir + `'`)
	t.Log(sum)
	for _, r := range rows {
		if r["status"] == checkMissingInCloud {
			t.Log(r)
		}
	}
	got := map[string]string{}
	counts := map[string]int{}
	for _, r := range rows {
		counts[r["status"]]++
		if r["id"] != "" {
			got[r["id"]] = r["status"]
		} else {
			got[r["path"]] = r["status"]
		}
	}
	if got[edited] != checkDiffers || got[removed] != checkMissingLocally || got[stranger] != checkMissingInCloud {
		t.Errorf("edited %s, removed %s, stranger %s", got[edited], got[removed], got[stranger])
	}
	for _, id := range files[2:] {
		truth, _ := e.srv.Content(id)
		b, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(m.byID[id].Path)))
		if want := map[bool]string{true: checkMatched, false: checkDiffers}[string(b) == string(truth)]; got[id] != want {
			t.Errorf("%s: %s, want %s", id, got[id], want)
		}
	}
	if len(rows) != len(files)+1 || counts[checkMatched] != len(files)-2 {
		t.Errorf("%d rows %v, want %d", len(rows), counts, len(files)+1)
	}

	rows, _ = e.run(`CHECK '` + dir + `' AGAINST '` + files[2] + `', '` + files[3] + `'`)
	counts = map[string]int{}
	for _, r := range rows {
		counts[r["status"]]++
	}
	if counts[checkMatched] != 2 || counts[checkMissingLocally] != 0 {
		t.Errorf("AGAINST two ids: %v", counts)
	}
}

// TestUploadMissingInCloud: UPLOAD (query of paths) sends exactly the
// files CHECK calls missing_in_cloud, and afterwards CHECK finds them all
// matched; the emulator holds their bytes.
func TestUploadMissingInCloud(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40, Seed: 29}, "SYNC")
	dir := filepath.Join(t.TempDir(), "bk")
	e.run(`BACKUP TO '` + dir + `'`)
	var mine []string
	for i, s := range []string{"one", "two", "three"} {
		p := filepath.Join(dir, "extra", s+".txt")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(s+" is mine "+string(rune('a'+i))), 0o644)
		mine = append(mine, p)
	}
	q := `SELECT path FROM local_files('` + dir + `') WHERE md5 NOT IN (SELECT md5 FROM nodes WHERE md5 IS NOT NULL) AND path NOT LIKE '%/.apsql-backup/%'`
	rows, sum := e.run(`UPLOAD (` + q + `) TO 'imported'`)
	t.Log(sum)
	uploaded := map[string]string{} // local path → node id
	for _, r := range rows {
		if r["status"] == "ok" && strings.Contains(r["detail"], "uploaded") {
			uploaded[r["name"]] = r["id"]
		}
	}
	if len(uploaded) != len(mine) {
		t.Errorf("%d uploaded, want %d: %v", len(uploaded), len(mine), rows)
	}
	for _, p := range mine {
		want, _ := os.ReadFile(p)
		if got, ok := e.srv.Content(uploaded[p]); !ok || string(got) != string(want) {
			t.Errorf("%s: the emulator holds %q for %s", p, got, uploaded[p])
		}
	}
	e.run(`SYNC`)
	rows, _ = e.run(`CHECK '` + dir + `'`)
	for _, r := range rows {
		if r["status"] != checkMatched {
			t.Errorf("after the upload: %v", r)
		}
	}
}
