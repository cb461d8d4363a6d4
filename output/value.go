package output

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// cell appends the value of row i of one array to b. The caller has checked
// that row i is not null; nested values handle the nulls inside them.
//
// Cells are built once per record batch and column (newCell), bound to the
// concrete array type, so the per-value work is one indirect call and the
// strconv.Append* of the value: nothing is allocated per value.
type cell func(b []byte, i int) []byte

// kind classifies a column for layout: numbers are right-aligned in tables,
// plain values never need CSV quoting.
type kind uint8

const (
	kindText   kind = iota // strings, blobs, nested values: may need quoting or escaping
	kindNumber             // integers, floats, decimals: right-aligned
	kindPlain              // booleans, dates, times, intervals, UUIDs: no quoting needed
)

// Extension type names recognised in Arrow field metadata or registered
// extension types. DuckDB marks JSON and (with arrow_lossless_conversion)
// UUID columns this way.
const (
	extKeyName = "ARROW:extension:name"
	extKeyMeta = "ARROW:extension:metadata"
	extJSON    = "arrow.json"
	extUUID    = "arrow.uuid"
	extOpaque  = "arrow.opaque"
	// extUHugeInt is engine.ExtUHugeInt: a Decimal128 to read unsigned.
	extUHugeInt = "apsql.uhugeint"
)

// cellBuilder builds cells in one of two dialects: text (csv, tsv, table,
// markdown, line) or JSON values (json, ndjson).
type cellBuilder struct {
	json bool
}

// extension unwraps an extension array to its storage and returns the
// extension's name, taken from the registered extension type or, when the
// type is not registered in this process, from the field metadata.
func extension(arr arrow.Array, md arrow.Metadata) (arrow.Array, string) {
	if ea, ok := arr.(array.ExtensionArray); ok {
		return ea.Storage(), ea.ExtensionType().ExtensionName()
	}
	name, ok := md.GetValue(extKeyName)
	if !ok {
		return arr, ""
	}
	if name == extOpaque {
		// DuckDB's opaque extension: {"type_name":"json","vendor_name":"DuckDB"}.
		if meta, _ := md.GetValue(extKeyMeta); strings.Contains(meta, `"type_name":"json"`) {
			return arr, extJSON
		}
	}
	return arr, name
}

