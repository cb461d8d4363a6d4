package backup

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
)

// truth is what the emulator says about one node, for the sidecars.
type truth struct {
	name, description, location string
	favorite                    bool
	content, created            time.Time
	albums, people              []string
}

// emulatorTruth reads the sidecars' fields of ids from the emulator's
// state: the node JSON, the albums' members and the people's photos.
func (e *env) emulatorTruth(ids []string) map[string]*truth {
	e.t.Helper()
	out := map[string]*truth{}
	for _, id := range ids {
		raw, ok := e.srv.Node(id)
		if !ok {
			e.t.Fatalf("the emulator has no node %s", id)
		}
		var n struct {
			Name, Description string
			CreatedDate       time.Time
			Settings          struct{ Favorite bool }
			ContentProperties struct {
				ContentDate time.Time
				Image       struct{ Location string }
				Video       struct{ Location string }
			}
		}
		if err := json.Unmarshal(raw, &n); err != nil {
			e.t.Fatal(err)
		}
		loc := n.ContentProperties.Image.Location
		if loc == "" {
			loc = n.ContentProperties.Video.Location
		}
		out[id] = &truth{name: n.Name, description: n.Description, location: loc, favorite: n.Settings.Favorite,
			content: n.ContentProperties.ContentDate, created: n.CreatedDate}
	}
	for aid, name := range e.srv.Albums() {
		members, _ := e.srv.AlbumMembers(aid)
		for _, id := range members {
			if t := out[id]; t != nil {
				t.albums = append(t.albums, name)
			}
		}
	}
	for _, p := range e.srv.People() {
		if p.Name == "" {
			continue
		}
		ids, err := e.srv.IDs("people:(" + p.ClusterID + ")")
		if err != nil {
			e.t.Fatal(err)
		}
		for _, id := range ids {
			if t := out[id]; t != nil {
				t.people = append(t.people, p.Name)
			}
		}
	}
	for _, t := range out {
		sort.Strings(t.albums)
		sort.Strings(t.people)
	}
	return out
}

