package output

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// seqReader yields the rows 0..n-1 of an int64 column "n" and a text
// column "s", in freshly allocated batches of size rows, and notes the
// most memory alloc ever held at once.
type seqReader struct {
	alloc   *memory.CheckedAllocator
	schema  *arrow.Schema
	n, size int64
	next    int64
	cur     arrow.RecordBatch
	batches int
	peak    int
	one     int // the size of the first batch
}

func newSeqReader(t *testing.T, n, size int64) *seqReader {
	t.Helper()
	r := &seqReader{
		alloc: memory.NewCheckedAllocator(memory.NewGoAllocator()),
		schema: arrow.NewSchema([]arrow.Field{
			{Name: "n", Type: arrow.PrimitiveTypes.Int64},
			{Name: "s", Type: arrow.BinaryTypes.String},
		}, nil),
		n: n, size: size,
	}
	t.Cleanup(func() {
		if r.cur != nil {
			r.cur.Release()
		}
		r.alloc.AssertSize(t, 0)
	})
	return r
}

func (r *seqReader) Retain()                        {}
func (r *seqReader) Release()                       {}
func (r *seqReader) Schema() *arrow.Schema          { return r.schema }
func (r *seqReader) Err() error                     { return nil }
func (r *seqReader) Record() arrow.RecordBatch      { return r.cur }
func (r *seqReader) RecordBatch() arrow.RecordBatch { return r.cur }

func (r *seqReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.next >= r.n {
		return false
	}
	b := array.NewRecordBuilder(r.alloc, r.schema)
	defer b.Release()
	ints := b.Field(0).(*array.Int64Builder)
	strs := b.Field(1).(*array.StringBuilder)
	for i := r.next; i < min(r.next+r.size, r.n); i++ {
		ints.Append(i)
		strs.Append(fmt.Sprintf("row %d", i))
	}
	r.next = min(r.next+r.size, r.n)
	r.cur = b.NewRecordBatch()
	r.batches++
	if r.batches == 1 {
		r.one = r.alloc.CurrentAlloc()
	}
	r.peak = max(r.peak, r.alloc.CurrentAlloc())
	return true
}

func writeTable(t *testing.T, rr array.RecordReader, o Options) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Write(context.Background(), &buf, rr, o); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestMaxRows: a long table shows its first and last rows around a "⋮"
// row, the same whatever the batches; a short one is the plain table.
func TestMaxRows(t *testing.T) {
	want := writeTable(t, newSeqReader(t, 100, 100), Options{Format: Table, Headers: true})
	lines := strings.Split(want, "\n")
	// lines: top, header, sep, 100 rows, bottom, footer, "".
	rows := lines[3:103]
	var exp []string
	exp = append(exp, lines[:3]...)
	exp = append(exp, rows[:5]...)
	exp = append(exp, "│  ⋮   │   ⋮    │")
	exp = append(exp, rows[95:]...)
	exp = append(exp, lines[103], "(100 rows, 10 shown; .maxrows -1 shows them all)", "")
	for _, size := range []int64{1, 3, 5, 7, 10, 64, 100, 1000} {
		got := writeTable(t, newSeqReader(t, 100, size), Options{Format: Table, Headers: true, MaxRows: 10})
		if got != strings.Join(exp, "\n") {
			t.Errorf("batches of %d: MaxRows 10 wrote\n%s\nwant\n%s", size, got, strings.Join(exp, "\n"))
		}
	}
	// An odd limit shows one more row before the marker than after it.
	got := writeTable(t, newSeqReader(t, 100, 7), Options{Format: Table, Headers: true, MaxRows: 3})
	if want := "│    0 │ row 0  │\n│    1 │ row 1  │\n│  ⋮   │   ⋮    │\n│   99 │ row 99 │\n"; !strings.Contains(got, want) || strings.Count(got, "row ") != 3 {
		t.Errorf("MaxRows 3 wrote\n%s\nwant rows 0, 1, ⋮, 99", got)
	}
	// Up to the limit, and in other formats, every row is written as usual.
	for _, n := range []int64{0, 1, 9, 10} {
		plain := writeTable(t, newSeqReader(t, n, 3), Options{Format: Table, Headers: true})
		if got := writeTable(t, newSeqReader(t, n, 3), Options{Format: Table, Headers: true, MaxRows: 10}); got != plain {
			t.Errorf("%d rows with MaxRows 10 wrote\n%s\nwant the plain table\n%s", n, got, plain)
		}
	}
	for _, f := range []Format{CSV, JSON, Markdown, Line} {
		if got := writeTable(t, newSeqReader(t, 100, 7), Options{Format: f, Headers: true, MaxRows: 10}); strings.Count(got, "row ") != 100 {
			t.Errorf("%s with MaxRows 10 wrote %d rows, want all 100", f, strings.Count(got, "row "))
		}
	}
	// ASCII borders get an ASCII marker, and hidden columns share the footer.
	got = writeTable(t, newSeqReader(t, 50, 8), Options{Format: Table, Headers: true, MaxRows: 4, ASCII: true})
	if !strings.Contains(got, "|  :   |   :    |") || !strings.Contains(got, "(50 rows, 4 shown;") {
		t.Errorf("ASCII MaxRows 4 wrote\n%s", got)
	}
}

// TestMaxRowsStreams: a long result under MaxRows holds a few batches at
// a time, never the result (10 million rows; 1 million with -short).
func TestMaxRowsStreams(t *testing.T) {
	n := int64(10_000_000)
	if testing.Short() {
		n = 1_000_000
	}
	const size = 2048
	rr := newSeqReader(t, n, size)
	got := writeTable(t, rr, Options{Format: Table, Headers: true, MaxRows: 40})
	if !strings.Contains(got, fmt.Sprintf("(%d rows, 40 shown;", n)) || !strings.Contains(got, fmt.Sprintf("row %d ", n-1)) || strings.Count(got, "row ") != 40 {
		t.Errorf("footer or rows wrong:\n%s", got)
	}
	if batches := float64(rr.peak) / float64(rr.one); batches > 4 {
		t.Errorf("held %d bytes at once, %.1f batches; want at most 4", rr.peak, batches)
	}
}
