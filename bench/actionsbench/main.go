// Command actionsbench measures apsql's action statements against the
// emulator running in a separate process (this program re-executed with
// -serve), each next to a ceiling measured in the same run:
//
//   - DOWNLOAD of N files of about 1 MB (md5 verified, fsync, rename), in
//     MB/s, against a plain concurrent HTTP GET loop over the same files
//     that only discards the bytes;
//   - UPLOAD of the same N files, in files/s, and its md5 hashing phase (as
//     EXPLAIN UPLOAD runs it) in MB/s against cores × the single-core md5
//     speed;
//   - TRASH of 10,000 nodes with the emulator's latency set: the number of
//     requests (must be 200) and the wall time, against the time 200
//     sequential round trips divided by the statement's parallelism would
//     take.
//
// Usage: go run -tags duckdb_arrow ./bench/actionsbench [-files 1000] [-size 1048576] [-trash 10000] [-latency 100ms]
package main

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/output"
)

func main() {
	var (
		serve   = flag.Bool("serve", false, "internal: run the emulator and print its URL and cookies")
		nodes   = flag.Int("nodes", 10, "internal: -serve library size")
		files   = flag.Int("files", 1000, "files to upload and download")
		size    = flag.Int("size", 1<<20, "bytes per file (each varies by up to 1%)")
		trashN  = flag.Int("trash", 10000, "nodes to TRASH")
		latency = flag.Duration("latency", 100*time.Millisecond, "emulator latency during TRASH")
		conc    = flag.Int("concurrency", 8, "DOWNLOAD and UPLOAD concurrency, and the GET loop's")
		cpuProf = flag.String("cpuprofile", "", "write a CPU profile of the DOWNLOAD to `FILE`")
		workDir = flag.String("dir", "", "work directory (default: a new temporary one, removed after)")
	)
	flag.Parse()
	downloadProfile = *cpuProf
	if *serve {
		if err := runServer(*nodes); err != nil {
			fmt.Fprintln(os.Stderr, "actionsbench -serve:", err)
			os.Exit(1)
		}
		return
	}
	b := &bench{files: *files, size: *size, trash: *trashN, latency: *latency, conc: *conc}
	if err := b.run(context.Background(), *workDir); err != nil {
		fmt.Fprintln(os.Stderr, "actionsbench:", err)
		os.Exit(1)
	}
}

// downloadProfile is the -cpuprofile file ("" for none).
var downloadProfile string

// runServer serves an emulator until stdin closes (the parent exits).
func runServer(nodes int) error {
	srv, err := emulator.New(emulator.Options{Nodes: nodes, Seed: 1, State: true})
	if err != nil {
		return err
	}
	u, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	cookies, _ := json.Marshal(srv.Cookies())
	fmt.Printf("%s\n%s\n", u, cookies)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return srv.Close()
}

// service is an emulator in a child process.
type service struct {
	url     string
	cookies map[string]string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
}

func startService(nodes int) (*service, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve", "-nodes", fmt.Sprint(nodes))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := bufio.NewReader(stdout)
	u, err1 := r.ReadString('\n')
	c, err2 := r.ReadString('\n')
	if err := errors.Join(err1, err2); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("emulator process: %w", err)
	}
	s := &service{url: strings.TrimSpace(u), cmd: cmd, stdin: stdin}
	if err := json.Unmarshal([]byte(c), &s.cookies); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	return s, nil
}

func (s *service) stop() {
	_ = s.stdin.Close()
	_ = s.cmd.Wait()
}

// counter counts requests by method and path prefix.
type counter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// session is an apsql session (in-memory database, actions registered)
// talking to svc.
type session struct {
	db  *engine.DB
	s   *engine.Session
	c   *fetch.Client
	cnt *counter
}

func newSession(ctx context.Context, svc *service) (*session, error) {
	cookies, err := fetch.NewCookies(svc.cookies)
	if err != nil {
		return nil, err
	}
	cnt := &counter{next: http.DefaultTransport.(*http.Transport).Clone(), n: map[string]int{}}
	tr := cnt.next.(*http.Transport)
	tr.MaxIdleConnsPerHost = 64
	c, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: svc.url, HTTPClient: &http.Client{Transport: cnt}})
	if err != nil {
		return nil, err
	}
	db, err := engine.Open(ctx, engine.Memory)
	if err != nil {
		return nil, err
	}
	actions.Register(db.Commands(), func(context.Context) (*fetch.Client, error) { return c, nil })
	s := engine.NewSession(db)
	s.Yes = true
	s.Render = output.Human // the summaries as people see them ("1,000 ok")
	return &session{db: db, s: s, c: c, cnt: cnt}, nil
}

