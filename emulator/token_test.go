package emulator

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tokenPage is a listing page with the nextToken the tests follow.
type tokenPage struct {
	Count int `json:"count"`
	Data  []struct {
		ID string `json:"id"`
	} `json:"data"`
	NextToken *string `json:"nextToken"`
}

// ids returns the ids of the page's nodes.
func (p tokenPage) ids() []string {
	ids := make([]string, len(p.Data))
	for k, n := range p.Data {
		ids[k] = n.ID
	}
	return ids
}

// withQuery appends query parameters to path, which may have some already.
func withQuery(path string, params ...string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + q(params...)
}

// pageByToken lists path from the start by nextToken, limit items a page,
// checking that only the last page lacks a token. It returns the ids in
// order and the count the pages reported.
func pageByToken(t *testing.T, c *client, path string, limit int) (ids []string, count int) {
	t.Helper()
	var p tokenPage
	c.get(withQuery(path, "limit", strconv.Itoa(limit)), 200, &p)
	for {
		ids = append(ids, p.ids()...)
		if p.NextToken == nil {
			break
		}
		if len(p.Data) != limit {
			t.Fatalf("%s: page of %d items at %d has a nextToken, want only full pages to", path, len(p.Data), len(ids))
		}
		tok := *p.NextToken
		p = tokenPage{}
		c.get(withQuery(path, "limit", strconv.Itoa(limit), "startToken", tok), 200, &p)
	}
	if len(ids) != p.Count {
		t.Fatalf("%s: token paging ended after %d items without nextToken, but count is %d", path, len(ids), p.Count)
	}
	return ids, p.Count
}

// pageByOffset lists path by offset, limit items a page, as a client without
// tokens does.
func pageByOffset(t *testing.T, c *client, path string, limit int) []string {
	t.Helper()
	var ids []string
	for off := 0; ; off += limit {
		var p tokenPage
		c.get(withQuery(path, "limit", strconv.Itoa(limit), "offset", strconv.Itoa(off)), 200, &p)
		ids = append(ids, p.ids()...)
		if off+limit >= p.Count {
			return ids
		}
	}
}

func TestNextTokenPagesPastOffsetCap(t *testing.T) {
	_, c := startSmall(t, Options{Nodes: 10100, NextToken: true})
	ids, count := pageByToken(t, c, "/drive/v1/nodes", maxLimit)
	if count <= maxOffsetLimit {
		t.Fatalf("library has %d nodes, want more than %d to pass the offset cap", count, maxOffsetLimit)
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("token paging visited %s twice", id)
		}
		seen[id] = true
	}
}

func TestNextTokenVisitsEachItemOnce(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 1000, NextToken: true})
	tests := []struct {
		name, path string
		limit      int
	}{
		{"nodes by filter", "/drive/v1/nodes?" + q("filters", "kind:FILE", "sort", "['name ASC']"), 200},
		{"children", "/drive/v1/nodes/" + folderID(t, s, "Pictures/iPhone") + "/children", 50},
		{"trash", "/drive/v1/trash", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := pageByToken(t, c, tt.path, tt.limit)
			if want := pageByOffset(t, c, tt.path, tt.limit); !slices.Equal(got, want) {
				t.Errorf("token paging gave %d ids, offset paging %d: want the same sequence", len(got), len(want))
			}
		})
	}
}

func TestNextTokenOff(t *testing.T) {
	_, off := startSmall(t, Options{Nodes: 300})
	_, on := startSmall(t, Options{Nodes: 300, NextToken: true})
	tests := []struct {
		name string
		c    *client
		path string
	}{
		{"nodes without the option", off, "/drive/v1/nodes?limit=10"},
		{"trash without the option", off, "/drive/v1/trash?limit=1"},
		{"search never", on, "/drive/v1/search?limit=10"},
		{"last page", on, "/drive/v1/nodes?" + q("offset", "290", "limit", "200")},
		{"limit 0 (a count)", on, "/drive/v1/nodes?limit=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b := tt.c.get(tt.path, 200, nil); strings.Contains(string(b), "nextToken") {
				t.Errorf("GET %s answered a nextToken: %.200s", tt.path, b)
			}
		})
	}
	t.Run("startToken ignored without the option", func(t *testing.T) {
		var first, tokened tokenPage
		off.get("/drive/v1/nodes?limit=10", 200, &first)
		off.get("/drive/v1/nodes?"+q("limit", "10", "startToken", "bogus"), 200, &tokened)
		if !slices.Equal(first.ids(), tokened.ids()) {
			t.Errorf("startToken changed the page without NextToken: %v, want %v", tokened.ids(), first.ids())
		}
	})
}

