package filterlang

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/participle/v2/lexer"
)

// scalar is a checked value, ready for SQL and the evaluator.
type scalar struct {
	str string // the comparison string: the text, lower-cased for name
	num int64  // kInt, kTimePart: the number; kDate: Unix microseconds
	b   bool   // kBool
}

// checker walks a parsed filter once: it resolves fields, validates and
// normalises values, and counts terms.
type checker struct {
	d     Dialect
	terms int
}

func (c *checker) or(o *Or) error {
	for _, a := range o.And {
		for _, n := range a.Not {
			var err error
			if n.Group != nil {
				err = c.or(n.Group)
			} else {
				err = c.term(n.Term)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *checker) term(t *Term) error {
	f, ok := fieldByName[t.Field]
	switch {
	case !ok:
		msg := fmt.Sprintf("unknown field %q", t.Field)
		if s := suggest(t.Field, c.d); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		} else {
			msg += "; " + c.d.String() + " filters accept " + strings.Join(fieldNames(c.d), ", ")
		}
		return errorAt(t.Pos, "%s", msg)
	case !c.d.allows(f) && c.d == Search:
		return errorAt(t.Pos, "%s is a node filter field (/nodes, /trash); /search does not accept it%s",
			f.name, otherDialectHint(f.name, Search))
	case !c.d.allows(f):
		return errorAt(t.Pos, "%s is a /search filter field; node filters (/nodes, /trash) do not accept it%s",
			f.name, otherDialectHint(f.name, Nodes))
	}
	t.info = f
	return c.operand(f, t.Operand)
}

// otherDialectHint names the nearest field of dialect d for a field of the other one.
func otherDialectHint(name string, d Dialect) string {
	var alt string
	switch name {
	case "type":
		alt = "contentProperties.contentType:(image* OR video*) or kind:VISUAL_COLLECTION"
	case "timeYear", "timeMonth", "timeDay":
		alt = "a range on contentProperties.contentDate"
	case "contentProperties.contentType", "kind":
		alt = "type:(PHOTOS OR VIDEOS) or type:(ALBUMS)"
	case "contentProperties.contentDate":
		alt = "timeYear, timeMonth and timeDay"
	default:
		return "; FIND accepts the fields of both dialects"
	}
	return "; use " + alt
}

func (c *checker) operand(f *field, o *Operand) error {
	switch {
	case o.Group != nil:
		for _, a := range o.Group.And {
			for _, n := range a.Not {
				if err := c.operand(f, n.Operand); err != nil {
					return err
				}
			}
		}
		return nil
	case o.Range != nil:
		if err := c.count(o.Pos); err != nil {
			return err
		}
		if !f.ranges {
			return errorAt(o.Pos, "%s does not allow ranges; ranges work on createdDate, modifiedDate, "+
				"contentProperties.contentDate and contentProperties.size", f.name)
		}
		for _, b := range []*Bound{o.Range.Low, o.Range.High} {
			if b == nil {
				continue
			}
			v, text, err := c.value(f, b.Pos, string(b.Text))
			if err != nil {
				return err
			}
			b.val, b.Text = v, Text(text)
		}
		return nil
	default:
		if err := c.count(o.Pos); err != nil {
			return err
		}
		v := o.Value
		if v.Prefix {
			if !f.prefix {
				return errorAt(v.Pos, "%s does not allow prefixes (%s*); prefixes work on name, kind, status "+
					"and contentProperties.contentType", f.name, v.Text)
			}
			if f.name == "contentProperties.contentType" && strings.Contains(string(v.Text), "/") {
				return errorAt(v.Pos, "contentProperties.contentType allows only the major type as a prefix, "+
					"as in image* or video*")
			}
			if v.Text == "" {
				return errorAt(v.Pos, "empty prefix")
			}
			v.val = scalar{str: string(v.Text)}
			if f.kind == kName {
				v.val.str = strings.ToLower(v.val.str)
			}
			return nil
		}
		val, text, err := c.value(f, v.Pos, string(v.Text))
		if err != nil {
			return err
		}
		v.val, v.Text = val, Text(text)
		return nil
	}
}

func (c *checker) count(pos lexer.Position) error {
	c.terms++
	if c.d == Nodes && c.terms > maxTerms {
		return errorAt(pos, "more than %d filter terms; node filters allow at most %d values "+
			"(split the filter, or use FIND on the local mirror)", maxTerms, maxTerms)
	}
	return nil
}

// value validates one exact value or range bound of field f and returns it
// with its canonical text.
func (c *checker) value(f *field, pos lexer.Position, text string) (scalar, string, error) {
	switch f.kind {
	case kName:
		return scalar{str: strings.ToLower(text)}, text, nil
	case kBool:
		v := text
		if c.d == Local { // FIND forgives TRUE; the service does not (API.md §3.1)
			v = strings.ToLower(text)
		}
		switch v {
		case "true":
			return scalar{b: true, str: "true"}, "true", nil
		case "false":
			return scalar{str: "false"}, "false", nil
		}
		if c.d != Local && (strings.EqualFold(text, "true") || strings.EqualFold(text, "false")) {
			return scalar{}, "", errorAt(pos, "%s takes true or false in lower case (the service accepts only those), not %q", f.name, text)
		}
		return scalar{}, "", errorAt(pos, "%s takes true or false, not %q", f.name, text)
	case kInt, kTimePart:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || strings.HasPrefix(text, "+") {
			return scalar{}, "", errorAt(pos, "%s takes a whole number, not %q", f.name, text)
		}
		if f.kind == kTimePart && (n < f.min || n > f.max) {
			return scalar{}, "", errorAt(pos, "%s takes a number from %d to %d, not %s", f.name, f.min, f.max, text)
		}
		s := strconv.FormatInt(n, 10)
		return scalar{num: n, str: s}, s, nil
	case kDate:
		t, err := parseDate(text)
		if err != nil {
			return scalar{}, "", errorAt(pos, "bad date %q for %s: %v; write it as 2014-12-31T23:59:59.000Z", text, f.name, err)
		}
		s := formatDate(t)
		return scalar{num: t.UnixMicro(), str: s}, s, nil
	case kType:
		u := strings.ToUpper(text)
		switch u {
		case "PHOTOS", "VIDEOS", "ALBUMS":
			return scalar{str: u}, u, nil
		}
		msg := fmt.Sprintf("type takes PHOTOS, VIDEOS or ALBUMS, not %q", text)
		for _, w := range []string{"PHOTOS", "VIDEOS", "ALBUMS"} {
			if editDistance(u, w) <= 2 || strings.HasPrefix(w, u) && u != "" {
				msg += fmt.Sprintf("; did you mean %s?", w)
				break
			}
		}
		return scalar{}, "", errorAt(pos, "%s", msg)
	}
	return scalar{str: text}, text, nil
}

// dateLayouts are the accepted forms: RFC 3339 with or without fractional
// seconds and offset (UTC assumed without one), or a date alone (midnight UTC).
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"}

func parseDate(s string) (time.Time, error) {
	if frac := strings.IndexByte(s, '.'); frac >= 0 {
		n := 0
		for _, r := range s[frac+1:] {
			if r < '0' || r > '9' {
				break
			}
			n++
		}
		if n > 6 {
			return time.Time{}, fmt.Errorf("more than 6 fractional digits (the library keeps microseconds)")
		}
	}
	var firstErr error
	for _, layout := range dateLayouts {
		t, err := time.Parse(layout, s)
		if err == nil {
			if t.Year() < 1 || t.UTC().Year() > 9999 {
				return time.Time{}, fmt.Errorf("year out of range")
			}
			return t.UTC(), nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if pe, ok := firstErr.(*time.ParseError); ok && pe.Message != "" {
		return time.Time{}, fmt.Errorf("%s", strings.TrimPrefix(pe.Message, ": "))
	}
	return time.Time{}, fmt.Errorf("not an ISO-8601 date")
}

// formatDate writes t as Amazon does (2006-01-02T15:04:05.000Z), with
// microseconds when it has them.
func formatDate(t time.Time) string {
	if t.Nanosecond()%int(time.Millisecond) == 0 {
		return t.Format("2006-01-02T15:04:05.000Z")
	}
	return t.Format("2006-01-02T15:04:05.000000Z")
}
