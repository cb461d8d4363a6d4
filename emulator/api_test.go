package emulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestAuth(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 50})
	good := s.Cookies()
	with := func(edit func(m map[string]string)) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		edit(m)
		return m
	}
	underscore := with(func(m map[string]string) {
		m["ubid_main"], m["at_main"] = m["ubid-main"], m["at-main"]
		delete(m, "ubid-main")
		delete(m, "at-main")
	})
	tests := []struct {
		name    string
		cookies map[string]string
		header  string
		path    string
		want    int
		body    func(jmsg) bool
	}{
		{"issued cookies", good, "", "/drive/v1/account/info", 200, nil},
		{"matching x-amzn-sessionid", good, good["session-id"], "/drive/v1/account/info", 200, nil},
		{"wrong x-amzn-sessionid", good, "000-0000000-0000000", "/drive/v1/account/info", 401, nil},
		{"no cookies", map[string]string{}, "", "/drive/v1/account/info", 401,
			func(m jmsg) bool { return m.Message == "No Auth Method Provided" && m.Logref == "" }},
		{"missing at-main", with(func(m map[string]string) { delete(m, "at-main") }), "", "/drive/v1/search", 401, nil},
		{"underscore names like the upstream README", underscore, "", "/drive/v1/search", 401,
			func(m jmsg) bool { return m.Message == "No Auth Method Provided" }},
		{"wrong value", with(func(m map[string]string) { m["at-main"] = "Atza|expired" }), "", "/drive/v1/nodes", 401, nil},
		{"another region's names", with(func(m map[string]string) {
			m["ubid-acbuk"], m["at-acbuk"] = m["ubid-main"], m["at-main"]
			delete(m, "ubid-main")
			delete(m, "at-main")
		}), "", "/drive/v1/nodes", 401, nil},
		{"cdproxy body has logref and code", map[string]string{}, "", "/cdproxy/nodes/x/content", 401,
			func(m jmsg) bool { return m.Message == "No Auth Method Provided" && m.Logref != "" && m.Code != nil }},
		{"thumbnail body is capitalised", map[string]string{}, "", "/v1/thumbnail/x?ownerId=" + s.OwnerID(), 401,
			func(m jmsg) bool { return m.Message2 == "No Auth Method Provided" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.cookies, c.header = tt.cookies, http.Header{}
			if tt.header != "" {
				c.header.Set("x-amzn-sessionid", tt.header)
			}
			resp, b := c.do("GET", tt.path, nil)
			if resp.StatusCode != tt.want {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, resp.StatusCode, b, tt.want)
			}
			if tt.body != nil {
				var m jmsg
				if err := json.Unmarshal(b, &m); err != nil || !tt.body(m) {
					t.Errorf("GET %s body = %s (err %v), not the expected 401 shape", tt.path, b, err)
				}
			}
		})
	}
}

func TestRegionCookies(t *testing.T) {
	tests := []struct {
		region string
		names  []string
	}{
		{"", []string{"at-main", "session-id", "ubid-main"}},
		{"uk", []string{"at-acbuk", "session-id", "ubid-acbuk"}},
		{"CA", []string{"at-acbca", "session-id", "ubid-acbca"}},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			s, c := startSmall(t, Options{Nodes: 10, Region: tt.region})
			var names []string
			for k := range s.Cookies() {
				names = append(names, k)
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.names) {
				t.Fatalf("Cookies() names = %v, want %v", names, tt.names)
			}
			c.get("/drive/v1/account/info", 200, nil)
		})
	}
	if _, err := New(Options{Nodes: 10, Region: "united kingdom"}); err == nil {
		t.Error("New(Region: \"united kingdom\") succeeded, want an error")
	}
}

func TestExpireCookies(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 10})
	c.get("/drive/v1/account/info", 200, nil)
	s.ExpireCookies()
	c.get("/drive/v1/account/info", 401, nil)
	c.get("/drive/v1/search", 401, nil)
	s.RenewCookies()
	c.get("/drive/v1/account/info", 200, nil)
}

