package mirror

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/resultset"
	"github.com/apsql/apsql/sqltext"
)

// DEDUPE target KEEP policy [(PLAN 'id')] (issue 20 item 5): of each group
// of the target (duplicates, near_duplicates(...), or a query with the
// columns group_id and id) it keeps one member, chosen by the policy, and
// trashes the others through TRASH on that fixed set of ids (engine.WithIDs),
// so that the journal, the read-backs and the mirror's update are TRASH's.
// Right before sending, every keeper is read back from the service: a group
// whose keeper is no longer available there is skipped whole, so the last
// copy of a group is never trashed. EXPLAIN DEDUPE shows every member with
// the keeper marked, and a plan id (a hash of the groups, their keepers and
// what would be trashed); DEDUPE ... (PLAN 'id') refuses to run when the
// plan computed again differs.

// The errors of DEDUPE.
var (
	// ErrPlanChanged: DEDUPE ... (PLAN 'id') whose plan is no longer the
	// one of that id.
	ErrPlanChanged = errors.New("the groups changed since the EXPLAIN")
	// ErrKeeperGone: a group's keeper is in the trash or gone on the
	// service; the group is skipped (its rows' reason says so).
	ErrKeeperGone = errors.New("keeper not available on the service")
	// ErrKeeperUnchecked: a group's keeper could not be read back; the
	// group is skipped.
	ErrKeeperUnchecked = errors.New("keeper could not be checked on the service")
	// ErrDedupeSyntax: the statement is malformed.
	ErrDedupeSyntax = errors.New("dedupe")
)

// Row statuses of DEDUPE besides TRASH's (ok, skipped, failed): the
// keeper's, and a member that would be trashed (EXPLAIN).
const (
	DedupeKeep    = "keep"
	DedupePlanned = "planned"
	DedupeSkipped = "skipped"
)

// DedupePolicies are the policies of KEEP, in the order .help lists them.
var DedupePolicies = []string{"oldest", "newest", "largest", "highest_resolution", "in_most_albums", "favorite"}

const dedupeSyntax = "DEDUPE target KEEP oldest|newest|largest|highest_resolution|in_most_albums|favorite [(PLAN 'id')]"

// registerDedupe adds DEDUPE and EXPLAIN DEDUPE to reg.
func registerDedupe(reg *engine.Registry, client ClientFunc) {
	reg.Register(engine.Command{Keywords: []string{"DEDUPE"}, Syntax: dedupeSyntax,
		Help: "trash all but one member of each group (duplicates, near_duplicates(), or a query of group_id, id), keeping the one the policy picks",
		Exec: func(ctx context.Context, s *engine.Session, st *engine.Statement) (*engine.Result, error) {
			return runDedupe(ctx, s, st, client, false)
		}})
	reg.Register(engine.Command{Keywords: []string{"EXPLAIN", "DEDUPE"}, Syntax: "EXPLAIN " + dedupeSyntax,
		Help: "dry run of DEDUPE: every member of every group, the keeper marked, and the plan id; nothing is sent",
		Exec: func(ctx context.Context, s *engine.Session, st *engine.Statement) (*engine.Result, error) {
			return runDedupe(ctx, s, st, client, true)
		}})
}

// dedupeStmt is a parsed DEDUPE statement.
type dedupeStmt struct {
	target string // as written
	from   string // the FROM item that reads it
	policy string
	plan   string // PLAN 'id', or ""
}

func parseDedupe(st *engine.Statement) (dedupeStmt, error) {
	if st.IDs != nil {
		return dedupeStmt{}, fmt.Errorf("DEDUPE: %w", engine.ErrNoIDTarget)
	}
	a := st.Args()
	toks := a.Tokens()
	k := sqltext.FindWord(toks, "KEEP")
	if k < 0 {
		return dedupeStmt{}, fmt.Errorf("%w: missing KEEP: write %s", ErrDedupeSyntax, dedupeSyntax)
	}
	target, a := a.Cut(k)
	if target == "" {
		return dedupeStmt{}, fmt.Errorf("%w: missing target: write duplicates, near_duplicates(...) or (SELECT group_id, id ...) before KEEP", ErrDedupeSyntax)
	}
	a.Keyword("KEEP")
	w, err := a.Word()
	if err != nil {
		return dedupeStmt{}, fmt.Errorf("%w: KEEP: %v; the policies are %s", ErrDedupeSyntax, err, strings.Join(DedupePolicies, ", "))
	}
	d := dedupeStmt{target: target, policy: strings.ToLower(w)}
	known := false
	for _, p := range DedupePolicies {
		known = known || p == d.policy
	}
	if !known {
		return dedupeStmt{}, fmt.Errorf("%w: unknown policy KEEP %s; the policies are %s", ErrDedupeSyntax, w, strings.Join(DedupePolicies, ", "))
	}
	opts, err := a.Options("PLAN")
	if err != nil {
		return dedupeStmt{}, fmt.Errorf("%w: %v", ErrDedupeSyntax, err)
	}
	if !a.Done() {
		return dedupeStmt{}, fmt.Errorf("%w: unexpected %q at the end of the statement; write %s", ErrDedupeSyntax, a.Rest(), dedupeSyntax)
	}
	d.plan = strings.TrimSpace(opts["PLAN"])
	if _, ok := opts["PLAN"]; ok && (d.plan == "" || d.plan == "true") {
		return dedupeStmt{}, fmt.Errorf("%w: PLAN wants the plan id EXPLAIN DEDUPE printed, e.g. (PLAN '1a2b3c4d5e6f')", ErrDedupeSyntax)
	}
	d.from = target + " AS dedupe_target"
	return d, nil
}

