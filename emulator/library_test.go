package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLibraryShape(t *testing.T) {
	s, err := New(Options{Nodes: 20000, Seed: 5, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	l := s.lib
	var photos, videos, noImage, trash, recent, old, dims int
	exts := map[string]int{}
	for i := range l.nodes {
		n := &l.nodes[i]
		if !n.isMedia() {
			continue
		}
		exts[l.extension(int32(i))]++
		switch l.mediaType(int32(i)) {
		case typePhotos:
			photos++
			if _, _, ok := l.imageDims(int32(i)); !ok {
				noImage++
			}
		case typeVideos:
			videos++
		}
		if n.status == statusTrash {
			trash++
		}
		age := testNow.UnixMilli() - n.content
		switch {
		case age < 5*year:
			recent++
		case age > 15*year:
			old++
		}
		if age < 0 || age > 20*year+day {
			t.Fatalf("node %s captured %v, outside the last 20 years", n.id, time.UnixMilli(n.content))
		}
		if n.created < n.content {
			t.Fatalf("node %s created before it was captured", n.id)
		}
		if n.camera > 0 && cameras[n.camera-1].group != camVideo {
			dims++
		}
	}
	checks := []struct {
		name   string
		got    float64
		lo, hi float64
	}{
		{"photo share", float64(photos) / 20000, 0.87, 0.93},
		{"video share", float64(videos) / 20000, 0.07, 0.13},
		{"photos without EXIF", float64(noImage) / float64(photos), 0.005, 0.1},
		{"in trash", float64(trash) / 20000, 0.005, 0.02},
		{"newest 5 years over oldest 5", float64(recent) / float64(max(old, 1)), 3, 1000},
	}
	for _, c := range checks {
		if c.got < c.lo || c.got > c.hi {
			t.Errorf("%s = %.3f, want within [%v, %v]", c.name, c.got, c.lo, c.hi)
		}
	}
	for _, ext := range []string{"jpg", "heic", "png", "mp4", "mov"} {
		if exts[ext] == 0 {
			t.Errorf("no .%s files", ext)
		}
	}
	st := s.State()
	for _, p := range folderSpecs {
		if st.Folders[p] == "" {
			t.Errorf("folder %s missing", p)
		}
	}
	if len(st.Albums) != len(albumNames) {
		t.Errorf("%d albums, want %d", len(st.Albums), len(albumNames))
	}
	if st.Usage.Categories["doc"].TotalCount == 0 {
		t.Error("no documents")
	}
}

func TestLibraryDeterministic(t *testing.T) {
	build := func(seed int64) []byte {
		s, err := New(Options{Nodes: 3000, Seed: seed, Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		for i := range s.lib.nodes {
			b = s.lib.appendNode(b, int32(i), renderOpts{})
		}
		return b
	}
	a, b, c := build(1), build(1), build(2)
	if !bytes.Equal(a, b) {
		t.Error("two libraries with seed 1 differ")
	}
	if bytes.Equal(a, c) {
		t.Error("seeds 1 and 2 give the same library")
	}
}

// TestNodeJSON checks every node renders valid JSON whose fields agree with
// encoding/json's view, and the EXIF strings Amazon sends.
func TestNodeJSON(t *testing.T) {
	s, err := New(Options{Nodes: 2000, Seed: 9, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload("Pictures/Web", "we\"ird\\name\n✓.jpg", []byte("not really a jpeg")); err != nil {
		t.Fatal(err)
	}
	l := s.lib
	seen := map[string]bool{}
	for i := range l.nodes {
		b := l.appendNode(nil, int32(i), renderOpts{tempLink: "http://x/cdproxy/templink/"})
		var n jnode
		if err := json.Unmarshal(b, &n); err != nil {
			t.Fatalf("node %d: invalid JSON %s: %v", i, b, err)
		}
		if n.ID != l.nodes[i].id || len(n.ID) != 22 || n.OwnerID != l.owner {
			t.Fatalf("node %d: id %q owner %q", i, n.ID, n.OwnerID)
		}
		if n.Name != nil && *n.Name != l.nodes[i].name {
			t.Fatalf("node %d: name %q, want %q", i, *n.Name, l.nodes[i].name)
		}
		for _, d := range []string{n.CreatedDate, n.ModifiedDate} {
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", d); err != nil {
				t.Fatalf("node %d: date %q: %v", i, d, err)
			}
		}
		if cp := n.ContentProperties; cp != nil && cp.Image != nil && cp.Image.Make != "" {
			seen["exif"] = true
			if !strings.Contains(cp.Image.ExposureTime, "/") || cp.Image.Width == 0 {
				t.Fatalf("node %d: image %+v", i, cp.Image)
			}
		}
		seen[n.Kind] = true
	}
	for _, k := range []string{"FILE", "FOLDER", "VISUAL_COLLECTION", "exif"} {
		if !seen[k] {
			t.Errorf("no %s node rendered", k)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "nl\n\t\r", "\x00\x1f", "héllo ✓", "bad \xff utf8", "sep \u2028 \u2029"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendString(%q) = %s: invalid JSON: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("appendString(%q) decodes to %q, want %q", s, back, wantBack)
		}
	}
}

func TestAppendDate(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 2, 29, 23, 59, 59, 999e6, time.UTC),
		time.Date(2019, 7, 6, 18, 22, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 1e6, time.UTC),
		time.Date(2100, 3, 1, 12, 0, 0, 0, time.UTC),
	} {
		got := string(appendDateRaw(nil, tm.UnixMilli()))
		if want := tm.Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Errorf("appendDateRaw(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestParseSort(t *testing.T) {
	tests := []struct {
		in, canon string
		err       bool
	}{
		{"['createdDate DESC']", "createdDate DESC", false},
		{`["createdDate DESC"]`, "createdDate DESC", false},
		{"contentProperties.contentDate", "contentProperties.contentDate ASC", false},
		{"['name ASC', 'createdDate desc']", "name ASC,createdDate DESC", false},
		{"", "", false},
		{"['bogus DESC']", "", true},
		{"['name SIDEWAYS']", "", true},
		{"['a b c']", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, canon, err := parseSort(tt.in)
			if (err != nil) != tt.err || canon != tt.canon {
				t.Errorf("parseSort(%q) = %q, %v; want %q, error %v", tt.in, canon, err, tt.canon, tt.err)
			}
		})
	}
}

func TestContentDisposition(t *testing.T) {
	tests := []struct{ name, want string }{
		{"IMG_0001.JPG", `attachment; filename="IMG_0001.JPG"`},
		{`a"b.jpg`, `attachment; filename="a\"b.jpg"`},
		{"é.jpg", `attachment; filename="_.jpg"; filename*=UTF-8''%C3%A9.jpg`},
	}
	for _, tt := range tests {
		if got := contentDisposition(tt.name); got != tt.want {
			t.Errorf("contentDisposition(%q) = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestMainCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"unknown flag", []string{"--bogus"}, 2},
		{"bad fail rate", []string{"--fail-rate", "1.5"}, 2},
		{"bad region", []string{"--region", "nowhere"}, 2},
		{"negative token TTL", []string{"--token-ttl", "-1s"}, 2},
		{"extra argument", []string{"x"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := Main(t.Context(), tt.args, &out, &errb); got != tt.want {
				t.Errorf("Main(%v) = %d, want %d (stderr %s)", tt.args, got, tt.want, errb.String())
			}
		})
	}
	t.Run("serves until cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cookies := filepath.Join(t.TempDir(), "cookies.json")
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan int)
		go func() {
			done <- Main(ctx, []string{"--nodes", "100", "--seed", "4", "--cookies-out", cookies, "--state"}, pw, &bytes.Buffer{})
			pw.Close()
		}()
		line := make([]byte, 64)
		n, _ := pr.Read(line)
		url := strings.TrimSpace(string(line[:n]))
		if !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Fatalf("first stdout line = %q, want the base URL", url)
		}
		fi, err := os.Stat(cookies)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("cookies file: %v, mode %v", err, fi.Mode())
		}
		var m map[string]string
		b, _ := os.ReadFile(cookies)
		if err := json.Unmarshal(b, &m); err != nil || m["at-main"] == "" || m["session-id"] == "" {
			t.Fatalf("cookies file = %s", b)
		}
		c := &client{t: t, cookies: m, hc: &http.Client{Timeout: 10 * time.Second}, s: &Server{url: url}}
		c.get("/drive/v1/account/info", 200, nil)
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("Main returned %d after cancel, want 0", code)
		}
	})
}
