package vision

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// images is the test folder: uniformly coloured images whose labels are
// known (see colourSpec), in every supported format, plus files that are
// not decodable.
var images = []struct {
	rel    string
	format string
	c      color.NRGBA
}{
	{"red.png", "png", color.NRGBA{255, 0, 0, 255}},                // red 0.964
	{"orange.png", "png", color.NRGBA{255, 102, 0, 255}},           // red 0.674, yellow 0.303
	{"blue.jpg", "jpeg", color.NRGBA{0, 0, 255, 255}},              // blue 0.96
	{"green.gif", "gif", color.NRGBA{0, 255, 0, 255}},              // green 0.964
	{"white.bmp", "bmp", color.NRGBA{255, 255, 255, 255}},          // white 0.981
	{"sub/dir/yellow.webp", "webp", color.NRGBA{255, 255, 0, 255}}, // yellow 0.96
}

var mtime = time.Date(2019, 7, 6, 18, 22, 0, 0, time.UTC)

func makeImageDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, im := range images {
		writeFile(t, dir, im.rel, encode(t, im.format, 40, 30, im.c), mtime)
	}
	writeFile(t, dir, "IMG_0001.HEIC", append([]byte{0, 0, 0, 24}, []byte("ftypheic\x00\x00\x00\x00")...), mtime)
	writeFile(t, dir, "notes.txt", []byte("not an image"), mtime)
	return dir
}

// runLabel runs LabelDir and returns the results by file name (base).
func runLabel(t *testing.T, m *Model, in, out string, opts Options) (map[string]FileResult, Summary) {
	t.Helper()
	got := map[string]FileResult{}
	sum, err := m.LabelDir(t.Context(), in, out, opts, func(r FileResult) {
		got[filepath.Base(r.Path)] = r
	})
	if err != nil {
		t.Fatalf("LabelDir: %v", err)
	}
	return got, sum
}

// tree lists the files under dir (slash paths), without the manifest.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != manifestName {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func TestLabelDirOptions(t *testing.T) {
	m := loadColourModel(t)
	in := makeImageDir(t)
	re := func(s string) *regexp.Regexp {
		r, err := CompilePattern(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name  string
		opts  func(*Options)
		files []string
	}{
		{
			name: "defaults: threshold 0.9, top 5, by name",
			files: []string{"blue/blue.jpg", "green/green.gif", "red/red.png",
				"white/white.bmp", "yellow/yellow.webp"},
		},
		{
			name: "threshold 0.5 labels orange as red",
			opts: func(o *Options) { o.Threshold = 0.5 },
			files: []string{"blue/blue.jpg", "green/green.gif", "red/orange.png", "red/red.png",
				"white/white.bmp", "yellow/yellow.webp"},
		},
		{
			// red is skipped; orange's next prediction, yellow (0.303),
			// passes 0.25; red's next ones (0.018) do not.
			name: "exclude moves to the next prediction",
			opts: func(o *Options) { o.Threshold = 0.25; o.Exclude = re("^RED$") },
			files: []string{"blue/blue.jpg", "green/green.gif", "white/white.bmp",
				"yellow/orange.png", "yellow/yellow.webp"},
		},
		{
			name:  "top 1 with exclude: nothing left to take",
			opts:  func(o *Options) { o.Threshold = 0.25; o.TopK = 1; o.Exclude = re("red|blue|green|white") },
			files: []string{"yellow/yellow.webp"},
		},
		{
			name:  "restrict",
			opts:  func(o *Options) { o.Threshold = 0.25; o.Restrict = re("yel|whi") },
			files: []string{"white/white.bmp", "yellow/orange.png", "yellow/yellow.webp"},
		},
		{
			name: "naming synset",
			opts: func(o *Options) { o.Naming = NamingSynset },
			files: []string{"n00000000/red.png", "n00000001/green.gif", "n00000002/blue.jpg",
				"n00000003/yellow.webp", "n00000004/white.bmp"},
		},
		{
			name: "naming index",
			opts: func(o *Options) { o.Naming = NamingIndex },
			files: []string{"0/red.png", "1/green.gif", "2/blue.jpg",
				"3/yellow.webp", "4/white.bmp"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "labeled")
			opts := DefaultOptions()
			opts.Batch = 3
			if tc.opts != nil {
				tc.opts(&opts)
			}
			got, sum := runLabel(t, m, in, out, opts)
			if files := tree(t, out); !slices.Equal(files, tc.files) {
				t.Errorf("dir_out holds %v, want %v", files, tc.files)
			}
			if sum.Files != 8 || sum.Labeled != len(tc.files) || sum.Skipped != 2 || sum.Unlabeled != 6-len(tc.files) || sum.Failed != 0 {
				t.Errorf("summary %+v, want 8 files, %d labeled, 2 skipped", sum, len(tc.files))
			}
			for _, name := range []string{"IMG_0001.HEIC", "notes.txt"} {
				if r := got[name]; r.Status != StatusSkipped || r.Top != nil || r.Detail == "" {
					t.Errorf("%s: %+v, want skipped with a reason", name, r)
				}
			}
			for _, r := range got {
				if r.Top == nil {
					continue
				}
				if len(r.Top) != opts.TopK {
					t.Errorf("%s: %d predictions, want top %d", r.Path, len(r.Top), opts.TopK)
				}
				if (r.Status == StatusOK) != (r.Dest != "") || (r.Status == StatusOK) != (r.Label != "") {
					t.Errorf("%s: status %s, label %q, dest %q", r.Path, r.Status, r.Label, r.Dest)
				}
			}
		})
	}
}

