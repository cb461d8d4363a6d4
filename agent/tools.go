package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
	"github.com/apsql/apsql/output"
)

func ptr[T any](v T) *T { return &v }

// schemaFor infers T's input schema and lets edit refine it (bounds,
// enums).
func schemaFor[T any](edit func(props map[string]*jsonschema.Schema)) *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic(err)
	}
	if edit != nil {
		edit(s.Properties)
	}
	return s
}

// outSchema infers T's output schema, made portable: a slice is an
// array (not null or array), and a value of any type says so instead of
// being the bare schema true.
func outSchema[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic(err)
	}
	tidy(s)
	return s
}

func tidy(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if len(s.Types) == 2 && slices.Contains(s.Types, "null") {
		for _, t := range s.Types {
			if t != "null" {
				s.Type = t
			}
		}
		s.Types = nil
	}
	if s.Items != nil && s.Items.Type == "" && len(s.Items.Types) == 0 && s.Items.Items == nil && len(s.Items.Properties) == 0 {
		s.Items.Description = "a value: text, number, boolean, null, list or object"
	}
	tidy(s.Items)
	for _, p := range s.Properties {
		tidy(p)
	}
	tidy(s.AdditionalProperties)
}

// scrubbed wraps a tool's handler: its error's text loses cookie values
// and signed URLs too (DuckDB's errors quote the query; the service's,
// the request).
func scrubbed[In, Out any](s *Server, h mcp.ToolHandlerFor[In, Out]) mcp.ToolHandlerFor[In, Out] {
	return func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		res, out, err := h(ctx, req, in)
		if err != nil {
			return res, out, errors.New(s.scrubber().text(err.Error()))
		}
		return res, out, nil
	}
}

func rowsBound(p map[string]*jsonschema.Schema) {
	p["max_rows"].Minimum = ptr(0.0)
	p["max_rows"].Maximum = ptr(float64(maxRows))
	p["max_rows"].Default = []byte("100")
}