func TestSearchPagingAndCounts(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 1500})
	want, err := s.IDs("")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for off := 0; ; off += 200 {
		var page jlist
		c.get("/drive/v1/search?"+q("filters", "type:(PHOTOS OR VIDEOS)", "limit", "200", "offset", strconv.Itoa(off))+"&"+v2, 200, &page)
		if page.Count != len(want) {
			t.Fatalf("page at %d: count = %d, want %d", off, page.Count, len(want))
		}
		if len(page.Aggregations) != 8 {
			t.Fatalf("aggregations has %d keys, want 8", len(page.Aggregations))
		}
		for _, n := range page.Data {
			got = append(got, n.ID)
			if n.Status != "AVAILABLE" || n.Kind != "FILE" {
				t.Fatalf("search returned %s %s %s", n.ID, n.Kind, n.Status)
			}
		}
		if len(page.Data) < 200 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %d ids, want %d in the default order", len(got), len(want))
	}
}

func TestSearchSortFilterAndErrors(t *testing.T) {
	_, c := startSmall(t, Options{Nodes: 600})
	tests := []struct {
		name   string
		query  string
		status int
		check  func(t *testing.T, body []byte)
	}{
		{"createdDate DESC in single quotes", q("sort", "['createdDate DESC']", "limit", "200"), 200, sortedBy(func(n jnode) string { return n.CreatedDate }, true)},
		{"createdDate ASC in double quotes", q("sort", `["createdDate ASC"]`, "limit", "200"), 200, sortedBy(func(n jnode) string { return n.CreatedDate }, false)},
		{"default is contentDate DESC", q("limit", "200"), 200, sortedBy(func(n jnode) string { return n.ContentProperties.ContentDate }, true)},
		{"name ASC", q("sort", "['name ASC']", "limit", "50"), 200, sortedBy(func(n jnode) string { return *n.Name }, false)},
		{"no offset cap on search", q("offset", "10000", "limit", "200"), 200, nil},
		{"videos only", q("filters", "type:(VIDEOS)"), 200, func(t *testing.T, b []byte) {
			var l jlist
			mustJSON(t, b, &l)
			for _, n := range l.Data {
				if !strings.HasPrefix(n.ContentProperties.ContentType, "video/") {
					t.Errorf("type:(VIDEOS) returned %s", n.ContentProperties.ContentType)
				}
			}
		}},
		{"albums", q("filters", "type:(ALBUMS)"), 200, func(t *testing.T, b []byte) {
			var l jlist
			mustJSON(t, b, &l)
			if l.Count != len(albumNames) || l.Data[0].Kind != "VISUAL_COLLECTION" {
				t.Errorf("type:(ALBUMS) count = %d, first kind %q", l.Count, l.Data[0].Kind)
			}
		}},
		{"bad filter", q("filters", "type:(PHOTOS"), 400, messagePrefix("Invalid filter: ")},
		{"node field in search", q("filters", "kind:FILE"), 400, func(t *testing.T, b []byte) {
			t.Helper()
			messagePrefix("Invalid filter: ")(t, b)
			if strings.Contains(string(b), "FIND") || strings.Contains(string(b), "; use") {
				t.Errorf("the service's message carries apsql's advice: %s", b)
			}
		}},
		{"bad sort", q("sort", "['bogus DESC']"), 400, messagePrefix("Invalid sort: ")},
		{"limit over 200", q("limit", "201"), 400, messageIs(msgLimit)},
		{"negative offset", q("offset", "-1"), 400, messagePrefix("Invalid offset")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := c.get("/drive/v1/search?"+tt.query, tt.status, nil)
			if tt.check != nil {
				tt.check(t, b)
			}
		})
	}
}