// dedupeMember is one member of a group as the mirror holds it.
type dedupeMember struct {
	group         int64
	id, name      string
	kind, place   string // place: nodes, trash or "" (not in the mirror)
	size          int64
	width, height int64
	taken         time.Time // contentDate, else createdDate
	created       time.Time
	favorite      bool
	albums        []string
	nAlbums       int64

	keep   bool
	status string // keep, planned, skipped; TRASH's after a run
	reason string
}

// eligible: a file the mirror holds available, which DEDUPE may keep or
// trash.
func (m *dedupeMember) eligible() bool { return m.place == "nodes" && m.kind == "FILE" }

// dedupeGroup is one group: its members in the target's order (oldest
// first) and the keeper's index (-1: none eligible).
type dedupeGroup struct {
	id      int64
	members []*dedupeMember
	keeper  int
}

// dedupePlan is what DEDUPE would do.
type dedupePlan struct {
	groups []*dedupeGroup
	id     string
	trash  int   // members to trash
	bytes  int64 // their size
	active int   // groups with something to trash
}

// dedupeMembersSQL reads the target's members with what the policies
// compare, oldest first in each group.
const dedupeMembersSQL = `WITH t AS (
  SELECT DISTINCT CAST(group_id AS BIGINT) AS group_id, CAST(id AS VARCHAR) AS id FROM %s),
x AS (
  SELECT id, name, kind, size, width, height, coalesce(contentDate, createdDate) AS taken, createdDate, favorite, 'nodes' AS place
  FROM nodes WHERE id IN (SELECT id FROM t)
  UNION ALL
  SELECT id, name, kind, size, width, height, coalesce(contentDate, createdDate), createdDate, favorite, 'trash'
  FROM trash WHERE id IN (SELECT id FROM t) AND id NOT IN (SELECT id FROM nodes)),
am AS (
  SELECT m.id, string_agg(DISTINCT a.name, chr(31) ORDER BY a.name) AS albums, count(DISTINCT m.albumId) AS n
  FROM album_members m JOIN albums a ON a.id = m.albumId
  WHERE m.id IN (SELECT id FROM t) GROUP BY m.id)
SELECT t.group_id, t.id, coalesce(x.name, ''), coalesce(x.kind, ''), coalesce(x.place, ''), coalesce(x.size, 0),
  coalesce(x.width, 0), coalesce(x.height, 0), x.taken, x.createdDate, coalesce(x.favorite, false),
  coalesce(am.albums, ''), coalesce(am.n, 0)
FROM t LEFT JOIN x USING (id) LEFT JOIN am USING (id)
ORDER BY t.group_id, x.taken NULLS LAST, x.createdDate NULLS LAST, t.id`

