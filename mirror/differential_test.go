package mirror

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
)

// The differential tests compare what each listing path puts in DuckDB with
// the emulator's own truth (its in-memory library, read without HTTP), not
// with what the client code expects: a listing that silently drops, repeats
// or mixes up rows fails here whatever the cause.

// truthNode is what the service holds of one node, from its own JSON.
type truthNode struct {
	ID, Name, MD5 string
	Version, Size int64
}

// truth returns the service's nodes for ids, read from the emulator.
func (e *env) truth(t *testing.T, ids []string) []truthNode {
	t.Helper()
	out := make([]truthNode, 0, len(ids))
	for _, id := range ids {
		raw, ok := e.srv.Node(id)
		if !ok {
			t.Fatalf("the emulator has no node %s", id)
		}
		var n struct {
			Name    string `json:"name"`
			Version int64  `json:"version"`
			CP      struct {
				Size int64  `json:"size"`
				MD5  string `json:"md5"`
			} `json:"contentProperties"`
		}
		if err := json.Unmarshal(raw, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, truthNode{id, n.Name, n.CP.MD5, n.Version, n.CP.Size})
	}
	return out
}

// loadTruth replaces the temp table name with the rows given.
func (e *env) loadTruth(t *testing.T, name string, nodes []truthNode) {
	t.Helper()
	ctx := t.Context()
	if _, err := e.db.Exec(ctx, fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s (id VARCHAR, name VARCHAR, md5 VARCHAR, "version" BIGINT, size BIGINT)`, name)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(nodes); i += 500 {
		vals := make([]string, 0, 500)
		for _, n := range nodes[i:min(i+500, len(nodes))] {
			vals = append(vals, fmt.Sprintf("(%s, %s, %s, %d, %d)", engine.Quote(n.ID), engine.Quote(n.Name), engine.Quote(n.MD5), n.Version, n.Size))
		}
		if _, err := e.db.Exec(ctx, "INSERT INTO "+name+" VALUES "+strings.Join(vals, ",")); err != nil {
			t.Fatal(err)
		}
	}
}

// diffNodes compares the rows of query (columns id, name, md5, version,
// size) with the truth table: every row, every field, no duplicates.
func (e *env) diffNodes(t *testing.T, what, query, truthTable string) {
	t.Helper()
	rows, distinct := e.queryInt(t, "SELECT count(*) FROM ("+query+")"), e.queryInt(t, "SELECT count(DISTINCT id) FROM ("+query+")")
	want := e.queryInt(t, "SELECT count(*) FROM "+truthTable)
	if rows != want || distinct != want {
		t.Errorf("%s: %d rows, %d distinct ids; the service holds %d", what, rows, distinct, want)
	}
	missing := e.queryInt(t, "SELECT count(*) FROM (SELECT * FROM "+truthTable+" EXCEPT SELECT id, name, md5, \"version\", size FROM ("+query+"))")
	extra := e.queryInt(t, "SELECT count(*) FROM (SELECT id, name, md5, \"version\", size FROM ("+query+") EXCEPT SELECT * FROM "+truthTable+")")
	if missing != 0 || extra != 0 {
		t.Errorf("%s: %d of the service's rows missing or different, %d rows the service does not hold", what, missing, extra)
	}
}

// TestListingsMatchServiceTruth runs every listing path many times over a
// library of several pages that changes between rounds, and compares each
// result with the emulator's truth exactly. It caught search() dropping
// 1-12% of the rows (its de-duplication kept ids that pointed into
// recycled Arrow buffers).
func TestListingsMatchServiceTruth(t *testing.T) {
	n, rounds := 1600, 20
	if !testing.Short() {
		n = 6000
	}
	e := newEnv(t, emulator.Options{Nodes: n, Seed: 21})
	if c := e.client.Concurrency(); c < 2 {
		t.Fatalf("the client runs %d request at a time; the test needs concurrency > 1", c)
	}
	rng := rand.New(rand.NewPCG(21, 5))
	all, err := e.srv.IDs(DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	// A trash of more than two pages.
	if err := e.srv.TrashIDs(all[:450]...); err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		// The library changes between rounds: some nodes are trashed,
		// some restored, some purged for good.
		if round > 0 {
			avail, err := e.srv.IDs(DefaultFilter)
			if err != nil {
				t.Fatal(err)
			}
			trashed := e.srv.State().TrashIDs
			pick := func(ids []string, k int) []string {
				out := make([]string, 0, k)
				for _, i := range rng.Perm(len(ids))[:min(k, len(ids))] {
					out = append(out, ids[i])
				}
				return out
			}
			if err := e.srv.TrashIDs(pick(avail, 7)...); err != nil {
				t.Fatal(err)
			}
			if err := e.srv.RestoreIDs(pick(trashed, 3)...); err != nil {
				t.Fatal(err)
			}
			if err := e.srv.PurgeIDs(pick(e.srv.State().TrashIDs, 2)...); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			ids, err := e.srv.IDs(DefaultFilter)
			if err != nil {
				t.Fatal(err)
			}
			e.loadTruth(t, "truth_nodes", e.truth(t, ids))
			videos, err := e.srv.IDs("type:(VIDEOS)")
			if err != nil {
				t.Fatal(err)
			}
			e.loadTruth(t, "truth_videos", e.truth(t, videos))
			st := e.srv.State()
			e.loadTruth(t, "truth_trash", e.truth(t, st.TrashIDs))

			// search(): the live listing, page by page.
			e.diffNodes(t, "search()", "SELECT * FROM search('type:(PHOTOS OR VIDEOS)')", "truth_nodes")
			e.diffNodes(t, "search('type:(VIDEOS)')", "SELECT * FROM search('type:(VIDEOS)')", "truth_videos")

			// SYNC: nodes, trash and folders after a full listing.
			e.mustSync(t, "SYNC")
			e.diffNodes(t, "SYNC nodes", "SELECT * FROM nodes", "truth_nodes")
			e.mustSync(t, "SYNC TRASH")
			e.diffNodes(t, "SYNC TRASH", "SELECT * FROM trash", "truth_trash")
			e.diffFolders(t, st.Folders)

			// SYNC NODES FILTER into an emptied table: exactly the filter's nodes.
			if _, err := e.db.Exec(t.Context(), "DELETE FROM nodes"); err != nil {
				t.Fatal(err)
			}
			e.mustSync(t, "SYNC NODES FILTER 'type:(VIDEOS)'")
			e.diffNodes(t, "SYNC NODES FILTER", "SELECT * FROM nodes", "truth_videos")

			// SYNC FOLDERS into an emptied table.
			if _, err := e.db.Exec(t.Context(), "DELETE FROM folders"); err != nil {
				t.Fatal(err)
			}
			e.mustSync(t, "SYNC FOLDERS")
			e.diffFolders(t, st.Folders)
		})
		if t.Failed() {
			break
		}
	}
}

// diffFolders compares the folders table with the service's folders
// (path → id; the root is not listed).
func (e *env) diffFolders(t *testing.T, want map[string]string) {
	t.Helper()
	rows, err := e.db.Query(t.Context(), "SELECT path, id FROM folders WHERE parentId IS NOT NULL ORDER BY path")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	var dups []string
	for rows.Next() {
		var p, id string
		if err := rows.Scan(&p, &id); err != nil {
			t.Fatal(err)
		}
		p = strings.TrimPrefix(p, "/")
		if _, ok := got[p]; ok {
			dups = append(dups, p)
		}
		got[p] = id
	}
	var diff []string
	for p, id := range want {
		if got[p] != id {
			diff = append(diff, fmt.Sprintf("%s: mirror %q, service %q", p, got[p], id))
		}
	}
	for p, id := range got {
		if _, ok := want[p]; !ok {
			diff = append(diff, fmt.Sprintf("%s: mirror %q, not on the service", p, id))
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 || len(dups) > 0 {
		t.Errorf("folders differ from the service (%d of %d): %v; duplicated paths %v", len(diff), len(want), diff[:min(len(diff), 5)], dups)
	}
}
