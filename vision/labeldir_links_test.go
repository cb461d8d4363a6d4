package vision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLabelCopyNeverWritesThroughLinks: a part file planted as a link to a
// file outside dir_out is removed, not written through; a label folder that
// links outside dir_out, and a manifest that is a link, are refused with
// why (issue 11, item 4).
func TestLabelCopyNeverWritesThroughLinks(t *testing.T) {
	base := t.TempDir()
	out := filepath.Join(base, "out")
	src := filepath.Join(base, "in", "cat.jpg")
	victim := filepath.Join(base, "victim.txt")
	for p, b := range map[string]string{src: "the image bytes", victim: "must stay"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(out, "tabby"), 0o755); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(out, "tabby", "cat.jpg"+partSuffix)
	if err := os.Symlink(victim, part); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(base, "etc")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(out, "dog")); err != nil {
		t.Fatal(err)
	}

	mf, err := openManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	dest, already, err := mf.copy(src, "tabby")
	if err != nil || already {
		t.Fatalf("copy into tabby: %v (already %v)", err, already)
	}
	if b, _ := os.ReadFile(victim); string(b) != "must stay" {
		t.Errorf("the file behind the planted part link holds %q: written through", b)
	}
	if b, _ := os.ReadFile(dest); string(b) != "the image bytes" {
		t.Errorf("the copy %s holds %q", dest, b)
	}
	if _, err := os.Lstat(part); !os.IsNotExist(err) {
		t.Errorf("the planted part link is still there (%v)", err)
	}
	if _, _, err := mf.copy(src, "dog"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("copy into a folder linked outside: err = %v, want one naming the symbolic link", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("%d entries written through the linked folder", len(ents))
	}
	mf.close()

	// A manifest planted as a link to a file outside is refused.
	out2 := filepath.Join(base, "out2")
	if err := os.MkdirAll(out2, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(out2, manifestName)); err != nil {
		t.Fatal(err)
	}
	if _, err := openManifest(out2); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("openManifest with a linked manifest: err = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "must stay" {
		t.Errorf("the file behind the linked manifest holds %q", b)
	}
}
