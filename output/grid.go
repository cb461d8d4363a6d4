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
	gap              string // one column wide: stands for the columns left out
	elided           string // one column wide: the cells of the row that stands for the rows left out
	markdown         bool   // markdown separator line, no top or bottom border, no cutting, no footer
}

var (
	boxStyle = gridStyle{
		top:      [4]string{"┌", "─", "┬", "┐"},
		sep:      [4]string{"├", "─", "┼", "┤"},
		bottom:   [4]string{"└", "─", "┴", "┘"},
		vert:     "│",
		ellipsis: "…",
		gap:      "…",
		elided:   "⋮",
	}
	asciiStyle = gridStyle{
		top:      [4]string{"+", "-", "+", "+"},
		sep:      [4]string{"+", "-", "+", "+"},
		bottom:   [4]string{"+", "-", "+", "+"},
		vert:     "|",
		ellipsis: "...",
		gap:      ".",
		elided:   ":",
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
	// show lists the columns printed, in order; when a table is too wide
	// for the terminal, middle columns are left out and a "…" column
	// stands at position gap of show (-1: every column is shown).
	show []int
	gap  int

	// elideAt, when above 0, is the row before which a "⋮" row stands
	// for the rows left out (Options.MaxRows); shown is how many rows
	// the table then shows, printed how many it has printed.
	elideAt, shown, printed int64

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
	g.show, g.gap = make([]int, len(g.names)), -1
	for j := range g.show {
		g.show[j] = j
	}
	if g.o.Width > 0 && !g.style.markdown {
		g.choose(g.o.Width)
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

// maxFitWidth is what a text column may keep when a table must leave
// columns out to fit the terminal: the columns shown get at most this.
const maxFitWidth = 24

// selectWidth is the width text columns count with while choosing which
// columns a too-wide table shows.
const selectWidth = 12

// gapWidth is the room the "…" column takes: " … " and its border.
const gapWidth = 4

// choose leaves out middle columns when even with every text column at
// maxFitWidth the table is wider than width, as DuckDB's own shell does:
// it keeps columns from both ends, alternately, while they fit, and puts a
// "…" column where the others were.
func (g *grid) choose(width int) {
	capped := func(j int) int {
		if g.right[j] {
			return g.widths[j]
		}
		return min(g.widths[j], maxFitWidth)
	}
	total := 1
	for j := range g.widths {
		total += capped(j) + 3
	}
	if total <= width {
		return
	}
	// Columns are chosen at selectWidth, then widened to maxFitWidth and
	// narrowed again by fit: more columns, each still readable.
	sel := func(j int) int {
		if g.right[j] {
			return g.widths[j]
		}
		return min(g.widths[j], selectWidth)
	}
	var left, right []int
	total = 1 + gapWidth
	for l, r := 0, len(g.widths)-1; l <= r; {
		j := l
		if len(right) < len(left) {
			j = r
		}
		if total+sel(j)+3 > width && len(left)+len(right) > 0 {
			break
		}
		total += sel(j) + 3
		if j == l {
			left = append(left, j)
			l++
		} else {
			right = append(right, j)
			r--
		}
	}
	if len(left)+len(right) == len(g.widths) {
		return
	}
	g.show = g.show[:0]
	g.show = append(g.show, left...)
	g.gap = len(left)
	for k := len(right) - 1; k >= 0; k-- {
		g.show = append(g.show, right[k])
	}
	for _, j := range g.show {
		g.widths[j] = capped(j)
	}
}

// fit narrows the widest shown text columns, one column at a time, until
// the table fits in width terminal columns or every text column is down to
// minCutWidth. Numeric columns keep their width.
func (g *grid) fit(width int) {
	total := 1
	for _, j := range g.show {
		total += g.widths[j] + 3
	}
	if g.gap >= 0 {
		total += gapWidth
	}
	for total > width {
		widest := -1
		for _, j := range g.show {
			if w := g.widths[j]; !g.right[j] && w > minCutWidth && (widest < 0 || w > g.widths[widest]) {
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

// hidden is how many columns the table leaves out.
func (g *grid) hidden() int { return len(g.names) - len(g.show) }

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
		if g.printed == g.elideAt && g.elideAt > 0 {
			g.elidedRow()
		}
		g.printed++
		g.buf = append(g.buf, g.style.vert...)
		for k, j := range g.show {
			if k == g.gap {
				g.gapCell()
			}
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

// elidedRow is the row that stands for the rows left out: a "⋮" in the
// middle of each column.
func (g *grid) elidedRow() {
	g.buf = append(g.buf, g.style.vert...)
	for k, j := range g.show {
		if k == g.gap {
			g.gapCell()
		}
		g.pad([]byte(g.style.elided), g.widths[j], alignCenter)
		g.buf = append(g.buf, g.style.vert...)
	}
	g.buf = append(g.buf, '\n')
}

// gapCell is the "…" cell that stands for the columns left out.
func (g *grid) gapCell() {
	g.buf = append(g.buf, ' ')
	g.buf = append(g.buf, g.style.gap...)
	g.buf = append(g.buf, ' ')
	g.buf = append(g.buf, g.style.vert...)
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
	for k, j := range g.show {
		if k == g.gap {
			g.gapCell()
		}
		g.pad(g.cell(-1, j, []byte(g.names[j])), g.widths[j], align)
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
	for k, j := range g.show {
		if k > 0 {
			g.buf = append(g.buf, piece[2]...)
		}
		if k == g.gap {
			for range 3 {
				g.buf = append(g.buf, piece[1]...)
			}
			g.buf = append(g.buf, piece[2]...)
		}
		for range g.widths[j] + 2 {
			g.buf = append(g.buf, piece[1]...)
		}
	}
	g.buf = append(g.buf, piece[3]...)
	g.buf = append(g.buf, '\n')
}

// markdownRule is the |---|--:| line, right-aligning numeric columns.
func (g *grid) markdownRule() {
	g.buf = append(g.buf, '|')
	for _, j := range g.show {
		w := g.widths[j]
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
			g.buf = append(g.buf, " row"...)
		} else {
			g.buf = append(g.buf, " rows"...)
		}
		elided := g.elideAt > 0
		if elided {
			g.buf = append(g.buf, ", "...)
			g.buf = strconv.AppendInt(g.buf, g.shown, 10)
			g.buf = append(g.buf, " shown"...)
		}
		n := g.hidden()
		if n > 0 {
			g.buf = append(g.buf, ", "...)
			g.buf = strconv.AppendInt(g.buf, int64(len(g.names)), 10)
			g.buf = append(g.buf, " columns, "...)
			g.buf = strconv.AppendInt(g.buf, int64(len(g.show)), 10)
			g.buf = append(g.buf, " shown"...)
		}
		switch {
		case elided && n > 0:
			g.buf = append(g.buf, "; .maxrows -1 and .mode line show them all"...)
		case elided:
			g.buf = append(g.buf, "; .maxrows -1 shows them all"...)
		case n > 0:
			g.buf = append(g.buf, "; .mode line shows them all"...)
		}
		g.buf = append(g.buf, ")\n"...)
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
