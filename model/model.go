// Package model names the library's tables and columns: the single list that
// the fetcher (Arrow record batches) and the engine (DuckDB DDL) both follow.
package model

import "strings"

// Type is a column's logical type, spelled as DuckDB spells it.
type Type string

// Column types used by the library tables.
const (
	Varchar     Type = "VARCHAR"
	VarcharList Type = "VARCHAR[]"
	BigInt      Type = "BIGINT"
	Integer     Type = "INTEGER"
	Double      Type = "DOUBLE"
	Boolean     Type = "BOOLEAN"
	Timestamp   Type = "TIMESTAMP" // UTC, microseconds
	JSON        Type = "JSON"
)

// Column is one column of a table.
type Column struct {
	Name string
	Type Type
	// Source is the node JSON path the value comes from ("" for derived columns).
	Source string
}

// NodeColumns are the columns of the nodes and trash tables, in table order
// (SPEC §4). An Arrow record batch for these tables has exactly these fields in
// this order; raw keeps every field of the node that has no column of its own.
var NodeColumns = []Column{
	{"id", Varchar, "id"},
	{"name", Varchar, "name"},
	{"kind", Varchar, "kind"},
	{"status", Varchar, "status"},
	{"parents", VarcharList, "parents"},
	{"parentId", Varchar, ""}, // parents[0]
	{"createdDate", Timestamp, "createdDate"},
	{"modifiedDate", Timestamp, "modifiedDate"},
	{"contentDate", Timestamp, "contentProperties.contentDate"},
	{"size", BigInt, "contentProperties.size"},
	{"md5", Varchar, "contentProperties.md5"},
	{"contentType", Varchar, "contentProperties.contentType"},
	{"extension", Varchar, "contentProperties.extension"},
	{"category", Varchar, ""}, // filetypes.Category(extension)
	{"width", Integer, "contentProperties.image.width|contentProperties.video.width"},
	{"height", Integer, "contentProperties.image.height|contentProperties.video.height"},
	{"duration", Double, "contentProperties.video.duration"},
	{"make", Varchar, "contentProperties.image.make"},
	{"model", Varchar, "contentProperties.image.model"},
	{"apertureValue", Varchar, "contentProperties.image.apertureValue"},
	{"focalLength", Varchar, "contentProperties.image.focalLength"},
	{"exposureTime", Varchar, "contentProperties.image.exposureTime"},
	{"isoSpeedRatings", Varchar, "contentProperties.image.isoSpeedRatings"},
	{"flash", Varchar, "contentProperties.image.flash"},
	{"orientation", Varchar, "contentProperties.image.orientation"},
	{"dateTimeOriginal", Timestamp, "contentProperties.image.dateTimeOriginal"},
	{"dateTimeDigitized", Timestamp, "contentProperties.image.dateTimeDigitized"},
	{"favorite", Boolean, "settings.favorite"},
	{"hidden", Boolean, "settings.hidden"},
	{"ownerId", Varchar, "ownerId"},
	{"version", BigInt, "version"},
	{"syncedAt", Timestamp, ""}, // when apsql fetched the node
	{"raw", JSON, ""},           // the node's JSON minus the fields above
}

// Table is one table of the local database.
type Table struct {
	Name    string
	Columns []Column
	// Key is the primary key column list ("" for none).
	Key string
	Doc string
}

// Tables lists every table of SPEC §4, in creation order.
var Tables = []Table{
	{Name: "nodes", Columns: NodeColumns, Key: "id", Doc: "one row per photo, video or other file"},
	{Name: "trash", Columns: NodeColumns, Key: "id", Doc: "nodes in the trash"},
	{Name: "folders", Key: "id", Doc: "the folder tree", Columns: []Column{
		{"id", Varchar, "id"}, {"name", Varchar, "name"}, {"parentId", Varchar, ""},
		{"path", Varchar, ""}, {"createdDate", Timestamp, "createdDate"}, {"modifiedDate", Timestamp, "modifiedDate"},
	}},
	{Name: "aggregations", Doc: "Amazon's aggregations (things, people, locations, time, type, ...)", Columns: []Column{
		{"category", Varchar, ""}, {"value", Varchar, ""}, {"count", BigInt, ""},
		{"nodeId", Varchar, ""}, {"searchData", JSON, ""},
	}},
	{Name: "tags", Doc: "which nodes carry which things, people and locations", Columns: []Column{
		{"id", Varchar, ""}, {"category", Varchar, ""}, {"value", Varchar, ""},
	}},
	{Name: "usage", Doc: "storage usage by type", Columns: []Column{
		{"type", Varchar, ""}, {"billable_bytes", BigInt, ""}, {"billable_count", BigInt, ""},
		{"total_bytes", BigInt, ""}, {"total_count", BigInt, ""},
	}},
	{Name: "labels", Doc: "top-k predictions of every image labeled", Columns: []Column{
		{"source", Varchar, ""}, {"path", Varchar, ""}, {"id", Varchar, ""}, {"rank", Integer, ""},
		{"label", Varchar, ""}, {"synset", Varchar, ""}, {"classIndex", Integer, ""}, {"prob", Double, ""},
		{"model", Varchar, ""}, {"labeledAt", Timestamp, ""},
	}},
	{Name: "albums", Key: "id", Doc: "albums (VISUAL_COLLECTION nodes), from SYNC ALBUMS", Columns: []Column{
		{"id", Varchar, "id"}, {"name", Varchar, "name"}, {"createdDate", Timestamp, "createdDate"},
		{"modifiedDate", Timestamp, "modifiedDate"}, {"count", BigInt, ""},
		{"coverNodeId", Varchar, ""}, {"raw", JSON, ""},
	}},
	{Name: "album_members", Doc: "which nodes each album holds", Columns: []Column{
		{"albumId", Varchar, ""}, {"id", Varchar, ""},
	}},
	{Name: "people", Key: "clusterId", Doc: "people (face clusters), from SYNC PEOPLE", Columns: []Column{
		{"clusterId", Varchar, ""}, {"name", Varchar, ""}, {"count", BigInt, ""},
		{"coverNodeId", Varchar, ""}, {"raw", JSON, ""},
	}},
	{Name: "actions_log", Key: "seq", Doc: "every request outcome of every action", Columns: []Column{
		{"seq", BigInt, ""}, {"at", Timestamp, ""}, {"action", Varchar, ""}, {"target", Varchar, ""},
		{"status", Varchar, ""}, {"detail", Varchar, ""}, {"reason", Varchar, ""},
	}},
	{Name: "changes", Doc: "what each SYNC and action changed in the mirror: one row per node, folder, album, member or person added, removed or changed", Columns: []Column{
		{"sync_id", BigInt, ""}, {"at", Timestamp, ""}, {"statement", Varchar, ""}, {"in_table", Varchar, ""},
		{"id", Varchar, ""}, {"name", Varchar, ""}, {"change", Varchar, ""}, {"fields", VarcharList, ""},
		{"by_apsql", Boolean, ""}, {"album_id", Varchar, ""},
	}},
}

// Lookup returns the table with the given name (case-insensitive).
func Lookup(name string) (Table, bool) {
	for _, t := range Tables {
		if strings.EqualFold(t.Name, name) {
			return t, true
		}
	}
	return Table{}, false
}

// ColumnNames returns the names of cols in order.
func ColumnNames(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// Count is a number of things, and Size a number of bytes, in a line for
// people. Packages below output pass them as they are (engine.Session.Say);
// the renderer the program installs (output.Human) writes them out, as
// "1,234,567" and "1.2 MB", so that no domain package formats a number for
// people.
type (
	Count int64
	Size  int64
)
