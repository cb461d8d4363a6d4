package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The row statuses that make one of apsql's own statements fail (exit
// status 1 in a script): a failed row, and a conflict the person must
// decide (UPLOAD's ON CONFLICT).
const (
	RowFailed   = "failed"
	RowConflict = "conflict"
)

// countFailed is the one rule of the exit status: a statement of apsql's
// own (not EXPLAIN) whose result has a status column fails when a row's
// status is failed or conflict, whatever statement made it. The rows are
// in memory already (resultset); they are counted, then handed on in a
// new reader.
func countFailed(c Command, res *Result) {
	if res.Rows == nil || len(c.Keywords) > 0 && c.Keywords[0] == "EXPLAIN" {
		return
	}
	col := res.Rows.Schema().FieldIndices("status")
	if len(col) != 1 || res.Rows.Schema().Field(col[0]).Type.ID() != arrow.STRING {
		return
	}
	var recs []arrow.RecordBatch
	n := 0
	for res.Rows.Next() {
		b := res.Rows.RecordBatch()
		b.Retain()
		recs = append(recs, b)
		st := b.Column(col[0]).(*array.String)
		for i := range int(b.NumRows()) {
			if st.IsValid(i) && (st.Value(i) == RowFailed || st.Value(i) == RowConflict) {
				n++
			}
		}
	}
	schema := res.Rows.Schema()
	err := res.Rows.Err()
	res.Rows.Release()
	rr, rerr := array.NewRecordReader(schema, recs)
	for _, b := range recs {
		b.Release()
	}
	if err != nil || rerr != nil {
		// Cannot happen for in-memory rows; rows that cannot be read
		// back count as a failure.
		rr, _ = array.NewRecordReader(schema, nil)
		n = max(n, 1)
	}
	res.Rows = rr
	res.Failed = max(res.Failed, n)
	res.Held = true
}
