// Package sqltext is apsql's one SQL tokenizer: every reader of SQL text
// (the script splitter, the command registry's keyword lookup, the
// arguments of apsql's own statements, action targets, filter inlining)
// goes through it, so that dollar-quoted strings ($$...$$, $tag$...$tag$),
// E'...' strings with backslash escapes, nested block comments, quoted
// identifiers and -- comments mean the same thing everywhere.
//
// It is a leaf package: it imports nothing but the standard library.
package sqltext

import "strings"

// Kind is the kind of a token.
type Kind uint8

// The kinds of tokens. Space and the comments are trivia: they separate
// tokens and mean nothing else.
const (
	Space        Kind = iota + 1 // blanks: ' ', \t, \n, \r, \f
	LineComment                  // -- up to the end of the line (the newline is not part of it)
	BlockComment                 // /* ... */, nested
	Word                         // an identifier or keyword: letters, digits, _ and bytes >= 0x80, not starting with a digit
	QuotedIdent                  // "identifier", "" inside stands for "
	String                       // 'text' ('' inside stands for ') or E'text' (backslash escapes too)
	DollarString                 // $$text$$ or $tag$text$tag$
	Number                       // 12, 1.5, .5, 1e-3
	Param                        // ? or $1
	Punct                        // any other single byte: ; ( ) , = ...
)

var kindNames = [...]string{"?", "space", "line comment", "block comment", "word", "quoted identifier", "string", "dollar string", "number", "parameter", "punctuation"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

// Token is one token of SQL text.
type Token struct {
	Kind Kind
	Text string // the token exactly as written
	Pos  int    // byte offset in the scanned text
	Line int    // 1-based line where the token starts
	// Unterminated is set on a string, quoted identifier, dollar string or
	// block comment that runs to the end of the text without closing.
	Unterminated bool
}

// Trivia reports whether t is a blank or a comment.
func (t Token) Trivia() bool {
	return t.Kind == Space || t.Kind == LineComment || t.Kind == BlockComment
}

// End is the byte offset just after t.
func (t Token) End() int { return t.Pos + len(t.Text) }

// IsWord reports whether t is the word w, case-insensitively.
func (t Token) IsWord(w string) bool { return t.Kind == Word && strings.EqualFold(t.Text, w) }

// IsPunct reports whether t is the punctuation byte c.
func (t Token) IsPunct(c byte) bool { return t.Kind == Punct && t.Text[0] == c }

// Scanner reads tokens one at a time; Seek lets a caller (the splitter's
// dot commands) skip text that is not SQL.
type Scanner struct {
	src  string
	i    int
	line int
}

// NewScanner returns a scanner at the start of src, on line 1.
func NewScanner(src string) *Scanner { return &Scanner{src: src, line: 1} }

// Pos is the byte offset of the next token.
func (s *Scanner) Pos() int { return s.i }

// Seek moves to byte offset pos, which must not be before Pos; the lines
// in between are counted.
func (s *Scanner) Seek(pos int) {
	s.line += strings.Count(s.src[s.i:pos], "\n")
	s.i = pos
}

// Tokenize returns every token of src; their texts concatenate to src.
func Tokenize(src string) []Token {
	s := NewScanner(src)
	out := make([]Token, 0, min(len(src)/4, 1024)+1)
	for {
		t, ok := s.Next()
		if !ok {
			return out
		}
		out = append(out, t)
	}
}

// Next returns the next token, or false at the end of the text.
func (s *Scanner) Next() (Token, bool) {
	if s.i >= len(s.src) {
		return Token{}, false
	}
	start, line := s.i, s.line
	kind, unterminated := s.scan()
	text := s.src[start:s.i]
	s.line += strings.Count(text, "\n")
	return Token{Kind: kind, Text: text, Pos: start, Line: line, Unterminated: unterminated}, true
}

func (s *Scanner) peek(n int) byte {
	if s.i+n < len(s.src) {
		return s.src[s.i+n]
	}
	return 0
}

// scan advances over one token and returns its kind.
func (s *Scanner) scan() (Kind, bool) {
	c := s.src[s.i]
	switch {
	case isSpace(c):
		for s.i < len(s.src) && isSpace(s.src[s.i]) {
			s.i++
		}
		return Space, false
	case c == '-' && s.peek(1) == '-':
		if end := strings.IndexByte(s.src[s.i:], '\n'); end >= 0 {
			s.i += end
		} else {
			s.i = len(s.src)
		}
		return LineComment, false
	case c == '/' && s.peek(1) == '*':
		return BlockComment, !s.blockComment()
	case c == '\'':
		return String, !s.quoted('\'', false)
	case c == '"':
		return QuotedIdent, !s.quoted('"', false)
	case (c == 'E' || c == 'e') && s.peek(1) == '\'' && (s.i == 0 || !isIdent(s.src[s.i-1])):
		s.i++
		return String, !s.quoted('\'', true)
	case c == '$':
		if tag, ok := s.dollarTag(); ok {
			end := strings.Index(s.src[s.i+len(tag):], tag)
			if end < 0 {
				s.i = len(s.src)
				return DollarString, true
			}
			s.i += len(tag) + end + len(tag)
			return DollarString, false
		}
		if isDigit(s.peek(1)) {
			s.i++
			for s.i < len(s.src) && isDigit(s.src[s.i]) {
				s.i++
			}
			return Param, false
		}
		s.i++
		return Punct, false
	case c == '?':
		s.i++
		return Param, false
	case isDigit(c) || c == '.' && isDigit(s.peek(1)):
		s.number()
		return Number, false
	case isIdent(c):
		for s.i < len(s.src) && isIdent(s.src[s.i]) {
			s.i++
		}
		return Word, false
	}
	s.i++
	return Punct, false
}

// blockComment skips a (possibly nested) block comment; false if unterminated.
func (s *Scanner) blockComment() bool {
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
			s.i++
		}
	}
	return false
}

