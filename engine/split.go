package engine

import (
	"strings"
)

// Stmt is one statement of a script.
type Stmt struct {
	Text string // the statement without its terminating semicolon, trimmed
	Line int    // 1-based line of the script where the statement starts
	Dot  bool   // a dot command (".mode csv"): one line, no semicolon
}

// Split cuts src into statements. It understands single-quoted strings (with
// doubled quotes and E'...' backslash escapes), double-quoted identifiers, dollar quoting
// ($$...$$, $tag$...$tag$), line comments (--) and nested block comments
// (/* */), so a semicolon inside any of them does not end a statement. A line
// whose first non-blank character starts a statement with "." is a dot
// command that ends at the end of that line.
//
// The text after the last complete statement is returned as rest: empty when
// it holds only blanks and comments. A caller that reads line by line (the
// REPL) keeps rest and prepends it to the next line; a caller at the end of
// its input runs rest as a final statement.
func Split(src string) (stmts []Stmt, rest string) {
	s := splitter{src: src, line: 1}
	return s.run()
}

type splitter struct {
	src  string
	i    int
	line int
}

func (s *splitter) run() ([]Stmt, string) {
	var out []Stmt
	start, startLine := 0, 1
	content := false // the current statement has something other than blanks and comments
	for s.i < len(s.src) {
		c := s.src[s.i]
		if !content {
			switch {
			case c == '\n':
				s.line++
				s.i++
				continue
			case c == ' ' || c == '\t' || c == '\r' || c == '\f':
				s.i++
				continue
			case c == '-' && s.peek(1) == '-':
				s.lineComment()
				continue
			case c == '/' && s.peek(1) == '*':
				from := s.i
				if !s.blockComment() {
					// Unterminated: the REPL must read on (a comment over
					// several lines), so it is rest, not nothing.
					return out, s.src[from:]
				}
				continue
			case c == ';':
				// An empty statement: skip it.
				s.i++
				continue
			}
			content = true
			start, startLine = s.i, s.line
			if c == '.' {
				end := strings.IndexByte(s.src[s.i:], '\n')
				if end < 0 {
					// A dot command is complete at the end of input only
					// when the caller has no more lines; report it as rest.
					return out, s.src[start:]
				}
				out = append(out, Stmt{Text: strings.TrimSpace(s.src[start : s.i+end]), Line: startLine, Dot: true})
				s.i += end
				content = false
				continue
			}
		}
		switch {
		case c == '\n':
			s.line++
			s.i++
		case c == '\'':
			escapes := s.i > 0 && (s.src[s.i-1] == 'E' || s.src[s.i-1] == 'e') && (s.i < 2 || !isIdent(s.src[s.i-2]))
			if !s.quoted('\'', escapes) {
				return out, s.src[start:]
			}
		case c == '"':
			if !s.quoted('"', false) {
				return out, s.src[start:]
			}
		case c == '$':
			if tag, ok := s.dollarTag(); ok {
				end := strings.Index(s.src[s.i+len(tag):], tag)
				if end < 0 {
					return out, s.src[start:]
				}
				body := s.src[s.i : s.i+len(tag)+end+len(tag)]
				s.line += strings.Count(body, "\n")
				s.i += len(body)
			} else {
				s.i++
			}
		case c == '-' && s.peek(1) == '-':
			s.lineComment()
		case c == '/' && s.peek(1) == '*':
			if !s.blockComment() {
				return out, s.src[start:]
			}
		case c == ';':
			out = append(out, Stmt{Text: strings.TrimSpace(s.src[start:s.i]), Line: startLine})
			s.i++
			content = false
		default:
			s.i++
		}
	}
	if !content {
		return out, ""
	}
	return out, s.src[start:]
}

func (s *splitter) peek(n int) byte {
	if s.i+n < len(s.src) {
		return s.src[s.i+n]
	}
	return 0
}

func (s *splitter) lineComment() {
	end := strings.IndexByte(s.src[s.i:], '\n')
	if end < 0 {
		s.i = len(s.src)
		return
	}
	s.i += end // the newline is counted by the caller
}

// blockComment skips a (possibly nested) block comment; false if unterminated.
func (s *splitter) blockComment() bool {
	depth := 0
	for s.i < len(s.src) {
		switch {
		case s.src[s.i] == '/' && s.peek(1) == '*':
			depth++
			s.i += 2
		case s.src[s.i] == '*' && s.peek(1) == '/':
			depth--
			s.i += 2
			if depth == 0 {
				return true
			}
		default:
			if s.src[s.i] == '\n' {
				s.line++
			}
			s.i++
		}
	}
	return false
}

// quoted skips a quoted string or identifier; a doubled quote is an escaped
// quote, and with backslash escapes (E'...') a backslash escapes the next byte.
func (s *splitter) quoted(q byte, backslash bool) bool {
	s.i++
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case backslash && c == '\\':
			if s.peek(1) == '\n' {
				s.line++
			}
			s.i += 2
		case c == q:
			if s.peek(1) == q {
				s.i += 2
				continue
			}
			s.i++
			return true
		default:
			if c == '\n' {
				s.line++
			}
			s.i++
		}
	}
	return false
}

// dollarTag reports whether a dollar-quote tag ($$ or $name$) starts at s.i.
// A parameter like $1 is not a tag.
func (s *splitter) dollarTag() (string, bool) {
	if s.i > 0 && isIdent(s.src[s.i-1]) {
		return "", false
	}
	j := s.i + 1
	for j < len(s.src) && isIdent(s.src[j]) {
		j++
	}
	if j >= len(s.src) || s.src[j] != '$' {
		return "", false
	}
	tag := s.src[s.i : j+1]
	if len(tag) > 2 && tag[1] >= '0' && tag[1] <= '9' {
		return "", false
	}
	return tag, true
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// Keywords returns the first n words of a statement, upper-cased, skipping
// comments: Keywords("explain  /* x */ find 'a'", 2) = ["EXPLAIN", "FIND"].
// Words are runs of letters, digits and underscores.
func Keywords(stmt string, n int) []string {
	var out []string
	i := 0
	for len(out) < n && i < len(stmt) {
		c := stmt[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(stmt) && stmt[i+1] == '-':
			j := strings.IndexByte(stmt[i:], '\n')
			if j < 0 {
				return out
			}
			i += j
		case c == '/' && i+1 < len(stmt) && stmt[i+1] == '*':
			j := strings.Index(stmt[i+2:], "*/")
			if j < 0 {
				return out
			}
			i += j + 4
		case isIdent(c) && c < 0x80:
			j := i
			for j < len(stmt) && isIdent(stmt[j]) && stmt[j] < 0x80 {
				j++
			}
			out = append(out, strings.ToUpper(stmt[i:j]))
			i = j
		default:
			return out
		}
	}
	return out
}

// AfterKeywords returns stmt with its first n words (as counted by Keywords)
// and the comments and blanks around them removed.
func AfterKeywords(stmt string, n int) string {
	i, words := 0, 0
	for i < len(stmt) {
		c := stmt[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(stmt) && stmt[i+1] == '-':
			j := strings.IndexByte(stmt[i:], '\n')
			if j < 0 {
				return ""
			}
			i += j
		case c == '/' && i+1 < len(stmt) && stmt[i+1] == '*':
			j := strings.Index(stmt[i+2:], "*/")
			if j < 0 {
				return ""
			}
			i += j + 4
		case words < n && isIdent(c) && c < 0x80:
			for i < len(stmt) && isIdent(stmt[i]) && stmt[i] < 0x80 {
				i++
			}
			words++
		default:
			return strings.TrimSpace(stmt[i:])
		}
	}
	return ""
}
