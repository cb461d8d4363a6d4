package emulator

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pngBytes returns a small PNG whose bytes depend on seed.
func pngBytes(t *testing.T, seed uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for i := range img.Pix {
		img.Pix[i] = 100
	}
	img.Set(2, 3, color.RGBA{seed, 0, 255 - seed, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// v2Upload posts data to /v2/upload with params and x-amzn-file-md5 sum
// ("" sends none).
func v2Upload(c *client, params url.Values, sum string, data []byte) (*http.Response, []byte) {
	c.t.Helper()
	c.header = http.Header{}
	if sum != "" {
		c.header.Set("x-amzn-file-md5", sum)
	}
	defer func() { c.header = nil }()
	return c.do("POST", "/v2/upload?"+params.Encode(), data)
}

// v2Fail is the v2 error body (RUST ResponseUploadFail).
type v2Fail struct {
	Message      string `json:"message"`
	ErrorCode    string `json:"errorCode"`
	TimeStamp    string `json:"timeStamp"`
	RequestID    string `json:"requestId"`
	ErrorDetails *struct {
		ConflictNodeIDs []string `json:"conflictNodeIds"`
	} `json:"errorDetails"`
}

func decodeV2Fail(t *testing.T, b []byte) v2Fail {
	t.Helper()
	var f v2Fail
	mustJSON(t, b, &f)
	if f.Message == "" || f.ErrorCode == "" || f.TimeStamp == "" || f.RequestID == "" {
		t.Errorf("v2 error body %s lacks message, errorCode, timeStamp or requestId", b)
	}
	return f
}

func TestUploadV2(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 200})
	web := folderID(t, s, "Pictures/Web")
	data := pngBytes(t, 1)
	params := url.Values{"conflictResolution": {"RENAME"}, "fileSize": {strconv.Itoa(len(data))},
		"name": {"v2.png"}, "parentNodeId": {web}, "contentDate": {"2024-05-01T10:20:30.000Z"}}
	photos0, _ := s.Count("type:(PHOTOS)")
	resp, b := v2Upload(c, params, md5Hex(data), data)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("v2 upload = %d %s", resp.StatusCode, b)
	}

	// RUST ResponseUpload: every member it reads is there.
	var raw map[string]json.RawMessage
	mustJSON(t, b, &raw)
	for _, k := range []string{"id", "name", "kind", "version", "modifiedDate", "createdDate", "parents", "parentMap",
		"status", "restricted", "protectedFolder", "contentProperties", "properties", "transforms", "keywords", "ownerId", "subKinds"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("upload answer lacks %q: %s", k, b)
		}
	}
	var up struct {
		ParentMap struct {
			Folder []string `json:"FOLDER"`
		} `json:"parentMap"`
		ContentProperties struct {
			Version           int `json:"version"`
			ContentSignatures []struct {
				Type string `json:"contentSignatureType"`
				Sig  string `json:"contentSignature"`
			} `json:"contentSignatures"`
			Image *struct {
				ResolutionUnit string `json:"resolutionUnit"`
				Width, Height  int
			} `json:"image"`
		} `json:"contentProperties"`
	}
	mustJSON(t, b, &up)
	var n jnode
	mustJSON(t, b, &n)
	cp := n.ContentProperties
	if n.Kind != "FILE" || n.Status != "AVAILABLE" || *n.Name != "v2.png" || !slices.Equal(n.Parents, []string{web}) ||
		!slices.Equal(up.ParentMap.Folder, []string{web}) || n.OwnerID != s.OwnerID() {
		t.Errorf("uploaded node = %s", b)
	}
	if cp == nil || cp.MD5 != md5Hex(data) || cp.Size != int64(len(data)) || cp.ContentType != "image/png" ||
		cp.Extension != "png" || cp.ContentDate != "2024-05-01T10:20:30.000Z" {
		t.Errorf("uploaded contentProperties = %s", b)
	}
	if im := up.ContentProperties.Image; im == nil || im.ResolutionUnit == "" || im.Width != 24 || im.Height != 16 ||
		len(up.ContentProperties.ContentSignatures) != 1 || up.ContentProperties.ContentSignatures[0].Sig != md5Hex(data) {
		t.Errorf("uploaded image or signatures = %s", b)
	}
	if got := mustNode(t, s, n.ID); !bytes.Equal(got, b) {
		t.Errorf("upload answer differs from the node:\n%s\n%s", b, got)
	}

	// It is listed, searchable and downloadable.
	var kids jlist
	c.get("/drive/v1/nodes/"+web+"/children?"+q("filters", "kind:FILE AND name:v2.png", "limit", "200")+"&"+v2, 200, &kids)
	if kids.Count != 1 || kids.Data[0].ID != n.ID {
		t.Errorf("children of Pictures/Web named v2.png: %+v", kids)
	}
	if p, _ := s.Count("type:(PHOTOS)"); p != photos0+1 {
		t.Errorf("search finds %d photos after the upload, want %d", p, photos0+1)
	}
	var page jlist
	c.get("/drive/v1/search?"+q("filters", "type:(PHOTOS)", "sort", "['createdDate DESC']", "limit", "1"), 200, &page)
	if len(page.Data) != 1 || page.Data[0].ID != n.ID {
		t.Errorf("search's newest upload = %+v, want %s", page.Data, n.ID)
	}
	if _, got := c.do("GET", "/cdproxy/nodes/"+n.ID+"/content", nil); !bytes.Equal(got, data) {
		t.Error("download of the v2 upload differs from what was uploaded")
	}
	if st := s.Stats(); st.Count("POST /v2/upload", 201) != 1 {
		t.Errorf("stats for POST /v2/upload: %+v", st.ByEndpoint["POST /v2/upload"])
	}

	other := pngBytes(t, 2)
	with := func(edit func(url.Values)) url.Values {
		p := url.Values{}
		for k, v := range params {
			p[k] = slices.Clone(v)
		}
		p.Set("fileSize", strconv.Itoa(len(other)))
		edit(p)
		return p
	}
	t.Run("rename", func(t *testing.T) {
		for k, want := range []string{"v2 (1).png", "v2 (2).png"} {
			d := pngBytes(t, uint8(10+k))
			p := with(func(p url.Values) { p.Set("name", "V2.PNG"); p.Set("fileSize", strconv.Itoa(len(d))) })
			if k == 1 {
				p.Set("name", "v2.png")
			}
			resp, b := v2Upload(c, p, md5Hex(d), d)
			var got jnode
			mustJSON(t, b, &got)
			if resp.StatusCode != http.StatusCreated || got.Name == nil || !strings.EqualFold(*got.Name, want) {
				t.Fatalf("upload %d of a taken name with RENAME = %d %s, want name %q", k, resp.StatusCode, b, want)
			}
		}
	})

	errs := []struct {
		name   string
		params url.Values
		sum    string
		body   []byte
		status int
		check  func(*testing.T, v2Fail)
	}{
		{"md5 mismatch", with(func(url.Values) {}), md5Hex(data), other, 400, func(t *testing.T, f v2Fail) {
			if !strings.Contains(f.Message, "does not match the md5") || f.ErrorDetails != nil {
				t.Errorf("md5 mismatch: %+v", f)
			}
		}},
		{"no md5 header", with(func(url.Values) {}), "", other, 400, func(t *testing.T, f v2Fail) {
			if !strings.Contains(f.Message, "x-amzn-file-md5") {
				t.Errorf("missing md5: %+v", f)
			}
		}},
		{"malformed md5 header", with(func(url.Values) {}), "xyz", other, 400, nil},
		{"fileSize mismatch", with(func(p url.Values) { p.Set("fileSize", "3") }), md5Hex(other), other, 400,
			func(t *testing.T, f v2Fail) {
				if !strings.Contains(f.Message, "fileSize 3") {
					t.Errorf("fileSize mismatch: %+v", f)
				}
			}},
		{"no name", with(func(p url.Values) { p.Del("name") }), md5Hex(other), other, 400, nil},
		{"bad conflictResolution", with(func(p url.Values) { p.Set("conflictResolution", "OVERWRITE") }), md5Hex(other), other, 400, nil},
		{"bad contentDate", with(func(p url.Values) { p.Set("contentDate", "yesterday") }), md5Hex(other), other, 400, nil},
		{"same content under another name", with(func(p url.Values) { p.Set("name", "copy.png"); p.Set("fileSize", strconv.Itoa(len(data))) }),
			md5Hex(data), data, 409, func(t *testing.T, f v2Fail) {
				if f.ErrorDetails == nil || !slices.Equal(f.ErrorDetails.ConflictNodeIDs, []string{n.ID}) || f.ErrorCode != "CONTENT_ALREADY_EXISTS" {
					t.Errorf("409 for the same content = %+v", f)
				}
			}},
		{"taken name without RENAME", with(func(p url.Values) { p.Del("conflictResolution"); p.Set("name", "V2.png") }), md5Hex(other), other, 409,
			func(t *testing.T, f v2Fail) {
				if f.ErrorDetails == nil || !slices.Equal(f.ErrorDetails.ConflictNodeIDs, []string{n.ID}) || f.ErrorCode != "NAME_ALREADY_EXISTS" {
					t.Errorf("409 for a taken name = %+v", f)
				}
			}},
		{"unknown parent", with(func(p url.Values) { p.Set("parentNodeId", "AAAAAAAAAAAAAAAAAAAAAA") }), md5Hex(other), other, 404,
			func(t *testing.T, f v2Fail) {
				if f.ErrorCode != "NODE_NOT_FOUND" {
					t.Errorf("unknown parent: %+v", f)
				}
			}},
		{"parent is a file", with(func(p url.Values) { p.Set("parentNodeId", n.ID) }), md5Hex(other), other, 400, nil},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Version()
			resp, b := v2Upload(c, tt.params, tt.sum, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("v2 upload = %d %s, want %d", resp.StatusCode, b, tt.status)
			}
			f := decodeV2Fail(t, b)
			if tt.check != nil {
				tt.check(t, f)
			}
			if s.Version() != before {
				t.Error("a refused upload changed the library")
			}
		})
	}
	t.Run("409 body shape", func(t *testing.T) {
		p := with(func(p url.Values) { p.Set("name", "again.png"); p.Set("fileSize", strconv.Itoa(len(data))) })
		_, b := v2Upload(c, p, md5Hex(data), data)
		var m map[string]json.RawMessage
		mustJSON(t, b, &m)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"errorCode", "errorDetails", "message", "requestId", "timeStamp"}) {
			t.Errorf("409 members = %v, want the v2 body's", keys)
		}
		if !strings.HasPrefix(string(m["errorDetails"]), `{"conflictNodeIds":["`+n.ID+`"]}`) {
			t.Errorf("errorDetails = %s", m["errorDetails"])
		}
	})
	t.Run("no parent: the root", func(t *testing.T) {
		d := []byte("plain text")
		p := url.Values{"name": {"note.txt"}}
		resp, b := v2Upload(c, p, md5Hex(d), d)
		var got jnode
		mustJSON(t, b, &got)
		if resp.StatusCode != http.StatusCreated || !slices.Equal(got.Parents, []string{s.RootID()}) {
			t.Errorf("upload without parentNodeId = %d %s", resp.StatusCode, b)
		}
	})
	t.Run("auth", func(t *testing.T) {
		before := s.Version()
		c2 := newClient(t, s)
		c2.cookies = nil
		d := pngBytes(t, 99)
		resp, b := v2Upload(c2, with(func(p url.Values) { p.Set("name", "anon.png"); p.Set("fileSize", strconv.Itoa(len(d))) }), md5Hex(d), d)
		var m jmsg
		mustJSON(t, b, &m)
		if resp.StatusCode != http.StatusUnauthorized || m.Message != "No Auth Method Provided" || m.Logref == "" || m.Code == nil {
			t.Errorf("v2 upload without cookies = %d %s, want the content host's 401", resp.StatusCode, b)
		}
		if s.Version() != before {
			t.Error("an unauthorised upload changed the library")
		}
	})
}
