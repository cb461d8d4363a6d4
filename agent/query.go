package agent

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/filterlang"
	"github.com/apsql/apsql/output"
)

// Row caps: a result shows defaultRows rows unless asked for more, never
// more than maxRows; a cell is clipped at maxCell characters and a
// result's cells at maxText in all, so that an answer fits an agent's
// context.
const (
	defaultRows = 100
	maxRows     = 1000
	maxCell     = 1000
	maxText     = 64 << 10
)

// queryTimeout bounds one query (a cross join of the mirror would
// otherwise hold the database).
const queryTimeout = 60 * time.Second

// Table is a result as structured content.
type Table struct {
	Columns []string `json:"columns" jsonschema:"the column names"`
	Rows    [][]any  `json:"rows" jsonschema:"the rows shown, each a list of values in column order"`
	// Shown is len(Rows); Total counts every row of the result.
	Shown     int    `json:"shown" jsonschema:"how many rows are shown"`
	Total     int64  `json:"total" jsonschema:"how many rows the result has in all"`
	Truncated bool   `json:"truncated" jsonschema:"true when rows were left out (see note)"`
	Note      string `json:"note,omitempty" jsonschema:"what was left out and how to see it"`
	SQL       string `json:"sql,omitempty" jsonschema:"the SQL the filter became (find only)"`
}

type queryIn struct {
	SQL     string `json:"sql" jsonschema:"one read-only DuckDB query (SELECT, WITH, FROM, VALUES, DESCRIBE, SUMMARIZE) over the mirror's tables"`
	MaxRows int    `json:"max_rows,omitempty" jsonschema:"rows to show (default 100, at most 1000); the total is always counted"`
}

type findIn struct {
	Filter  string `json:"filter" jsonschema:"an Amazon Photos filter, e.g. type:(VIDEOS) AND timeYear:(2019)"`
	MaxRows int    `json:"max_rows,omitempty" jsonschema:"rows to show (default 100, at most 1000); the total is always counted"`
}

// rowsArg checks max_rows (the schema bounds it too).
func rowsArg(n int) (int, error) {
	switch {
	case n == 0:
		return defaultRows, nil
	case n < 0 || n > maxRows:
		return 0, fmt.Errorf("max_rows %d: give 1 to %d (the total is counted anyway; aggregate with SQL for more)", n, maxRows)
	}
	return n, nil
}

// oneStatement takes the single statement out of text (a trailing ';'
// and comments allowed).
func oneStatement(text string) (string, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return "", errors.New("the query is empty: give one SELECT, e.g. SELECT count(*) FROM photos")
	}
	stmts, rest := engine.Split(text)
	if len(stmts) > 1 || len(stmts) == 1 && strings.TrimSpace(rest) != "" && !onlyComments(rest) {
		return "", fmt.Errorf("one query at a time: the text holds %d statements", len(stmts)+1)
	}
	if len(stmts) == 1 {
		return stmts[0].Text, nil
	}
	return text, nil
}

func onlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "--") {
			return false
		}
	}
	return true
}

func (s *Server) query(ctx context.Context, _ *mcp.CallToolRequest, in queryIn) (*mcp.CallToolResult, *Table, error) {
	n, err := rowsArg(in.MaxRows)
	if err != nil {
		return nil, nil, err
	}
	q, err := oneStatement(in.SQL)
	if err != nil {
		return nil, nil, err
	}
	t, err := s.table(ctx, q, nil, n)
	if err != nil {
		return nil, nil, err
	}
	return s.tableResult(t, ""), t, nil
}

func (s *Server) find(ctx context.Context, _ *mcp.CallToolRequest, in findIn) (*mcp.CallToolResult, *Table, error) {
	n, err := rowsArg(in.MaxRows)
	if err != nil {
		return nil, nil, err
	}
	f, err := engine.ParseFilter(in.Filter, filterlang.Local)
	if err != nil {
		var fe *engine.FilterError
		if errors.As(err, &fe) {
			return nil, nil, fmt.Errorf("%v\n%s\n(fix the filter at the caret, or use the query tool with SQL)", fe, fe.CaretLines())
		}
		return nil, nil, err
	}
	where, args := f.SQL()
	q := `SELECT id, name, kind, "contentType", "contentDate", size, width, height, make, model, favorite, hidden FROM nodes WHERE ` + where + ` ORDER BY "contentDate" DESC NULLS LAST, id`
	t, err := s.table(ctx, q, args, n)
	if err != nil {
		return nil, nil, err
	}
	t.SQL = filterlang.Inline(q, args)
	return s.tableResult(t, "filter "+f.String()+"\n"), t, nil
}

