package fetch

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/apsql/apsql/filetypes"
	"github.com/apsql/apsql/model"
)

// Column positions in model.NodeColumns; init checks them against the model.
const (
	colID = iota
	colName
	colKind
	colStatus
	colParents
	colParentID
	colCreatedDate
	colModifiedDate
	colContentDate
	colSize
	colMD5
	colContentType
	colExtension
	colCategory
	colWidth
	colHeight
	colDuration
	colMake
	colModel
	colApertureValue
	colFocalLength
	colExposureTime
	colISOSpeedRatings
	colFlash
	colOrientation
	colDateTimeOriginal
	colDateTimeDigitized
	colFavorite
	colHidden
	colOwnerID
	colVersion
	colSyncedAt
	colRaw
	nCols
)

var colNames = [nCols]string{
	"id", "name", "kind", "status", "parents", "parentId", "createdDate", "modifiedDate", "contentDate",
	"size", "md5", "contentType", "extension", "category", "width", "height", "duration", "make", "model",
	"apertureValue", "focalLength", "exposureTime", "isoSpeedRatings", "flash", "orientation",
	"dateTimeOriginal", "dateTimeDigitized", "favorite", "hidden", "ownerId", "version", "syncedAt", "raw",
}

// colTypes is each column's model type, filled from model.NodeColumns.
var colTypes [nCols]model.Type

var nodeSchema = func() *arrow.Schema {
	if len(model.NodeColumns) != nCols {
		panic(fmt.Sprintf("fetch: model.NodeColumns has %d columns, the decoder knows %d", len(model.NodeColumns), nCols))
	}
	fields := make([]arrow.Field, nCols)
	for i, c := range model.NodeColumns {
		if c.Name != colNames[i] {
			panic(fmt.Sprintf("fetch: model.NodeColumns[%d] is %q, the decoder expects %q", i, c.Name, colNames[i]))
		}
		colTypes[i] = c.Type
		fields[i] = arrow.Field{Name: c.Name, Type: arrowType(c.Type), Nullable: c.Name != "id"}
	}
	return arrow.NewSchema(fields, nil)
}()

// arrowType maps a model column type to its Arrow type; TIMESTAMP is
// microseconds, UTC, without a time zone (DuckDB's TIMESTAMP).
func arrowType(t model.Type) arrow.DataType {
	switch t {
	case model.Varchar:
		return arrow.BinaryTypes.String
	case model.JSON:
		return NewJSONType()
	case model.VarcharList:
		return arrow.ListOf(arrow.BinaryTypes.String)
	case model.BigInt:
		return arrow.PrimitiveTypes.Int64
	case model.Integer:
		return arrow.PrimitiveTypes.Int32
	case model.Double:
		return arrow.PrimitiveTypes.Float64
	case model.Boolean:
		return arrow.FixedWidthTypes.Boolean
	case model.Timestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond}
	}
	panic("fetch: no Arrow type for " + string(t))
}

// NodeSchema is the Arrow schema of the nodes and trash tables: the columns
// of model.NodeColumns in order. VARCHAR and JSON are strings, VARCHAR[] a
// list of strings, TIMESTAMP timestamp[us] without zone holding UTC.
func NodeSchema() *arrow.Schema { return nodeSchema }

// cell is one decoded value of the current row.
type cell struct {
	set bool
	s   []byte
	n   int64
	f   float64
	b   bool
}

// PageInfo is what a page envelope says besides its nodes.
type PageInfo struct {
	Count     int    // "count": total matches of the listing; -1 when absent
	Items     int    // elements of "data"
	Appended  int    // rows added to the decoder (Items minus those Keep dropped)
	NextToken string // "nextToken", "" when absent
}