func (s *Server) addTools() {
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: ptr(false), OpenWorldHint: ptr(false)}
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:         "query",
		OutputSchema: outSchema[Table](),
		Title:        "Query the library (read-only SQL)",
		Description: `Run one read-only DuckDB SQL query over the local mirror of the Amazon Photos library; answers in milliseconds, no call to Amazon.
Tables: nodes (every photo, video, file: id, name, contentDate, size, md5, contentType, make, model, width, height, favorite, hidden, ...), views photos and videos, trash, folders, albums, album_members (albumId, id), people, usage, changes, actions_log; views duplicates and storage_report. Call schema for every column.
Only SELECT/WITH/FROM/VALUES/DESCRIBE/SUMMARIZE; no files, network, writes or settings. Results show max_rows rows (default 100) with the total counted: aggregate in SQL (count, sum, GROUP BY) rather than listing rows.
Example: SELECT year(contentDate) AS y, count(*) AS n, sum(size) AS bytes FROM videos GROUP BY y ORDER BY y`,
		InputSchema: schemaFor[queryIn](rowsBound),
		Annotations: readOnly,
	}, scrubbed(s, s.query))
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:         "find",
		OutputSchema: outSchema[Table](),
		Title:        "Find with Amazon's filter language",
		Description: `Select nodes with an Amazon Photos filter, evaluated over the local mirror (no call to Amazon), newest first: id, name, kind, contentType, contentDate, size, width, height, make, model, favorite, hidden.
Syntax: field:(value OR value) joined with AND, OR, NOT and parentheses. Fields: type (PHOTOS, VIDEOS), timeYear, timeMonth, timeDay, extension, make, model, favorite, hidden, name, contentType, createdDate/contentDate ranges [2019-01-01T00:00:00Z TO *], things/people/location (after SYNC TAGS).
Example: type:(VIDEOS) AND timeYear:(2019). A filter that does not parse gets an error with a caret under the problem. The answer includes the SQL it became, to refine with query; the same filter is a target of actions: TRASH FILTER '...'.`,
		InputSchema: schemaFor[findIn](rowsBound),
		Annotations: readOnly,
	}, scrubbed(s, s.find))
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:         "schema",
		OutputSchema: outSchema[SchemaResult](),
		Title:        "Tables and columns",
		Description:  `The mirror's tables and views, their columns and types, and what they mean. Give table to see one; leave it out for all. Read it before writing SQL for query or a WHERE target for explain.`,
		InputSchema:  schemaFor[schemaIn](nil),
		Annotations:  readOnly,
	}, scrubbed(s, s.schema))
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:         "explain",
		OutputSchema: outSchema[Plan](),
		Title:        "Plan an action (dry run)",
		Description: `Dry run of one action statement on the library: returns the plan (one row per node or file: id, name, status, detail of what would be sent) and a single-use confirmation code. Nothing is changed and nothing is sent.
Statements: TRASH target; RESTORE target; PURGE target (deletes from the trash for good); FAVORITE/UNFAVORITE/HIDE/UNHIDE target; CREATE ALBUM 'name' [FROM target]; ALBUM 'name' ADD|REMOVE target; RENAME ALBUM 'old' TO 'new'; DOWNLOAD target [TO 'dir']; MOVE target TO 'folder'; BACKUP [target] TO 'dir'; and the others this server lists on a wrong statement.
A target is WHERE <SQL predicate over nodes> | (SELECT id FROM ...) | 'id', 'id' | FILTER 'amazon filter' | ALBUM 'name'.
Show the plan to the user, then call run with the same statement and the code to do exactly this.`,
		InputSchema: schemaFor[explainIn](nil),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: ptr(false), OpenWorldHint: ptr(true)},
	}, scrubbed(s, s.explain))
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:         "run",
		OutputSchema: outSchema[Plan](),
		Title:        "Run an explained action",
		Description: `Run exactly the plan explain showed: give the statement as explain returned it and its code. Changes the Amazon Photos library (TRASH moves to the trash, PURGE deletes for good, DOWNLOAD writes files, ...). Ask the user first.
Refused without a code, with a code used already (each runs once) or expired (30 minutes), for another statement, or when the mirror or the plan changed since the EXPLAIN: call explain again then.
Returns one row per node or file with status ok, skipped or failed; every request is journaled in actions_log and the mirror is updated to match.`,
		InputSchema: schemaFor[runIn](nil),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, IdempotentHint: false, DestructiveHint: ptr(true), OpenWorldHint: ptr(true)},
	}, scrubbed(s, s.run))
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:         "sync",
		OutputSchema: outSchema[SyncResult](),
		Title:        "Refresh the mirror from Amazon",
		Description:  `Refresh the local mirror from Amazon Photos: SYNC (default: every photo and video, folders, albums, people, usage; removes what is gone) or, with new=true, SYNC NEW (only what was added since the last sync; much faster). Sends progress notifications when the request has a progress token. Call it when the user says the library changed, or before an action on recent items.`,
		InputSchema:  schemaFor[syncIn](nil),
		Annotations:  &mcp.ToolAnnotations{ReadOnlyHint: false, IdempotentHint: true, DestructiveHint: ptr(false), OpenWorldHint: ptr(true)},
	}, scrubbed(s, s.sync))
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:        "thumbnail",
		Title:       "Show a photo",
		Description: `A node's thumbnail as a JPEG image, to look at a photo or a video's poster frame. id is a node id from query or find; size is 256 (default), 512 or 1024 pixels. Cached on disk with the gallery's thumbnails.`,
		InputSchema: schemaFor[thumbIn](func(p map[string]*jsonschema.Schema) {
			p["size"].Enum = []any{256.0, 512.0, 1024.0}
			p["size"].Default = []byte("256")
			p["id"].Pattern = validID.String()
		}),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: ptr(false), OpenWorldHint: ptr(true)},
	}, scrubbed(s, s.thumbnail))
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:         "usage",
		OutputSchema: outSchema[UsageResult](),
		Title:        "Storage usage and quota",
		Description:  `The account's storage usage from Amazon Photos, by type (photo, video, doc, other): items and bytes in all, and the billable part, which is what counts against the quota (with Prime, photos are free; videos and other files count). Also records it in the usage table. For what duplicates would free, query storage_report.`,
		InputSchema:  schemaFor[usageIn](nil),
		Annotations:  &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: ptr(false), OpenWorldHint: ptr(true)},
	}, scrubbed(s, s.usage))
}

// progress returns a Progress that turns the statement's progress lines
// into MCP progress notifications, when the request has a progress
// token.
func (s *Server) progress(ctx context.Context, req *mcp.CallToolRequest, what string) engine.Progress {
	if req == nil || req.Params == nil || req.Session == nil {
		return engine.NoProgress
	}
	tok := req.Params.GetProgressToken()
	if tok == nil {
		return engine.NoProgress
	}
	return &notifier{ctx: ctx, ss: req.Session, token: tok}
}

