package backup

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestManifestCompact: superseded lines are dropped once they outnumber
// the live ones (one line per file left, in a file renamed into place),
// and the manifest reads back the same; appends after it land in the new
// file.
func TestManifestCompact(t *testing.T) {
	dir := t.TempDir()
	m, err := openManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for round := range 300 {
		for i := range 10 {
			if err := m.append(record{Event: "file", ID: fmt.Sprintf("id%d", i), Path: fmt.Sprintf("p/%d.jpg", i), Size: int64(round), MTime: &now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	m.append(record{Event: "gone", ID: "id9"})
	if err := m.compact(); err != nil {
		t.Fatal(err)
	}
	m.append(record{Event: "file", ID: "id10", Path: "p/10.jpg"})
	if err := m.close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, metaDir, manifestName))
	if n := bytes.Count(data, []byte("\n")); n != 1+9+1 {
		t.Errorf("%d lines after compaction, want 11:\n%s", n, data)
	}
	r, err := readManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.byID) != 10 || r.byID["id9"] != nil || r.byID["id3"].Size != 299 || r.byID["id10"] == nil {
		t.Errorf("read back %d records: %+v", len(r.byID), r.byID["id3"])
	}
}
