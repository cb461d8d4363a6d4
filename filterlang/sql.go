package filterlang

import (
	"strconv"
	"strings"
	"time"

	"github.com/apsql/apsql/sqltext"
)

// SQL returns a DuckDB predicate over the columns of the nodes table (SPEC
// §4) and the values it binds, in order, for its ? placeholders. Every value
// from the filter is a parameter, so no input can change the SQL's structure.
// Every AND and OR of several items is parenthesised, so the predicate can
// be combined with other SQL as it is. Derived and JSON-held fields:
//   - type:PHOTOS is "contentType" LIKE 'image/%', VIDEOS 'video/%', ALBUMS "kind" = 'VISUAL_COLLECTION';
//   - timeYear, timeMonth, timeDay are year(), month(), day() of "contentDate";
//   - things, people, location are "id" IN (SELECT "id" FROM "tags" WHERE "category" = ? AND "value" = ?);
//   - isRoot, labels and description are read from "raw" with DuckDB's JSON functions.
//
// NOT x becomes ((x) IS NOT TRUE), so that a term on a missing (NULL) value
// counts as false, as it does in Match.
func (f *Filter) SQL() (where string, args []any) {
	s := sqlWriter{args: make([]any, 0, f.terms+2)}
	s.b.Grow(80*f.terms + 32)
	s.or(f.Root)
	return s.b.String(), s.args
}

// InlineSQL returns SQL's predicate with each parameter written in place as
// a safely quoted literal, for EXPLAIN FIND. Strings are single-quoted with
// quotes doubled; the lexer admits no control characters that could need more.
func (f *Filter) InlineSQL() string {
	where, args := f.SQL()
	return Inline(where, args)
}

// Inline replaces each ? placeholder in where (a parameter token of the
// one SQL tokenizer, sqltext: never one inside a string, a quoted
// identifier or a comment) with the matching value of args as a DuckDB
// literal. Values may be string, int64, int or bool.
func Inline(where string, args []any) string {
	var b strings.Builder
	b.Grow(len(where) + 16*len(args))
	s := sqltext.NewScanner(where)
	for {
		t, ok := s.Next()
		if !ok {
			return b.String()
		}
		if t.Kind == sqltext.Param && t.Text == "?" && len(args) > 0 {
			writeLiteral(&b, args[0])
			args = args[1:]
			continue
		}
		b.WriteString(t.Text)
	}
}

