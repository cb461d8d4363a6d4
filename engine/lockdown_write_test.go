package engine

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A locked-down database (the gallery's, the MCP server's) still takes an
// Arrow insert inside a transaction, as SYNC runs it: the insert does not
// try SET threads, which lock_configuration refuses and which would abort
// the transaction. Before, the insert failed with "could not register
// arrow view due to arrow scan API failure".
func TestInsertInTransactionAfterLockdown(t *testing.T) {
	d, err := Open(t.Context(), Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(t.Context(), `CREATE TABLE t (x BIGINT)`); err != nil {
		t.Fatal(err)
	}
	if err := d.Lockdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	sch := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	in, err := d.Ingester(t.Context(), "t", sch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(t.Context(), "BEGIN TRANSACTION"); err != nil {
		t.Fatal(err)
	}
	if err := in.Insert(t.Context(), rec); err != nil {
		t.Fatalf("insert after Lockdown: %v", err)
	}
	if _, err := d.Exec(t.Context(), "COMMIT"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.QueryRow(t.Context(), "SELECT count(*) FROM t").Scan(&n); err != nil || n != 3 {
		t.Fatalf("rows = %d, %v; want 3", n, err)
	}
}
