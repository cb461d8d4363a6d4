//go:build duckdb_arrow

// Command csvbench measures apsql's result path (engine.QueryArrow streaming
// into output.Write as CSV) against DuckDB's own COPY ... TO of the same
// query, in wall time and peak RSS.
//
// Each measurement runs in a fresh child process (this binary with -mode),
// so peak RSS (getrusage maxrss) belongs to that one measurement:
//
//	go run -tags duckdb_arrow ./bench/csvbench -rows 10000000 -runs 3
//
// Modes:
//   - copy: COPY (query) TO 'file' (HEADER), DuckDB's own CSV writer (the ceiling)
//   - stream: engine.QueryArrow + output.Write (what apsql does)
//   - driver: duckdb-go's Arrow.QueryContext + output.Write (the driver's
//     materializing path, for comparison)
//
// The program checks that the stream and copy files are byte-identical.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/output"
)

// measurement is what a child process reports as one JSON line.
type measurement struct {
	Mode    string  `json:"mode"`
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpu_seconds"` // user + system, whole process
	MaxRSS  int64   `json:"max_rss_kb"`
	Rows    int64   `json:"rows"`
	Bytes   int64   `json:"bytes"`
	SHA256  string  `json:"sha256"`
}

func main() {
	mode := flag.String("mode", "", "run one measurement in this process: copy, stream or driver (default: run all, each in a child process)")
	rows := flag.Int64("rows", 10_000_000, "rows in the benchmark query")
	runs := flag.Int("runs", 3, "runs per mode (the median is reported)")
	dir := flag.String("dir", "", "directory for the CSV files (default: a temporary directory)")
	modes := flag.String("modes", "copy,stream,driver", "modes to run, comma-separated")
	flag.Parse()

	if *mode != "" {
		m, err := measure(context.Background(), *mode, *rows, *dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "csvbench:", err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(m)
		return
	}
	if err := orchestrate(*rows, *runs, *dir, strings.Split(*modes, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "csvbench:", err)
		os.Exit(1)
	}
}

func query(rows int64) string {
	return fmt.Sprintf("SELECT * FROM range(%d) t(i), (SELECT 'abc' s)", rows)
}

// orchestrate runs every mode runs times, alternating modes, each in a
// fresh process, and prints a Markdown table of medians.
func orchestrate(rows int64, runs int, dir string, modes []string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "csvbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	results := map[string][]measurement{}
	for r := 0; r < runs; r++ {
		for _, mode := range modes {
			cmd := exec.Command(self, "-mode", mode, "-rows", fmt.Sprint(rows), "-dir", dir)
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("%s run %d: %w", mode, r+1, err)
			}
			var m measurement
			if err := json.Unmarshal(out, &m); err != nil {
				return fmt.Errorf("%s run %d: %w (%s)", mode, r+1, err, out)
			}
			fmt.Fprintf(os.Stderr, "%-6s run %d: %.3fs wall, %.3fs CPU, max RSS %d MiB\n", mode, r+1, m.Seconds, m.CPU, m.MaxRSS/1024)
			results[mode] = append(results[mode], m)
		}
	}
	med := map[string]measurement{}
	for mode, ms := range results {
		sort.Slice(ms, func(i, j int) bool { return ms[i].Seconds < ms[j].Seconds })
		med[mode] = ms[len(ms)/2]
	}
	fmt.Printf("query: %s, %d runs per mode, median wall time; Go %s, GOMAXPROCS %d\n\n", query(rows), runs, runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Println("| mode | wall s | wall × COPY | CPU s (user+sys) | peak RSS (MiB) | CSV bytes |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	base := med["copy"].Seconds
	for _, mode := range modes {
		m := med[mode]
		ratio := "—"
		if base > 0 {
			ratio = fmt.Sprintf("%.2f", m.Seconds/base)
		}
		fmt.Printf("| %s | %.3f | %s | %.3f | %d | %d |\n", mode, m.Seconds, ratio, m.CPU, m.MaxRSS/1024, m.Bytes)
	}
	if c, s := med["copy"], med["stream"]; c.SHA256 != "" && s.SHA256 != "" {
		if c.SHA256 == s.SHA256 {
			fmt.Println("\nstream and COPY files are byte-identical (sha256 " + c.SHA256[:16] + "…)")
		} else {
			return fmt.Errorf("stream and COPY files differ: sha256 %s vs %s", s.SHA256, c.SHA256)
		}
	}
	return nil
}

// measure runs one mode in this process and reports wall time (from the
// query's start to the file being closed) and the process's peak RSS.
func measure(ctx context.Context, mode string, rows int64, dir string) (measurement, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, mode+".csv")
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return measurement{}, err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return measurement{}, err
	}
	defer conn.Close()
	// Warm up the connection (first-query setup is not what we measure).
	if _, err := conn.ExecContext(ctx, "SELECT 1"); err != nil {
		return measurement{}, err
	}

	m := measurement{Mode: mode}
	start := time.Now()
	switch mode {
	case "copy":
		_, err = conn.ExecContext(ctx, fmt.Sprintf("COPY (%s) TO '%s' (HEADER)", query(rows), path))
		m.Rows = rows
	case "stream", "driver":
		m.Rows, err = writeCSV(ctx, conn, mode, rows, path)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	m.Seconds = time.Since(start).Seconds()
	if err != nil {
		return m, err
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return m, err
	}
	m.MaxRSS = ru.Maxrss // KiB on Linux
	m.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	m.Bytes, m.SHA256, err = fileSum(path)
	return m, err
}

func writeCSV(ctx context.Context, conn *sql.Conn, mode string, rows int64, path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	var rr array.RecordReader
	if mode == "stream" {
		rr, err = engine.QueryArrow(ctx, conn, query(rows))
	} else {
		err = conn.Raw(func(dc any) error {
			ar, err := duckdb.NewArrowFromConn(dc.(*duckdb.Conn))
			if err != nil {
				return err
			}
			rr, err = ar.QueryContext(ctx, query(rows))
			return err
		})
	}
	if err != nil {
		f.Close()
		return 0, err
	}
	defer rr.Release()
	n, err := output.Write(ctx, f, rr, output.Options{Format: output.CSV, Headers: true})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func fileSum(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, "", err
	}
	defer os.Remove(path)
	return n, fmt.Sprintf("%x", h.Sum(nil)), nil
}