func TestAggregations(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 2000})
	var page struct {
		Aggregations map[string][]struct {
			Match      string          `json:"match"`
			Count      int             `json:"count"`
			SearchData json.RawMessage `json:"searchData"`
		} `json:"aggregations"`
	}
	c.get("/drive/v1/search?"+q("limit", "1", "searchContext", "all", "groupByForTime", "year"), 200, &page)
	for _, cat := range searchCategories {
		if _, ok := page.Aggregations[cat]; !ok {
			t.Errorf("aggregations lacks %q", cat)
		}
	}
	tests := []struct {
		category string
		filter   func(value string) string
	}{
		{"things", func(v string) string { return "things:(" + v + ")" }},
		{"people", func(v string) string { return "people:(" + v + ")" }},
		{"location", func(v string) string { return "location:(" + v + ")" }},
		{"time", func(v string) string { return "timeYear:(" + v + ")" }},
		{"type", func(v string) string { return "type:(" + v + ")" }},
		{"favorite", func(string) string { return "favorite:(true)" }},
	}
	for _, tt := range tests {
		t.Run(tt.category, func(t *testing.T) {
			var agg struct {
				Category     string `json:"category"`
				Aggregations []struct {
					Value  string `json:"value"`
					Count  int    `json:"count"`
					NodeID string `json:"nodeId"`
				} `json:"aggregations"`
			}
			c.get("/drive/v1/search/aggregation?"+q("category", tt.category, "aggregationContext", "all")+"&"+v2, 200, &agg)
			if agg.Category != tt.category || len(agg.Aggregations) == 0 {
				t.Fatalf("aggregation %s = %+v", tt.category, agg)
			}
			for _, a := range agg.Aggregations[:min(3, len(agg.Aggregations))] {
				f := tt.filter(a.Value)
				if tt.category == "type" && a.Value == "ALBUMS" {
					continue
				}
				n, err := s.Count(f)
				if err != nil {
					t.Fatal(err)
				}
				if n != a.Count {
					t.Errorf("%s %q count = %d, but search %s finds %d", tt.category, a.Value, a.Count, f, n)
				}
				if a.NodeID == "" {
					t.Errorf("%s %q has no nodeId", tt.category, a.Value)
				}
			}
		})
	}
	c.get("/drive/v1/search/aggregation?category=bogus", 400, nil)
}

func TestNodesListing(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 300})
	tests := []struct {
		name   string
		path   string
		status int
		check  func(t *testing.T, b []byte)
	}{
		{"root", "/drive/v1/nodes?" + q("filters", "isRoot:true") + "&" + v2, 200, func(t *testing.T, b []byte) {
			var l jlist
			mustJSON(t, b, &l)
			if l.Count != 1 || !l.Data[0].IsRoot || l.Data[0].Kind != "FOLDER" || len(l.Data[0].Parents) != 0 || l.Data[0].ID != s.RootID() {
				t.Errorf("root listing = %s", b)
			}
		}},
		{"folders", "/drive/v1/nodes?" + q("filters", "kind:FOLDER"), 200, countIs(1 + len(folderSpecs))},
		{"trash via node filter", "/drive/v1/nodes?" + q("filters", "kind:(FILE* OR FOLDER*) AND status:(TRASH*)"), 200, countIs(len(s.State().TrashIDs))},
		{"offset+limit 9999 is allowed", "/drive/v1/nodes?" + q("offset", "9799", "limit", "200"), 200, nil},
		{"offset+limit over 9999", "/drive/v1/nodes?" + q("offset", "9800", "limit", "200"), 400, exactBody(`{"message":"Offset + limit cannot be greater than 9999"}`)},
		{"limit over 200", "/drive/v1/nodes?" + q("limit", "500"), 400, messageIs(msgLimit)},
		{"bad filter", "/drive/v1/nodes?" + q("filters", "name:(a OR"), 400, messagePrefix("Invalid filter: ")},
		{"search field in node filter", "/drive/v1/nodes?" + q("filters", "type:(PHOTOS)"), 400, messagePrefix("Invalid filter: ")},
		{"unknown node", "/drive/v1/nodes/AAAAAAAAAAAAAAAAAAAAAA?" + v2, 404, func(t *testing.T, b []byte) {
			var m jmsg
			mustJSON(t, b, &m)
			if m.Code == nil || *m.Code != "NODE_NOT_FOUND" {
				t.Errorf("404 body = %s", b)
			}
		}},
		{"children of Pictures", "/drive/v1/nodes/" + folderID(t, s, "Pictures") + "/children?" + q("filters", "kind:FOLDER") + "&" + v2, 200, countIs(2)},
		{"children offset cap", "/drive/v1/nodes/" + folderID(t, s, "Pictures") + "/children?" + q("offset", "9999", "limit", "1"), 400, messageIs(msgOffsetCap)},
		{"trash offset cap", "/drive/v1/trash?" + q("offset", "9990", "limit", "10"), 400, messageIs(msgOffsetCap)},
		{"unknown path", "/drive/v1/bogus", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := c.get(tt.path, tt.status, nil)
			if tt.check != nil {
				tt.check(t, b)
			}
		})
	}
}

