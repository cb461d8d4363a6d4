package engine

import (
	"context"
	"database/sql"
)

// ReadConn returns a connection of its own to the same database, for a
// table function that reads tables while the session's pinned connection
// runs the query that called it (the pinned one is busy until the query
// ends). It sees committed data only, and none of the session's TEMP
// views or macros. The caller must Close it.
func (d *DB) ReadConn(ctx context.Context) (*sql.Conn, error) {
	return d.db.Conn(ctx)
}