// table runs q in the sandbox and returns its first n rows and its
// number of rows.
func (s *Server) table(ctx context.Context, q string, args []any, n int) (*Table, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	t := &Table{}
	sc := s.scrubber()
	err := s.with(ctx, func(*engine.Session) error {
		// The query alone first: the sandbox's refusal names it.
		if err := s.sb.Check(ctx, q); err != nil {
			return err
		}
		limited := "SELECT * FROM (\n" + q + "\n) AS q LIMIT " + strconv.Itoa(n+1)
		// database/sql's rows: the driver copies every value (an
		// Arrow string aliases its batch's C memory, freed on Release).
		rows, err := s.sb.Query(ctx, limited, args...)
		if err != nil {
			return err
		}
		err = collectRows(rows, t, n, sc)
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if t.Total <= int64(n) {
			return nil
		}
		count, err := s.sb.Query(ctx, "SELECT count(*) FROM (\n"+q+"\n) AS q", args...)
		if err != nil {
			return err
		}
		defer count.Close()
		for count.Next() {
			if err := count.Scan(&t.Total); err != nil {
				return err
			}
		}
		return count.Err()
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("the query ran longer than %s and was stopped: aggregate, filter or LIMIT it", queryTimeout)
	}
	if err != nil {
		return nil, err
	}
	if t.Total > int64(t.Shown) {
		t.Truncated = true
		cut := ""
		if t.Shown < n {
			cut = fmt.Sprintf(" (cut at %d KiB of text)", maxText>>10)
		}
		t.Note = fmt.Sprintf("truncated, %s rows total: %d shown%s; aggregate, filter or add LIMIT/OFFSET in SQL to see others", output.Thousands(t.Total), t.Shown, cut)
	}
	return t, nil
}

// collect reads up to n rows of rr into t (values clipped and scrubbed)
// and counts the rows it read.
func collect(rr array.RecordReader, t *Table, n int, sc scrubber) error {
	for _, f := range rr.Schema().Fields() {
		t.Columns = append(t.Columns, f.Name)
	}
	t.Rows = [][]any{}
	text := 0
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			t.Total++
			if len(t.Rows) >= n || text > maxText {
				continue
			}
			row := make([]any, rec.NumCols())
			for j := range row {
				col := rec.Column(j)
				if !col.IsValid(i) {
					continue
				}
				v := cell(col.GetOneForMarshal(i))
				text += len(fmt.Sprint(v))
				row[j] = sc.value(v)
			}
			t.Rows = append(t.Rows, row)
		}
	}
	t.Shown = len(t.Rows)
	return rr.Err()
}

// collectRows reads up to n rows of rows into t (values clipped and
// scrubbed) and counts the rows it read.
func collectRows(rows *engine.Rows, t *Table, n int, sc scrubber) error {
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	t.Columns = cols
	t.Rows = [][]any{}
	text := 0
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		t.Total++
		if len(t.Rows) >= n || text > maxText {
			continue
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make([]any, len(cols))
		for j, v := range vals {
			if v == nil {
				continue
			}
			c := cell(jsonable(v))
			text += len(fmt.Sprint(c))
			row[j] = sc.value(c)
		}
		t.Rows = append(t.Rows, row)
	}
	t.Shown = len(t.Rows)
	return rows.Err()
}

// jsonable turns a value of the DuckDB driver into one that encodes as
// JSON as it reads (a map of any keys, a UUID, a decimal, an interval).
func jsonable(v any) any {
	switch x := v.(type) {
	case string, bool, int64, int32, int16, int8, uint64, uint32, uint16, uint8, float64, float32, time.Time, []byte, nil:
		return v
	case []any:
		for i := range x {
			x[i] = jsonable(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = jsonable(x[k])
		}
		return x
	case fmt.Stringer:
		return x.String()
	}
	if _, err := json.Marshal(v); err != nil {
		return fmt.Sprint(v)
	}
	return v
}

// cell turns a value of GetOneForMarshal into one for JSON, clipping long
// text.
func cell(v any) any {
	// Copies: an Arrow string aliases its batch's buffer, which may be
	// C memory that Release frees.
	switch x := v.(type) {
	case string:
		return strings.Clone(clip(x))
	case json.RawMessage:
		if len(x) > maxCell {
			return strings.Clone(clip(string(x)))
		}
		return json.RawMessage(bytes.Clone(x))
	case []byte:
		return fmt.Sprintf("(%d bytes)", len(x))
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999")
	}
	return v
}

func clip(s string) string {
	if len(s) <= maxCell {
		return s
	}
	cut := maxCell
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes in all)", len(s))
}

// tableResult is t as compact text (CSV, then the note).
func (s *Server) tableResult(t *Table, head string) *mcp.CallToolResult {
	var b bytes.Buffer
	b.WriteString(head)
	w := csv.NewWriter(&b)
	w.Write(t.Columns)
	rec := make([]string, len(t.Columns))
	for _, r := range t.Rows {
		for i, v := range r {
			rec[i] = textOf(v)
		}
		w.Write(rec)
	}
	w.Flush()
	if t.Note != "" {
		fmt.Fprintf(&b, "(%s)\n", t.Note)
	} else {
		fmt.Fprintf(&b, "(%d rows)\n", t.Total)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: b.String()}}}
}

func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case json.RawMessage:
		return string(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
