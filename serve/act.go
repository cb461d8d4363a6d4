package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/engine"
)

// actionRequest is a POST of the selection bar. The statement is built
// here from its parts, each checked and quoted; nothing the page sends is
// pasted into SQL as it is, and selected ids are handed to the action as
// ids (engine.WithIDs), never written into SQL text to be parsed back.
type actionRequest struct {
	Action string   `json:"action"` // trash, album, download
	IDs    []string `json:"ids"`
	// All selects the whole result of the query with these grid
	// parameters (q, year, month, make, model, label) instead of IDs.
	All     map[string]string `json:"all"`
	Album   string            `json:"album"`
	Dir     string            `json:"dir"`
	Confirm string            `json:"confirm"`
	// Dedupe is the Duplicates view's DEDUPE (dedupe.go).
	Dedupe *dedupeRequest `json:"dedupe"`
}

// maxSelected bounds a selection sent as ids (a larger one is "select all").
const maxSelected = 20000

// maxRows bounds the rows of an EXPLAIN or a result sent to the page.
const maxRows = 300

type actionAnswer struct {
	Statement string         `json:"statement"`
	Columns   []string       `json:"columns"`
	Rows      [][]any        `json:"rows"`
	Total     int            `json:"total"` // rows in all
	Counts    map[string]int `json:"counts,omitempty"`
	Summary   string         `json:"summary,omitempty"`
	Confirm   string         `json:"confirm,omitempty"`
	// Plan is the id of the plan an EXPLAIN showed, when its statement
	// takes one (DEDUPE): the statement confirmed names it.
	Plan string `json:"plan,omitempty"`
}

func (s *Server) handleExplain(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, true)
}

func (s *Server) handleRun(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, false)
}

func (s *Server) action(w http.ResponseWriter, r *http.Request, explain bool) {
	var req actionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.writeError(w, r, badRequest("bad request body: %v", err))
		return
	}
	ctx := r.Context()
	p, err := s.statement(ctx, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	stmt := p.text
	if !explain && !s.confirms.take(req.Confirm, stmt) {
		s.writeError(w, r, &apiError{status: http.StatusConflict, msg: "this action was not confirmed after its EXPLAIN, or it ran already with that confirmation, or the selection changed since: review it again"})
		return
	}
	if explain {
		p = p.explain()
	} else {
		// A confirmed action finishes even if the page goes away: it is
		// journaled, but a half-done TRASH would surprise.
		ctx = context.WithoutCancel(ctx)
	}
	ans := &actionAnswer{Statement: stmt}
	err = s.db.with(ctx, func(db *engine.DB) error {
		res, err := p.run(ctx, s.opts.Session)
		if err != nil {
			return err
		}
		ans.Summary = res.Summary
		ans.Plan = res.Plan
		if res.Rows != nil {
			defer res.Rows.Release()
			return collectRows(res.Rows, ans, p.limit())
		}
		return nil
	})
	if !explain {
		// The mirror changed (or may have): every cached result is stale.
		s.results.invalidate()
	}
	if err != nil {
		s.writeError(w, r, badRequest("%s: %v", firstWord(stmt), err))
		return
	}
	if explain {
		if ans.Plan != "" {
			// What is confirmed is this plan: run refuses another.
			stmt = withPlan(stmt, ans.Plan)
			ans.Statement = stmt
		}
		ans.Confirm = s.confirms.issue(stmt)
	}
	s.writeJSON(w, ans)
}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

// prepared is an action of the selection bar, ready to run: text is the
// statement as shown to the person (and confirmed); the action runs from
// exec and ids, the statement without its target and the selected ids,
// or, for a whole result, from text.
type prepared struct {
	text string
	exec string   // the statement without its target, when ids is not nil
	ids  []string // the target, selected one by one
	rows int      // the rows sent to the page; 0 for maxRows
}

// limit is how many rows of p's result go to the page.
func (p prepared) limit() int {
	if p.rows > 0 {
		return p.rows
	}
	return maxRows
}

// explain returns the EXPLAIN of p.
func (p prepared) explain() prepared {
	p.text = "EXPLAIN " + p.text
	if p.ids != nil {
		p.exec = "EXPLAIN " + p.exec
	}
	return p
}

