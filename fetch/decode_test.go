package fetch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/model"
)

var testSyncedAt = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNodeSchemaFollowsModel(t *testing.T) {
	s := NodeSchema()
	if got, want := s.NumFields(), len(model.NodeColumns); got != want {
		t.Fatalf("NodeSchema has %d fields, want %d", got, want)
	}
	wantTypes := map[model.Type]string{
		model.Varchar: "utf8", model.JSON: "extension_type<storage=utf8>", model.VarcharList: "list<item: utf8, nullable>",
		model.BigInt: "int64", model.Integer: "int32", model.Double: "float64", model.Boolean: "bool",
		model.Timestamp: "timestamp[us]",
	}
	for i, c := range model.NodeColumns {
		f := s.Field(i)
		if f.Name != c.Name {
			t.Errorf("field %d = %q, want %q", i, f.Name, c.Name)
		}
		if got := f.Type.String(); got != wantTypes[c.Type] {
			t.Errorf("field %s type = %s, want %s", c.Name, got, wantTypes[c.Type])
		}
		if et, ok := f.Type.(arrow.ExtensionType); ok && et.ExtensionName() != "arrow.json" {
			t.Errorf("field %s is extension %q, want arrow.json", c.Name, et.ExtensionName())
		}
		if ts, ok := f.Type.(*arrow.TimestampType); ok && ts.TimeZone != "" {
			t.Errorf("field %s has time zone %q, want none (DuckDB TIMESTAMP holding UTC)", c.Name, ts.TimeZone)
		}
	}
}

// value returns column name of row r of rec as a Go value (nil for NULL).
func value(rec arrow.RecordBatch, name string, r int) any {
	idx := rec.Schema().FieldIndices(name)[0]
	col := rec.Column(idx)
	if col.IsNull(r) {
		return nil
	}
	switch a := col.(type) {
	case *array.String:
		return a.Value(r)
	case *JSONArray:
		return a.Value(r)
	case *array.Int64:
		return a.Value(r)
	case *array.Int32:
		return a.Value(r)
	case *array.Float64:
		return a.Value(r)
	case *array.Boolean:
		return a.Value(r)
	case *array.Timestamp:
		return a.Value(r).ToTime(arrow.Microsecond).UTC()
	case *array.List:
		vals := a.ListValues().(*array.String)
		start, end := a.ValueOffsets(r)
		out := []string{}
		for i := start; i < end; i++ {
			out = append(out, vals.Value(int(i)))
		}
		return out
	}
	panic(fmt.Sprintf("unhandled %T", col))
}

func TestDecodePhotoColumns(t *testing.T) {
	page := `{"count":1,"data":[` + string(readTestdata(t, "photo.json")) + `]}`
	rec, info, err := DecodeNodes([]byte(page), testSyncedAt)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if info.Count != 1 || info.Items != 1 || info.Appended != 1 || rec.NumRows() != 1 {
		t.Fatalf("info = %+v, rows = %d, want 1 of 1", info, rec.NumRows())
	}
	ts := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t.UTC() }
	want := map[string]any{
		"id": "HeMReF-vvJiTTkdPIeWuoP", "name": "IMG_0532.JPG", "kind": "FILE", "status": "AVAILABLE",
		"parents": []string{"F3kQ9xT2RUa0bZr7c1dPqw"}, "parentId": "F3kQ9xT2RUa0bZr7c1dPqw",
		"createdDate": ts("2023-08-14T18:22:03.512Z"), "modifiedDate": ts("2023-08-14T18:22:05.118Z"),
		"contentDate": ts("2019-07-06T18:22:00.000Z"), "size": int64(2342157),
		"md5": "6df23dc03f9b54cc38a0fc1483df6e23", "contentType": "image/jpeg", "extension": "jpg", "category": "img",
		"width": int32(3024), "height": int32(4032), "duration": nil, "make": "Apple", "model": "iPhone XS",
		"apertureValue": "54823/32325", "focalLength": "17/4", "exposureTime": "1/640", "isoSpeedRatings": "25",
		"flash": "Off, Did not fire", "orientation": "1",
		"dateTimeOriginal": ts("2019-07-06T18:22:00.000Z"), "dateTimeDigitized": ts("2019-07-06T18:22:00.000Z"),
		"favorite": false, "hidden": false, "ownerId": "A1EXAMPLEOWNR2", "version": int64(3), "syncedAt": testSyncedAt,
	}
	for name, w := range want {
		if got := value(rec, name, 0); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", name, got, w)
		}
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(value(rec, "raw", 0).(string)), &raw); err != nil {
		t.Fatalf("raw is not JSON: %v", err)
	}
	for _, gone := range []string{"id", "name", "parents", "ownerId", "settings", "version"} {
		if _, ok := raw[gone]; ok {
			t.Errorf("raw still has %q, which has a column", gone)
		}
	}
	cp := raw["contentProperties"].(map[string]any)
	if _, ok := cp["size"]; ok {
		t.Errorf("raw contentProperties still has size")
	}
	img := cp["image"].(map[string]any)
	if img["colorSpace"] != "sRGB" || img["width"] != nil {
		t.Errorf("raw image = %v, want colorSpace kept and width gone", img)
	}
}

