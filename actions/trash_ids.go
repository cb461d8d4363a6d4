package actions

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/engine"
)

// TrashIDs trashes the nodes ids in the cloud through TRASH itself (its
// batches, the read-back of unknown outcomes, actions_log and the
// mirror), for a caller that has chosen the ids and asked the person
// already (BACKUP ... THEN TRASH): TRASH does not ask again. It returns
// TRASH's row for each node (ID, Name, Status, Detail; Reason stays in
// actions_log) and its summary.
func TrashIDs(ctx context.Context, s *engine.Session, ids []string) ([]Outcome, string, error) {
	if len(ids) == 0 {
		return nil, "", nil
	}
	ts := *s
	ts.Yes, ts.Interactive, ts.Confirm = true, false, nil
	res, err := ts.Exec(ctx, engine.WithIDs("TRASH", ids))
	if err != nil {
		return nil, "", err
	}
	if res.Rows == nil {
		return nil, res.Summary, nil
	}
	defer res.Rows.Release()
	outs, err := readOutcomes(res.Rows)
	if err != nil {
		return nil, "", fmt.Errorf("read TRASH's rows: %w", err)
	}
	return outs, res.Summary, nil
}

// readOutcomes reads an action's result rows (rowsColumns) back.
func readOutcomes(rr array.RecordReader) ([]Outcome, error) {
	var outs []Outcome
	for rr.Next() {
		rec := rr.RecordBatch()
		cols := make([]*array.String, len(rowsColumns))
		for i, c := range rowsColumns {
			idx := rec.Schema().FieldIndices(c.Name)
			if len(idx) != 1 {
				return nil, fmt.Errorf("no column %s", c.Name)
			}
			s, ok := rec.Column(idx[0]).(*array.String)
			if !ok {
				return nil, fmt.Errorf("column %s is %s, not a string", c.Name, rec.Column(idx[0]).DataType())
			}
			cols[i] = s
		}
		for i := range int(rec.NumRows()) {
			outs = append(outs, Outcome{ID: cols[0].Value(i), Name: cols[1].Value(i), Status: Status(cols[2].Value(i)), Detail: cols[3].Value(i)})
		}
	}
	return outs, rr.Err()
}