// planDedupe reads the target's groups and picks each keeper.
func planDedupe(ctx context.Context, s *engine.Session, d dedupeStmt) (*dedupePlan, error) {
	db := s.DB
	rows, err := db.Query(ctx, fmt.Sprintf(dedupeMembersSQL, d.from))
	if err != nil {
		return nil, fmt.Errorf("dedupe: read the groups of %s: %w (the target must have the columns group_id, a whole number, and id: duplicates, near_duplicates(...) or (SELECT group_id, id ...))", clipText(d.target), err)
	}
	defer rows.Close()
	p := &dedupePlan{}
	in := map[string]int64{}
	for rows.Next() {
		m := &dedupeMember{}
		var taken, created sql.NullTime
		var albums string
		if err := rows.Scan(&m.group, &m.id, &m.name, &m.kind, &m.place, &m.size, &m.width, &m.height, &taken, &created, &m.favorite, &albums, &m.nAlbums); err != nil {
			return nil, fmt.Errorf("dedupe: read the groups: %w", err)
		}
		m.taken, m.created = taken.Time, created.Time
		if albums != "" {
			m.albums = strings.Split(albums, "\x1f")
		}
		if g, ok := in[m.id]; ok {
			return nil, fmt.Errorf("%w: node %s is in groups %d and %d of the target: a node may be in one group only", ErrDedupeSyntax, m.id, g, m.group)
		}
		in[m.id] = m.group
		if n := len(p.groups); n == 0 || p.groups[n-1].id != m.group {
			p.groups = append(p.groups, &dedupeGroup{id: m.group, keeper: -1})
		}
		g := p.groups[len(p.groups)-1]
		g.members = append(g.members, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dedupe: read the groups of %s: %w", clipText(d.target), err)
	}
	better := dedupeBetter(d.policy)
	h := sha256.New()
	var keys []string
	for _, g := range p.groups {
		for i, m := range g.members {
			if m.eligible() && (g.keeper < 0 || better(m, g.members[g.keeper])) {
				g.keeper = i
			}
		}
		var key strings.Builder
		for i, m := range g.members {
			switch {
			case i == g.keeper:
				m.keep, m.status, m.reason = true, DedupeKeep, keepReason(s, d.policy, m)
			case m.place == "trash":
				m.status, m.reason = DedupeSkipped, "already in the trash"
			case m.place == "":
				m.status, m.reason = DedupeSkipped, "not in the mirror: SYNC first"
			case m.kind != "FILE":
				m.status, m.reason = DedupeSkipped, "not a file ("+strings.ToLower(m.kind)+"): DEDUPE trashes files only"
			default:
				m.status = DedupePlanned
				m.reason = "a copy of " + g.members[g.keeper].id + ": TRASH"
				p.trash++
				p.bytes += m.size
			}
			fmt.Fprintf(&key, "%s=%s,", m.id, m.status)
		}
		if g.keeper >= 0 && len(g.members) > 1 {
			for _, m := range g.members {
				if m.status == DedupePlanned {
					p.active++
					break
				}
			}
		}
		keys = append(keys, key.String())
	}
	// The plan id: the groups (their members and what happens to each),
	// whatever their numbers and order.
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{'\n'})
	}
	p.id = hex.EncodeToString(h.Sum(nil))[:12]
	return p, nil
}

// keepReason says why m is its group's keeper.
func keepReason(s *engine.Session, policy string, m *dedupeMember) string {
	switch policy {
	case "largest":
		return s.Say("keep: largest (%v)", model.Size(m.size))
	case "highest_resolution":
		return fmt.Sprintf("keep: highest resolution (%d×%d)", m.width, m.height)
	case "in_most_albums":
		return fmt.Sprintf("keep: in most albums (%d)", m.nAlbums)
	case "favorite":
		if m.favorite {
			return "keep: favorite"
		}
		return "keep: no favorite, the oldest"
	case "newest":
		return "keep: newest"
	}
	return "keep: oldest"
}

// dedupeBetter returns whether a is to be kept rather than b under policy;
// ties go to the older (date taken, then upload), then the smaller id, so
// the keeper is the same on every run.
func dedupeBetter(policy string) func(a, b *dedupeMember) bool {
	older := func(a, b *dedupeMember) bool {
		if !a.taken.Equal(b.taken) {
			return !a.taken.IsZero() && (b.taken.IsZero() || a.taken.Before(b.taken))
		}
		if !a.created.Equal(b.created) {
			return !a.created.IsZero() && (b.created.IsZero() || a.created.Before(b.created))
		}
		return a.id < b.id
	}
	by := func(ka, kb int64, a, b *dedupeMember) bool {
		if ka != kb {
			return ka > kb
		}
		return older(a, b)
	}
	switch policy {
	case "newest":
		return func(a, b *dedupeMember) bool {
			if !a.taken.Equal(b.taken) {
				return a.taken.After(b.taken)
			}
			if !a.created.Equal(b.created) {
				return a.created.After(b.created)
			}
			return a.id < b.id
		}
	case "largest":
		return func(a, b *dedupeMember) bool { return by(a.size, b.size, a, b) }
	case "highest_resolution":
		return func(a, b *dedupeMember) bool {
			if pa, pb := a.width*a.height, b.width*b.height; pa != pb {
				return pa > pb
			}
			return by(a.size, b.size, a, b)
		}
	case "in_most_albums":
		return func(a, b *dedupeMember) bool { return by(a.nAlbums, b.nAlbums, a, b) }
	case "favorite":
		return func(a, b *dedupeMember) bool {
			if a.favorite != b.favorite {
				return a.favorite
			}
			return older(a, b)
		}
	}
	return older
}