// quoted skips a quoted string or identifier starting at the quote s.i; a
// doubled quote is an escaped quote, and with backslash escapes (E'...') a
// backslash escapes the next byte. False if unterminated.
func (s *Scanner) quoted(q byte, backslash bool) bool {
	s.i++
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case backslash && c == '\\':
			s.i = min(s.i+2, len(s.src))
		case c == q:
			if s.peek(1) == q {
				s.i += 2
				continue
			}
			s.i++
			return true
		default:
			s.i++
		}
	}
	return false
}

// dollarTag reports whether a dollar-quote tag ($$ or $name$) starts at s.i.
// A parameter like $1 is not a tag, nor is a $ right after a word.
func (s *Scanner) dollarTag() (string, bool) {
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
	if len(tag) > 2 && isDigit(tag[1]) {
		return "", false
	}
	return tag, true
}

func (s *Scanner) number() {
	for s.i < len(s.src) && isDigit(s.src[s.i]) {
		s.i++
	}
	if s.peek(0) == '.' {
		s.i++
		for s.i < len(s.src) && isDigit(s.src[s.i]) {
			s.i++
		}
	}
	if c := s.peek(0); c == 'e' || c == 'E' {
		j := 1
		if d := s.peek(1); d == '+' || d == '-' {
			j = 2
		}
		if isDigit(s.peek(j)) {
			s.i += j
			for s.i < len(s.src) && isDigit(s.src[s.i]) {
				s.i++
			}
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isIdent reports whether c may be part of a word.
func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// Unquote returns the value of a String, DollarString or QuotedIdent
// token: doubled quotes stand for one, E'...' strings decode backslash
// escapes (\n \t \r \b \f, and any other byte stands for itself). False
// for other kinds and for unterminated tokens.
func Unquote(t Token) (string, bool) {
	if t.Unterminated {
		return "", false
	}
	switch t.Kind {
	case QuotedIdent:
		return strings.ReplaceAll(t.Text[1:len(t.Text)-1], `""`, `"`), true
	case DollarString:
		tag := t.Text[:strings.IndexByte(t.Text[1:], '$')+2]
		return t.Text[len(tag) : len(t.Text)-len(tag)], true
	case String:
		if t.Text[0] == '\'' {
			return strings.ReplaceAll(t.Text[1:len(t.Text)-1], `''`, `'`), true
		}
		body := t.Text[2 : len(t.Text)-1]
		var b strings.Builder
		for i := 0; i < len(body); i++ {
			c := body[i]
			switch {
			case c == '\\' && i+1 < len(body):
				i++
				switch body[i] {
				case 'n':
					c = '\n'
				case 't':
					c = '\t'
				case 'r':
					c = '\r'
				case 'b':
					c = '\b'
				case 'f':
					c = '\f'
				default:
					c = body[i]
				}
			case c == '\'' && i+1 < len(body):
				i++ // '' stands for '
			}
			b.WriteByte(c)
		}
		return b.String(), true
	}
	return "", false
}
