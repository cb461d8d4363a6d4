package filterlang

import (
	"sort"
	"strings"
)

// Dialect says which endpoint a filter is for, and so which fields it may use.
type Dialect int

// The dialects of ../shared/API.md §3. They share the syntax, not the fields.
const (
	// Search is the /search dialect (§3.3): type, things, people, location,
	// timeYear, timeMonth, timeDay, favorite, and the inferred aggregation
	// categories clusterId, allPeople and familyMembers.
	Search Dialect = iota
	// Nodes is the /nodes, /nodes/{id}/children and /trash dialect (§3.2).
	Nodes
	// Local is FIND over the local mirror: the fields of both dialects.
	Local
)

// String names the dialect as error messages do.
func (d Dialect) String() string {
	switch d {
	case Search:
		return "search"
	case Nodes:
		return "node"
	case Local:
		return "local"
	}
	return "unknown"
}

// maxTerms is the node filter limit: "Max # of Filter Parameters Allowed is 8"
// (reference README, "Restrictions"). Those docs cover node filters only, and
// the README's own /search example has 10 values, so the limit applies to the
// Nodes dialect; a term is one value or range (kind:(FILE* OR FOLDER*) is two).
const maxTerms = 8

// kind is how a field's values compare.
type kind int

const (
	kString   kind = iota // exact and case-sensitive
	kName                 // exact and case-insensitive (name)
	kBool                 // true or false; an absent value is false
	kInt                  // a decimal integer
	kDate                 // an ISO-8601 date-time, compared as an instant (UTC, microseconds)
	kList                 // an array of strings: the term holds when the array contains the value
	kFacet                // a search facet: the node carries the tag (the tags table)
	kType                 // type: PHOTOS, VIDEOS or ALBUMS
	kTimePart             // timeYear, timeMonth, timeDay: part of contentProperties.contentDate
)

type dialects uint8

const (
	inSearch dialects = 1 << iota
	inNodes
)

// field describes one filter field.
type field struct {
	name     string
	in       dialects
	kind     kind
	ranges   bool   // ranges allowed (reference README, "Restrictions", and §3.2)
	prefix   bool   // trailing * allowed
	path     string // the Doc path it reads
	sql      string // the DuckDB expression it reads (identifiers double-quoted)
	min, max int64  // kTimePart bounds
}

