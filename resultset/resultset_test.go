package resultset

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

func TestBuilderRows(t *testing.T) {
	b := New(
		Col("table", String),
		Col("fetched", Int64),
		Col("width", Int32),
		Col("seconds", Float64),
		Col("ok", Bool),
		Col("at", Timestamp),
		Col("parents", StringList),
	)
	at := time.Date(2019, 7, 6, 18, 22, 0, 500000, time.FixedZone("x", 3600))
	n := int64(7)
	var nilStr *string
	b.Append("nodes", 12, int32(3), 1.5, true, at, []string{"a", "b"})
	b.Append(nil, &n, nil, 2*time.Second, nil, time.Time{}, nil)
	b.Append(errors.New("boom"), uint8(1), int64(-4), 3, false, nil, []string{})
	b.Append(nilStr, nil, nil, float32(0.25), nil, nil, nil)
	if got := b.Len(); got != 4 {
		t.Fatalf("Len() = %d, want 4", got)
	}

	rr := b.Reader()
	defer rr.Release()
	if !rr.Next() {
		t.Fatal("Reader has no batch")
	}
	rec := rr.RecordBatch()
	if got := rec.NumRows(); got != 4 {
		t.Fatalf("NumRows() = %d, want 4", got)
	}
	wantTypes := []string{"utf8", "int64", "int32", "float64", "bool", "timestamp[us]", "list<item: utf8, nullable>"}
	for k, f := range rec.Schema().Fields() {
		if got := f.Type.String(); got != wantTypes[k] {
			t.Errorf("column %d type = %s, want %s", k, got, wantTypes[k])
		}
		if !f.Nullable {
			t.Errorf("column %s not nullable", f.Name)
		}
	}
	tests := []struct {
		name string
		col  int
		want string
	}{
		{"strings with nil and error", 0, `["nodes" (null) "boom" (null)]`},
		{"int64 from int, pointer, uint8", 1, `[12 7 1 (null)]`},
		{"int32", 2, `[3 (null) -4 (null)]`},
		{"float64 from duration and int", 3, `[1.5 2 3 0.25]`},
		{"bool", 4, `[true (null) false (null)]`},
		{"list", 6, `[["a" "b"] (null) [] (null)]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rec.Column(tc.col).String(); got != tc.want {
				t.Errorf("column %d = %s, want %s", tc.col, got, tc.want)
			}
		})
	}
	ts := rec.Column(5).(*array.Timestamp)
	if got, want := ts.Value(0), arrow.Timestamp(at.UnixMicro()); got != want {
		t.Errorf("timestamp = %d, want %d", got, want)
	}
	if !ts.IsNull(1) {
		t.Error("zero time.Time is not NULL")
	}
	if rr.Next() {
		t.Error("Reader has a second batch")
	}
	if b.Len() != 0 {
		t.Errorf("Len() after Reader = %d, want 0", b.Len())
	}
}

func TestAppendMisuse(t *testing.T) {
	tests := []struct {
		name string
		cols []Column
		vals []any
		want string
	}{
		{"too few values", []Column{Col("a", String), Col("b", Int64)}, []any{"x"}, "got 1 values for 2 columns"},
		{"string into int", []Column{Col("n", Int64)}, []any{"x"}, `column "n" (Int64): got string, want an integer`},
		{"int32 overflow", []Column{Col("n", Int32)}, []any{int64(1) << 40}, "overflows int32"},
		{"uint64 overflow", []Column{Col("n", Int64)}, []any{uint64(1) << 63}, "overflows int64"},
		{"int into bool", []Column{Col("ok", Bool)}, []any{1}, `column "ok" (Bool): got int, which does not fit`},
		{"string into list", []Column{Col("l", StringList)}, []any{"a"}, "got string, which does not fit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.cols...)
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, tc.want) {
					t.Errorf("Append(%v) panicked with %v, want %q", tc.vals, r, tc.want)
				}
				if b.Len() != 0 {
					t.Errorf("Len() after failed Append = %d, want 0", b.Len())
				}
			}()
			b.Append(tc.vals...)
		})
	}
}

func TestEmptyReader(t *testing.T) {
	b := New(Col("id", String), Col("status", String))
	rr := b.Reader()
	defer rr.Release()
	if got := rr.Schema().NumFields(); got != 2 {
		t.Fatalf("NumFields() = %d, want 2", got)
	}
	rows := int64(0)
	for rr.Next() {
		rows += rr.RecordBatch().NumRows()
	}
	if rows != 0 {
		t.Errorf("rows = %d, want 0", rows)
	}
}
