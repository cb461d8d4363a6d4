package filterlang

// Hooks for the external tests (package filterlang_test), which need DuckDB.

// GrammarAgrees reports whether the fast parser and the participle grammar
// agree on src: both reject it, or both build the same tree.
var GrammarAgrees = grammarAgrees

// StripPositions returns a copy of the tree without positions.
func StripPositions(o *Or) *Or { return stripPositions(o) }
