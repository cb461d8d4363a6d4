package filterlang

import (
	"errors"
	"fmt"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// Error is a filter that does not parse or does not pass the checks. Line
// and Col (runes, from 1) point at the offending token; Offset is its byte
// offset in the filter.
type Error struct {
	Line, Col int
	Offset    int
	Msg       string
}

// Error returns "filter LINE:COL: MESSAGE".
func (e *Error) Error() string { return fmt.Sprintf("filter %d:%d: %s", e.Line, e.Col, e.Msg) }

// Caret returns two lines for a terminal: the line of src that holds the
// error, and under it a caret at the error's column. Tabs in the line are
// kept in the caret line so that the caret lines up. There is no trailing
// newline.
func (e *Error) Caret(src string) string {
	lines := strings.Split(src, "\n")
	line := ""
	if e.Line >= 1 && e.Line <= len(lines) {
		line = strings.TrimRight(lines[e.Line-1], "\r")
	}
	var pad strings.Builder
	col := 1
	for _, r := range line {
		if col >= e.Col {
			break
		}
		if r == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
		col++
	}
	for ; col < e.Col; col++ { // the error is past the end of the line (EOF)
		pad.WriteByte(' ')
	}
	return line + "\n" + pad.String() + "^"
}

func errorAt(pos lexer.Position, format string, args ...any) *Error {
	return &Error{Line: pos.Line, Col: pos.Column, Offset: pos.Offset, Msg: fmt.Sprintf(format, args...)}
}

// checkBrackets reports the first unbalanced bracket: a closing one that
// closes nothing or the wrong kind, or an opening one never closed. at is
// the byte offset where the imbalance shows: the closing bracket, or the end
// of the filter.
func checkBrackets(toks []lexer.Token) (err *Error, at int) {
	var open []lexer.Token
	for _, t := range toks {
		if t.Type != tokPunct {
			continue
		}
		switch t.Value {
		case "(", "[", "{":
			open = append(open, t)
		case ")", "]", "}":
			if len(open) == 0 {
				return errorAt(t.Pos, "unbalanced brackets: %q closes nothing", t.Value), t.Pos.Offset
			}
			o := open[len(open)-1]
			if (o.Value == "(") != (t.Value == ")") {
				want := `"]" or "}"`
				if o.Value == "(" {
					want = `")"`
				}
				return errorAt(t.Pos, "unbalanced brackets: %q cannot close %q at %d:%d; expected %s",
					t.Value, o.Value, o.Pos.Line, o.Pos.Column, want), t.Pos.Offset
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		o := open[len(open)-1]
		want := `")"`
		if o.Value != "(" {
			want = `"]" or "}"`
		}
		return errorAt(o.Pos, "unbalanced brackets: %q is never closed; add %s", o.Value, want),
			toks[len(toks)-1].Pos.Offset
	}
	return nil, 0
}

// syntaxError turns participle's error into an *Error that says what was
// expected at that point, worked out from the tokens before it.
func syntaxError(err error, toks []lexer.Token) *Error {
	var perr participle.Error
	if !errors.As(err, &perr) {
		return &Error{Line: 1, Col: 1, Msg: err.Error()}
	}
	pos := perr.Position()
	i := 0
	for i < len(toks)-1 && toks[i].Pos.Offset < pos.Offset {
		i++
	}
	t := toks[i]
	want := expectedAt(toks[:i])
	got := describe(t)
	if t.Value == ")" && i > 0 && toks[i-1].Value == "(" && toks[i-1].Type == tokPunct {
		return errorAt(toks[i-1].Pos, "empty group: put a term or a value between ( and )")
	}
	msg := fmt.Sprintf("unexpected %s, expected %s", got, want.String())
	switch {
	case t.Type == tokWord && want.operator:
		for _, op := range []string{"AND", "OR", "NOT"} {
			if strings.EqualFold(t.Value, op) {
				msg += fmt.Sprintf(" (operators are upper case: %s)", op)
				break
			} else if editDistance(strings.ToUpper(t.Value), op) == 1 {
				msg += fmt.Sprintf(" (did you mean %s?)", op)
				break
			}
		}
	case t.Type == tokWord && want.field && i+1 < len(toks) && toks[i+1].Value == ":":
		msg += " (write a field and its colon without a space between: field:value)"
	case t.Type == tokWord && want.field && !want.value:
		msg += fmt.Sprintf(" (a value needs a field, as in things:%s)", t.Value)
	case t.Type == tokPunct && t.Value == ":":
		msg += ` (quote a value that contains ':', as in "a:b")`
	case t.Type == tokStar || t.Type == tokPunct && t.Value == "*":
		msg += " (* is a prefix wildcard only directly after a bare value, as in name:sample*, or an open range bound)"
	case t.Type == tokField && want.value && !want.field:
		msg += fmt.Sprintf(" (quote or escape a value that contains ':', as in \"%s:...\")", t.Value)
	}
	return errorAt(t.Pos, "%s", msg)
}

func describe(t lexer.Token) string {
	switch t.Type {
	case lexer.EOF:
		return "end of filter"
	case tokField:
		return fmt.Sprintf("field %q", t.Value)
	case tokStar:
		return `"*"`
	}
	return fmt.Sprintf("%q", t.Value)
}

// expectation is the set of tokens the grammar accepts at a point.
type expectation struct {
	field    bool // field:
	value    bool // a value (inside a group or after a colon)
	group    bool // (
	rng      bool // [ or {
	not      bool
	operator bool   // AND, OR
	close    string // ")", "] or }" or ""
	end      bool   // end of filter
	star     bool   // * (open range bound)
	to       bool   // TO
}

func (e expectation) String() string {
	var alts []string
	if e.field {
		alts = append(alts, "field:value")
	}
	if e.value {
		alts = append(alts, "a value")
	}
	if e.star {
		alts = append(alts, "*")
	}
	if e.group {
		alts = append(alts, "(")
	}
	if e.rng {
		alts = append(alts, "[", "{")
	}
	if e.not {
		alts = append(alts, "NOT")
	}
	if e.operator {
		alts = append(alts, "AND", "OR")
	}
	if e.to {
		alts = append(alts, "TO")
	}
	if e.close != "" {
		alts = append(alts, e.close)
	}
	if e.end {
		alts = append(alts, "end of filter")
	}
	switch len(alts) {
	case 0:
		return "nothing"
	case 1:
		return alts[0]
	}
	return strings.Join(alts[:len(alts)-1], ", ") + " or " + alts[len(alts)-1]
}

// expectedAt replays the grammar's states over toks, a prefix the parser
// accepted, and returns what may come next.
func expectedAt(toks []lexer.Token) expectation {
	const (
		clause     = iota // start of a clause: NOT, (, field:
		operand           // after "field:" or inside a group: NOT (groups only), (, [, {, value
		after             // after a clause or value: AND, OR, a closing bracket, end
		low               // after [ or {: * or value
		to                // after the low bound: TO
		high              // after TO: * or value
		closeRange        // after the high bound: ] or }
	)
	type frame struct{ values bool } // an open "(": values is set inside a field's group
	var stack []frame
	state := clause
	inValues := func() bool { return len(stack) > 0 && stack[len(stack)-1].values }
	for _, t := range toks {
		switch {
		case t.Type == tokKeyword && (t.Value == "AND" || t.Value == "OR"):
			if inValues() {
				state = operand
			} else {
				state = clause
			}
		case t.Type == tokKeyword && t.Value == "NOT":
			// state stays: a clause or an operand follows
		case t.Type == tokKeyword && t.Value == "TO":
			state = high
		case t.Type == tokField:
			// the ':' follows
		case t.Type == tokPunct && t.Value == ":":
			state = operand
		case t.Type == tokPunct && t.Value == "(":
			stack = append(stack, frame{values: state == operand})
			if state == operand {
				state = operand
			} else {
				state = clause
			}
		case t.Type == tokPunct && t.Value == ")":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			state = after
		case t.Type == tokPunct && (t.Value == "[" || t.Value == "{"):
			state = low
		case t.Type == tokPunct && (t.Value == "]" || t.Value == "}"):
			state = after
		case t.Type == tokStar:
			state = after
		default: // a value or a range's *
			switch state {
			case low:
				state = to
			case high:
				state = closeRange
			default:
				state = after
			}
		}
	}
	var e expectation
	switch state {
	case clause:
		e.field, e.group, e.not = true, true, true
	case operand:
		e.value, e.group, e.rng = true, true, true
		e.not = inValues()
	case after:
		e.operator = true
		if len(stack) > 0 {
			e.close = ")"
		} else {
			e.end = true
		}
	case low, high:
		e.value, e.star = true, true
	case to:
		e.to = true
	case closeRange:
		e.close = `] or }`
	}
	return e
}