// rebuild reconstructs node JSON from a row: raw plus every non-NULL
// column at its source path. It is how the raw column's promise is tested.
func rebuild(t *testing.T, rec arrow.RecordBatch, r int) map[string]any {
	t.Helper()
	var node map[string]any
	if err := json.Unmarshal([]byte(value(rec, "raw", r).(string)), &node); err != nil {
		t.Fatalf("row %d raw: %v", r, err)
	}
	for _, c := range model.NodeColumns {
		if c.Source == "" {
			continue
		}
		v := value(rec, c.Name, r)
		if v == nil {
			continue
		}
		src := c.Source
		if alt := strings.Split(src, "|"); len(alt) == 2 { // width: image, else video
			src = alt[0]
			if cp, ok := node["contentProperties"].(map[string]any); ok {
				if _, hasImg := cp["image"]; !hasImg {
					src = alt[1]
				}
			}
		}
		switch x := v.(type) {
		case time.Time:
			v = x.Format("2006-01-02T15:04:05.000Z")
		case []string:
			l := make([]any, len(x))
			for i, s := range x {
				l[i] = s
			}
			v = l
		case int64:
			v = float64(x)
		case int32:
			v = float64(x)
		}
		m := node
		parts := strings.Split(src, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	return node
}

// dropNulls removes null members: a JSON null becomes a NULL column and is
// not kept in raw.
func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
			} else {
				x[k] = dropNulls(e)
			}
		}
	case []any:
		for i := range x {
			x[i] = dropNulls(x[i])
		}
	}
	return v
}

