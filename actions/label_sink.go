package actions

// Writing LABEL's predictions into the labels table.

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/vision"
)

type labelRow struct {
	key string // path (source 'file') or node id (source 'node')
	p   vision.Prediction
}

// labelSink collects the outcomes of one LABEL run and writes them, with
// their predictions, to labels and actions_log every labelFlush images, in
// a goroutine of its own so that the database writes overlap fetching and
// inference. It is safe for concurrent use; close ends it.
type labelSink struct {
	r      *run
	source string // "file" or "node"
	model  string

	mu   sync.Mutex
	outs []Outcome  // not yet handed to the writer
	rows []labelRow // not yet handed to the writer
	keys []string   // files or nodes whose earlier rows are replaced

	queue     chan labelBatch // to the writer; two batches may wait
	done      chan struct{}   // closed when the writer has finished
	written   atomic.Int64    // labels rows written
	closeOnce sync.Once
	errMu     sync.Mutex
	err       error // the first failed write
}

// labelBatch is one transaction's worth of outcomes and predictions.
type labelBatch struct {
	outs []Outcome
	rows []labelRow
	keys []string
}

func newLabelSink(r *run, source, model string) *labelSink {
	k := &labelSink{r: r, source: source, model: model, queue: make(chan labelBatch, 2), done: make(chan struct{})}
	go k.writer()
	return k
}

// writer writes the batches in order; after a failed one it only drains
// the queue.
func (k *labelSink) writer() {
	defer close(k.done)
	for b := range k.queue {
		if k.failed() != nil {
			continue
		}
		apply := func(ctx context.Context, tx *sql.Tx) error {
			return writeLabels(ctx, tx, k.source, k.model, b.keys, b.rows)
		}
		// record writes even when the statement is cancelled: what was
		// labeled is kept.
		if err := k.r.record(context.Background(), apply, b.outs...); err != nil {
			k.errMu.Lock()
			k.err = err
			k.errMu.Unlock()
			continue
		}
		k.written.Add(int64(len(b.rows)))
	}
}

func (k *labelSink) failed() error {
	k.errMu.Lock()
	defer k.errMu.Unlock()
	return k.err
}

// add queues one image's outcome and, when top is not empty, its
// predictions; a full queue goes to the writer. The error is that of an
// earlier failed write: the run should stop.
func (k *labelSink) add(o Outcome, key string, top []vision.Prediction) error {
	if err := k.failed(); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.outs = append(k.outs, o)
	if len(top) > 0 {
		k.keys = append(k.keys, key)
		for _, p := range top {
			k.rows = append(k.rows, labelRow{key: key, p: p})
		}
	}
	if len(k.outs) >= labelFlush {
		k.handOff()
	}
	return nil
}

// handOff gives what is queued to the writer (it waits while two batches
// are pending: the database then sets the pace). k.mu is held.
func (k *labelSink) handOff() {
	if len(k.outs) == 0 {
		return
	}
	k.queue <- labelBatch{outs: k.outs, rows: k.rows, keys: k.keys}
	k.outs, k.rows, k.keys = nil, nil, nil
}

// close writes what is left, waits for the writer and returns the first
// failed write. add must not be called after close; calling close again
// returns the same error.
func (k *labelSink) close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		k.handOff()
		close(k.queue)
		k.mu.Unlock()
		<-k.done
	})
	return k.failed()
}

// labelInsertRows is how many rows one INSERT into labels carries.
const labelInsertRows = 1000

// writeLabels replaces the rows of keys (paths or ids, by source) for model
// with rows.
func writeLabels(ctx context.Context, tx *sql.Tx, source, model string, keys []string, rows []labelRow) error {
	col := "path"
	if source == "node" {
		col = "id"
	}
	for lo := 0; lo < len(keys); lo += 1000 {
		hi := min(lo+1000, len(keys))
		q := fmt.Sprintf(`DELETE FROM labels WHERE source = ? AND model = ? AND %s IN %s`, col, idList(keys[lo:hi]))
		if _, err := tx.ExecContext(ctx, q, source, model); err != nil {
			return fmt.Errorf("replace earlier labels: %w", err)
		}
	}
	// Literal VALUES: DuckDB binds parameters of a many-row INSERT several
	// times slower than it parses literals (BenchmarkLabelNodes).
	at := engine.Quote(time.Now().UTC().Format("2006-01-02 15:04:05.999999")) + "::TIMESTAMP"
	src, mdl := engine.Quote(source), engine.Quote(model)
	var b strings.Builder
	for lo := 0; lo < len(rows); lo += labelInsertRows {
		hi := min(lo+labelInsertRows, len(rows))
		b.Reset()
		b.WriteString(`INSERT INTO labels (source, path, id, rank, label, synset, classIndex, prob, model, labeledAt) VALUES `)
		for i, r := range rows[lo:hi] {
			if i > 0 {
				b.WriteString(", ")
			}
			path, id := "NULL", engine.Quote(r.key)
			if source != "node" {
				path, id = id, path
			}
			synset := "NULL"
			if r.p.Synset != "" {
				synset = engine.Quote(r.p.Synset)
			}
			fmt.Fprintf(&b, "(%s, %s, %s, %d, %s, %s, %d, %s, %s, %s)", src, path, id, r.p.Rank, engine.Quote(r.p.Name), synset,
				// 'e' makes DuckDB read a DOUBLE; a plain decimal literal
				// becomes a DECIMAL first and loses the last digit.
				r.p.Index, strconv.FormatFloat(r.p.Prob, 'e', -1, 64), mdl, at)
		}
		if _, err := tx.ExecContext(ctx, b.String()); err != nil {
			return fmt.Errorf("write labels: %w", err)
		}
	}
	return nil
}
