package engine

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// query runs SQL on the pinned connection and streams its result as Arrow
// record batches (see QueryArrow). The caller must release the reader
// before the connection runs anything else.
func (d *DB) query(ctx context.Context, q string, args ...any) (array.RecordReader, error) {
	return QueryArrow(ctx, d.conn, q, args...)
}
