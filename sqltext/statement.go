package sqltext

import "strings"

// Stmt is one statement of a script.
type Stmt struct {
	Text string // the statement without its terminating semicolon, trimmed
	Line int    // 1-based line of the script where the statement starts
	Dot  bool   // a dot command (".mode csv"): one line, no semicolon
}

// Split cuts src into statements at the semicolons outside strings,
// quoted identifiers, dollar-quoted strings and comments. A line whose first
// non-blank character starts a statement with "." is a dot command that
// ends at the end of that line.
//
// The text after the last complete statement is returned as rest: empty when
// it holds only blanks and comments. A caller that reads line by line (the
// REPL) keeps rest and prepends it to the next line; a caller at the end of
// its input runs rest as a final statement.
func Split(src string) (stmts []Stmt, rest string) {
	s := NewScanner(src)
	start, startLine := 0, 1
	content := false // the current statement has something other than blanks and comments
	for {
		t, ok := s.Next()
		if !ok {
			break
		}
		if !content {
			switch {
			case t.Kind == Space || t.Kind == LineComment:
				continue
			case t.Kind == BlockComment:
				if t.Unterminated {
					// The REPL must read on (a comment over several
					// lines), so it is rest, not nothing.
					return stmts, t.Text
				}
				continue
			case t.IsPunct(';'):
				continue // an empty statement
			}
			content = true
			start, startLine = t.Pos, t.Line
			if src[t.Pos] == '.' {
				end := strings.IndexByte(src[t.Pos:], '\n')
				if end < 0 {
					// A dot command is complete at the end of input only
					// when the caller has no more lines; report it as rest.
					return stmts, src[start:]
				}
				stmts = append(stmts, Stmt{Text: strings.TrimSpace(src[start : t.Pos+end]), Line: startLine, Dot: true})
				s.Seek(t.Pos + end)
				content = false
				continue
			}
		}
		switch {
		case t.Unterminated:
			return stmts, src[start:]
		case t.IsPunct(';'):
			stmts = append(stmts, Stmt{Text: strings.TrimSpace(src[start:t.Pos]), Line: startLine})
			content = false
		}
	}
	if !content {
		return stmts, ""
	}
	return stmts, src[start:]
}

// Statement is one statement, tokenized once: the registry finds a
// command by its leading words and hands the command the tokens.
type Statement struct {
	Text   string
	Tokens []Token
}

// Parse tokenizes one statement.
func Parse(text string) *Statement { return &Statement{Text: text, Tokens: Tokenize(text)} }

// Keywords returns the statement's first n words, upper-cased, skipping
// blanks and comments and stopping at the first token that is no word:
// Keywords of "explain /* x */ find 'a'" with n = 2 is [EXPLAIN FIND].
func (st *Statement) Keywords(n int) []string {
	var out []string
	for _, t := range st.Tokens {
		if len(out) >= n {
			break
		}
		if t.Trivia() {
			continue
		}
		if t.Kind != Word {
			break
		}
		out = append(out, strings.ToUpper(t.Text))
	}
	return out
}

// AfterWords returns the index of the first token that is neither trivia
// nor one of the first n words (len(Tokens) when there is none).
func (st *Statement) AfterWords(n int) int {
	words := 0
	for i, t := range st.Tokens {
		switch {
		case t.Trivia():
		case words < n && t.Kind == Word:
			words++
		default:
			return i
		}
	}
	return len(st.Tokens)
}

// After returns the text after the first n words and the blanks and
// comments around them, trimmed.
func (st *Statement) After(n int) string {
	i := st.AfterWords(n)
	if i >= len(st.Tokens) {
		return ""
	}
	return strings.TrimSpace(st.Text[st.Tokens[i].Pos:])
}

// Keywords returns the first n words of stmt, upper-cased (see
// Statement.Keywords). It reads only as far as those words, so that a
// long statement that is no command is not tokenized whole.
func Keywords(stmt string, n int) []string {
	var out []string
	s := NewScanner(stmt)
	for len(out) < n {
		t, ok := s.Next()
		if !ok {
			break
		}
		if t.Trivia() {
			continue
		}
		if t.Kind != Word {
			break
		}
		out = append(out, strings.ToUpper(t.Text))
	}
	return out
}

// AfterKeywords returns stmt without its first n words and the blanks and
// comments around them (see Statement.After).
func AfterKeywords(stmt string, n int) string { return Parse(stmt).After(n) }

// Walk calls fn with every token of toks that is not trivia and its
// parenthesis depth (an opening parenthesis has the depth outside it, a
// closing one the depth outside it too); it stops when fn returns false.
func Walk(toks []Token, fn func(i, depth int) bool) {
	depth := 0
	for i, t := range toks {
		if t.Trivia() {
			continue
		}
		if t.IsPunct(')') {
			depth--
		}
		if !fn(i, depth) {
			return
		}
		if t.IsPunct('(') {
			depth++
		}
	}
}

// FindWord returns the index of the first token of toks that is the word
// w (case-insensitive) outside parentheses, or -1.
func FindWord(toks []Token, w string) int {
	found := -1
	Walk(toks, func(i, depth int) bool {
		if depth == 0 && toks[i].IsWord(w) {
			found = i
			return false
		}
		return true
	})
	return found
}

// MatchParen returns the index of the token closing the parenthesis
// toks[open], or -1.
func MatchParen(toks []Token, open int) int {
	if open < 0 || open >= len(toks) || !toks[open].IsPunct('(') {
		return -1
	}
	end := -1
	Walk(toks[open:], func(i, depth int) bool {
		if depth == 0 && toks[open+i].IsPunct(')') {
			end = open + i
			return false
		}
		return true
	})
	return end
}