func TestNodeResourceVersion(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 20})
	ids, _ := s.IDs("")
	photo := ids[0]
	var m jmsg
	mustJSON(t, c.get("/drive/v1/nodes/"+photo, 404, nil), &m)
	if m.Message != "Node not found for ResourceVersion V1" {
		t.Errorf("V1 GET message = %q", m.Message)
	}
	var n jnode
	c.get("/drive/v1/nodes/"+photo+"?resourceVersion=V2&tempLink=true", 200, &n)
	if n.ID != photo || n.TempLink == "" || n.ContentProperties == nil {
		t.Errorf("GET node = %+v", n)
	}
	c.get("/drive/v1/nodes/"+s.RootID(), 200, nil) // folders need no V2
}

func TestCreateRenameAndConflicts(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 30})
	web := folderID(t, s, "Pictures/Web")
	resp, b := c.do("POST", "/drive/v1/nodes?"+v2, map[string]any{"kind": "FOLDER", "name": "Trips", "parents": []string{web}, "resourceVersion": "V2"})
	if resp.StatusCode != 201 {
		t.Fatalf("create folder = %d %s", resp.StatusCode, b)
	}
	var trips jnode
	mustJSON(t, b, &trips)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		check  func(t *testing.T, b []byte)
	}{
		{"same name other case", "POST", "/drive/v1/nodes", map[string]any{"kind": "FOLDER", "name": "TRIPS", "parents": []string{web}}, 409, func(t *testing.T, b []byte) {
			var m jmsg
			mustJSON(t, b, &m)
			if m.Code == nil || *m.Code != "NAME_ALREADY_EXISTS" || m.Info == nil || m.Info.NodeID != trips.ID || m.Logref == "" ||
				!strings.Contains(m.Message, "conflicting NodeId: "+trips.ID) {
				t.Errorf("409 body = %s", b)
			}
		}},
		{"same name elsewhere", "POST", "/drive/v1/nodes", map[string]any{"kind": "FOLDER", "name": "Trips", "parents": []string{s.RootID()}}, 201, nil},
		{"no parent", "POST", "/drive/v1/nodes", map[string]any{"kind": "FOLDER", "name": "X"}, 400, nil},
		{"slash in name", "POST", "/drive/v1/nodes", map[string]any{"kind": "FOLDER", "name": "a/b", "parents": []string{web}}, 400, nil},
		{"album without V2", "POST", "/drive/v1/nodes", map[string]any{"kind": "VISUAL_COLLECTION", "name": "A"}, 400, messageIs("Invalid Kind VISUAL_COLLECTION")},
		{"album with V2 in body", "POST", "/drive/v1/nodes", map[string]any{"kind": "VISUAL_COLLECTION", "name": "A", "resourceVersion": "V2", "ContentType": "JSON"}, 201, nil},
		{"bad kind", "POST", "/drive/v1/nodes", map[string]any{"kind": "FILE", "name": "f"}, 400, nil},
		{"rename folder", "PATCH", "/drive/v1/nodes/" + trips.ID, map[string]any{"name": "Voyages"}, 200, func(t *testing.T, b []byte) {
			var n jnode
			mustJSON(t, b, &n)
			if *n.Name != "Voyages" || n.Version <= trips.Version {
				t.Errorf("renamed node = %s", b)
			}
		}},
		{"rename onto a sibling", "PATCH", "/drive/v1/nodes/" + trips.ID, map[string]any{"name": "foo"}, 409, nil},
		{"invalid json", "PATCH", "/drive/v1/nodes/" + trips.ID, []byte("{"), 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := c.do(tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, b, tt.status)
			}
			if tt.check != nil {
				tt.check(t, b)
			}
		})
	}
	if _, ok := s.FolderID("Pictures/Web/Voyages"); !ok {
		t.Error("the renamed folder is not at Pictures/Web/Voyages")
	}
}

