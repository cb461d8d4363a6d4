package actions

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/filterlang"
)

// targetKind says how a target selects nodes.
type targetKind int

const (
	targetWhere  targetKind = iota + 1 // WHERE <predicate>
	targetSelect                       // ( SELECT ... )
	targetIDs                          // 'id', 'id', ...
	targetFilter                       // FILTER 'amazon filter'
	targetAlbum                        // ALBUM 'name': the album's members (album_members)
)

// target is a parsed target clause (SPEC §2.3).
type target struct {
	kind targetKind
	// sql is the predicate (WHERE, FILTER) or the query (SELECT); args
	// are the FILTER's bound values.
	sql  string
	args []any
	ids  []string
	// album is ALBUM's name.
	album string
	// text is the target as written, for the journal.
	text string
}

// statement is a parsed action statement: a target, then the clauses
// after it.
type statement struct {
	target target
	to     string            // TO 'dir' or TO 'remote/folder'; "" when absent
	hasTo  bool              // TO was given
	opts   map[string]string // the trailing option list, names upper-cased
}

// parseTarget reads a target from rest and returns it with the text that
// follows it. stops are the keywords that may follow a WHERE predicate at
// the top level (e.g. "TO"); known are the option names of a trailing
// option list, which a WHERE predicate must not swallow.
func parseTarget(rest string, stops []string, known []string) (target, string, error) {
	rest = strings.TrimSpace(rest)
	a := engine.NewArgs(rest)
	switch {
	case a.Keyword("WHERE"):
		body := a.Rest()
		pred, after := body, ""
		for _, kw := range stops {
			if i := findKeyword(pred, kw); i >= 0 {
				pred, after = pred[:i], pred[i:]
			}
		}
		if after == "" {
			if i := trailingOptions(pred, known); i >= 0 {
				pred, after = pred[:i], pred[i:]
			}
		}
		pred = strings.TrimSpace(pred)
		if pred == "" {
			return target{}, "", errors.New("WHERE needs a predicate over nodes, e.g. WHERE model = 'iPhone XS'")
		}
		return target{kind: targetWhere, sql: pred, text: "WHERE " + pred}, after, nil
	case a.Keyword("FILTER"):
		src, err := a.String()
		if err != nil {
			return target{}, "", fmt.Errorf("FILTER: %w", err)
		}
		f, err := filterlang.Parse(src, filterlang.Local)
		if err != nil {
			return target{}, "", fmt.Errorf("FILTER: %w", err)
		}
		where, args := f.SQL()
		return target{kind: targetFilter, sql: where, args: args, text: "FILTER " + engine.Quote(src)}, a.Rest(), nil
	case a.Keyword("ALBUM"):
		name, err := a.String()
		if err != nil {
			return target{}, "", fmt.Errorf("ALBUM: %w (ALBUM 'name' selects the album's members)", err)
		}
		return target{kind: targetAlbum, album: name, text: "ALBUM " + engine.Quote(name)}, a.Rest(), nil
	case a.PeekByte() == '(':
		end := matchParen(rest, strings.IndexByte(rest, '('))
		if end < 0 {
			return target{}, "", errors.New("unbalanced parentheses in the target: close the ( SELECT ... ) with )")
		}
		q := strings.TrimSpace(rest[strings.IndexByte(rest, '(')+1 : end])
		if w := strings.ToUpper(firstWord(q)); w != "SELECT" && w != "WITH" && w != "FROM" && w != "VALUES" && w != "TABLE" {
			return target{}, "", fmt.Errorf("a ( ... ) target must hold a query returning an id column, e.g. (SELECT id FROM nodes LIMIT 10), not %q", clip(q, 30))
		}
		return target{kind: targetSelect, sql: q, text: "(" + q + ")"}, rest[end+1:], nil
	case a.PeekByte() == '\'':
		var ids []string
		for {
			id, err := a.String()
			if err != nil {
				return target{}, "", err
			}
			id = strings.TrimSpace(id)
			if id == "" {
				return target{}, "", errors.New("an empty id in the target list: give node ids like 'HeMReF-vvJiTTkdPIeWuoP'")
			}
			ids = append(ids, id)
			if !a.Punct(',') {
				break
			}
		}
		quoted := make([]string, len(ids))
		for i, id := range ids {
			quoted[i] = engine.Quote(id)
		}
		return target{kind: targetIDs, ids: ids, text: strings.Join(quoted, ", ")}, a.Rest(), nil
	case a.Done():
		return target{}, "", errors.New("missing target: write WHERE <predicate>, (SELECT id ...), 'id', ..., FILTER 'amazon filter' or ALBUM 'name'")
	default:
		return target{}, "", fmt.Errorf("unexpected %q where a target belongs: write WHERE <predicate>, (SELECT id ...), 'id', ..., FILTER 'amazon filter' or ALBUM 'name'", clip(rest, 20))
	}
}