// NodeDecoder decodes node JSON into Arrow rows with NodeSchema, one row
// per node: the modelled fields in typed columns, every other field kept in
// raw, so the node can be rebuilt from its row.
//
// raw is the node's JSON object minus the fields that went into a column:
//   - nested objects keep what has no column ("contentProperties":
//     {"version":1,"image":{"colorSpace":"sRGB",...}}); contentProperties
//     and settings disappear when nothing is left, image and video stay as
//     {} so that width/height say where they came from: the image's when
//     the node has an image object (the video's then stay in raw), else
//     the video's;
//   - a value of an unexpected type (a number where a string belongs, a
//     date that does not parse) stays in raw and the column is NULL;
//     a JSON null is a NULL column.
//
// A NodeDecoder is not safe for concurrent use; use one per goroutine.
type NodeDecoder struct {
	rb   *array.RecordBuilder
	str  [nCols]*array.StringBuilder
	ts   [nCols]*array.TimestampBuilder
	i64  [nCols]*array.Int64Builder
	i32  [nCols]*array.Int32Builder
	f64  [nCols]*array.Float64Builder
	bl   [nCols]*array.BooleanBuilder
	list *array.ListBuilder
	lval *array.StringBuilder

	row       [nCols]cell
	parents   [][]byte
	hasParent bool
	vidW      cell // video width/height, used when the image has none
	vidH      cell
	raw       []byte
	arena     []byte // unescaped strings of the row
	cats      map[string]string
	syncedAt  arrow.Timestamp
	rows      int
	// hints are the sizes of the previous batch, reserved up front for the
	// next one so that builders do not grow by doubling and copying.
	rowsHint int
	dataHint [nCols]int
	listHint int

	// Keep, when set, is asked about each node's id before its row is
	// added; false drops the node (de-duplication).
	Keep func(id []byte) bool
	// Unchanged, when set, is asked about each node's id and change key
	// before the node is decoded; true skips it (see skipUnchanged).
	Unchanged UnchangedFunc
}

// NewNodeDecoder returns a decoder whose rows carry syncedAt. mem may be
// nil: an allocator that recycles the buffers of released batches. Call
// Release when done.
func NewNodeDecoder(mem memory.Allocator, syncedAt time.Time) *NodeDecoder {
	if mem == nil {
		mem = nodeAllocator
	}
	d := &NodeDecoder{
		rb:       array.NewRecordBuilder(mem, nodeSchema),
		cats:     map[string]string{},
		syncedAt: arrow.Timestamp(syncedAt.UnixMicro()),
	}
	for i := range nCols {
		switch b := d.rb.Field(i).(type) {
		case *array.StringBuilder:
			d.str[i] = b
		case *array.ExtensionBuilder: // raw: JSONType over utf8
			d.str[i] = b.Builder.(*array.StringBuilder)
		case *array.TimestampBuilder:
			d.ts[i] = b
		case *array.Int64Builder:
			d.i64[i] = b
		case *array.Int32Builder:
			d.i32[i] = b
		case *array.Float64Builder:
			d.f64[i] = b
		case *array.BooleanBuilder:
			d.bl[i] = b
		case *array.ListBuilder:
			d.list = b
			d.lval = b.ValueBuilder().(*array.StringBuilder)
		}
	}
	return d
}

// SetSyncedAt changes the syncedAt of the rows added from now on.
func (d *NodeDecoder) SetSyncedAt(t time.Time) { d.syncedAt = arrow.Timestamp(t.UnixMicro()) }

// Len is the number of rows added since the last NewBatch.
func (d *NodeDecoder) Len() int { return d.rows }

// NewBatch returns the rows added so far as a record batch and starts a new
// one. The caller must Release the batch.
func (d *NodeDecoder) NewBatch() arrow.RecordBatch {
	d.rowsHint = d.rows
	for i, b := range d.str {
		if b != nil {
			d.dataHint[i] = b.DataLen()
		}
	}
	d.listHint = d.lval.Len()
	d.rows = 0
	return d.rb.NewRecordBatch()
}

// reserve sizes the builders of a new batch like the previous one.
func (d *NodeDecoder) reserve() {
	if d.rowsHint == 0 {
		return
	}
	d.rb.Reserve(d.rowsHint)
	for i, b := range d.str {
		if b != nil && d.dataHint[i] > 0 {
			b.ReserveData(d.dataHint[i])
		}
	}
	d.lval.Reserve(d.listHint)
}