// notifier sends one progress notification per progressEvery at most:
// progress is the items done over every line so far, total their sum
// when every line knows its own.
type notifier struct {
	ctx   context.Context
	ss    *mcp.ServerSession
	token any

	mu      sync.Mutex
	done    int64
	total   int64
	unknown int // lines without a total
	label   string
	last    time.Time
}

const progressEvery = 200 * time.Millisecond

func (n *notifier) Start(label string, total int64, unit string) engine.Tracker {
	n.mu.Lock()
	if total < 0 {
		n.unknown++
	} else {
		n.total += total
	}
	n.label = label
	n.mu.Unlock()
	n.send(true)
	return &line{n: n, total: total}
}

func (n *notifier) send(force bool) {
	n.mu.Lock()
	now := time.Now()
	if !force && now.Sub(n.last) < progressEvery {
		n.mu.Unlock()
		return
	}
	n.last = now
	p := &mcp.ProgressNotificationParams{ProgressToken: n.token, Progress: float64(n.done)}
	if n.unknown == 0 && n.total >= n.done {
		p.Total = float64(n.total)
		p.Message = fmt.Sprintf("%s (%d of %d items)", n.label, n.done, n.total)
	} else {
		p.Message = fmt.Sprintf("%s (%d items)", n.label, n.done)
	}
	n.mu.Unlock()
	n.ss.NotifyProgress(n.ctx, p) // a client that went away stops nothing
}

type line struct {
	n     *notifier
	mu    sync.Mutex
	total int64
	done  int64
}

func (l *line) Add(k int64) {
	l.n.mu.Lock()
	l.n.done += k
	l.n.mu.Unlock()
	l.mu.Lock()
	l.done += k
	l.mu.Unlock()
	l.n.send(false)
}

func (l *line) SetTotal(total int64) {
	l.mu.Lock()
	old := l.total
	l.total = total
	l.mu.Unlock()
	l.n.mu.Lock()
	switch {
	case old < 0 && total >= 0:
		l.n.unknown--
		l.n.total += total
	case old >= 0 && total >= 0:
		l.n.total += total - old
	case old >= 0 && total < 0:
		l.n.unknown++
		l.n.total -= old
	}
	l.n.mu.Unlock()
}

func (l *line) Done() { l.n.send(true) }

type syncIn struct {
	New bool `json:"new,omitempty" jsonschema:"true: SYNC NEW, only what was added since the last sync; false (default): SYNC, the whole library"`
}

// SyncResult is the answer of sync.
type SyncResult struct {
	Statement string `json:"statement"`
	Table     Table  `json:"tables" jsonschema:"one row per table: fetched, inserted, updated, removed, seconds"`
	Summary   string `json:"summary"`
}

