package output

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/output")

const goldenDir = "../testdata/output"

// mixedSchema has one column of each kind of value DuckDB hands us.
func mixedSchema() *arrow.Schema {
	ext := func(name string) arrow.Metadata {
		return arrow.NewMetadata([]string{"ARROW:extension:name"}, []string{name})
	}
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "size", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
		{Name: "ratio", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "favorite", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "taken", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "parents", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "raw", Type: arrow.BinaryTypes.String, Nullable: true, Metadata: ext("arrow.json")},
		{Name: "uid", Type: &arrow.FixedSizeBinaryType{ByteWidth: 16}, Nullable: true, Metadata: ext("arrow.uuid")},
	}, nil)
}

const mixedRows = `[
{"id": 1, "name": "beach.jpg", "size": "1234.50", "ratio": 0.1, "favorite": true,
 "taken": "2019-07-06 18:22:00", "day": "2019-07-06", "parents": ["a", "b"],
 "raw": "{\"k\": [1, 2]}", "uid": "EjRWeBI0VniQq83vEjRWeA=="},
{"id": -20, "name": "a, \"quoted\"\nname", "size": "-0.05", "ratio": 100, "favorite": false,
 "taken": "2019-07-06 18:22:00.5", "day": "1970-01-01", "parents": [], "raw": "null", "uid": null},
{"id": null, "name": "日本語の名前", "size": null, "ratio": 1e-7, "favorite": null,
 "taken": null, "day": null, "parents": ["x", null], "raw": null, "uid": null},
{"id": 9223372036854775807, "name": "", "size": "99999999.99", "ratio": 12345678.25, "favorite": true,
 "taken": "1969-12-31 23:59:59.999999", "day": "2024-02-29", "parents": null, "raw": "\"s\"", "uid": null}
]`

// mixedReader returns the four mixed rows, split into batches of batch rows.
func mixedReader(t *testing.T, batch int) array.RecordReader {
	t.Helper()
	schema := mixedSchema()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(mixedRows))
	if err != nil {
		t.Fatalf("RecordFromJSON: %v", err)
	}
	defer rec.Release()
	var recs []arrow.RecordBatch
	for off := int64(0); off < rec.NumRows(); off += int64(batch) {
		recs = append(recs, rec.NewSlice(off, min(off+int64(batch), rec.NumRows())))
	}
	rr, err := array.NewRecordReader(schema, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	t.Cleanup(rr.Release)
	return rr
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./output -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./output -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		batch int
	}{
		{"table.txt", DefaultOptions(), 4},
		{"table-batches.txt", DefaultOptions(), 1},
		{"table-ascii.txt", Options{Format: Table, Headers: true, ASCII: true}, 4},
		{"table-width60.txt", Options{Format: Table, Headers: true, Width: 60}, 4},
		{"table-sample2.txt", Options{Format: Table, Headers: true, SampleRows: 2}, 1},
		{"table-noheaders.txt", Options{Format: Table}, 4},
		{"csv.csv", Options{Format: CSV, Headers: true}, 2},
		{"csv-null.csv", Options{Format: CSV, Null: "NULL"}, 4},
		{"tsv.tsv", Options{Format: TSV, Headers: true}, 3},
		{"json.json", Options{Format: JSON}, 1},
		{"ndjson.ndjson", Options{Format: NDJSON}, 4},
		{"markdown.md", Options{Format: Markdown, Headers: true}, 4},
		{"line.txt", Options{Format: Line, Headers: true}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			rows, err := Write(t.Context(), &buf, mixedReader(t, tc.batch), tc.opts)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if rows != 4 {
				t.Errorf("Write returned %d rows, want 4", rows)
			}
			golden(t, tc.name, buf.Bytes())
		})
	}
}

func TestSameOutputWhateverTheBatches(t *testing.T) {
	for _, f := range []Format{CSV, TSV, JSON, NDJSON, Markdown, Line} {
		t.Run(string(f), func(t *testing.T) {
			var one, many bytes.Buffer
			o := Options{Format: f, Headers: true}
			if _, err := Write(t.Context(), &one, mixedReader(t, 4), o); err != nil {
				t.Fatal(err)
			}
			if _, err := Write(t.Context(), &many, mixedReader(t, 1), o); err != nil {
				t.Fatal(err)
			}
			if one.String() != many.String() {
				t.Errorf("one batch:\n%s\nfour batches:\n%s", one.String(), many.String())
			}
		})
	}
}

func TestEmptyResult(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String},
	}, nil)
	tests := []struct {
		format Format
		want   string
	}{
		{Table, "┌──────┬──────┐\n│  id  │ name │\n├──────┼──────┤\n└──────┴──────┘\n(0 rows)\n"},
		{CSV, "id,name\n"},
		{TSV, "id\tname\n"},
		{JSON, "[]\n"},
		{NDJSON, ""},
		{Markdown, "| id   | name |\n|-----:|------|\n"},
		{Line, ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.format), func(t *testing.T) {
			rr, err := array.NewRecordReader(schema, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer rr.Release()
			var buf bytes.Buffer
			rows, err := Write(t.Context(), &buf, rr, Options{Format: tc.format, Headers: true})
			if err != nil || rows != 0 {
				t.Fatalf("Write = %d, %v; want 0, nil", rows, err)
			}
			if got := buf.String(); got != tc.want {
				t.Errorf("Write(%s) = %q, want %q", tc.format, got, tc.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr string
	}{
		{"table", Table, ""},
		{"CSV", CSV, ""},
		{" ndjson ", NDJSON, ""},
		{"markdown", Markdown, ""},
		{"line", Line, ""},
		{"xml", "", `unknown output format "xml": use one of table, csv, tsv, json, ndjson, markdown, line`},
		{"", "", `unknown output format ""`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFormat(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("ParseFormat(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseFormat(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestWriteCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var buf bytes.Buffer
	_, err := Write(ctx, &buf, mixedReader(t, 1), Options{Format: CSV})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context = %v, want context.Canceled", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			_, err := Write(t.Context(), failingWriter{}, mixedReader(t, 1), Options{Format: f, Headers: true})
			if err == nil || err.Error() != "disk full" {
				t.Errorf("Write to a failing writer = %v, want disk full", err)
			}
		})
	}
}

func TestTableReleasesSample(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	var recs []arrow.RecordBatch
	for k := range 5 {
		b := array.NewInt64Builder(mem)
		b.AppendValues([]int64{int64(k), int64(k * 10)}, nil)
		arr := b.NewArray()
		recs = append(recs, array.NewRecordBatch(schema, []arrow.Array{arr}, 2))
		arr.Release()
		b.Release()
	}
	rr, err := array.NewRecordReader(schema, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	var buf bytes.Buffer
	rows, err := Write(t.Context(), &buf, rr, Options{Format: Table, Headers: true, SampleRows: 3})
	rr.Release()
	if err != nil || rows != 10 {
		t.Fatalf("Write = %d, %v; want 10, nil", rows, err)
	}
	if !strings.HasSuffix(buf.String(), "(10 rows)\n") {
		t.Errorf("footer missing:\n%s", buf.String())
	}
}

// TestPureGo keeps the package free of DuckDB and cgo: cmd/apsql and
// resultset users link it without the native library.
func TestPureGo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	cmd := exec.CommandContext(t.Context(), "go", "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, cgo, _ := strings.Cut(line, " ")
		if strings.Contains(pkg, "duckdb") || cgo != "0" {
			t.Errorf("output depends on %s (cgo files: %s)", pkg, cgo)
		}
	}
}
