package output

import (
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// benchReader returns n batches of 2048 rows shaped like the benchmark query
// SELECT * FROM range(N) t(i), (SELECT 'abc' s): an int64 and a short string.
func benchReader(b *testing.B, n int) array.RecordReader {
	b.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	const rows = 2048
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	for k := range rows {
		ib.Append(int64(k) * 4099)
		sb.Append("abc")
	}
	ia, sa := ib.NewArray(), sb.NewArray()
	rec := array.NewRecordBatch(schema, []arrow.Array{ia, sa}, rows)
	recs := make([]arrow.RecordBatch, n)
	for k := range recs {
		recs[k] = rec
	}
	rr, err := array.NewRecordReader(schema, recs)
	if err != nil {
		b.Fatal(err)
	}
	return rr
}

func benchmarkFormat(b *testing.B, f Format) {
	const batches = 64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		rr := benchReader(b, batches)
		b.StartTimer()
		if _, err := Write(b.Context(), io.Discard, rr, Options{Format: f, Headers: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batches*2048), "ns/row")
}

func BenchmarkCSV(b *testing.B)    { benchmarkFormat(b, CSV) }
func BenchmarkTSV(b *testing.B)    { benchmarkFormat(b, TSV) }
func BenchmarkNDJSON(b *testing.B) { benchmarkFormat(b, NDJSON) }
func BenchmarkTable(b *testing.B)  { benchmarkFormat(b, Table) }
