package output

import (
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
)

// gridStyle is the look of a table: border pieces (left, fill, junction,
// right) for the top, the line under the header and the bottom.
type gridStyle struct {
	top, sep, bottom [4]string
	vert             string
	ellipsis         string
	markdown         bool // markdown separator line, no top or bottom border, no cutting, no footer
}

var (
	boxStyle = gridStyle{
		top:      [4]string{"┌", "─", "┬", "┐"},
		sep:      [4]string{"├", "─", "┼", "┤"},
		bottom:   [4]string{"└", "─", "┴", "┘"},
		vert:     "│",
		ellipsis: "…",
	}
	asciiStyle = gridStyle{
		top:      [4]string{"+", "-", "+", "+"},
		sep:      [4]string{"+", "-", "+", "+"},
		bottom:   [4]string{"+", "-", "+", "+"},
		vert:     "|",
		ellipsis: "...",
	}
	markdownStyle = gridStyle{vert: "|", markdown: true}
)

// minCutWidth is the narrowest a column is squeezed to when the table must
// fit the terminal.
const minCutWidth = 4

// grid writes the table and markdown formats. It buffers up to SampleRows
// rows (whole batches, retained, never copied) to choose column widths,
// then prints the sample and streams the rest with those widths: a value
// wider than its column is cut with an ellipsis (table), except numbers,
// and in markdown, where alignment is only cosmetic, where it overflows.
type grid struct {
	*out
	o     Options
	style *gridStyle
	null  []byte
	names []string
	right []bool // right-align: numeric column

	sample  []arrow.RecordBatch
	sampled int64
	limit   int64
	widths  []int // nil until the sample has been measured

	columns
	text, cut []byte
}

func newGrid(dst *out, o Options, null string) *grid {
	style := &boxStyle
	switch {
	case o.Format == Markdown:
		style = &markdownStyle
	case o.ASCII:
		style = &asciiStyle
	}
	limit := int64(o.SampleRows)
	if limit <= 0 {
		limit = DefaultSampleRows
	}
	return &grid{out: dst, o: o, style: style, null: []byte(null), limit: limit}
}

func (g *grid) begin(schema *arrow.Schema) error {
	for _, f := range schema.Fields() {
		g.names = append(g.names, f.Name)
		g.right = append(g.right, isNumeric(f.Type))
	}
	return nil
}

// isNumeric reports whether values of t are numbers (right-aligned).
func isNumeric(t arrow.DataType) bool {
	switch t := t.(type) {
	case arrow.ExtensionType:
		return isNumeric(t.StorageType())
	case *arrow.DictionaryType:
		return isNumeric(t.ValueType)
	case *arrow.RunEndEncodedType:
		return isNumeric(t.Encoded())
	}
	return arrow.IsInteger(t.ID()) || arrow.IsFloating(t.ID()) || arrow.IsDecimal(t.ID())
}

func (g *grid) batch(rec arrow.RecordBatch) error {
	if g.widths == nil {
		rec.Retain()
		g.sample = append(g.sample, rec)
		g.sampled += rec.NumRows()
		if g.sampled < g.limit {
			return nil
		}
		return g.fix()
	}
	return g.rows(rec)
}

// fix measures the sample, fits the widths to the terminal, and prints the
// header and the sampled rows.
func (g *grid) fix() error {
	g.widths = make([]int, len(g.names))
	for j, name := range g.names {
		w := displayWidth(g.null) // a NULL is never cut
		if g.o.Headers || g.style.markdown {
			w = max(w, displayWidth(g.cell(-1, j, []byte(name))))
		}
		g.widths[j] = w
	}
	for _, rec := range g.sample {
		g.build(cellBuilder{}, rec)
		for i := range int(rec.NumRows()) {
			for j := range g.cells {
				g.widths[j] = max(g.widths[j], displayWidth(g.cell(i, j, nil)))
			}
		}
	}
	if g.o.Width > 0 && !g.style.markdown {
		g.fit(g.o.Width)
	}
	g.border(g.style.top)
	if g.o.Headers || g.style.markdown {
		g.header()
		if g.style.markdown {
			g.markdownRule()
		} else {
			g.border(g.style.sep)
		}
	}
	sample := g.sample
	g.sample = nil
	defer releaseAll(sample)
	for _, rec := range sample {
		if err := g.rows(rec); err != nil {
			return err
		}
	}
	return g.err
}