// Release frees the builders.
func (d *NodeDecoder) Release() { d.rb.Release() }

// AppendPage decodes a listing page ({"count":n,"data":[node...],
// "nextToken":...}) and adds a row per node of data. Other envelope fields
// (aggregations, ...) are skipped.
func (d *NodeDecoder) AppendPage(body []byte) (PageInfo, error) {
	return walkPage(body, func(data []byte, i int) (int, bool, error) {
		return d.appendNodeAt(data, i)
	})
}

// AppendNode decodes one node JSON object and adds its row (unless Keep
// drops it).
func (d *NodeDecoder) AppendNode(obj []byte) error {
	i := skipWS(obj, 0)
	end, _, err := d.appendNodeAt(obj, i)
	if err != nil {
		return err
	}
	if skipWS(obj, end) != len(obj) {
		return errAt(end, "data after the node object")
	}
	return nil
}

// DecodeNodes decodes a page body into one record batch (for tests, tools
// and benchmarks; streaming uses a NodeDecoder). The caller must Release it.
func DecodeNodes(body []byte, syncedAt time.Time) (arrow.RecordBatch, PageInfo, error) {
	d := NewNodeDecoder(nil, syncedAt)
	defer d.Release()
	info, err := d.AppendPage(body)
	if err != nil {
		return nil, info, err
	}
	return d.NewBatch(), info, nil
}

// walkPage walks a page envelope, handing each element of "data" to node,
// which returns the index after it and whether it was appended.
func walkPage(body []byte, node func(data []byte, i int) (int, bool, error)) (PageInfo, error) {
	info := PageInfo{Count: -1}
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return info, errAt(i, "a page must be a JSON object")
	}
	_, err := eachMember(body, i, func(key []byte, _, _, v int) (int, error) {
		switch string(key) {
		case "count":
			end, err := skipValue(body, v)
			if err != nil {
				return 0, err
			}
			if n, ok := parseInt(body[v:end]); ok {
				info.Count = int(n)
			}
			return end, nil
		case "nextToken":
			end, err := skipValue(body, v)
			if err != nil {
				return 0, err
			}
			if body[v] == '"' {
				s, err := unescape(nil, body[v+1:end-1])
				if err != nil {
					return 0, errAt(v, "%v", err)
				}
				info.NextToken = string(s)
			}
			return end, nil
		case "data":
			if body[v] == 'n' {
				return literal(body, v, "null")
			}
			if body[v] != '[' {
				return 0, errAt(v, "data must be an array")
			}
			j := skipWS(body, v+1)
			if j < len(body) && body[j] == ']' {
				return j + 1, nil
			}
			for {
				if j >= len(body) {
					return 0, errEOF
				}
				if body[j] != '{' {
					return 0, errAt(j, "data elements must be node objects")
				}
				end, added, err := node(body, j)
				if err != nil {
					return 0, fmt.Errorf("data[%d]: %w", info.Items, err)
				}
				info.Items++
				if added {
					info.Appended++
				}
				j = skipWS(body, end)
				if j >= len(body) {
					return 0, errEOF
				}
				if body[j] == ']' {
					return j + 1, nil
				}
				if body[j] != ',' {
					return 0, errAt(j, "expected , or ] in data")
				}
				j = skipWS(body, j+1)
			}
		}
		return skipValue(body, v)
	})
	return info, err
}

