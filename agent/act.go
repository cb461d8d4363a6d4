package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/apsql/apsql/engine"
)

// The refusals of run; each matches ErrRefused too.
var (
	ErrRefused       = errors.New("run refused")
	ErrNoCode        = errors.New("no confirmation code")
	ErrUnknownCode   = errors.New("unknown, used or expired confirmation code")
	ErrOtherStmt     = errors.New("the code was given for another statement")
	ErrMirrorChanged = errors.New("the mirror changed since the EXPLAIN")
	ErrPlanChanged   = errors.New("the plan changed since the EXPLAIN")
	ErrNotAction     = errors.New("not an action statement")
)

func refused(cause error, format string, args ...any) error {
	return fmt.Errorf("%s%w", fmt.Sprintf(format, args...), quiet{errors.Join(ErrRefused, cause)})
}

// quiet wraps an error for errors.Is without adding to the message.
type quiet struct{ err error }

func (q quiet) Error() string { return "" }
func (q quiet) Unwrap() error { return q.err }

// Confirmation codes: one per EXPLAIN, good for one run of exactly that
// statement against exactly that mirror, for codeTTL; at most maxCodes
// are kept (the oldest go first).
const (
	codeTTL  = 30 * time.Minute
	maxCodes = 64
)

type codes struct {
	mu sync.Mutex
	m  map[string]plan
}

// plan is what an EXPLAIN showed: the statement, a hash of its rows, and
// the mirror's fingerprint then.
type plan struct {
	stmt   string
	rows   string // sha256 of the EXPLAIN's rows
	n      int64  // and their number
	mirror string // fingerprint of the mirror
	at     time.Time
}

func newCodes() *codes { return &codes{m: map[string]plan{}} }