func TestSettingsReflectedInSearch(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 400})
	before, _ := s.Count("favorite:(true)")
	ids, _ := s.IDs("favorite:(false)")
	for _, id := range ids[:3] {
		var n jnode
		resp, b := c.do("PATCH", "/drive/v1/nodes/"+id, map[string]any{"settings": map[string]bool{"favorite": true}, "resourceVersion": "V2"})
		mustJSON(t, b, &n)
		if resp.StatusCode != 200 || !n.Settings.Favorite {
			t.Fatalf("favorite %s = %d %s", id, resp.StatusCode, b)
		}
	}
	resp, b := c.do("PATCH", "/drive/v1/nodes/"+ids[3]+"?"+v2, map[string]any{"settings": map[string]bool{"hidden": true}})
	if resp.StatusCode != 200 {
		t.Fatalf("hide = %d %s", resp.StatusCode, b)
	}
	var page jlist
	c.get("/drive/v1/search?"+q("filters", "favorite:(true)", "limit", "1"), 200, &page)
	if page.Count != before+3 {
		t.Errorf("favorite count = %d, want %d", page.Count, before+3)
	}
	var hidden jlist
	c.get("/drive/v1/nodes?"+q("filters", "settings.hidden:true"), 200, &hidden)
	if !slices.ContainsFunc(hidden.Data, func(n jnode) bool { return n.ID == ids[3] }) {
		t.Errorf("settings.hidden:true does not list %s", ids[3])
	}
	// Without V2 a photo cannot be patched.
	if resp, _ := c.do("PATCH", "/drive/v1/nodes/"+ids[4], map[string]any{"settings": map[string]bool{"hidden": true}}); resp.StatusCode != 404 {
		t.Errorf("PATCH without V2 = %d, want 404", resp.StatusCode)
	}
}

func TestAlbums(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 300})
	resp, b := c.do("POST", "/drive/v1/nodes?"+v2, map[string]any{"kind": "VISUAL_COLLECTION", "name": "Test album"})
	if resp.StatusCode != 201 {
		t.Fatalf("create album = %d %s", resp.StatusCode, b)
	}
	var album jnode
	mustJSON(t, b, &album)
	photos, _ := s.IDs("type:(PHOTOS)")
	var members []string
	for _, id := range photos {
		var n jnode
		mustJSON(t, mustNode(t, s, id), &n)
		if n.ContentProperties.Image != nil && len(members) < 3 {
			members = append(members, id)
		}
	}
	tests := []struct {
		name    string
		body    any
		status  int
		members int
	}{
		{"add photos", map[string]any{"op": "add", "value": members, "resourceVersion": "V2"}, 200, 3},
		{"add again is a no-op", map[string]any{"op": "add", "value": members[:1], "resourceVersion": "V2"}, 200, 3},
		{"add a folder", map[string]any{"op": "add", "value": []string{s.RootID()}, "resourceVersion": "V2"}, 400, 3},
		{"add unknown", map[string]any{"op": "add", "value": []string{"AAAAAAAAAAAAAAAAAAAAAA"}, "resourceVersion": "V2"}, 404, 3},
		{"without V2", map[string]any{"op": "add", "value": members}, 404, 3},
		{"bad op", map[string]any{"op": "move", "value": members, "resourceVersion": "V2"}, 400, 3},
		{"remove one", map[string]any{"op": "remove", "value": members[:1], "resourceVersion": "V2"}, 200, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := c.do("PATCH", "/drive/v1/nodes/"+album.ID+"/children", tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("PATCH children = %d %s, want %d", resp.StatusCode, b, tt.status)
			}
			if tt.status == 400 && strings.Contains(tt.name, "folder") {
				var m jmsg
				mustJSON(t, b, &m)
				if m.Message != "Improper child kind" {
					t.Errorf("message = %q, want Improper child kind", m.Message)
				}
			}
			var l jlist
			c.get("/drive/v1/nodes/"+album.ID+"/children?"+v2, 200, &l)
			if l.Count != tt.members {
				t.Errorf("album has %d members, want %d", l.Count, tt.members)
			}
		})
	}
	if got := s.State().Albums["Test album"]; got != 2 {
		t.Errorf("state album members = %d, want 2", got)
	}
}

