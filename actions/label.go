package actions

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/resultset"
)

// LABEL (SPEC §2.3, §2.4) has two forms:
//
//	LABEL 'dir_in' INTO 'dir_out' USING 'model.onnx' [(options)]
//	LABEL target USING 'model.onnx' [(options)]
//
// The first is the reference's run(...): vision.LabelDir sorts local images
// into dir_out/<label>/. The second classifies photos of the library from
// their thumbnails. Both write every image's top-k predictions into the
// labels table (replacing the rows an earlier run of the same model wrote
// for the same file or node) and journal one outcome per image in
// actions_log, in transactions of labelFlush images.

// labelFlush is how many images' rows go into one transaction of labels
// and actions_log rows: large enough that the database is not the
// bottleneck, small enough that an interrupted run keeps what it did.
const labelFlush = 256

// labeler runs the LABEL statements of one shell. RegisterLabel creates it.
type labeler struct {
	// client returns the session's API client; it is called only when
	// LABEL target has thumbnails to fetch.
	client func(ctx context.Context) (*fetch.Client, error)
}

// RegisterLabel adds LABEL and EXPLAIN LABEL to reg. client returns the
// session's API client; it is called only when LABEL target has thumbnails
// to fetch, so LABEL 'dir' INTO 'dir' and EXPLAIN LABEL work without
// cookies.
func RegisterLabel(reg *engine.Registry, client func(ctx context.Context) (*fetch.Client, error)) {
	l := &labeler{client: client}
	if client == nil {
		l.client = func(context.Context) (*fetch.Client, error) { return nil, errNoClient }
	}
	const syntax = "LABEL 'dir_in' INTO 'dir_out' USING 'model.onnx' [(options)] | LABEL target USING 'model.onnx' [(options)]"
	reg.Register(engine.Command{Keywords: []string{"LABEL"}, Syntax: syntax,
		Help: "classify images with an ONNX model: local files into dir_out/<label>/, or library photos from their thumbnails; top-k predictions into labels",
		Exec: func(ctx context.Context, s *engine.Session, st *engine.Statement) (*engine.Result, error) {
			return l.run(ctx, s, st, false)
		}})
	reg.Register(engine.Command{Keywords: []string{"EXPLAIN", "LABEL"}, Syntax: "EXPLAIN " + syntax,
		Help: "dry run of LABEL: loads the model and lists the files or nodes it would classify; nothing is copied, fetched or written",
		Exec: func(ctx context.Context, s *engine.Session, st *engine.Statement) (*engine.Result, error) {
			return l.run(ctx, s, st, true)
		}})
}

// run parses the statement (its tokens, scanned once by the registry; a
// target given as ids by the caller) and runs its form.
func (l *labeler) run(ctx context.Context, s *engine.Session, stmt *engine.Statement, explain bool) (*engine.Result, error) {
	st, err := parseLabel(stmt.Args)
	if err != nil {
		return nil, fmt.Errorf("label: %w", err)
	}
	if st.dir {
		return l.runDir(ctx, s, st, explain)
	}
	return l.runNodes(ctx, s, st, explain)
}

// predictionColumns are the result columns of the prediction LABEL's rule
// picks (THRESHOLD, EXCLUDE, RESTRICT); both NULL when none qualifies.
var predictionColumns = []resultset.Column{
	resultset.Col("label", resultset.String),
	resultset.Col("prob", resultset.Float64),
}

// dirColumns are the result columns of LABEL 'dir_in' INTO 'dir_out':
// path, label, prob, status, detail.
var dirColumns = slices.Concat([]resultset.Column{resultset.Col("path", resultset.String)}, predictionColumns, rowsColumns[2:])

// nodeColumns are the result columns of LABEL target: every action's,
// then label and prob.
var nodeColumns = slices.Concat(rowsColumns, predictionColumns)

// prediction returns a result row's label and prob: both NULL when no
// prediction qualified (label is "").
func prediction(label string, prob float64) (any, any) {
	if label == "" {
		return nil, nil
	}
	return label, prob
}

// rate formats a run's duration and images per second: "1.2 s, 35.0 images/s".
func rate(n int, d time.Duration) string {
	s := fmt.Sprintf("%.1f s", d.Seconds())
	if n > 0 && d > 0 {
		s += fmt.Sprintf(", %.1f images/s", float64(n)/d.Seconds())
	}
	return s
}