func TestLabelDirCopies(t *testing.T) {
	m := loadColourModel(t)
	in := makeImageDir(t)
	out := filepath.Join(t.TempDir(), "labeled")
	got, _ := runLabel(t, m, in, out, DefaultOptions())
	r := got["yellow.webp"]
	if r.Status != StatusOK || r.Label != "yellow" || r.Index != 3 || r.Prob < 0.9 {
		t.Fatalf("yellow.webp: %+v", r)
	}
	if r.Path != filepath.Join(in, "sub", "dir", "yellow.webp") || r.Dest != filepath.Join(out, "yellow", "yellow.webp") {
		t.Errorf("yellow.webp: path %s dest %s", r.Path, r.Dest)
	}
	src, _ := os.ReadFile(r.Path)
	dst, err := os.ReadFile(r.Dest)
	if err != nil || string(src) != string(dst) {
		t.Errorf("copy differs from the original (err %v)", err)
	}
	st, _ := os.Stat(r.Dest)
	if !st.ModTime().Equal(mtime) {
		t.Errorf("copy's modification time %v, want %v", st.ModTime(), mtime)
	}
	// A second image of the same name from another folder gets a suffix.
	writeFile(t, in, "more/yellow.webp", encode(t, "webp", 10, 10, color.NRGBA{250, 250, 0, 255}), mtime.Add(time.Hour))
	opts := DefaultOptions()
	opts.Accumulate = true
	got, _ = runLabel(t, m, in, out, opts)
	want := []string{"blue/blue.jpg", "green/green.gif", "red/red.png", "white/white.bmp", "yellow/yellow.webp", "yellow/yellow_2.webp"}
	if files := tree(t, out); !slices.Equal(files, want) {
		t.Errorf("after accumulating: %v, want %v", files, want)
	}
	if r := got["red.png"]; r.Status != StatusOK || r.Detail != "already present" {
		t.Errorf("red.png on the second run: %s %q, want ok, already present", r.Status, r.Detail)
	}
}

func TestLabelDirAccumulate(t *testing.T) {
	m := loadColourModel(t)
	in := makeImageDir(t)
	out := filepath.Join(t.TempDir(), "labeled")
	runLabel(t, m, in, out, DefaultOptions())

	// Without ACCUMULATE, the earlier run's files go first.
	opts := DefaultOptions()
	opts.Naming = NamingIndex
	_, sum := runLabel(t, m, in, out, opts)
	want := []string{"0/red.png", "1/green.gif", "2/blue.jpg", "3/yellow.webp", "4/white.bmp"}
	if files := tree(t, out); !slices.Equal(files, want) {
		t.Errorf("after a second run: %v, want %v", files, want)
	}
	if sum.Removed != 5 {
		t.Errorf("removed %d files, want 5", sum.Removed)
	}

	// With ACCUMULATE, they stay.
	opts.Naming, opts.Accumulate = NamingName, true
	runLabel(t, m, in, out, opts)
	if files := tree(t, out); len(files) != 10 {
		t.Errorf("after accumulating: %v, want 10 files", files)
	}

	// A file apsql did not write blocks emptying, and nothing is removed.
	writeFile(t, out, "mine/keep.txt", []byte("precious"), mtime)
	opts.Accumulate = false
	_, err := m.LabelDir(t.Context(), in, out, opts, nil)
	if err == nil || !strings.Contains(err.Error(), "refusing to empty") || !strings.Contains(err.Error(), "mine/keep.txt") {
		t.Fatalf("LabelDir into a directory with foreign files = %v, want a refusal naming mine/keep.txt", err)
	}
	if files := tree(t, out); len(files) != 11 {
		t.Errorf("after the refusal: %d files, want 11 (nothing removed)", len(files))
	}
	// ACCUMULATE still works there.
	opts.Accumulate = true
	if _, err := m.LabelDir(t.Context(), in, out, opts, nil); err != nil {
		t.Errorf("LabelDir with ACCUMULATE beside foreign files: %v", err)
	}
}

