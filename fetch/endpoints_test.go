package fetch_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// truth decodes the emulator's own JSON of a node (its state, not an
// answer of the client).
func truth(t *testing.T, srv *emulator.Server, id string) (n struct {
	Name     string   `json:"name"`
	Status   string   `json:"status"`
	Parents  []string `json:"parents"`
	FamilyID string   `json:"familyId"`
	Settings struct {
		Favorite bool `json:"favorite"`
		Hidden   bool `json:"hidden"`
	} `json:"settings"`
	ContentProperties struct {
		MD5 string `json:"md5"`
	} `json:"contentProperties"`
}, ok bool) {
	t.Helper()
	raw, ok := srv.Node(id)
	if !ok {
		return n, false
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatal(err)
	}
	return n, true
}

func TestEndpointsTrashRestorePurge(t *testing.T) {
	srv, c := newEmulated(t, emulator.Options{Nodes: 50, Seed: 3}, nil)
	ctx := t.Context()
	ids, err := srv.IDs("")
	if err != nil {
		t.Fatal(err)
	}
	a, b := ids[0], ids[1]
	const bogus = "AAAAAAAAAAAAAAAAAAAAAA"
	res, err := c.Trash(ctx, []string{a, b, bogus}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || !errors.Is(res.Err(bogus), fetch.ErrNodeGone) || errors.Is(res.Err(bogus), fetch.ErrRefused) {
		t.Fatalf("Trash failed = %v, want only %s gone", res.Failed, bogus)
	}
	for _, id := range []string{a, b} {
		if n, _ := truth(t, srv, id); n.Status != "TRASH" {
			t.Errorf("after Trash the emulator has %s %s", id, n.Status)
		}
	}
	if res, err = c.Restore(ctx, []string{a}, nil); err != nil || len(res.Failed) != 0 {
		t.Fatalf("Restore: %v %v", res.Failed, err)
	}
	if n, _ := truth(t, srv, a); n.Status != "AVAILABLE" {
		t.Errorf("after Restore the emulator has %s %s", a, n.Status)
	}
	// a is not in the trash: refused (409), b purged.
	res, err = c.Purge(ctx, []string{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ie *fetch.ItemError
	if !errors.Is(res.Err(a), fetch.ErrRefused) || !errors.As(res.Err(a), &ie) || ie.Code != 409 || res.Err(b) != nil {
		t.Fatalf("Purge failed = %v, want %s refused 409 only", res.Failed, a)
	}
	if _, err := c.GetNode(ctx, b); !errors.Is(err, fetch.ErrNodeGone) {
		t.Fatalf("GetNode of a purged node: %v, want ErrNodeGone", err)
	}
	var ae *fetch.APIError
	if _, err := c.GetNode(ctx, bogus); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("GetNode of an unknown id: %v, want the *APIError too", err)
	}
	if n, ok := truth(t, srv, b); ok && n.Status != "PURGED" {
		t.Errorf("after Purge the emulator has %s %s", b, n.Status)
	}
}

func TestEndpointsNodes(t *testing.T) {
	srv, c := newEmulated(t, emulator.Options{Nodes: 50, Seed: 4}, nil)
	ctx := t.Context()
	ids, _ := srv.IDs("")
	id := ids[0]
	yes, no := true, false
	n, err := c.PatchNode(ctx, id, fetch.NodePatch{Favorite: &yes, Hidden: &no}, nil)
	if err != nil || n.ID != id || !n.Settings.Favorite {
		t.Fatalf("PatchNode favorite: %+v %v", n, err)
	}
	if tn, _ := truth(t, srv, id); !tn.Settings.Favorite || tn.Settings.Hidden {
		t.Errorf("emulator settings after PatchNode: %+v", tn.Settings)
	}
	if n, err = c.RenameNode(ctx, id, "renamed.jpg", nil); err != nil || n.Name != "renamed.jpg" {
		t.Fatalf("RenameNode: %+v %v", n, err)
	}
	if tn, _ := truth(t, srv, id); tn.Name != "renamed.jpg" {
		t.Errorf("emulator name after RenameNode: %q", tn.Name)
	}
	root := srv.RootID()
	f, err := c.CreateFolder(ctx, root, "Endpoints", nil)
	if err != nil || f.Kind != "FOLDER" || f.ParentID() != root {
		t.Fatalf("CreateFolder: %+v %v", f, err)
	}
	if got, ok := srv.FolderID("/Endpoints"); !ok || got != f.ID {
		t.Fatalf("emulator folder /Endpoints = %q %v, want %s", got, ok, f.ID)
	}
	var ae *fetch.APIError
	if _, err := c.CreateFolder(ctx, root, "endpoints", nil); !errors.As(err, &ae) || ae.Status != 409 || ae.NodeID != f.ID {
		t.Fatalf("CreateFolder of a taken name: %v, want 409 naming %s", err, f.ID)
	}
	tn, _ := truth(t, srv, id)
	if n, err = c.MoveNode(ctx, id, tn.Parents[0], f.ID, nil); err != nil || n.ParentID() != f.ID {
		t.Fatalf("MoveNode: %+v %v", n, err)
	}
	if folder, _, _ := srv.PathOf(id); folder != "Endpoints" {
		t.Errorf("emulator folder after MoveNode: %q", folder)
	}
	kids, complete, err := c.ChildIDs(ctx, f.ID)
	if err != nil || !complete || len(kids) != 1 || !kids[id] {
		t.Fatalf("ChildIDs: %v %v %v", kids, complete, err)
	}
	p, err := c.ChildrenPage(ctx, f.ID, fetch.NodeQuery{Filter: `kind:FILE AND name:"renamed.jpg"`, Limit: 10})
	if err != nil || len(p.Nodes) != 1 || p.Nodes[0].ID != id {
		t.Fatalf("ChildrenPage by name: %+v %v", p, err)
	}
	found, gone, err := c.GetNodes(ctx, []string{id, ids[1], "AAAAAAAAAAAAAAAAAAAAAA"})
	if err != nil || len(found) != 2 || !gone["AAAAAAAAAAAAAAAAAAAAAA"] || found[id].Name != "renamed.jpg" {
		t.Fatalf("GetNodes: %v %v %v", found, gone, err)
	}
}

func TestEndpointsAlbums(t *testing.T) {
	srv, c := newEmulated(t, emulator.Options{Nodes: 50, Seed: 5}, nil)
	ctx := t.Context()
	ids, _ := srv.IDs("")
	al, err := c.CreateAlbum(ctx, "Endpoint album", nil)
	if err != nil || al.Kind != "VISUAL_COLLECTION" {
		t.Fatalf("CreateAlbum: %+v %v", al, err)
	}
	if got, ok := srv.AlbumID("Endpoint album"); !ok || got != al.ID {
		t.Fatalf("emulator album = %q %v, want %s", got, ok, al.ID)
	}
	if _, err := c.AddToAlbum(ctx, al.ID, ids[:3], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveFromAlbum(ctx, al.ID, ids[:1], nil); err != nil {
		t.Fatal(err)
	}
	members, _ := srv.AlbumMembers(al.ID)
	slices.Sort(members)
	want := slices.Clone(ids[1:3])
	slices.Sort(want)
	if !slices.Equal(members, want) {
		t.Fatalf("emulator members %v, want %v", members, want)
	}
	if _, err := c.RenameAlbum(ctx, al.ID, "Renamed album", nil); err != nil {
		t.Fatal(err)
	}
	if got, ok := srv.AlbumID("Renamed album"); !ok || got != al.ID {
		t.Fatalf("emulator album after RenameAlbum = %q %v", got, ok)
	}
	p, err := c.NodesPage(ctx, fetch.NodeQuery{Filter: fetch.AlbumFilter})
	if err != nil || p.Count != len(srv.Albums()) {
		t.Fatalf("NodesPage albums: %+v %v, emulator has %d", p, err, len(srv.Albums()))
	}
	got, err := c.GetNode(ctx, al.ID)
	if err != nil || got.Cover() == "" || !slices.Contains(want, got.Cover()) {
		t.Fatalf("album cover %q %v, want one of %v", got.Cover(), err, want)
	}
}

func TestEndpointsPeopleAndVault(t *testing.T) {
	srv, c := newEmulated(t, emulator.Options{Nodes: 300, Seed: 6}, nil)
	ctx := t.Context()
	people := srv.People()
	if len(people) < 2 {
		t.Skip("the emulator's library has fewer than 2 people")
	}
	a, b := people[0], people[1]
	if err := c.RenamePerson(ctx, a.ClusterID, "Ada", nil); err != nil {
		t.Fatal(err)
	}
	shows, err := srv.IDs("people:(" + a.ClusterID + ")")
	if err != nil || len(shows) == 0 {
		t.Fatalf("photos of %s: %v %v", a.ClusterID, shows, err)
	}
	if err := c.SetPersonCover(ctx, a.ClusterID, shows[len(shows)-1], nil); err != nil {
		t.Fatal(err)
	}
	if p := srv.People()[0]; p.Name != "Ada" || p.Cover != shows[len(shows)-1] {
		t.Fatalf("emulator person after RenamePerson, SetPersonCover: %+v", p)
	}
	ids, _ := srv.IDs("")
	if err := c.MergePeople(ctx, []string{a.ClusterID, b.ClusterID}, "Ada B", nil); err != nil {
		t.Fatal(err)
	}
	now := srv.People()
	i := slices.IndexFunc(now, func(p emulator.Person) bool { return p.ClusterID == a.ClusterID })
	if i < 0 || now[i].Name != "Ada B" || !slices.Contains(now[i].Aliases, b.ClusterID) {
		t.Fatalf("emulator people after MergePeople: %+v", now)
	}
	fam := srv.FamilyID()
	res, err := c.FamilyArchive(ctx, fam, ids[:2], nil, nil)
	if err != nil || len(res.Failed) != 0 {
		t.Fatalf("FamilyArchive add: %v %v", res.Failed, err)
	}
	if v := srv.VaultIDs(); !slices.Contains(v, ids[0]) || !slices.Contains(v, ids[1]) {
		t.Fatalf("emulator vault %v lacks %v", v, ids[:2])
	}
	if res, err = c.FamilyArchive(ctx, fam, nil, ids[:1], nil); err != nil || len(res.Failed) != 0 {
		t.Fatalf("FamilyArchive remove: %v %v", res.Failed, err)
	}
	if v := srv.VaultIDs(); slices.Contains(v, ids[0]) {
		t.Fatalf("emulator vault %v still has %s", v, ids[0])
	}
}

func TestEndpointsTransfer(t *testing.T) {
	srv, c := newEmulated(t, emulator.Options{Nodes: 50, Seed: 7}, nil)
	ctx := t.Context()
	data := bytes.Repeat([]byte("endpoint bytes "), 1000)
	sum := md5.Sum(data)
	up := fetch.Upload{Name: "up.bin", ParentID: srv.RootID(), Size: int64(len(data)), MD5: hex.EncodeToString(sum[:]),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	for _, v2 := range []bool{false, true} {
		up.V2 = v2
		if v2 {
			up.Name = "up2.bin"
			v2data := append([]byte("v2 "), data...)
			s := md5.Sum(v2data)
			up.Size, up.MD5 = int64(len(v2data)), hex.EncodeToString(s[:])
			up.Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(v2data)), nil }
			data = v2data
		}
		n, err := c.UploadFile(ctx, up)
		if err != nil {
			t.Fatalf("UploadFile v2=%v: %v", v2, err)
		}
		if got, ok := srv.Content(n.ID); !ok || !bytes.Equal(got, data) {
			t.Fatalf("emulator content of %s differs from the upload (v2=%v)", n.ID, v2)
		}
	}
	n, err := c.UploadFile(ctx, up)
	var ae *fetch.APIError
	if !errors.As(err, &ae) || ae.Status != 409 || ae.NodeID == "" {
		t.Fatalf("UploadFile again: %+v %v, want 409 naming the first", n, err)
	}
	id := ae.NodeID
	repl := bytes.Repeat([]byte("new content "), 500)
	rn, err := c.ReplaceContent(ctx, id, "up2.bin", int64(len(repl)),
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(repl)), nil }, nil)
	rs := md5.Sum(repl)
	if err != nil || rn.ID != id || rn.ContentProperties.MD5 != hex.EncodeToString(rs[:]) {
		t.Fatalf("ReplaceContent: %+v %v", rn, err)
	}
	if got, _ := srv.Content(id); !bytes.Equal(got, repl) {
		t.Fatal("emulator content after ReplaceContent differs")
	}
	owner, err := c.OwnerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	body, err := c.OpenContent(ctx, id, owner, 100)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if err != nil || !bytes.Equal(got, repl[100:]) {
		t.Fatalf("OpenContent from 100: %d bytes, %v", len(got), err)
	}
	ids, _ := srv.IDs("type:PHOTOS")
	th, err := c.Thumbnail(ctx, ids[0], owner, 64)
	if err != nil || len(th) == 0 || len(th) > fetch.MaxThumbnailBytes {
		t.Fatalf("Thumbnail: %d bytes, %v", len(th), err)
	}
	if th, err := c.ThumbnailBox(ctx, ids[0], owner, 16, 16); err != nil || len(th) == 0 {
		t.Fatalf("ThumbnailBox: %d bytes, %v", len(th), err)
	}
	if _, err := c.Thumbnail(ctx, "AAAAAAAAAAAAAAAAAAAAAA", owner, 64); !errors.Is(err, fetch.ErrNodeGone) {
		t.Fatalf("Thumbnail of an unknown id: %v, want ErrNodeGone", err)
	}
	rec, info, err := c.SearchRecords(ctx, fetch.SearchQuery{Filter: "type:(PHOTOS OR VIDEOS)", Limit: 10}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	want, _ := srv.Count("type:(PHOTOS OR VIDEOS)")
	if rec.NumRows() != 10 || info.Count != want {
		t.Fatalf("SearchRecords: %d rows, count %d; the emulator has %d", rec.NumRows(), info.Count, want)
	}
}
