package filterlang

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2/lexer"
)

// Token types of the filter lexer. Participle reserves -1 for EOF.
const (
	tokField   lexer.TokenType = -(iota + 2) // a field name directly followed by ':' (the ':' is its own token)
	tokWord                                  // a bare value: kind, 2023, CAN#BC#Vancouver, HeMReF-vvJiTTkdPIeWuoP, 2014-12-31T23:59:59.000Z
	tokString                                // a double-quoted value, quotes and escapes included
	tokKeyword                               // AND, OR, NOT, TO (upper case only, as in Lucene)
	tokPunct                                 // : ( ) [ ] { } and a free-standing *
	tokStar                                  // a * directly after a word: the prefix wildcard
)

// specials are the characters that ../shared/API.md §3.1 says must be
// backslash-escaped inside a bare value (space and the other white space too).
// '-' and '+' may appear inside a word but not at its start (Lucene's rule),
// so that ids like HeMReF-vvJiTTkdPIeWuoP and dates need no escaping.
const specials = `+-&|!(){}[]^'"~*?:\`

// ASCII classes, looked up in asciiClass.
const (
	classWord  = 1 << iota // may appear unescaped in a bare value
	classInner             // may appear unescaped in a bare value, but not first ('-', '+')
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := rune(0); c < utf8.RuneSelf; c++ {
		switch {
		case unicode.IsSpace(c) || unicode.IsControl(c):
		case c == '-' || c == '+':
			t[c] = classInner
		case strings.IndexByte(specials, byte(c)) < 0:
			t[c] = classWord
		}
	}
	return t
}()

// isWordRune reports whether r may appear unescaped in a bare value.
func isWordRune(r rune, first bool) bool {
	if r < utf8.RuneSelf {
		c := asciiClass[r]
		return c&classWord != 0 || !first && c&classInner != 0
	}
	return !unicode.IsSpace(r) && !unicode.IsControl(r)
}

func isFieldStart(r rune) bool { return r == '_' || r < utf8.RuneSelf && unicode.IsLetter(r) }

func isFieldRune(r rune) bool {
	return r == '_' || r == '.' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// keywords are the operators. They are case-sensitive, as in Lucene: "and" is a value.
func isKeyword(s string) bool { return s == "AND" || s == "OR" || s == "NOT" || s == "TO" }

// token is a compact lexer.Token without pointers, so that a filter's
// tokens cost the garbage collector nothing: its text is src[off:end].
type token struct {
	typ       lexer.TokenType
	off, end  int32
	line, col int32
}

func (t *token) pos() lexer.Position {
	return lexer.Position{Offset: int(t.off), Line: int(t.line), Column: int(t.col)}
}

// maxLen bounds a filter, so that offsets fit the compact tokens.
const maxLen = 1 << 20

// scanner turns a filter into tokens. Columns count runes, from 1.
type scanner struct {
	src       string
	off       int
	line, col int
	toks      []token
}

// lex splits src into tokens, ending with EOF. Errors are *Error.
func lex(src string) ([]token, error) {
	if len(src) > maxLen {
		return nil, &Error{Line: 1, Col: 1, Msg: fmt.Sprintf("the filter is longer than %d bytes", maxLen)}
	}
	s := scanner{src: src, line: 1, col: 1}
	// A filter of n bytes has at most about n/2 tokens; most have far fewer.
	s.toks = make([]token, 0, 8+len(src)/4)
	for {
		s.skipSpace()
		if s.off >= len(src) {
			s.emit(lexer.EOF, s.pos())
			return s.toks, nil
		}
		if err := s.next(); err != nil {
			return nil, err
		}
	}
}

// lexerTokens converts toks to participle's tokens.
func lexerTokens(src string, toks []token) []lexer.Token {
	out := make([]lexer.Token, len(toks))
	for i := range toks {
		t := &toks[i]
		out[i] = lexer.Token{Type: t.typ, Value: src[t.off:t.end], Pos: t.pos()}
	}
	return out
}

func (s *scanner) pos() lexer.Position {
	return lexer.Position{Offset: s.off, Line: s.line, Column: s.col}
}

func (s *scanner) peek() (rune, int) {
	if s.off >= len(s.src) {
		return -1, 0
	}
	if c := s.src[s.off]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s.src[s.off:])
}

// advance moves past one rune of n bytes.
func (s *scanner) advance(r rune, n int) {
	s.off += n
	if r == '\n' {
		s.line++
		s.col = 1
	} else {
		s.col++
	}
}

func (s *scanner) skipSpace() {
	for s.off < len(s.src) && s.src[s.off] == ' ' {
		s.off++
		s.col++
	}
	for {
		r, n := s.peek()
		if r < 0 || !unicode.IsSpace(r) {
			return
		}
		s.advance(r, n)
	}
}

func (s *scanner) errorf(pos lexer.Position, format string, args ...any) error {
	return &Error{Line: pos.Line, Col: pos.Column, Offset: pos.Offset, Msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) emit(t lexer.TokenType, start lexer.Position) {
	s.toks = append(s.toks, token{typ: t, off: int32(start.Offset), end: int32(s.off),
		line: int32(start.Line), col: int32(start.Column)})
}

func (s *scanner) next() error {
	start := s.pos()
	r, n := s.peek()
	switch {
	case r == utf8.RuneError && n <= 1:
		return s.errorf(start, "the filter is not valid UTF-8")
	case r == '"':
		return s.quoted(start)
	case r == ':' || r == '(' || r == ')' || r == '[' || r == ']' || r == '{' || r == '}' || r == '*':
		s.advance(r, n)
		s.emit(tokPunct, start)
		return nil
	case r == '\\' || isWordRune(r, true):
		return s.word(start)
	case r == '&' || r == '|' || r == '!':
		return s.errorf(start, "unexpected %q: write the operators as AND, OR and NOT, or escape the character as \\%c", r, r)
	case r == '-':
		return s.errorf(start, "a value cannot start with '-': escape it as \\- or quote the value")
	case r == '+':
		return s.errorf(start, "a value cannot start with '+': escape it as \\+ or quote the value "+
			"(in a URL-encoded filter, + stands for a space)")
	case unicode.IsControl(r):
		return s.errorf(start, "unexpected control character %U", r)
	default:
		return s.errorf(start, "unexpected %q: escape it as \\%c or quote the value", r, r)
	}
}

// quoted scans a double-quoted value; a backslash escapes the next character.
func (s *scanner) quoted(start lexer.Position) error {
	s.advance('"', 1)
	for {
		r, n := s.peek()
		switch {
		case r < 0:
			return s.errorf(start, "unterminated quoted value: add the closing \"")
		case r == utf8.RuneError && n <= 1:
			return s.errorf(s.pos(), "the filter is not valid UTF-8")
		case r == '"':
			s.advance(r, n)
			s.emit(tokString, start)
			return nil
		case r == '\\':
			s.advance(r, n)
			r, n = s.peek()
			if r < 0 {
				return s.errorf(start, "unterminated quoted value: add the closing \"")
			}
			if r == utf8.RuneError && n <= 1 {
				return s.errorf(s.pos(), "the filter is not valid UTF-8")
			}
			// An escape does not admit a control character: the printed
			// form drops the backslash, and must parse again.
			if unicode.IsControl(r) && !unicode.IsSpace(r) {
				return s.errorf(s.pos(), "unexpected control character %U in a quoted value", r)
			}
		case unicode.IsControl(r) && !unicode.IsSpace(r):
			return s.errorf(s.pos(), "unexpected control character %U in a quoted value", r)
		}
		s.advance(r, n)
	}
}

// isDateStart reports whether s starts like an ISO-8601 date-time
// (YYYY-M-DT...); such a word may contain ':' unescaped, as in
// createdDate:2014-12-31T23:59:59.000Z (../shared/reference/amazon-photos-README.md, "Nodes").
func isDateStart(s string) bool {
	i := 0
	digits := func(min, max int) bool {
		j := i
		for i < len(s) && i-j < max && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i-j >= min
	}
	lit := func(c byte) bool {
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	return digits(4, 4) && lit('-') && digits(1, 2) && lit('-') && digits(1, 2) && lit('T')
}

// word scans a bare value. A word that looks like a field name and is
// directly followed by ':' is a field; AND, OR, NOT and TO are keywords.
func (s *scanner) word(start lexer.Position) error {
	date := s.src[s.off] >= '0' && s.src[s.off] <= '9' && isDateStart(s.src[s.off:])
	escaped := false
	for first := true; ; first = false {
		r, n := s.peek()
		switch {
		case r == '\\':
			s.advance(r, n)
			r, n = s.peek()
			if r < 0 {
				return s.errorf(start, "a value ends with a lone backslash: escape it as \\\\")
			}
			if r == utf8.RuneError && n <= 1 {
				return s.errorf(s.pos(), "the filter is not valid UTF-8")
			}
			if unicode.IsControl(r) && !unicode.IsSpace(r) {
				return s.errorf(s.pos(), "unexpected control character %U", r)
			}
			escaped = true
			s.advance(r, n)
			continue
		case r == utf8.RuneError && n <= 1:
			return s.errorf(s.pos(), "the filter is not valid UTF-8")
		case r >= 0 && (isWordRune(r, first) || date && r == ':'):
			s.advance(r, n)
			continue
		}
		break
	}
	text := s.src[start.Offset:s.off]
	switch r, _ := s.peek(); {
	case !escaped && isKeyword(text) && r != '*':
		s.emit(tokKeyword, start)
	case r == ':' && !escaped && isField(text):
		s.emit(tokField, start)
	default:
		s.emit(tokWord, start)
		if r == '*' {
			p := s.pos()
			s.advance(r, 1)
			s.emit(tokStar, p)
		}
	}
	return nil
}

// isField reports whether text can name a field: a letter or '_', then
// letters, digits, '_' and '.' (contentProperties.contentType).
func isField(text string) bool {
	for i, r := range text {
		if i == 0 && !isFieldStart(r) || !isFieldRune(r) {
			return false
		}
	}
	return text != ""
}

// unescape decodes a Word or String token's text: quotes are removed and a
// backslash takes the next character literally.
func unescape(raw string) string {
	if strings.HasPrefix(raw, `"`) {
		raw = raw[1 : len(raw)-1]
	}
	i := strings.IndexByte(raw, '\\')
	if i < 0 {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw))
	for ; i >= 0; i = strings.IndexByte(raw, '\\') {
		b.WriteString(raw[:i])
		_, n := utf8.DecodeRuneInString(raw[i+1:])
		b.WriteString(raw[i+1 : i+1+n])
		raw = raw[i+1+n:]
	}
	b.WriteString(raw)
	return b.String()
}

// tokenLexer replays tokens that lex already produced, so participle does
// not scan the input a second time.
type tokenLexer struct {
	toks []lexer.Token
	i    int
}

func (l *tokenLexer) Next() (lexer.Token, error) {
	t := l.toks[l.i]
	if l.i < len(l.toks)-1 {
		l.i++
	}
	return t, nil
}

// definition is the participle lexer.Definition of the filter language.
type definition struct{}

// Symbols names the token types. It builds the map on each call: participle
// calls it while the package's variables are still being initialised.
func (definition) Symbols() map[string]lexer.TokenType {
	return map[string]lexer.TokenType{
		"EOF":     lexer.EOF,
		"Field":   tokField,
		"Word":    tokWord,
		"String":  tokString,
		"Keyword": tokKeyword,
		"Punct":   tokPunct,
		"Star":    tokStar,
	}
}

func (definition) Lex(_ string, r io.Reader) (lexer.Lexer, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return definition{}.LexString("", string(b))
}

func (definition) LexString(_ string, src string) (lexer.Lexer, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	return &tokenLexer{toks: lexerTokens(src, toks)}, nil
}
