package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/apsql/apsql/model"
)

// nodeSchema is the Arrow schema of model.NodeColumns, as the fetcher builds
// it (the engine does not import fetch).
func nodeSchema() *arrow.Schema {
	fields := make([]arrow.Field, len(model.NodeColumns))
	for i, c := range model.NodeColumns {
		var t arrow.DataType
		switch c.Type {
		case model.Varchar, model.JSON:
			t = arrow.BinaryTypes.String
		case model.VarcharList:
			t = arrow.ListOf(arrow.BinaryTypes.String)
		case model.BigInt:
			t = arrow.PrimitiveTypes.Int64
		case model.Integer:
			t = arrow.PrimitiveTypes.Int32
		case model.Double:
			t = arrow.PrimitiveTypes.Float64
		case model.Boolean:
			t = arrow.FixedWidthTypes.Boolean
		case model.Timestamp:
			t = &arrow.TimestampType{Unit: arrow.Microsecond}
		default:
			panic("unknown type " + c.Type)
		}
		fields[i] = arrow.Field{Name: c.Name, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// testValue is row r's value of column c, or nil for NULL: every column
// has NULLs somewhere and distinct values elsewhere, so a value read from
// the wrong column shows.
func testValue(c model.Column, col, r int) any {
	if (r+col)%7 == 3 && c.Name != "id" {
		return nil
	}
	switch c.Type {
	case model.Varchar:
		if c.Name == "id" {
			return fmt.Sprintf("id%06d", r)
		}
		return fmt.Sprintf("%s-%d", c.Name, r%50)
	case model.JSON:
		return fmt.Sprintf(`{"r":%d,"s":"it's"}`, r)
	case model.VarcharList:
		l := make([]string, r%3)
		for i := range l {
			l[i] = fmt.Sprintf("p%d", r+i)
		}
		return l
	case model.BigInt:
		return int64(r)*1000 + int64(col)
	case model.Integer:
		return int32(r*10 + col)
	case model.Double:
		return float64(r) + float64(col)/8
	case model.Boolean:
		return (r+col)%2 == 0
	case model.Timestamp:
		return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r*3600+col) * time.Second)
	}
	panic("unknown type")
}

// testBatch builds rows [lo, hi) as one record batch.
func testBatch(lo, hi int) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, nodeSchema())
	defer b.Release()
	for r := lo; r < hi; r++ {
		for i, c := range model.NodeColumns {
			v := testValue(c, i, r)
			fb := b.Field(i)
			if v == nil {
				fb.AppendNull()
				continue
			}
			switch x := v.(type) {
			case string:
				fb.(*array.StringBuilder).Append(x)
			case []string:
				lb := fb.(*array.ListBuilder)
				lb.Append(true)
				for _, s := range x {
					lb.ValueBuilder().(*array.StringBuilder).Append(s)
				}
			case int64:
				fb.(*array.Int64Builder).Append(x)
			case int32:
				fb.(*array.Int32Builder).Append(x)
			case float64:
				fb.(*array.Float64Builder).Append(x)
			case bool:
				fb.(*array.BooleanBuilder).Append(x)
			case time.Time:
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(x.UnixMicro()))
			}
		}
	}
	return b.NewRecordBatch()
}

func nodesTable(t *testing.T, d *DB, name string) {
	t.Helper()
	tb, _ := model.Lookup("nodes")
	if _, err := d.Exec(t.Context(), d.CreateTableSQL(tb, name)); err != nil {
		t.Fatal(err)
	}
}

