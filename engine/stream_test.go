//go:build duckdb_arrow

package engine

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	bindings "github.com/duckdb/duckdb-go-bindings"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/output"
)

// streamConn opens an in-memory DuckDB the way engine.Open does
// (sql.OpenDB over a duckdb connector) and pins one connection.
func streamConn(t *testing.T) *sql.Conn {
	t.Helper()
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		db.Close()
	})
	return conn
}

// streamRows reads rr to its end and returns each row's values as text,
// one string per row, columns joined by |.
func streamRows(t *testing.T, rr array.RecordReader) []string {
	t.Helper()
	var rows []string
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := range int(rec.NumRows()) {
			var cols []string
			for _, c := range rec.Columns() {
				cols = append(cols, c.ValueStr(i))
			}
			// Clone: ValueStr of a string column points into the batch,
			// which the next Next releases.
			rows = append(rows, strings.Clone(strings.Join(cols, "|")))
		}
	}
	if err := rr.Err(); err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return rows
}

// TestDriverLayout fails when duckdb-go's internals no longer match what
// driverHandles reads: QueryArrow then silently falls back to the
// materializing path, so this test is the alarm. Fix driverHandles (or
// drop it, if the driver now exposes streaming) after a driver upgrade.
func TestDriverLayout(t *testing.T) {
	conn := streamConn(t)
	err := conn.Raw(func(dc any) error {
		c := dc.(*duckdb.Conn)
		ds, err := c.PrepareContext(t.Context(), "SELECT 1")
		if err != nil {
			return err
		}
		s := ds.(*duckdb.Stmt)
		defer s.Close()
		h, p, err := driverHandles(c, s)
		if err != nil {
			return err
		}
		if h.Ptr == nil || p.Ptr == nil {
			return errors.New("nil handles")
		}
		// The handles must be live: ask DuckDB about the statement.
		if got := bindings.PreparedStatementColumnCount(p); got != 1 {
			t.Errorf("column count through the prepared handle = %d, want 1", got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("driverHandles: %v; QueryArrow has fallen back to the materializing driver path", err)
	}
}

func TestQueryArrowStreams(t *testing.T) {
	conn := streamConn(t)
	// Far more rows than memory could hold if materialized: the first batch
	// must come at once, and releasing early must stop the query.
	start := time.Now()
	rr, err := QueryArrow(t.Context(), conn, "SELECT i, 'abc' AS s FROM range(10000000000) t(i)")
	if err != nil {
		t.Fatal(err)
	}
	sr, ok := rr.(*streamReader)
	if !ok {
		t.Fatalf("QueryArrow returned a %T, want the streaming reader", rr)
	}
	if !bindings.ResultIsStreaming(sr.res) {
		t.Error("DuckDB result is not a streaming result")
	}
	if !rr.Next() {
		t.Fatalf("no first batch: %v", rr.Err())
	}
	if n := rr.RecordBatch().NumRows(); n != 2048 {
		t.Errorf("first batch has %d rows, want 2048", n)
	}
	rr.Release()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("first batch of a 10^10-row result took %v: not streaming", d)
	}
	// The connection is free again.
	var n int
	if err := conn.QueryRowContext(t.Context(), "SELECT 42").Scan(&n); err != nil || n != 42 {
		t.Fatalf("query after an early Release = %d, %v; want 42", n, err)
	}
}

func TestQueryArrowResults(t *testing.T) {
	conn := streamConn(t)
	tests := []struct {
		name   string
		query  string
		args   []any
		fields string
		want   []string
	}{
		{"values and nulls", "SELECT 1::INTEGER AS a, NULL::VARCHAR AS b, [1, 2] AS l", nil,
			"a: type=int32, nullable|b: type=utf8, nullable|l: type=list<l: int32, nullable>, nullable",
			[]string{`1|(null)|[1,2]`}},
		{"positional args", "SELECT $1::BIGINT + 1 AS n, $2 AS s", []any{41, "x"},
			"n: type=int64, nullable|s: type=utf8, nullable", []string{"42|x"}},
		{"named args", "SELECT $who AS who", []any{sql.Named("who", "me")},
			"who: type=utf8, nullable", []string{"me"}},
		{"several statements, args bind to the last", "CREATE TEMP TABLE st(x INT); INSERT INTO st VALUES (1), (2), (3); SELECT x FROM st WHERE x >= ? ORDER BY x",
			[]any{2}, "x: type=int32, nullable", []string{"2", "3"}},
		{"one string column", "SELECT 'a string longer than twelve bytes' AS s", nil,
			"s: type=utf8, nullable", []string{"a string longer than twelve bytes"}},
		{"empty result", "SELECT 1 AS one WHERE false", nil, "one: type=int32, nullable", nil},
		{"statement without rows", "CREATE TEMP TABLE st2(x INT)", nil, "Count: type=int64, nullable", nil},
		{"more than one chunk", "SELECT count(*) AS n FROM (SELECT * FROM range(5000))", nil,
			"n: type=int64, nullable", []string{"5000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr, err := QueryArrow(t.Context(), conn, tc.query, tc.args...)
			if err != nil {
				t.Fatalf("QueryArrow(%q): %v", tc.query, err)
			}
			defer rr.Release()
			var fields []string
			for _, f := range rr.Schema().Fields() {
				fields = append(fields, f.String())
			}
			if got := strings.Join(fields, "|"); got != tc.fields {
				t.Errorf("schema = %s, want %s", got, tc.fields)
			}
			got := streamRows(t, rr)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("rows = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQueryArrowRowCount(t *testing.T) {
	conn := streamConn(t)
	rr, err := QueryArrow(t.Context(), conn, "SELECT i FROM range(100000) t(i)")
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	var rows, sum int64
	for rr.Next() {
		rec := rr.RecordBatch()
		rows += rec.NumRows()
		for i := range int(rec.NumRows()) {
			sum += rec.Column(0).(*array.Int64).Value(i)
		}
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != 100000 || sum != 100000*99999/2 {
		t.Errorf("rows, sum = %d, %d; want 100000, %d", rows, sum, 100000*99999/2)
	}
	if rr.Next() {
		t.Error("Next after the end returned true")
	}
}

func TestQueryArrowErrors(t *testing.T) {
	conn := streamConn(t)
	t.Run("syntax", func(t *testing.T) {
		_, err := QueryArrow(t.Context(), conn, "SELEC 1")
		var de *duckdb.Error
		if !errors.As(err, &de) || de.Type != duckdb.ErrorTypeParser {
			t.Errorf("QueryArrow(SELEC 1) error = %#v, want a *duckdb.Error of type parser", err)
		}
	})
	t.Run("wrong number of args", func(t *testing.T) {
		if _, err := QueryArrow(t.Context(), conn, "SELECT $1, $2", 1); err == nil {
			t.Error("QueryArrow with a missing argument succeeded")
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		rr, err := QueryArrow(t.Context(), conn,
			"SELECT CASE WHEN i = 50000 THEN error('boom at 50000') ELSE i END AS v FROM range(100000) t(i)")
		if err != nil {
			// DuckDB may also fail before the first batch; either is fine
			// as long as the error is the query's.
			if !strings.Contains(err.Error(), "boom at 50000") {
				t.Fatalf("QueryArrow error = %v, want boom", err)
			}
			return
		}
		defer rr.Release()
		for rr.Next() {
		}
		var de *duckdb.Error
		if err := rr.Err(); !errors.As(err, &de) || !strings.Contains(de.Msg, "boom at 50000") {
			t.Errorf("Err() = %v, want the query's error", err)
		}
	})
	// The connection survives all of the above.
	var n int
	if err := conn.QueryRowContext(t.Context(), "SELECT 7").Scan(&n); err != nil || n != 7 {
		t.Fatalf("query after errors = %d, %v; want 7", n, err)
	}
}

func TestQueryArrowCancel(t *testing.T) {
	conn := streamConn(t)
	tests := []struct {
		name  string
		query string
	}{
		// A blocking aggregate: DuckDB is busy before the first chunk.
		{"before the first batch", "SELECT count(*) FROM range(100000000000) a(i) WHERE i % 7 = 3"},
		// A stream being read when the context ends.
		{"while streaming", "SELECT i FROM range(100000000000) a(i) WHERE i % 1000 = 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			rr, err := QueryArrow(ctx, conn, tc.query)
			if err == nil {
				for rr.Next() {
				}
				err = rr.Err()
				rr.Release()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error = %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("cancellation took %v", d)
			}
			// No interrupt may leak into the next statement.
			var n int
			if err := conn.QueryRowContext(t.Context(), "SELECT 1").Scan(&n); err != nil {
				t.Fatalf("query after a cancelled one: %v", err)
			}
		})
	}
}

func TestQueryArrowMaterializedFallback(t *testing.T) {
	conn := streamConn(t)
	err := conn.Raw(func(dc any) error {
		rr, err := queryMaterialized(t.Context(), dc.(*duckdb.Conn), "SELECT $1::INT AS x", []any{5})
		if err != nil {
			return err
		}
		defer rr.Release()
		if got := streamRows(t, rr); len(got) != 1 || got[0] != "5" {
			t.Errorf("fallback rows = %q, want [5]", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestQueryArrowOutputTypes renders one value of each DuckDB type through
// output, from DuckDB's real Arrow export (types and metadata as DuckDB
// produces them, not as a test builds them).
func TestQueryArrowOutputTypes(t *testing.T) {
	conn := streamConn(t)
	rr, err := QueryArrow(t.Context(), conn, `SELECT 1::TINYINT a, 2::SMALLINT b, 3::HUGEINT c, 4::UBIGINT d,
	-1.5::FLOAT f, 12.345::DECIMAL(5,3) g, 123456789012345678.9::DECIMAL(38,1) h, 0.1::DOUBLE dbl,
	DATE '2019-07-06' i, TIME '18:22:00.25' j, TIMESTAMP '2019-07-06 18:22:00' k,
	TIMESTAMPTZ '2019-07-06 18:22:00+02' l, TIMESTAMP_S '2019-07-06 18:22:01' m,
	TIMESTAMP_MS '2019-07-06 18:22:00.123' n, TIMESTAMP_NS '2019-07-06 18:22:00.123456789' o,
	INTERVAL '1 year 2 months 3 days 04:05:06' p, 'dead\xBE'::BLOB q,
	'12345678-1234-5678-90ab-cdef12345678'::UUID s, '{"a":1}'::JSON t, ['a', NULL] u,
	{'x': 1, 'y': 'z'} v, MAP {'k': 1} w, 'x'::ENUM('x', 'y') x, [1, 2]::INT[2] y, true z,
	'infinity'::TIMESTAMP aa, 'infinity'::DATE ab, NULL::INT nul`)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	var buf strings.Builder
	if _, err := output.Write(t.Context(), &buf, rr, output.Options{Format: output.Line}); err != nil {
		t.Fatal(err)
	}
	want := `    a = 1
    b = 2
    c = 3
    d = 4
    f = -1.5
    g = 12.345
    h = 123456789012345678.9
  dbl = 0.1
    i = 2019-07-06
    j = 18:22:00.25
    k = 2019-07-06 18:22:00
    l = 2019-07-06 16:22:00+00
    m = 2019-07-06 18:22:01
    n = 2019-07-06 18:22:00.123
    o = 2019-07-06 18:22:00.123456789
    p = 1 year 2 months 3 days 04:05:06
    q = dead\xBE
    s = 12345678-1234-5678-90ab-cdef12345678
    t = {"a":1}
    u = [a, NULL]
    v = {'x': 1, 'y': z}
    w = {k=1}
    x = x
    y = [1, 2]
    z = true
   aa = infinity
   ab = infinity
  nul = NULL
`
	if got := buf.String(); got != want {
		t.Errorf("DuckDB types rendered as\n%s\nwant\n%s", got, want)
	}
}