// column returns the cell for arr (a column or nested child described by
// md), and the column's kind.
func (cb cellBuilder) column(arr arrow.Array, md arrow.Metadata) (cell, kind) {
	arr, ext := extension(arr, md)
	switch a := arr.(type) {
	case *array.Int8:
		return func(b []byte, i int) []byte { return appendInt(b, int64(a.Value(i))) }, kindNumber
	case *array.Int16:
		return func(b []byte, i int) []byte { return appendInt(b, int64(a.Value(i))) }, kindNumber
	case *array.Int32:
		return func(b []byte, i int) []byte { return appendInt(b, int64(a.Value(i))) }, kindNumber
	case *array.Int64:
		v := a.Int64Values()
		return func(b []byte, i int) []byte { return appendInt(b, v[i]) }, kindNumber
	case *array.Uint8:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, uint64(a.Value(i)), 10) }, kindNumber
	case *array.Uint16:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, uint64(a.Value(i)), 10) }, kindNumber
	case *array.Uint32:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, uint64(a.Value(i)), 10) }, kindNumber
	case *array.Uint64:
		return func(b []byte, i int) []byte { return strconv.AppendUint(b, a.Value(i), 10) }, kindNumber
	case *array.Float16:
		return func(b []byte, i int) []byte { return cb.float(b, float64(a.Value(i).Float32()), 32) }, kindNumber
	case *array.Float32:
		return func(b []byte, i int) []byte { return cb.float(b, float64(a.Value(i)), 32) }, kindNumber
	case *array.Float64:
		v := a.Float64Values()
		return func(b []byte, i int) []byte { return cb.float(b, v[i], 64) }, kindNumber
	case *array.Decimal32:
		scale := a.DataType().(*arrow.Decimal32Type).Scale
		return func(b []byte, i int) []byte { return appendDecimal64(b, int64(a.Value(i)), scale) }, kindNumber
	case *array.Decimal64:
		scale := a.DataType().(*arrow.Decimal64Type).Scale
		return func(b []byte, i int) []byte { return appendDecimal64(b, int64(a.Value(i)), scale) }, kindNumber
	case *array.Decimal128:
		if ext == extUHugeInt { // the 128 bits are unsigned
			return func(b []byte, i int) []byte {
				n := a.Value(i)
				u := new(big.Int).Lsh(new(big.Int).SetUint64(uint64(n.HighBits())), 64)
				return u.Or(u, new(big.Int).SetUint64(n.LowBits())).Append(b, 10)
			}, kindNumber
		}
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return func(b []byte, i int) []byte { return appendDecimal128(b, a.Value(i), scale) }, kindNumber
	case *array.Decimal256:
		scale := a.DataType().(*arrow.Decimal256Type).Scale
		return func(b []byte, i int) []byte { return appendDecimal256(b, a.Value(i), scale) }, kindNumber
	case *array.Boolean:
		return func(b []byte, i int) []byte { return strconv.AppendBool(b, a.Value(i)) }, kindPlain
	case *array.String:
		return cb.str(a.Value, ext), kindText
	case *array.LargeString:
		return cb.str(a.Value, ext), kindText
	case *array.StringView:
		return cb.str(a.Value, ext), kindText
	case *array.Binary:
		return cb.blob(a.Value), kindText
	case *array.LargeBinary:
		return cb.blob(a.Value), kindText
	case *array.BinaryView:
		return cb.blob(a.Value), kindText
	case *array.FixedSizeBinary:
		if ext == extUUID && a.DataType().(*arrow.FixedSizeBinaryType).ByteWidth == 16 {
			return cb.quoted(func(b []byte, i int) []byte { return appendUUID(b, a.Value(i)) }), kindPlain
		}
		return cb.blob(a.Value), kindText
	case *array.Date32:
		return cb.quoted(func(b []byte, i int) []byte { return appendDate32(b, int32(a.Value(i))) }), kindPlain
	case *array.Date64:
		return cb.quoted(func(b []byte, i int) []byte {
			ms := int64(a.Value(i))
			days := ms / 86400000
			if ms%86400000 < 0 {
				days--
			}
			return appendDate(b, days)
		}), kindPlain
	case *array.Time32:
		unit := unitNanos[a.DataType().(*arrow.Time32Type).Unit]
		return cb.quoted(func(b []byte, i int) []byte { return appendClock(b, int64(a.Value(i))*unit) }), kindPlain
	case *array.Time64:
		unit := unitNanos[a.DataType().(*arrow.Time64Type).Unit]
		return cb.quoted(func(b []byte, i int) []byte { return appendClock(b, int64(a.Value(i))*unit) }), kindPlain
	case *array.Timestamp:
		return cb.quoted(timestampCell(a)), kindPlain
	case *array.Duration:
		unit := unitNanos[a.DataType().(*arrow.DurationType).Unit]
		return cb.quoted(func(b []byte, i int) []byte { return appendInterval(b, 0, 0, int64(a.Value(i))*unit) }), kindPlain
	case *array.MonthInterval:
		return cb.quoted(func(b []byte, i int) []byte { return appendInterval(b, int64(a.Value(i)), 0, 0) }), kindPlain
	case *array.DayTimeInterval:
		return cb.quoted(func(b []byte, i int) []byte {
			v := a.Value(i)
			return appendInterval(b, 0, int64(v.Days), int64(v.Milliseconds)*1e6)
		}), kindPlain
	case *array.MonthDayNanoInterval:
		return cb.quoted(func(b []byte, i int) []byte {
			v := a.Value(i)
			return appendInterval(b, int64(v.Months), int64(v.Days), v.Nanoseconds)
		}), kindPlain
	case *array.Null:
		return func(b []byte, _ int) []byte { return cb.null(b) }, kindPlain
	case *array.Map:
		return cb.mapCell(a), kindText
	case array.ListLike:
		return cb.listCell(a), kindText
	case *array.Struct:
		return cb.structCell(a), kindText
	case array.Union:
		return cb.unionCell(a), kindText
	case *array.Dictionary:
		dict := a.Dictionary()
		values, k := cb.column(dict, arrow.Metadata{})
		return func(b []byte, i int) []byte {
			j := a.GetValueIndex(i)
			if dict.IsNull(j) {
				return cb.null(b)
			}
			return values(b, j)
		}, k
	case *array.RunEndEncoded:
		values, k := cb.column(a.Values(), md)
		vals := a.Values()
		return func(b []byte, i int) []byte {
			j := a.GetPhysicalIndex(i)
			if vals.IsNull(j) {
				return cb.null(b)
			}
			return values(b, j)
		}, k
	}
	// A type DuckDB does not produce today: Arrow's own rendering.
	return func(b []byte, i int) []byte {
		if cb.json {
			return appendJSONString(b, arr.ValueStr(i))
		}
		return append(b, arr.ValueStr(i)...)
	}, kindText
}

