// Package output renders streams of Arrow record batches as text: aligned
// tables, CSV, TSV, JSON, NDJSON, Markdown and sqlite's line mode.
//
// Results are never loaded whole: every format writes rows as batches
// arrive, except that the table and markdown formats first look at a bounded
// sample of rows (Options.SampleRows) to size their columns. Values are
// appended with strconv.Append* into one reusable buffer that is flushed in
// large writes, so the per-value cost is a few nanoseconds and no
// allocation.
package output

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Format names an output format, as given to --format and .mode.
type Format string

// The formats of SPEC §1.
const (
	Table    Format = "table"    // aligned columns with box-drawing borders and a row count
	CSV      Format = "csv"      // RFC 4180, header line when Options.Headers
	TSV      Format = "tsv"      // tab-separated, \t \n \r \\ escaped
	JSON     Format = "json"     // one JSON array of objects, streamed
	NDJSON   Format = "ndjson"   // one JSON object per line
	Markdown Format = "markdown" // GitHub-flavoured Markdown table
	Line     Format = "line"     // "name = value" per column, blank line between rows
)

// Formats lists every format in the order they are documented.
func Formats() []Format {
	return []Format{Table, CSV, TSV, JSON, NDJSON, Markdown, Line}
}

// ParseFormat reads a format name, case-insensitively. The error lists the
// valid names.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	for _, known := range Formats() {
		if f == known {
			return f, nil
		}
	}
	names := make([]string, 0, len(Formats()))
	for _, known := range Formats() {
		names = append(names, string(known))
	}
	return "", fmt.Errorf("unknown output format %q: use one of %s", s, strings.Join(names, ", "))
}

// DefaultSampleRows is how many rows the table and markdown formats read
// before fixing their column widths.
const DefaultSampleRows = 10000

// Options control how a result is written. The zero value writes a table
// without headers; DefaultOptions is what a shell starts with.
type Options struct {
	// Format is the output format; "" means Table.
	Format Format
	// Headers writes column names: the CSV/TSV header line, the table and
	// markdown header rows and the table's row-count footer. JSON, NDJSON
	// and line always name their values.
	Headers bool
	// Null is the text of a NULL value. "" means the format's default:
	// NULL in table, markdown and line; the empty field in CSV and TSV
	// (where an empty string then prints as ""). JSON always writes null.
	Null string
	// Width is the terminal width in columns; a table wider than this has
	// its widest columns shortened, with an ellipsis on the cut values.
	// 0 means unlimited.
	Width int
	// ASCII draws table borders with + - | instead of box-drawing
	// characters.
	ASCII bool
	// SampleRows bounds the rows buffered to size table columns; 0 means
	// DefaultSampleRows. Rows after the sample keep the widths found, and
	// longer values are cut with an ellipsis.
	SampleRows int
	// MaxRows, when above 0, bounds the rows a table shows: a longer
	// result shows its first and last MaxRows/2 rows with a "⋮" row
	// between them and "(N rows, MaxRows shown)" under it. The rows in
	// between are read and counted, never held. Other formats write
	// every row.
	MaxRows int
}

// DefaultOptions returns the options an interactive session starts with: a
// table with headers.
func DefaultOptions() Options {
	return Options{Format: Table, Headers: true}
}

// flushAt is the buffer size that triggers a write to the underlying writer.
const flushAt = 64 << 10

// out is the output buffer: cells append to buf, and buf goes to w in large
// writes. It plays the role of a bufio.Writer whose buffer we append to
// directly.
type out struct {
	w   io.Writer
	buf []byte
	err error
}

func (o *out) flush() error {
	if len(o.buf) > 0 && o.err == nil {
		_, o.err = o.w.Write(o.buf)
	}
	o.buf = o.buf[:0]
	return o.err
}

// maybeFlush writes the buffer out once it is large.
func (o *out) maybeFlush() error {
	if len(o.buf) >= flushAt {
		return o.flush()
	}
	return o.err
}

// writer is one format's renderer.
type writer interface {
	// begin is called once before any batch.
	begin(schema *arrow.Schema) error
	// batch renders one record batch. It may retain it (the table sample)
	// and must release what it retains by the time end returns.
	batch(rec arrow.RecordBatch) error
	// end is called after the last batch with the total row count; abort
	// instead when the stream failed.
	end(rows int64) error
	// abort releases anything retained without writing more.
	abort()
}

// Write renders every batch of rr to w in the format o asks for and returns
// the number of rows written.
//
//   - The reader is consumed but not released: the caller owns it.
//   - ctx is checked between batches; a cancelled write returns ctx.Err()
//     after flushing the rows already rendered.
//   - An error from rr (rr.Err) or from w ends the write and is returned.
func Write(ctx context.Context, w io.Writer, rr array.RecordReader, o Options) (rows int64, err error) {
	f, err := newWriter(o, w)
	if err != nil {
		return 0, err
	}
	schema := rr.Schema()
	if err := f.begin(schema); err != nil {
		return 0, err
	}
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			f.abort()
			return rows, err
		}
		rec := rr.RecordBatch()
		if err := f.batch(rec); err != nil {
			f.abort()
			return rows, err
		}
		rows += rec.NumRows()
	}
	if err := rr.Err(); err != nil {
		f.abort()
		return rows, err
	}
	if err := ctx.Err(); err != nil {
		f.abort()
		return rows, err
	}
	return rows, f.end(rows)
}

func newWriter(o Options, w io.Writer) (writer, error) {
	dst := &out{w: w, buf: make([]byte, 0, flushAt+flushAt/2)}
	null := o.Null
	switch o.Format {
	case "", Table, Markdown:
		if null == "" {
			null = "NULL"
		}
		g := newGrid(dst, o, null)
		if o.MaxRows > 0 && o.Format != Markdown {
			return newElide(g, o.MaxRows), nil
		}
		return g, nil
	case CSV:
		return &delimited{out: dst, o: o, sep: ',', null: []byte(null)}, nil
	case TSV:
		return &delimited{out: dst, o: o, sep: '\t', tsv: true, null: []byte(null)}, nil
	case JSON:
		return &jsonWriter{out: dst, array: true}, nil
	case NDJSON:
		return &jsonWriter{out: dst}, nil
	case Line:
		if null == "" {
			null = "NULL"
		}
		return &lineWriter{out: dst, null: []byte(null)}, nil
	}
	_, err := ParseFormat(string(o.Format))
	return nil, err
}

// columns holds the cells of one batch, rebuilt for each batch and reusing
// its slices.
type columns struct {
	cols  []arrow.Array
	cells []cell
	kinds []kind
	nulls []bool // column has nulls in this batch
}

func (c *columns) build(cb cellBuilder, rec arrow.RecordBatch) {
	n := int(rec.NumCols())
	schema := rec.Schema()
	c.cols = append(c.cols[:0], rec.Columns()...)
	c.cells = c.cells[:0]
	c.kinds = c.kinds[:0]
	c.nulls = c.nulls[:0]
	for j := range n {
		cl, k := cb.column(c.cols[j], schema.Field(j).Metadata)
		c.cells = append(c.cells, cl)
		c.kinds = append(c.kinds, k)
		c.nulls = append(c.nulls, c.cols[j].NullN() > 0)
	}
}