// TestSidecars: SIDECAR 'both' writes NAME.ext.xmp and NAME.ext.json
// beside every file; exiftool reads back, for every node, the capture
// time with its offset, the GPS position, title, description, rating (5
// for favourites), the flat and hierarchical keywords (Albums/, People/,
// Things/, Labels/) and the people, all as the emulator holds them; the
// Takeout JSON carries the same; a re-run rewrites no sidecar, and one
// whose node changed (a new description) is rewritten.
func TestSidecars(t *testing.T) {
	if _, err := exec.LookPath("exiftool"); err != nil {
		t.Fatal("exiftool is missing: run scripts/install-exiftool.sh (Debian: apt-get install libimage-exiftool-perl)")
	}
	e := setup(t, emulator.Options{Nodes: 400, Seed: 7}, "SYNC", "SYNC TAGS")
	files := e.strings(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id`)
	labeled := files[3]
	if _, err := e.db.Exec(t.Context(), `INSERT INTO labels (source, id, rank, label, prob) VALUES ('test', ?, 1, 'golden retriever', 0.9)`, labeled); err != nil {
		t.Fatal(err)
	}
	things := map[string][]string{}
	for _, r := range e.pairs(`SELECT id, value FROM tags WHERE category = 'things' ORDER BY value`) {
		things[r[0]] = append(things[r[0]], r[1])
	}
	dir := filepath.Join(t.TempDir(), "bk")
	_, sum := e.run(`BACKUP TO '` + dir + `' (SIDECAR 'both')`)
	t.Log(sum)
	m := readManifestT(t, dir)
	truths := e.emulatorTruth(files)

	out, err := exec.Command("exiftool", "-r", "-json", "-n", "-ext", "xmp",
		"-XMP:DateTimeOriginal", "-XMP:GPSLatitude", "-XMP:GPSLongitude", "-XMP:Title", "-XMP:Description",
		"-XMP:Rating", "-XMP:Subject", "-XMP:TagsList", "-XMP:HierarchicalSubject", "-XMP:PersonInImage", dir).Output()
	if err != nil {
		t.Fatalf("exiftool: %v", err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	byFile := map[string]map[string]any{}
	for _, g := range got {
		byFile[g["SourceFile"].(string)] = g
	}
	if len(byFile) != len(files) {
		t.Errorf("exiftool read %d XMP sidecars, want %d", len(byFile), len(files))
	}
	list := func(v any) []string {
		switch x := v.(type) {
		case nil:
			return nil
		case []any:
			var s []string
			for _, y := range x {
				s = append(s, toString(y))
			}
			return s
		default:
			return []string{toString(x)}
		}
	}
	var gps, desc, fav, albums, people int
	for _, id := range files {
		tr, rec := truths[id], m.byID[id]
		x := byFile[filepath.Join(dir, filepath.FromSlash(rec.Path))+".xmp"]
		if x == nil {
			t.Errorf("%s: no XMP sidecar read", id)
			continue
		}
		want := tr.content.UTC().Format("2006:01:02 15:04:05Z")
		if got := toString(x["DateTimeOriginal"]); got != want {
			t.Errorf("%s DateTimeOriginal %q, want %q", id, got, want)
		}
		if toString(x["Title"]) != tr.name {
			t.Errorf("%s Title %q, want %q", id, x["Title"], tr.name)
		}
		if toString(x["Description"]) != tr.description {
			t.Errorf("%s Description %q, want %q", id, x["Description"], tr.description)
		}
		if tr.description != "" {
			desc++
		}
		if tr.location != "" {
			gps++
			lat, lon, err := parseLocation(tr.location)
			glat, _ := x["GPSLatitude"].(float64)
			glon, _ := x["GPSLongitude"].(float64)
			if err != nil || math.Abs(glat-lat) > 1e-5 || math.Abs(glon-lon) > 1e-5 {
				t.Errorf("%s GPS %v,%v, want %s", id, x["GPSLatitude"], x["GPSLongitude"], tr.location)
			}
		} else if x["GPSLatitude"] != nil {
			t.Errorf("%s has GPS %v but no location", id, x["GPSLatitude"])
		}
		if tr.favorite {
			fav++
			if toString(x["Rating"]) != "5" {
				t.Errorf("%s: a favourite with Rating %v", id, x["Rating"])
			}
		} else if x["Rating"] != nil {
			t.Errorf("%s: Rating %v, not a favourite", id, x["Rating"])
		}
		var wantDK, wantLR, wantFlat []string
		addKW := func(top string, vals []string) {
			for _, v := range vals {
				wantDK = append(wantDK, top+"/"+v)
				wantLR = append(wantLR, top+"|"+v)
				if !slices.Contains(wantFlat, v) {
					wantFlat = append(wantFlat, v)
				}
			}
		}
		var labels []string
		if id == labeled {
			labels = []string{"golden retriever"}
		}
		addKW("Albums", tr.albums)
		addKW("People", tr.people)
		addKW("Things", things[id])
		addKW("Labels", labels)
		if len(tr.albums) > 0 {
			albums++
		}
		if len(tr.people) > 0 {
			people++
		}
		for _, c := range []struct {
			tag  string
			want []string
		}{{"TagsList", wantDK}, {"HierarchicalSubject", wantLR}, {"Subject", wantFlat}, {"PersonInImage", tr.people}} {
			g := list(x[c.tag])
			if !slices.Equal(sorted(g), sorted(c.want)) {
				t.Errorf("%s %s = %q, want %q", id, c.tag, g, c.want)
			}
		}
		// The Takeout JSON.
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rec.Path)) + ".json")
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		var j takeout
		if err := json.Unmarshal(b, &j); err != nil {
			t.Errorf("%s JSON sidecar: %v", id, err)
			continue
		}
		var names []string
		for _, p := range j.People {
			names = append(names, p.Name)
		}
		if j.Title != tr.name || j.Description != tr.description || j.Favorited != tr.favorite ||
			j.PhotoTakenTime == nil || j.PhotoTakenTime.Timestamp != itoa(tr.content.Unix()) ||
			j.CreationTime == nil || j.CreationTime.Timestamp != itoa(tr.created.Unix()) ||
			!slices.Equal(sorted(names), tr.people) || (tr.location != "") != (j.GeoData != nil && j.GeoData.Latitude != 0) {
			t.Errorf("%s JSON sidecar %s, want %+v", id, b, tr)
		}
	}
	t.Logf("%d files: %d with GPS, %d with a description, %d favourites, %d in albums, %d with named people", len(files), gps, desc, fav, albums, people)
	if gps < len(files)/5 || desc < 5 || fav < 3 || albums < 5 || people < 10 {
		t.Errorf("the emulator gives too little to carry")
	}

	// A re-run rewrites nothing; a new description rewrites that sidecar.
	rows, _ := e.run(`BACKUP TO '` + dir + `' (SIDECAR 'both')`)
	if len(rows) != 0 {
		t.Errorf("re-run: %v", rows)
	}
	if _, err := e.db.Exec(t.Context(), `UPDATE nodes SET raw = json_merge_patch(raw, '{"description":"new words"}') WHERE id = ?`, files[0]); err != nil {
		t.Fatal(err)
	}
	rows, _ = e.run(`BACKUP TO '` + dir + `' (SIDECAR 'both')`)
	if len(rows) != 1 || rows[0]["id"] != files[0] || !strings.Contains(rows[0]["detail"], "sidecars rewritten") {
		t.Errorf("after a description changed: %v", rows)
	}
	b, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(m.byID[files[0]].Path)) + ".xmp")
	if !strings.Contains(string(b), "new words") {
		t.Errorf("the XMP sidecar was not rewritten: %s", b)
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strings.TrimSuffix(strings.TrimRight(strings.TrimRight(fmtFloat(x), "0"), "."), ".")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func fmtFloat(f float64) string { b, _ := json.Marshal(f); return string(b) + "." }

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func (e *env) pairs(q string) [][2]string {
	e.t.Helper()
	rows, err := e.db.Query(e.t.Context(), q)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, [2]string{a, b})
	}
	return out
}