// null appends the text of a NULL nested inside a value.
func (cb cellBuilder) null(b []byte) []byte {
	if cb.json {
		return append(b, "null"...)
	}
	return append(b, "NULL"...)
}

// nested returns a cell for a child array that writes nested NULLs itself.
func (cb cellBuilder) nested(arr arrow.Array, md arrow.Metadata) cell {
	c, _ := cb.column(arr, md)
	return func(b []byte, i int) []byte {
		if arr.IsNull(i) {
			return cb.null(b)
		}
		return c(b, i)
	}
}

// quoted wraps a cell whose text is a JSON string in JSON mode; the text of
// such cells never needs escaping.
func (cb cellBuilder) quoted(c cell) cell {
	if !cb.json {
		return c
	}
	return func(b []byte, i int) []byte {
		b = append(b, '"')
		b = c(b, i)
		return append(b, '"')
	}
}

func (cb cellBuilder) float(b []byte, f float64, bits int) []byte {
	if cb.json && (math.IsNaN(f) || math.IsInf(f, 0)) {
		// JSON has no NaN or infinities; a string keeps the value.
		switch {
		case math.IsNaN(f):
			return append(b, `"NaN"`...)
		case f > 0:
			return append(b, `"Infinity"`...)
		default:
			return append(b, `"-Infinity"`...)
		}
	}
	return appendFloat(b, f, bits)
}

func (cb cellBuilder) str(value func(int) string, ext string) cell {
	switch {
	case cb.json && ext == extJSON:
		// Already JSON (DuckDB checked it): embed it as is.
		return func(b []byte, i int) []byte { return append(b, value(i)...) }
	case cb.json:
		return func(b []byte, i int) []byte { return appendJSONString(b, value(i)) }
	}
	return func(b []byte, i int) []byte { return append(b, value(i)...) }
}

func (cb cellBuilder) blob(value func(int) []byte) cell {
	if cb.json {
		return func(b []byte, i int) []byte {
			b = append(b, '"')
			b = appendBlob(b, value(i), true)
			return append(b, '"')
		}
	}
	return func(b []byte, i int) []byte { return appendBlob(b, value(i), false) }
}

// listCell renders lists as [a, b] (text) or [a,b] (JSON).
func (cb cellBuilder) listCell(a array.ListLike) cell {
	var md arrow.Metadata
	if lt, ok := a.DataType().(arrow.ListLikeType); ok {
		md = lt.ElemField().Metadata
	}
	elem := cb.nested(a.ListValues(), md)
	sep := ", "
	if cb.json {
		sep = ","
	}
	return func(b []byte, i int) []byte {
		start, end := a.ValueOffsets(i)
		b = append(b, '[')
		for j := start; j < end; j++ {
			if j > start {
				b = append(b, sep...)
			}
			b = elem(b, int(j))
		}
		return append(b, ']')
	}
}

// mapCell renders maps as {k=v, k2=v2} like DuckDB (text) or as a JSON
// object whose keys are the keys' text.
func (cb cellBuilder) mapCell(a *array.Map) cell {
	mt := a.DataType().(*arrow.MapType)
	keys := cellBuilder{}.nested(a.Keys(), mt.KeyField().Metadata)
	items := cb.nested(a.Items(), mt.ItemField().Metadata)
	var scratch []byte
	return func(b []byte, i int) []byte {
		start, end := a.ValueOffsets(i)
		b = append(b, '{')
		for j := start; j < end; j++ {
			if j > start {
				if cb.json {
					b = append(b, ',')
				} else {
					b = append(b, ", "...)
				}
			}
			if cb.json {
				scratch = keys(scratch[:0], int(j))
				b = appendJSONBytes(b, scratch)
				b = append(b, ':')
			} else {
				b = keys(b, int(j))
				b = append(b, '=')
			}
			b = items(b, int(j))
		}
		return append(b, '}')
	}
}

