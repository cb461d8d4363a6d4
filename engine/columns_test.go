package engine

import (
	"errors"
	"slices"
	"testing"
)

// TestColumns: the result columns of a query come from preparing it,
// without running it; the sandbox checks the query first.
func TestColumns(t *testing.T) {
	ctx := t.Context()
	d, err := Open(ctx, Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(ctx, `CREATE SEQUENCE columns_seq`); err != nil {
		t.Fatal(err)
	}
	cols, err := d.Columns(`SELECT nextval('columns_seq') AS ID, name FROM nodes`)
	if err != nil || !slices.Equal(cols, []string{"ID", "name"}) {
		t.Fatalf("Columns = %v, %v; want [ID name]", cols, err)
	}
	if !HasColumn(cols, "id") || HasColumn(cols, "size") {
		t.Errorf("HasColumn over %v: id %v, size %v; want true, false", cols, HasColumn(cols, "id"), HasColumn(cols, "size"))
	}
	var n int64
	if err := d.QueryRow(ctx, `SELECT coalesce(last_value, 0) FROM duckdb_sequences() WHERE sequence_name = 'columns_seq'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the sequence is at %d (%v): Columns ran the query", n, err)
	}
	if _, err := d.Columns(`SELECT 1; SELECT 2`); err == nil {
		t.Error("Columns of two statements succeeded")
	}
	sb, err := d.Sandbox(ctx, SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if cols, err := sb.Columns(ctx, `SELECT id, size FROM nodes`); err != nil || !slices.Equal(cols, []string{"id", "size"}) {
		t.Errorf("Sandbox.Columns = %v, %v; want [id size]", cols, err)
	}
	if _, err := sb.Columns(ctx, `DELETE FROM nodes RETURNING id`); !errors.Is(err, ErrSandboxed) {
		t.Errorf("Sandbox.Columns of a DELETE = %v, want ErrSandboxed", err)
	}
}
