package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/sqltext"
)

// Result is what a statement returns.
type Result struct {
	// Rows is the result set, or nil for statements that return none. The
	// caller must Release it.
	Rows array.RecordReader
	// Summary is one line for stderr after the rows ("trash: 12 ok, 1 failed"), or "".
	Summary string
	// Failed counts the rows of an action that failed: the statement's
	// rows are printed, and then it counts as failed (exit status 1 in a
	// script). Session.Run sets it for every command whose rows have a
	// status column (countFailed).
	Failed int
	// Held says the rows are in memory (an action's outcomes, counted by
	// countFailed): the shell prints them in full even after an
	// interrupt, so that an interrupted statement shows what it did.
	Held bool
	// Plan is a short id of the plan an EXPLAIN showed, for a statement
	// that takes it back to refuse a plan that changed since (DEDUPE ...
	// (PLAN 'id')); "" for others.
	Plan string
}

// Command is one of apsql's own statements. It is recognised by its leading
// keywords; everything that matches no command goes to DuckDB unchanged.
type Command struct {
	Keywords []string // upper case, e.g. {"EXPLAIN", "FIND"}
	Syntax   string   // for .help: "EXPLAIN FIND 'filter'"
	Help     string   // one line for .help
	// Run executes the statement; rest is the statement's text after the
	// keywords, without the semicolon. A command sets Run or Exec.
	Run func(ctx context.Context, s *Session, rest string) (*Result, error)
	// Exec executes the statement from its tokens (the registry scanned
	// it once); when set, it is used instead of Run.
	Exec func(ctx context.Context, s *Session, st *Statement) (*Result, error)
}

// Statement is a statement of one of apsql's own commands as the registry
// hands it over: its text and tokens (sqltext, scanned once) and where the
// command's keywords end.
type Statement struct {
	*sqltext.Statement
	// Keywords are the command's keywords the statement starts with.
	Keywords []string
	// IDs, when not nil, is an action's target given as a fixed set of
	// node ids by the caller (the gallery's selection, an agent's list):
	// the text is the statement without its target ("TRASH",
	// "ALBUM 'x' ADD", "DOWNLOAD TO 'dir'"), and the ids are never written
	// into SQL text to be parsed back. Commands that take no target refuse
	// it.
	IDs []string
	// rest is the index of the first token after the keywords.
	rest int
}

// ErrNoIDTarget is returned for a statement with IDs whose command takes
// no target.
var ErrNoIDTarget = errors.New("this statement takes no target of node ids")

// WithIDs returns the statement text (without its target) whose target is
// the node ids ids, for Session.Exec.
func WithIDs(text string, ids []string) *Statement {
	if ids == nil {
		ids = []string{}
	}
	return &Statement{Statement: sqltext.Parse(text), IDs: ids}
}

// Exec runs a statement built by WithIDs: one of apsql's own commands,
// found by the statement's leading words.
func (s *Session) Exec(ctx context.Context, st *Statement) (*Result, error) {
	s.DB.RestoreSettings()
	defer s.DB.RestoreSettings()
	c, ok := s.DB.cmds.lookup(st.Statement.Keywords(4))
	if !ok {
		return nil, fmt.Errorf("%q is none of apsql's statements: %w", clip(st.Text), ErrNoIDTarget)
	}
	return s.exec(ctx, c, &Statement{Statement: st.Statement, Keywords: c.Keywords, IDs: st.IDs, rest: st.AfterWords(len(c.Keywords))})
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// exec runs command c on st.
func (s *Session) exec(ctx context.Context, c Command, st *Statement) (*Result, error) {
	var res *Result
	var err error
	switch {
	case c.Exec != nil:
		res, err = c.Exec(ctx, s, st)
	case st.IDs != nil:
		return nil, fmt.Errorf("%s: %w", strings.Join(c.Keywords, " "), ErrNoIDTarget)
	default:
		res, err = c.Run(ctx, s, st.Rest())
	}
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = &Result{}
	}
	countFailed(c, res)
	return res, nil
}

// Rest is the text after the keywords, trimmed.
func (st *Statement) Rest() string {
	if st.rest >= len(st.Tokens) {
		return ""
	}
	return strings.TrimSpace(st.Text[st.Tokens[st.rest].Pos:])
}

// Args reads the arguments after the keywords from the statement's tokens;
// it carries the statement's IDs (Args.IDs).
func (st *Statement) Args() *Args {
	a := ArgsOf(st.Statement, st.rest)
	a.ids = st.IDs
	return a
}

