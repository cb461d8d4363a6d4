package mirror

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// usageByType counts the mirror's available files the way /account/usage
// classifies them (photo, video, doc, other).
const usageByType = `SELECT t, count(*), sum(size) FROM (
  SELECT CASE WHEN starts_with(contentType, 'image/') THEN 'photo'
              WHEN starts_with(contentType, 'video/') THEN 'video'
              WHEN category IN ('pdf', 'doc', 'xls', 'ppt', 'txt', 'markup') THEN 'doc'
              ELSE 'other' END AS t, size
  FROM nodes WHERE kind = 'FILE' AND status = 'AVAILABLE') GROUP BY t`

// upload puts n files named prefix<i>.ext into folder on the service.
func upload(t *testing.T, srv *emulator.Server, folder, prefix, ext string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		id, err := srv.Upload(folder, fmt.Sprintf("%s%05d.%s", prefix, i, ext), fmt.Appendf(nil, "%s %d %s", prefix, i, strings.Repeat("x", i%7)))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// sameFiles checks that nodes holds exactly the service's available files.
func (e *env) sameFiles(t *testing.T) {
	t.Helper()
	want, err := e.srv.NodeIDs(AllFilter)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.db.Query(t.Context(), `SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("nodes holds %d files, the service %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestSyncAllDocuments(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 300, Seed: 5})
	docs := upload(t, e.srv, "Documents", "report", "txt", 30)
	upload(t, e.srv, "Documents/raw", "blob", "bin", 7)
	e.mustSync(t, "SYNC")
	if n := e.queryInt(t, `SELECT count(*) FROM nodes WHERE NOT starts_with(contentType, 'image/') AND NOT starts_with(contentType, 'video/')`); n != 0 {
		t.Fatalf("plain SYNC mirrored %d documents; /search has none", n)
	}
	got := e.mustSync(t, "SYNC ALL")
	if got["nodes"].inserted != 39 { // 30 + 7 uploaded, 2 synthetic PDFs
		t.Errorf("SYNC ALL inserted %d nodes, want the 39 documents and other files", got["nodes"].inserted)
	}
	e.sameFiles(t)
	// The usage table (from the service) and the mirror agree on every type.
	check := func() {
		t.Helper()
		u := e.srv.Usage()
		rows, err := e.db.Query(t.Context(), usageByType)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		seen := 0
		for rows.Next() {
			var typ string
			var n, bytes int64
			if err := rows.Scan(&typ, &n, &bytes); err != nil {
				t.Fatal(err)
			}
			seen++
			c := u.Categories[typ]
			if n != c.TotalCount || bytes != c.TotalBytes {
				t.Errorf("%s: mirror %d files, %d bytes; usage %d files, %d bytes", typ, n, bytes, c.TotalCount, c.TotalBytes)
			}
			if m := e.queryInt(t, `SELECT total_count FROM usage WHERE type = '`+typ+`'`); m != n {
				t.Errorf("%s: the usage table says %d, the mirror holds %d", typ, m, n)
			}
		}
		if seen != 4 {
			t.Errorf("the mirror holds %d usage types, want photo, video, doc and other", seen)
		}
	}
	check()
	// A plain SYNC keeps the documents; SYNC ALL removes one gone from the
	// service.
	e.mustSync(t, "SYNC")
	e.sameFiles(t)
	if err := e.srv.TrashIDs(docs[3]); err != nil {
		t.Fatal(err)
	}
	if got := e.mustSync(t, "SYNC ALL"); got["nodes"].removed != 1 {
		t.Errorf("SYNC ALL after a trash: %+v, want 1 removed", got["nodes"])
	}
	e.sameFiles(t)
	check()
}

// TestSyncAllDifferential compares SYNC ALL with the service's truth over
// 20 rounds of changes: several pages per listing, pages fetched
// concurrently, with and without nextToken.
func TestSyncAllDifferential(t *testing.T) {
	for _, tokens := range []bool{false, true} {
		t.Run(fmt.Sprintf("nextToken=%v", tokens), func(t *testing.T) {
			e := newEnv(t, emulator.Options{Nodes: 250, Seed: 9, NextToken: tokens})
			docs := upload(t, e.srv, "Documents", "d", "pdf", 200)
			r := rand.New(rand.NewPCG(1, 2))
			for round := range 20 {
				got := e.mustSync(t, "SYNC ALL")
				e.sameFiles(t)
				if got["nodes"].fetched < 401 {
					t.Fatalf("round %d fetched %d nodes: fewer than three pages", round, got["nodes"].fetched)
				}
				// Versions too: every row is the service's current node.
				for _, id := range docs[:20] {
					raw, ok := e.srv.Node(id)
					if !ok {
						continue
					}
					var n struct {
						Version int64
						Status  string
					}
					if err := json.Unmarshal(raw, &n); err != nil {
						t.Fatal(err)
					}
					if n.Status != "AVAILABLE" {
						continue
					}
					if n.Version != e.queryInt(t, `SELECT "version" FROM nodes WHERE id = '`+id+`'`) {
						t.Fatalf("round %d: %s has another version in the mirror", round, id)
					}
				}
				// Change the library for the next round.
				switch round % 3 {
				case 0:
					_ = e.srv.TrashIDs(docs[r.IntN(len(docs))])
				case 1:
					upload(t, e.srv, "Documents/r"+fmt.Sprint(round), "n", "txt", 1+r.IntN(3))
				case 2:
					_ = e.srv.Rename(docs[r.IntN(len(docs))], fmt.Sprintf("renamed-%d.pdf", round))
				}
			}
			if c := e.client.Concurrency(); c < 2 {
				t.Errorf("the client ran at concurrency %d; the test wants pages in parallel", c)
			}
		})
	}
}

// TestSyncAllPastCap lists more than 9999 documents (GET /nodes caps
// offset+limit at 9999): by modifiedDate slices, and by nextToken.
func TestSyncAllPastCap(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 10,050 documents")
	}
	for _, tokens := range []bool{false, true} {
		t.Run(fmt.Sprintf("nextToken=%v", tokens), func(t *testing.T) {
			e := newEnv(t, emulator.Options{Nodes: -1, NextToken: tokens})
			for i := range 10050 {
				if _, err := e.srv.Upload("Docs", fmt.Sprintf("f%05d.txt", i), bytes.Repeat([]byte{byte(i)}, 1+i%5)); err != nil {
					t.Fatal(err)
				}
			}
			e.mustSync(t, "SYNC ALL")
			e.sameFiles(t)
			if n := e.queryInt(t, `SELECT count(*) FROM nodes`); n < 10050 {
				t.Fatalf("nodes holds %d rows", n)
			}
		})
	}
}
