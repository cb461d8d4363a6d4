package emulator

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDownloadMatchesNode(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 400})
	// One node of each synthetic format.
	byFormat := map[string]string{}
	for _, f := range []string{"type:(PHOTOS)", "type:(VIDEOS)"} {
		ids, _ := s.IDs(f)
		for _, id := range ids {
			var n jnode
			mustJSON(t, mustNode(t, s, id), &n)
			if _, ok := byFormat[n.ContentProperties.Extension]; !ok {
				byFormat[n.ContentProperties.Extension] = id
			}
		}
	}
	for _, ext := range []string{"jpg", "heic", "png", "mp4", "mov"} {
		t.Run(ext, func(t *testing.T) {
			id, ok := byFormat[ext]
			if !ok {
				t.Skipf("no %s node in this library", ext)
			}
			var n jnode
			mustJSON(t, mustNode(t, s, id), &n)
			resp, _ := c.do("GET", "/drive/v1/nodes/"+id+"/contentRedirection?"+q("querySuffix", "?download=true", "ownerId", s.OwnerID(), "resourceVersion", "V2"), nil)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("contentRedirection = %d", resp.StatusCode)
			}
			loc := resp.Header.Get("Location")
			if !strings.Contains(loc, "/cdproxy/templink/") || !strings.HasSuffix(loc, "?download=true") {
				t.Fatalf("Location = %q", loc)
			}
			c2 := newClient(t, s)
			c2.cookies = nil // the templink token is the credential
			resp, body := c2.do("GET", loc, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET templink = %d", resp.StatusCode)
			}
			sum := md5.Sum(body)
			if hex.EncodeToString(sum[:]) != n.ContentProperties.MD5 || int64(len(body)) != n.ContentProperties.Size {
				t.Errorf("downloaded md5 %x size %d, node says %s %d", sum, len(body), n.ContentProperties.MD5, n.ContentProperties.Size)
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+*n.Name+`"` {
				t.Errorf("Content-Disposition = %q", cd)
			}
			if ct := resp.Header.Get("Content-Type"); ct != n.ContentProperties.ContentType {
				t.Errorf("Content-Type = %q, want %q", ct, n.ContentProperties.ContentType)
			}
			if ext == "jpg" || ext == "png" || ext == "heic" {
				if _, _, err := image.Decode(bytes.NewReader(body)); err != nil {
					t.Errorf("content does not decode as an image: %v", err)
				}
			}
			// Range requests are honoured.
			req, _ := http.NewRequest("GET", loc, nil)
			req.Header.Set("Range", "bytes=100-199")
			rr, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			part := make([]byte, 200)
			k, _ := rr.Body.Read(part)
			for k < 100 {
				m, err := rr.Body.Read(part[k:])
				if err != nil {
					break
				}
				k += m
			}
			rr.Body.Close()
			if rr.StatusCode != http.StatusPartialContent || k != 100 || !bytes.Equal(part[:k], body[100:200]) {
				t.Errorf("range 100-199 = %d, %d bytes", rr.StatusCode, k)
			}
			// The cookie-authenticated content URL serves the same bytes.
			_, direct := c.do("GET", "/cdproxy/nodes/"+id+"/content", nil)
			if !bytes.Equal(direct, body) {
				t.Error("/cdproxy/nodes/{id}/content differs from the templink content")
			}
			if got, _ := s.Content(id); !bytes.Equal(got, body) {
				t.Error("Server.Content differs from the download")
			}
		})
	}
	t.Run("forged templink", func(t *testing.T) {
		id := byFormat["jpg"]
		c.get("/cdproxy/templink/"+id+"~0000", 403, nil)
	})
	t.Run("folder has no content", func(t *testing.T) {
		c.get("/drive/v1/nodes/"+s.RootID()+"/contentRedirection?"+q("ownerId", s.OwnerID(), "resourceVersion", "V2"), 404, nil)
	})
	t.Run("ownerId and V2 are required", func(t *testing.T) {
		id := byFormat["jpg"]
		resp, body := c.do("GET", "/drive/v1/nodes/"+id+"/contentRedirection?"+q("resourceVersion", "V2"), nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "ownerId") {
			t.Errorf("without ownerId: %d %s, want 400 naming ownerId", resp.StatusCode, body)
		}
		resp, body = c.do("GET", "/drive/v1/nodes/"+id+"/contentRedirection?"+q("ownerId", s.OwnerID()), nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "ResourceVersion V1") {
			t.Errorf("a photo without resourceVersion=V2: %d %s, want the V1 404", resp.StatusCode, body)
		}
	})
}