func TestLabelDirPaths(t *testing.T) {
	m := loadColourModel(t)
	in := makeImageDir(t)

	// dir_out inside dir_in is not walked.
	out := filepath.Join(in, "labeled")
	got, sum := runLabel(t, m, in, out, DefaultOptions())
	if sum.Files != 8 {
		t.Errorf("files %d, want 8 (dir_out skipped)", sum.Files)
	}
	_, sum = runLabel(t, m, in, out, DefaultOptions())
	if sum.Files != 8 || sum.Removed != 5 {
		t.Errorf("second run: %+v, want 8 files and 5 removed", sum)
	}
	_ = got

	tests := []struct {
		name, in, out, want string
	}{
		{"same directory", in, in, "inside output"},
		{"input inside output", in, filepath.Dir(in), "inside output"},
		{"missing input", filepath.Join(in, "nope"), t.TempDir(), "no such file"},
		{"input is a file", filepath.Join(in, "red.png"), t.TempDir(), "not a directory"},
	}
	for _, tc := range tests {
		_, err := m.LabelDir(t.Context(), tc.in, tc.out, DefaultOptions(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: LabelDir = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	bad := DefaultOptions()
	bad.Naming = "label"
	if _, err := m.LabelDir(t.Context(), in, t.TempDir(), bad, nil); err == nil || !strings.Contains(err.Error(), "naming \"label\"") {
		t.Errorf("bad naming: %v", err)
	}
	bad = DefaultOptions()
	bad.Threshold = 1.5
	if _, err := m.LabelDir(t.Context(), in, t.TempDir(), bad, nil); err == nil || !strings.Contains(err.Error(), "threshold") {
		t.Errorf("bad threshold: %v", err)
	}
}

func TestLabelDirCancelled(t *testing.T) {
	m := loadColourModel(t)
	in := makeImageDir(t)
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	_, err := m.LabelDir(ctx, in, filepath.Join(t.TempDir(), "out"), DefaultOptions(), func(FileResult) {
		n++
		cancel()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("LabelDir after cancel = %v, want context.Canceled", err)
	}
	if n == 8 {
		t.Errorf("all 8 files were processed despite the cancel")
	}
}

func TestCleanName(t *testing.T) {
	tests := map[string]string{
		"great_white_shark": "great_white_shark",
		"a/b":               "a_b",
		`c:\d`:              "c:_d",
		"..":                "_..",
		"  ":                "_",
		"../../etc":         ".._.._etc",
	}
	for in, want := range tests {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLabelDirUnreadableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads folders without permission")
	}
	m := loadColourModel(t)
	in := makeImageDir(t)
	locked := filepath.Join(in, "locked")
	writeFile(t, locked, "x.png", encode(t, "png", 8, 8, color.NRGBA{255, 0, 0, 255}), mtime)
	os.Chmod(locked, 0)
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	got, sum := runLabel(t, m, in, filepath.Join(t.TempDir(), "out"), DefaultOptions())
	if r := got["locked"]; r.Status != StatusSkipped || !strings.Contains(r.Detail, "permission denied") {
		t.Errorf("locked folder: %+v, want skipped, permission denied", r)
	}
	if sum.Labeled != 5 {
		t.Errorf("labeled %d, want 5 (the walk goes on)", sum.Labeled)
	}
}

// TestLabelDirSameNameSizeTime: two different images with the same name,
// size and time (in two folders) both get their copy; a re-run
// (ACCUMULATE) finds each one's copy, never the other's.
func TestLabelDirSameNameSizeTime(t *testing.T) {
	m := loadColourModel(t)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFile(t, in, "x/a.bmp", encode(t, "bmp", 40, 40, color.NRGBA{255, 0, 0, 255}), mtime)
	writeFile(t, in, "y/a.bmp", encode(t, "bmp", 40, 40, color.NRGBA{250, 0, 0, 255}), mtime)
	opts := DefaultOptions()
	opts.Threshold = 0
	for _, run := range []string{"first run", "re-run"} {
		dests := map[string]string{}
		_, err := m.LabelDir(t.Context(), in, out, opts, func(r FileResult) { dests[r.Path] = r.Dest })
		if err != nil {
			t.Fatal(err)
		}
		for src, dest := range dests {
			a, _ := os.ReadFile(src)
			b, err := os.ReadFile(dest)
			if err != nil || string(a) != string(b) {
				t.Errorf("%s: %s was copied to %s, which holds other bytes (%v)", run, src, dest, err)
			}
		}
		if got := tree(t, out); len(got) != 2 {
			t.Errorf("%s: out holds %v, want two copies", run, got)
		}
		opts.Accumulate = true
	}
}

// TestLabelDirOutputThroughSymlink: an output folder inside the input,
// named through a symlink and not there yet, is still recognised: its
// copies are not read back as input.
func TestLabelDirOutputThroughSymlink(t *testing.T) {
	m := loadColourModel(t)
	root := t.TempDir()
	in := filepath.Join(root, "in")
	for i := range 5 {
		writeFile(t, in, fmt.Sprintf("red%d.png", i), encode(t, "png", 20, 20, color.NRGBA{255, byte(i), 0, 255}), mtime)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(root, link); err != nil {
		t.Skip(err)
	}
	opts := DefaultOptions()
	opts.Threshold = 0
	got, sum := runLabel(t, m, in, filepath.Join(link, "in", "zz"), opts)
	if len(got) != 5 || sum.Files != 5 {
		t.Errorf("%d results (summary %+v), want the 5 images only", len(got), sum)
	}
}