// structCell renders structs as {'a': 1, 'b': x} like DuckDB (text) or as
// a JSON object.
func (cb cellBuilder) structCell(a *array.Struct) cell {
	st := a.DataType().(*arrow.StructType)
	n := a.NumField()
	fields := make([]cell, n)
	names := make([][]byte, n)
	for k := range n {
		f := st.Field(k)
		fields[k] = cb.nested(a.Field(k), f.Metadata)
		var name []byte
		if k > 0 {
			if cb.json {
				name = append(name, ',')
			} else {
				name = append(name, ", "...)
			}
		}
		if cb.json {
			name = appendJSONString(name, f.Name)
			name = append(name, ':')
		} else {
			name = append(name, '\'')
			name = append(name, strings.ReplaceAll(f.Name, "'", "''")...)
			name = append(name, "': "...)
		}
		names[k] = name
	}
	return func(b []byte, i int) []byte {
		b = append(b, '{')
		for k, f := range fields {
			b = append(b, names[k]...)
			b = f(b, i)
		}
		return append(b, '}')
	}
}

// unionCell renders the value of the union's active member.
func (cb cellBuilder) unionCell(a array.Union) cell {
	ut := a.DataType().(arrow.UnionType)
	children := make([]cell, a.NumFields())
	for k := range children {
		children[k] = cb.nested(a.Field(k), ut.Fields()[k].Metadata)
	}
	dense, _ := a.(*array.DenseUnion)
	return func(b []byte, i int) []byte {
		k := a.ChildID(i)
		j := i
		if dense != nil {
			j = int(dense.ValueOffset(i))
		}
		return children[k](b, j)
	}
}

// timezones caches loaded locations by Arrow timezone string: a result has
// one per column, but cells are rebuilt for every batch.
var timezones sync.Map // string -> *time.Location

func location(tz string) *time.Location {
	if l, ok := timezones.Load(tz); ok {
		return l.(*time.Location)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = parseFixedZone(tz)
	}
	timezones.Store(tz, loc)
	return loc
}

// parseFixedZone reads Arrow's fixed-offset form "+05:30" / "-08:00"; an
// unknown zone falls back to UTC.
func parseFixedZone(tz string) *time.Location {
	if len(tz) == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':' {
		h, err1 := strconv.Atoi(tz[1:3])
		m, err2 := strconv.Atoi(tz[4:6])
		if err1 == nil && err2 == nil {
			off := h*3600 + m*60
			if tz[0] == '-' {
				off = -off
			}
			return time.FixedZone(tz, off)
		}
	}
	return time.UTC
}

// timestampCell prints naive timestamps as they are and zoned ones in their
// zone with the offset appended ("2019-07-06 18:22:00+00"), as DuckDB does
// for TIMESTAMP and TIMESTAMPTZ.
func timestampCell(a *array.Timestamp) cell {
	tt := a.DataType().(*arrow.TimestampType)
	unit := unitNanos[tt.Unit]
	if tt.TimeZone == "" {
		return func(b []byte, i int) []byte { return appendTimestamp(b, int64(a.Value(i)), unit, 0) }
	}
	loc := location(tt.TimeZone)
	return func(b []byte, i int) []byte {
		v := int64(a.Value(i))
		if v == math.MaxInt64 || v == -math.MaxInt64 {
			return appendTimestamp(b, v, unit, 0)
		}
		ticks := 1e9 / unit
		sec := v / ticks
		if v%ticks < 0 {
			sec--
		}
		_, off := time.Unix(sec, 0).In(loc).Zone()
		b = appendTimestamp(b, v, unit, int64(off))
		return appendOffset(b, off)
	}
}

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// appendFloat writes the shortest text that reads back as the same float
// (no 0.30000000000000004 noise), in plain notation for everyday
// magnitudes with ".0" on whole numbers like DuckDB, in exponent notation
// for tiny and huge ones.
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	if abs := math.Abs(f); abs != 0 && (abs < 1e-5 || abs >= 1e16) {
		return strconv.AppendFloat(b, f, 'e', -1, bits)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, bits)
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, '.', '0')
}