// TestIngestMatchesSQL guards against duckdb-go's Arrow view bug (issues
// #24, #28: values from the wrong columns): a table loaded through the
// Arrow path must equal one loaded with plain INSERT statements, and
// queries reading some columns or aggregating must agree too.
func TestIngestMatchesSQL(t *testing.T) {
	d := openTest(t)
	ctx := t.Context()
	nodesTable(t, d, "via_arrow")
	nodesTable(t, d, "via_sql")
	const n = 700

	in, err := d.Ingester(ctx, "via_arrow", nodeSchema())
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < n; lo += 300 {
		rec := testBatch(lo, min(lo+300, n))
		err := in.Insert(ctx, rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if in.Rows() != n {
		t.Errorf("Rows() = %d, want %d", in.Rows(), n)
	}

	marks := strings.TrimSuffix(strings.Repeat("?, ", len(model.NodeColumns)), ", ")
	err = d.Tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, "INSERT INTO via_sql VALUES ("+marks+")")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for r := range n {
			args := make([]any, len(model.NodeColumns))
			for i, c := range model.NodeColumns {
				args[i] = testValue(c, i, r)
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("row %d: %w", r, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	queries := []struct{ name, q string }{
		{"arrow except sql", "SELECT count(*) FROM (SELECT * FROM via_arrow EXCEPT SELECT * FROM via_sql)"},
		{"sql except arrow", "SELECT count(*) FROM (SELECT * FROM via_sql EXCEPT SELECT * FROM via_arrow)"},
		{"some columns", "SELECT count(*) FROM via_arrow a JOIN via_sql s USING (id) WHERE a.make IS DISTINCT FROM s.make OR a.width IS DISTINCT FROM s.width OR a.raw::VARCHAR IS DISTINCT FROM s.raw::VARCHAR"},
		{"aggregates", "SELECT (SELECT sum(size) - sum(version) + count(md5) + sum(width) FROM via_arrow) - (SELECT sum(size) - sum(version) + count(md5) + sum(width) FROM via_sql)"},
	}
	for _, tt := range queries {
		t.Run(tt.name, func(t *testing.T) {
			var got int64
			if err := d.QueryRow(ctx, tt.q).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != 0 {
				t.Errorf("%s = %d, want 0", tt.q, got)
			}
		})
	}
	var cnt int
	d.QueryRow(ctx, "SELECT count(*) FROM via_arrow").Scan(&cnt)
	if cnt != n {
		t.Errorf("via_arrow has %d rows, want %d", cnt, n)
	}
	assertNoIngestViews(t, d)
}

func assertNoIngestViews(t *testing.T, d *DB) {
	t.Helper()
	var views int
	if err := d.QueryRow(t.Context(), `SELECT count(*) FROM duckdb_views() WHERE view_name LIKE '\_\_apsql\_ingest%' ESCAPE '\'`).Scan(&views); err != nil {
		t.Fatal(err)
	}
	if views != 0 {
		t.Errorf("%d internal ingest views left behind, want 0", views)
	}
}

func TestIngesterSchemaErrors(t *testing.T) {
	d := openTest(t)
	nodesTable(t, d, "t")
	full := nodeSchema().Fields()
	swapped := append([]arrow.Field(nil), full...)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	tests := []struct {
		name   string
		table  string
		fields []arrow.Field
		want   string
	}{
		{"missing column", "t", full[:len(full)-1], `lack column "raw"`},
		{"extra field", "t", append(append([]arrow.Field(nil), full...), arrow.Field{Name: "extra", Type: arrow.BinaryTypes.String}), `extra field "extra"`},
		{"wrong order", "t", swapped, `field 2 of the batches is "kind", but column 2 of the table is "name"`},
		{"no table", "nope", full, "no such table"},
		{"no schema", "nowhere.t", full, "no such table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Ingester(t.Context(), tt.table, arrow.NewSchema(tt.fields, nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Ingester(%s) error = %v, want one containing %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestIngestReaderAndSchemaQualified(t *testing.T) {
	d := openTest(t)
	ctx := t.Context()
	if _, err := d.Exec(ctx, "CREATE SCHEMA staging"); err != nil {
		t.Fatal(err)
	}
	tb, _ := model.Lookup("nodes")
	if _, err := d.Exec(ctx, strings.Replace(d.CreateTableSQL(tb, "t"), `"t"`, `staging."t"`, 1)); err != nil {
		t.Fatal(err)
	}
	in, err := d.Ingester(ctx, "staging.t", nodeSchema())
	if err != nil {
		t.Fatal(err)
	}
	var recs []arrow.RecordBatch
	for lo := 0; lo < 1000; lo += 250 {
		recs = append(recs, testBatch(lo, lo+250))
	}
	rr, err := array.NewRecordReader(nodeSchema(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	defer rr.Release()
	if err := in.InsertReader(ctx, rr); err != nil {
		t.Fatal(err)
	}
	var n, distinct int
	d.QueryRow(ctx, "SELECT count(*), count(DISTINCT id) FROM staging.t").Scan(&n, &distinct)
	if n != 1000 || distinct != 1000 || in.Rows() != 1000 {
		t.Errorf("after InsertReader: %d rows (%d distinct), Rows() = %d, want 1000", n, distinct, in.Rows())
	}
	assertNoIngestViews(t, d)
}

func TestIngestFailuresLeaveNothing(t *testing.T) {
	d := openTest(t)
	nodesTable(t, d, "t")
	in, err := d.Ingester(t.Context(), "t", nodeSchema())
	if err != nil {
		t.Fatal(err)
	}
	rec := testBatch(0, 100)
	defer rec.Release()
	tests := []struct {
		name string
		ctx  func() context.Context
		want string
	}{
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, "cancel"},
		// The second insert of the same ids violates the primary key.
		{"constraint", t.Context, "uplicate key"},
	}
	if err := in.Insert(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := in.Insert(tt.ctx(), rec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Insert error = %v, want one containing %q", err, tt.want)
			}
			var n int
			d.QueryRow(t.Context(), "SELECT count(*) FROM t").Scan(&n)
			if n != 100 {
				t.Errorf("table has %d rows after a failed insert, want 100", n)
			}
			assertNoIngestViews(t, d)
		})
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(nodeSchema().Fields()[:3], nil))
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("x")
	b.Field(1).AppendNull()
	b.Field(2).AppendNull()
	bad := b.NewRecordBatch()
	defer bad.Release()
	if err := in.Insert(t.Context(), bad); err == nil || !strings.Contains(err.Error(), "another schema") {
		t.Errorf("Insert of a batch with another schema: %v, want an error", err)
	}
}

func TestIngestStream(t *testing.T) {
	d := openTest(t)
	nodesTable(t, d, "t")
	// The insert runs on one DuckDB thread (oneThread) and puts the user's
	// setting back afterwards, whatever happened.
	if _, err := d.Exec(t.Context(), "SET threads = 3"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		var n int
		if err := d.QueryRow(t.Context(), "SELECT current_setting('threads')").Scan(&n); err != nil || n != 3 {
			t.Errorf("threads after the inserts = %d (%v), want 3 as set before", n, err)
		}
	}()
	tests := []struct {
		name    string
		batches int
		cause   error
		want    int // rows in t afterwards
	}{
		{"committed", 3, nil, 3 * 400},
		{"empty", 0, nil, 3 * 400},
		{"failed producer", 2, errors.New("fetch page 7: 503"), 3 * 400},
	}
	next := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := d.Ingester(t.Context(), "t", nodeSchema())
			if err != nil {
				t.Fatal(err)
			}
			s := in.Stream(t.Context())
			for range tt.batches {
				rec := testBatch(next, next+400)
				next += 400
				err := s.Send(t.Context(), rec)
				rec.Release()
				if err != nil {
					t.Fatal(err)
				}
			}
			err = s.Close(tt.cause)
			if !errors.Is(err, tt.cause) {
				t.Errorf("Close(%v) = %v", tt.cause, err)
			}
			var n int
			d.QueryRow(t.Context(), "SELECT count(*) FROM t").Scan(&n)
			if n != tt.want {
				t.Errorf("t has %d rows, want %d", n, tt.want)
			}
			assertNoIngestViews(t, d)
		})
	}
	// An INSERT that fails (a duplicate key) stops Send instead of blocking it.
	in, _ := d.Ingester(t.Context(), "t", nodeSchema())
	s := in.Stream(t.Context())
	var sendErr error
	for i := 0; i < 5 && sendErr == nil; i++ {
		rec := testBatch(0, 400)
		sendErr = s.Send(t.Context(), rec)
		rec.Release()
	}
	if err := s.Close(nil); err == nil || !strings.Contains(err.Error(), "uplicate key") {
		t.Errorf("Close after a duplicate key = %v, want the constraint error", err)
	}
}

// TestExecOneThread: the statement runs with threads = 1 (the COMMIT of a
// first SYNC), and the user's setting comes back after it, committed or
// failed.
func TestExecOneThread(t *testing.T) {
	d := openTest(t)
	ctx := t.Context()
	if _, err := d.Exec(ctx, "SET threads = 3"); err != nil {
		t.Fatal(err)
	}
	threads := func() int {
		var n int
		if err := d.QueryRow(ctx, "SELECT current_setting('threads')").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := d.ExecOneThread(ctx, "CREATE TABLE seen AS SELECT current_setting('threads')::INTEGER AS n"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.QueryRow(ctx, "SELECT n FROM seen").Scan(&n); err != nil || n != 1 {
		t.Errorf("threads inside ExecOneThread = %d (%v), want 1", n, err)
	}
	if n := threads(); n != 3 {
		t.Errorf("threads after ExecOneThread = %d, want 3 as set before", n)
	}
	// A transaction's COMMIT, as the first SYNC runs it.
	if _, err := d.Exec(ctx, "BEGIN TRANSACTION"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(ctx, "INSERT INTO seen VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExecOneThread(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := d.QueryRow(ctx, "SELECT count(*) FROM seen").Scan(&n); err != nil || n != 2 {
		t.Errorf("rows after the COMMIT = %d (%v), want 2", n, err)
	}
	if n := threads(); n != 3 {
		t.Errorf("threads after ExecOneThread(COMMIT) = %d, want 3", n)
	}
	// A statement that fails puts the setting back too.
	if _, err := d.ExecOneThread(ctx, "INSERT INTO no_such_table VALUES (1)"); err == nil {
		t.Error("ExecOneThread of a failing statement: no error")
	}
	if n := threads(); n != 3 {
		t.Errorf("threads after a failed ExecOneThread = %d, want 3", n)
	}
}

// BenchmarkIngest measures the Arrow path with the fetcher's batch size.
func BenchmarkIngest(b *testing.B) {
	d, err := Open(b.Context(), Memory)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	tb, _ := model.Lookup("nodes")
	const rows = 8192
	rec := testBatch(0, rows)
	defer rec.Release()
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("t%d", i)
		if _, err := d.Exec(b.Context(), d.CreateTableSQL(model.Table{Columns: tb.Columns}, name)); err != nil {
			b.Fatal(err)
		}
		in, err := d.Ingester(b.Context(), name, nodeSchema())
		if err != nil {
			b.Fatal(err)
		}
		if err := in.Insert(b.Context(), rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