// eachMember walks the object at data[i] ('{'); fn gets each member's key
// (unescaped), the span of the key token [ks, ke) and the value's start, and
// returns the index after the value. eachMember returns the index after '}'.
func eachMember(data []byte, i int, fn func(key []byte, ks, ke, v int) (int, error)) (int, error) {
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	var keyBuf [64]byte
	for {
		if i >= len(data) {
			return 0, errEOF
		}
		if data[i] != '"' {
			return 0, errAt(i, "expected a member name")
		}
		ke, esc, err := scanString(data, i)
		if err != nil {
			return 0, err
		}
		key := data[i+1 : ke-1]
		if esc {
			if key, err = unescape(keyBuf[:0], key); err != nil {
				return 0, errAt(i, "%v", err)
			}
		}
		j := skipWS(data, ke)
		if j >= len(data) || data[j] != ':' {
			return 0, errAt(j, "expected :")
		}
		v := skipWS(data, j+1)
		if v >= len(data) {
			return 0, errEOF
		}
		end, err := fn(key, i, ke, v)
		if err != nil {
			return 0, err
		}
		j = skipWS(data, end)
		if j >= len(data) {
			return 0, errEOF
		}
		switch data[j] {
		case '}':
			return j + 1, nil
		case ',':
			i = skipWS(data, j+1)
		default:
			return 0, errAt(j, "expected , or }")
		}
	}
}

// rawObj writes the members of one (possibly nested) object of raw.
type rawObj struct {
	n int // members written
}

// member copies `"key":value` verbatim into raw.
func (d *NodeDecoder) member(o *rawObj, data []byte, ks, ke, v, end int) {
	if o.n > 0 {
		d.raw = append(d.raw, ',')
	}
	o.n++
	d.raw = append(d.raw, data[ks:ke]...)
	d.raw = append(d.raw, ':')
	d.raw = append(d.raw, data[v:end]...)
}

// openNested starts `"key":{` in raw and returns the mark to roll back to.
func (d *NodeDecoder) openNested(o *rawObj, data []byte, ks, ke int) int {
	mark := len(d.raw)
	if o.n > 0 {
		d.raw = append(d.raw, ',')
	}
	d.raw = append(d.raw, data[ks:ke]...)
	d.raw = append(d.raw, ':', '{')
	return mark
}

// closeNested ends a nested object; an empty one is dropped unless keep.
func (d *NodeDecoder) closeNested(o *rawObj, mark int, inner rawObj, keep bool) {
	if inner.n == 0 && !keep {
		d.raw = d.raw[:mark]
		return
	}
	d.raw = append(d.raw, '}')
	o.n++
}

// take tries to store the value at data[v] in column col. It returns the
// index after the value and whether the column took it (false: the value
// has an unexpected type and belongs in raw).
func (d *NodeDecoder) take(c *cell, t model.Type, data []byte, v int) (int, bool, error) {
	ch := data[v]
	if ch == 'n' {
		end, err := literal(data, v, "null")
		return end, err == nil, err
	}
	switch t {
	case model.Varchar:
		if ch != '"' {
			end, err := skipValue(data, v)
			return end, false, err
		}
		end, esc, err := scanString(data, v)
		if err != nil {
			return 0, false, err
		}
		s := data[v+1 : end-1]
		if esc {
			start := len(d.arena)
			if d.arena, err = unescape(d.arena, s); err != nil {
				return 0, false, errAt(v, "%v", err)
			}
			s = d.arena[start:len(d.arena):len(d.arena)]
		}
		*c = cell{set: true, s: s}
		return end, true, nil
	case model.Timestamp:
		if ch != '"' {
			end, err := skipValue(data, v)
			return end, false, err
		}
		end, esc, err := scanString(data, v)
		if err != nil {
			return 0, false, err
		}
		if esc {
			return end, false, nil
		}
		us, ok := parseTimestamp(data[v+1 : end-1])
		if !ok {
			return end, false, nil
		}
		*c = cell{set: true, n: us}
		return end, true, nil
	case model.BigInt, model.Integer:
		end, err := skipValue(data, v)
		if err != nil || !(ch == '-' || (ch >= '0' && ch <= '9')) {
			return end, false, err
		}
		n, ok := parseInt(data[v:end])
		if !ok || (t == model.Integer && (n > 1<<31-1 || n < -1<<31)) {
			return end, false, nil
		}
		*c = cell{set: true, n: n}
		return end, true, nil
	case model.Double:
		end, err := skipValue(data, v)
		if err != nil || !(ch == '-' || (ch >= '0' && ch <= '9')) {
			return end, false, err
		}
		f, ok := parseFloat(data[v:end])
		if !ok {
			return end, false, nil
		}
		*c = cell{set: true, f: f}
		return end, true, nil
	case model.Boolean:
		if ch == 't' || ch == 'f' {
			end, err := skipValue(data, v)
			if err != nil {
				return 0, false, err
			}
			*c = cell{set: true, b: ch == 't'}
			return end, true, nil
		}
	}
	end, err := skipValue(data, v)
	return end, false, err
}

