package filterlang

import (
	"strings"
	"unicode/utf8"
)

// String returns the canonical form: the same tree, one space around each
// operator, values normalised, and each value written so that the service
// and Parse read it back unchanged:
//   - a value of plain characters stays bare (PHOTOS, CAN#BC#Vancouver, HeMReF-vvJiTTkdPIeWuoP);
//   - any other exact value is double-quoted, with \ and " escaped ("my photo.jpg", "2014-12-31T23:59:59.000Z");
//   - a prefix backslash-escapes its special characters (my\ photo*), since a quoted value cannot end in a wildcard.
func (f *Filter) String() string {
	var b strings.Builder
	b.Grow(64)
	writeOr(&b, f.Root)
	return b.String()
}

func writeOr(b *strings.Builder, o *Or) {
	for i, a := range o.And {
		if i > 0 {
			b.WriteString(" OR ")
		}
		for j, n := range a.Not {
			if j > 0 {
				b.WriteString(" AND ")
			}
			if n.Negated {
				b.WriteString("NOT ")
			}
			if n.Group != nil {
				b.WriteByte('(')
				writeOr(b, n.Group)
				b.WriteByte(')')
				continue
			}
			b.WriteString(n.Term.Field)
			b.WriteByte(':')
			writeOperand(b, n.Term.Operand)
		}
	}
}

func writeOperand(b *strings.Builder, o *Operand) {
	switch {
	case o.Group != nil:
		b.WriteByte('(')
		for i, a := range o.Group.And {
			if i > 0 {
				b.WriteString(" OR ")
			}
			for j, n := range a.Not {
				if j > 0 {
					b.WriteString(" AND ")
				}
				if n.Negated {
					b.WriteString("NOT ")
				}
				writeOperand(b, n.Operand)
			}
		}
		b.WriteByte(')')
	case o.Range != nil:
		writeRange(b, o.Range)
	default:
		writeValue(b, string(o.Value.Text), o.Value.Prefix)
	}
}

func writeRange(b *strings.Builder, r *Range) {
	if r.LowInclusive {
		b.WriteByte('[')
	} else {
		b.WriteByte('{')
	}
	writeBound(b, r.Low)
	b.WriteString(" TO ")
	writeBound(b, r.High)
	if r.HighInclusive {
		b.WriteByte(']')
	} else {
		b.WriteByte('}')
	}
}

func writeBound(b *strings.Builder, bd *Bound) {
	if bd == nil {
		b.WriteByte('*')
		return
	}
	writeValue(b, string(bd.Text), false)
}

// writeValue writes one value as String describes.
func writeValue(b *strings.Builder, s string, prefix bool) {
	if prefix {
		for i, r := range s {
			if !isWordRune(r, i == 0) || r == '/' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('*')
		return
	}
	if isBare(s) {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for {
		i := strings.IndexAny(s, `"\`)
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteByte('\\')
		b.WriteByte(s[i])
		s = s[i+1:]
	}
	b.WriteString(s)
	b.WriteByte('"')
}

// isBare reports whether s can be written without quotes or escapes. A '/'
// is quoted although the lexer takes it bare: Lucene-style parsers read it
// as the start of a regular expression.
func isBare(s string) bool {
	if s == "" || isKeyword(s) {
		return false
	}
	for i, r := range s {
		if r == utf8.RuneError || !isWordRune(r, i == 0) || r == '/' {
			return false
		}
	}
	return true
}

// Tree returns the syntax tree, one node a line, indented by depth, for
// EXPLAIN FIND. Layers with a single child are left out.
func (f *Filter) Tree() string {
	var b strings.Builder
	treeOr(&b, f.Root, 0)
	return strings.TrimSuffix(b.String(), "\n")
}

func indent(b *strings.Builder, depth int) {
	for range depth {
		b.WriteString("  ")
	}
}

func treeOr(b *strings.Builder, o *Or, depth int) {
	if len(o.And) > 1 {
		indent(b, depth)
		b.WriteString("OR\n")
		depth++
	}
	for _, a := range o.And {
		d := depth
		if len(a.Not) > 1 {
			indent(b, d)
			b.WriteString("AND\n")
			d++
		}
		for _, n := range a.Not {
			dd := d
			if n.Negated {
				indent(b, dd)
				b.WriteString("NOT\n")
				dd++
			}
			if n.Group != nil {
				treeOr(b, n.Group, dd)
				continue
			}
			indent(b, dd)
			b.WriteString(n.Term.Field)
			b.WriteByte(':')
			if leaf(n.Term.Operand) != nil {
				b.WriteByte(' ')
				writeOperand(b, leaf(n.Term.Operand))
				b.WriteByte('\n')
				continue
			}
			b.WriteByte('\n')
			treeValues(b, n.Term.Operand.Group, dd+1)
		}
	}
}

// leaf returns the single value or range an operand comes down to, or nil.
func leaf(o *Operand) *Operand {
	for o.Group != nil {
		if len(o.Group.And) != 1 || len(o.Group.And[0].Not) != 1 || o.Group.And[0].Not[0].Negated {
			return nil
		}
		o = o.Group.And[0].Not[0].Operand
	}
	return o
}

func treeValues(b *strings.Builder, o *ValueOr, depth int) {
	if len(o.And) > 1 {
		indent(b, depth)
		b.WriteString("OR\n")
		depth++
	}
	for _, a := range o.And {
		d := depth
		if len(a.Not) > 1 {
			indent(b, d)
			b.WriteString("AND\n")
			d++
		}
		for _, n := range a.Not {
			dd := d
			if n.Negated {
				indent(b, dd)
				b.WriteString("NOT\n")
				dd++
			}
			if l := leaf(n.Operand); l != nil {
				indent(b, dd)
				writeOperand(b, l)
				b.WriteByte('\n')
				continue
			}
			treeValues(b, n.Operand.Group, dd)
		}
	}
}
