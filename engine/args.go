package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// Args reads the arguments of one of apsql's own statements: SQL string
// literals, numbers, keywords, option lists. Methods that fail return an
// error naming what was expected and what was found.
type Args struct {
	src string
	i   int
}

// NewArgs reads the text after a statement's keywords.
func NewArgs(rest string) *Args { return &Args{src: rest} }

func (a *Args) skip() {
	for a.i < len(a.src) {
		switch c := a.src[a.i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			a.i++
		case strings.HasPrefix(a.src[a.i:], "--"):
			j := strings.IndexByte(a.src[a.i:], '\n')
			if j < 0 {
				a.i = len(a.src)
			} else {
				a.i += j
			}
		case strings.HasPrefix(a.src[a.i:], "/*"):
			j := strings.Index(a.src[a.i+2:], "*/")
			if j < 0 {
				a.i = len(a.src)
			} else {
				a.i += j + 4
			}
		default:
			return
		}
	}
}

// Done reports whether nothing but blanks and comments is left.
func (a *Args) Done() bool {
	a.skip()
	return a.i >= len(a.src)
}

// Rest returns what is left, trimmed, and consumes it.
func (a *Args) Rest() string {
	a.skip()
	r := strings.TrimSpace(a.src[a.i:])
	a.i = len(a.src)
	return r
}

// Peek returns the next word upper-cased ("" if the next token is no word).
func (a *Args) Peek() string {
	a.skip()
	j := a.i
	for j < len(a.src) && isIdent(a.src[j]) && a.src[j] < 0x80 {
		j++
	}
	return strings.ToUpper(a.src[a.i:j])
}

// PeekByte returns the next non-blank byte, or 0 at the end.
func (a *Args) PeekByte() byte {
	a.skip()
	if a.i < len(a.src) {
		return a.src[a.i]
	}
	return 0
}

// Keyword consumes the word kw (case-insensitive) if it is next.
func (a *Args) Keyword(kw string) bool {
	if a.Peek() == strings.ToUpper(kw) {
		a.i += len(kw)
		return true
	}
	return false
}

// Word consumes and returns the next word as written.
func (a *Args) Word() (string, error) {
	w := a.Peek()
	if w == "" {
		return "", a.errorf("a word")
	}
	s := a.src[a.i : a.i+len(w)]
	a.i += len(w)
	return s, nil
}

// Punct consumes the byte c if it is next.
func (a *Args) Punct(c byte) bool {
	if a.PeekByte() == c {
		a.i++
		return true
	}
	return false
}

// String consumes a single-quoted SQL string literal (a doubled quote inside
// stands for one quote) and returns its value.
func (a *Args) String() (string, error) {
	a.skip()
	if a.i >= len(a.src) || a.src[a.i] != '\'' {
		return "", a.errorf("a quoted string like 'text'")
	}
	var b strings.Builder
	for j := a.i + 1; j < len(a.src); j++ {
		if a.src[j] != '\'' {
			b.WriteByte(a.src[j])
			continue
		}
		if j+1 < len(a.src) && a.src[j+1] == '\'' {
			b.WriteByte('\'')
			j++
			continue
		}
		a.i = j + 1
		return b.String(), nil
	}
	return "", fmt.Errorf("unterminated string: add the closing quote (')")
}

// Int consumes an integer.
func (a *Args) Int() (int64, error) {
	a.skip()
	j := a.i
	if j < len(a.src) && (a.src[j] == '-' || a.src[j] == '+') {
		j++
	}
	for j < len(a.src) && a.src[j] >= '0' && a.src[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(a.src[a.i:j], 10, 64)
	if err != nil {
		return 0, a.errorf("a whole number")
	}
	a.i = j
	return n, nil
}

// Value consumes an option value: a string, a number, or a word (true,
// false, NULL, an identifier).
func (a *Args) Value() (string, error) {
	switch c := a.PeekByte(); {
	case c == '\'':
		return a.String()
	case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9':
		j := a.i + 1
		for j < len(a.src) && (a.src[j] == '.' || a.src[j] >= '0' && a.src[j] <= '9' || a.src[j] == 'e' || a.src[j] == 'E') {
			j++
		}
		v := a.src[a.i:j]
		a.i = j
		return v, nil
	default:
		return a.Word()
	}
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
	if a.i >= len(a.src) {
		return fmt.Errorf("expected %s, found the end of the statement", want)
	}
	found := a.src[a.i:]
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
