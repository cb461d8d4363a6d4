package engine

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duckdb/duckdb-go/v2"
)

// sandboxTest opens a file database with nodes, photos and albums rows, a
// secret file beside it, and a sandbox over it.
func sandboxTest(t *testing.T, opts SandboxOptions) (*DB, *Sandbox, string) {
	t.Helper()
	dir := t.TempDir()
	secret := filepath.Join(dir, "cookies")
	if err := os.WriteFile(secret, []byte("session-id,123-secret\nx,y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(t.Context(), filepath.Join(dir, "ap.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	for _, q := range []string{
		`INSERT INTO nodes (id, name, kind, status, category, "contentType", "contentDate") VALUES ('n1', 'a.jpg', 'FILE', 'AVAILABLE', 'pic', 'image/jpeg', TIMESTAMP '2020-01-02 03:04:05'), ('n2', 'b.mp4', 'FILE', 'AVAILABLE', 'vid', 'video/mp4', NULL)`,
		// Another DuckDB file with a secret, for read_duckdb.
		`ATTACH ` + Quote(filepath.Join(dir, "other.duckdb")) + ` AS other`,
		`CREATE TABLE other.t AS SELECT '123-secret' AS s`,
		`DETACH other`,
		`INSERT INTO albums (id, name) VALUES ('a1', 'Trip')`,
		`CREATE SEQUENCE apsql_test_seq`,
	} {
		if _, err := d.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	sb, err := d.Sandbox(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return d, sb, secret
}

func queryAll(t *testing.T, sb *Sandbox, q string) ([][]any, error) {
	t.Helper()
	rows, err := sb.Query(t.Context(), q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		v := make([]any, len(cols))
		p := make([]any, len(v))
		for i := range v {
			p[i] = &v[i]
		}
		if err := rows.Scan(p...); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// TestSandboxRefuses: every way DuckDB has to read a file, reach the
// network, load code, write or change a setting is refused with
// ErrSandboxed, and the cookie file's content never comes back.
func TestSandboxRefuses(t *testing.T) {
	d, sb, secret := sandboxTest(t, SandboxOptions{})
	dir := filepath.Dir(secret)
	q := Quote(secret)
	for _, c := range []struct{ name, sql string }{
		{"read_text", "SELECT content AS id FROM read_text(" + q + ")"},
		{"read_text list", "SELECT content FROM read_text([" + q + "])"},
		{"read_csv", "SELECT * FROM read_csv(" + q + ")"},
		{"read_csv_auto", "SELECT * FROM read_csv_auto(" + q + ", header = false)"},
		{"sniff_csv", "SELECT * FROM sniff_csv(" + q + ")"},
		{"read_blob", "SELECT content FROM read_blob(" + q + ")"},
		{"glob", "SELECT file FROM glob(" + Quote(dir+"/*") + ")"},
		{"read_duckdb", "SELECT * FROM read_duckdb(" + Quote(filepath.Join(dir, "other.duckdb")) + ")"},
		{"read_parquet", "SELECT * FROM read_parquet(" + q + ")"},
		{"parquet_metadata", "SELECT * FROM parquet_metadata(" + q + ")"},
		{"read_json", "SELECT * FROM read_json(" + q + ")"},
		{"read_json_auto", "SELECT * FROM read_json_auto(" + q + ")"},
		{"read_ndjson", "SELECT * FROM read_ndjson(" + q + ")"},
		{"a path as a table", "SELECT * FROM " + Quote(dir+"/x.csv")},
		{"a URL", "SELECT * FROM read_text('https://example.com/cookies')"},
		{"query()", "SELECT * FROM query(" + Quote("SELECT * FROM read_text("+q+")") + ")"},
		// DuckDB itself refuses these (query() takes one SELECT;
		// query_table() names tables): any error of DuckDB's will do.
		{"query() of SET", "SELECT * FROM query('SET enable_external_access = true') -- duckdb"},
		{"query() of ATTACH", "SELECT * FROM query('ATTACH '':memory:'' AS m2') -- duckdb"},
		{"query_table()", "SELECT * FROM query_table(" + Quote(secret) + ") -- duckdb"},
		{"COPY to a file", "COPY nodes TO " + Quote(filepath.Join(dir, "out.csv"))},
		{"COPY from a file", "COPY nodes FROM " + q},
		{"EXPORT", "EXPORT DATABASE " + Quote(filepath.Join(dir, "export"))},
		{"ATTACH a file", "ATTACH " + Quote(filepath.Join(dir, "other.duckdb")) + " AS o"},
		{"ATTACH a new file", "ATTACH " + Quote(filepath.Join(dir, "new.duckdb")) + " AS n"},
		{"ATTACH memory", "ATTACH ':memory:' AS m"},
		{"DETACH", "DETACH m"},
		{"INSTALL", "INSTALL httpfs"},
		{"LOAD", "LOAD httpfs"},
		{"SET to unlock", "SET enable_external_access = true"},
		{"SET lock", "SET lock_configuration = false"},
		{"RESET", "RESET lock_configuration"},
		{"SET other", "SET memory_limit = '1GB'"},
		{"PRAGMA", "PRAGMA enable_profiling"},
		{"PRAGMA output", "PRAGMA profiling_output = " + Quote(filepath.Join(dir, "p.txt"))},
		{"CALL", "CALL pragma_table_info('nodes')"},
		{"CREATE", "CREATE TABLE x AS SELECT 1"},
		{"CREATE TEMP", "CREATE TEMP TABLE x AS SELECT 1"},
		{"CREATE MACRO", "CREATE TEMP MACRO f() AS 1"},
		{"INSERT", "INSERT INTO albums (id, name) VALUES ('a2', 'x')"},
		{"UPDATE", "UPDATE nodes SET name = 'x'"},
		{"DELETE", "DELETE FROM nodes"},
		{"DROP", "DROP TABLE nodes"},
		{"two statements", "SELECT 1; SELECT 2"},
		{"a write in a query", "SELECT nextval('apsql_test_seq')"},
		{"BEGIN", "BEGIN"},
		{"VACUUM", "VACUUM"},
		{"CHECKPOINT", "CHECKPOINT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows, err := queryAll(t, sb, c.sql)
			if err == nil {
				t.Fatalf("%s: ran (%v), want a refusal", c.sql, rows)
			}
			// A write inside a query is refused by DuckDB's read-only
			// transaction: its own typed error.
			var de *duckdb.Error
			byDuckDB := errors.As(err, &de) && (de.Type == duckdb.ErrorTypeTransaction || strings.HasSuffix(c.sql, "-- duckdb"))
			if !errors.Is(err, ErrSandboxed) && !byDuckDB {
				t.Fatalf("%s: %v (%T), want ErrSandboxed", c.sql, err, err)
			}
			if strings.Contains(err.Error(), "123-secret") {
				t.Fatalf("%s: the error shows the file: %v", c.sql, err)
			}
			if strings.Contains(err.Error(), "\n") && !byDuckDB {
				t.Errorf("%s: a message of several lines: %q", c.sql, err)
			}
		})
	}
	// Nothing was written, attached or unlocked.
	for _, p := range []string{"out.csv", "export", "new.duckdb", "p.txt"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s was written", p)
		}
	}
	rows, err := queryAll(t, sb, "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), (SELECT count(*) FROM duckdb_databases() WHERE NOT internal), (SELECT count(*) FROM albums)")
	if err != nil {
		t.Fatal(err)
	}
	if got := rows[0]; got[0] != false || got[1] != true || got[2] != int64(1) || got[3] != int64(1) {
		t.Errorf("after the refusals: external access, lock, databases, albums = %v, want false true 1 1", got)
	}
	// The session's connection is locked down too (the settings are the
	// instance's) and still writes the database.
	if _, err := d.Exec(t.Context(), "SELECT * FROM read_text("+q+")"); err == nil {
		t.Error("the session's connection reads files after Lockdown")
	}
	if _, err := d.Exec(t.Context(), "INSERT INTO albums (id, name) VALUES ('a2', 'Home')"); err != nil {
		t.Errorf("the session's connection cannot write after Lockdown: %v", err)
	}
	// SYNC's check before it writes does not take the locked settings
	// for damage.
	if err := d.CheckBeforeWrite(t.Context()); err != nil {
		t.Errorf("CheckBeforeWrite after Lockdown: %v", err)
	}
}

// TestSandboxQueries: SELECTs over nodes, photos and albums work, with
// arguments, and leave no transaction open.
func TestSandboxQueries(t *testing.T) {
	d, sb, _ := sandboxTest(t, SandboxOptions{})
	for _, c := range []struct {
		sql  string
		want int
	}{
		{"SELECT id FROM nodes ORDER BY id", 2},
		{"SELECT id, name FROM photos", 1},
		{"FROM albums", 1},
		{"WITH v AS (SELECT id FROM videos) SELECT * FROM v", 1},
		{"SELECT count(*) FROM nodes n JOIN photos p USING (id)", 1},
		{"DESCRIBE nodes", -1},
		{"SELECT * FROM duckdb_tables()", -1},
	} {
		rows, err := queryAll(t, sb, c.sql)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if c.want >= 0 && len(rows) != c.want {
			t.Errorf("%s: %d rows, want %d", c.sql, len(rows), c.want)
		}
	}
	rows, err := sb.Query(t.Context(), "SELECT name FROM nodes WHERE id = ?", "n2")
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for rows.Next() {
		rows.Scan(&name)
	}
	if err := rows.Close(); err != nil || name != "b.mp4" {
		t.Errorf("with an argument: %q, %v", name, err)
	}
	rr, err := sb.QueryArrow(t.Context(), "SELECT id FROM nodes ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rr.Next() {
		n += int(rr.RecordBatch().NumRows())
	}
	rr.Release()
	if n != 2 {
		t.Errorf("QueryArrow: %d rows, want 2", n)
	}
	if n, err := sb.CreateTemp(t.Context(), "sandbox_result", "SELECT id FROM nodes"); err != nil || n != 2 {
		t.Errorf("CreateTemp: %d, %v; want 2 rows", n, err)
	}
	if _, err := sb.CreateTemp(t.Context(), "sandbox_bad", "SELECT * FROM read_text('/etc/passwd')"); !errors.Is(err, ErrSandboxed) {
		t.Errorf("CreateTemp of read_text: %v, want ErrSandboxed", err)
	}
	// No transaction is left open: the session's connection runs a
	// transaction of its own.
	if err := d.Tx(t.Context(), func(tx *sql.Tx) error { return nil }); err != nil {
		t.Errorf("a transaction after the sandbox's queries: %v", err)
	}
}

// TestSandboxLive: a table function that calls LiveAllowed refuses in the
// sandbox unless AllowLive, and runs outside it.
func TestSandboxLive(t *testing.T) {
	for _, allow := range []bool{false, true} {
		d, sb, _ := sandboxTest(t, SandboxOptions{AllowLive: allow, OwnConnection: allow})
		calls := 0
		live := func(ctx context.Context) error {
			calls++
			return LiveAllowed(ctx)
		}
		if err := registerLiveUDF(d, live); err != nil {
			t.Fatal(err)
		}
		_, err := queryAll(t, sb, "SELECT * FROM apsql_test_live()")
		switch {
		case allow && err != nil:
			t.Errorf("AllowLive: %v", err)
		case !allow && (!errors.Is(err, ErrLiveRefused) || !errors.Is(err, ErrSandboxed)):
			t.Errorf("without AllowLive: %v, want ErrLiveRefused", err)
		}
		if !allow && !strings.Contains(err.Error(), "--allow-search") {
			t.Errorf("the refusal does not say how to allow it: %v", err)
		}
		// Outside the sandbox the function runs.
		if _, err := d.Exec(t.Context(), "SELECT * FROM apsql_test_live()"); err != nil {
			t.Errorf("outside the sandbox: %v", err)
		}
		if calls == 0 {
			t.Error("the table function was never bound")
		}
	}
}

// liveSource is an empty table: the stand-in for search().
type liveSource struct{ info duckdb.TypeInfo }

func (s liveSource) ColumnInfos() []duckdb.ColumnInfo {
	return []duckdb.ColumnInfo{{Name: "id", T: s.info}}
}
func (liveSource) Cardinality() *duckdb.CardinalityInfo { return nil }
func (liveSource) Init()                                {}
func (liveSource) FillRow(duckdb.Row) (bool, error)     { return false, nil }

// registerLiveUDF registers apsql_test_live(), which calls live when it
// binds, as search() calls LiveAllowed.
func registerLiveUDF(d *DB, live func(ctx context.Context) error) error {
	info, err := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	if err != nil {
		return err
	}
	return duckdb.RegisterTableUDF(d.Conn(), "apsql_test_live", duckdb.RowTableFunction{
		BindArgumentsContext: func(ctx context.Context, _ map[string]any, _ ...any) (duckdb.RowTableSource, error) {
			if err := live(ctx); err != nil {
				return nil, err
			}
			return liveSource{info}, nil
		},
	})
}
