// Package filterlang parses, checks, prints, translates to SQL and evaluates
// Amazon Photos filters, such as
//
//	type:(PHOTOS OR VIDEOS) AND things:(plant AND beach OR moon) AND timeYear:(2023)
//	modifiedDate:{"2014-12-31T23:59:59.000Z" TO *]
//	name:sample*
//
// The syntax is the one both of Amazon's dialects share (../shared/API.md
// §3.1): field:value terms, field:(...) groups of values, parenthesised
// clauses, ranges with '[' or '{' on either side and '*' for an open bound,
// a trailing '*' for a prefix, double-quoted values, and backslash escapes of
// the special characters + - & | ! ( ) { } [ ] ^ ' " ~ * ? : \ and space.
//
// Operators are upper case and take Lucene's precedence: NOT binds tighter
// than AND, and AND tighter than OR, both between clauses and inside a group.
// So things:(plant AND beach OR moon) means (plant AND beach) OR moon. NOT is
// a prefix operator: write a AND NOT b.
//
// Parse checks the filter for its Dialect (unknown fields, fields of the
// other dialect, ranges and prefixes where the field allows none, bad dates
// and numbers, more than 8 terms in a node filter) and reports an *Error
// with a line and column. A Filter then prints its canonical form (String,
// what apsql sends to Amazon), translates to a DuckDB predicate over the
// nodes table (SQL), and evaluates against one in-memory node (Match); SQL
// and Match select the same nodes.
//
// Semantics, where Amazon's documentation leaves a choice:
//   - name is an exact match that ignores case (../shared/API.md §3.2, after
//     rclone); name:sample* is a case-insensitive prefix.
//   - Every other string comparison is exact and case-sensitive.
//   - A boolean field that a node lacks is false: settings.hidden:false
//     matches nodes without settings.
//   - A term on a field the node lacks is false, so NOT selects it.
//   - Arrays (parents, labels) and facets (things, people, location) match
//     when they contain the value.
//   - Dates compare as instants at microsecond precision; a date without a
//     time is midnight UTC, and one without an offset is UTC.
//   - timeYear, timeMonth and timeDay are the UTC parts of
//     contentProperties.contentDate.
package filterlang

import (
	"github.com/alecthomas/participle/v2/lexer"
)

// Filter is a parsed and checked filter.
type Filter struct {
	// Root is the syntax tree. After Parse, values hold their canonical
	// text (dates as 2006-01-02T15:04:05.000Z, numbers without leading
	// zeros, booleans in lower case, type values in upper case).
	Root *Or

	dialect Dialect
	terms   int
}

// Parse parses src and checks it as a filter of dialect d. Errors are *Error.
func Parse(src string, d Dialect) (*Filter, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	if len(toks) == 1 {
		return nil, errorAt(toks[0].pos(), "empty filter: write at least one field:value term")
	}
	root := newFastParser(src, toks).parse()
	if root == nil {
		if root, err = parseGrammar(lexerTokens(src, toks)); err != nil {
			return nil, err
		}
	}
	c := checker{d: d}
	if err := c.or(root); err != nil {
		return nil, err
	}
	return &Filter{Root: root, dialect: d, terms: c.terms}, nil
}

// Dialect returns the dialect the filter was checked for.
func (f *Filter) Dialect() Dialect { return f.dialect }

// Terms returns the number of terms: values and ranges, one per field value.
func (f *Filter) Terms() int { return f.terms }

// Grammar returns the grammar in EBNF, as participle derives it from the AST.
func Grammar() string { return grammar.String() }

// parseGrammar parses toks with the participle grammar. Parse uses it for
// the filters the fast parser rejects, to report the error.
func parseGrammar(toks []lexer.Token) (*Or, error) {
	peek, err := lexer.Upgrade(&tokenLexer{toks: toks})
	if err != nil {
		return nil, err
	}
	root, err := grammar.ParseFromLexer(peek)
	if err != nil {
		serr := syntaxError(err, toks)
		// An unbalanced bracket explains the error better, unless the
		// parser stumbled before the point where the imbalance shows.
		if berr, at := checkBrackets(toks); berr != nil && serr.Offset >= at {
			return nil, berr
		}
		return nil, serr
	}
	return root, nil
}
