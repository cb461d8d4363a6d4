package filterlang

import (
	"github.com/alecthomas/participle/v2/lexer"
)

// fastParser builds the same tree as the participle grammar in ast.go, by
// hand, for valid filters. Participle costs about 110 µs and 700
// allocations for a 7-term filter (reflection, a branch per optional item);
// this parser about a tenth of that, which the emulator feels, since it
// parses the filter of every /search and /nodes request. It gives up at the
// first token it cannot use, and Parse then asks participle, which stays
// the definition of the language and the source of every syntax error.
// FuzzParse and the golden tests check that both accept the same filters
// and build identical trees, positions included.
//
// Nodes come from per-type slabs, so a filter costs a few allocations
// rather than one per node.
type fastParser struct {
	src  string
	toks []token
	i    int

	ors       []Or
	ands      []And
	nots      []Not
	terms     []Term
	operands  []Operand
	valueOrs  []ValueOr
	valueAnds []ValueAnd
	valueNots []ValueNot
	ranges    []Range
	bounds    []Bound
	values    []Value

	andPtrs      []*And
	notPtrs      []*Not
	valueAndPtrs []*ValueAnd
	valueNotPtrs []*ValueNot
}

// newFastParser sizes the slabs from the token counts: every node holds at
// least one token of its own kind, so these are upper bounds.
func newFastParser(src string, toks []token) *fastParser {
	var words, fieldsN, parens, ors, rngs int
	for i := range toks {
		t := &toks[i]
		switch t.typ {
		case tokWord, tokString:
			words++
		case tokField:
			fieldsN++
		case tokKeyword:
			if src[t.off] == 'O' {
				ors++
			}
		case tokPunct:
			switch src[t.off] {
			case '(':
				parens++
			case '[', '{':
				rngs++
			}
		}
	}
	groups := parens + 1
	items := words + rngs + parens + 1
	return &fastParser{
		src:          src,
		toks:         toks,
		ors:          make([]Or, 0, groups),
		ands:         make([]And, 0, groups+ors),
		nots:         make([]Not, 0, fieldsN+parens),
		terms:        make([]Term, 0, fieldsN),
		operands:     make([]Operand, 0, items),
		valueOrs:     make([]ValueOr, 0, parens),
		valueAnds:    make([]ValueAnd, 0, parens+ors),
		valueNots:    make([]ValueNot, 0, items),
		ranges:       make([]Range, 0, rngs),
		bounds:       make([]Bound, 0, 2*rngs),
		values:       make([]Value, 0, words),
		andPtrs:      make([]*And, 0, groups+ors),
		notPtrs:      make([]*Not, 0, fieldsN+parens),
		valueAndPtrs: make([]*ValueAnd, 0, parens+ors),
		valueNotPtrs: make([]*ValueNot, 0, items),
	}
}

// alloc returns a pointer to a new zero element of *slab.
func alloc[T any](slab *[]T) *T {
	if len(*slab) == cap(*slab) {
		*slab = make([]T, 0, 8) // an estimate was short: start another slab
	}
	*slab = (*slab)[:len(*slab)+1]
	return &(*slab)[len(*slab)-1]
}

// carve copies items into *pool and returns them as their own slice.
func carve[T any](pool *[]T, items []T) []T {
	if cap(*pool)-len(*pool) < len(items) {
		*pool = make([]T, 0, max(8, len(items)))
	}
	start := len(*pool)
	*pool = append(*pool, items...)
	return (*pool)[start:len(*pool):len(*pool)]
}

func (p *fastParser) peek() *token { return &p.toks[p.i] }

func (p *fastParser) text(t *token) string { return p.src[t.off:t.end] }

// is reports whether the next token is the literal s. Like participle's
// literals, it compares the text only; the lexer guarantees that only
// keywords and punctuation can have these texts.
func (p *fastParser) is(s string) bool {
	t := &p.toks[p.i]
	return t.typ != lexer.EOF && p.src[t.off:t.end] == s
}

// parse returns the tree, or nil if the filter is not valid.
func (p *fastParser) parse() *Or {
	o := p.or()
	if o == nil || p.peek().typ != lexer.EOF {
		return nil
	}
	return o
}

