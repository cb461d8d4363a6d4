package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apsql/apsql/sqltext"
)

// Args reads the arguments of one of apsql's own statements: SQL string
// literals, numbers, keywords, option lists. It reads the tokens of the
// one SQL tokenizer (sqltext), so strings, dollar-quoted strings, quoted
// identifiers and comments mean what they mean to the splitter. Methods
// that fail return an error naming what was expected and what was found.
type Args struct {
	src  string
	toks []sqltext.Token
	k    int // the next token
	// ids is the statement's target as a fixed id set (Statement.IDs).
	ids []string
}

// IDs returns the target of node ids the statement was given instead of a
// target in its text (Statement.IDs), once: a second call returns false.
func (a *Args) IDs() ([]string, bool) {
	ids := a.ids
	a.ids = nil
	return ids, ids != nil
}

// NewArgs reads the text after a statement's keywords.
func NewArgs(rest string) *Args { return &Args{src: rest, toks: sqltext.Tokenize(rest)} }

// ArgsOf reads the tokens of st from the token k on, without scanning the
// text again.
func ArgsOf(st *sqltext.Statement, k int) *Args { return &Args{src: st.Text, toks: st.Tokens, k: k} }

func (a *Args) skip() {
	for a.k < len(a.toks) && a.toks[a.k].Trivia() {
		a.k++
	}
}

// next returns the next token that is not trivia, or false at the end.
func (a *Args) next() (sqltext.Token, bool) {
	a.skip()
	if a.k < len(a.toks) {
		return a.toks[a.k], true
	}
	return sqltext.Token{}, false
}

// pos is the byte offset of the next token (len(src) at the end).
func (a *Args) pos() int {
	if a.k < len(a.toks) {
		return a.toks[a.k].Pos
	}
	return len(a.src)
}

// Done reports whether nothing but blanks and comments is left.
func (a *Args) Done() bool {
	_, ok := a.next()
	return !ok
}

// Rest returns what is left, trimmed, and consumes it.
func (a *Args) Rest() string {
	a.skip()
	r := strings.TrimSpace(a.src[a.pos():])
	a.k = len(a.toks)
	return r
}

// Peek returns the next word upper-cased ("" if the next token is no word).
func (a *Args) Peek() string {
	if t, ok := a.next(); ok && t.Kind == sqltext.Word {
		return strings.ToUpper(t.Text)
	}
	return ""
}

// PeekByte returns the first byte of the next token, or 0 at the end.
func (a *Args) PeekByte() byte {
	if t, ok := a.next(); ok {
		return t.Text[0]
	}
	return 0
}

// Keyword consumes the word kw (case-insensitive) if it is next.
func (a *Args) Keyword(kw string) bool {
	if t, ok := a.next(); ok && t.IsWord(kw) {
		a.k++
		return true
	}
	return false
}

// Word consumes and returns the next word as written.
func (a *Args) Word() (string, error) {
	t, ok := a.next()
	if !ok || t.Kind != sqltext.Word {
		return "", a.errorf("a word")
	}
	a.k++
	return t.Text, nil
}

// Punct consumes the byte c if it is the next token.
func (a *Args) Punct(c byte) bool {
	if t, ok := a.next(); ok && t.IsPunct(c) {
		a.k++
		return true
	}
	return false
}

// String consumes a SQL string literal ('text' with doubled quotes, or
// E'text' with backslash escapes, or $$text$$) and returns its value.
func (a *Args) String() (string, error) {
	t, ok := a.next()
	if !ok || t.Kind != sqltext.String && t.Kind != sqltext.DollarString {
		return "", a.errorf("a quoted string like 'text'")
	}
	v, ok := sqltext.Unquote(t)
	if !ok {
		return "", fmt.Errorf("unterminated string: add the closing quote (')")
	}
	a.k++
	return v, nil
}

// number reads an optionally signed number whose sign is right before it:
// its text and the token after it.
func (a *Args) number() (string, int, bool) {
	t, ok := a.next()
	if !ok {
		return "", 0, false
	}
	k := a.k
	if (t.IsPunct('-') || t.IsPunct('+')) && k+1 < len(a.toks) && a.toks[k+1].Kind == sqltext.Number {
		return t.Text + a.toks[k+1].Text, k + 2, true
	}
	if t.Kind == sqltext.Number {
		return t.Text, k + 1, true
	}
	return "", 0, false
}

// Int consumes an integer.
func (a *Args) Int() (int64, error) {
	s, k, ok := a.number()
	if !ok {
		return 0, a.errorf("a whole number")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, a.errorf("a whole number")
	}
	a.k = k
	return n, nil
}

// Value consumes an option value: a string, a number, or a word (true,
// false, NULL, an identifier).
func (a *Args) Value() (string, error) {
	if t, ok := a.next(); ok && (t.Kind == sqltext.String || t.Kind == sqltext.DollarString) {
		return a.String()
	}
	if s, k, ok := a.number(); ok {
		a.k = k
		return s, nil
	}
	return a.Word()
}

// Options consumes a trailing option list "(NAME value, NAME value)" as in
// DuckDB's COPY, if one is next; names are upper-cased. A name without a
// value means true. Unknown names are an error listing the known ones.
func (a *Args) Options(known ...string) (map[string]string, error) {
	opts := map[string]string{}
	if !a.Punct('(') {
		return opts, nil
	}
	for {
		if a.Punct(')') {
			return opts, nil
		}
		name, err := a.Word()
		if err != nil {
			return nil, fmt.Errorf("option list: %w", err)
		}
		name = strings.ToUpper(name)
		ok := len(known) == 0
		for _, k := range known {
			ok = ok || k == name
		}
		if !ok {
			return nil, fmt.Errorf("unknown option %s; known options: %s", name, strings.Join(known, ", "))
		}
		if c := a.PeekByte(); c == ',' || c == ')' {
			opts[name] = "true"
		} else {
			v, err := a.Value()
			if err != nil {
				return nil, fmt.Errorf("option %s: %w", name, err)
			}
			opts[name] = v
		}
		if !a.Punct(',') && a.PeekByte() != ')' {
			return nil, a.errorf("',' or ')' in the option list")
		}
	}
}

func (a *Args) errorf(want string) error {
	a.skip()
	if a.k >= len(a.toks) {
		return fmt.Errorf("expected %s, found the end of the statement", want)
	}
	found := a.src[a.pos():]
	if len(found) > 20 {
		found = found[:20] + "..."
	}
	return fmt.Errorf("expected %s, found %q", want, found)
}

// ParseBool reads an option's boolean value.
func ParseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "on", "yes", "1":
		return true, nil
	case "false", "off", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("option %s wants true or false, not %q", name, v)
}

// PeekToken returns the next token that is not a blank or a comment,
// without consuming it; false at the end.
func (a *Args) PeekToken() (sqltext.Token, bool) { return a.next() }

// Tokens returns the tokens left, blanks and comments before the next
// token skipped.
func (a *Args) Tokens() []sqltext.Token {
	a.skip()
	return a.toks[a.k:]
}

// Cut consumes the tokens left up to Tokens()[j] and returns their text,
// trimmed, and an Args that reads on from Tokens()[j] (j = len(Tokens())
// cuts at the end).
func (a *Args) Cut(j int) (string, *Args) {
	a.skip()
	from := a.pos()
	a.k += j
	text := strings.TrimSpace(a.src[from:a.pos()])
	return text, &Args{src: a.src, toks: a.toks, k: a.k, ids: a.ids}
}

// Remaining returns what is left, trimmed, without consuming it.
func (a *Args) Remaining() string {
	a.skip()
	return strings.TrimSpace(a.src[a.pos():])
}
