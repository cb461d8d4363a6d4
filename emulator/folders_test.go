package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestMoveNode(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 50})
	a, err := s.MkdirAll("A")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.MkdirAll("A/B")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := s.MkdirAll("Dst")
	if err != nil {
		t.Fatal(err)
	}
	root := s.RootID()
	doc, err := s.Upload("A", "notes.txt", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload("Dst", "NOTES.TXT", []byte("other")); err != nil {
		t.Fatal(err)
	}
	mv := func(parent, from, child string) (int, string) {
		resp, body := c.do(http.MethodPost, "/drive/v1/nodes/"+parent+"/children?resourceVersion=V2", map[string]string{"fromParent": from, "childId": child})
		return resp.StatusCode, string(body)
	}
	cases := []struct {
		name, parent, from, child string
		status                    int
		body                      string
	}{
		{"name taken (case-insensitive)", dst, a, doc, http.StatusConflict, `"code":"NAME_ALREADY_EXISTS"`},
		{"wrong fromParent", dst, root, doc, http.StatusBadRequest, "fromParent"},
		{"into its own subfolder", b, root, a, http.StatusBadRequest, "into itself"},
		{"unknown child", dst, a, "nope", http.StatusNotFound, "NODE_NOT_FOUND"},
		{"folder with its subtree", dst, root, a, http.StatusOK, `"parents":["` + dst + `"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, body := mv(tc.parent, tc.from, tc.child)
			if st != tc.status || !strings.Contains(body, tc.body) {
				t.Fatalf("move = %d %s, want %d with %s", st, body, tc.status, tc.body)
			}
		})
	}
	if got, _, _ := s.PathOf(doc); got != "Dst/A" {
		t.Errorf("the file moved with its folder: path %q, want Dst/A", got)
	}
	if _, ok := s.State().Folders["Dst/A/B"]; !ok {
		t.Errorf("Dst/A/B missing after the move: %v", s.State().Folders)
	}
	// Trash one node by id and restore it.
	resp, body := c.do(http.MethodPut, "/drive/v1/trash/"+doc, nil)
	var n struct{ Status string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &n) != nil || n.Status != "TRASH" {
		t.Fatalf("PUT /trash/{id} = %d %s", resp.StatusCode, body)
	}
	resp, body = c.do(http.MethodPost, "/drive/v1/trash/"+doc+"/restore", nil)
	if resp.StatusCode != 200 || json.Unmarshal(body, &n) != nil || n.Status != "AVAILABLE" {
		t.Fatalf("POST /trash/{id}/restore = %d %s", resp.StatusCode, body)
	}
}
