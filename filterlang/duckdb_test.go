package filterlang_test

// Tests that need DuckDB: FuzzParse runs the translated SQL, and
// TestMatchAgreesWithSQL compares the evaluator with DuckDB on random
// filters. The package itself never imports DuckDB (see TestDependencies).

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/filterlang"
	"github.com/apsql/apsql/model"
)

// openDB opens an in-memory DuckDB holding only the nodes and tags tables of
// model.Tables, so that SQL reading any other table fails.
func openDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	for _, name := range []string{"nodes", "tags"} {
		tbl, ok := model.Lookup(name)
		if !ok {
			t.Fatalf("model has no table %s", name)
		}
		cols := make([]string, len(tbl.Columns))
		for i, c := range tbl.Columns {
			cols[i] = fmt.Sprintf("%q %s", c.Name, c.Type)
		}
		ddl := fmt.Sprintf("CREATE TABLE %q (%s)", tbl.Name, strings.Join(cols, ", "))
		if _, err := db.Exec(ddl); err != nil {
			t.Fatalf("%s: %v", ddl, err)
		}
	}
	return db
}

// selectIDs runs the predicate over nodes and returns the ids, sorted.
func selectIDs(db *sql.DB, where string, args []any) ([]string, error) {
	rows, err := db.Query(`SELECT "id" FROM "nodes" WHERE `+where+` ORDER BY "id"`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// sqlToken is one token of the SQL that SQL and InlineSQL write.
type sqlToken struct {
	kind byte // 'i' quoted identifier, 's' string literal, 'w' word, 'n' number, 'p' punctuation
	text string
}

// sqlTokens splits DuckDB SQL into tokens, following its quoting rules:
// '...' and "..." with the quote doubled inside.
func sqlTokens(s string) ([]sqlToken, error) {
	var out []sqlToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case c == '\'' || c == '"':
			j := i + 1
			for {
				k := strings.IndexByte(s[j:], c)
				if k < 0 {
					return nil, fmt.Errorf("unterminated %c at %d", c, i)
				}
				j += k + 1
				if j < len(s) && s[j] == c {
					j++
					continue
				}
				break
			}
			kind := byte('s')
			if c == '"' {
				kind = 'i'
			}
			out = append(out, sqlToken{kind, s[i:j]})
			i = j
		case c >= '0' && c <= '9' || c == '-' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			out = append(out, sqlToken{'n', s[i:j]})
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
				j++
			}
			out = append(out, sqlToken{'w', s[i:j]})
			i = j
		case strings.IndexByte("()=<>,?", c) >= 0:
			j := i + 1
			if (c == '<' || c == '>') && j < len(s) && s[j] == '=' {
				j++
			}
			out = append(out, sqlToken{'p', s[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return out, nil
}

// The whole vocabulary of the SQL translation: anything else in it would
// mean that input reached the SQL's structure.
var (
	allowedIdents = map[string]bool{}
	allowedWords  = map[string]bool{
		"LIKE": true, "ESCAPE": true, "AND": true, "OR": true, "IS": true, "NOT": true, "TRUE": true,
		"NULL": true, "IN": true, "SELECT": true, "FROM": true, "WHERE": true, "CAST": true, "AS": true,
		"TIMESTAMP": true, "BOOLEAN": true, "TRY_CAST": true, "coalesce": true, "lower": true,
		"list_contains": true, "json_extract_string": true, "year": true, "month": true, "day": true,
		"false": true,
	}
	allowedStrings = map[string]bool{`'\'`: true, `'$.isRoot'`: true, `'$.labels[*]'`: true, `'$.description'`: true}
)

func init() {
	for _, name := range []string{"nodes", "tags"} {
		tbl, _ := model.Lookup(name)
		for _, c := range tbl.Columns {
			allowedIdents[fmt.Sprintf("%q", c.Name)] = true
		}
		allowedIdents[fmt.Sprintf("%q", name)] = true
	}
}

// checkSQL asserts that where uses only the translation's vocabulary and
// reads only nodes and tags, and that inline is where with each ? replaced
// by one literal: no value escaped its quotes.
func checkSQL(where string, args []any, inline string) error {
	wt, err := sqlTokens(where)
	if err != nil {
		return fmt.Errorf("SQL %s: %v", where, err)
	}
	holes := 0
	for _, t := range wt {
		switch {
		case t.kind == 'i' && !allowedIdents[t.text],
			t.kind == 'w' && !allowedWords[t.text],
			t.kind == 's' && !allowedStrings[t.text],
			t.kind == 'n':
			return fmt.Errorf("SQL %s: %q is not part of the translation's vocabulary", where, t.text)
		case t.text == "?":
			holes++
		}
	}
	if holes != len(args) {
		return fmt.Errorf("SQL %s has %d placeholders for %d args", where, holes, len(args))
	}
	it, err := sqlTokens(inline)
	if err != nil {
		return fmt.Errorf("inline SQL %s: %v", inline, err)
	}
	if len(it) != len(wt) {
		return fmt.Errorf("inline SQL has %d tokens, the SQL %d:\n%s\n%s", len(it), len(wt), inline, where)
	}
	for i, t := range wt {
		switch {
		case t.text == "?":
			lit := it[i]
			if lit.kind != 's' && lit.kind != 'n' && lit.text != "true" && lit.text != "false" {
				return fmt.Errorf("inline SQL: %q stands for a parameter", lit.text)
			}
		case t != it[i]:
			return fmt.Errorf("inline SQL differs from the SQL at %q / %q", it[i].text, t.text)
		}
	}
	return nil
}

var dialects = []filterlang.Dialect{filterlang.Search, filterlang.Nodes, filterlang.Local}

// FuzzParse: Parse never panics; errors are *Error with a position; the
// fast parser and the participle grammar agree; the printed form parses
// back to the same tree; the SQL keeps to its vocabulary, its inline form
// keeps every value inside a literal, and DuckDB runs both over nodes.
func FuzzParse(f *testing.F) {
	for _, c := range readCases(f) {
		f.Add(c)
	}
	for _, s := range []string{
		`name:"a'b" AND name:a\'\'b`, `name:"'); DROP TABLE nodes; --"`, `name:x\"y*`,
		`description:"\\"`, `things:("O'Brien" OR a\ b)`, "name:\"line\nbreak\"", `name:ünï*`,
		`contentProperties.size:[-5 TO 9223372036854775807]`, `createdDate:[* TO "0001-01-01T00:00:00Z"}`,
	} {
		f.Add(s)
	}
	db := openDB(f)
	f.Fuzz(func(t *testing.T, src string) {
		if err := filterlang.GrammarAgrees(src); err != nil {
			t.Fatal(err)
		}
		for _, d := range dialects {
			fl, err := filterlang.Parse(src, d)
			if err != nil {
				var e *filterlang.Error
				if !errors.As(err, &e) {
					t.Fatalf("Parse(%q, %v) error %T, want *Error", src, d, err)
				}
				if e.Line < 1 || e.Col < 1 || e.Offset < 0 || e.Offset > len(src) {
					t.Fatalf("Parse(%q, %v) error at %d:%d (offset %d): out of range", src, d, e.Line, e.Col, e.Offset)
				}
				_ = e.Caret(src)
				continue
			}
			printed := fl.String()
			back, err := filterlang.Parse(printed, d)
			if err != nil {
				t.Fatalf("Parse(%q) = %q, which does not parse: %v", src, printed, err)
			}
			if !reflect.DeepEqual(filterlang.StripPositions(back.Root), filterlang.StripPositions(fl.Root)) {
				t.Fatalf("Parse(String(Parse(%q))) = Parse(%q) is another tree", src, printed)
			}
			where, args := fl.SQL()
			inline := fl.InlineSQL()
			if err := checkSQL(where, args, inline); err != nil {
				t.Fatalf("Parse(%q): %v", src, err)
			}
			if _, err := selectIDs(db, where, args); err != nil {
				t.Fatalf("Parse(%q): DuckDB rejects %s %v: %v", src, where, args, err)
			}
			if _, err := selectIDs(db, inline, nil); err != nil {
				t.Fatalf("Parse(%q): DuckDB rejects %s: %v", src, inline, err)
			}
			_ = fl.Tree()
		}
	})
}

// readCases returns the filters of testdata/filterlang/cases.txt.
func readCases(t testing.TB) []string {
	t.Helper()
	file, err := os.Open(filepath.Join("..", "testdata", "filterlang", "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var out []string
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if _, src, ok := strings.Cut(sc.Text(), ": "); ok && !strings.HasPrefix(sc.Text(), "#") {
			out = append(out, src)
		}
	}
	return out
}

// doc is an in-memory node: the values of each Doc path.
type doc map[string][]string

func (d doc) Values(field string) []string { return d[field] }

// pools of values for the generated nodes and filters; they overlap so
// that filters select some nodes and not others.
var (
	poolNames    = []string{"IMG_0001.jpg", "img_0001.JPG", "sample", "sample1", "Sample 2.png", "100%_done.png", "100x_done.png", `a\b.jpg`, "it's.jpg", "Ünïcode.jpg"}
	poolKinds    = []string{"FILE", "FOLDER", "VISUAL_COLLECTION", "ASSET"}
	poolStatuses = []string{"AVAILABLE", "TRASH", "PENDING"}
	poolParents  = []string{"p1", "p2", "HeMReF-vvJiTTkdPIeWuoP"}
	poolDates    = []string{"2019-07-06T18:22:00.000Z", "2019-12-31T23:59:59.999Z", "2020-02-29T00:00:00.000Z", "2021-06-15T12:00:00.000Z", "2023-08-14T09:36:22.000Z", "2023-01-01T00:00:00.000Z"}
	poolSizes    = []string{"0", "1000", "4999", "5000", "123456"}
	poolMD5      = []string{"0cc175b9c0f1b6a831c399e269772661", "92eb5ffee6ae2fec3ad71c777531578f"}
	poolTypes    = []string{"image/jpeg", "image/png", "video/mp4", "video/quicktime", "application/pdf"}
	poolExts     = []string{"jpg", "png", "mp4", "pdf"}
	poolBools    = []string{"true", "false"}
	poolLabels   = []string{"name", "test", "sample"}
	poolDescs    = []string{"test", "sunset at the pier"}
	poolThings   = []string{"plant", "beach", "moon"}
	poolPeople   = []string{"CyChdySYdfj7DHsjdSHdy", "Bob"}
	poolPlaces   = []string{"CAN#BC#Vancouver", "USA#CA#San Francisco"}
)

func pick(r *rand.Rand, pool []string) string { return pool[r.IntN(len(pool))] }

// maybe returns a one-value slice from pool, or nil (absent) one time in five.
func maybe(r *rand.Rand, pool []string) []string {
	if r.IntN(5) == 0 {
		return nil
	}
	return []string{pick(r, pool)}
}

func subset(r *rand.Rand, pool []string) []string {
	if r.IntN(4) == 0 {
		return nil
	}
	var out []string
	for _, v := range pool {
		if r.IntN(2) == 0 {
			out = append(out, v)
		}
	}
	return out
}

func genDoc(r *rand.Rand, i int) doc {
	return doc{
		"id":                            {fmt.Sprintf("id%04d", i)},
		"name":                          maybe(r, poolNames),
		"kind":                          maybe(r, poolKinds),
		"status":                        maybe(r, poolStatuses),
		"parents":                       subset(r, poolParents),
		"createdDate":                   maybe(r, poolDates),
		"modifiedDate":                  maybe(r, poolDates),
		"contentProperties.contentDate": maybe(r, poolDates),
		"contentProperties.size":        maybe(r, poolSizes),
		"contentProperties.md5":         maybe(r, poolMD5),
		"contentProperties.contentType": maybe(r, poolTypes),
		"contentProperties.extension":   maybe(r, poolExts),
		"settings.favorite":             maybe(r, poolBools),
		"settings.hidden":               maybe(r, poolBools),
		"isRoot":                        maybe(r, poolBools),
		"labels":                        subset(r, poolLabels),
		"description":                   maybe(r, poolDescs),
		"things":                        subset(r, poolThings),
		"people":                        subset(r, poolPeople),
		"location":                      subset(r, poolPlaces),
	}
}

// insert writes d into nodes (and its facets into tags) as the mirror would.
func insert(t testing.TB, db *sql.DB, d doc) {
	t.Helper()
	one := func(path string) any {
		if v := d[path]; v != nil {
			return v[0]
		}
		return nil
	}
	date := func(path string) any {
		if v := d[path]; v != nil {
			return strings.TrimSuffix(strings.Replace(v[0], "T", " ", 1), "Z")
		}
		return nil
	}
	boolean := func(path string) any {
		if v := d[path]; v != nil {
			return v[0] == "true"
		}
		return nil
	}
	var size any
	if v := d["contentProperties.size"]; v != nil {
		var n int64
		fmt.Sscan(v[0], &n)
		size = n
	}
	var parents any
	if v := d["parents"]; v != nil {
		b, _ := json.Marshal(v)
		parents = string(b)
	}
	raw := map[string]any{}
	if v := boolean("isRoot"); v != nil {
		raw["isRoot"] = v
	}
	if v := d["labels"]; v != nil {
		raw["labels"] = v
	}
	if v := one("description"); v != nil {
		raw["description"] = v
	}
	rawJSON, _ := json.Marshal(raw)
	_, err := db.Exec(`INSERT INTO "nodes" ("id", "name", "kind", "status", "parents", "createdDate", "modifiedDate",
		"contentDate", "size", "md5", "contentType", "extension", "favorite", "hidden", "raw")
		VALUES (?, ?, ?, ?, CAST(CAST(? AS JSON) AS VARCHAR[]), CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP),
		CAST(? AS TIMESTAMP), ?, ?, ?, ?, ?, ?, ?)`,
		one("id"), one("name"), one("kind"), one("status"), parents, date("createdDate"), date("modifiedDate"),
		date("contentProperties.contentDate"), size, one("contentProperties.md5"), one("contentProperties.contentType"),
		one("contentProperties.extension"), boolean("settings.favorite"), boolean("settings.hidden"), string(rawJSON))
	if err != nil {
		t.Fatal(err)
	}
	for _, cat := range []string{"things", "people", "location"} {
		for _, v := range d[cat] {
			if _, err := db.Exec(`INSERT INTO "tags" VALUES (?, ?, ?)`, one("id"), cat, v); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// quote writes v as a filter value: bare when plain, else quoted.
func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, ` +-&|!(){}[]^'"~*?:\/`) && v != "AND" && v != "OR" && v != "NOT" && v != "TO" {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// escapePrefix writes p with each special character backslash-escaped.
func escapePrefix(p string) string {
	var b strings.Builder
	for i, r := range p {
		if strings.ContainsRune(` &|!(){}[]^'"~*?:\/`, r) || (r == '-' || r == '+') && i == 0 {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// filterGen writes random filters over every field of the Local dialect.
type filterGen struct{ r *rand.Rand }

type genField struct {
	name   string
	values func(r *rand.Rand) string // one value, written for the filter
	prefix []string                  // values to take prefixes of (nil: no prefixes)
	ranges bool
}

var genFields = []genField{
	{name: "type", values: func(r *rand.Rand) string { return pick(r, []string{"PHOTOS", "VIDEOS", "ALBUMS"}) }},
	{name: "things", values: func(r *rand.Rand) string { return quote(pick(r, append(poolThings, "tree"))) }},
	{name: "people", values: func(r *rand.Rand) string { return quote(pick(r, poolPeople)) }},
	{name: "location", values: func(r *rand.Rand) string { return quote(pick(r, poolPlaces)) }},
	{name: "timeYear", values: func(r *rand.Rand) string { return fmt.Sprint(2019 + r.IntN(5)) }},
	{name: "timeMonth", values: func(r *rand.Rand) string { return pick(r, []string{"1", "2", "6", "07", "8", "12"}) }},
	{name: "timeDay", values: func(r *rand.Rand) string { return pick(r, []string{"1", "6", "14", "15", "29", "31"}) }},
	{name: "favorite", values: func(r *rand.Rand) string { return pick(r, poolBools) }},
	{name: "isRoot", values: func(r *rand.Rand) string { return pick(r, poolBools) }},
	{name: "name", values: func(r *rand.Rand) string { return quote(pick(r, append(poolNames, "SAMPLE", "img_0001.jpg"))) }, prefix: append(poolNames, "SAM", "img")},
	{name: "kind", values: func(r *rand.Rand) string { return quote(pick(r, poolKinds)) }, prefix: poolKinds},
	{name: "status", values: func(r *rand.Rand) string { return quote(pick(r, poolStatuses)) }, prefix: poolStatuses},
	{name: "createdDate", values: func(r *rand.Rand) string { return quote(pick(r, poolDates)) }, ranges: true},
	{name: "modifiedDate", values: func(r *rand.Rand) string { return quote(pick(r, poolDates)) }, ranges: true},
	{name: "labels", values: func(r *rand.Rand) string { return quote(pick(r, poolLabels)) }},
	{name: "description", values: func(r *rand.Rand) string { return quote(pick(r, poolDescs)) }},
	{name: "parents", values: func(r *rand.Rand) string { return quote(pick(r, poolParents)) }},
	{name: "contentProperties.size", values: func(r *rand.Rand) string { return pick(r, poolSizes) }, ranges: true},
	{name: "contentProperties.contentType", values: func(r *rand.Rand) string { return quote(pick(r, poolTypes)) }, prefix: []string{"image", "video", "app"}},
	{name: "contentProperties.md5", values: func(r *rand.Rand) string { return quote(pick(r, poolMD5)) }},
	{name: "contentProperties.contentDate", values: func(r *rand.Rand) string { return quote(pick(r, poolDates)) }, ranges: true},
	{name: "contentProperties.extension", values: func(r *rand.Rand) string { return quote(pick(r, poolExts)) }},
	{name: "settings.hidden", values: func(r *rand.Rand) string { return pick(r, poolBools) }},
}

func (g filterGen) op() string {
	if g.r.IntN(2) == 0 {
		return " AND "
	}
	return " OR "
}

func (g filterGen) expr(depth int) string {
	n := 1 + g.r.IntN(3)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = g.clause(depth)
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(g.op())
		}
		b.WriteString(p)
	}
	return b.String()
}

func (g filterGen) clause(depth int) string {
	not := ""
	if g.r.IntN(5) == 0 {
		not = "NOT "
	}
	if depth > 0 && g.r.IntN(4) == 0 {
		return not + "(" + g.expr(depth-1) + ")"
	}
	f := genFields[g.r.IntN(len(genFields))]
	return not + f.name + ":" + g.operand(f, depth)
}

func (g filterGen) operand(f genField, depth int) string {
	switch n := g.r.IntN(10); {
	case n < 3 && depth > 0:
		k := 1 + g.r.IntN(3)
		var b strings.Builder
		b.WriteByte('(')
		for i := range k {
			if i > 0 {
				b.WriteString(g.op())
			}
			if g.r.IntN(6) == 0 {
				b.WriteString("NOT ")
			}
			b.WriteString(g.operand(f, depth-1))
		}
		b.WriteByte(')')
		return b.String()
	case n < 5 && f.ranges:
		bound := func() string {
			if g.r.IntN(4) == 0 {
				return "*"
			}
			return f.values(g.r)
		}
		lo, hi := "[", "]"
		if g.r.IntN(2) == 0 {
			lo = "{"
		}
		if g.r.IntN(2) == 0 {
			hi = "}"
		}
		return lo + bound() + " TO " + bound() + hi
	case n < 6 && f.prefix != nil:
		v := pick(g.r, f.prefix)
		cut := 1 + g.r.IntN(utf8.RuneCountInString(v))
		return escapePrefix(string([]rune(v)[:cut])) + "*"
	}
	return f.values(g.r)
}

// TestMatchAgreesWithSQL generates nodes and random filters and checks that
// Match selects exactly the ids that the SQL (and its inline form) selects
// in DuckDB.
func TestMatchAgreesWithSQL(t *testing.T) {
	nNodes, nFilters := 300, 500
	if testing.Short() {
		nNodes, nFilters = 120, 150
	}
	r := rand.New(rand.NewPCG(1, 2))
	db := openDB(t)
	docs := make([]doc, nNodes)
	for i := range docs {
		docs[i] = genDoc(r, i)
		insert(t, db, docs[i])
	}
	gen := filterGen{r}
	selective := 0
	for range nFilters {
		src := gen.expr(2)
		f, err := filterlang.Parse(src, filterlang.Local)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		var want []string
		for _, d := range docs {
			if f.Match(d) {
				want = append(want, d["id"][0])
			}
		}
		want = append([]string{}, want...)
		slices.Sort(want)
		where, args := f.SQL()
		got, err := selectIDs(db, where, args)
		if err != nil {
			t.Fatalf("Parse(%q).SQL() = %s %v: %v", src, where, args, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("filter %q:\nSQL %s %v\nselects %d ids %v\nMatch selects %d %v",
				src, where, args, len(got), diffIDs(got, want), len(want), diffIDs(want, got))
		}
		inline, err := selectIDs(db, f.InlineSQL(), nil)
		if err != nil || !slices.Equal(inline, want) {
			t.Fatalf("filter %q: InlineSQL %s selects %d ids (%v), want %d", src, f.InlineSQL(), len(inline), err, len(want))
		}
		if len(want) > 0 && len(want) < nNodes {
			selective++
		}
	}
	// Filters that select all or nothing prove little; most must split the nodes.
	if selective < nFilters/3 {
		t.Errorf("only %d of %d filters select some but not all nodes; the generator needs work", selective, nFilters)
	}
}

// diffIDs returns the ids of a that b lacks (for messages).
func diffIDs(a, b []string) []string {
	var out []string
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}
