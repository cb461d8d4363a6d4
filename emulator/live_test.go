package emulator

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// liveInfo is the part of a node's JSON that marks a Live Photo.
type liveInfo struct {
	ChildAssetTypeInfo []struct {
		AssetType string `json:"assetType"`
	} `json:"childAssetTypeInfo"`
}

// jasset is a Live Photo child as /children lists it.
type jasset struct {
	jnode
	ParentMap       map[string][]string `json:"parentMap"`
	AssetProperties *struct {
		AssetType string `json:"assetType"`
	} `json:"assetProperties"`
}

// livePhotos returns the ids of the Live Photos among the library's
// nodes, as their JSON says, and checks that the rule picks only eligible
// photos.
func livePhotos(t *testing.T, s *Server) []string {
	t.Helper()
	l := s.lib
	l.mu.RLock()
	defer l.mu.RUnlock()
	var ids []string
	for i := range l.nodes {
		var li liveInfo
		mustJSON(t, l.appendNode(nil, int32(i), renderOpts{}), &li)
		switch {
		case len(li.ChildAssetTypeInfo) == 0:
			continue
		case len(li.ChildAssetTypeInfo) != 1 || li.ChildAssetTypeInfo[0].AssetType != "LIVE_VIDEO":
			t.Fatalf("node %d: childAssetTypeInfo %+v", i, li.ChildAssetTypeInfo)
		}
		n := &l.nodes[i]
		if n.kind != kindFile || (n.format != fmtJPG && n.format != fmtHEIC) || n.camera == 0 || cameras[n.camera-1].make != "Apple" {
			t.Fatalf("node %d (%s) is Live but not an iPhone photo", i, n.name)
		}
		ids = append(ids, n.id)
	}
	return ids
}