func TestDecodeRebuildsEveryNode(t *testing.T) {
	body := readTestdata(t, "page.json")
	rec, info, err := DecodeNodes(body, testSyncedAt)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	var page struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	if info.Count != 5 || int(rec.NumRows()) != len(page.Data) {
		t.Fatalf("count %d rows %d, want 5 and %d", info.Count, rec.NumRows(), len(page.Data))
	}
	for r, orig := range page.Data {
		t.Run(orig["id"].(string), func(t *testing.T) {
			got := rebuild(t, rec, r)
			want := dropNulls(orig)
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("rebuilt node differs\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestDecodeOddValues(t *testing.T) {
	rec, _, err := DecodeNodes(readTestdata(t, "page.json"), testSyncedAt)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	const r = 4 // the odd node
	tests := []struct {
		col  string
		want any
	}{
		{"name", "café \"quoted\" \\ name \U0001F600.jpg"},
		{"orientation", nil}, // a number where a string belongs: kept in raw
		{"size", nil},        // null
		{"contentDate", nil}, // not a date: kept in raw
		{"favorite", true},
		{"hidden", nil}, // absent
	}
	for _, tt := range tests {
		t.Run(tt.col, func(t *testing.T) {
			if got := value(rec, tt.col, r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.col, got, tt.want)
			}
		})
	}
	raw := value(rec, "raw", r).(string)
	for _, kept := range []string{`"orientation":6`, `"contentDate":"not a date"`} {
		if !strings.Contains(raw, kept) {
			t.Errorf("raw %s lacks %s", raw, kept)
		}
	}
	// The folder has no contentProperties: NULL size, no category.
	if got := value(rec, "category", 2); got != nil {
		t.Errorf("folder category = %v, want NULL", got)
	}
	// The video's width comes from contentProperties.video.
	if got := value(rec, "width", 1); got != int32(1920) {
		t.Errorf("video width = %v, want 1920", got)
	}
	if got := value(rec, "duration", 1); got != 12.345 {
		t.Errorf("video duration = %v, want 12.345", got)
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"not an object", `[1,2]`, "must be a JSON object"},
		{"truncated", `{"count":1,"data":[{"id":"a"`, "end of JSON"},
		{"unterminated string", `{"count":1,"data":[{"id":"a}]}`, "unterminated string"},
		{"mismatched bracket", `{"count":1,"data":[{"id":"a","x":[1}]}`, "mismatched"},
		{"data not array", `{"count":1,"data":{}}`, "data must be an array"},
		{"node without id", `{"count":1,"data":[{"name":"x"}]}`, "without an id"},
		{"bad literal", `{"count":1,"data":[{"id":"a","x":tru}]}`, "invalid literal"},
		{"missing colon", `{"count" 1}`, "expected :"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _, err := DecodeNodes([]byte(tt.body), testSyncedAt)
			if err == nil {
				rec.Release()
				t.Fatalf("DecodeNodes(%s) succeeded, want error containing %q", tt.body, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeNodes(%s) error = %v, want %q", tt.body, err, tt.want)
			}
		})
	}
}

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name string
		body string
		want PageInfo
	}{
		{"empty data", `{"count":0,"data":[]}`, PageInfo{Count: 0}},
		{"null data", `{"count":3,"data":null}`, PageInfo{Count: 3}},
		{"no count", `{"data":[{"id":"a"}]}`, PageInfo{Count: -1, Items: 1, Appended: 1}},
		{"next token", `{"count":2,"nextToken":"t\/1","data":[{"id":"a"},{"id":"b"}]}`, PageInfo{Count: 2, Items: 2, Appended: 2, NextToken: "t/1"}},
		{"whitespace", " {\n \"data\" : [ { \"id\" : \"a\" } ] , \"count\" : 1 } ", PageInfo{Count: 1, Items: 1, Appended: 1}},
		{"aggregations skipped", `{"aggregations":{"type":[{"match":"PHOTOS","count":1}]},"count":1,"data":[{"id":"a"}]}`, PageInfo{Count: 1, Items: 1, Appended: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, info, err := DecodeNodes([]byte(tt.body), testSyncedAt)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Release()
			if info != tt.want {
				t.Errorf("info = %+v, want %+v", info, tt.want)
			}
		})
	}
}