// field stores a member in col, or copies it into raw when the column does
// not take it.
func (d *NodeDecoder) field(o *rawObj, col int, data []byte, ks, ke, v int) (int, error) {
	return d.fieldCell(o, &d.row[col], colTypes[col], data, ks, ke, v)
}

func (d *NodeDecoder) fieldCell(o *rawObj, c *cell, t model.Type, data []byte, ks, ke, v int) (int, error) {
	end, ok, err := d.take(c, t, data, v)
	if err != nil {
		return 0, err
	}
	if !ok {
		d.member(o, data, ks, ke, v, end)
	}
	return end, nil
}

// appendNodeAt decodes the node object at data[i] into a row.
func (d *NodeDecoder) appendNodeAt(data []byte, i int) (int, bool, error) {
	if d.Unchanged != nil {
		if end, skip, _ := d.skipUnchanged(data, i); skip {
			return end, false, nil
		}
	}
	d.row = [nCols]cell{}
	d.vidW, d.vidH = cell{}, cell{}
	d.parents = d.parents[:0]
	d.hasParent = false
	d.raw = append(d.raw[:0], '{')
	d.arena = d.arena[:0]
	var top rawObj
	end, err := eachMember(data, i, func(key []byte, ks, ke, v int) (int, error) {
		switch string(key) {
		case "id":
			return d.field(&top, colID, data, ks, ke, v)
		case "name":
			return d.field(&top, colName, data, ks, ke, v)
		case "kind":
			return d.field(&top, colKind, data, ks, ke, v)
		case "status":
			return d.field(&top, colStatus, data, ks, ke, v)
		case "ownerId":
			return d.field(&top, colOwnerID, data, ks, ke, v)
		case "createdDate":
			return d.field(&top, colCreatedDate, data, ks, ke, v)
		case "modifiedDate":
			return d.field(&top, colModifiedDate, data, ks, ke, v)
		case "version":
			return d.field(&top, colVersion, data, ks, ke, v)
		case "parents":
			return d.parentsField(&top, data, ks, ke, v)
		case "contentProperties":
			if data[v] == '{' {
				return d.contentProperties(&top, data, ks, ke, v)
			}
		case "settings":
			if data[v] == '{' {
				mark := d.openNested(&top, data, ks, ke)
				var in rawObj
				end, err := eachMember(data, v, func(key []byte, ks, ke, v int) (int, error) {
					switch string(key) {
					case "favorite":
						return d.field(&in, colFavorite, data, ks, ke, v)
					case "hidden":
						return d.field(&in, colHidden, data, ks, ke, v)
					}
					end, err := skipValue(data, v)
					if err == nil {
						d.member(&in, data, ks, ke, v, end)
					}
					return end, err
				})
				d.closeNested(&top, mark, in, false)
				return end, err
			}
		}
		end, err := skipValue(data, v)
		if err == nil {
			d.member(&top, data, ks, ke, v, end)
		}
		return end, err
	})
	if err != nil {
		return 0, false, err
	}
	d.raw = append(d.raw, '}')
	if !d.row[colID].set {
		return 0, false, errAt(i, "node without an id")
	}
	if d.Keep != nil && !d.Keep(d.row[colID].s) {
		return end, false, nil
	}
	d.appendRow()
	return end, true, nil
}