func TestLivePhotos(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 2000, Seed: 3})
	live := livePhotos(t, s)
	var apple int
	s.lib.mu.RLock()
	for i := range s.lib.nodes {
		n := &s.lib.nodes[i]
		if n.kind == kindFile && (n.format == fmtJPG || n.format == fmtHEIC) && n.camera > 0 &&
			cameras[n.camera-1].make == "Apple" && n.content >= liveSince {
			apple++
		}
	}
	s.lib.mu.RUnlock()
	if len(live) == 0 || len(live)*20 < apple || len(live)*5 > apple {
		t.Fatalf("%d Live Photos among %d recent iPhone photos, want about one in ten", len(live), apple)
	}
	photo := live[0]
	var pn jnode
	mustJSON(t, c.get("/drive/v1/nodes/"+photo+"?"+v2, 200, nil), &pn)

	// The photo's only child is its video.
	var kids struct {
		Count int      `json:"count"`
		Data  []jasset `json:"data"`
	}
	kidsBody := c.get("/drive/v1/nodes/"+photo+"/children?"+v2, 200, &kids)
	if kids.Count != 1 || len(kids.Data) != 1 {
		t.Fatalf("children of a Live Photo = %s", kidsBody)
	}
	a := kids.Data[0]
	cp := a.ContentProperties
	wantName := strings.TrimSuffix(*pn.Name, (*pn.Name)[strings.LastIndexByte(*pn.Name, '.'):]) + ".MOV"
	if a.Kind != "ASSET" || a.Name == nil || *a.Name != wantName || a.Status != "AVAILABLE" || len(a.ID) != 22 || a.ID == photo ||
		a.AssetProperties == nil || a.AssetProperties.AssetType != "LIVE_VIDEO" || !slices.Equal(a.Parents, []string{photo}) ||
		a.OwnerID != s.OwnerID() || a.CreatedDate != pn.CreatedDate || a.ModifiedDate != pn.ModifiedDate || a.Version == 0 ||
		cp == nil || cp.Extension != "qt" || cp.ContentType != "video/quicktime" || cp.Size < 1000 || len(cp.MD5) != 32 ||
		a.Settings != nil || !slices.Equal(a.ParentMap["FILE"], []string{photo}) {
		t.Errorf("Live Photo child = %s", kidsBody)
	}
	var one json.RawMessage
	var page struct{ Data []json.RawMessage }
	mustJSON(t, kidsBody, &page)
	one = page.Data[0]
	if got := c.get("/drive/v1/nodes/"+a.ID+"?"+v2, 200, nil); !bytes.Equal(got, one) {
		t.Errorf("GET /nodes/{child} = %s, want the listed %s", got, one)
	}
	c.get("/drive/v1/nodes/"+a.ID, 404, nil) // V2 only, like the photo
	c.get("/drive/v1/nodes/"+a.ID+"/children?"+v2, 200, nil)

	// Filters on /children see it as an ASSET, not a FILE.
	for f, want := range map[string]int{"kind:FILE": 0, "kind:ASSET": 1, "kind:(FILE OR ASSET)": 1,
		"contentProperties.extension:qt": 1, "status:AVAILABLE": 1, "name:" + wantName: 1} {
		var l jlist
		c.get("/drive/v1/nodes/"+photo+"/children?"+q("filters", f)+"&"+v2, 200, &l)
		if l.Count != want {
			t.Errorf("children of the Live Photo with %s: count %d, want %d", f, l.Count, want)
		}
	}
	// Other photos have no children.
	var plain string
	for _, id := range must(s.IDs("type:(PHOTOS)")) {
		if !slices.Contains(live, id) {
			plain = id
			break
		}
	}
	var none jlist
	c.get("/drive/v1/nodes/"+plain+"/children?"+v2, 200, &none)
	var pli liveInfo
	mustJSON(t, mustNode(t, s, plain), &pli)
	if none.Count != 0 || pli.ChildAssetTypeInfo == nil || len(pli.ChildAssetTypeInfo) != 0 {
		t.Errorf("a plain photo: %d children, childAssetTypeInfo %+v", none.Count, pli.ChildAssetTypeInfo)
	}

	// Its content downloads like a file's, by cookie and by templink.
	_, body := c.do("GET", "/cdproxy/nodes/"+a.ID+"/content", nil)
	sum := md5.Sum(body)
	if hex.EncodeToString(sum[:]) != cp.MD5 || int64(len(body)) != cp.Size || !bytes.Equal(body[4:12], []byte("ftypqt  ")) {
		t.Errorf("child content: %d bytes md5 %x, node says %d %s", len(body), sum, cp.Size, cp.MD5)
	}
	resp, _ := c.do("GET", "/drive/v1/nodes/"+a.ID+"/contentRedirection?"+q("querySuffix", "?download=true", "ownerId", s.OwnerID(), "resourceVersion", "V2"), nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("contentRedirection of the child = %d", resp.StatusCode)
	}
	c2 := newClient(t, s)
	c2.cookies = nil
	resp, viaLink := c2.do("GET", resp.Header.Get("Location"), nil)
	if resp.StatusCode != 200 || !bytes.Equal(viaLink, body) || resp.Header.Get("Content-Type") != "video/quicktime" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="`+wantName+`"` {
		t.Errorf("templink of the child = %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	if got, ok := s.Content(a.ID); !ok || !bytes.Equal(got, body) {
		t.Error("Server.Content of the child differs from the download")
	}
	var tl struct{ Data []jnode }
	c.get("/drive/v1/nodes/"+photo+"/children?tempLink=true&"+strings.TrimSuffix(v2, "&tempLink=false"), 200, &tl)
	if len(tl.Data) != 1 || !strings.Contains(tl.Data[0].TempLink, "/cdproxy/templink/") {
		t.Errorf("children with tempLink=true: %+v", tl.Data)
	}

	// It is not a FILE: no search, no /nodes, no usage, no aggregation.
	st := s.State()
	if n, _ := s.Count(""); n != st.Photos+st.Videos {
		t.Errorf("search count %d, want photos+videos %d", n, st.Photos+st.Videos)
	}
	for _, f := range []string{"type:(PHOTOS OR VIDEOS)", "type:(VIDEOS)"} {
		if ids, _ := s.IDs(f); slices.Contains(ids, a.ID) {
			t.Errorf("search %s finds the Live Photo child", f)
		}
	}
	var vids jlist
	c.get("/drive/v1/search?"+q("filters", "type:(VIDEOS)", "limit", "1"), 200, &vids)
	if vids.Count != st.Videos {
		t.Errorf("search type:(VIDEOS) count %d, want %d", vids.Count, st.Videos)
	}
	if n, _ := s.CountNodes("kind:ASSET"); n != 0 {
		t.Errorf("/nodes kind:ASSET counts %d", n)
	}
	if n, _ := s.CountNodes("kind:FILE"); n != st.ByKind["FILE"] {
		t.Errorf("/nodes kind:FILE counts %d, want the %d files", n, st.ByKind["FILE"])
	}
	var files jlist
	c.get("/drive/v1/nodes?"+q("filters", "kind:FILE AND contentProperties.extension:qt")+"&"+v2, 200, &files)
	if files.Count != 0 {
		t.Errorf("/nodes finds %d qt files", files.Count)
	}
	var usageFiles int64
	for _, u := range st.Usage.Categories {
		usageFiles += u.TotalCount
	}
	if want := int64(st.ByStatus["AVAILABLE"] - len(st.Folders) - 1 - len(st.Albums)); usageFiles != want {
		t.Errorf("usage counts %d files, want the %d available files", usageFiles, want)
	}

	// It cannot be changed on its own.
	resp, b := c.do("PATCH", "/drive/v1/trash", map[string]any{"op": "add", "value": []string{a.ID}, "resourceVersion": "V2"})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"`+a.ID+`":404`) {
		t.Errorf("trashing the child alone = %d %s", resp.StatusCode, b)
	}
	c.get("/v1/thumbnail/"+a.ID+"?"+q("ownerId", s.OwnerID(), "viewBox", "100"), 404, nil)

	// It goes with its photo: trashed, restored, purged.
	assetStatus := func() string {
		t.Helper()
		var l struct{ Data []jnode }
		c.get("/drive/v1/nodes/"+photo+"/children?"+v2, 200, &l)
		if len(l.Data) != 1 {
			t.Fatalf("children of the photo: %+v", l.Data)
		}
		return l.Data[0].Status
	}
	if err := s.TrashIDs(photo); err != nil {
		t.Fatal(err)
	}
	if got := assetStatus(); got != "TRASH" {
		t.Errorf("child of a trashed photo is %s", got)
	}
	var avail jlist
	c.get("/drive/v1/nodes/"+photo+"/children?"+q("filters", "status:AVAILABLE")+"&"+v2, 200, &avail)
	if avail.Count != 0 {
		t.Error("an AVAILABLE filter lists the child of a trashed photo")
	}
	if err := s.RestoreIDs(photo); err != nil {
		t.Fatal(err)
	}
	if got := assetStatus(); got != "AVAILABLE" {
		t.Errorf("child of a restored photo is %s", got)
	}
	if err := s.TrashIDs(photo); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeIDs(photo); err != nil {
		t.Fatal(err)
	}
	c.get("/drive/v1/nodes/"+a.ID+"?"+v2, 404, nil)
	c.get("/cdproxy/nodes/"+a.ID+"/content", 404, nil)
	c.get("/drive/v1/nodes/"+photo+"/children?"+v2, 404, nil)
	if _, ok := s.Content(a.ID); ok {
		t.Error("Server.Content serves the child of a purged photo")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLivePhotosDeterministic: the same seed gives the same Live Photos and
// children, and another seed other ones.
func TestLivePhotosDeterministic(t *testing.T) {
	children := func(seed int64) []byte {
		s, err := New(Options{Nodes: 3000, Seed: seed, Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		for _, id := range livePhotos(t, s) {
			p, _ := s.lib.lookup(id)
			b = s.lib.appendNode(b, p|assetBit, renderOpts{})
			c, _ := s.Content(s.lib.assetID(p))
			sum := md5.Sum(c)
			b = append(b, hex.EncodeToString(sum[:])...)
		}
		return b
	}
	a, b, c := children(1), children(1), children(2)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("two libraries with seed 1 have different Live Photos")
	}
	if bytes.Equal(a, c) {
		t.Error("seeds 1 and 2 give the same Live Photos")
	}
}

// geoMembers are the members geo.go adds to node JSON.
var geoMembers = regexp.MustCompile(`,"location":"[-+0-9.]+/"|,"description":"[^"]*"`)

// TestLivePhotosKeepLibrary: Live Photos change nothing of the synthetic
// library but childAssetTypeInfo (nor does the Family Vault, but the
// root's familyId, nor do geo.go's locations and descriptions). The hashes are of libraries rendered before Live
// Photos existed; a deliberate change to node JSON must update them (and
// explain why in its commit).
func TestLivePhotosKeepLibrary(t *testing.T) {
	for _, tt := range []struct {
		nodes int
		seed  int64
		want  string
	}{
		{3000, 1, "d131925df1ee4e8f8e5b1d3cc267fbd678cc39b627364136d82acefdd5de5894"},
		{50000, 7, "d32c64d491d0b7bd40299308a7b5de5b0a1295f9ac892beac84b8f5ead7d81e8"},
	} {
		s, err := New(Options{Nodes: tt.nodes, Seed: tt.seed, Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		live := 0
		var b []byte
		for i := range s.lib.nodes {
			b = s.lib.appendNode(b[:0], int32(i), renderOpts{})
			if s.lib.isLive(int32(i)) {
				live++
				b = bytes.Replace(b, []byte(`"childAssetTypeInfo":[{"assetType":"LIVE_VIDEO"}]`), []byte(`"childAssetTypeInfo":[]`), 1)
			}
			// GPS locations and synthetic descriptions (geo.go) add only
			// these two members.
			b = geoMembers.ReplaceAll(b, nil)
			if int32(i) == s.lib.root {
				// The root names the account's family (Family Vault, vault.go).
				b = bytes.Replace(b, []byte(`,"familyId":"`+s.lib.family+`"`), nil, 1)
			}
			h.Write(b)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != tt.want || live == 0 {
			t.Errorf("%d nodes, seed %d: %d Live Photos, library hash %s, want %s", tt.nodes, tt.seed, live, got, tt.want)
		}
	}
}
