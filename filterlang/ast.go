package filterlang

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The grammar is the AST: participle reads it from the struct tags below.
// Nodes that errors can point at carry their position (Pos, the first
// token's); the pure precedence layers (Or, And, ValueOr, ValueAnd) do not.
// Precedence comes from the layers, loosest first, as in Lucene:
//
//	OR  ⊃  AND  ⊃  NOT  ⊃  ( ... ) | field:operand
//
// and the same three layers again inside a field's group. There is no left
// recursion: each layer is "one item, then more items after an operator".

// Or is the loosest layer: one or more And joined by OR.
type Or struct {
	And []*And `parser:"@@ ( 'OR' @@ )*"`
}

// And is one or more Not joined by AND.
type And struct {
	Not []*Not `parser:"@@ ( 'AND' @@ )*"`
}

// Not is a clause, negated when Negated is set: a parenthesised filter or a term.
type Not struct {
	Pos     lexer.Position
	Negated bool  `parser:"@'NOT'?"`
	Group   *Or   `parser:"( '(' @@ ')'"`
	Term    *Term `parser:"| @@ )"`
}

// Term is field:operand, for example type:(PHOTOS OR VIDEOS) or name:sample*.
type Term struct {
	Pos     lexer.Position
	Field   string   `parser:"@Field ':'"`
	Operand *Operand `parser:"@@"`

	info *field // set by check
}

// Operand is what follows a field's colon, and each item inside a group: a
// parenthesised group of values, a range or a single value.
type Operand struct {
	Pos   lexer.Position
	Group *ValueOr `parser:"  '(' @@ ')'"`
	Range *Range   `parser:"| @@"`
	Value *Value   `parser:"| @@"`
}

// ValueOr is the loosest layer inside a group: things:(plant AND beach OR moon)
// means (plant AND beach) OR moon.
type ValueOr struct {
	And []*ValueAnd `parser:"@@ ( 'OR' @@ )*"`
}

// ValueAnd is one or more ValueNot joined by AND.
type ValueAnd struct {
	Not []*ValueNot `parser:"@@ ( 'AND' @@ )*"`
}

// ValueNot is an operand, negated when Negated is set.
type ValueNot struct {
	Pos     lexer.Position
	Negated bool     `parser:"@'NOT'?"`
	Operand *Operand `parser:"@@"`
}

// Range is a range query. '[' and ']' include their bound, '{' and '}'
// exclude it (../shared/API.md §3.1); a nil bound is '*', unbounded. Its
// position is its Operand's.
type Range struct {
	LowInclusive  bool   `parser:"( @'[' | '{' )"`
	Low           *Bound `parser:"( '*' | @@ )"`
	High          *Bound `parser:"'TO' ( '*' | @@ )"`
	HighInclusive bool   `parser:"( @']' | '}' )"`
}

// Bound is one end of a range.
type Bound struct {
	Pos  lexer.Position
	Text Text `parser:"@(String | Word)"`

	val scalar // set by check
}

// Value is one value, bare or quoted. Prefix is set by a trailing
// unescaped '*' (name:sample*): the value is then a prefix.
type Value struct {
	Pos    lexer.Position
	Text   Text `parser:"@(String | Word)"`
	Prefix bool `parser:"@Star?"`

	val scalar // set by check
}

// Text is a value with its quotes and escapes removed.
type Text string

// Capture decodes a Word or String token; participle calls it.
func (t *Text) Capture(values []string) error {
	*t = Text(unescape(values[0]))
	return nil
}

// grammar is the filter parser. Building it reflects over the structs once.
var grammar = participle.MustBuild[Or](
	participle.Lexer(definition{}),
)
