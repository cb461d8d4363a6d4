package engine

import (
	"context"
	"path/filepath"
	"testing"
)

// TestCheckBeforeWriteUnderHeldMemory: when DuckDB holds more memory than
// it can give back (here a temporary table with nowhere to spill; after a
// SYNC, an index changed since the last checkpoint), the block check
// cannot lower the memory limit for its read; the file is not damaged for
// that, and the check passes.
func TestCheckBeforeWriteUnderHeldMemory(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "held.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE t AS SELECT range AS i FROM range(1000)`,
		`SET temp_directory = ''`,
		`CREATE TEMP TABLE held AS SELECT range AS i, repeat('x', 1000) || range AS s FROM range(100000)`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.Exec(ctx, `SET memory_limit = '64MB'`); err == nil {
		t.Skip("DuckDB lowered the limit under 100 MB of a temporary table: nothing to test")
	}
	db.sums.off = true // the read through DuckDB, which sets the limit
	c := db.StartCheckBeforeWrite(ctx)
	err = c.Wait(ctx)
	c.Stop()
	if err != nil {
		t.Errorf("the block check with memory DuckDB cannot give back: %v, want it to pass", err)
	}
}