func (p *fastParser) or() *Or {
	o := alloc(&p.ors)
	var buf [8]*And
	items := buf[:0]
	for {
		a := p.and()
		if a == nil {
			return nil
		}
		items = append(items, a)
		if !p.is("OR") {
			break
		}
		p.i++
	}
	o.And = carve(&p.andPtrs, items)
	return o
}

func (p *fastParser) and() *And {
	a := alloc(&p.ands)
	var buf [8]*Not
	items := buf[:0]
	for {
		n := p.not()
		if n == nil {
			return nil
		}
		items = append(items, n)
		if !p.is("AND") {
			break
		}
		p.i++
	}
	a.Not = carve(&p.notPtrs, items)
	return a
}

func (p *fastParser) not() *Not {
	n := alloc(&p.nots)
	n.Pos = p.peek().pos()
	if p.is("NOT") {
		n.Negated = true
		p.i++
	}
	if p.is("(") {
		p.i++
		if n.Group = p.or(); n.Group == nil || !p.is(")") {
			return nil
		}
		p.i++
		return n
	}
	t := p.peek()
	if t.typ != tokField || p.toks[p.i+1].typ != tokPunct || p.text(&p.toks[p.i+1]) != ":" {
		return nil
	}
	term := alloc(&p.terms)
	term.Pos, term.Field = t.pos(), p.text(t)
	p.i += 2
	if term.Operand = p.operand(); term.Operand == nil {
		return nil
	}
	n.Term = term
	return n
}

func (p *fastParser) operand() *Operand {
	o := alloc(&p.operands)
	t := p.peek()
	o.Pos = t.pos()
	switch {
	case p.is("("):
		p.i++
		if o.Group = p.valueOr(); o.Group == nil || !p.is(")") {
			return nil
		}
		p.i++
	case p.is("[") || p.is("{"):
		o.Range = p.rng()
		if o.Range == nil {
			return nil
		}
	case t.typ == tokWord || t.typ == tokString:
		v := alloc(&p.values)
		v.Pos, v.Text = t.pos(), Text(unescape(p.text(t)))
		p.i++
		if p.peek().typ == tokStar {
			v.Prefix = true
			p.i++
		}
		o.Value = v
	default:
		return nil
	}
	return o
}

func (p *fastParser) valueOr() *ValueOr {
	o := alloc(&p.valueOrs)
	var buf [8]*ValueAnd
	items := buf[:0]
	for {
		a := p.valueAnd()
		if a == nil {
			return nil
		}
		items = append(items, a)
		if !p.is("OR") {
			break
		}
		p.i++
	}
	o.And = carve(&p.valueAndPtrs, items)
	return o
}

func (p *fastParser) valueAnd() *ValueAnd {
	a := alloc(&p.valueAnds)
	var buf [8]*ValueNot
	items := buf[:0]
	for {
		n := alloc(&p.valueNots)
		n.Pos = p.peek().pos()
		if p.is("NOT") {
			n.Negated = true
			p.i++
		}
		if n.Operand = p.operand(); n.Operand == nil {
			return nil
		}
		items = append(items, n)
		if !p.is("AND") {
			break
		}
		p.i++
	}
	a.Not = carve(&p.valueNotPtrs, items)
	return a
}

func (p *fastParser) rng() *Range {
	r := alloc(&p.ranges)
	r.LowInclusive = p.is("[")
	p.i++
	var ok bool
	if r.Low, ok = p.bound(); !ok || !p.is("TO") {
		return nil
	}
	p.i++
	if r.High, ok = p.bound(); !ok {
		return nil
	}
	switch {
	case p.is("]"):
		r.HighInclusive = true
	case p.is("}"):
	default:
		return nil
	}
	p.i++
	return r
}

// bound parses '*' (nil) or a value.
func (p *fastParser) bound() (*Bound, bool) {
	if p.is("*") {
		p.i++
		return nil, true
	}
	t := p.peek()
	if t.typ != tokWord && t.typ != tokString {
		return nil, false
	}
	b := alloc(&p.bounds)
	b.Pos, b.Text = t.pos(), Text(unescape(p.text(t)))
	p.i++
	return b, true
}