// run runs p in sess.
func (p prepared) run(ctx context.Context, sess *engine.Session) (*engine.Result, error) {
	if p.ids != nil {
		return sess.Exec(ctx, engine.WithIDs(p.exec, p.ids))
	}
	return sess.Run(ctx, p.text)
}

// statement builds the action's statement from req.
func (s *Server) statement(ctx context.Context, req actionRequest) (prepared, error) {
	var target string
	var ids []string
	if req.Action == "dedupe" || req.Dedupe != nil {
		if req.Action != "dedupe" || req.Dedupe == nil || req.All != nil || len(req.IDs) > 0 {
			return prepared{}, badRequest("the action dedupe takes dedupe {target, policy}, and no ids or all")
		}
		return dedupeStatement(*req.Dedupe)
	}
	switch {
	case req.All != nil && len(req.IDs) > 0:
		return prepared{}, badRequest("give ids or all, not both")
	case req.All != nil:
		v := url.Values{}
		for k, x := range req.All {
			v.Set(k, x)
		}
		q, err := parseQuery(v)
		if err != nil {
			return prepared{}, err
		}
		res, err := s.results.get(q)
		if err == nil {
			err = res.wait(ctx)
		}
		if err != nil {
			return prepared{}, err
		}
		// The table's name is the server's own; the target reads the ids
		// the grid shows, as they were when the query ran.
		target = "(SELECT id FROM temp." + res.table + ")"
	default:
		if len(req.IDs) == 0 {
			return prepared{}, badRequest("nothing selected")
		}
		if len(req.IDs) > maxSelected {
			return prepared{}, badRequest("%d ids selected: at most %d one by one; use Select all for a whole result", len(req.IDs), maxSelected)
		}
		seen := make(map[string]bool, len(req.IDs))
		ids = make([]string, 0, len(req.IDs))
		parts := make([]string, 0, len(req.IDs))
		for _, id := range req.IDs {
			if !validID.MatchString(id) {
				return prepared{}, badRequest("not a node id: %q", id)
			}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
				parts = append(parts, engine.Quote(id))
			}
		}
		// Only for the person to read: the action runs from ids.
		target = strings.Join(parts, ", ")
	}
	// head and tail are the statement before and after its target.
	var head, tail string
	switch req.Action {
	case "trash":
		head = "TRASH"
	case "album":
		name := strings.TrimSpace(req.Album)
		if err := checkText("album name", name, 1000); err != nil {
			return prepared{}, err
		}
		head = "ALBUM " + engine.Quote(name) + " ADD"
	case "download":
		dir := strings.TrimSpace(req.Dir)
		if dir == "" {
			dir = s.opts.DownloadDir
		}
		if err := checkText("download folder", dir, 4096); err != nil {
			return prepared{}, err
		}
		head, tail = "DOWNLOAD", " TO "+engine.Quote(dir)
	default:
		return prepared{}, badRequest("unknown action %q: want trash, album, download or dedupe", req.Action)
	}
	return prepared{text: head + " " + target + tail, exec: head + tail, ids: ids}, nil
}

// checkText refuses an empty name, one too long, or one with control
// characters.
func checkText(what, s string, max int) error {
	if s == "" {
		return badRequest("the %s is empty", what)
	}
	if len(s) > max {
		return badRequest("the %s is longer than %d bytes", what, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return badRequest("the %s holds a control character", what)
		}
	}
	return nil
}

// collectRows puts the first maxRows rows of rr in ans and counts them all
// (by status, when there is a status column).
func collectRows(rr array.RecordReader, ans *actionAnswer, limit int) error {
	for _, f := range rr.Schema().Fields() {
		ans.Columns = append(ans.Columns, f.Name)
	}
	status := -1
	for i, c := range ans.Columns {
		if c == "status" {
			status = i
			ans.Counts = map[string]int{}
		}
	}
	ans.Rows = [][]any{}
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			ans.Total++
			if status >= 0 {
				ans.Counts[rec.Column(status).ValueStr(i)]++
			}
			if len(ans.Rows) >= limit {
				continue
			}
			row := make([]any, rec.NumCols())
			for j := range row {
				if col := rec.Column(j); col.IsValid(i) {
					row[j] = col.GetOneForMarshal(i)
				}
			}
			ans.Rows = append(ans.Rows, row)
		}
	}
	return rr.Err()
}