// parseTail reads what may follow a target: [TO 'x'] [(options)]; nothing
// else may be left.
func parseTail(st *statement, after string, allowTo bool, known []string) error {
	a := engine.NewArgs(after)
	if a.Keyword("TO") {
		if !allowTo {
			return errors.New("this statement takes no TO clause")
		}
		s, err := a.String()
		if err != nil {
			return fmt.Errorf("TO: %w", err)
		}
		st.to, st.hasTo = s, true
	}
	opts, err := a.Options(known...)
	if err != nil {
		return err
	}
	if len(known) == 0 && len(opts) > 0 {
		return errors.New("this statement takes no options")
	}
	st.opts = opts
	if !a.Done() {
		return fmt.Errorf("unexpected %q at the end of the statement", clip(a.Rest(), 20))
	}
	return nil
}

// parseStatement parses "target [TO 'x'] [(options)]".
func parseStatement(rest string, allowTo bool, known []string) (statement, error) {
	var stops []string
	if allowTo {
		stops = []string{"TO"}
	}
	t, after, err := parseTarget(rest, stops, known)
	if err != nil {
		return statement{}, err
	}
	st := statement{target: t}
	if err := parseTail(&st, after, allowTo, known); err != nil {
		return statement{}, err
	}
	return st, nil
}

// scanSQL walks s at the top level: fn is called with the byte index and
// the parenthesis depth of every byte outside string literals, quoted
// identifiers and comments; it stops when fn returns false.
func scanSQL(s string, fn func(i, depth int) bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			for j := i + 1; j < len(s); j++ {
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						j++
						continue
					}
					i = j
					break
				}
				if j == len(s)-1 {
					i = j
				}
			}
			continue
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			for i < len(s) && s[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return
			}
			i += j + 3
			continue
		case c == '(':
			if !fn(i, depth) {
				return
			}
			depth++
			continue
		case c == ')':
			depth--
		}
		if !fn(i, depth) {
			return
		}
	}
}

// findKeyword returns the index of the first top-level occurrence of the
// word kw (case-insensitive) in s, or -1.
func findKeyword(s, kw string) int {
	found := -1
	scanSQL(s, func(i, depth int) bool {
		if depth != 0 || !isWordStart(s, i) || len(s)-i < len(kw) || !strings.EqualFold(s[i:i+len(kw)], kw) {
			return true
		}
		if end := i + len(kw); end < len(s) && isIdentByte(s[end]) {
			return true
		}
		found = i
		return false
	})
	return found
}

// trailingOptions returns the index of a trailing top-level "(NAME ...)"
// group whose first word is one of the known option names, or -1.
func trailingOptions(s string, known []string) int {
	if len(known) == 0 {
		return -1
	}
	t := strings.TrimRight(s, " \t\r\n")
	if !strings.HasSuffix(t, ")") {
		return -1
	}
	open := -1
	scanSQL(t, func(i, depth int) bool {
		if t[i] == '(' && depth == 0 {
			open = i
		}
		return true
	})
	if open <= 0 || matchParen(t, open) != len(t)-1 {
		return -1
	}
	w := strings.ToUpper(firstWord(t[open+1:]))
	for _, k := range known {
		if w == k {
			return open
		}
	}
	return -1
}

// matchParen returns the index of the parenthesis closing the one at open,
// or -1.
func matchParen(s string, open int) int {
	if open < 0 {
		return -1
	}
	end := -1
	scanSQL(s[open:], func(i, depth int) bool {
		if s[open+i] == ')' && depth == 0 {
			end = open + i
			return false
		}
		return true
	})
	return end
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func isWordStart(s string, i int) bool {
	return isIdentByte(s[i]) && (i == 0 || !isIdentByte(s[i-1]))
}

func firstWord(s string) string {
	s = strings.TrimLeft(s, " \t\r\n(")
	j := 0
	for j < len(s) && isIdentByte(s[j]) {
		j++
	}
	return s[:j]
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}