func (ss *session) run(ctx context.Context, stmt string) (string, time.Duration, error) {
	t0 := time.Now()
	res, err := ss.s.Run(ctx, stmt)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", stmt, err)
	}
	if res.Rows != nil {
		res.Rows.Release()
	}
	return res.Summary, time.Since(t0), nil
}

type bench struct {
	files, size, trash, conc int
	latency                  time.Duration
}

func (b *bench) run(ctx context.Context, workDir string) error {
	if workDir == "" {
		d, err := os.MkdirTemp("", "actionsbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		workDir = d
	}
	fmt.Printf("# actionsbench %s, GOMAXPROCS %d, %d files of ~%d bytes, concurrency %d\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOMAXPROCS(0), b.files, b.size, b.conc)
	if err := b.transfers(ctx, workDir); err != nil {
		return err
	}
	return b.trashBench(ctx)
}

// transfers measures UPLOAD, its hashing, and DOWNLOAD.
func (b *bench) transfers(ctx context.Context, workDir string) error {
	src := filepath.Join(workDir, "bench")
	total, err := makeFiles(src, b.files, b.size)
	if err != nil {
		return err
	}
	mb := float64(total) / 1e6

	// Hashing: cores × single-core md5 is the ceiling.
	single := md5Speed()
	cores := runtime.GOMAXPROCS(0)
	svc, err := startService(10)
	if err != nil {
		return err
	}
	defer svc.stop()
	ss, err := newSession(ctx, svc)
	if err != nil {
		return err
	}
	defer ss.db.Close()
	_, d, err := ss.run(ctx, fmt.Sprintf(`EXPLAIN UPLOAD '%s'`, src))
	if err != nil {
		return err
	}
	hashRate := mb / d.Seconds()
	fmt.Printf("| md5 hashing (EXPLAIN UPLOAD, %d files) | %.0f MB/s | %d cores × %.0f MB/s single-core = %.0f MB/s | %.2f |\n",
		b.files, hashRate, cores, single, single*float64(cores), hashRate/(single*float64(cores)))

	sum, d, err := ss.run(ctx, fmt.Sprintf(`UPLOAD '%s' TO 'actionsbench' (CONCURRENCY %d)`, src, b.conc))
	if err != nil {
		return err
	}
	posts := ss.cnt.get("POST /cdproxy/nodes")
	fmt.Printf("| UPLOAD %d files | %.0f files/s (%.0f MB/s), %d uploads | — | — |\n", b.files, float64(b.files)/d.Seconds(), mb/d.Seconds(), posts)
	if posts != b.files || strings.Contains(sum, "failed") {
		return fmt.Errorf("upload did not complete: %s", sum)
	}

	ids, err := benchIDs(ctx, ss.db)
	if err != nil {
		return err
	}
	owner, err := ss.c.OwnerID(ctx)
	if err != nil {
		return err
	}
	ceil1, err := getLoop(ctx, svc, ids, owner, b.conc)
	if err != nil {
		return err
	}
	out := filepath.Join(workDir, "media")
	if downloadProfile != "" {
		f, err := os.Create(downloadProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	sum, d, err = ss.run(ctx, fmt.Sprintf(`DOWNLOAD (SELECT id FROM nodes WHERE parentId = (SELECT parentId FROM nodes WHERE name = 'f0000.jpg')) TO '%s' (CONCURRENCY %d)`, out, b.conc))
	if err != nil {
		return err
	}
	pprof.StopCPUProfile()
	if !strings.Contains(sum, thousands(b.files)+" ok") {
		return fmt.Errorf("download did not complete: %s", sum)
	}
	dl := mb / d.Seconds()
	ceil2, err := getLoop(ctx, svc, ids, owner, b.conc)
	if err != nil {
		return err
	}
	ceil := max(ceil1, ceil2)
	ceilMD5, err := getLoopHash(ctx, svc, ids, owner, b.conc, true)
	if err != nil {
		return err
	}
	fmt.Printf("| DOWNLOAD %d files (md5, fsync, rename) | %.0f MB/s | plain GET loop %.0f MB/s (runs: %.0f, %.0f) | %.2f |\n",
		b.files, dl, ceil, ceil1, ceil2, dl/ceil)
	fmt.Printf("| DOWNLOAD %d files, same-work ceiling | %.0f MB/s | GET loop that also md5s each body %.0f MB/s | %.2f |\n",
		b.files, dl, ceilMD5, dl/ceilMD5)
	_, d, err = ss.run(ctx, fmt.Sprintf(`DOWNLOAD (SELECT id FROM nodes WHERE parentId = (SELECT parentId FROM nodes WHERE name = 'f0000.jpg')) TO '%s' (CONCURRENCY %d)`, out, b.conc))
	if err != nil {
		return err
	}
	fmt.Printf("| DOWNLOAD re-run (all present: md5 check only) | %.2f s | — | — |\n", d.Seconds())
	return nil
}

// trashBench measures TRASH of b.trash nodes at the emulator's latency.
func (b *bench) trashBench(ctx context.Context) error {
	svc, err := startService(b.trash + 100)
	if err != nil {
		return err
	}
	defer svc.stop()
	ss, err := newSession(ctx, svc)
	if err != nil {
		return err
	}
	defer ss.db.Close()
	in, err := ss.db.Ingester(ctx, "nodes", fetch.NodeSchema())
	if err != nil {
		return err
	}
	if _, err := ss.c.StreamSearch(ctx, "", "", func(rb arrow.RecordBatch) error { return in.Insert(ctx, rb) }); err != nil {
		return err
	}
	resp, err := http.Post(svc.url+"/_emulator/faults?latency="+url.QueryEscape(b.latency.String()), "text/plain", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	sum, d, err := ss.run(ctx, fmt.Sprintf(`TRASH (SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT %d)`, b.trash))
	if err != nil {
		return err
	}
	reqs := ss.cnt.get("PATCH /drive/v1/trash")
	ideal := time.Duration(reqs) * b.latency / 8 // TRASH keeps 8 batches in flight
	fmt.Printf("| TRASH %d nodes at --latency %s | %d requests, %.2f s | %d round trips / 8 in flight = %.2f s | %.2f |\n",
		b.trash, b.latency, reqs, d.Seconds(), reqs, ideal.Seconds(), ideal.Seconds()/d.Seconds())
	fmt.Printf("\ntrash summary: %s\n", sum)
	return nil
}

// makeFiles writes n files of about size bytes (random content, so no two
// are equal) and returns their total size.
func makeFiles(dir string, n, size int) (int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, size+size/100)
	var total int64
	for i := range n {
		sz := size + r.IntN(size/100+1)
		for k := 0; k < sz; k += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && k+j < sz; j++ {
				buf[k+j] = byte(v >> (8 * j))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.jpg", i)), buf[:sz], 0o644); err != nil {
			return 0, err
		}
		total += int64(sz)
	}
	return total, nil
}

// md5Speed is one core's md5 throughput in MB/s over an in-memory buffer.
func md5Speed() float64 {
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	h := md5.New()
	h.Write(buf[:1<<20]) // warm up
	t0 := time.Now()
	h.Write(buf)
	return float64(len(buf)) / 1e6 / time.Since(t0).Seconds()
}

func benchIDs(ctx context.Context, db *engine.DB) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT id FROM nodes WHERE parentId = (SELECT parentId FROM nodes WHERE name = 'f0000.jpg')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// getLoop is the ceiling: conc goroutines GET every file through
// contentRedirection (following the redirect) and discard the bytes.
func getLoop(ctx context.Context, svc *service, ids []string, owner string, conc int) (float64, error) {
	return getLoopHash(ctx, svc, ids, owner, conc, false)
}

// getLoopHash is getLoop; with hash, each body also goes through md5 (the
// work DOWNLOAD cannot skip), which makes a second, same-work ceiling.
func getLoopHash(ctx context.Context, svc *service, ids []string, owner string, conc int, hash bool) (float64, error) {
	cookies, err := fetch.NewCookies(svc.cookies)
	if err != nil {
		return 0, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: tr}
	var next, bytes atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				u := fmt.Sprintf("%s/drive/v1/nodes/%s/contentRedirection?querySuffix=%s&ownerId=%s&resourceVersion=V2",
					svc.url, ids[i], url.QueryEscape("?download=true"), owner)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				req.Header.Set("Cookie", cookies.Header())
				req.Header.Set("x-amzn-sessionid", cookies.Value("session-id"))
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var sink io.Writer = io.Discard
				if hash {
					sink = md5.New()
				}
				n, err := io.CopyBuffer(sink, struct{ io.Reader }{resp.Body}, buf)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("GET loop: status %d, %v", resp.StatusCode, err)
					return
				}
				bytes.Add(n)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(bytes.Load()) / 1e6 / time.Since(t0).Seconds(), nil
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