func TestDecodeKeepDrops(t *testing.T) {
	d := NewNodeDecoder(nil, testSyncedAt)
	defer d.Release()
	seen := map[string]bool{}
	d.Keep = func(id []byte) bool {
		if seen[string(id)] {
			return false
		}
		seen[string(id)] = true
		return true
	}
	info, err := d.AppendPage([]byte(`{"count":3,"data":[{"id":"a"},{"id":"b"},{"id":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if info.Items != 3 || info.Appended != 2 || d.Len() != 2 {
		t.Errorf("info = %+v, Len = %d, want 3 items, 2 appended", info, d.Len())
	}
	rec := d.NewBatch()
	defer rec.Release()
	if rec.NumRows() != 2 || d.Len() != 0 {
		t.Errorf("batch rows = %d, Len after = %d, want 2 and 0", rec.NumRows(), d.Len())
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"2019-07-06T18:22:00.000Z", true},
		{"2019-07-06T18:22:00Z", true},
		{"2019-07-06T18:22:00.123456789Z", true},
		{"2019-07-06T20:22:00.5+02:00", true},
		{"1969-12-31T23:59:59.999Z", true},
		{"2019-13-06T18:22:00Z", false},
		{"2019-07-06", false},
		{"2019-07-06T18:22:00.000", false},
		{"2019-07-06T18:22:00.Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseTimestamp([]byte(tt.in))
			if ok != tt.ok {
				t.Fatalf("parseTimestamp(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			if !ok {
				return
			}
			ref, err := time.Parse(time.RFC3339Nano, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if want := ref.UnixMicro(); got != want {
				t.Errorf("parseTimestamp(%q) = %d, want %d", tt.in, got, want)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{`plain`, "plain"},
		{`a\"b\\c\/d`, `a"b\c/d`},
		{`\n\t\r\b\f`, "\n\t\r\b\f"},
		{`caf\u00e9`, "café"},
		{`\ud83d\ude00`, "\U0001F600"},
		{`\ud83d`, "\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := unescape(nil, []byte(tt.in))
			if err != nil || string(got) != tt.want {
				t.Errorf("unescape(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// benchPage builds a /search page of n photo nodes as §2.7 shows them, each
// with its own id, parent and dates.
func benchPage(tb testing.TB, n, offset int) []byte {
	tb.Helper()
	var photo map[string]any
	if err := json.Unmarshal(readTestdata(tb, "photo.json"), &photo); err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"count":%d,"data":[`, 1000000)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		photo["id"] = fmt.Sprintf("N%021d", offset+i)
		photo["name"] = fmt.Sprintf("IMG_%06d.JPG", offset+i)
		photo["modifiedDate"] = time.Unix(int64(1.5e9+offset+i), 0).UTC().Format("2006-01-02T15:04:05.000Z")
		enc, _ := json.Marshal(photo)
		b.Write(enc)
	}
	b.WriteString(`],"aggregations":{},"nodeToSearchScoreMap":{}}`)
	return b.Bytes()
}

// BenchmarkDecodeNodes measures decode → Arrow of §2.7 photo nodes; the
// nodes/s metric is the figure recorded in bench/results/fetch.md.
func BenchmarkDecodeNodes(b *testing.B) {
	body := benchPage(b, 200, 0)
	d := NewNodeDecoder(nil, testSyncedAt)
	defer d.Release()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	nodes := 0
	for b.Loop() {
		info, err := d.AppendPage(body)
		if err != nil {
			b.Fatal(err)
		}
		nodes += info.Appended
		if d.Len() >= 8192 {
			d.NewBatch().Release()
		}
	}
	b.ReportMetric(float64(nodes)/b.Elapsed().Seconds(), "nodes/s")
}

// BenchmarkDecodeEncodingJSON is the ceiling to compare with: encoding/json
// into a map, without building any Arrow column.
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	body := benchPage(b, 200, 0)
	b.SetBytes(int64(len(body)))
	nodes := 0
	for b.Loop() {
		var page struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			b.Fatal(err)
		}
		nodes += len(page.Data)
	}
	b.ReportMetric(float64(nodes)/b.Elapsed().Seconds(), "nodes/s")
}

