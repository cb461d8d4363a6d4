package emulator

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"testing"
)

// TestReplaceContent: PUT /cdproxy/nodes/{id}/content (API.md §1.4 C4)
// gives a file new bytes, keeping its id and name and bumping its
// version; a folder is refused, an unknown id is 404.
func TestReplaceContent(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 20, State: true})
	id, err := s.Upload("Dest", "x.jpg", []byte("old bytes"))
	if err != nil {
		t.Fatal(err)
	}
	put := func(id string, data []byte) (int, []byte) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("content", "x.jpg")
		fw.Write(data)
		mw.Close()
		c.header = http.Header{"Content-Type": {mw.FormDataContentType()}}
		defer func() { c.header = nil }()
		resp, b := c.do("PUT", "/cdproxy/nodes/"+id+"/content", body.Bytes())
		return resp.StatusCode, b
	}
	before, _ := s.Node(id)
	code, b := put(id, []byte("new bytes, longer"))
	if code != http.StatusOK {
		t.Fatalf("PUT content = %d %s", code, b)
	}
	var n, old struct {
		ID, Name          string
		Version           int
		ContentProperties struct {
			MD5  string
			Size int64
		}
	}
	json.Unmarshal(b, &n)
	json.Unmarshal(before, &old)
	sum := md5.Sum([]byte("new bytes, longer"))
	if n.ID != id || n.Name != "x.jpg" || n.ContentProperties.MD5 != hex.EncodeToString(sum[:]) || n.ContentProperties.Size != 17 || n.Version <= old.Version {
		t.Errorf("answer %+v (before %+v)", n, old)
	}
	if data, _ := s.Content(id); string(data) != "new bytes, longer" {
		t.Errorf("content %q", data)
	}
	if code, _ := put("no-such-node", []byte("x")); code != http.StatusNotFound {
		t.Errorf("unknown id: %d, want 404", code)
	}
	folder, _ := s.FolderID("Dest")
	if code, _ := put(folder, []byte("x")); code != http.StatusBadRequest {
		t.Errorf("a folder: %d, want 400", code)
	}
}