// Registry is the dispatch table of apsql's own statements; .help is
// generated from it.
type Registry struct {
	mu   sync.RWMutex
	cmds []Command
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds c; a command with the same keywords replaces the earlier one.
func (r *Registry) Register(c Command) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range c.Keywords {
		c.Keywords[i] = strings.ToUpper(c.Keywords[i])
	}
	for i, old := range r.cmds {
		if strings.Join(old.Keywords, " ") == strings.Join(c.Keywords, " ") {
			r.cmds[i] = c
			return
		}
	}
	r.cmds = append(r.cmds, c)
}

// Lookup returns the command whose keywords are the longest prefix of stmt's
// leading words.
func (r *Registry) Lookup(stmt string) (Command, bool) {
	return r.lookup(sqltext.Keywords(stmt, 4))
}

// lookup returns the command whose keywords are the longest prefix of words.
func (r *Registry) lookup(words []string) (Command, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	best, found := Command{}, false
	for _, c := range r.cmds {
		if len(c.Keywords) > len(words) || (found && len(c.Keywords) <= len(best.Keywords)) {
			continue
		}
		match := true
		for i, k := range c.Keywords {
			if words[i] != k {
				match = false
				break
			}
		}
		if match {
			best, found = c, true
		}
	}
	return best, found
}

// All returns the commands sorted by syntax.
func (r *Registry) All() []Command {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := append([]Command(nil), r.cmds...)
	sort.Slice(out, func(i, j int) bool { return out[i].Syntax < out[j].Syntax })
	return out
}

// KeywordSet returns every keyword of every command (for tab completion).
func (r *Registry) KeywordSet() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range r.All() {
		for _, k := range c.Keywords {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Progress draws progress of long statements; the shell implements it on
// stderr when that is a terminal. Implementations must be safe for
// concurrent use by workers.
type Progress interface {
	// Start begins a progress line; total < 0 when unknown. unit is e.g.
	// "nodes", "files" or "bytes".
	Start(label string, total int64, unit string) Tracker
}

// Tracker is one running progress line.
type Tracker interface {
	Add(n int64)
	SetTotal(total int64)
	Done()
}

// Session is the state one statement runs with.
type Session struct {
	DB *DB
	// Interactive is true when a person types at a terminal.
	Interactive bool
	// Yes answers yes to confirmations (--yes).
	Yes bool
	// Confirm asks the person a yes/no question; nil outside interactive mode.
	Confirm func(question string) bool
	// Progress draws progress; never nil (see NoProgress).
	Progress Progress
	// Logf writes a diagnostic line with -v; never nil.
	Logf func(format string, args ...any)
	// Render writes the numbers of lines for people (Say); nil writes
	// plain numbers. cmd/apsql installs output.Human.
	Render Render
}

// NoProgress is a Progress that draws nothing.
var NoProgress Progress = noProgress{}

type noProgress struct{}

func (noProgress) Start(string, int64, string) Tracker { return noTracker{} }

type noTracker struct{}

func (noTracker) Add(int64)      {}
func (noTracker) SetTotal(int64) {}
func (noTracker) Done()          {}

// NewSession returns a non-interactive session over d that draws nothing.
func NewSession(d *DB) *Session {
	return &Session{DB: d, Progress: NoProgress, Logf: func(string, ...any) {}}
}

// Run executes one statement: one of apsql's own commands, or DuckDB SQL.
func (s *Session) Run(ctx context.Context, stmt string) (*Result, error) {
	s.DB.RestoreSettings()
	defer s.DB.RestoreSettings()
	// Only the leading words are read here; a statement for DuckDB is
	// not tokenized whole.
	if c, ok := s.DB.cmds.lookup(sqltext.Keywords(stmt, 4)); ok {
		st := sqltext.Parse(stmt)
		return s.exec(ctx, c, &Statement{Statement: st, Keywords: c.Keywords, rest: st.AfterWords(len(c.Keywords))})
	}
	rr, err := s.DB.query(ctx, stmt)
	if err != nil {
		return nil, err
	}
	return &Result{Rows: rr}, nil
}

// Confirmed asks for confirmation of a destructive action: yes with --yes,
// the person's answer interactively, and an error otherwise.
func (s *Session) Confirmed(question, flagHint string) (bool, error) {
	if s.Yes {
		return true, nil
	}
	if s.Confirm != nil {
		return s.Confirm(question), nil
	}
	return false, fmt.Errorf("%s needs confirmation: run it interactively or pass %s", question, flagHint)
}