func (c *codes) issue(p plan) string {
	b := make([]byte, 16)
	rand.Read(b)
	code := hex.EncodeToString(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k, v := range c.m {
		if now.Sub(v.at) > codeTTL {
			delete(c.m, k)
		}
	}
	for len(c.m) >= maxCodes {
		oldest := ""
		for k, v := range c.m {
			if oldest == "" || v.at.Before(c.m[oldest].at) {
				oldest = k
			}
		}
		delete(c.m, oldest)
	}
	p.at = now
	c.m[code] = p
	return code
}

// take uses code up, whatever comes of it, and returns its plan.
func (c *codes) take(code string) (plan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[code]
	delete(c.m, code)
	return p, ok && time.Since(p.at) <= codeTTL
}

// notActions are apsql statements with an EXPLAIN that are not actions on
// the library (FIND reads; SYNC has its own tool).
var notActions = map[string]bool{"FIND": true, "SYNC": true}

// actionStatement checks that text is one action statement with an
// EXPLAIN and returns it without a leading EXPLAIN or a trailing ';'.
func actionStatement(reg *engine.Registry, text string) (string, error) {
	stmt, err := oneStatement(text)
	if err != nil {
		return "", err
	}
	if kw := engine.Keywords(stmt, 1); len(kw) == 1 && kw[0] == "EXPLAIN" {
		stmt = strings.TrimSpace(engine.AfterKeywords(stmt, 1))
	}
	c, ok := reg.Lookup(stmt)
	if !ok || notActions[c.Keywords[0]] || c.Keywords[0] == "EXPLAIN" {
		return "", fmt.Errorf("%q is not an action statement%w; give one of: %s (read with the query and find tools, refresh with sync)",
			clipStmt(stmt), quiet{ErrNotAction}, strings.Join(actionSyntaxes(reg), "; "))
	}
	if x, ok := reg.Lookup("EXPLAIN " + stmt); !ok || !slices.Equal(x.Keywords[1:], c.Keywords) {
		return "", fmt.Errorf("%s has no EXPLAIN, so it cannot run here%w", strings.Join(c.Keywords, " "), quiet{ErrNotAction})
	}
	return stmt, nil
}

// actionSyntaxes lists the statements explain takes.
func actionSyntaxes(reg *engine.Registry) []string {
	var out []string
	for _, c := range reg.All() {
		if c.Keywords[0] != "EXPLAIN" || len(c.Keywords) < 2 || notActions[c.Keywords[1]] {
			continue
		}
		out = append(out, strings.TrimPrefix(c.Syntax, "EXPLAIN "))
	}
	return out
}

func clipStmt(s string) string {
	s = oneLine(s)
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// fingerprint sums up the mirror: a SYNC that changed anything, an
// action, a new album member or person changes it.
const fingerprintSQL = `SELECT concat_ws('|',
  (SELECT count(*) FROM nodes), (SELECT max("syncedAt") FROM nodes), (SELECT max("modifiedDate") FROM nodes),
  (SELECT count(*) FROM trash), (SELECT max("syncedAt") FROM trash),
  (SELECT count(*) FROM folders), (SELECT count(*) FROM albums), (SELECT max("modifiedDate") FROM albums),
  (SELECT count(*) FROM album_members), (SELECT count(*) FROM people),
  (SELECT max(seq) FROM actions_log), (SELECT count(*) FROM actions_log),
  (SELECT max(sync_id) FROM changes), (SELECT count(*) FROM changes))`

func fingerprint(ctx context.Context, db *engine.DB) (string, error) {
	var fp string
	if err := db.QueryRow(ctx, fingerprintSQL).Scan(&fp); err != nil {
		return "", fmt.Errorf("read the mirror's state: %w", err)
	}
	return fp, nil
}

type explainIn struct {
	Statement string `json:"statement" jsonschema:"one apsql action statement, e.g. TRASH WHERE size < 20000 or ALBUM 'Best of 2019' ADD FILTER 'timeYear:(2019) AND favorite:(true)'"`
}

// Plan is an EXPLAIN's answer (and, with Ran, a run's).
type Plan struct {
	Statement string         `json:"statement" jsonschema:"the statement explained (or run)"`
	Table     Table          `json:"plan" jsonschema:"one row per node or file: what would be (or was) done"`
	Counts    map[string]int `json:"counts,omitempty" jsonschema:"rows by status"`
	Summary   string         `json:"summary,omitempty" jsonschema:"one line about the whole statement"`
	Code      string         `json:"code,omitempty" jsonschema:"the confirmation code: give it to run, with the same statement, to do exactly this"`
	ExpiresIn string         `json:"expires_in,omitempty" jsonschema:"how long the code stays valid"`
	Failed    int            `json:"failed,omitempty" jsonschema:"rows that failed (run)"`
}

func (s *Server) explain(ctx context.Context, req *mcp.CallToolRequest, in explainIn) (*mcp.CallToolResult, *Plan, error) {
	p := &Plan{}
	err := s.with(ctx, func(sess *engine.Session) error {
		stmt, err := actionStatement(sess.DB.Commands(), in.Statement)
		if err != nil {
			return err
		}
		p.Statement = stmt
		fp, err := fingerprint(ctx, sess.DB)
		if err != nil {
			return err
		}
		hash, err := s.runPlan(ctx, sess, "EXPLAIN "+stmt, p)
		if err != nil {
			return err
		}
		p.Code = s.codes.issue(plan{stmt: stmt, rows: hash, n: p.Table.Total, mirror: fp})
		p.ExpiresIn = codeTTL.String()
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	head := fmt.Sprintf("EXPLAIN %s\n%s\n", p.Statement, p.Summary)
	res := s.tableResult(&p.Table, head)
	tc := res.Content[0].(*mcp.TextContent)
	tc.Text += fmt.Sprintf("Nothing was changed. Show this plan to the user; to do exactly this, call run with statement %q and code %q (valid once, for %s, while the mirror does not change).\n", p.Statement, p.Code, codeTTL)
	return res, p, nil
}

type runIn struct {
	Statement string `json:"statement" jsonschema:"the statement, exactly as explain returned it"`
	Code      string `json:"code,omitempty" jsonschema:"the confirmation code explain returned for this statement"`
}

func (s *Server) run(ctx context.Context, req *mcp.CallToolRequest, in runIn) (*mcp.CallToolResult, *Plan, error) {
	if strings.TrimSpace(in.Code) == "" {
		return nil, nil, refused(ErrNoCode, "run needs the code explain gave for this statement: call explain first, show the plan to the user, then run with its code")
	}
	p := &Plan{}
	err := s.with(ctx, func(sess *engine.Session) error {
		want, ok := s.codes.take(strings.TrimSpace(in.Code))
		if !ok {
			return refused(ErrUnknownCode, "code %q is unknown, used already, or expired (each EXPLAIN's code runs once, within %s): call explain again", in.Code, codeTTL)
		}
		stmt, err := actionStatement(sess.DB.Commands(), in.Statement)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(oneLine(stmt)), []byte(oneLine(want.stmt))) != 1 {
			return refused(ErrOtherStmt, "the code was given for %q, not for %q; the code is now used up: call explain again", clipStmt(want.stmt), clipStmt(stmt))
		}
		fp, err := fingerprint(ctx, sess.DB)
		if err != nil {
			return err
		}
		if fp != want.mirror {
			return refused(ErrMirrorChanged, "the mirror changed since the EXPLAIN (a SYNC or another action), so the plan may select other nodes: call explain again and show the new plan")
		}
		// The statement's plan now, against the same mirror: the same
		// rows, or nothing runs (a target with now() in it, or a
		// service-side listing of a folder, can differ).
		check := &Plan{}
		hash, err := s.runPlan(ctx, sess, "EXPLAIN "+want.stmt, check)
		if err != nil {
			return err
		}
		if hash != want.rows {
			return refused(ErrPlanChanged, "the plan of %q is no longer the one explained (%d rows then, %d now, or other rows): call explain again and show the new plan", clipStmt(want.stmt), want.n, check.Table.Total)
		}
		p.Statement = want.stmt
		// The code is the confirmation (PURGE asks for one); a confirmed
		// action finishes even if the client goes away: it is
		// journaled, but a half-done TRASH would surprise.
		run := *sess
		run.Yes, run.Confirm, run.Interactive = true, nil, false
		run.Progress = s.progress(ctx, req, "run")
		_, err = s.runPlan(context.WithoutCancel(ctx), &run, want.stmt, p)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	head := fmt.Sprintf("%s\n%s\n", p.Statement, p.Summary)
	res := s.tableResult(&p.Table, head)
	if p.Failed > 0 {
		res.Content[0].(*mcp.TextContent).Text += fmt.Sprintf("%d rows failed (see detail); run the same statement again through explain to retry only those: what succeeded is skipped.\n", p.Failed)
	}
	return res, p, nil
}

// runPlan runs stmt on sess and fills p with its rows (the first
// defaultRows shown, all hashed and counted by status); it returns the
// hash of every row.
func (s *Server) runPlan(ctx context.Context, sess *engine.Session, stmt string, p *Plan) (string, error) {
	res, err := sess.Run(ctx, stmt)
	if err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(engine.Keywords(stmt, 2), " "), err)
	}
	p.Summary = s.scrubber().text(res.Summary)
	p.Failed = res.Failed
	h := sha256.New()
	if res.Rows == nil {
		p.Table = Table{Columns: []string{}, Rows: [][]any{}}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	defer res.Rows.Release()
	t := &p.Table
	sc := s.scrubber()
	hashed := hashing{rr: res.Rows, h: h}
	if err := collect(&hashed, t, defaultRows, sc); err != nil {
		return "", err
	}
	p.Counts = hashed.counts
	if t.Total > int64(t.Shown) {
		t.Truncated = true
		t.Note = fmt.Sprintf("truncated, %d rows total: %d shown; counts has every row by status", t.Total, t.Shown)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashing is a record reader that hashes every row it passes on and
// counts them by their status column.
type hashing struct {
	rr     array.RecordReader
	h      interface{ Write([]byte) (int, error) }
	counts map[string]int
}

func (r *hashing) Next() bool {
	if !r.rr.Next() {
		return false
	}
	rec := r.rr.RecordBatch()
	status := -1
	for i, f := range rec.Schema().Fields() {
		if f.Name == "status" {
			status = i
			if r.counts == nil {
				r.counts = map[string]int{}
			}
		}
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		for j := 0; j < int(rec.NumCols()); j++ {
			fmt.Fprintf(r.h, "%q\x1f", rec.Column(j).ValueStr(i))
		}
		r.h.Write([]byte{'\n'})
		if status >= 0 {
			r.counts[rec.Column(status).ValueStr(i)]++
		}
	}
	return true
}

func (r *hashing) Schema() *arrow.Schema          { return r.rr.Schema() }
func (r *hashing) RecordBatch() arrow.RecordBatch { return r.rr.RecordBatch() }
func (r *hashing) Record() arrow.RecordBatch      { return r.rr.RecordBatch() }
func (r *hashing) Err() error                     { return r.rr.Err() }
func (r *hashing) Retain()                        { r.rr.Retain() }
func (r *hashing) Release()                       { r.rr.Release() }

var _ array.RecordReader = (*hashing)(nil)
