package output

import (
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestAppendFloat(t *testing.T) {
	tenth := 0.1 // a variable: constant arithmetic would be exact
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{"shortest round trip", tenth + 2*tenth, "0.30000000000000004"},
		{"tenth", 0.1, "0.1"},
		{"whole", 100, "100.0"},
		{"zero", 0, "0.0"},
		{"negative", -2.5, "-2.5"},
		{"large plain", 123456789012345, "123456789012345.0"},
		{"huge", 1e20, "1e+20"},
		{"tiny", 1e-7, "1e-07"},
		{"small plain", 0.00012, "0.00012"},
		{"nan", math.NaN(), "nan"},
		{"inf", math.Inf(1), "inf"},
		{"-inf", math.Inf(-1), "-inf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendFloat(nil, tc.in, 64)); got != tc.want {
				t.Errorf("appendFloat(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if got := string(appendFloat(nil, float64(float32(0.1)), 32)); got != "0.1" {
		t.Errorf("appendFloat(float32 0.1) = %q, want 0.1", got)
	}
}

func TestAppendDecimal(t *testing.T) {
	big, _ := decimal128.FromString("-123456789012345678901234.5678", 38, 4)
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"scale 2", appendDecimal64(nil, 123450, 2), "1234.50"},
		{"below one", appendDecimal64(nil, -5, 2), "-0.05"},
		{"scale 0", appendDecimal64(nil, 42, 0), "42"},
		{"negative scale", appendDecimal64(nil, 42, -2), "4200"},
		{"min int64", appendDecimal64(nil, math.MinInt64, 3), "-9223372036854775.808"},
		{"128 small", appendDecimal128(nil, decimal128.FromI64(-1234), 1), "-123.4"},
		{"128 beyond 64 bits", appendDecimal128(nil, big, 4), "-123456789012345678901234.5678"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got) != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestAppendTemporal(t *testing.T) {
	const us = 1000 // unitNanos[arrow.Microsecond]
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"epoch date", appendDate(nil, 0), "1970-01-01"},
		{"leap day", appendDate(nil, 19782), "2024-02-29"},
		{"before epoch", appendDate(nil, -1), "1969-12-31"},
		{"BC", appendDate(nil, -719163), "0001-12-31 (BC)"},
		{"far future", appendDate(nil, 2932896), "9999-12-31"},
		{"date infinity", appendDate32(nil, math.MaxInt32), "infinity"},
		{"timestamp whole second", appendTimestamp(nil, 1562437320000000, us, 0), "2019-07-06 18:22:00"},
		{"timestamp fraction trimmed", appendTimestamp(nil, 1562437320500000, us, 0), "2019-07-06 18:22:00.5"},
		{"timestamp micro", appendTimestamp(nil, 1562437320000123, us, 0), "2019-07-06 18:22:00.000123"},
		{"timestamp before epoch", appendTimestamp(nil, -1, us, 0), "1969-12-31 23:59:59.999999"},
		{"timestamp seconds unit", appendTimestamp(nil, 86400, 1e9, 0), "1970-01-02 00:00:00"},
		{"timestamp nanos", appendTimestamp(nil, 1, 1, 0), "1970-01-01 00:00:00.000000001"},
		{"timestamp offset", appendTimestamp(nil, 0, us, -3600), "1969-12-31 23:00:00"},
		{"timestamp infinity", appendTimestamp(nil, math.MaxInt64, us, 0), "infinity"},
		{"timestamp -infinity", appendTimestamp(nil, -math.MaxInt64, us, 0), "-infinity"},
		{"clock", appendClock(nil, (13*3600+5*60+7)*1e9+250e6), "13:05:07.25"},
		{"offset hours", appendOffset(nil, 0), "+00"},
		{"offset minutes", appendOffset(nil, -(5*3600 + 30*60)), "-05:30"},
		{"interval zero", appendInterval(nil, 0, 0, 0), "00:00:00"},
		{"interval full", appendInterval(nil, 14, 3, (4*3600+5*60+6)*1e9+5e8), "1 year 2 months 3 days 04:05:06.5"},
		{"interval one day", appendInterval(nil, 0, 1, 0), "1 day"},
		{"interval negative time", appendInterval(nil, 0, 0, -90*60*1e9), "-01:30:00"},
		{"interval long time", appendInterval(nil, 0, 0, 100*3600*1e9), "100:00:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got) != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"a\nb\tc\r\x01", `"a\nb\tc\r\u0001"`},
		{"日本", `"日本"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{"line\u2028sep", `"line\u2028sep"`},
	}
	for _, tc := range tests {
		if got := string(appendJSONString(nil, tc.in)); got != tc.want {
			t.Errorf("appendJSONString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestAppendBlobAndUUID(t *testing.T) {
	if got, want := string(appendBlob(nil, []byte("ab\x00\xff\\"), false)), `ab\x00\xFF\x5C`; got != want {
		t.Errorf("appendBlob = %s, want %s", got, want)
	}
	if got, want := string(appendBlob(nil, []byte("a\"\x01"), true)), `a\"\\x01`; got != want {
		t.Errorf("appendBlob(json) = %s, want %s", got, want)
	}
	u := []byte{0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x90, 0xab, 0xcd, 0xef, 0x12, 0x34, 0x56, 0x78}
	if got, want := string(appendUUID(nil, u)), "12345678-1234-5678-90ab-cdef12345678"; got != want {
		t.Errorf("appendUUID = %s, want %s", got, want)
	}
}

// TestNestedAndOtherTypes renders one value of each remaining Arrow type,
// in text and in JSON.
func TestNestedAndOtherTypes(t *testing.T) {
	tests := []struct {
		name     string
		typ      arrow.DataType
		json     string
		wantText string
		wantJSON string
	}{
		{"struct", arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true}, arrow.Field{Name: "it's", Type: arrow.BinaryTypes.String, Nullable: true}),
			`[{"a": 1, "it's": "x"}]`, `{'a': 1, 'it''s': x}`, `{"a":1,"it's":"x"}`},
		{"struct with null field", arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true}),
			`[{"a": null}]`, `{'a': NULL}`, `{"a":null}`},
		{"map", arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64),
			`[[{"key": "k1", "value": 1}, {"key": "k2", "value": null}]]`, `{k1=1, k2=NULL}`, `{"k1":1,"k2":null}`},
		{"map int keys", arrow.MapOf(arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String),
			`[[{"key": 7, "value": "x"}]]`, `{7=x}`, `{"7":"x"}`},
		{"nested list", arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Int8)), `[[[1, 2], null, []]]`, `[[1, 2], NULL, []]`, `[[1,2],null,[]]`},
		{"large list", arrow.LargeListOf(arrow.BinaryTypes.String), `[["a"]]`, `[a]`, `["a"]`},
		{"fixed size list", arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float64), `[[1.5, 2]]`, `[1.5, 2.0]`, `[1.5,2.0]`},
		{"blob", arrow.BinaryTypes.Binary, `["AP9h"]`, `\x00\xFFa`, `"\\x00\\xFFa"`},
		{"large string", arrow.BinaryTypes.LargeString, `["big"]`, `big`, `"big"`},
		{"uint64", arrow.PrimitiveTypes.Uint64, `[18446744073709551615]`, `18446744073709551615`, `18446744073709551615`},
		{"time64", arrow.FixedWidthTypes.Time64us, `["12:34:56.789"]`, `12:34:56.789`, `"12:34:56.789"`},
		{"time32 seconds", arrow.FixedWidthTypes.Time32s, `["01:02:03"]`, `01:02:03`, `"01:02:03"`},
		{"timestamp utc", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, `["2019-07-06T18:22:00Z"]`, `2019-07-06 18:22:00+00`, `"2019-07-06 18:22:00+00"`},
		{"timestamp zone", &arrow.TimestampType{Unit: arrow.Second, TimeZone: "Asia/Kolkata"}, `["2019-07-06T18:22:00Z"]`, `2019-07-06 23:52:00+05:30`, `"2019-07-06 23:52:00+05:30"`},
		{"timestamp fixed offset", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "-08:00"}, `["2019-07-06T18:22:00Z"]`, `2019-07-06 10:22:00-08`, `"2019-07-06 10:22:00-08"`},
		{"month day nano", arrow.FixedWidthTypes.MonthDayNanoInterval, `[{"months": 1, "days": 2, "nanoseconds": 3000000000}]`, `1 month 2 days 00:00:03`, `"1 month 2 days 00:00:03"`},
		{"day time", arrow.FixedWidthTypes.DayTimeInterval, `[{"days": 1, "milliseconds": 1500}]`, `1 day 00:00:01.5`, `"1 day 00:00:01.5"`},
		{"month interval", arrow.FixedWidthTypes.MonthInterval, `[{"months": 25}]`, `2 years 1 month`, `"2 years 1 month"`},
		{"duration", arrow.FixedWidthTypes.Duration_ms, `[61000]`, `00:01:01`, `"00:01:01"`},
		{"float json nan", arrow.PrimitiveTypes.Float64, `["NaN"]`, `nan`, `"NaN"`},
		{"float16", arrow.FixedWidthTypes.Float16, `[1.5]`, `1.5`, `1.5`},
		{"date64", arrow.FixedWidthTypes.Date64, `["2019-07-06"]`, `2019-07-06`, `"2019-07-06"`},
		{"null type", arrow.Null, `[null]`, `NULL`, `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			arr, _, err := array.FromJSON(memory.DefaultAllocator, tc.typ, strings.NewReader(tc.json))
			if err != nil {
				t.Fatalf("FromJSON(%s): %v", tc.json, err)
			}
			defer arr.Release()
			text, _ := cellBuilder{}.column(arr, arrow.Metadata{})
			if got := string(text(nil, 0)); got != tc.wantText {
				t.Errorf("text = %s, want %s", got, tc.wantText)
			}
			js, _ := cellBuilder{json: true}.column(arr, arrow.Metadata{})
			if got := string(js(nil, 0)); got != tc.wantJSON {
				t.Errorf("json = %s, want %s", got, tc.wantJSON)
			}
		})
	}
}

func TestDictionaryAndUnion(t *testing.T) {
	mem := memory.DefaultAllocator
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	db := array.NewDictionaryBuilder(mem, dt).(*array.BinaryDictionaryBuilder)
	defer db.Release()
	db.AppendString("img")
	db.AppendString("vid")
	db.AppendString("img")
	dict := db.NewArray()
	defer dict.Release()
	c, k := cellBuilder{}.column(dict, arrow.Metadata{})
	if got := string(c(c(c(nil, 0), 1), 2)); got != "imgvidimg" {
		t.Errorf("dictionary = %s, want imgvidimg", got)
	}
	if k != kindText {
		t.Errorf("dictionary kind = %v, want text", k)
	}

	ints, _, _ := array.FromJSON(mem, arrow.PrimitiveTypes.Int64, strings.NewReader(`[1, 2]`))
	defer ints.Release()
	strs, _, _ := array.FromJSON(mem, arrow.BinaryTypes.String, strings.NewReader(`["a", "b"]`))
	defer strs.Release()
	codes, _, _ := array.FromJSON(mem, arrow.PrimitiveTypes.Int8, strings.NewReader(`[0, 1]`))
	defer codes.Release()
	u, err := array.NewSparseUnionFromArrays(codes, []arrow.Array{ints, strs})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Release()
	uc, _ := cellBuilder{json: true}.column(u, arrow.Metadata{})
	if got := string(uc(uc(nil, 0), 1)); got != `1"b"` {
		t.Errorf("union = %s, want 1\"b\"", got)
	}
}

func TestDisplayWidthAndTruncate(t *testing.T) {
	tests := []struct {
		in       string
		width    int
		want     string
		wantCols int
	}{
		{"abcdef", 4, "abc…", 4},
		{"日本語の名前", 5, "日本…", 5},
		{"日本語の名前", 4, "日…", 3},
		{"ab", 0, "", 0},
	}
	for _, tc := range tests {
		got, cols := truncate(nil, []byte(tc.in), tc.width, "…")
		if string(got) != tc.want || cols != tc.wantCols {
			t.Errorf("truncate(%q, %d) = %q, %d; want %q, %d", tc.in, tc.width, got, cols, tc.want, tc.wantCols)
		}
	}
	if got := displayWidth([]byte("e\u0301日")); got != 3 {
		t.Errorf("displayWidth(e + combining accent + 日) = %d, want 3", got)
	}
}
