package actions

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/resultset"
)

// unknownOutcome starts the detail of a failure whose effect on the service
// is not known (the request may have been applied; ReasonUnknown): a
// re-run reads the node's state back before it sends again.
const unknownOutcome = "outcome unknown"

// notSent is the detail of the nodes an interrupted statement never sent.
const notSent = "not sent: interrupted"

// Outcome is what happened to one node or file.
type Outcome struct {
	ID     string // node id; "" for a file that has none
	Name   string // node name, or the local path of an uploaded file
	Status Status
	// Reason says why, for decisions and re-runs (the journal's reason
	// column); Detail says it for people.
	Reason Reason
	Detail string
	// Target is the journal's target column; ID when empty.
	Target string
}

// gone reports a node found not to be on the service: writing the
// outcome deletes it from the local tables too.
func (o Outcome) gone() bool { return o.Reason == ReasonGone }

// goneOutcome is the row of a node the service answered it does not have
// (404) when req was sent: it is skipped, and deleted from the mirror.
func goneOutcome(id, name, req, why string) Outcome {
	return Outcome{ID: id, Name: name, Status: StatusSkipped, Reason: ReasonGone, Detail: joinDetail(req, goneDetail+" ("+why+")")}
}

// dropGone deletes the nodes of gone outcomes from nodes and trash, so
// that the mirror matches the service; nil when there are none. Those
// that leave nodes are recorded in changes as removed by the service
// (by_apsql false: they vanished behind apsql's back, the statement
// merely found it), as the SYNC that would otherwise find them missing
// records them.
func dropGone(ch *mirror.ActionChanges, outs []Outcome) func(ctx context.Context, tx *sql.Tx) error {
	var ids []string
	for _, o := range outs {
		if o.gone() && o.ID != "" {
			ids = append(ids, o.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	in := idList(ids)
	stmts := append([]string{`DELETE FROM nodes WHERE id IN ` + in, `DELETE FROM trash WHERE id IN ` + in}, forgetSQL(in)...)
	return func(ctx context.Context, tx *sql.Tx) error {
		if err := ch.Found().Nodes(ctx, tx, "nodes", mirror.ChangeRemoved, ids); err != nil {
			return err
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}
}

// forgetSQL returns the statements that take nodes no longer on the
// service (purged, gone; the id list in) out of the tables derived from
// them, as the service's listings no longer show them: album_members, with
// each album's count lowered by the members it lost, and the labels of
// those nodes.
func forgetSQL(in string) []string {
	return []string{
		`UPDATE albums SET count = greatest(0, count - (SELECT count(*) FROM album_members m WHERE m.albumId = albums.id AND m.id IN ` + in + `))
  WHERE id IN (SELECT albumId FROM album_members WHERE id IN ` + in + `)`,
		`DELETE FROM album_members WHERE id IN ` + in,
		`DELETE FROM labels WHERE source = 'node' AND id IN ` + in,
	}
}

// both runs a, then b; either may be nil.
func both(a, b func(context.Context, *sql.Tx) error) func(context.Context, *sql.Tx) error {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		if err := a(ctx, tx); err != nil {
			return err
		}
		return b(ctx, tx)
	}
}

// run is the state of one action statement: its journal sequence, its
// outcomes and its counters. record is safe for concurrent use by workers.
type run struct {
	s      *engine.Session
	action string // journal action: "TRASH", "ALBUM ADD", "EXPLAIN TRASH", ...
	// explain is set for EXPLAIN, which sends only reads and journals
	// nothing.
	explain bool
	// changes records the statement's changes of the mirror (one sync_id).
	changes *mirror.ActionChanges

	mu  sync.Mutex // serialises the database and the fields below
	seq int64
	// firstSeq is the journal's last seq before this statement.
	firstSeq int64
	outcomes []Outcome
	counts   map[Status]int
	// ingesters insert node batches, one per table, made on first use.
	ingesters map[string]*engine.Ingester

	requests atomic.Int64 // requests sent (not counting retries)
	// intended counts the ids journaled as about to be sent (intend).
	intended atomic.Int64
	// journalErr is the first failure to write the journal: the statement
	// fails (exit 1) whatever its rows say.
	journalErr error
	start      time.Time
	// order, when set, is each id's place in the target: concurrent work
	// finishes in any order, the result rows come in the target's. Places
	// are even; an odd one follows the node before it (a Live Photo's
	// video after its still).
	order map[string]int
}

// orderBy makes the result rows follow items' order.
func (r *run) orderBy(items []item) {
	r.order = make(map[string]int, len(items))
	for i, it := range items {
		r.order[it.ID] = 2 * i
	}
}

// newRun starts the journal of one statement; with explain its action
// is journaled as "EXPLAIN action".
func newRun(ctx context.Context, s *engine.Session, action string, explain bool) (*run, error) {
	if explain {
		action = "EXPLAIN " + action
	} else if err := s.DB.Writable(); err != nil {
		// Nothing may be sent that the journal could not record.
		return nil, fmt.Errorf("%s: %w", strings.ToLower(action), err)
	}
	r := &run{s: s, action: action, explain: explain, changes: mirror.NewActionChanges(action), counts: map[Status]int{}, start: time.Now()}
	if err := s.DB.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM actions_log`).Scan(&r.seq); err != nil {
		return nil, fmt.Errorf("read actions_log: %w", err)
	}
	r.firstSeq = r.seq
	return r, nil
}

// record journals outcomes and, in the same transaction, runs apply (the
// local tables' update for what succeeded; nil for none) and deletes the
// nodes of gone outcomes. It runs even when ctx is cancelled: what was
// done must be written down.
func (r *run) record(ctx context.Context, apply func(ctx context.Context, tx *sql.Tx) error, outs ...Outcome) error {
	return r.recordPut(ctx, nil, nil, apply, outs)
}

// recordPut is record with put (nodes the service answered, put into the
// mirror and recorded in changes) run first in the same transaction, so
// that a node's row, its change rows and its outcome land together or not
// at all: a crash in between cannot leave a mirrored node whose change no
// one records. When put itself fails, the transaction is rolled back and
// the outcomes unput returns (which say why their nodes are missing) are
// journaled alone, with apply.
func (r *run) recordPut(ctx context.Context, put func(ctx context.Context, tx *sql.Tx) error, unput func(error) []Outcome, apply func(ctx context.Context, tx *sql.Tx) error, outs []Outcome) error {
	apply = both(apply, dropGone(r.changes, outs))
	if len(outs) == 0 && apply == nil && put == nil {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	var putErr error
	all := apply
	if put != nil {
		all = both(func(ctx context.Context, tx *sql.Tx) error {
			putErr = put(ctx, tx)
			return putErr
		}, apply)
	}
	err := r.write(ctx, all, outs)
	if putErr != nil {
		outs = unput(putErr)
		err = r.write(ctx, apply, outs)
	}
	r.outcomes = append(r.outcomes, outs...)
	for _, o := range outs {
		r.counts[o.Status]++
	}
	if err != nil {
		if r.journalErr == nil {
			r.journalErr = err
		}
		return fmt.Errorf("%s: %w; the local tables may now differ from the service: run SYNC", strings.ToLower(r.action), err)
	}
	return nil
}

// errJournal marks a journal that could not be written before sending:
// what it would have recorded was not sent, and the statement fails.
var errJournal = errors.New("the journal (actions_log) could not be written before sending")

// intend journals, durably (a committed transaction), that a request for
// targets is about to be sent with req. Every request is journaled before
// it goes: when this fails (a full disk, a WAL that cannot be written),
// the caller must send nothing.
func (r *run) intend(ctx context.Context, req string, targets ...string) error {
	if len(targets) == 0 {
		return nil
	}
	outs := make([]Outcome, len(targets))
	for i, t := range targets {
		outs[i] = Outcome{ID: t, Status: statusSending, Detail: req + ": about to be sent; the next entry gives the outcome"}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.write(context.WithoutCancel(ctx), nil, outs); err != nil {
		err = fmt.Errorf("%w (%v), so nothing more was sent; free space or fix the database's folder, then run the statement again", errJournal, err)
		if r.journalErr == nil {
			r.journalErr = err
		}
		return err
	}
	r.intended.Add(int64(len(targets)))
	return nil
}

// write journals outs and runs apply in one transaction; r.mu is held.
func (r *run) write(ctx context.Context, apply func(ctx context.Context, tx *sql.Tx) error, outs []Outcome) error {
	at := time.Now().UTC()
	seq := r.seq
	err := r.s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if apply != nil {
			if err := apply(ctx, tx); err != nil {
				return fmt.Errorf("update the local tables: %w", err)
			}
		}
		for lo := 0; lo < len(outs); lo += 100 {
			hi := min(lo+100, len(outs))
			var b strings.Builder
			b.WriteString(`INSERT INTO actions_log (seq, "at", action, target, status, detail, reason) VALUES `)
			args := make([]any, 0, 7*(hi-lo))
			for k, o := range outs[lo:hi] {
				if k > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
				seq++
				t := o.Target
				if t == "" {
					t = o.ID
				}
				var reason any
				if o.Reason != ReasonNone {
					reason = string(o.Reason)
				}
				args = append(args, seq, at, r.action, t, string(o.Status), o.Detail, reason)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("write actions_log: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.seq = seq
	return nil
}

// add records outcomes in the result only (EXPLAIN, which journals nothing).
func (r *run) add(outs ...Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, outs...)
	for _, o := range outs {
		r.counts[o.Status]++
	}
}

// count returns how many outcomes have status st.
func (r *run) count(st Status) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[st]
}

// rowsColumns are the columns of every action's result.
var rowsColumns = []resultset.Column{
	resultset.Col("id", resultset.String),
	resultset.Col("name", resultset.String),
	resultset.Col("status", resultset.String),
	resultset.Col("detail", resultset.String),
}

// result returns the outcome rows and a summary line: "trash: 12 ok, 1
// skipped, 2 failed in 1 request (0.3 s)" plus extra, when given.
func (r *run) result(interrupted bool, extra string) *engine.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.order != nil {
		rank := func(o Outcome) int {
			if i, ok := r.order[o.ID]; ok {
				return i
			}
			return 2 * len(r.order)
		}
		sort.SliceStable(r.outcomes, func(i, j int) bool { return rank(r.outcomes[i]) < rank(r.outcomes[j]) })
	}
	b := resultset.New(rowsColumns...)
	for _, o := range r.outcomes {
		var id any
		if o.ID != "" {
			id = o.ID
		}
		b.Append(id, o.Name, string(o.Status), o.Detail)
	}
	var s strings.Builder
	s.WriteString(strings.ToLower(r.action))
	if interrupted {
		s.WriteString(" interrupted")
	}
	s.WriteString(": ")
	if len(r.outcomes) == 0 {
		s.WriteString("the target selects nothing; nothing to do")
	} else {
		parts := []string{}
		for _, st := range []Status{StatusOK, StatusSkipped, StatusConflict, StatusFailed, statusPlanned} {
			if n := r.counts[st]; n > 0 {
				parts = append(parts, r.s.Say("%v %s", model.Count(n), st))
			}
		}
		s.WriteString(strings.Join(parts, ", "))
	}
	if n := r.requests.Load(); n > 0 && r.explain {
		// Reads only: what the service holds now (a folder's subtree).
		s.WriteString(r.s.Say(" after %v read %s", model.Count(n), plural(n, "request", "requests")))
	} else if n > 0 {
		s.WriteString(r.s.Say(" in %v %s", model.Count(n), plural(n, "request", "requests")))
	}
	fmt.Fprintf(&s, " (%.1f s)", time.Since(r.start).Seconds())
	if extra != "" {
		s.WriteString("; " + extra)
	}
	if r.counts[StatusFailed] > 0 && !r.explain {
		s.WriteString("; re-run the statement to retry what failed (details in actions_log)")
	}
	if r.counts[StatusConflict] > 0 {
		s.WriteString("; choose for the conflicts with ON CONFLICT SKIP, RENAME or REPLACE")
	}
	// The exit status follows the rows' statuses: engine.Session.Run
	// counts them, for every statement alike. A journal that could not be
	// written fails the statement too, whatever its rows say.
	res := &engine.Result{Rows: b.Reader(), Summary: s.String()}
	if r.journalErr != nil {
		res.Failed = 1
	}
	return res
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// idList renders ids as a SQL list of literals: ('a', 'b').
func idList(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = engine.Quote(id)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// priorUnknown returns the ids whose latest journal entry for action is a
// failure of unknown outcome (ReasonUnknown), or a request about to be
// sent whose outcome was never written (statusSending): their state must
// be read back before they are sent again.
func priorUnknown(ctx context.Context, db *engine.DB, action string, ids []string) (map[string]bool, error) {
	out, err := selectedIDs(ctx, db, ids, `SELECT target FROM (
  SELECT target, status, reason, row_number() OVER (PARTITION BY target ORDER BY seq DESC) AS rn
  FROM actions_log WHERE action = ? AND target IN %s) WHERE rn = 1 AND (status = 'failed' AND reason = ? OR status = ?)`, action, string(ReasonUnknown), string(statusSending))
	if err != nil {
		return nil, fmt.Errorf("read actions_log: %w", err)
	}
	return out, nil
}

// selectedIDs runs query, whose %s takes a list of ids, over ids in
// chunks of 1,000, and returns the set of the first column's values.
func selectedIDs(ctx context.Context, db *engine.DB, ids []string, query string, args ...any) (map[string]bool, error) {
	out := map[string]bool{}
	for lo := 0; lo < len(ids); lo += 1000 {
		rows, err := db.Query(ctx, fmt.Sprintf(query, idList(ids[lo:min(lo+1000, len(ids))])), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// notInMirror returns the rows of the items the local tables do not hold:
// skipped when an earlier statement found the node gone from the service
// (and deleted it from the mirror), else failed with the fix (SYNC).
func notInMirror(ctx context.Context, db *engine.DB, items []item) ([]Outcome, error) {
	var ids []string
	for _, it := range items {
		if !it.known() {
			ids = append(ids, it.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	gone, err := selectedIDs(ctx, db, ids, `SELECT target FROM (
  SELECT target, status, reason, row_number() OVER (PARTITION BY target ORDER BY seq DESC) AS rn
  FROM actions_log WHERE target IN %s AND NOT starts_with(action, 'EXPLAIN')) WHERE rn = 1 AND status = 'skipped' AND reason = ?`, string(ReasonGone))
	if err != nil {
		return nil, fmt.Errorf("read actions_log: %w", err)
	}
	outs := make([]Outcome, len(ids))
	for i, id := range ids {
		if gone[id] {
			outs[i] = Outcome{ID: id, Status: StatusSkipped, Reason: ReasonGone, Detail: "not on the service (gone, found by an earlier statement); nothing sent"}
		} else {
			outs[i] = Outcome{ID: id, Status: StatusFailed, Reason: ReasonNotInMirror, Detail: "not in the local mirror: run SYNC, then run the statement again"}
		}
	}
	return outs, nil
}

// sink collects the outcomes of many small jobs (one per file) and writes
// them in batches, so that a DOWNLOAD or UPLOAD of thousands of files does
// not pay one transaction per file: a batch is written when it holds
// sinkBatch outcomes or is sinkDelay old, and on close. Nodes handed with
// an outcome (an upload's new node) go into nodes, and into changes, in
// the transaction that journals the outcomes (run.recordPut).
type sink struct {
	r      *run
	apply  func(ids []string) func(context.Context, *sql.Tx) error
	ctx    context.Context
	ch     chan sinkEntry
	done   chan struct{}
	err    error // the first failed flush; read after done
	failed atomic.Bool
}

type sinkEntry struct {
	o   Outcome
	raw []byte
	// into, when set, is the table raw goes into as the service showed
	// it (a node edit's answer, a node trashed with its folder), recorded
	// in changes by the action's apply where it is; otherwise raw is an
	// upload's node, put into nodes and recorded in changes (nodesPut).
	into string
}

// nodeID is the id of the entry's node: its outcome's, else the one in
// its JSON; "" when it has none.
func (e sinkEntry) nodeID() string {
	if e.o.ID != "" || e.raw == nil {
		return e.o.ID
	}
	var n struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(e.raw, &n) != nil {
		return ""
	}
	return n.ID
}

// nodesOf returns the node JSON of the entries that go into into ("":
// an upload's), one per node: a node handed
// more than once in a batch (files the service deduplicated into one node)
// goes into nodes once, as last answered, for a batch that holds an id
// twice fails on the primary key.
func nodesOf(entries []sinkEntry, into string) [][]byte {
	var raws [][]byte
	at := map[string]int{}
	for _, e := range entries {
		if e.raw == nil || e.into != into {
			continue
		}
		id := e.nodeID()
		if i, seen := at[id]; seen {
			raws[i] = e.raw
			continue
		}
		if id != "" {
			at[id] = len(raws)
		}
		raws = append(raws, e.raw)
	}
	return raws
}

// recordEntries journals the outcomes of buf and runs apply (nil for
// none) in one transaction that first puts the entries' nodes into their
// tables (run.recordPut): an upload's into nodes and changes (nodesPut),
// the others into the table they name. A node's row, its change rows and
// its outcome land together or not at all. When the nodes cannot be put,
// the outcomes are journaled alone with apply, each with a raw saying so.
func (r *run) recordEntries(ctx context.Context, buf []sinkEntry, apply func(context.Context, *sql.Tx) error) error {
	outs := make([]Outcome, len(buf))
	var tables []string
	for i, e := range buf {
		outs[i] = e.o
		if e.raw != nil && e.into != "" && !slices.Contains(tables, e.into) {
			tables = append(tables, e.into)
		}
	}
	unput := func(err error) []Outcome {
		for i, e := range buf {
			if e.raw != nil {
				into := e.into
				if into == "" {
					into = "nodes"
				}
				outs[i].Detail += "; adding it to " + into + " failed: " + err.Error() + " (run SYNC)"
			}
		}
		return outs
	}
	var batches []*nodeBatch
	defer func() {
		for _, b := range batches {
			b.release()
		}
	}()
	var into []string
	var err error
	for _, t := range tables {
		var b *nodeBatch
		if b, err = decodeNodes(nodesOf(buf, t)); err != nil {
			break
		}
		batches, into = append(batches, b), append(into, t)
	}
	var p *nodesPut
	if raws := nodesOf(buf, ""); err == nil && len(raws) > 0 {
		if p, err = r.nodesBefore(ctx, buf); err == nil {
			var b *nodeBatch
			if b, err = decodeNodes(raws); err == nil {
				batches, into = append(batches, b), append(into, "nodes")
			}
		}
	}
	if err != nil {
		return r.recordPut(ctx, nil, nil, apply, unput(err))
	}
	var put func(context.Context, *sql.Tx) error
	if len(batches) > 0 {
		put = func(ctx context.Context, tx *sql.Tx) error {
			for i, b := range batches {
				if err := r.putNodes(ctx, tx.ExecContext, into[i], b); err != nil {
					return err
				}
			}
			if p != nil {
				return p.record(ctx, tx)
			}
			return nil
		}
	}
	return r.recordPut(ctx, put, unput, apply, outs)
}

const (
	sinkBatch = 128
	sinkDelay = 200 * time.Millisecond
)

// newSink starts the writer; close must be called. apply, when not nil,
// returns the local tables' update for the ids of ok outcomes, run in the
// transaction that journals them.
func (r *run) newSink(ctx context.Context, apply func(ids []string) func(context.Context, *sql.Tx) error) *sink {
	k := &sink{r: r, apply: apply, ctx: context.WithoutCancel(ctx), ch: make(chan sinkEntry, 16*sinkBatch), done: make(chan struct{})}
	go k.loop()
	return k
}

// put hands over one outcome (and the node JSON to put into nodes, or
// nil). It returns the flush error once a flush has failed: the caller
// should stop.
func (k *sink) put(o Outcome, raw []byte) error {
	k.ch <- sinkEntry{o: o, raw: raw}
	return k.failure()
}

// putEntries hands over outcomes, each with its node JSON or none.
func (k *sink) putEntries(es ...sinkEntry) error {
	for _, e := range es {
		k.ch <- e
	}
	return k.failure()
}

// entries returns outs as sink entries without node JSON.
func entries(outs []Outcome) []sinkEntry {
	es := make([]sinkEntry, len(outs))
	for i, o := range outs {
		es[i] = sinkEntry{o: o}
	}
	return es
}

func (k *sink) failure() error {
	if k.failed.Load() {
		return errors.New("the journal could not be written; stopping")
	}
	return nil
}

// close writes what is left and returns the first error.
func (k *sink) close() error {
	close(k.ch)
	<-k.done
	return k.err
}

func (k *sink) loop() {
	defer close(k.done)
	var buf []sinkEntry
	t := time.NewTimer(sinkDelay)
	defer t.Stop()
	flush := func() {
		if len(buf) == 0 {
			return
		}
		var ok []string
		for _, e := range buf {
			if e.o.Status == StatusOK && e.o.ID != "" {
				ok = append(ok, e.o.ID)
			}
		}
		var apply func(context.Context, *sql.Tx) error
		if k.apply != nil {
			apply = k.apply(ok)
		}
		if err := k.r.recordEntries(k.ctx, buf, apply); err != nil && k.err == nil {
			k.err = err
			k.failed.Store(true)
		}
		buf = buf[:0]
	}
	for {
		select {
		case e, ok := <-k.ch:
			if !ok {
				flush()
				return
			}
			buf = append(buf, e)
			if len(buf) >= sinkBatch {
				flush()
			}
		case <-t.C:
			flush()
			t.Reset(sinkDelay)
		}
	}
}

// intentChunk is how many ids are journaled as about to be sent at once
// (one transaction) by poolJournaled: a chunk per request would cost a
// commit per node of a FAVORITE of thousands.
const intentChunk = 64

// poolJournaled runs pool over jobs chunk by chunk, journaling the ids of
// each chunk (ids of its jobs) as about to be sent with req before any of
// it is sent (run.intend). A chunk is at least intentChunk ids and n jobs,
// so the workers stay busy. When a chunk cannot be journaled, it and the
// rest are handed to skipped, and the error is returned as fatal.
func poolJournaled[T any](ctx context.Context, r *run, n int, jobs []T, ids func(T) []string, req string, do func(T) error, skipped func(T, string)) error {
	for lo := 0; lo < len(jobs); {
		hi, count := lo, 0
		for hi < len(jobs) && (count < intentChunk || hi-lo < n) {
			count += len(ids(jobs[hi]))
			hi++
		}
		if ctx.Err() != nil {
			for _, j := range jobs[lo:] {
				skipped(j, notSent)
			}
			return nil
		}
		var all []string
		for _, j := range jobs[lo:hi] {
			all = append(all, ids(j)...)
		}
		if err := r.intend(ctx, req, all...); err != nil {
			for _, j := range jobs[lo:] {
				skipped(j, "not sent: "+err.Error())
			}
			return err
		}
		if fatal := pool(ctx, n, jobs[lo:hi], do, skipped); fatal != nil {
			for _, j := range jobs[hi:] {
				skipped(j, "not sent: stopped after "+fatal.Error())
			}
			return fatal
		}
		lo = hi
	}
	return nil
}

// end returns the statement's result, or, when the journal could not be
// written before anything was sent, the error alone: nothing happened on
// the service, and the statement fails with why.
func (r *run) end(interrupted bool, fatal error, extra string) (*engine.Result, error) {
	if errors.Is(fatal, errJournal) && r.intended.Load() == 0 {
		return nil, fmt.Errorf("%s: %w", strings.ToLower(r.action), fatal)
	}
	return r.result(interrupted, extra), nil
}

// itemIDs returns the ids of items.
func itemIDs(items []item) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}
