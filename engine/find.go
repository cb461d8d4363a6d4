package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/filterlang"
	"github.com/apsql/apsql/resultset"
)

// FilterError is a filter that does not parse or check, with its input, so
// that the shell can draw a caret under the column.
type FilterError struct {
	Err *filterlang.Error
	Src string
}

func (e *FilterError) Error() string { return e.Err.Error() }
func (e *FilterError) Unwrap() error { return e.Err }

// CaretLines returns the filter and a caret under the error's column.
func (e *FilterError) CaretLines() string { return e.Err.Caret(e.Src) }

// ParseFilter parses and checks an Amazon filter; its errors are
// *FilterError.
func ParseFilter(src string, d filterlang.Dialect) (*filterlang.Filter, error) {
	f, err := filterlang.Parse(src, d)
	var fe *filterlang.Error
	if errors.As(err, &fe) {
		return nil, &FilterError{Err: fe, Src: src}
	}
	return f, err
}

// registerBuiltins registers the statements that need nothing but the
// local database.
func registerBuiltins(r *Registry) {
	r.Register(Command{
		Keywords: []string{"FIND"},
		Syntax:   "FIND 'amazon filter' [LIMIT n]",
		Help:     "the filter evaluated locally over nodes (no API call), newest first",
		Run:      runFind,
	})
	r.Register(Command{
		Keywords: []string{"EXPLAIN", "FIND"},
		Syntax:   "EXPLAIN FIND 'amazon filter'",
		Help:     "the parsed filter, its canonical form and the SQL it becomes",
		Run:      runExplainFind,
	})
}

// findArgs reads "'filter' [LIMIT n]".
func findArgs(rest string, limit bool) (*filterlang.Filter, int64, error) {
	a := NewArgs(rest)
	src, err := a.String()
	if err != nil {
		return nil, 0, fmt.Errorf("FIND wants a filter in quotes, e.g. FIND 'type:(PHOTOS) AND timeYear:(2023)': %w", err)
	}
	n := int64(-1)
	if limit && a.Keyword("LIMIT") {
		if n, err = a.Int(); err != nil {
			return nil, 0, fmt.Errorf("LIMIT wants a count of rows: %w", err)
		}
		if n < 0 {
			return nil, 0, fmt.Errorf("LIMIT %d: a count of rows is 0 or more", n)
		}
	}
	if !a.Done() {
		return nil, 0, fmt.Errorf("unexpected %q after the filter", a.Rest())
	}
	f, err := ParseFilter(src, filterlang.Local)
	return f, n, err
}

// FindSQL returns the query FIND runs for f: nodes matching it, newest
// first, every column but raw.
func FindSQL(f *filterlang.Filter, limit int64) (string, []any) {
	where, args := f.SQL()
	q := "SELECT * EXCLUDE (raw) FROM nodes WHERE " + where + ` ORDER BY "contentDate" DESC NULLS LAST, id`
	if limit >= 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return q, args
}

func runFind(ctx context.Context, s *Session, rest string) (*Result, error) {
	f, limit, err := findArgs(rest, true)
	if err != nil {
		return nil, err
	}
	q, args := FindSQL(f, limit)
	rr, err := s.DB.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return &Result{Rows: rr}, nil
}

func runExplainFind(ctx context.Context, s *Session, rest string) (*Result, error) {
	f, _, err := findArgs(rest, false)
	if err != nil {
		return nil, err
	}
	q, args := FindSQL(f, -1)
	b := resultset.New(resultset.Col("part", resultset.String), resultset.Col("text", resultset.String))
	b.Append("tree", f.Tree())
	b.Append("canonical", f.String())
	b.Append("terms", fmt.Sprint(f.Terms()))
	b.Append("sql", filterlang.Inline(q, args))
	var rr array.RecordReader = b.Reader()
	return &Result{Rows: rr}, nil
}
