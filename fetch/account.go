package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Usage is the account's storage use (GET /account/usage).
type Usage struct {
	LastCalculated time.Time
	// Types has one entry per category the server reports (photo, video,
	// doc, other, ...), sorted by type.
	Types []UsageType
}

// UsageType is one row of the usage table.
type UsageType struct {
	Type                         string
	BillableBytes, BillableCount int64
	TotalBytes, TotalCount       int64
}

// Usage fetches the storage usage by type. Every key of the answer other
// than lastCalculated is a category (UP iterates them all).
func (c *Client) Usage(ctx context.Context) (Usage, error) {
	var raw map[string]json.RawMessage
	if err := c.do(ctx, &request{Path: "/account/usage", Op: "account usage"}, &raw); err != nil {
		return Usage{}, err
	}
	var u Usage
	for k, v := range raw {
		if k == "lastCalculated" {
			var s string
			if json.Unmarshal(v, &s) == nil {
				u.LastCalculated = parseTime(s)
			}
			continue
		}
		var t struct {
			Total    struct{ Bytes, Count int64 } `json:"total"`
			Billable struct{ Bytes, Count int64 } `json:"billable"`
		}
		if err := json.Unmarshal(v, &t); err != nil {
			continue // not a category object
		}
		u.Types = append(u.Types, UsageType{
			Type: k, BillableBytes: t.Billable.Bytes, BillableCount: t.Billable.Count,
			TotalBytes: t.Total.Bytes, TotalCount: t.Total.Count,
		})
	}
	sort.Slice(u.Types, func(i, j int) bool { return u.Types[i].Type < u.Types[j].Type })
	return u, nil
}

