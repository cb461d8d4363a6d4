package fetch

import (
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// JSONType is Arrow's canonical JSON extension type ("arrow.json") over
// utf8: the raw column's type in NodeSchema. DuckDB imports it as its JSON
// type as is; a plain string would be cast to JSON, which parses every
// value again (yyjson was 2% of a 1M SYNC's CPU). The decoder only writes
// raw from JSON it has scanned, so the values are valid.
//
// arrow-go has the same type in arrow/extensions, but that package pulls in
// the Parquet module's dependencies (thrift, brotli) for its variant type.
// The type is not registered: apsql never imports it back.
type JSONType struct {
	arrow.ExtensionBase
}

// NewJSONType returns the JSON extension type over utf8.
func NewJSONType() *JSONType {
	return &JSONType{ExtensionBase: arrow.ExtensionBase{Storage: arrow.BinaryTypes.String}}
}

// ExtensionName is the canonical name DuckDB recognises.
func (*JSONType) ExtensionName() string { return "arrow.json" }

// Serialize returns the type's metadata: none.
func (*JSONType) Serialize() string { return "" }

// Deserialize rebuilds the type from its storage type and metadata.
func (*JSONType) Deserialize(storage arrow.DataType, _ string) (arrow.ExtensionType, error) {
	return &JSONType{ExtensionBase: arrow.ExtensionBase{Storage: storage}}, nil
}

// ExtensionEquals reports whether other is the JSON type over the same storage.
func (t *JSONType) ExtensionEquals(other arrow.ExtensionType) bool {
	o, ok := other.(*JSONType)
	return ok && arrow.TypeEqual(t.Storage, o.Storage)
}

// ArrayType is the array type of JSONType columns.
func (*JSONType) ArrayType() reflect.Type { return reflect.TypeOf(JSONArray{}) }

// JSONArray is a column of JSONType; Storage() is its *array.String.
type JSONArray struct {
	array.ExtensionArrayBase
}

// String returns the array's values as text.
func (a *JSONArray) String() string { return a.Storage().String() }

// Value returns the JSON text of row i.
func (a *JSONArray) Value(i int) string { return a.Storage().(*array.String).Value(i) }