func writeLiteral(b *strings.Builder, v any) {
	switch v := v.(type) {
	case string:
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(v, "'", "''"))
		b.WriteByte('\'')
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case int:
		b.WriteString(strconv.Itoa(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	default:
		b.WriteString("NULL")
	}
}

type sqlWriter struct {
	b    strings.Builder
	args []any
}

func (s *sqlWriter) or(o *Or) {
	if len(o.And) > 1 {
		s.b.WriteByte('(')
	}
	for i, a := range o.And {
		if i > 0 {
			s.b.WriteString(" OR ")
		}
		if len(a.Not) > 1 {
			s.b.WriteByte('(')
		}
		for j, n := range a.Not {
			if j > 0 {
				s.b.WriteString(" AND ")
			}
			if n.Negated {
				s.b.WriteString("((")
			}
			if n.Group != nil {
				s.or(n.Group)
			} else {
				s.operand(n.Term.info, n.Term.Operand)
			}
			if n.Negated {
				s.b.WriteString(") IS NOT TRUE)")
			}
		}
		if len(a.Not) > 1 {
			s.b.WriteByte(')')
		}
	}
	if len(o.And) > 1 {
		s.b.WriteByte(')')
	}
}

func (s *sqlWriter) operand(f *field, o *Operand) {
	switch {
	case o.Group != nil:
		g := o.Group
		if len(g.And) > 1 {
			s.b.WriteByte('(')
		}
		for i, a := range g.And {
			if i > 0 {
				s.b.WriteString(" OR ")
			}
			if len(a.Not) > 1 {
				s.b.WriteByte('(')
			}
			for j, n := range a.Not {
				if j > 0 {
					s.b.WriteString(" AND ")
				}
				if n.Negated {
					s.b.WriteString("((")
				}
				s.operand(f, n.Operand)
				if n.Negated {
					s.b.WriteString(") IS NOT TRUE)")
				}
			}
			if len(a.Not) > 1 {
				s.b.WriteByte(')')
			}
		}
		if len(g.And) > 1 {
			s.b.WriteByte(')')
		}
	case o.Range != nil:
		s.rng(f, o.Range)
	default:
		s.value(f, o.Value)
	}
}

func (s *sqlWriter) arg(v any) { s.args = append(s.args, v) }

func (s *sqlWriter) value(f *field, v *Value) {
	if v.Prefix {
		if f.kind == kName {
			s.b.WriteString(`lower(` + f.sql + `) LIKE ? ESCAPE '\'`)
		} else {
			s.b.WriteString(f.sql + ` LIKE ? ESCAPE '\'`)
		}
		s.arg(likePrefix(v.val.str))
		return
	}
	switch f.kind {
	case kString, kTimePart:
		s.b.WriteString(f.sql + ` = ?`)
	case kName:
		s.b.WriteString(`lower(` + f.sql + `) = ?`)
	case kBool:
		s.b.WriteString(`coalesce(` + f.sql + `, false) = ?`)
		s.arg(v.val.b)
		return
	case kInt:
		s.b.WriteString(f.sql + ` = ?`)
	case kDate:
		s.b.WriteString(f.sql + ` = CAST(? AS TIMESTAMP)`)
		s.arg(sqlTimestamp(v.val.num))
		return
	case kList:
		s.b.WriteString(`list_contains(` + f.sql + `, ?)`)
	case kFacet:
		s.b.WriteString(`"id" IN (SELECT "id" FROM "tags" WHERE "category" = ? AND "value" = ?)`)
		s.arg(f.name)
	case kType:
		switch v.val.str {
		case "ALBUMS":
			s.b.WriteString(`"kind" = ?`)
			s.arg("VISUAL_COLLECTION")
		case "VIDEOS":
			s.b.WriteString(`"contentType" LIKE ? ESCAPE '\'`)
			s.arg("video/%")
		default:
			s.b.WriteString(`"contentType" LIKE ? ESCAPE '\'`)
			s.arg("image/%")
		}
		return
	}
	if f.kind == kInt || f.kind == kTimePart {
		s.arg(v.val.num)
	} else {
		s.arg(v.val.str)
	}
}

func (s *sqlWriter) rng(f *field, r *Range) {
	if r.Low == nil && r.High == nil {
		s.b.WriteString(f.sql + ` IS NOT NULL`)
		return
	}
	if r.Low != nil && r.High != nil {
		s.b.WriteByte('(')
	}
	if r.Low != nil {
		op := ` > `
		if r.LowInclusive {
			op = ` >= `
		}
		s.bound(f, op, r.Low)
	}
	if r.Low != nil && r.High != nil {
		s.b.WriteString(" AND ")
	}
	if r.High != nil {
		op := ` < `
		if r.HighInclusive {
			op = ` <= `
		}
		s.bound(f, op, r.High)
	}
	if r.Low != nil && r.High != nil {
		s.b.WriteByte(')')
	}
}

func (s *sqlWriter) bound(f *field, op string, b *Bound) {
	s.b.WriteString(f.sql)
	s.b.WriteString(op)
	if f.kind == kDate {
		s.b.WriteString(`CAST(? AS TIMESTAMP)`)
		s.arg(sqlTimestamp(b.val.num))
		return
	}
	s.b.WriteByte('?')
	s.arg(b.val.num)
}

// likePrefix escapes LIKE's wildcards and escape character in p, with '\'
// as the escape, and appends %.
func likePrefix(p string) string {
	if !strings.ContainsAny(p, `%_\`) {
		return p + "%"
	}
	var b strings.Builder
	for _, r := range p {
		if r == '%' || r == '_' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('%')
	return b.String()
}

// sqlTimestamp writes Unix microseconds as a DuckDB TIMESTAMP string (UTC).
func sqlTimestamp(us int64) string {
	return time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05.000000")
}