// AccountInfo fetches GET /account/info ({"termsOfUse":..., "status":
// "ACTIVE"}): the cheapest call that checks the cookies.
func (c *Client) AccountInfo(ctx context.Context) (map[string]any, error) {
	var m map[string]any
	if err := c.do(ctx, &request{Path: "/account/info", Op: "account info"}, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// Aggregation is one row of the aggregations table.
type Aggregation struct {
	Category string // type, time, things, people, location, favorite, ...
	Value    string // "PHOTOS", "2019", "beach", a cluster id, "CAN#BC#Vancouver"
	Count    int64
	NodeID   string // cover node (searchData.nodeId or nodeId)
	// SearchData is the match's searchData object ("{}" when absent).
	SearchData json.RawMessage
}

// AggregationCategories are the categories of /search aggregations
// (API.md §3.5) plus familyMembers.
var AggregationCategories = []string{"allPeople", "clusterId", "familyMembers", "favorite", "location", "people", "things", "time", "type"}

// Aggregations fetches Amazon's aggregations. category "" or "all" takes
// them all from one cheap search (limit=1, searchContext=all,
// groupByForTime=year); any other category asks /search/aggregation.
// Rows come sorted by category, then count descending, then value.
func (c *Client) Aggregations(ctx context.Context, category string) ([]Aggregation, error) {
	if category == "" || category == "all" {
		q := url.Values{}
		q.Set("filters", "type:(PHOTOS OR VIDEOS)")
		q.Set("limit", "1")
		q.Set("searchContext", "all")
		q.Set("groupByForTime", "year")
		q.Set("lowResThumbnail", "true")
		var p struct {
			Aggregations map[string]json.RawMessage `json:"aggregations"`
		}
		if err := c.do(ctx, &request{Path: "/search", Query: q, Op: "aggregations"}, &p); err != nil {
			return nil, err
		}
		return searchAggregations(p.Aggregations)
	}
	q := url.Values{}
	q.Set("category", category)
	q.Set("aggregationContext", "all")
	var body []byte
	if err := c.do(ctx, &request{Path: "/search/aggregation", Query: q, Op: "aggregation " + category}, &body); err != nil {
		return nil, err
	}
	category, items, err := aggregationItems(body, category, "all")
	if err != nil {
		return nil, err
	}
	out := make([]Aggregation, 0, len(items))
	for _, m := range items {
		a, err := parseMatch(category, m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", aggregationEndpoint(category, "all"), err)
		}
		out = append(out, a)
	}
	sortAggregations(out)
	return out, nil
}

// ErrUnexpectedAnswer is the cause of an answer whose JSON has a shape
// apsql does not know (a field of another type, a list where an object
// was expected). Test with errors.Is.
var ErrUnexpectedAnswer = errors.New("unexpected answer shape")

// aggregationEndpoint names the request of one category in errors.
func aggregationEndpoint(category, context string) string {
	return "GET /search/aggregation?category=" + category + "&aggregationContext=" + context
}

// aggregationItems reads the entries of a /search/aggregation answer in
// either known shape (API.md §3.5): CDASDK's {"category": c,
// "aggregations": [AggregationMatch...]}, or the /search shape, an object
// keyed by category {"aggregations": {c: [Match...]}}. It returns the
// category the answer names (the asked one when it names none). Any other
// shape is an error that names the endpoint and wraps ErrUnexpectedAnswer.
func aggregationItems(body []byte, category, context string) (string, []json.RawMessage, error) {
	endpoint := aggregationEndpoint(category, context)
	var p struct {
		Category     json.RawMessage `json:"category"`
		Aggregations json.RawMessage `json:"aggregations"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return category, nil, fmt.Errorf("%s: %w: %s", endpoint, ErrUnexpectedAnswer, describeJSON(body))
	}
	if s := scalarString(p.Category); s != "" && p.Category[0] == '"' {
		category = s
	}
	raw := bytes.TrimSpace(p.Aggregations)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return category, nil, nil
	case raw[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return category, nil, fmt.Errorf("%s: %w: %v", endpoint, ErrUnexpectedAnswer, err)
		}
		return category, list, nil
	case raw[0] == '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return category, nil, fmt.Errorf("%s: %w: %v", endpoint, ErrUnexpectedAnswer, err)
		}
		v, ok := m[category]
		if !ok {
			if len(m) == 0 {
				return category, nil, nil
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return category, nil, fmt.Errorf("%s: %w: \"aggregations\" is an object without the key %q (it has %s)", endpoint, ErrUnexpectedAnswer, category, strings.Join(keys, ", "))
		}
		var list []json.RawMessage
		if v = bytes.TrimSpace(v); len(v) > 0 && string(v) != "null" {
			if err := json.Unmarshal(v, &list); err != nil {
				return category, nil, fmt.Errorf("%s: %w: \"aggregations\".%s is %s, want a list", endpoint, ErrUnexpectedAnswer, category, jsonKind(v))
			}
		}
		return category, list, nil
	}
	return category, nil, fmt.Errorf("%s: %w: \"aggregations\" is %s, want a list or an object keyed by category", endpoint, ErrUnexpectedAnswer, jsonKind(raw))
}

// jsonKind names the JSON type of a value: "a string", "a number", ...
func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "empty"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// describeJSON names what a body that is not a JSON object holds.
func describeJSON(body []byte) string {
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '<' {
		return "an HTML or XML page, not JSON"
	}
	if json.Valid(b) {
		return "JSON " + jsonKind(b) + ", want an object"
	}
	return "not JSON"
}

// searchAggregations flattens a /search "aggregations" object.
func searchAggregations(m map[string]json.RawMessage) ([]Aggregation, error) {
	var out []Aggregation
	for cat, raw := range m {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			continue // not a list: nothing we model
		}
		for _, item := range list {
			a, err := parseMatch(cat, item)
			if err != nil {
				return nil, fmt.Errorf("aggregations %s: %w", cat, err)
			}
			out = append(out, a)
		}
	}
	sortAggregations(out)
	return out, nil
}

// parseMatch reads a Match ({"match","count","searchData"}, in /search) or
// an AggregationMatch ({"value","count","nodeId","searchData"}, in
// /search/aggregation); a bare string (RUST saw those) is a value without
// a count.
func parseMatch(category string, raw json.RawMessage) (Aggregation, error) {
	a := Aggregation{Category: category, SearchData: json.RawMessage("{}")}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		a.Value = s
		return a, nil
	}
	var m struct {
		Match      json.RawMessage `json:"match"`
		Value      json.RawMessage `json:"value"`
		Count      json.Number     `json:"count"`
		NodeID     string          `json:"nodeId"`
		SearchData json.RawMessage `json:"searchData"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return a, err
	}
	a.Value = scalarString(m.Value)
	if a.Value == "" {
		a.Value = scalarString(m.Match)
	}
	if m.Count != "" {
		if n, err := strconv.ParseInt(string(m.Count), 10, 64); err == nil {
			a.Count = n
		} else if f, err := m.Count.Float64(); err == nil {
			a.Count = int64(f)
		}
	}
	if len(m.SearchData) > 0 && string(m.SearchData) != "null" {
		a.SearchData = append(json.RawMessage(nil), m.SearchData...)
		var sd struct {
			NodeID string `json:"nodeId"`
		}
		if json.Unmarshal(m.SearchData, &sd) == nil && m.NodeID == "" {
			m.NodeID = sd.NodeID
		}
	}
	a.NodeID = m.NodeID
	return a, nil
}

// scalarString renders a JSON string, number or bool as text.
func scalarString(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func sortAggregations(a []Aggregation) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].Category != a[j].Category {
			return a[i].Category < a[j].Category
		}
		if a[i].Count != a[j].Count {
			return a[i].Count > a[j].Count
		}
		return a[i].Value < a[j].Value
	})
}