// fields is the table of every field of both dialects (../shared/API.md §3.2, §3.3).
var fields = []*field{
	// /search fields.
	{name: "type", in: inSearch, kind: kType},
	{name: "things", in: inSearch, kind: kFacet, path: "things"},
	{name: "people", in: inSearch, kind: kFacet, path: "people"},
	{name: "location", in: inSearch, kind: kFacet, path: "location"},
	// Aggregation categories that are "probably also filterable" (§3.3, inferred).
	{name: "clusterId", in: inSearch, kind: kFacet, path: "clusterId"},
	{name: "allPeople", in: inSearch, kind: kFacet, path: "allPeople"},
	{name: "familyMembers", in: inSearch, kind: kFacet, path: "familyMembers"},
	{name: "timeYear", in: inSearch, kind: kTimePart, path: "contentProperties.contentDate", sql: `year("contentDate")`, min: 1, max: 9999},
	{name: "timeMonth", in: inSearch, kind: kTimePart, path: "contentProperties.contentDate", sql: `month("contentDate")`, min: 1, max: 12},
	{name: "timeDay", in: inSearch, kind: kTimePart, path: "contentProperties.contentDate", sql: `day("contentDate")`, min: 1, max: 31},
	// favorite is both a /search aggregation category and a node filter field (§3.2, §3.3).
	{name: "favorite", in: inSearch | inNodes, kind: kBool, path: "settings.favorite", sql: `"favorite"`},

	// /nodes fields.
	{name: "isRoot", in: inNodes, kind: kBool, path: "isRoot", sql: `TRY_CAST(json_extract_string("raw", '$.isRoot') AS BOOLEAN)`},
	{name: "name", in: inNodes, kind: kName, prefix: true, path: "name", sql: `"name"`},
	{name: "kind", in: inNodes, kind: kString, prefix: true, path: "kind", sql: `"kind"`},
	{name: "status", in: inNodes, kind: kString, prefix: true, path: "status", sql: `"status"`},
	{name: "createdDate", in: inNodes, kind: kDate, ranges: true, path: "createdDate", sql: `"createdDate"`},
	{name: "modifiedDate", in: inNodes, kind: kDate, ranges: true, path: "modifiedDate", sql: `"modifiedDate"`},
	{name: "labels", in: inNodes, kind: kList, path: "labels", sql: `json_extract_string("raw", '$.labels[*]')`},
	{name: "description", in: inNodes, kind: kString, path: "description", sql: `json_extract_string("raw", '$.description')`},
	{name: "parents", in: inNodes, kind: kList, path: "parents", sql: `"parents"`},
	{name: "contentProperties.size", in: inNodes, kind: kInt, ranges: true, path: "contentProperties.size", sql: `"size"`},
	// Only the major type works as a prefix (image*, video*); check enforces it.
	{name: "contentProperties.contentType", in: inNodes, kind: kString, prefix: true, path: "contentProperties.contentType", sql: `"contentType"`},
	{name: "contentProperties.md5", in: inNodes, kind: kString, path: "contentProperties.md5", sql: `"md5"`},
	{name: "contentProperties.contentDate", in: inNodes, kind: kDate, ranges: true, path: "contentProperties.contentDate", sql: `"contentDate"`},
	{name: "contentProperties.extension", in: inNodes, kind: kString, path: "contentProperties.extension", sql: `"extension"`},
	{name: "settings.hidden", in: inNodes, kind: kBool, path: "settings.hidden", sql: `"hidden"`},
}

var fieldByName = func() map[string]*field {
	m := make(map[string]*field, len(fields))
	for _, f := range fields {
		m[f.name] = f
	}
	return m
}()

// aliases are names users reach for that the service spells otherwise.
var aliases = map[string]string{
	"parentIds":         "parents", // the Restrictions table's name for parents
	"settings.favorite": "favorite",
	"contentType":       "contentProperties.contentType",
	"size":              "contentProperties.size",
	"md5":               "contentProperties.md5",
	"extension":         "contentProperties.extension",
	"contentDate":       "contentProperties.contentDate",
	"hidden":            "settings.hidden",
	"thing":             "things",
	"person":            "people",
	"year":              "timeYear",
	"month":             "timeMonth",
	"day":               "timeDay",
}

func (d Dialect) allows(f *field) bool {
	switch d {
	case Search:
		return f.in&inSearch != 0
	case Nodes:
		return f.in&inNodes != 0
	}
	return true
}

// suggest returns the known field of dialect d closest to name, or "".
func suggest(name string, d Dialect) string {
	if a, ok := aliases[name]; ok && d.allows(fieldByName[a]) {
		return a
	}
	best, bestDist := "", 3
	for _, f := range fields {
		if !d.allows(f) {
			continue
		}
		if strings.EqualFold(f.name, name) {
			return f.name
		}
		if dist := editDistance(strings.ToLower(name), strings.ToLower(f.name)); dist < bestDist ||
			dist == bestDist && f.name < best {
			best, bestDist = f.name, dist
		}
		// contentType for contentProperties.contentType, hidden for settings.hidden.
		if i := strings.LastIndexByte(f.name, '.'); i >= 0 && strings.EqualFold(f.name[i+1:], name) {
			return f.name
		}
	}
	if bestDist > len(name)/2 {
		return ""
	}
	return best
}

// fieldNames lists the fields of dialect d, sorted, for help texts.
func fieldNames(d Dialect) []string {
	var out []string
	for _, f := range fields {
		if d.allows(f) {
			out = append(out, f.name)
		}
	}
	sort.Strings(out)
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
