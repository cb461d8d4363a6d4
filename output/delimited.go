package output

import (
	"bytes"

	"github.com/apache/arrow-go/v18/arrow"
)

// delimited writes CSV (RFC 4180: fields holding the separator, a quote,
// CR or LF are quoted, quotes doubled; LF line ends, as DuckDB's COPY) or
// TSV (tabs, newlines, carriage returns and backslashes escaped as \t \n \r
// \\, so every row stays on one line).
type delimited struct {
	*out
	o    Options
	sep  byte
	tsv  bool
	null []byte
	columns
	scratch []byte
}

// csvSpecial marks the bytes that force a CSV field into quotes.
var csvSpecial = [256]bool{',': true, '"': true, '\n': true, '\r': true}

// tsvSpecial marks the bytes TSV escapes.
var tsvSpecial = [256]bool{'\t': true, '\n': true, '\r': true, '\\': true}

func (d *delimited) begin(schema *arrow.Schema) error {
	if !d.o.Headers {
		return nil
	}
	for j, f := range schema.Fields() {
		if j > 0 {
			d.buf = append(d.buf, d.sep)
		}
		start := len(d.buf)
		d.buf = append(d.buf, f.Name...)
		d.buf = d.escape(d.buf, start)
	}
	d.buf = append(d.buf, '\n')
	return d.maybeFlush()
}

func (d *delimited) batch(rec arrow.RecordBatch) error {
	d.build(cellBuilder{}, rec)
	n := int(rec.NumRows())
	cells, kinds, nulls, cols := d.cells, d.kinds, d.nulls, d.cols
	buf := d.buf
	for i := range n {
		for j, c := range cells {
			if j > 0 {
				buf = append(buf, d.sep)
			}
			if nulls[j] && cols[j].IsNull(i) {
				buf = append(buf, d.null...)
				continue
			}
			start := len(buf)
			buf = c(buf, i)
			if kinds[j] == kindText {
				buf = d.escape(buf, start)
			}
		}
		buf = append(buf, '\n')
		if len(buf) >= flushAt {
			d.buf = buf
			if err := d.flush(); err != nil {
				return err
			}
			buf = d.buf
		}
	}
	d.buf = buf
	return d.flush()
}

// escape quotes (CSV) or escapes (TSV) the field buf[start:] in place when
// it needs it. A CSV field equal to the NULL text is quoted so that it
// reads back as a string.
func (d *delimited) escape(buf []byte, start int) []byte {
	field := buf[start:]
	if d.tsv {
		for _, c := range field {
			if tsvSpecial[c] {
				return d.escapeTSV(buf, start)
			}
		}
		return buf
	}
	if bytes.Equal(field, d.null) {
		return d.quote(buf, start)
	}
	for _, c := range field {
		if csvSpecial[c] {
			return d.quote(buf, start)
		}
	}
	return buf
}

func (d *delimited) quote(buf []byte, start int) []byte {
	d.scratch = append(d.scratch[:0], buf[start:]...)
	buf = append(buf[:start], '"')
	for _, c := range d.scratch {
		if c == '"' {
			buf = append(buf, '"')
		}
		buf = append(buf, c)
	}
	return append(buf, '"')
}

func (d *delimited) escapeTSV(buf []byte, start int) []byte {
	d.scratch = append(d.scratch[:0], buf[start:]...)
	buf = buf[:start]
	for _, c := range d.scratch {
		switch c {
		case '\t':
			buf = append(buf, '\\', 't')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\\':
			buf = append(buf, '\\', '\\')
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

func (d *delimited) end(int64) error { return d.flush() }

func (d *delimited) abort() { d.flush() }
