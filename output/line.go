package output

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// lineWriter is sqlite's .mode line: one "name = value" line per column,
// names right-aligned to the longest (at least 5 wide, as sqlite does), and
// a blank line between rows.
type lineWriter struct {
	*out
	null   []byte
	labels [][]byte // padded "   name = "
	rows   int64
	columns
}

func (lw *lineWriter) begin(schema *arrow.Schema) error {
	width := 5
	for _, f := range schema.Fields() {
		width = max(width, displayWidth([]byte(f.Name)))
	}
	lw.labels = lw.labels[:0]
	for _, f := range schema.Fields() {
		var l []byte
		for k := displayWidth([]byte(f.Name)); k < width; k++ {
			l = append(l, ' ')
		}
		l = append(l, f.Name...)
		lw.labels = append(lw.labels, append(l, " = "...))
	}
	return nil
}

func (lw *lineWriter) batch(rec arrow.RecordBatch) error {
	lw.build(cellBuilder{}, rec)
	n := int(rec.NumRows())
	for i := range n {
		if lw.rows > 0 {
			lw.buf = append(lw.buf, '\n')
		}
		lw.rows++
		for j, c := range lw.cells {
			lw.buf = append(lw.buf, lw.labels[j]...)
			if lw.nulls[j] && lw.cols[j].IsNull(i) {
				lw.buf = append(lw.buf, lw.null...)
			} else {
				lw.buf = c(lw.buf, i)
			}
			lw.buf = append(lw.buf, '\n')
		}
		if err := lw.maybeFlush(); err != nil {
			return err
		}
	}
	return lw.flush()
}

func (lw *lineWriter) end(int64) error { return lw.flush() }

func (lw *lineWriter) abort() { lw.flush() }