func TestTrashRestorePurge(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 500})
	ids, _ := s.IDs("type:(PHOTOS)")
	batch := ids[:5]
	count0, _ := s.Count("")
	usage0 := s.Usage().Categories["photo"]
	var trash0 jlist
	c.get("/drive/v1/trash?"+v2, 200, &trash0)

	var sizes int64
	for _, id := range batch {
		var n jnode
		mustJSON(t, mustNode(t, s, id), &n)
		sizes += n.ContentProperties.Size
	}
	patch := func(op string, ids []string) (int, map[string]int) {
		resp, b := c.do("PATCH", "/drive/v1/trash", map[string]any{"recurse": "true", "op": op, "filters": "", "conflictResolution": "RENAME", "value": ids, "resourceVersion": "V2", "ContentType": "JSON"})
		var r struct{ ErrorMap map[string]int }
		_ = json.Unmarshal(b, &r)
		return resp.StatusCode, r.ErrorMap
	}
	if code, em := patch("add", append(batch, "AAAAAAAAAAAAAAAAAAAAAA")); code != 200 || em["AAAAAAAAAAAAAAAAAAAAAA"] != 404 || len(em) != 1 {
		t.Fatalf("trash = %d %v", code, em)
	}
	if n, _ := s.Count(""); n != count0-5 {
		t.Errorf("search count after trash = %d, want %d", n, count0-5)
	}
	if u := s.Usage().Categories["photo"]; u.TotalCount != usage0.TotalCount-5 || u.TotalBytes != usage0.TotalBytes-sizes {
		t.Errorf("photo usage after trash = %+v, want count %d bytes %d", u, usage0.TotalCount-5, usage0.TotalBytes-sizes)
	}
	var trash jlist
	c.get("/drive/v1/trash?"+q("sort", "['modifiedDate DESC']", "limit", "200")+"&"+v2, 200, &trash)
	if trash.Count != trash0.Count+5 {
		t.Errorf("trash count = %d, want %d", trash.Count, trash0.Count+5)
	}
	for _, n := range trash.Data[:5] {
		if !slices.Contains(batch, n.ID) || n.Status != "TRASH" {
			t.Errorf("newest trash entry %s (%s) is not from the batch", n.ID, n.Status)
		}
	}
	if code, _ := patch("add", make([]string, 51)); code != 400 {
		t.Errorf("trash of 51 ids = %d, want 400", code)
	}
	if code, em := patch("remove", batch[:2]); code != 200 || len(em) != 0 {
		t.Errorf("restore = %d %v", code, em)
	}
	if n, _ := s.Count(""); n != count0-3 {
		t.Errorf("search count after restore = %d, want %d", n, count0-3)
	}
	purge := func(ids []string) (int, []byte) {
		resp, b := c.do("POST", "/drive/v1/bulk/nodes/purge", map[string]any{"recurse": "false", "nodeIds": ids, "resourceVersion": "V2", "ContentType": "JSON"})
		return resp.StatusCode, b
	}
	code, b := purge(append(batch[1:], ids[10]))
	var pr struct{ ErrorMap map[string]int }
	mustJSON(t, b, &pr)
	if code != 200 || len(pr.ErrorMap) != 2 || pr.ErrorMap[batch[1]] != 409 || pr.ErrorMap[ids[10]] != 409 {
		t.Errorf("purge = %d %s, want 409 for the two nodes not in trash", code, b)
	}
	for _, id := range batch[2:] {
		c.get("/drive/v1/nodes/"+id+"?"+v2, 404, nil)
	}
	if code, b := purge(make([]string, 51)); code != 400 || !strings.Contains(string(b), msgBatch) {
		t.Errorf("purge of 51 = %d %s", code, b)
	}
	st := s.State()
	if st.ByStatus["PURGED"] != 3 || slices.Contains(st.TrashIDs, batch[2]) {
		t.Errorf("state after purge: purged %d, trash %v", st.ByStatus["PURGED"], st.TrashIDs)
	}
}