var dedupeColumns = []resultset.Column{
	resultset.Col("group_id", resultset.Int64), resultset.Col("id", resultset.String), resultset.Col("name", resultset.String),
	resultset.Col("keep", resultset.Bool), resultset.Col("status", resultset.String), resultset.Col("reason", resultset.String),
	resultset.Col("size", resultset.Int64), resultset.Col("width", resultset.Int64), resultset.Col("height", resultset.Int64),
	resultset.Col("date", resultset.Timestamp), resultset.Col("albums", resultset.StringList), resultset.Col("favorite", resultset.Bool),
}

// rows returns the plan's rows.
func (p *dedupePlan) rows() *resultset.Builder {
	b := resultset.New(dedupeColumns...)
	for _, g := range p.groups {
		for _, m := range g.members {
			var name, size, w, h any
			if m.place != "" {
				name, size = m.name, m.size
				if m.width > 0 && m.height > 0 {
					w, h = m.width, m.height
				}
			}
			albums := m.albums
			if albums == nil {
				albums = []string{}
			}
			b.Append(g.id, m.id, name, m.keep, m.status, m.reason, size, w, h, m.taken, albums, m.favorite)
		}
	}
	return b
}

// runDedupe runs DEDUPE or its EXPLAIN.
func runDedupe(ctx context.Context, s *engine.Session, st *engine.Statement, client ClientFunc, explain bool) (*engine.Result, error) {
	start := time.Now()
	d, err := parseDedupe(st)
	if err != nil {
		return nil, err
	}
	p, err := planDedupe(ctx, s, d)
	if err != nil {
		return nil, err
	}
	if d.plan != "" && d.plan != p.id {
		return nil, fmt.Errorf("dedupe: the plan is %s now, not %s as explained: %w (a SYNC, SYNC HASHES or another action changed them); nothing was sent: run EXPLAIN DEDUPE again and review the new plan",
			p.id, d.plan, ErrPlanChanged)
	}
	stmt := "DEDUPE " + d.target + " KEEP " + d.policy
	if explain {
		sum := s.Say("explain dedupe: %s: %v to trash (%v) in %s; plan %s: run %s (PLAN '%s') to do exactly this; nothing was sent",
			countGroups(s, len(p.groups)), model.Count(p.trash), model.Size(p.bytes), countGroups(s, p.active), p.id, stmt, p.id)
		return &engine.Result{Rows: p.rows().Reader(), Summary: sum, Plan: p.id}, nil
	}
	if p.trash == 0 {
		return &engine.Result{Rows: p.rows().Reader(), Summary: fmt.Sprintf("dedupe: %s, nothing to trash (plan %s)", countGroups(s, len(p.groups)), p.id), Plan: p.id}, nil
	}
	if err := s.DB.Writable(); err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	if s.Interactive && !s.Yes {
		q := s.Say("dedupe: trash %v %s (%v) in %s, keeping the %s of each?", model.Count(p.trash),
			pluralWord(p.trash, "copy", "copies"), model.Size(p.bytes), countGroups(s, p.active), strings.ReplaceAll(d.policy, "_", " "))
		yes, err := s.Confirmed(q, "--yes")
		if err != nil {
			return nil, err
		}
		if !yes {
			return &engine.Result{Summary: "cancelled: nothing was sent"}, nil
		}
	}
	c, err := client(ctx)
	if err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	// Never the last copy: read every keeper back right before sending;
	// a group whose keeper is not available on the service is skipped.
	var keepers []string
	for _, g := range p.groups {
		if g.keeper >= 0 && hasPlanned(g) {
			keepers = append(keepers, g.members[g.keeper].id)
		}
	}
	found, gone, gerr := readKeepers(ctx, c, keepers)
	if errors.Is(gerr, fetch.ErrUnauthorized) || ctx.Err() != nil {
		return nil, fmt.Errorf("dedupe: read the keepers back: %w; nothing was sent", errors.Join(gerr, ctx.Err()))
	}
	var ids []string
	skippedGroups := 0
	for _, g := range p.groups {
		if g.keeper < 0 || !hasPlanned(g) {
			continue
		}
		k := g.members[g.keeper]
		var why error
		switch n, ok := found[k.id]; {
		case gone[k.id]:
			why = fmt.Errorf("%w: the service has no node %s (deleted since the last SYNC)", ErrKeeperGone, k.id)
		case !ok:
			why = fmt.Errorf("%w: %v", ErrKeeperUnchecked, gerr)
		case n.Status != "AVAILABLE":
			why = fmt.Errorf("%w: the service shows %s %s (trashed elsewhere since the last SYNC)", ErrKeeperGone, k.id, n.Status)
		}
		if why != nil {
			skippedGroups++
			for _, m := range g.members {
				if m.status == DedupePlanned || m.keep {
					m.status, m.reason = DedupeSkipped, "group skipped, nothing of it trashed: "+why.Error()+"; SYNC and run EXPLAIN DEDUPE again"
				}
			}
			continue
		}
		for _, m := range g.members {
			if m.status == DedupePlanned {
				ids = append(ids, m.id)
			}
		}
	}
	trashSum := ""
	failed := 0
	if len(ids) > 0 {
		// TRASH on the fixed set of ids: its confirmation was DEDUPE's.
		ts := *s
		ts.Yes, ts.Interactive, ts.Confirm = true, false, nil
		res, err := ts.Exec(ctx, engine.WithIDs("TRASH", ids))
		if err != nil {
			return nil, fmt.Errorf("dedupe: %w", err)
		}
		trashSum, failed = res.Summary, res.Failed
		if res.Rows != nil {
			outs, err := readOutcomes(res.Rows)
			res.Rows.Release()
			if err != nil {
				return nil, fmt.Errorf("dedupe: read TRASH's outcomes: %w", err)
			}
			for _, g := range p.groups {
				for _, m := range g.members {
					if o, ok := outs[m.id]; ok && m.status == DedupePlanned {
						m.status, m.reason = o[0], o[1]
					}
				}
			}
		}
	}
	var parts []string
	if skippedGroups > 0 {
		parts = append(parts, fmt.Sprintf("%s skipped (keeper not available on the service)", countGroups(s, skippedGroups)))
	}
	if trashSum != "" {
		parts = append(parts, trashSum)
	}
	sum := s.Say("dedupe: %s, %v sent to TRASH, %v %s read back (plan %s, %.1f s)", countGroups(s, len(p.groups)), model.Count(len(ids)),
		model.Count(len(keepers)), pluralWord(len(keepers), "keeper", "keepers"), p.id, time.Since(start).Seconds())
	if len(parts) > 0 {
		sum += "; " + strings.Join(parts, "; ")
	}
	_ = failed // counted again from the status column (engine.countFailed)
	return &engine.Result{Rows: p.rows().Reader(), Summary: sum, Held: true, Plan: p.id}, nil
}