// parentsField takes an array of strings; anything else stays in raw.
func (d *NodeDecoder) parentsField(o *rawObj, data []byte, ks, ke, v int) (int, error) {
	end, err := skipValue(data, v)
	if err != nil {
		return 0, err
	}
	if data[v] == 'n' {
		return end, nil
	}
	if data[v] != '[' {
		d.member(o, data, ks, ke, v, end)
		return end, nil
	}
	start := len(d.parents)
	j := skipWS(data, v+1)
	for j < end-1 {
		if data[j] != '"' {
			d.parents = d.parents[:start]
			d.member(o, data, ks, ke, v, end)
			return end, nil
		}
		se, esc, err := scanString(data, j)
		if err != nil {
			return 0, err
		}
		s := data[j+1 : se-1]
		if esc {
			a := len(d.arena)
			if d.arena, err = unescape(d.arena, s); err != nil {
				return 0, errAt(j, "%v", err)
			}
			s = d.arena[a:len(d.arena):len(d.arena)]
		}
		d.parents = append(d.parents, s)
		j = skipWS(data, se)
		if j < len(data) && data[j] == ',' {
			j = skipWS(data, j+1)
		}
	}
	d.hasParent = true
	return end, nil
}

// contentProperties splits contentProperties into its columns and raw. The
// image and video objects are decoded after the other members so that the
// image's width and height win over the video's.
func (d *NodeDecoder) contentProperties(o *rawObj, data []byte, ks, ke, v int) (int, error) {
	mark := d.openNested(o, data, ks, ke)
	var in rawObj
	var img, vid [3]int // ks, ke, v; ke == 0 when absent
	end, err := eachMember(data, v, func(key []byte, ks, ke, v int) (int, error) {
		switch string(key) {
		case "size":
			return d.field(&in, colSize, data, ks, ke, v)
		case "md5":
			return d.field(&in, colMD5, data, ks, ke, v)
		case "contentType":
			return d.field(&in, colContentType, data, ks, ke, v)
		case "extension":
			return d.field(&in, colExtension, data, ks, ke, v)
		case "contentDate":
			return d.field(&in, colContentDate, data, ks, ke, v)
		case "image":
			if data[v] == '{' {
				img = [3]int{ks, ke, v}
				return skipValue(data, v) // decoded after the loop
			}
		case "video":
			if data[v] == '{' {
				vid = [3]int{ks, ke, v}
				return skipValue(data, v)
			}
		}
		end, err := skipValue(data, v)
		if err == nil {
			d.member(&in, data, ks, ke, v, end)
		}
		return end, err
	})
	if err != nil {
		return 0, err
	}
	if img[1] != 0 {
		if err := d.image(&in, data, img[0], img[1], img[2]); err != nil {
			return 0, err
		}
	}
	if vid[1] != 0 {
		if err := d.video(&in, data, vid[0], vid[1], vid[2], img[1] != 0); err != nil {
			return 0, err
		}
	}
	d.closeNested(o, mark, in, false)
	return end, nil
}

func (d *NodeDecoder) image(o *rawObj, data []byte, ks, ke, v int) error {
	mark := d.openNested(o, data, ks, ke)
	var in rawObj
	_, err := eachMember(data, v, func(key []byte, ks, ke, v int) (int, error) {
		col := -1
		switch string(key) {
		case "width":
			col = colWidth
		case "height":
			col = colHeight
		case "make":
			col = colMake
		case "model":
			col = colModel
		case "apertureValue":
			col = colApertureValue
		case "focalLength":
			col = colFocalLength
		case "exposureTime":
			col = colExposureTime
		case "isoSpeedRatings":
			col = colISOSpeedRatings
		case "flash":
			col = colFlash
		case "orientation":
			col = colOrientation
		case "dateTimeOriginal":
			col = colDateTimeOriginal
		case "dateTimeDigitized":
			col = colDateTimeDigitized
		}
		if col >= 0 {
			return d.field(&in, col, data, ks, ke, v)
		}
		end, err := skipValue(data, v)
		if err == nil {
			d.member(&in, data, ks, ke, v, end)
		}
		return end, err
	})
	d.closeNested(o, mark, in, true)
	return err
}