func TestTrashFolderSubtree(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 400})
	web := folderID(t, s, "Pictures/Web")
	foo := folderID(t, s, "Pictures/Web/foo")
	var kids jlist
	c.get("/drive/v1/nodes/"+foo+"/children?"+v2, 200, &kids)
	if kids.Count == 0 {
		t.Skip("no files in Pictures/Web/foo for this seed")
	}
	before, _ := s.Count("")
	if err := s.TrashIDs(web); err != nil {
		t.Fatal(err)
	}
	var n jnode
	mustJSON(t, mustNode(t, s, kids.Data[0].ID), &n)
	if n.Status != "TRASH" {
		t.Errorf("grandchild of a trashed folder has status %s", n.Status)
	}
	if err := s.RestoreIDs(web); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.Count(""); after != before {
		t.Errorf("search count after folder trash+restore = %d, want %d", after, before)
	}
}

// TestPurgeFolderKeepsRestoredChild: a file restored on its own from a
// trashed folder is AVAILABLE, and purging the folder does not take it
// (a node not in trash is never purged).
func TestPurgeFolderKeepsRestoredChild(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 50})
	dir, err := s.MkdirAll("Kept")
	if err != nil {
		t.Fatal(err)
	}
	x, err := s.Upload("Kept", "x.txt", []byte("keep me"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TrashIDs(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.RestoreIDs(x); err != nil {
		t.Fatal(err)
	}
	resp, b := c.do("POST", "/drive/v1/bulk/nodes/purge", map[string]any{"nodeIds": []string{dir}, "resourceVersion": "V2"})
	if resp.StatusCode != 200 || string(b) != `{"errorMap":{}}` {
		t.Fatalf("purge of the folder = %d %s", resp.StatusCode, b)
	}
	var n jnode
	mustJSON(t, mustNode(t, s, x), &n)
	if n.Status != "AVAILABLE" {
		t.Errorf("the restored child has status %s after its folder was purged", n.Status)
	}
}

// TestPhotoKindsNeedV2: without resourceVersion=V2 the photo kinds are not
// found (API.md §1.2) on every node operation, not only GET /nodes/{id}.
func TestPhotoKindsNeedV2(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 60})
	ids, _ := s.IDs("type:(PHOTOS)")
	album, err := s.CreateAlbum("A", ids[:2]...)
	if err != nil {
		t.Fatal(err)
	}
	b := c.get("/drive/v1/nodes/"+album+"/children", 404, nil)
	if !strings.Contains(string(b), "ResourceVersion V1") {
		t.Errorf("album children without V2: %s", b)
	}
	c.get("/drive/v1/nodes/"+album+"/children?"+v2, 200, nil)
	for _, req := range []struct{ path, method string }{{"/drive/v1/trash", "PATCH"}, {"/drive/v1/bulk/nodes/purge", "POST"}} {
		body := map[string]any{"op": "add", "value": ids[2:3], "nodeIds": ids[2:3]}
		resp, b := c.do(req.method, req.path, body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"`+ids[2]+`":404`) {
			t.Errorf("%s %s of a photo without V2 = %d %s, want its id 404 in errorMap", req.method, req.path, resp.StatusCode, b)
		}
	}
	var n jnode
	mustJSON(t, mustNode(t, s, ids[2]), &n)
	if n.Status != "AVAILABLE" {
		t.Errorf("a V1 PATCH /trash changed the photo: %s", n.Status)
	}
}

func TestDeleteNodeIsForbidden(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 20})
	ids, _ := s.IDs("type:(PHOTOS)")
	resp, b := c.do("DELETE", "/drive/v1/nodes/"+ids[0]+"?"+v2, nil)
	if resp.StatusCode != http.StatusForbidden || string(b) != `{"message":"Insufficient permissions granted for operation: purgeNode"}` {
		t.Errorf("DELETE /nodes/{id} = %d %s, want API.md's 403", resp.StatusCode, b)
	}
}

func TestAccount(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 300})
	var usage map[string]json.RawMessage
	c.get("/drive/v1/account/usage?"+v2, 200, &usage)
	for _, k := range []string{"lastCalculated", "photo", "video", "doc", "other"} {
		if _, ok := usage[k]; !ok {
			t.Errorf("usage lacks %q", k)
		}
	}
	var photo struct {
		Total struct{ Bytes, Count int64 }
	}
	mustJSON(t, usage["photo"], &photo)
	n, _ := s.Count("type:(PHOTOS)")
	if photo.Total.Count != int64(n) {
		t.Errorf("usage photo count = %d, search finds %d", photo.Total.Count, n)
	}
	var info map[string]string
	c.get("/drive/v1/account/info", 200, &info)
	if info["status"] != "ACTIVE" {
		t.Errorf("account/info = %v", info)
	}
	c.get("/drive/v1/account/quota", 200, nil)
	c.get("/drive/v1/account/endpoint", 200, nil)
}

func TestStateEndpoint(t *testing.T) {
	_, c := startSmall(t, Options{Nodes: 100})
	c.get("/_emulator/state", 404, nil) // off unless asked for

	s, c2 := startSmall(t, Options{Nodes: 100, State: true})
	c2.cookies = nil
	var st State
	c2.get("/_emulator/state", 200, &st)
	if st.Photos+st.Videos != 100-len(st.TrashIDs) || st.RootID != s.RootID() || st.Folders["Pictures/Web"] == "" {
		t.Errorf("state = %+v", st)
	}
	if resp, _ := c2.do("POST", "/_emulator/faults?fail-rate=2", nil); resp.StatusCode != 400 {
		t.Errorf("faults fail-rate=2 = %d, want 400", resp.StatusCode)
	}
	if resp, _ := c2.do("POST", "/_emulator/expire-cookies", nil); resp.StatusCode != 204 {
		t.Errorf("expire-cookies = %d", resp.StatusCode)
	}
	c2.cookies = s.Cookies()
	c2.get("/drive/v1/account/info", 401, nil)
}

func TestStats(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 10})
	c.get("/drive/v1/account/info", 200, nil)
	c.get("/drive/v1/nodes?limit=999", 400, nil)
	st := s.Stats()
	if st.Count("GET /drive/v1/account/info", 200) != 1 || st.Count("GET /drive/v1/nodes", 400) != 1 || st.Requests != 2 {
		t.Errorf("stats = %+v", st)
	}
	s.ResetStats()
	if s.Stats().Requests != 0 {
		t.Error("ResetStats left requests")
	}
}

// helpers

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

func mustNode(t *testing.T, s *Server, id string) []byte {
	t.Helper()
	b, ok := s.Node(id)
	if !ok {
		t.Fatalf("Node(%s) not found", id)
	}
	return b
}

func folderID(t *testing.T, s *Server, path string) string {
	t.Helper()
	id, ok := s.FolderID(path)
	if !ok {
		t.Fatalf("no folder %s", path)
	}
	return id
}

func countIs(n int) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		var l jlist
		mustJSON(t, b, &l)
		if l.Count != n {
			t.Errorf("count = %d, want %d", l.Count, n)
		}
	}
}

func messageIs(msg string) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		var m jmsg
		mustJSON(t, b, &m)
		if m.Message != msg {
			t.Errorf("message = %q, want %q", m.Message, msg)
		}
	}
}

func messagePrefix(p string) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		var m jmsg
		mustJSON(t, b, &m)
		if !strings.HasPrefix(m.Message, p) || len(m.Message) == len(p) {
			t.Errorf("message = %q, want %q and a detail", m.Message, p)
		}
	}
}

func exactBody(want string) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		if string(b) != want {
			t.Errorf("body = %s, want %s", b, want)
		}
	}
}

func sortedBy(key func(jnode) string, desc bool) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		var l jlist
		mustJSON(t, b, &l)
		for i := 1; i < len(l.Data); i++ {
			a, c := key(l.Data[i-1]), key(l.Data[i])
			if (desc && a < c) || (!desc && a > c) {
				t.Fatalf("data[%d]=%q then data[%d]=%q: not sorted (desc=%v)", i-1, a, i, c, desc)
			}
		}
		if len(l.Data) < 2 {
			t.Fatalf("only %d nodes to check", len(l.Data))
		}
	}
}