// appendDecimal64 writes an unscaled integer with scale digits after the
// point.
func appendDecimal64(b []byte, v int64, scale int32) []byte {
	var tmp [24]byte
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u
	}
	return appendScaled(b, neg, strconv.AppendUint(tmp[:0], u, 10), scale)
}

func appendDecimal128(b []byte, n decimal128.Num, scale int32) []byte {
	hi, lo := n.HighBits(), n.LowBits()
	if (hi == 0 && lo>>63 == 0) || (hi == -1 && lo>>63 == 1) {
		return appendDecimal64(b, int64(lo), scale)
	}
	return appendBigDecimal(b, n.BigInt(), scale)
}

func appendDecimal256(b []byte, n decimal256.Num, scale int32) []byte {
	w := n.Array()
	lo := w[0]
	ext := uint64(0)
	if lo>>63 == 1 {
		ext = math.MaxUint64
	}
	if w[1] == ext && w[2] == ext && w[3] == ext {
		return appendDecimal64(b, int64(lo), scale)
	}
	return appendBigDecimal(b, n.BigInt(), scale)
}

// appendBigDecimal handles decimals beyond 64 bits (allocates; rare).
func appendBigDecimal(b []byte, v *big.Int, scale int32) []byte {
	neg := v.Sign() < 0
	digits := v.Abs(v).Append(nil, 10)
	return appendScaled(b, neg, digits, scale)
}

// appendScaled writes the decimal digits of an absolute value with the point
// placed scale digits from the right.
func appendScaled(b []byte, neg bool, digits []byte, scale int32) []byte {
	if neg {
		b = append(b, '-')
	}
	if scale <= 0 {
		b = append(b, digits...)
		for ; scale < 0; scale++ {
			b = append(b, '0')
		}
		return b
	}
	s := int(scale)
	if len(digits) <= s {
		b = append(b, '0', '.')
		for k := len(digits); k < s; k++ {
			b = append(b, '0')
		}
		return append(b, digits...)
	}
	b = append(b, digits[:len(digits)-s]...)
	b = append(b, '.')
	return append(b, digits[len(digits)-s:]...)
}

// appendDate32 writes a DATE; DuckDB's infinities print as words.
func appendDate32(b []byte, d int32) []byte {
	switch d {
	case math.MaxInt32:
		return append(b, "infinity"...)
	case -math.MaxInt32:
		return append(b, "-infinity"...)
	}
	return appendDate(b, int64(d))
}

const hexDigits = "0123456789abcdef"

// appendUUID writes 16 bytes as 8-4-4-4-12 lowercase hex.
func appendUUID(b []byte, u []byte) []byte {
	for k, c := range u {
		if k == 4 || k == 6 || k == 8 || k == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

// appendBlob writes bytes like DuckDB prints a BLOB: printable ASCII as
// is, everything else (and the backslash) as \xHH. In JSON mode the double
// quote is escaped too, so the text can sit inside a JSON string.
func appendBlob(b []byte, v []byte, json bool) []byte {
	const upper = "0123456789ABCDEF"
	for _, c := range v {
		switch {
		case c == '\\' && json:
			b = append(b, `\\x5C`...)
		case c == '\\':
			b = append(b, `\x5C`...)
		case c == '"' && json:
			b = append(b, `\"`...)
		case c >= 0x20 && c < 0x7f:
			b = append(b, c)
		case json:
			b = append(b, '\\', '\\', 'x', upper[c>>4], upper[c&15])
		default:
			b = append(b, '\\', 'x', upper[c>>4], upper[c&15])
		}
	}
	return b
}

// jsonSafe[c] is true for ASCII bytes that need no escaping in a JSON string.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; U+2028 and U+2029 are escaped so the output is also valid
// JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&15])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONBytes is appendJSONString for a byte slice.
func appendJSONBytes(b []byte, s []byte) []byte {
	return appendJSONString(b, string(s))
}
