// Package resultset builds the small Arrow results that apsql's own
// statements return (SYNC's per-table counts, an action's per-node
// outcomes), so they print through the same output formats as DuckDB's.
//
//	b := resultset.New(resultset.Col("id", resultset.String), resultset.Col("seconds", resultset.Float64))
//	b.Append("x", 1.5)
//	rr := b.Reader()
//	defer rr.Release()
package resultset

import (
	"fmt"
	"reflect"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Type is a column type.
type Type uint8

// The column types. Every column is nullable: append nil, or a nil pointer,
// for NULL; a non-nil pointer stands for the value it points to.
const (
	String     Type = iota + 1 // VARCHAR; accepts string, []byte, fmt.Stringer, error
	Int64                      // BIGINT; accepts any Go integer, time.Duration (nanoseconds)
	Int32                      // INTEGER; accepts any Go integer in range
	Float64                    // DOUBLE; accepts float64, float32, any Go integer, time.Duration (seconds)
	Bool                       // BOOLEAN; accepts bool
	Timestamp                  // TIMESTAMP (microseconds, UTC, no zone); accepts time.Time (the zero time is NULL)
	StringList                 // VARCHAR[]; accepts []string
)

var typeNames = map[Type]string{
	String: "String", Int64: "Int64", Int32: "Int32", Float64: "Float64",
	Bool: "Bool", Timestamp: "Timestamp", StringList: "StringList",
}

// String returns the Go name of the type, as written in this package.
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

func (t Type) arrow() arrow.DataType {
	switch t {
	case String:
		return arrow.BinaryTypes.String
	case Int64:
		return arrow.PrimitiveTypes.Int64
	case Int32:
		return arrow.PrimitiveTypes.Int32
	case Float64:
		return arrow.PrimitiveTypes.Float64
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	case Timestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond}
	case StringList:
		return arrow.ListOf(arrow.BinaryTypes.String)
	}
	panic(fmt.Sprintf("resultset: unknown column type %v", t))
}

// Column is a column's name and type.
type Column struct {
	Name string
	Type Type
}

// Col declares a column.
func Col(name string, t Type) Column { return Column{Name: name, Type: t} }

// Builder accumulates rows. It is not safe for concurrent use.
type Builder struct {
	cols   []Column
	schema *arrow.Schema
	rb     *array.RecordBuilder
	rows   int
}

// New returns a builder for rows of the given columns. It panics on an
// unknown column type (a programming error).
func New(cols ...Column) *Builder {
	fields := make([]arrow.Field, len(cols))
	for k, c := range cols {
		fields[k] = arrow.Field{Name: c.Name, Type: c.Type.arrow(), Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	return &Builder{
		cols:   cols,
		schema: schema,
		rb:     array.NewRecordBuilder(memory.DefaultAllocator, schema),
	}
}

// Schema is the Arrow schema of the rows.
func (b *Builder) Schema() *arrow.Schema { return b.schema }

// Len is the number of rows appended since the last Reader or Record.
func (b *Builder) Len() int { return b.rows }

// Append adds one row: one value per column, in order, nil for NULL.
//
// The row is checked before anything is appended: a wrong number of values
// or a value that does not fit its column's type (see the Type constants)
// panics, since it is a bug in the statement that builds the result, never
// a condition of the data.
func (b *Builder) Append(vals ...any) {
	if len(vals) != len(b.cols) {
		panic(fmt.Sprintf("resultset: Append got %d values for %d columns", len(vals), len(b.cols)))
	}
	conv := make([]any, len(vals))
	for k, v := range vals {
		c, err := convert(b.cols[k].Type, v)
		if err != nil {
			panic(fmt.Sprintf("resultset: column %q (%v): %v", b.cols[k].Name, b.cols[k].Type, err))
		}
		conv[k] = c
	}
	for k, v := range conv {
		appendValue(b.rb.Field(k), v)
	}
	b.rows++
}

// Record returns the rows appended so far as one record batch and starts
// over with an empty builder. The caller must Release the batch.
func (b *Builder) Record() arrow.RecordBatch {
	b.rows = 0
	return b.rb.NewRecordBatch()
}

// Reader returns the rows appended so far as a reader of one batch and
// starts over with an empty builder. The caller must Release the reader.
func (b *Builder) Reader() array.RecordReader {
	rec := b.Record()
	defer rec.Release()
	rr, err := array.NewRecordReader(b.schema, []arrow.RecordBatch{rec})
	if err != nil {
		// The batch was built from this schema; a mismatch is impossible.
		panic(fmt.Sprintf("resultset: %v", err))
	}
	return rr
}

// convert checks v against t and returns it in the one Go type that
// appendValue expects for t (nil stays nil).
func convert(t Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch v.(type) {
	case fmt.Stringer, error:
	default:
		// Pointers (*string, *int64, ...) stand for nullable values.
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				return nil, nil
			}
			return convert(t, rv.Elem().Interface())
		}
	}
	switch t {
	case String:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case error:
			return x.Error(), nil
		case fmt.Stringer:
			return x.String(), nil
		}
	case Int64, Int32:
		var n int64
		switch x := v.(type) {
		case int:
			n = int64(x)
		case int8:
			n = int64(x)
		case int16:
			n = int64(x)
		case int32:
			n = int64(x)
		case int64:
			n = x
		case uint:
			n = int64(x)
		case uint8:
			n = int64(x)
		case uint16:
			n = int64(x)
		case uint32:
			n = int64(x)
		case uint64:
			if x > 1<<63-1 {
				return nil, fmt.Errorf("%d overflows int64", x)
			}
			n = int64(x)
		case time.Duration:
			n = int64(x)
		default:
			return nil, fmt.Errorf("got %T, want an integer", v)
		}
		if t == Int32 {
			if n != int64(int32(n)) {
				return nil, fmt.Errorf("%d overflows int32", n)
			}
			return int32(n), nil
		}
		return n, nil
	case Float64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case time.Duration:
			return x.Seconds(), nil
		}
		if n, err := convert(Int64, v); err == nil {
			return float64(n.(int64)), nil
		}
	case Bool:
		if x, ok := v.(bool); ok {
			return x, nil
		}
	case Timestamp:
		if x, ok := v.(time.Time); ok {
			if x.IsZero() {
				return nil, nil
			}
			return x, nil
		}
	case StringList:
		if x, ok := v.([]string); ok {
			return x, nil
		}
	}
	return nil, fmt.Errorf("got %T, which does not fit", v)
}

func appendValue(fb array.Builder, v any) {
	if v == nil {
		fb.AppendNull()
		return
	}
	switch b := fb.(type) {
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Int32Builder:
		b.Append(v.(int32))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v.(time.Time).UnixMicro()))
	case *array.ListBuilder:
		b.Append(true)
		vb := b.ValueBuilder().(*array.StringBuilder)
		for _, s := range v.([]string) {
			vb.Append(s)
		}
	}
}
