package agent

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/apsql/apsql/engine"
)

// aggregate is BENCHMARKS.md's query over a million nodes.
const aggregate = `SELECT year("contentDate") AS y, count(*) AS n, sum(size) AS bytes FROM nodes GROUP BY y ORDER BY y`

// TestSpeedAggregate times the query tool against the same SQL run
// straight on the database (the ceiling), on the mirror in
// $APSQL_MCP_BENCH_DB (e.g. apsql --demo=1000000 --db big.duckdb -c SYNC).
func TestSpeedAggregate(t *testing.T) {
	path := os.Getenv("APSQL_MCP_BENCH_DB")
	if path == "" {
		t.Skip("set APSQL_MCP_BENCH_DB to a mirror of a million nodes")
	}
	db, err := engine.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	median := func(f func()) time.Duration {
		var ds []time.Duration
		for range 7 {
			start := time.Now()
			f()
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	var n int64
	db.QueryRow(t.Context(), "SELECT count(*) FROM nodes").Scan(&n)
	ceiling := median(func() {
		rows, err := db.Query(t.Context(), aggregate)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
	})
	start := time.Now()
	srv, err := New(t.Context(), Options{Session: engine.NewSession(db), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st, ct := mcp.NewInMemoryTransports()
	if _, err := srv.MCP().Connect(t.Context(), st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	initialized := time.Since(start)
	tool := median(func() {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "query", Arguments: map[string]any{"sql": aggregate}})
		if err != nil || res.IsError {
			t.Fatalf("%v %v", err, res)
		}
	})
	t.Logf("nodes %d: initialize (New + connect) %s; query tool %s, the same SQL on the database %s (ratio %.2f)", n, initialized.Round(time.Millisecond), tool.Round(time.Millisecond), ceiling.Round(time.Millisecond), float64(tool)/float64(ceiling))
	if tool > 200*time.Millisecond {
		t.Errorf("query tool %s, want at most 200 ms", tool)
	}
}
