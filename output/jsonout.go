package output

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// jsonWriter writes one JSON object per row: as the elements of one array
// (json) or one per line (ndjson). Numbers stay numbers (NaN and the
// infinities become strings), nested lists, structs and maps become JSON
// arrays and objects, JSON columns are embedded as they are, and
// everything else (dates, timestamps, intervals, UUIDs, blobs) is the same
// text the other formats print, as a string.
type jsonWriter struct {
	*out
	array bool
	keys  [][]byte // `{"name":` for the first column, `,"name":` after
	rows  int64
	columns
}

func (jw *jsonWriter) begin(schema *arrow.Schema) error {
	jw.keys = jw.keys[:0]
	for j, f := range schema.Fields() {
		var k []byte
		if j == 0 {
			k = append(k, '{')
		} else {
			k = append(k, ',')
		}
		k = appendJSONString(k, f.Name)
		jw.keys = append(jw.keys, append(k, ':'))
	}
	if jw.array {
		jw.buf = append(jw.buf, '[')
	}
	return nil
}

func (jw *jsonWriter) batch(rec arrow.RecordBatch) error {
	jw.build(cellBuilder{json: true}, rec)
	n := int(rec.NumRows())
	buf := jw.buf
	for i := range n {
		if jw.array && jw.rows > 0 {
			buf = append(buf, ",\n"...)
		}
		jw.rows++
		for j, c := range jw.cells {
			buf = append(buf, jw.keys[j]...)
			if jw.nulls[j] && jw.cols[j].IsNull(i) {
				buf = append(buf, "null"...)
				continue
			}
			buf = c(buf, i)
		}
		if len(jw.cells) == 0 {
			buf = append(buf, '{')
		}
		buf = append(buf, '}')
		if !jw.array {
			buf = append(buf, '\n')
		}
		if len(buf) >= flushAt {
			jw.buf = buf
			if err := jw.flush(); err != nil {
				return err
			}
			buf = jw.buf
		}
	}
	jw.buf = buf
	return jw.flush()
}

func (jw *jsonWriter) end(int64) error {
	if jw.array {
		jw.buf = append(jw.buf, "]\n"...)
	}
	return jw.flush()
}

func (jw *jsonWriter) abort() { jw.flush() }
