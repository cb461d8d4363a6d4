package mirror

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/filterlang"
	"github.com/apsql/apsql/model"
)

// RegisterSearch registers the table function search('filter') on db's
// connection: a live query of the service that returns the columns of the
// nodes table, newest upload (createdDate) first as in the web app,
// fetching pages only as the query consumes rows, so
// SELECT ... FROM search('...') LIMIT 10 sends one request. The filter is
// checked locally first (a syntax error shows its position without a
// request). raw comes back as VARCHAR (duckdb-go's table functions cannot
// declare JSON); cast it with raw::JSON.
func RegisterSearch(db *engine.DB, client ClientFunc) error {
	cols, err := searchColumns()
	if err != nil {
		return err
	}
	varchar, err := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	if err != nil {
		return err
	}
	err = duckdb.RegisterTableUDF(db.Conn(), searchUDF, duckdb.ChunkTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{varchar}},
		BindArgumentsContext: func(ctx context.Context, _ map[string]any, args ...any) (duckdb.ChunkTableSource, error) {
			// A read-only surface (the gallery, the MCP server) marks its
			// queries' context: search() runs there only if allowed.
			if err := engine.LiveAllowed(ctx); err != nil {
				return nil, err
			}
			filter, ok := args[0].(string)
			if !ok || filter == searchNull {
				return nil, fmt.Errorf("search(filter): the filter must be a string such as 'type:(PHOTOS)', not NULL")
			}
			if filter == "" {
				filter = DefaultFilter
			}
			if _, err := filterlang.Parse(filter, filterlang.Search); err != nil {
				return nil, fmt.Errorf("search(%s): %w", engine.Quote(filter), err)
			}
			c, err := client(ctx)
			if err != nil {
				return nil, err
			}
			return &searchSource{ctx: ctx, src: newService(c), filter: filter, cols: cols, syncedAt: time.Now()}, nil
		},
	})
	if err != nil {
		return err
	}
	// duckdb-go aborts the process when a table function's VARCHAR
	// argument is NULL (it reads the string without a NULL check): users
	// call search() through a macro that never passes one.
	_, err = db.Exec(context.Background(), fmt.Sprintf(`CREATE OR REPLACE TEMP MACRO search(filter) AS TABLE SELECT * FROM %s(coalesce(CAST(filter AS VARCHAR), %s))`,
		searchUDF, engine.Quote(searchNull)))
	return err
}

// searchUDF is the table function behind the search() macro; searchNull
// stands for a NULL filter.
const (
	searchUDF  = "apsql_search_live"
	searchNull = "(apsql: NULL filter)"
)

// searchColumns are the nodes columns as table-function columns.
func searchColumns() ([]duckdb.ColumnInfo, error) {
	cols := make([]duckdb.ColumnInfo, len(model.NodeColumns))
	for i, c := range model.NodeColumns {
		var t duckdb.Type
		switch c.Type {
		case model.Varchar, model.JSON, model.VarcharList:
			t = duckdb.TYPE_VARCHAR
		case model.BigInt:
			t = duckdb.TYPE_BIGINT
		case model.Integer:
			t = duckdb.TYPE_INTEGER
		case model.Double:
			t = duckdb.TYPE_DOUBLE
		case model.Boolean:
			t = duckdb.TYPE_BOOLEAN
		case model.Timestamp:
			t = duckdb.TYPE_TIMESTAMP
		default:
			return nil, fmt.Errorf("search(): no column type for %s", c.Type)
		}
		info, err := duckdb.NewTypeInfo(t)
		if err != nil {
			return nil, err
		}
		if c.Type == model.VarcharList {
			if info, err = duckdb.NewListInfo(info); err != nil {
				return nil, err
			}
		}
		cols[i] = duckdb.ColumnInfo{Name: c.Name, T: info}
	}
	return cols, nil
}

// searchSource feeds one search() call: it fetches the next page when the
// rows in hand run out, and never fetches ahead, so nothing is left running
// when DuckDB stops early (a LIMIT). Ids repeated by shifting offsets are
// dropped.
type searchSource struct {
	ctx      context.Context
	src      source
	filter   string
	cols     []duckdb.ColumnInfo
	syncedAt time.Time

	rec    arrow.RecordBatch // the current page
	row    int               // next row of rec
	offset int               // offset of the next page
	count  int               // the server's count; -1 before the first page
	done   bool
	seen   map[string]bool
}

func (s *searchSource) ColumnInfos() []duckdb.ColumnInfo { return s.cols }

// Cardinality is unknown before the first request.
func (s *searchSource) Cardinality() *duckdb.CardinalityInfo { return nil }

func (s *searchSource) Init() { s.count = -1; s.seen = map[string]bool{} }

// next makes sure a row is in hand; false at the end of the listing.
func (s *searchSource) next() (bool, error) {
	for s.rec == nil || s.row >= int(s.rec.NumRows()) {
		if s.rec != nil {
			s.rec.Release()
			s.rec = nil
		}
		if s.done {
			return false, nil
		}
		rec, info, err := searchPage(s.ctx, s.src, s.filter, newestSort, s.offset, pageLimit, s.syncedAt)
		if err != nil {
			return false, err
		}
		s.rec, s.row = rec, 0
		s.count = info.Count
		s.offset += info.Items
		if info.Items == 0 || s.offset >= s.count {
			s.done = true
		}
	}
	return true, nil
}

// FillChunk copies the rows of the current page (fetching it when none is
// in hand), at most a chunk's capacity: a chunk never waits for a second
// page, so a LIMIT that one page satisfies sends one request.
func (s *searchSource) FillChunk(chunk duckdb.DataChunk) error {
	capacity := duckdb.GetDataChunkCapacity()
	n := 0
	for n < capacity {
		if n > 0 && (s.rec == nil || s.row >= int(s.rec.NumRows())) {
			break // the page is used up: hand over what we have
		}
		ok, err := s.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		ids := s.rec.Column(0).(*array.String)
		// The id is read without a copy for the look-up; the key kept is a
		// copy: Value's string points into the page's buffer, which goes
		// back to fetch's pool when the page is released and is then
		// overwritten by a later page (that made later ids look seen, and
		// dropped their rows).
		if s.seen[ids.Value(s.row)] {
			s.row++
			continue
		}
		s.seen[strings.Clone(ids.Value(s.row))] = true
		for c := range s.cols {
			if err := chunk.SetValue(c, n, arrowValue(s.rec.Column(c), s.row)); err != nil {
				return fmt.Errorf("search(): column %s: %w", s.cols[c].Name, err)
			}
		}
		s.row++
		n++
	}
	if n == 0 && s.rec != nil {
		s.rec.Release()
		s.rec = nil
	}
	return chunk.SetSize(n)
}

// arrowValue returns row i of a as the Go value DuckDB's SetValue takes.
func arrowValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case array.ExtensionArray: // raw: fetch.JSONArray over strings
		return arrowValue(a.Storage(), i)
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Timestamp:
		return time.UnixMicro(int64(a.Value(i))).UTC()
	case *array.List:
		lo, hi := a.ValueOffsets(i)
		vals := a.ListValues().(*array.String)
		out := make([]string, 0, hi-lo)
		for j := lo; j < hi; j++ {
			out = append(out, vals.Value(int(j)))
		}
		return out
	}
	return nil
}
