package actions

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/vision"
)

// colourModel is the tiny real classifier of testdata/label (see its
// README): six colour classes, 16x16 input, named "colours".
const colourModel = "../testdata/label/colours.onnx"

// needORT loads ONNX Runtime or fails with the install command; only
// APSQL_SKIP_NATIVE=1 turns the failure into a skip.
func needORT(t *testing.T) {
	t.Helper()
	if os.Getenv("APSQL_SKIP_NATIVE") == "1" {
		t.Skip("APSQL_SKIP_NATIVE=1: skipping a test that needs ONNX Runtime")
	}
	if err := vision.InitRuntime(""); err != nil {
		t.Fatalf("%v\n(run %s from the repository root; set APSQL_SKIP_NATIVE=1 only to skip native tests on purpose)", err, vision.InstallCommand)
	}
}

// modelPath returns the absolute path of the test model: statements
// write it into SQL and tests may change directory.
func modelPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(colourModel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// labelDB opens an in-memory database with LABEL registered and no
// service behind it.
func labelDB(t *testing.T) *engine.Session {
	t.Helper()
	db, err := engine.Open(t.Context(), engine.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	RegisterLabel(db.Commands(), nil)
	return engine.NewSession(db)
}

// parseLabelText parses a LABEL statement's text after LABEL.
func parseLabelText(text string) (labelStmt, error) {
	return parseLabel(func() *engine.Args { return engine.NewArgs(text) })
}

// Solid colours the test model names red, green, blue; grey it labels
// with no confidence.
var (
	red   = color.NRGBA{230, 20, 20, 255}
	green = color.NRGBA{20, 230, 20, 255}
	blue  = color.NRGBA{20, 20, 230, 255}
	grey  = color.NRGBA{128, 128, 128, 255}
)

// labelDirSetup needs ONNX Runtime, opens a database with LABEL and
// writes images (path under dir/in → colour); it returns the session, a
// new directory and dir/in.
func labelDirSetup(t *testing.T, images map[string]color.NRGBA) (s *engine.Session, dir, in string) {
	t.Helper()
	needORT(t)
	s = labelDB(t)
	dir = t.TempDir()
	in = filepath.Join(dir, "in")
	for name, c := range images {
		writeSolid(t, filepath.Join(in, name), c)
	}
	return s, dir, in
}

// labelRows runs a statement and returns its rows as maps of column name
// to value (string, float64 or nil) and its summary.
func labelRows(t *testing.T, s *engine.Session, stmt string) ([]map[string]any, string) {
	t.Helper()
	res, err := s.Run(t.Context(), stmt)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return readRows(t, res), res.Summary
}

func readRows(t *testing.T, res *engine.Result) []map[string]any {
	t.Helper()
	if res.Rows == nil {
		return nil
	}
	defer res.Rows.Release()
	var out []map[string]any
	for res.Rows.Next() {
		b := res.Rows.RecordBatch()
		for r := 0; r < int(b.NumRows()); r++ {
			m := map[string]any{}
			for c, f := range b.Schema().Fields() {
				switch col := b.Column(c).(type) {
				case *array.String:
					m[f.Name] = col.Value(r)
				case *array.Float64:
					m[f.Name] = col.Value(r)
				default:
					t.Fatalf("column %s has type %s", f.Name, col.DataType())
				}
				if b.Column(c).IsNull(r) {
					m[f.Name] = nil
				}
			}
			out = append(out, m)
		}
	}
	if err := res.Rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// labelErr runs a statement that must fail and returns its error.
func labelErr(t *testing.T, s *engine.Session, stmt string) error {
	t.Helper()
	res, err := s.Run(t.Context(), stmt)
	if err == nil {
		if res.Rows != nil {
			res.Rows.Release()
		}
		t.Fatalf("%s: no error, summary %q", stmt, res.Summary)
	}
	return err
}

func scalar[T any](t *testing.T, s *engine.Session, q string, args ...any) T {
	t.Helper()
	var v T
	if err := s.DB.QueryRow(t.Context(), q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

// writeSolid writes a w×h PNG of one colour.
func writeSolid(t *testing.T, path string, c color.NRGBA) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// sqlQuote quotes a path for a statement.
func sqlQuote(s string) string { return engine.Quote(s) }

func TestParseLabel(t *testing.T) {
	model := filepath.Join(t.TempDir(), "m.onnx")
	labels := filepath.Join(t.TempDir(), "classes.tsv")
	if err := os.WriteFile(labels, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q := sqlQuote(model)
	tests := []struct {
		name  string
		stmt  string
		check func(t *testing.T, st labelStmt)
	}{
		{"dir defaults", "'in' INTO 'out' USING " + q, func(t *testing.T, st labelStmt) {
			d := vision.DefaultOptions()
			if st.in != "in" || st.out != "out" || st.model != model {
				t.Errorf("in, out, model = %q, %q, %q", st.in, st.out, st.model)
			}
			if st.opts.Threshold != d.Threshold || st.opts.TopK != d.TopK || st.opts.Batch != d.Batch ||
				st.opts.Naming != "name" || st.opts.Device != "cpu" || st.opts.Accumulate {
				t.Errorf("options = %+v, want SPEC §2.4 defaults", st.opts)
			}
		}},
		{"dir every option", "'in' INTO 'out' USING " + q + ` (THRESHOLD 0.25, TOPK 3, EXCLUDE 'boat|ocean', RESTRICT 'sand',
			BATCH 8, WORKERS 2, ACCUMULATE true, NAMING 'SYNSET', DEVICE 'cpu', LABELS ` + sqlQuote(labels) + `, THREADS 1,
			INPUT_SIZE 32, INTERPOLATION 'bilinear', CROP_PCT 0.9, CROP_MODE 'squash', MEAN '0.5, 0.5, 0.5', STD '[0.25 0.25 0.25]', OUTPUT 'probabilities')`,
			func(t *testing.T, st labelStmt) {
				o := st.opts
				if o.Threshold != 0.25 || o.TopK != 3 || o.Batch != 8 || o.Workers != 2 || !o.Accumulate || o.Naming != "synset" ||
					o.Threads != 1 || o.InputSize != 32 || o.Interpolation != "bilinear" || o.CropPct != 0.9 || o.CropMode != "squash" ||
					o.Output != "probabilities" || o.LabelsFile != labels {
					t.Errorf("options = %+v", o)
				}
				if !slices.Equal(o.Mean, []float64{0.5, 0.5, 0.5}) || !slices.Equal(o.Std, []float64{0.25, 0.25, 0.25}) {
					t.Errorf("mean, std = %v, %v", o.Mean, o.Std)
				}
				if o.Exclude == nil || !o.Exclude.MatchString("Boat") || o.Restrict == nil || !o.Restrict.MatchString("SANDBAR") {
					t.Errorf("exclude, restrict = %v, %v; want case-insensitive patterns", o.Exclude, o.Restrict)
				}
			}},
		{"where target", "WHERE contentType = 'image/jpeg' AND name NOT LIKE '%using%' USING " + q + " (TOPK 2)", func(t *testing.T, st labelStmt) {
			if st.target.kind != targetWhere || st.target.sql != "contentType = 'image/jpeg' AND name NOT LIKE '%using%'" {
				t.Errorf("target = %+v", st.target)
			}
			if st.opts.TopK != 2 || st.conc != defaultConcurrency {
				t.Errorf("topk, concurrency = %d, %d", st.opts.TopK, st.conc)
			}
		}},
		{"id list", "'a1', 'b2' USING " + q + " (CONCURRENCY 3)", func(t *testing.T, st labelStmt) {
			if st.target.kind != targetIDs || !slices.Equal(st.target.ids, []string{"a1", "b2"}) || st.conc != 3 {
				t.Errorf("target = %+v, concurrency %d", st.target, st.conc)
			}
		}},
		{"one id", "'into' USING " + q, func(t *testing.T, st labelStmt) {
			if st.target.kind != targetIDs || !slices.Equal(st.target.ids, []string{"into"}) {
				t.Errorf("target = %+v", st.target)
			}
		}},
		{"sub-select", "(SELECT id FROM nodes USING SAMPLE 10) USING " + q, func(t *testing.T, st labelStmt) {
			if st.target.kind != targetSelect || st.target.sql != "SELECT id FROM nodes USING SAMPLE 10" {
				t.Errorf("target = %+v", st.target)
			}
		}},
		{"filter", "FILTER 'type:(PHOTOS)' USING " + q + " (THRESHOLD 0)", func(t *testing.T, st labelStmt) {
			if st.target.kind != targetFilter || st.opts.Threshold != 0 {
				t.Errorf("target = %+v, threshold %v", st.target, st.opts.Threshold)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := parseLabelText(tc.stmt)
			if err != nil {
				t.Fatalf("parse %q: %v", tc.stmt, err)
			}
			tc.check(t, st)
		})
	}
}

func TestParseLabelErrors(t *testing.T) {
	tests := []struct {
		name, stmt, want string
	}{
		{"no using", "'in' INTO 'out'", "missing USING 'model.onnx'"},
		{"no using after target", "WHERE size > 0", "missing USING 'model.onnx'"},
		{"junk instead of using", "'in' INTO 'out' WITH 'm.onnx'", `expected USING 'model.onnx', found "WITH 'm.onnx'"`},
		{"empty model", "'in' INTO 'out' USING ''", "USING '' is empty"},
		{"empty dir", "'' INTO 'out' USING 'm.onnx'", "an empty directory name"},
		{"missing dir_out", "'in' INTO USING 'm.onnx'", "INTO: expected a quoted string"},
		{"unknown option", "'in' INTO 'out' USING 'm.onnx' (SPEED 2)", "unknown option SPEED"},
		{"naming on nodes", "'id' USING 'm.onnx' (NAMING 'index')", "option NAMING applies only to LABEL 'dir_in' INTO 'dir_out'"},
		{"accumulate on nodes", "WHERE true USING 'm.onnx' (ACCUMULATE)", "option ACCUMULATE applies only to LABEL 'dir_in' INTO 'dir_out'"},
		{"concurrency on dir", "'in' INTO 'out' USING 'm.onnx' (CONCURRENCY 4)", "option CONCURRENCY applies only to LABEL target"},
		{"threshold above 1", "'in' INTO 'out' USING 'm.onnx' (THRESHOLD 1.5)", "option THRESHOLD wants a probability from 0 to 1"},
		{"threshold word", "'in' INTO 'out' USING 'm.onnx' (THRESHOLD high)", `option THRESHOLD wants a probability from 0 to 1 such as 0.5, not "high"`},
		{"topk zero", "'in' INTO 'out' USING 'm.onnx' (TOPK 0)", "option TOPK wants a whole number from 1 to 1000"},
		{"batch fraction", "'in' INTO 'out' USING 'm.onnx' (BATCH 2.5)", "option BATCH wants a whole number"},
		{"workers negative", "'in' INTO 'out' USING 'm.onnx' (WORKERS -1)", "option WORKERS wants a whole number"},
		{"device", "'in' INTO 'out' USING 'm.onnx' (DEVICE 'tpu')", "option DEVICE wants 'cpu', 'cuda', not \"tpu\""},
		{"naming", "'in' INTO 'out' USING 'm.onnx' (NAMING 'label')", "option NAMING wants 'name', 'synset', 'index'"},
		{"accumulate", "'in' INTO 'out' USING 'm.onnx' (ACCUMULATE maybe)", "option ACCUMULATE wants true or false"},
		{"exclude regex", "'in' INTO 'out' USING 'm.onnx' (EXCLUDE 'boat(')", "option EXCLUDE: label pattern \"boat(\""},
		{"restrict regex", "'in' INTO 'out' USING 'm.onnx' (RESTRICT '[a')", "option RESTRICT: label pattern"},
		{"mean two values", "'in' INTO 'out' USING 'm.onnx' (MEAN '0.5, 0.5')", "option MEAN wants three numbers"},
		{"std zero", "'in' INTO 'out' USING 'm.onnx' (STD '0.2, 0, 0.2')", "option STD wants three numbers"},
		{"crop_pct", "'in' INTO 'out' USING 'm.onnx' (CROP_PCT 0)", "option CROP_PCT wants a fraction in (0, 1]"},
		{"labels missing", "'in' INTO 'out' USING 'm.onnx' (LABELS 'no/such.tsv')", "option LABELS: no/such.tsv: no such file or directory"},
		{"concurrency", "'x' USING 'm.onnx' (CONCURRENCY 0)", "CONCURRENCY wants a whole number from 1 to 64"},
		{"threads", "'in' INTO 'out' USING 'm.onnx' (THREADS 257)", "option THREADS wants a whole number from 0 to 256"},
		{"input_size", "'in' INTO 'out' USING 'm.onnx' (INPUT_SIZE 0)", "option INPUT_SIZE wants a whole number from 1 to 8192"},
		{"interpolation", "'in' INTO 'out' USING 'm.onnx' (INTERPOLATION 'cubic')", "option INTERPOLATION wants 'nearest', 'box', 'bilinear', 'hamming', 'bicubic', 'lanczos', not \"cubic\""},
		{"crop_mode", "'x' USING 'm.onnx' (CROP_MODE 'fill')", "option CROP_MODE wants 'center', 'squash'"},
		{"output", "'x' USING 'm.onnx' (OUTPUT 'softmax')", "option OUTPUT wants 'logits', 'probabilities'"},
		{"library empty", "'in' INTO 'out' USING 'm.onnx' (LIBRARY ' ')", "option LIBRARY is empty: give a file path"},
		{"labels empty", "'in' INTO 'out' USING 'm.onnx' (LABELS '')", "option LABELS is empty: give a file path"},
		{"mean infinite", "'in' INTO 'out' USING 'm.onnx' (MEAN '[0.5, inf, 0.5]')", "option MEAN wants three numbers"},
		{"trailing junk", "'in' INTO 'out' USING 'm.onnx' (TOPK 1) extra", `unexpected "extra"`},
		{"no target", "USING 'm.onnx'", "unexpected \"USING 'm.onnx'\" where a target belongs"},
		{"bad filter", "FILTER 'type:(PHOTOS' USING 'm.onnx'", "FILTER: filter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseLabelText(tc.stmt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parse %q: error %v, want one containing %q", tc.stmt, err, tc.want)
			}
		})
	}
}

// TestLabelDir runs LABEL 'dir_in' INTO 'dir_out' through the engine: rows,
// copies, labels rows, the journal, and re-runs that replace rows.
func TestLabelDir(t *testing.T) {
	s, dir, in := labelDirSetup(t, map[string]color.NRGBA{"r.png": red, "g.png": green, filepath.Join("sub", "b.png"): blue, "grey.png": grey})
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(filepath.Join(in, "notes.txt"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	stmt := fmt.Sprintf("LABEL %s INTO %s USING %s (THRESHOLD 0.5, TOPK 3)", sqlQuote(in), sqlQuote(out), sqlQuote(modelPath(t)))
	rows, sum := labelRows(t, s, stmt)
	t.Logf("summary: %s", sum)

	want := map[string]struct{ label, status string }{
		"r.png": {"red", "ok"}, "g.png": {"green", "ok"}, "b.png": {"blue", "ok"},
		"grey.png": {"", "skipped"}, "notes.txt": {"", "skipped"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(rows), len(want), rows)
	}
	for _, r := range rows {
		base := filepath.Base(r["path"].(string))
		w := want[base]
		label, _ := r["label"].(string)
		if label != w.label || r["status"] != w.status {
			t.Errorf("%s: label %q status %v, want %q %q (detail %v)", base, label, r["status"], w.label, w.status, r["detail"])
		}
		if w.label != "" {
			if p, _ := r["prob"].(float64); p < 0.5 {
				t.Errorf("%s: prob %v, want ≥ the threshold 0.5", base, r["prob"])
			}
			if _, err := os.Stat(filepath.Join(out, w.label, base)); err != nil {
				t.Errorf("%s: no copy in %s/: %v", base, w.label, err)
			}
			// The table holds the very same double (no DECIMAL detour).
			if got := scalar[float64](t, s, `SELECT prob FROM labels WHERE path = ? AND rank = 1`, r["path"]); got != r["prob"] {
				t.Errorf("%s: labels.prob %v, the result row %v", base, got, r["prob"])
			}
		}
	}
	for _, part := range []string{"5 files: 3 labeled, 1 unlabeled, 1 skipped, 0 failed", "12 rows into labels (model colours)"} {
		if !strings.Contains(sum, part) {
			t.Errorf("summary %q lacks %q", sum, part)
		}
	}

	// The labels table: top 3 of every decodable image, ranks 1..3, paths
	// absolute, source 'file', no id.
	if n := scalar[int](t, s, `SELECT count(*) FROM labels WHERE source = 'file' AND id IS NULL AND model = 'colours'`); n != 12 {
		t.Errorf("labels holds %d file rows, want 12 (4 images × TOPK 3)", n)
	}
	absR := filepath.Join(in, "r.png")
	if got := scalar[string](t, s, `SELECT string_agg(label || ':' || rank || ':' || synset || ':' || classIndex, ' ' ORDER BY rank) FROM labels WHERE path = ?`, absR); !strings.HasPrefix(got, "red:1:n00000000:0 ") {
		t.Errorf("labels of %s = %q, want red first (rank 1, synset n00000000, index 0)", absR, got)
	}
	if n := scalar[int](t, s, `SELECT count(*) FROM (SELECT path FROM labels GROUP BY path HAVING sum(prob) > 1.0001 OR min(rank) <> 1 OR max(rank) <> 3)`); n != 0 {
		t.Errorf("%d images have bad ranks or probabilities summing past 1", n)
	}
	if n := scalar[int](t, s, `SELECT count(*) FROM actions_log WHERE action = 'LABEL'`); n != 5 {
		t.Errorf("actions_log holds %d LABEL rows, want 5 (one per file)", n)
	}

	// A re-run replaces the rows of the same files and model: TOPK 1 leaves
	// one row per image, and dir_out is emptied and filled again.
	stmt = fmt.Sprintf("LABEL %s INTO %s USING %s (THRESHOLD 0.5, TOPK 1)", sqlQuote(in), sqlQuote(out), sqlQuote(modelPath(t)))
	_, sum = labelRows(t, s, stmt)
	if n := scalar[int](t, s, `SELECT count(*) FROM labels`); n != 4 {
		t.Errorf("after a re-run with TOPK 1, labels holds %d rows, want 4", n)
	}
	if !strings.Contains(sum, "3 earlier copies removed first") {
		t.Errorf("summary %q does not say the earlier copies were removed", sum)
	}

	// ACCUMULATE keeps the copies; NAMING 'index' names folders by class index.
	stmt = fmt.Sprintf("LABEL %s INTO %s USING %s (THRESHOLD 0.5, NAMING 'index', ACCUMULATE true)", sqlQuote(in), sqlQuote(out), sqlQuote(modelPath(t)))
	labelRows(t, s, stmt)
	for _, p := range []string{"red/r.png", "0/r.png", "2/b.png"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("after ACCUMULATE with NAMING 'index': %v", err)
		}
	}
}

func TestExplainLabelDir(t *testing.T) {
	s, dir, in := labelDirSetup(t, map[string]color.NRGBA{"r.png": red, "b.png": blue})
	out := filepath.Join(dir, "out")
	rows, sum := labelRows(t, s, fmt.Sprintf("EXPLAIN LABEL %s INTO %s USING %s", sqlQuote(in), sqlQuote(out), sqlQuote(modelPath(t))))
	if len(rows) != 2 || rows[0]["status"] != "planned" {
		t.Errorf("rows = %v, want 2 planned", rows)
	}
	if !strings.Contains(sum, "would classify 2 files") || !strings.Contains(sum, "16x16") {
		t.Errorf("summary %q", sum)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("EXPLAIN created %s (%v)", out, err)
	}
	if n := scalar[int](t, s, `SELECT count(*) FROM labels`); n != 0 {
		t.Errorf("EXPLAIN wrote %d labels rows", n)
	}
}

// labelEnv is an emulated library mirrored into a database with the
// actions and LABEL registered. viewBoxes collects the viewBox of every
// thumbnail request.
type labelEnv struct {
	*env
	mu        sync.Mutex
	viewBoxes map[string]int
}

func newLabelEnv(t *testing.T, nodes int) *labelEnv {
	t.Helper()
	needORT(t)
	e := &labelEnv{env: setup(t, emulator.Options{Nodes: nodes, Seed: 7}, 0), viewBoxes: map[string]int{}}
	RegisterLabel(e.db.Commands(), func(context.Context) (*fetch.Client, error) { return e.c, nil })
	e.rec.before = func(r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/thumbnail/") {
			e.mu.Lock()
			e.viewBoxes[r.URL.Query().Get("viewBox")]++
			e.mu.Unlock()
		}
	}
	return e
}

// thumbTop classifies a node's thumbnail directly, as LABEL should.
func (e *labelEnv) thumbTop(m *vision.Model, ids []string) map[string]string {
	e.t.Helper()
	imgs := make([]vision.Image, len(ids))
	for i, id := range ids {
		data, err := e.c.ThumbnailBox(e.t.Context(), id, e.srv.OwnerID(), 16, 16)
		if err != nil {
			e.t.Fatal(err)
		}
		imgs[i] = vision.Image{ID: id, Data: data}
	}
	opts := vision.DefaultOptions()
	res, err := m.Classify(e.t.Context(), imgs, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range res {
		out[r.ID] = r.Top[0].Name
	}
	return out
}

// TestLabelNodes labels the emulator's library from its thumbnails: only
// photos, at the model's input size, with top-k rows per node that join
// with nodes, and re-runs that replace a node's rows.
func TestLabelNodes(t *testing.T) {
	e := newLabelEnv(t, 40)
	s := e.s
	photos := e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' ORDER BY id`)
	others := e.count(`SELECT count(*) FROM nodes WHERE contentType NOT LIKE 'image/%' OR contentType IS NULL`)
	if len(photos) < 10 || others == 0 {
		t.Fatalf("the emulated library has %d photos and %d other nodes; the test wants both", len(photos), others)
	}
	rows, sum := labelRows(t, s, "LABEL WHERE true USING "+sqlQuote(modelPath(t))+" (THRESHOLD 0, CONCURRENCY 4)")
	t.Logf("summary: %s", sum)
	st := map[string]int{}
	for _, r := range rows {
		st[r["status"].(string)]++
		if r["status"] == "ok" && (r["label"] == nil || r["prob"] == nil) {
			t.Errorf("row %v: ok with THRESHOLD 0 but no label", r)
		}
		if r["status"] == "skipped" && !strings.HasPrefix(r["detail"].(string), "not a photo") {
			t.Errorf("row %v: skipped for another reason than not being a photo", r)
		}
	}
	if st["ok"] != len(photos) || st["skipped"] != others || st["failed"] != 0 {
		t.Errorf("statuses %v, want %d ok and %d skipped; summary %q", st, len(photos), others, sum)
	}
	if n := e.count(`SELECT count(*) FROM labels WHERE source = 'node' AND path IS NULL AND model = 'colours'`); n != 5*len(photos) {
		t.Errorf("labels holds %d node rows, want %d (5 per photo)", n, 5*len(photos))
	}
	if n := e.count(`SELECT count(*) FROM nodes JOIN labels USING (id) WHERE rank = 1`); n != len(photos) {
		t.Errorf("nodes JOIN labels USING (id) gives %d top labels, want %d", n, len(photos))
	}
	e.mu.Lock()
	if !maps1(e.viewBoxes, "16,16", len(photos)) {
		t.Errorf("thumbnail requests by viewBox: %v, want %d at the model's input size 16,16", e.viewBoxes, len(photos))
	}
	e.mu.Unlock()
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action = 'LABEL'`); n != len(photos)+others {
		t.Errorf("actions_log holds %d LABEL rows, want %d", n, len(photos)+others)
	}

	// Each node's top label is its own thumbnail's.
	m, err := vision.LoadModel(modelPath(t), vision.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	direct := e.thumbTop(m, photos)
	distinct := map[string]bool{}
	for _, id := range photos {
		got := e.ids(`SELECT label FROM labels WHERE id = ? AND rank = 1`, id)
		if len(got) != 1 || got[0] != direct[id] {
			t.Errorf("node %s: top label %v, want %q (its thumbnail classified directly)", id, got, direct[id])
		}
		distinct[direct[id]] = true
	}
	if len(distinct) < 2 {
		t.Errorf("every photo got the same label %v: the thumbnails do not reach the model", distinct)
	}

	// Re-labeling two nodes with TOPK 2 replaces their rows only.
	two := photos[:2]
	rows, _ = labelRows(t, s, fmt.Sprintf("LABEL %s, %s USING %s (TOPK 2)", sqlQuote(two[0]), sqlQuote(two[1]), sqlQuote(modelPath(t))))
	if len(rows) != 2 || rows[0]["id"] != two[0] || rows[1]["id"] != two[1] {
		t.Errorf("rows %v, want the two ids in the target's order", rows)
	}
	if n := e.count(`SELECT count(*) FROM labels WHERE id IN (?, ?)`, two[0], two[1]); n != 4 {
		t.Errorf("after re-labeling with TOPK 2, the two nodes have %d rows, want 4", n)
	}
	if n := e.count(`SELECT count(*) FROM labels`); n != 5*(len(photos)-2)+4 {
		t.Errorf("labels holds %d rows, want %d", n, 5*(len(photos)-2)+4)
	}
}

// maps1 reports whether m holds exactly key with count n.
func maps1(m map[string]int, key string, n int) bool { return len(m) == 1 && m[key] == n }

func TestLabelNodeTargets(t *testing.T) {
	e := newLabelEnv(t, 30)
	model := sqlQuote(modelPath(t))
	photos := e.count(`SELECT count(*) FROM nodes WHERE contentType LIKE 'image/%'`)
	video := e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'video/%' LIMIT 1`)
	if len(video) == 0 {
		t.Fatal("the emulated library has no video")
	}
	tests := []struct {
		name   string
		stmt   string
		status map[string]int
		detail string // of the first row
	}{
		{"filter photos", "LABEL FILTER 'type:(PHOTOS)' USING " + model, map[string]int{"ok": photos}, ""},
		{"sub-select", "LABEL (SELECT id FROM nodes WHERE contentType LIKE 'image/%' ORDER BY id LIMIT 3) USING " + model, map[string]int{"ok": 3}, ""},
		{"unknown id", "LABEL 'no-such-node' USING " + model, map[string]int{"failed": 1}, "not in the local mirror: run SYNC"},
		{"video", "LABEL " + sqlQuote(video[0]) + " USING " + model, map[string]int{"skipped": 1}, "not a photo (video/"},
		{"empty target", "LABEL WHERE false USING " + model, map[string]int{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, sum := labelRows(t, e.s, tc.stmt)
			got := map[string]int{}
			for _, r := range rows {
				got[r["status"].(string)]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.status) {
				t.Errorf("statuses %v, want %v; summary %q", got, tc.status, sum)
			}
			if tc.detail != "" && (len(rows) == 0 || !strings.Contains(rows[0]["detail"].(string), tc.detail)) {
				t.Errorf("rows %v, want a detail containing %q", rows, tc.detail)
			}
		})
	}
	if n := e.count(`SELECT count(DISTINCT id) FROM labels`); n != photos {
		t.Errorf("labels covers %d nodes, want every photo (%d)", n, photos)
	}
}

func TestExplainLabelNodes(t *testing.T) {
	e := newLabelEnv(t, 20)
	rows, sum := labelRows(t, e.s, "EXPLAIN LABEL WHERE true USING "+sqlQuote(modelPath(t)))
	photos := e.count(`SELECT count(*) FROM nodes WHERE contentType LIKE 'image/%'`)
	planned := 0
	for _, r := range rows {
		if r["status"] == "planned" {
			planned++
		}
	}
	if planned != photos || !strings.Contains(sum, "at 16,16") || !strings.Contains(sum, "nothing was sent") {
		t.Errorf("%d planned (want %d), summary %q", planned, photos, sum)
	}
	if len(e.rec.matching("GET", "/v1/thumbnail")) != 0 {
		t.Error("EXPLAIN LABEL fetched thumbnails")
	}
	if n := e.count(`SELECT count(*) FROM labels`); n != 0 {
		t.Errorf("EXPLAIN LABEL wrote %d labels rows", n)
	}
}

// TestLabelNodesThumbnailErrors: a thumbnail the service does not serve
// fails that node only; the others are labeled.
func TestLabelNodesThumbnailErrors(t *testing.T) {
	e := newLabelEnv(t, 20)
	photos := e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' ORDER BY id LIMIT 4`)
	// A node the mirror holds but the service no longer has: 404.
	e.exec(`UPDATE nodes SET id = 'gone-node' WHERE id = ?`, photos[0])
	ids := []string{sqlQuote("gone-node"), sqlQuote(photos[1]), sqlQuote(photos[2])}
	rows, sum := labelRows(t, e.s, "LABEL "+strings.Join(ids, ", ")+" USING "+sqlQuote(modelPath(t)))
	if len(rows) != 3 || rows[0]["status"] != "failed" || !strings.Contains(rows[0]["detail"].(string), "GET /v1/thumbnail/{id}") {
		t.Fatalf("rows %v, want the vanished node failed with the request named", rows)
	}
	if rows[1]["status"] != "ok" || rows[2]["status"] != "ok" {
		t.Errorf("rows %v, want the others ok", rows)
	}
	if !strings.Contains(sum, "2 ok, 1 failed") || !strings.Contains(sum, "re-run the statement") {
		t.Errorf("summary %q", sum)
	}
}

// TestLabelNodesInterrupted: a cancelled statement accounts for every node
// and keeps what it labeled.
func TestLabelNodesInterrupted(t *testing.T) {
	e := newLabelEnv(t, 60)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var n int
	var mu sync.Mutex
	e.rec.before = func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 5 {
			cancel()
		}
	}
	res, err := e.s.Run(ctx, "LABEL FILTER 'type:(PHOTOS)' USING "+sqlQuote(modelPath(t))+" (CONCURRENCY 2)")
	if err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, res)
	photos := e.count(`SELECT count(*) FROM nodes WHERE contentType LIKE 'image/%'`)
	if len(rows) != photos || !strings.HasPrefix(res.Summary, "label interrupted:") {
		t.Fatalf("%d rows (want %d), summary %q", len(rows), photos, res.Summary)
	}
	ok := 0
	for _, r := range rows {
		switch {
		case r["status"] == "ok":
			ok++
		case r["detail"] != "not labeled: interrupted" && !strings.Contains(fmt.Sprint(r["detail"]), "context canceled"):
			t.Errorf("row %v: want ok or not labeled: interrupted", r)
		}
	}
	if ok == photos {
		t.Error("every photo was labeled: the statement was not interrupted")
	}
	if got := e.count(`SELECT count(DISTINCT id) FROM labels`); got != ok {
		t.Errorf("labels covers %d nodes, want the %d labeled before the interrupt", got, ok)
	}
}

// TestLabelErrors: each error is one line naming the problem and the fix.
func TestLabelErrors(t *testing.T) {
	s, dir, in := labelDirSetup(t, map[string]color.NRGBA{"r.png": red})
	out := sqlQuote(filepath.Join(dir, "out"))
	model := sqlQuote(modelPath(t))
	bare := filepath.Join(dir, "bare.onnx") // no model.json: ImageNet's 1000 classes
	data, err := os.ReadFile(modelPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bare, data, 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign")
	if err := os.MkdirAll(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, stmt string
		want       []string
	}{
		{"missing model", "LABEL " + sqlQuote(in) + " INTO " + out + " USING 'nope/model.onnx'",
			[]string{"label: model file nope/model.onnx not found", "export_timm.py"}},
		{"model is a directory", "LABEL " + sqlQuote(in) + " INTO " + out + " USING " + sqlQuote(dir),
			[]string{"is a directory"}},
		{"missing input", "LABEL " + sqlQuote(filepath.Join(dir, "none")) + " INTO " + out + " USING " + model,
			[]string{"label: input directory:", "no such file or directory"}},
		{"classes do not match", "LABEL " + sqlQuote(in) + " INTO " + out + " USING " + sqlQuote(bare),
			[]string{"predicts 6 classes but the labels list 1000", "LABELS"}},
		{"synset naming without synsets", "LABEL " + sqlQuote(in) + " INTO " + out + " USING " + model + " (NAMING 'synset', LABELS " + sqlQuote(writeNames(t, dir)) + ")",
			[]string{"naming 'synset' needs a labels file with synsets"}},
		{"bad option", "LABEL 'x' USING " + model + " (THRESHOLD -0.1)", []string{"label: option THRESHOLD wants a probability"}},
		{"bad where", "LABEL WHERE nosuchcolumn = 1 USING " + model, []string{"label: target WHERE nosuchcolumn = 1"}},
		// vision.LabelDir's own refusals: the statement's name once.
		{"foreign file in dir_out", "LABEL " + sqlQuote(in) + " INTO " + sqlQuote(foreign) + " USING " + model,
			[]string{"label: refusing to empty", "notes.txt"}},
		{"input inside output", "LABEL " + sqlQuote(in) + " INTO " + sqlQuote(dir) + " USING " + model,
			[]string{"label: input " + in + " is inside output"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := labelErr(t, s, tc.stmt)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "label: ") || strings.Count(msg, "label: ") != 1 {
				t.Errorf("error %q: want the statement's name once, first", err)
			}
			// DuckDB's own errors (a bad WHERE) carry its caret lines.
			if strings.Contains(err.Error(), "\n") && !strings.HasPrefix(tc.name, "bad where") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
}

// writeNames writes a class list with names only (no synsets).
func writeNames(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "names.txt")
	if err := os.WriteFile(p, []byte("red\ngreen\nblue\nyellow\nwhite\nblack\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLabelCUDA: DEVICE 'cuda' works on a GPU build of ONNX Runtime with
// CUDA, and otherwise fails with one line that names the fix.
func TestLabelCUDA(t *testing.T) {
	s, dir, in := labelDirSetup(t, map[string]color.NRGBA{"r.png": red})
	stmt := fmt.Sprintf("LABEL %s INTO %s USING %s (DEVICE 'cuda', THRESHOLD 0.5)", sqlQuote(in), sqlQuote(filepath.Join(dir, "out")), sqlQuote(modelPath(t)))
	res, err := s.Run(t.Context(), stmt)
	if err == nil {
		rows := readRows(t, res)
		if len(rows) != 1 || rows[0]["label"] != "red" {
			t.Errorf("on CUDA: rows %v, want r.png labeled red", rows)
		}
		return
	}
	if !errors.Is(err, vision.ErrNoCUDA) {
		t.Fatalf("DEVICE 'cuda': %v, want vision.ErrNoCUDA", err)
	}
	for _, w := range []string{"cuda is not available", "DEVICE 'cpu'", "ONNXRUNTIME_LIB"} {
		if !strings.Contains(err.Error(), w) || strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q: want one line containing %q", err, w)
		}
	}
}

// TestLabelMissingRuntime runs LABEL in a child process whose ONNX Runtime
// is missing (the runtime loads once per process, so this one's cannot be
// unloaded): the error must carry the install command. It needs no native
// library and runs under APSQL_SKIP_NATIVE=1 too.
func TestLabelMissingRuntime(t *testing.T) {
	if os.Getenv("APSQL_LABEL_CHILD") == "1" {
		s := labelDB(t)
		in := t.TempDir()
		err := labelErr(t, s, fmt.Sprintf("LABEL %s INTO %s USING %s", sqlQuote(in), sqlQuote(filepath.Join(t.TempDir(), "out")), sqlQuote(modelPath(t))))
		fmt.Printf("LABEL-ERROR: %v\n", err)
		if !errors.Is(err, vision.ErrRuntimeNotFound) {
			t.Fatalf("error %v is not vision.ErrRuntimeNotFound", err)
		}
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLabelMissingRuntime$", "-test.count=1")
	cmd.Env = append(os.Environ(), "APSQL_LABEL_CHILD=1", "ONNXRUNTIME_LIB="+filepath.Join(t.TempDir(), "libonnxruntime.so.1"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var line string
	for l := range strings.Lines(string(out)) {
		if after, ok := strings.CutPrefix(l, "LABEL-ERROR: "); ok {
			line = strings.TrimSpace(after)
		}
	}
	if !strings.Contains(line, vision.InstallCommand) || !strings.HasPrefix(line, "label: onnx runtime library not found") {
		t.Errorf("error %q: want it to start with the problem and name %s", line, vision.InstallCommand)
	}
}

// BenchmarkLabelNodes measures LABEL target end to end (thumbnails from
// the emulator on loopback, classification, labels rows) against a
// ceiling measured in the same run: the slower of fetching the same
// thumbnails alone and vision.Classify on them in memory. With the tiny
// test model the run is bound by the HTTP requests and the labels rows.
//
//	go test -tags duckdb_arrow -run '^$' -bench LabelNodes -benchtime 3x ./actions/
func BenchmarkLabelNodes(b *testing.B) {
	if os.Getenv("APSQL_SKIP_NATIVE") == "1" {
		b.Skip("APSQL_SKIP_NATIVE=1")
	}
	if err := vision.InitRuntime(""); err != nil {
		b.Fatalf("%v (run %s)", err, vision.InstallCommand)
	}
	ctx := b.Context()
	srv := emulator.StartTest(b, emulator.Options{Nodes: 1000, Seed: 3})
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		b.Fatal(err)
	}
	c, err := fetch.New(fetch.Config{Cookies: cookies, Endpoint: srv.URL()})
	if err != nil {
		b.Fatal(err)
	}
	db, err := engine.Open(ctx, engine.Memory)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	in, err := db.Ingester(ctx, "nodes", fetch.NodeSchema())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.StreamSearch(ctx, "type:(PHOTOS)", "", func(rb arrow.RecordBatch) error { return in.Insert(ctx, rb) }); err != nil {
		b.Fatal(err)
	}
	RegisterLabel(db.Commands(), func(context.Context) (*fetch.Client, error) { return c, nil })
	s := engine.NewSession(db)
	var photos int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM nodes`).Scan(&photos); err != nil {
		b.Fatal(err)
	}
	model, err := filepath.Abs(colourModel)
	if err != nil {
		b.Fatal(err)
	}

	// The ceiling: classification alone, thumbnails in memory.
	m, err := vision.LoadModel(model, vision.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	rows, err := db.Query(ctx, `SELECT id FROM nodes`)
	if err != nil {
		b.Fatal(err)
	}
	var imgs []vision.Image
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		imgs = append(imgs, vision.Image{ID: id})
	}
	rows.Close()
	// Fetch-only ceiling: the thumbnails, defaultConcurrency at a time.
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range defaultConcurrency {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(imgs); i = int(next.Add(1)) - 1 {
				var err error
				if imgs[i].Data, err = c.ThumbnailBox(ctx, imgs[i].ID, srv.OwnerID(), 16, 16); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fetchRate := float64(len(imgs)) / time.Since(start).Seconds()
	// Classify-only ceiling: the same thumbnails in memory.
	start = time.Now()
	if _, err := m.Classify(ctx, imgs, vision.DefaultOptions()); err != nil {
		b.Fatal(err)
	}
	classifyRate := float64(len(imgs)) / time.Since(start).Seconds()
	ceiling := min(fetchRate, classifyRate)

	b.ResetTimer()
	for b.Loop() {
		res, err := s.Run(ctx, "LABEL WHERE true USING "+engine.Quote(model))
		if err != nil {
			b.Fatal(err)
		}
		res.Rows.Release()
	}
	rate := float64(photos*b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "images/s")
	b.ReportMetric(fetchRate, "fetch-only-images/s")
	b.ReportMetric(classifyRate, "classify-only-images/s")
	b.ReportMetric(rate/ceiling, "ratio-to-slower-stage")
}

// TestLabelFailedRowsFailTheStatement: LABEL follows the rule of every
// statement (issue 16 item 4): a failed row makes the statement fail, so
// a script exits 1. The node the mirror holds and the service lost
// answers 404 for its thumbnail.
func TestLabelFailedRowsFailTheStatement(t *testing.T) {
	e := newLabelEnv(t, 20)
	photos := e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' ORDER BY id LIMIT 2`)
	e.exec(`UPDATE nodes SET id = 'gone-node' WHERE id = ?`, photos[0])
	if _, ok := e.srv.Node("gone-node"); ok {
		t.Fatal("the emulator holds gone-node")
	}
	res, err := e.s.Run(t.Context(), "LABEL 'gone-node', "+sqlQuote(photos[1])+" USING "+sqlQuote(modelPath(t)))
	if err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, res)
	failed := 0
	for _, r := range rows {
		if r["status"] == "failed" {
			failed++
		}
	}
	if failed != 1 || res.Failed != 1 {
		t.Errorf("%d failed rows, Result.Failed %d (summary %q): want 1 and 1, so that a script exits 1", failed, res.Failed, res.Summary)
	}
	if !strings.Contains(res.Summary, "re-run the statement to retry what failed") {
		t.Errorf("summary %q: want the advice to re-run", res.Summary)
	}
	// EXPLAIN fails nothing: it sends nothing.
	res, err = e.s.Run(t.Context(), "EXPLAIN LABEL 'no-such-node' USING "+sqlQuote(modelPath(t)))
	if err != nil {
		t.Fatal(err)
	}
	if rows := readRows(t, res); len(rows) != 1 || rows[0]["status"] != "failed" {
		t.Errorf("EXPLAIN LABEL of a node the mirror lacks: rows %v, want one failed", rows)
	}
	if res.Failed != 0 {
		t.Errorf("EXPLAIN LABEL: Result.Failed %d, want 0", res.Failed)
	}
	// EXPLAIN (run.explain, not its action's name) sends nothing to retry.
	if strings.Contains(res.Summary, "re-run") || !strings.HasPrefix(res.Summary, "explain label: 1 failed") {
		t.Errorf("EXPLAIN LABEL summary %q: want its failed row counted and no advice to re-run", res.Summary)
	}
}

// TestLabelOnIDs: LABEL runs on a set of ids given as ids (engine.WithIDs,
// as the gallery and agents call actions), not written into its text:
// exactly those photos are classified, from their thumbnails.
func TestLabelOnIDs(t *testing.T) {
	e := newLabelEnv(t, 30)
	photos := e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' ORDER BY id LIMIT 3`)
	model := sqlQuote(modelPath(t))
	res, err := e.s.Exec(t.Context(), engine.WithIDs("EXPLAIN LABEL USING "+model, photos))
	if err != nil {
		t.Fatal(err)
	}
	if rows := readRows(t, res); len(rows) != len(photos) || rows[0]["status"] != "planned" {
		t.Errorf("EXPLAIN LABEL on ids: rows %v, want %d planned", rows, len(photos))
	}
	res, err = e.s.Exec(t.Context(), engine.WithIDs("LABEL USING "+model+" (THRESHOLD 0)", photos))
	if err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, res)
	var got []string
	for _, r := range rows {
		if r["status"] != "ok" {
			t.Errorf("row %v: want ok", r)
		}
		got = append(got, r["id"].(string))
	}
	if !slices.Equal(got, photos) {
		t.Errorf("LABEL on ids labeled %v, want %v", got, photos)
	}
	e.mu.Lock()
	if n := e.viewBoxes["16,16"]; n != len(photos) {
		t.Errorf("%d thumbnails fetched, want %d", n, len(photos))
	}
	e.mu.Unlock()
	if n := e.count(`SELECT count(DISTINCT id) FROM labels WHERE source = 'node'`); n != len(photos) {
		t.Errorf("labels covers %d nodes, want %d", n, len(photos))
	}
	if _, err := e.s.Exec(t.Context(), engine.WithIDs("LABEL 'in' INTO 'out' USING "+model, photos)); err == nil || !strings.Contains(err.Error(), "expected USING") {
		t.Errorf("LABEL 'in' INTO 'out' on ids: %v, want the directory form refused", err)
	}
}