// fit narrows the widest text columns, one column at a time, until the
// table fits in width terminal columns or every text column is down to
// minCutWidth. Numeric columns keep their width.
func (g *grid) fit(width int) {
	total := 1
	for _, w := range g.widths {
		total += w + 3
	}
	for total > width {
		widest := -1
		for j, w := range g.widths {
			if !g.right[j] && w > minCutWidth && (widest < 0 || w > g.widths[widest]) {
				widest = j
			}
		}
		if widest < 0 {
			return
		}
		g.widths[widest]--
		total--
	}
}

// cell returns the display text of row i of column j (a header when i is
// -1) in g.text: NULL text, escaped control characters.
func (g *grid) cell(i, j int, header []byte) []byte {
	var raw []byte
	switch {
	case i < 0:
		raw = header
	case g.nulls[j] && g.cols[j].IsNull(i):
		return g.null
	default:
		raw = g.cells[j](g.cut[:0], i)
		g.cut = raw
		if g.kinds[j] != kindText {
			return raw
		}
	}
	if !needsEscape(raw, g.style.markdown) {
		return raw
	}
	g.text = escapeControl(g.text[:0], raw, g.style.markdown)
	return g.text
}

func (g *grid) rows(rec arrow.RecordBatch) error {
	if len(g.names) == 0 {
		return nil
	}
	g.build(cellBuilder{}, rec)
	for i := range int(rec.NumRows()) {
		g.buf = append(g.buf, g.style.vert...)
		for j := range g.cells {
			align := alignLeft
			if g.right[j] {
				align = alignRight
			}
			g.pad(g.cell(i, j, nil), g.widths[j], align)
			g.buf = append(g.buf, g.style.vert...)
		}
		g.buf = append(g.buf, '\n')
		if err := g.maybeFlush(); err != nil {
			return err
		}
	}
	return g.flush()
}

type alignment uint8

const (
	alignLeft alignment = iota
	alignRight
	alignCenter
)

// pad appends " text " padded (or cut) to width, between the borders.
func (g *grid) pad(text []byte, width int, align alignment) {
	w := displayWidth(text)
	g.buf = append(g.buf, ' ')
	if w > width && !g.style.markdown && align != alignRight {
		// Cut text, never numbers: a cut number reads as a different one,
		// so a number wider than its column breaks the alignment instead.
		var cw int
		g.buf, cw = truncate(g.buf, text, width, g.style.ellipsis)
		g.spaces(width - cw + 1)
		return
	}
	left, right := 0, max(width-w, 0)
	switch align {
	case alignRight:
		left, right = right, 0
	case alignCenter:
		left = right / 2
		right -= left
	}
	g.spaces(left)
	g.buf = append(g.buf, text...)
	g.spaces(right + 1)
}

func (g *grid) spaces(n int) {
	for ; n > 0; n-- {
		g.buf = append(g.buf, ' ')
	}
}

func (g *grid) header() {
	g.buf = append(g.buf, g.style.vert...)
	align := alignCenter
	if g.style.markdown {
		align = alignLeft
	}
	for j, name := range g.names {
		g.pad(g.cell(-1, j, []byte(name)), g.widths[j], align)
		g.buf = append(g.buf, g.style.vert...)
	}
	g.buf = append(g.buf, '\n')
}

// border draws a horizontal line; markdown has none.
func (g *grid) border(piece [4]string) {
	if g.style.markdown || len(g.names) == 0 {
		return
	}
	g.buf = append(g.buf, piece[0]...)
	for j, w := range g.widths {
		if j > 0 {
			g.buf = append(g.buf, piece[2]...)
		}
		for range w + 2 {
			g.buf = append(g.buf, piece[1]...)
		}
	}
	g.buf = append(g.buf, piece[3]...)
	g.buf = append(g.buf, '\n')
}

// markdownRule is the |---|--:| line, right-aligning numeric columns.
func (g *grid) markdownRule() {
	g.buf = append(g.buf, '|')
	for j, w := range g.widths {
		for range w + 1 {
			g.buf = append(g.buf, '-')
		}
		if g.right[j] {
			g.buf = append(g.buf, ':')
		} else {
			g.buf = append(g.buf, '-')
		}
		g.buf = append(g.buf, '|')
	}
	g.buf = append(g.buf, '\n')
}

func (g *grid) end(rows int64) error {
	if g.widths == nil {
		if err := g.fix(); err != nil {
			return err
		}
	}
	g.border(g.style.bottom)
	if g.o.Headers && !g.style.markdown {
		g.buf = append(g.buf, '(')
		g.buf = strconv.AppendInt(g.buf, rows, 10)
		if rows == 1 {
			g.buf = append(g.buf, " row)\n"...)
		} else {
			g.buf = append(g.buf, " rows)\n"...)
		}
	}
	return g.flush()
}

func (g *grid) abort() {
	releaseAll(g.sample)
	g.sample = nil
	g.flush()
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}