func (s *Server) sync(ctx context.Context, req *mcp.CallToolRequest, in syncIn) (*mcp.CallToolResult, *SyncResult, error) {
	stmt := "SYNC"
	if in.New {
		stmt = "SYNC NEW"
	}
	out := &SyncResult{Statement: stmt}
	err := s.with(ctx, func(sess *engine.Session) error {
		run := *sess
		run.Progress = s.progress(ctx, req, "sync")
		p := &Plan{}
		if _, err := s.runPlan(ctx, &run, stmt, p); err != nil {
			return err
		}
		out.Table, out.Summary = p.Table, p.Summary
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return s.tableResult(&out.Table, out.Summary+"\n"), out, nil
}

// validID is the shape of a node id (as the gallery checks it).
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type thumbIn struct {
	ID   string `json:"id" jsonschema:"a node id (from query or find)"`
	Size int    `json:"size,omitempty" jsonschema:"the thumbnail's size in pixels: 256 (default), 512 or 1024"`
}

func (s *Server) thumbnail(ctx context.Context, _ *mcp.CallToolRequest, in thumbIn) (*mcp.CallToolResult, any, error) {
	if !validID.MatchString(in.ID) {
		return nil, nil, fmt.Errorf("id %q is not a node id: take one from the id column of query or find", in.ID)
	}
	size := in.Size
	if size == 0 {
		size = 256
	}
	if size != 256 && size != 512 && size != 1024 {
		return nil, nil, fmt.Errorf("size %d: want 256, 512 or 1024", size)
	}
	var name, kind, owner string
	err := s.with(ctx, func(sess *engine.Session) error {
		var n, k, o *string
		err := sess.DB.QueryRow(ctx, `SELECT name, kind, "ownerId" FROM (SELECT name, kind, "ownerId" FROM nodes WHERE id = $1 UNION ALL SELECT name, kind, "ownerId" FROM trash WHERE id = $1) LIMIT 1`, in.ID).Scan(&n, &k, &o)
		if err != nil {
			return fmt.Errorf("no node %s in the mirror (sync, or take an id from query or find)", in.ID)
		}
		for _, p := range []struct {
			dst *string
			v   *string
		}{{&name, n}, {&kind, k}, {&owner, o}} {
			if p.v != nil {
				*p.dst = *p.v
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if kind == "FOLDER" {
		return nil, nil, fmt.Errorf("%s (%s) is a folder: it has no thumbnail", name, in.ID)
	}
	data, err := s.thumbs.Get(ctx, in.ID, size, func(ctx context.Context) (string, error) {
		if owner != "" {
			return owner, nil
		}
		c, err := s.opts.Client(ctx)
		if err != nil {
			return "", err
		}
		return c.OwnerID(ctx)
	})
	if err != nil {
		var he *fetch.APIError
		if errors.As(err, &he) && he.Status == http.StatusNotFound {
			return nil, nil, fmt.Errorf("the service has no thumbnail of %s (%s)", name, in.ID)
		}
		return nil, nil, fmt.Errorf("thumbnail of %s: %s", in.ID, s.scrubber().text(err.Error()))
	}
	return &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.ImageContent{Data: data, MIMEType: http.DetectContentType(data)},
		&mcp.TextContent{Text: fmt.Sprintf("%s (%s), %d px", s.scrubber().text(name), in.ID, size)},
	}}, nil, nil
}

type usageIn struct{}

// UsageRow is one type of the account's usage.
type UsageRow struct {
	Type          string `json:"type"`
	Items         int64  `json:"items"`
	Bytes         int64  `json:"bytes"`
	BillableItems int64  `json:"billable_items" jsonschema:"items that count against the quota"`
	BillableBytes int64  `json:"billable_bytes" jsonschema:"bytes that count against the quota"`
}

// UsageResult is the answer of usage.
type UsageResult struct {
	Types         []UsageRow `json:"types"`
	Items         int64      `json:"items"`
	Bytes         int64      `json:"bytes"`
	BillableBytes int64      `json:"billable_bytes"`
	Note          string     `json:"note"`
}

func (s *Server) usage(ctx context.Context, _ *mcp.CallToolRequest, _ usageIn) (*mcp.CallToolResult, *UsageResult, error) {
	out := &UsageResult{Types: []UsageRow{}}
	err := s.with(ctx, func(sess *engine.Session) error {
		res, err := mirror.Usage(ctx, sess, s.opts.Client)
		if err != nil {
			return err
		}
		if res.Rows != nil {
			res.Rows.Release()
		}
		rows, err := sess.DB.Query(ctx, `SELECT type, total_count, total_bytes, billable_count, billable_bytes FROM usage ORDER BY total_bytes DESC, type`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r UsageRow
			if err := rows.Scan(&r.Type, &r.Items, &r.Bytes, &r.BillableItems, &r.BillableBytes); err != nil {
				return err
			}
			out.Types = append(out.Types, r)
			out.Items += r.Items
			out.Bytes += r.Bytes
			out.BillableBytes += r.BillableBytes
		}
		return rows.Err()
	})
	if err != nil {
		return nil, nil, errors.New(s.scrubber().text(err.Error()))
	}
	out.Note = "billable bytes count against the storage quota: with Prime, photos are free and unlimited; videos, documents and other files count. query storage_report (by type, year, camera) for what exact duplicates would free."
	var b strings.Builder
	fmt.Fprintf(&b, "type,items,size,billable_items,billable_size\n")
	for _, r := range out.Types {
		fmt.Fprintf(&b, "%s,%d,%s,%d,%s\n", r.Type, r.Items, output.Bytes(r.Bytes), r.BillableItems, output.Bytes(r.BillableBytes))
	}
	fmt.Fprintf(&b, "in all: %s items, %s; %s counts against the quota\n(%s)\n", output.Thousands(out.Items), output.Bytes(out.Bytes), output.Bytes(out.BillableBytes), out.Note)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: b.String()}}}, out, nil
}