func TestScanStringMatchesEncodingJSON(t *testing.T) {
	alphabet := []string{"a", "b", `"`, `\`, "é", "\n", "/", "\u2028", "😀", " "}
	rnd := uint64(12345)
	next := func() uint64 { rnd ^= rnd << 13; rnd ^= rnd >> 7; rnd ^= rnd << 17; return rnd }
	for n := range 2000 {
		var sb strings.Builder
		for range int(next() % 40) {
			sb.WriteString(alphabet[next()%uint64(len(alphabet))])
		}
		enc, _ := json.Marshal(sb.String())
		data := append(append([]byte(nil), enc...), `,"next":"x"}`...)
		end, esc, err := scanString(data, 0)
		if err != nil || end != len(enc) || esc != bytes.Contains(enc, []byte(`\`)) {
			t.Fatalf("case %d: scanString(%s) = %d, %v, %v; want %d, %v", n, enc, end, esc, err, len(enc), bytes.Contains(enc, []byte(`\`)))
		}
		got, err := unescape(nil, enc[1:len(enc)-1])
		if err != nil || string(got) != sb.String() {
			t.Fatalf("case %d: unescape(%s) = %q, %v; want %q", n, enc, got, err, sb.String())
		}
	}
}

// TestScanStringEveryOffset puts the closing quote (or an escape) at every
// position of the 8-byte words scanString reads, with nothing after the
// string, and checks that a string cut short is an error.
func TestScanStringEveryOffset(t *testing.T) {
	for n := range 25 {
		for _, tail := range []string{"", ",", `,"k":"vvvvvvvvvvvv"}`} {
			for _, esc := range []bool{false, true} {
				body := strings.Repeat("a", n)
				if esc && n > 0 {
					body = strings.Repeat("a", n-1) + `\"` // an escaped quote
				}
				data := []byte(`"` + body + `"` + tail)
				end, gotEsc, err := scanString(data, 0)
				if err != nil || end != len(body)+2 || gotEsc != (esc && n > 0) {
					t.Fatalf("scanString(%s) = %d, %v, %v; want %d, %v", data, end, gotEsc, err, len(body)+2, esc && n > 0)
				}
				if _, _, err := scanString(data[:len(body)+1], 0); err == nil {
					t.Fatalf("scanString(%s): no error for a string without its closing quote", data[:len(body)+1])
				}
			}
		}
	}
	if _, _, err := scanString([]byte(`"abcdefghijk\"`), 0); err == nil {
		t.Fatal(`scanString("abcdefghijk\"): an escaped quote taken for the closing one`)
	}
}

func FuzzDecodeNodes(f *testing.F) {
	f.Add([]byte(`{"count":1,"data":[{"id":"a","name":"x\"y","contentProperties":{"image":{"width":3}}}]}`))
	f.Add(readTestdata(f, "page.json"))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, _, err := DecodeNodes(body, testSyncedAt)
		if err != nil {
			return
		}
		defer rec.Release()
		raw := rec.Column(colRaw).(*JSONArray)
		for i := range raw.Len() {
			if !json.Valid([]byte(raw.Value(i))) && json.Valid(body) {
				t.Fatalf("raw %q of a valid page is not valid JSON", raw.Value(i))
			}
		}
	})
}

// TestDecodeBigIntegers: 19-digit integers arrive exactly, and values past
// int64 stay in raw instead of wrapping around.
func TestDecodeBigIntegers(t *testing.T) {
	body := []byte(`{"count":4,"data":[{"id":"a","version":1234567890123456789},{"id":"b","version":9223372036854775807},` +
		`{"id":"c","version":-9223372036854775808},{"id":"d","version":9223372036854775808}]}`)
	rec, _, err := DecodeNodes(body, testSyncedAt)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	for r, want := range []any{int64(1234567890123456789), int64(math.MaxInt64), int64(math.MinInt64), nil} {
		if got := value(rec, "version", r); got != want {
			t.Errorf("row %d: version = %v, want %v", r, got, want)
		}
	}
	if raw := value(rec, "raw", 3).(string); !strings.Contains(raw, "9223372036854775808") {
		t.Errorf("a version past int64 is lost: raw = %s", raw)
	}
}

// TestDecodeWidthWithEmptyImage: a node with an image object that has no
// width takes none from its video (which keeps it), so the row rebuilds
// the node exactly.
func TestDecodeWidthWithEmptyImage(t *testing.T) {
	node := `{"id":"a","contentProperties":{"image":{"orientation":"1"},"video":{"width":1920,"height":1080,"duration":3.5}}}`
	rec, _, err := DecodeNodes([]byte(`{"count":1,"data":[`+node+`]}`), testSyncedAt)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	got := rebuild(t, rec, 0)
	var want map[string]any
	if err := json.Unmarshal([]byte(node), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		t.Errorf("rebuilt %s\nwant    %s", g, node)
	}
}
