package engine

// The result columns of a query, known from DuckDB's prepared statement
// without running it: callers that need a column (the id of a target or
// of the gallery's grid) decide on these, not on the text of the error
// the query would fail with.

import (
	"context"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
)

// Columns prepares query (one statement) on the session's pinned
// connection, without running it, and returns the names of its result
// columns.
func (d *DB) Columns(query string) ([]string, error) {
	var names []string
	err := d.Raw(func(c *duckdb.Conn) error {
		var err error
		names, err = preparedColumns(c, query)
		return err
	})
	return names, err
}

// Columns is DB.Columns for a query of the sandbox: it is Check'ed first,
// then prepared on the sandbox's connection.
func (s *Sandbox) Columns(ctx context.Context, query string) ([]string, error) {
	if err := s.Check(ctx, query); err != nil {
		return nil, err
	}
	var names []string
	err := s.conn.Raw(func(dc any) error {
		c, ok := dc.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("sandbox: connection is a %T, not a DuckDB connection", dc)
		}
		var err error
		names, err = preparedColumns(c, query)
		return err
	})
	return names, sandboxError(err, nil)
}

// HasColumn reports whether names holds name, in any case (DuckDB's
// identifiers match so).
func HasColumn(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

func preparedColumns(c *duckdb.Conn, query string) ([]string, error) {
	// Prepare (not PrepareContext) refuses more than one statement;
	// PrepareContext would run all but the last.
	st, err := c.Prepare(query)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ds, ok := st.(*duckdb.Stmt)
	if !ok {
		return nil, fmt.Errorf("statement is a %T", st)
	}
	n, err := ds.ColumnCount()
	if err != nil {
		return nil, err
	}
	names := make([]string, n)
	for i := range names {
		if names[i], err = ds.ColumnName(i); err != nil {
			return nil, fmt.Errorf("column %d of the query: %w", i+1, err)
		}
	}
	return names, nil
}
