package engine

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// query runs SQL on the pinned connection and returns its result as Arrow
// record batches.
func (d *DB) query(ctx context.Context, q string, args ...any) (array.RecordReader, error) {
	var rr array.RecordReader
	err := d.Raw(func(c *duckdb.Conn) error {
		ar, err := duckdb.NewArrowFromConn(c)
		if err != nil {
			return err
		}
		rr, err = ar.QueryContext(ctx, q, args...)
		return err
	})
	return rr, err
}
