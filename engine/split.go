package engine

import (
	"github.com/apsql/apsql/sqltext"
)

// Stmt is one statement of a script.
type Stmt = sqltext.Stmt

// Split cuts src into statements. It understands single-quoted strings (with
// doubled quotes and E'...' backslash escapes), double-quoted identifiers, dollar quoting
// ($$...$$, $tag$...$tag$), line comments (--) and nested block comments
// (/* */), so a semicolon inside any of them does not end a statement. A line
// whose first non-blank character starts a statement with "." is a dot
// command that ends at the end of that line. It is sqltext.Split, the one
// tokenizer every reader of SQL text shares.
//
// The text after the last complete statement is returned as rest: empty when
// it holds only blanks and comments. A caller that reads line by line (the
// REPL) keeps rest and prepends it to the next line; a caller at the end of
// its input runs rest as a final statement.
func Split(src string) (stmts []Stmt, rest string) { return sqltext.Split(src) }

// Keywords returns the first n words of a statement, upper-cased, skipping
// comments: Keywords("explain  /* x */ find 'a'", 2) = ["EXPLAIN", "FIND"].
func Keywords(stmt string, n int) []string { return sqltext.Keywords(stmt, n) }

// AfterKeywords returns stmt with its first n words (as counted by Keywords)
// and the comments and blanks around them removed.
func AfterKeywords(stmt string, n int) string { return sqltext.AfterKeywords(stmt, n) }
