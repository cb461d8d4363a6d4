package actions

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/filterlang"
	"github.com/apsql/apsql/sqltext"
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
	t, after, err := parseTargetArgs(engine.NewArgs(rest), stops, known)
	if err != nil {
		return target{}, "", err
	}
	return t, after.Rest(), nil
}

// targetHelp lists the forms of a target.
const targetHelp = "write WHERE <predicate>, (SELECT id ...), 'id', ..., FILTER 'amazon filter' or ALBUM 'name'"

// parseTargetArgs reads a target from the tokens of a and returns it with
// the Args that reads what follows it. Every form is read from the tokens
// of the one SQL tokenizer (sqltext): a stop keyword or a parenthesis
// inside a string, a dollar-quoted string, a quoted identifier or a
// comment is not one.
func parseTargetArgs(a *engine.Args, stops []string, known []string) (target, *engine.Args, error) {
	if ids, ok := a.IDs(); ok {
		// The caller gave the target as ids (engine.WithIDs): they are
		// the target, and the text holds only what follows it.
		t, err := givenIDsTarget(ids)
		return t, a, err
	}
	switch {
	case a.Keyword("WHERE"):
		return parseWhere(a, stops, known)
	case a.Keyword("FILTER"):
		t, err := parseFilter(a)
		return t, a, err
	case a.Keyword("ALBUM"):
		name, err := a.String()
		if err != nil {
			return target{}, nil, fmt.Errorf("ALBUM: %w (ALBUM 'name' selects the album's members)", err)
		}
		return target{kind: targetAlbum, album: name, text: "ALBUM " + engine.Quote(name)}, a, nil
	case a.PeekByte() == '(':
		return parseSelect(a)
	case isString(a):
		t, err := parseIDList(a)
		return t, a, err
	case a.Done():
		return target{}, nil, errors.New("missing target: " + targetHelp)
	default:
		return target{}, nil, fmt.Errorf("unexpected %q where a target belongs: %s", clip(a.Remaining(), 20), targetHelp)
	}
}

// errEmptyID is an empty id in a target's list of ids.
var errEmptyID = errors.New("an empty id in the target list: give node ids like 'HeMReF-vvJiTTkdPIeWuoP'")

// givenIDsTarget is the target of ids given by the caller.
func givenIDsTarget(ids []string) (target, error) {
	if len(ids) == 0 {
		return target{}, errors.New("missing target: the set of node ids is empty")
	}
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			return target{}, errEmptyID
		}
	}
	return newIDsTarget(ids), nil
}

// parseWhere reads a WHERE predicate (after WHERE) up to the first stop
// keyword at the top level, or a trailing option list of known names.
func parseWhere(a *engine.Args, stops []string, known []string) (target, *engine.Args, error) {
	toks := a.Tokens()
	cut := len(toks)
	for _, kw := range stops {
		if i := sqltext.FindWord(toks, kw); i >= 0 && i < cut {
			cut = i
		}
	}
	if cut == len(toks) {
		if i := trailingOptions(toks, known); i >= 0 {
			cut = i
		}
	}
	pred, after := a.Cut(cut)
	if pred == "" {
		return target{}, nil, errors.New("WHERE needs a predicate over nodes, e.g. WHERE model = 'iPhone XS'")
	}
	return target{kind: targetWhere, sql: pred, text: "WHERE " + pred}, after, nil
}

// parseFilter reads FILTER 'amazon filter' (after FILTER) as a predicate
// over the mirror.
func parseFilter(a *engine.Args) (target, error) {
	src, err := a.String()
	if err != nil {
		return target{}, fmt.Errorf("FILTER: %w", err)
	}
	f, err := filterlang.Parse(src, filterlang.Local)
	if err != nil {
		return target{}, fmt.Errorf("FILTER: %w", err)
	}
	where, args := f.SQL()
	return target{kind: targetFilter, sql: where, args: args, text: "FILTER " + engine.Quote(src)}, nil
}

// parseSelect reads a ( query ) target: the query must return ids.
func parseSelect(a *engine.Args) (target, *engine.Args, error) {
	toks := a.Tokens()
	end := sqltext.MatchParen(toks, 0)
	if end < 0 {
		return target{}, nil, errors.New("unbalanced parentheses in the target: close the ( SELECT ... ) with )")
	}
	a.Punct('(')
	q, after := a.Cut(end - (len(toks) - len(a.Tokens())))
	if w := strings.ToUpper(firstWord(toks[1:end])); w != "SELECT" && w != "WITH" && w != "FROM" && w != "VALUES" && w != "TABLE" {
		return target{}, nil, fmt.Errorf("a ( ... ) target must hold a query returning an id column, e.g. (SELECT id FROM nodes LIMIT 10), not %q", clip(q, 30))
	}
	after.Punct(')')
	return target{kind: targetSelect, sql: q, text: "(" + q + ")"}, after, nil
}

// parseIDList reads 'id', 'id', ...
func parseIDList(a *engine.Args) (target, error) {
	var ids []string
	for {
		id, err := a.String()
		if err != nil {
			return target{}, err
		}
		id = strings.TrimSpace(id)
		if id == "" {
			return target{}, errEmptyID
		}
		ids = append(ids, id)
		if !a.Punct(',') {
			break
		}
	}
	return newIDsTarget(ids), nil
}

// newIDsTarget is the target of a list of ids.
func newIDsTarget(ids []string) target {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = engine.Quote(id)
	}
	return target{kind: targetIDs, ids: ids, text: strings.Join(quoted, ", ")}
}

// isString reports whether a string literal is next.
func isString(a *engine.Args) bool {
	t, ok := a.PeekToken()
	return ok && (t.Kind == sqltext.String || t.Kind == sqltext.DollarString)
}

// parseTail reads what may follow a target: [TO 'x'] [(options)]; nothing
// else may be left.
func parseTail(st *statement, a *engine.Args, allowTo bool, known []string) error {
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
	return parseStatementArgs(engine.NewArgs(rest), allowTo, known)
}

// parseStatementArgs parses "target [TO 'x'] [(options)]" from the tokens
// of a.
func parseStatementArgs(a *engine.Args, allowTo bool, known []string) (statement, error) {
	var stops []string
	if allowTo {
		stops = []string{"TO"}
	}
	t, after, err := parseTargetArgs(a, stops, known)
	if err != nil {
		return statement{}, err
	}
	st := statement{target: t}
	if err := parseTail(&st, after, allowTo, known); err != nil {
		return statement{}, err
	}
	return st, nil
}

// trailingOptions returns the index in toks of the "(" of a trailing
// top-level "(NAME ...)" group whose first word is one of the known option
// names, or -1. The group cannot be the whole of toks.
func trailingOptions(toks []sqltext.Token, known []string) int {
	if len(known) == 0 {
		return -1
	}
	last, open := -1, -1
	sqltext.Walk(toks, func(i, depth int) bool {
		last = i
		if depth == 0 && toks[i].IsPunct('(') {
			open = i
		}
		return true
	})
	if open <= 0 || !toks[last].IsPunct(')') || sqltext.MatchParen(toks, open) != last {
		return -1
	}
	w := strings.ToUpper(firstWord(toks[open+1 : last]))
	for _, k := range known {
		if w == k {
			return open
		}
	}
	return -1
}

// firstWord returns the first word of toks, skipping blanks, comments and
// opening parentheses ("" when something else comes first).
func firstWord(toks []sqltext.Token) string {
	for _, t := range toks {
		switch {
		case t.Trivia() || t.IsPunct('('):
		case t.Kind == sqltext.Word:
			return t.Text
		default:
			return ""
		}
	}
	return ""
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}