func TestStartTokenRules(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 1000, NextToken: true})
	const files = "/drive/v1/nodes?filters=kind%3AFILE"
	var p tokenPage
	c.get(withQuery(files, "limit", "10"), 200, &p)
	tok := *p.NextToken
	want := pageByOffset(t, c, files, 10)[10:20]

	t.Run("offset is ignored, limit applies", func(t *testing.T) {
		var next tokenPage
		c.get(withQuery(files, "limit", "10", "offset", "500", "startToken", tok), 200, &next)
		if !slices.Equal(next.ids(), want) {
			t.Errorf("page by token = %v, want items 10-19 %v", next.ids(), want)
		}
		messageIs(msgLimit)(t, c.get(withQuery(files, "limit", "201", "startToken", tok), 400, nil))
	})
	t.Run("the offset cap still holds without a token", func(t *testing.T) {
		messageIs(msgOffsetCap)(t, c.get("/drive/v1/nodes?"+q("offset", "9800", "limit", "200"), 400, nil))
	})

	var kids tokenPage
	c.get("/drive/v1/nodes/"+folderID(t, s, "Pictures/iPhone")+"/children?limit=10", 200, &kids)
	invalid := exactBody(`{"message":"Invalid startToken"}`)
	flipped, mid := []byte(tok), len(tok)/2
	flipped[mid] = 'A' // another base64url character
	if tok[mid] == 'A' {
		flipped[mid] = 'B'
	}
	tests := []struct{ name, path string }{
		{"another filter", "/drive/v1/nodes?" + q("filters", "kind:FOLDER", "startToken", tok)},
		{"another sort", withQuery(files, "sort", "['name ASC']", "startToken", tok)},
		{"another listing", "/drive/v1/trash?" + q("startToken", tok)},
		{"another folder", "/drive/v1/nodes/" + folderID(t, s, "Pictures") + "/children?" + q("startToken", *kids.NextToken)},
		{"a changed character", withQuery(files, "startToken", string(flipped))},
		{"truncated", withQuery(files, "startToken", tok[:len(tok)-2])},
		{"garbled", withQuery(files, "startToken", "not a token")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			invalid(t, c.get(tt.path, 400, nil))
		})
	}
}

var expiredBody = regexp.MustCompile(`^\{"logref":"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}","message":"Next token is expired"\}$`)

func TestStartTokenExpires(t *testing.T) {
	const ttl = 300 * time.Millisecond
	_, c := startSmall(t, Options{Nodes: 300, NextToken: true, TokenTTL: ttl})
	const path = "/drive/v1/nodes"
	want := pageByOffset(t, c, path, 10)

	var first, second tokenPage
	c.get(path+"?limit=10", 200, &first)
	c.get(withQuery(path, "limit", "10", "startToken", *first.NextToken), 200, &second)
	time.Sleep(ttl + 50*time.Millisecond)
	t.Run("a later page of the same listing expires", func(t *testing.T) {
		b := c.get(withQuery(path, "limit", "10", "startToken", *second.NextToken), 400, nil)
		if !expiredBody.Match(b) {
			t.Errorf("body = %s, want {\"logref\":\"<uuid>\",\"message\":\"Next token is expired\"}", b)
		}
	})
	t.Run("resuming by offset gives a fresh token", func(t *testing.T) {
		var resumed, next tokenPage
		c.get(withQuery(path, "limit", "10", "offset", "20"), 200, &resumed)
		if resumed.NextToken == nil {
			t.Fatal("page by offset has no nextToken")
		}
		c.get(withQuery(path, "limit", "10", "startToken", *resumed.NextToken), 200, &next)
		if !slices.Equal(next.ids(), want[30:40]) {
			t.Errorf("page after resuming at 20 = %v, want items 30-39 %v", next.ids(), want[30:40])
		}
	})
}

func TestTokenTTLOption(t *testing.T) {
	if _, err := New(Options{Nodes: 10, TokenTTL: -time.Second}); err == nil || !strings.Contains(err.Error(), "token TTL") {
		t.Errorf("New(TokenTTL: -1s) error = %v, want one naming the token TTL", err)
	}
	s, err := New(Options{Nodes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.TokenTTL != defaultTokenTTL {
		t.Errorf("default TokenTTL = %v, want %v", s.opts.TokenTTL, defaultTokenTTL)
	}
}

// TestExpireTokens: the hook expires the tokens issued so far, not those
// of a listing started afterwards.
func TestExpireTokens(t *testing.T) {
	s, c := startSmall(t, Options{Nodes: 300, NextToken: true})
	const path = "/drive/v1/nodes"
	var old, fresh tokenPage
	c.get(path+"?limit=10", 200, &old)
	s.ExpireTokens()
	c.get(path+"?limit=10", 200, &fresh)
	if b := c.get(withQuery(path, "limit", "10", "startToken", *old.NextToken), 400, nil); !expiredBody.Match(b) {
		t.Errorf("token issued before ExpireTokens: body %s, want the expired body", b)
	}
	c.get(withQuery(path, "limit", "10", "startToken", *fresh.NextToken), 200, nil)
}