func TestUploadThenSearch(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 200})
	web := folderID(t, s, "Pictures/Web")
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	before, _ := s.Count("type:(PHOTOS)")
	up := "/cdproxy/nodes?" + url.Values{"name": {"upload.png"}, "kind": {"FILE"}, "parentNodeId": {web}}.Encode()
	resp, b := c.do("POST", up, data)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload = %d %s", resp.StatusCode, b)
	}
	var n jnode
	mustJSON(t, b, &n)
	sum := md5.Sum(data)
	if n.ContentProperties.MD5 != hex.EncodeToString(sum[:]) || n.ContentProperties.Size != int64(len(data)) ||
		n.ContentProperties.ContentType != "image/png" || n.ContentProperties.Image == nil || n.ContentProperties.Image.Width != 40 ||
		len(n.Parents) != 1 || n.Parents[0] != web {
		t.Fatalf("uploaded node = %s", b)
	}
	ids, _ := s.IDs("type:(PHOTOS)")
	if len(ids) != before+1 || ids[0] != n.ID {
		t.Errorf("after upload search finds %d photos (newest %s), want %d with %s first", len(ids), ids[0], before+1, n.ID)
	}
	var page jlist
	c.get("/drive/v1/search?"+q("filters", "type:(PHOTOS)", "limit", "1"), 200, &page)
	if page.Data[0].ID != n.ID {
		t.Errorf("search's newest photo = %s, want the upload %s", page.Data[0].ID, n.ID)
	}
	_, got := c.do("GET", "/cdproxy/nodes/"+n.ID+"/content", nil)
	if !bytes.Equal(got, data) {
		t.Error("download of the upload differs from what was uploaded")
	}
	tests := []struct {
		name   string
		path   string
		status int
	}{
		{"same name, other case", "/cdproxy/nodes?" + url.Values{"name": {"UPLOAD.PNG"}, "kind": {"FILE"}, "parentNodeId": {web}}.Encode(), 409},
		{"no name", "/cdproxy/nodes?kind=FILE", 400},
		{"unknown parent", "/cdproxy/nodes?" + url.Values{"name": {"x.jpg"}, "parentNodeId": {"AAAAAAAAAAAAAAAAAAAAAA"}}.Encode(), 404},
		{"root by default", "/cdproxy/nodes?" + url.Values{"name": {"x.txt"}, "kind": {"FILE"}}.Encode(), 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := c.do("POST", tt.path, []byte("hello"))
			if resp.StatusCode != tt.status {
				t.Fatalf("POST %s = %d %s, want %d", tt.path, resp.StatusCode, b, tt.status)
			}
			if tt.status == 409 {
				var m jmsg
				mustJSON(t, b, &m)
				if m.Code == nil || *m.Code != "NAME_ALREADY_EXISTS" || m.Info == nil || m.Info.NodeID != n.ID {
					t.Errorf("409 body = %s", b)
				}
			}
		})
	}
	if u := s.Usage().Categories["doc"]; u.TotalCount == 0 {
		t.Error("the uploaded .txt is not counted as a doc")
	}
}

func TestThumbnails(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 300})
	photos, _ := s.IDs("type:(PHOTOS)")
	videos, _ := s.IDs("type:(VIDEOS)")
	owner := s.OwnerID()
	tests := []struct {
		name   string
		id     string
		query  string
		status int
		maxW   int
		maxH   int
	}{
		{"square box", photos[0], q("ownerId", owner, "viewBox", "100"), 200, 100, 100},
		{"w,h box", photos[1], q("ownerId", owner, "viewBox", "64,16"), 200, 64, 16},
		{"original size", photos[2], q("ownerId", owner, "viewBox", "10000"), 200, templateW, templateH},
		{"video poster", videos[0], q("ownerId", owner, "viewBox", "50"), 200, 50, 50},
		{"no ownerId", photos[0], q("viewBox", "100"), 400, 0, 0},
		{"wrong ownerId", photos[0], q("ownerId", "A0000000000000", "viewBox", "100"), 404, 0, 0},
		{"bad viewBox", photos[0], q("ownerId", owner, "viewBox", "0"), 400, 0, 0},
		{"folder", s.RootID(), q("ownerId", owner, "viewBox", "100"), 404, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := c.get("/v1/thumbnail/"+tt.id+"?"+tt.query, tt.status, nil)
			if tt.status != 200 {
				return
			}
			img, format, err := image.Decode(bytes.NewReader(b))
			if err != nil || format != "jpeg" {
				t.Fatalf("thumbnail decodes as %q: %v", format, err)
			}
			w, h := img.Bounds().Dx(), img.Bounds().Dy()
			if w > tt.maxW || h > tt.maxH || (w != tt.maxW && h != tt.maxH) {
				t.Errorf("thumbnail is %dx%d, want it to fit %dx%d and touch one side", w, h, tt.maxW, tt.maxH)
			}
		})
	}
}
