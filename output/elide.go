package output

import (
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
)

// elide is the table format under Options.MaxRows: of a result longer
// than max rows it shows the first and the last rows with a "⋮" row
// between them, as DuckDB's shell does. It retains only the batches that
// hold those rows (a few, whatever the length of the result): the head
// batches until head rows are in, and a window of the latest batches that
// covers the last tail rows, older ones released as newer ones arrive.
type elide struct {
	g          *grid
	head, tail int64
	first      []keptBatch // batches holding rows [0, head)
	last       []keptBatch // the latest batches, holding at least the last tail rows
	seen       int64       // rows received so far
}

// keptBatch is a retained batch and the index of its first row in the
// whole result.
type keptBatch struct {
	rec   arrow.RecordBatch
	start int64
}

func newElide(g *grid, max int) *elide {
	return &elide{g: g, head: int64(max+1) / 2, tail: int64(max) / 2}
}

func (e *elide) begin(schema *arrow.Schema) error { return e.g.begin(schema) }

func (e *elide) batch(rec arrow.RecordBatch) error {
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	start := e.seen
	e.seen += n
	if start < e.head {
		rec.Retain()
		e.first = append(e.first, keptBatch{rec, start})
	}
	if e.tail > 0 {
		rec.Retain()
		e.last = append(e.last, keptBatch{rec, start})
		// The oldest batch goes once the ones after it hold tail rows.
		for len(e.last) > 1 && e.seen-e.last[1].start >= e.tail {
			e.last[0].rec.Release()
			e.last = e.last[1:]
		}
	}
	return nil
}

// end hands the grid the rows it shows: all of them when the result has
// at most head+tail rows, else the head, the marker and the tail.
func (e *elide) end(rows int64) error {
	defer e.release()
	if rows > e.head+e.tail {
		e.g.elideAt = e.head
		e.g.shown = e.head + e.tail
		if err := e.feed(e.first, 0, e.head); err != nil {
			return err
		}
		if err := e.feed(e.last, rows-e.tail, rows); err != nil {
			return err
		}
		return e.g.end(rows)
	}
	// Short enough: every row is in first or last (a batch may be in both).
	all := append(append([]keptBatch(nil), e.first...), e.last...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].start < all[j].start })
	if err := e.feed(all, 0, rows); err != nil {
		return err
	}
	return e.g.end(rows)
}

// feed gives the grid rows [lo, hi) of the result from kept, in order,
// each row once.
func (e *elide) feed(kept []keptBatch, lo, hi int64) error {
	next := lo
	for _, k := range kept {
		n := k.rec.NumRows()
		from, to := max(next-k.start, 0), min(hi-k.start, n)
		if from >= to {
			continue
		}
		s := k.rec.NewSlice(from, to)
		err := e.g.batch(s)
		s.Release()
		if err != nil {
			return err
		}
		next = k.start + to
	}
	return nil
}

func (e *elide) abort() {
	e.release()
	e.g.abort()
}

func (e *elide) release() {
	for _, k := range e.first {
		k.rec.Release()
	}
	for _, k := range e.last {
		k.rec.Release()
	}
	e.first, e.last = nil, nil
}