// keeperReads is how many keepers are read back at once: the fetch
// client's adaptive limit (at most 16 requests) is the real bound.
const keeperReads = 16

// readKeepers reads ids back (GET /nodes/{id}), keeperReads at a time:
// found holds the nodes the service has, gone those it answered 404 for;
// err is the first other error (the others' ids are in neither).
func readKeepers(ctx context.Context, c *fetch.Client, ids []string) (found map[string]*fetch.Node, gone map[string]bool, err error) {
	found, gone = map[string]*fetch.Node{}, map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, keeperReads)
	defer wg.Wait()
	for _, id := range ids {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				err = ctx.Err()
			}
			return found, gone, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, gerr := c.GetNode(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(gerr, fetch.ErrNodeGone):
				gone[id] = true
			case gerr != nil:
				if err == nil {
					err = gerr
				}
			default:
				found[id] = n
			}
		}()
	}
	wg.Wait()
	return found, gone, err
}

func hasPlanned(g *dedupeGroup) bool {
	for _, m := range g.members {
		if m.status == DedupePlanned {
			return true
		}
	}
	return false
}

// readOutcomes reads TRASH's rows (id, name, status, detail) by id.
func readOutcomes(rr array.RecordReader) (map[string][2]string, error) {
	col := map[string]int{}
	for i, f := range rr.Schema().Fields() {
		col[f.Name] = i
	}
	for _, c := range []string{"id", "status", "detail"} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("no column %s", c)
		}
	}
	out := map[string][2]string{}
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := range int(rec.NumRows()) {
			id, err := stringAt(rec.Column(col["id"]), i)
			if err != nil {
				return nil, err
			}
			st, err := stringAt(rec.Column(col["status"]), i)
			if err != nil {
				return nil, err
			}
			det, err := stringAt(rec.Column(col["detail"]), i)
			if err != nil {
				return nil, err
			}
			out[id] = [2]string{st, det}
		}
	}
	return out, rr.Err()
}

func countGroups(s *engine.Session, n int) string {
	return s.Say("%v %s", model.Count(n), pluralWord(n, "group", "groups"))
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func clipText(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