// video decodes contentProperties.video. Its width and height fill the
// columns only when the node has no image object (hasImage): otherwise
// they stay in raw, so that a rebuild puts them back where they were.
func (d *NodeDecoder) video(o *rawObj, data []byte, ks, ke, v int, hasImage bool) error {
	mark := d.openNested(o, data, ks, ke)
	var in rawObj
	_, err := eachMember(data, v, func(key []byte, ks, ke, v int) (int, error) {
		switch string(key) {
		case "width":
			if !hasImage {
				return d.fieldCell(&in, &d.row[colWidth], model.Integer, data, ks, ke, v)
			}
		case "height":
			if !hasImage {
				return d.fieldCell(&in, &d.row[colHeight], model.Integer, data, ks, ke, v)
			}
		case "duration":
			return d.field(&in, colDuration, data, ks, ke, v)
		}
		end, err := skipValue(data, v)
		if err == nil {
			d.member(&in, data, ks, ke, v, end)
		}
		return end, err
	})
	d.closeNested(o, mark, in, true)
	return err
}

// appendRow adds the decoded row to the builders.
func (d *NodeDecoder) appendRow() {
	if d.rows == 0 {
		d.reserve()
	}
	r := &d.row
	if d.hasParent && len(d.parents) > 0 {
		r[colParentID] = cell{set: true, s: d.parents[0]}
	}
	if r[colExtension].set {
		ext := r[colExtension].s
		cat, ok := d.cats[string(ext)]
		if !ok {
			cat = filetypes.Category(string(ext))
			d.cats[string(ext)] = cat
		}
		if cat != "" {
			r[colCategory] = cell{set: true, s: []byte(cat)}
		}
	}
	r[colSyncedAt] = cell{set: true, n: int64(d.syncedAt)}
	r[colRaw] = cell{set: true, s: d.raw}
	for i := range nCols {
		c := &r[i]
		switch {
		case d.str[i] != nil:
			if c.set {
				d.str[i].BinaryBuilder.Append(c.s)
			} else {
				d.str[i].AppendNull()
			}
		case d.ts[i] != nil:
			if c.set {
				d.ts[i].Append(arrow.Timestamp(c.n))
			} else {
				d.ts[i].AppendNull()
			}
		case d.i64[i] != nil:
			if c.set {
				d.i64[i].Append(c.n)
			} else {
				d.i64[i].AppendNull()
			}
		case d.i32[i] != nil:
			if c.set {
				d.i32[i].Append(int32(c.n))
			} else {
				d.i32[i].AppendNull()
			}
		case d.f64[i] != nil:
			if c.set {
				d.f64[i].Append(c.f)
			} else {
				d.f64[i].AppendNull()
			}
		case d.bl[i] != nil:
			if c.set {
				d.bl[i].Append(c.b)
			} else {
				d.bl[i].AppendNull()
			}
		case i == colParents:
			if d.hasParent {
				d.list.Append(true)
				for _, p := range d.parents {
					d.lval.BinaryBuilder.Append(p)
				}
			} else {
				d.list.AppendNull()
			}
		}
	}
	d.rows++
}

// scanIDs walks a page and hands each node's id to fn (ids-only listings:
// tags). It does not build rows.
func scanIDs(body []byte, fn func(id []byte)) (PageInfo, error) {
	var buf []byte
	return walkPage(body, func(data []byte, i int) (int, bool, error) {
		var id []byte
		end, err := eachMember(data, i, func(key []byte, _, _, v int) (int, error) {
			end, err := skipValue(data, v)
			if err == nil && string(key) == "id" && data[v] == '"' {
				id = data[v+1 : end-1]
				if bytesContain(id, '\\') {
					buf, err = unescape(buf[:0], id)
					id = buf
				}
			}
			return end, err
		})
		if err != nil {
			return 0, false, err
		}
		if id == nil {
			return 0, false, errAt(i, "node without an id")
		}
		fn(id)
		return end, true, nil
	})
}

func bytesContain(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}
