package mirror

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apsql/apsql/dupes"
	"github.com/apsql/apsql/emulator"
)

// TestSyncHashesReplaces: a node whose hash is of an older md5, or whose
// last attempt failed, gets its row replaced, not a second one, while
// the nodes without a row get theirs appended (two roads in writeHashes,
// in one batch), and every row carries its node's md5.
func TestSyncHashesReplaces(t *testing.T) {
	e := newDupesEnv(t, emulator.Options{Nodes: 80, Seed: 5})
	e.mustSync(t, "SYNC")
	old := hashBatch
	hashBatch = 7 // batches that mix both roads
	t.Cleanup(func() { hashBatch = old })
	e.run(t, t.Context(), "SYNC HASHES")
	media := e.queryInt(t, `SELECT count(*) FROM nodes WHERE starts_with(contentType, 'image/') OR starts_with(contentType, 'video/')`)
	if n := e.queryInt(t, `SELECT count(*) FROM hashes`); n != media || media < 20 {
		t.Fatalf("after the first SYNC HASHES: %d rows of hashes for %d photos and videos", n, media)
	}
	// Ten stale hashes, five failed attempts, ten nodes without a row.
	e.execOK(t, `UPDATE hashes SET md5 = 'stale', phash = 0 WHERE id IN (SELECT id FROM hashes ORDER BY id LIMIT 10)`)
	e.execOK(t, `UPDATE hashes SET status = 'failed', phash = NULL, reason = 'thumbnail request failed: test' WHERE id IN (SELECT id FROM hashes ORDER BY id DESC LIMIT 5)`)
	e.execOK(t, `DELETE FROM hashes WHERE id IN (SELECT id FROM hashes ORDER BY id LIMIT 10 OFFSET 20)`)
	_, sum := e.run(t, t.Context(), "SYNC HASHES")
	if want := "25 of 25 thumbnails"; !strings.Contains(sum, want) {
		t.Errorf("the second SYNC HASHES: %q, want %q", sum, want)
	}
	if got := e.rowsOf(t, `SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE h.md5 IS DISTINCT FROM n.md5),
  count(*) FILTER (WHERE h.status <> 'ok' OR h.phash = 0) FROM hashes h JOIN nodes n USING (id)`); fmt.Sprint(got) != fmt.Sprint([][]string{{fmt.Sprint(media), fmt.Sprint(media), "0", "0"}}) {
		t.Errorf("rows, distinct ids, rows of another md5, rows not hashed: %v, want %d, %d, 0, 0", got, media, media)
	}
}

// TestSyncHashesRecomputesOlderHasher: rows hashed by an older decoder
// (a table from before the hasher column: NULL, version 1) are hashed
// again by the next SYNC HASHES, each back to the bits the current one
// gives that thumbnail, and get the current version; rows skipped for a
// reason stay as they are, and a run after that sends nothing.
func TestSyncHashesRecomputesOlderHasher(t *testing.T) {
	e := newDupesEnv(t, emulator.Options{Nodes: 60, Seed: 9})
	e.mustSync(t, "SYNC")
	e.run(t, t.Context(), "SYNC HASHES")
	want := e.rowsOf(t, `SELECT id, phash, dhash, hasher FROM hashes ORDER BY id`)
	ok := e.queryInt(t, `SELECT count(*) FROM hashes WHERE status = 'ok'`)
	if ok < 20 || e.queryInt(t, fmt.Sprintf(`SELECT count(*) FROM hashes WHERE status = 'ok' AND hasher = %d`, dupes.HasherVersion)) != ok {
		t.Fatalf("%d rows hashed, want them all of hasher %d: %v", ok, dupes.HasherVersion, want)
	}
	// The table as an earlier apsql left it: no hasher column, and bits
	// of another decoder (zeroed here, so that a row not hashed again shows).
	e.execOK(t, `ALTER TABLE hashes DROP COLUMN hasher`)
	e.execOK(t, `UPDATE hashes SET phash = 0, dhash = 0 WHERE status = 'ok'`)
	_, sum := e.run(t, t.Context(), "SYNC HASHES")
	if w := fmt.Sprintf("%d of %d thumbnails", ok, ok); !strings.Contains(sum, w) {
		t.Errorf("SYNC HASHES after the older hashes: %q, want %q", sum, w)
	}
	if got := e.rowsOf(t, `SELECT id, phash, dhash, hasher FROM hashes ORDER BY id`); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("hashes after the recompute:\n%v\nwant\n%v", got, want)
	}
	if _, sum := e.run(t, t.Context(), "SYNC HASHES"); !strings.Contains(sum, "0 of 0 thumbnails") {
		t.Errorf("a third SYNC HASHES: %q, want nothing to do", sum)
	}
}
