package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/model"
)

type schemaIn struct {
	Table string `json:"table,omitempty" jsonschema:"one table or view (e.g. nodes); leave out for all"`
}

// Column is one column of the schema.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Doc  string `json:"doc,omitempty"`
}

// TableInfo is one table or view of the schema.
type TableInfo struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind" jsonschema:"table or view"`
	Doc     string   `json:"doc,omitempty"`
	Columns []Column `json:"columns"`
}

// SchemaResult is the answer of schema.
type SchemaResult struct {
	Tables []TableInfo `json:"tables"`
}

// viewDocs say what the views are (the tables' docs are model's).
var viewDocs = map[string]string{
	"photos":         "available nodes whose contentType is image/* (the columns of nodes)",
	"videos":         "available nodes whose contentType is video/* (the columns of nodes)",
	"duplicates":     "exact copies: every available file whose md5 another has; group_id numbers the groups, oldest copy first; albums lists the albums holding it",
	"storage_report": "usage by type (photo, video, doc, other), year and camera: count, bytes, billable_bytes (what counts against the quota) and what removing exact duplicates would free",
	"timeline_gaps":  "months without a photo between the first photo and the last",
	"hashes":         "perceptual hashes of photos (after SYNC HASHES), for near_duplicates()",
}

// columnDocs say what a column means, by table ("" for every table that
// has it).
var columnDocs = map[string]string{
	"id":                "node id (Amazon's), the key of actions' targets",
	"name":              "file name",
	"kind":              "FILE, FOLDER, ...",
	"status":            "AVAILABLE or TRASH",
	"parents":           "parent folder ids",
	"parentId":          "the first parent folder's id (folders.id)",
	"createdDate":       "when it was uploaded (UTC)",
	"modifiedDate":      "when Amazon last changed it (UTC)",
	"contentDate":       "when the photo or video was taken (EXIF, UTC); use it for 'when'",
	"size":              "bytes",
	"md5":               "content md5: equal md5 = exact copy",
	"contentType":       "MIME type: image/jpeg, video/mp4, ...",
	"extension":         "file extension, as Amazon sends it",
	"category":          "file category: img, vid, doc, ... (file_category(ext))",
	"width":             "pixels",
	"height":            "pixels",
	"duration":          "seconds (videos)",
	"make":              "camera maker (EXIF)",
	"model":             "camera model (EXIF)",
	"dateTimeOriginal":  "EXIF DateTimeOriginal",
	"favorite":          "marked favorite",
	"hidden":            "hidden from the timeline",
	"ownerId":           "the owning account",
	"syncedAt":          "when apsql fetched it",
	"raw":               "JSON: every field Amazon sent that has no column (raw->>'field')",
	"albumId":           "albums.id",
	"clusterId":         "a person (face cluster) id",
	"count":             "number of items",
	"coverNodeId":       "nodes.id of the cover photo",
	"billable_bytes":    "bytes that count against the quota",
	"billable_count":    "items that count against the quota",
	"total_bytes":       "bytes in all",
	"total_count":       "items in all",
	"change":            "added, removed or changed",
	"by_apsql":          "the change came from an apsql action",
	"group_id":          "duplicate group number",
	"duplicate_bytes":   "bytes that removing exact duplicates would free",
	"path":              "folder path (folders) or file path (labels)",
	"label":             "predicted label (LABEL)",
	"prob":              "probability of the label",
	"seq":               "journal sequence number",
	"action":            "the statement (TRASH, ALBUM ADD, ...)",
	"target":            "the node id acted on",
	"detail":            "what was sent or why it failed",
	"in_table":          "nodes, trash, folders, albums, album_members or people",
	"fields":            "the columns that differ, for a change",
	"statement":         "the SYNC or action that made the change",
	"sync_id":           "one number per SYNC or action",
	"searchData":        "JSON of the aggregation (searchData->>'clusterName')",
	"isoSpeedRatings":   "EXIF ISO",
	"exposureTime":      "EXIF exposure time",
	"focalLength":       "EXIF focal length",
	"apertureValue":     "EXIF aperture",
	"dateTimeDigitized": "EXIF DateTimeDigitized",
	"version":           "Amazon's version of the node",
}

// schemaSQL lists the tables and views a query can read (the temporary
// views of the session too), without apsql's own bookkeeping.
const schemaSQL = `SELECT c.table_name, CASE WHEN v.view_name IS NULL THEN 'table' ELSE 'view' END, c.column_name, c.data_type
FROM duckdb_columns() c LEFT JOIN duckdb_views() v ON v.view_name = c.table_name AND v.database_name = c.database_name AND v.schema_name = c.schema_name
WHERE NOT c.internal AND c.schema_name = 'main' AND c.table_name NOT LIKE 'apsql\_%' ESCAPE '\' AND c.table_name NOT LIKE 'local\_files\_%' ESCAPE '\'
ORDER BY c.table_name, c.column_index`

func (s *Server) schemaInfo(ctx context.Context, only string) (*SchemaResult, error) {
	out := &SchemaResult{Tables: []TableInfo{}}
	err := s.with(ctx, func(sess *engine.Session) error {
		rows, err := sess.DB.Query(ctx, schemaSQL)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t, kind, c, typ string
			if err := rows.Scan(&t, &kind, &c, &typ); err != nil {
				return err
			}
			if only != "" && !strings.EqualFold(only, t) {
				continue
			}
			if n := len(out.Tables); n == 0 || out.Tables[n-1].Name != t {
				doc := viewDocs[t]
				if mt, ok := model.Lookup(t); ok {
					doc = mt.Doc
				}
				out.Tables = append(out.Tables, TableInfo{Name: t, Kind: kind, Doc: doc})
			}
			ti := &out.Tables[len(out.Tables)-1]
			ti.Columns = append(ti.Columns, Column{Name: c, Type: typ, Doc: columnDocs[c]})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if only != "" && len(out.Tables) == 0 {
		return nil, fmt.Errorf("no table or view %q: call schema without table for the list", only)
	}
	sort.SliceStable(out.Tables, func(i, j int) bool { return rank(out.Tables[i].Name) < rank(out.Tables[j].Name) })
	return out, nil
}

// rank puts the tables people ask about first.
func rank(t string) int {
	for i, n := range []string{"nodes", "photos", "videos", "albums", "album_members", "people", "folders", "trash", "usage", "storage_report", "duplicates"} {
		if n == t {
			return i
		}
	}
	return 100
}

func (r *SchemaResult) text() string {
	var b strings.Builder
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "%s (%s)", t.Name, t.Kind)
		if t.Doc != "" {
			fmt.Fprintf(&b, ": %s", t.Doc)
		}
		b.WriteString("\n")
		for _, c := range t.Columns {
			fmt.Fprintf(&b, "  %s %s", c.Name, c.Type)
			if c.Doc != "" {
				fmt.Fprintf(&b, " -- %s", c.Doc)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func (s *Server) schema(ctx context.Context, _ *mcp.CallToolRequest, in schemaIn) (*mcp.CallToolResult, *SchemaResult, error) {
	r, err := s.schemaInfo(ctx, strings.TrimSpace(in.Table))
	if err != nil {
		return nil, nil, err
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: r.text()}}}, r, nil
}

// guide is the apsql://guide resource.
const guide = `# apsql for agents

apsql keeps a mirror of the user's Amazon Photos library in a local DuckDB database.
Questions are answered from the mirror: fast, and nothing is sent to Amazon.

## Reading
- query: one read-only SQL query. Aggregate rather than list:
  SELECT year(contentDate) AS y, count(*), sum(size) FROM videos GROUP BY y ORDER BY y
  SELECT make, model, count(*) FROM photos GROUP BY ALL ORDER BY 3 DESC LIMIT 10
  SELECT a.name, count(*) FROM albums a JOIN album_members m ON m.albumId = a.id GROUP BY a.name
  SELECT * FROM duplicates                      -- exact copies (same md5)
  SELECT type, sum(bytes), sum(billable_bytes), sum(duplicate_bytes) FROM storage_report GROUP BY type
- find: Amazon's filter language, e.g. type:(VIDEOS) AND timeYear:(2019).
- schema: every table and column; resource apsql://schema has the same.
- Results show 100 rows by default (max_rows up to 1000); the total is always counted.
- Sizes are bytes; dates are UTC timestamps (contentDate = when taken).

## Changing the library (always two steps)
1. explain <statement>: the plan, one row per node, and a confirmation code. Nothing changes.
2. Show the plan (how many items, which, how many bytes) to the user and ask.
3. run with the same statement and the code. Each code runs once; after a sync or another
   action, or when the plan would differ, run refuses: explain again.

Targets: WHERE <predicate over nodes> | (SELECT id FROM ...) | 'id', 'id' | FILTER 'filter' | ALBUM 'name'.
  TRASH (SELECT id FROM duplicates WHERE group_id IS NOT NULL AND id NOT IN (SELECT min_by(id, createdDate) FROM duplicates GROUP BY group_id))
  ALBUM 'Summer 2019' ADD FILTER 'timeYear:(2019) AND timeMonth:(7 OR 8)'
  CREATE ALBUM 'Favorites 2020' FROM WHERE favorite AND year(contentDate) = 2020
  RESTORE WHERE name LIKE 'IMG_%'               -- WHERE is over trash for RESTORE and PURGE
  DOWNLOAD FILTER 'type:(VIDEOS)' TO 'videos'
TRASH can be undone (RESTORE, for 30 days); PURGE cannot.

## Keeping the mirror fresh
sync (new=true for just the newest items) refreshes it; usage reads the quota from Amazon.
`

func (s *Server) addResources() {
	s.mcp.AddResource(&mcp.Resource{URI: "apsql://schema", Name: "schema", Title: "The mirror's tables and columns",
		Description: "Every table and view a query can read, with column types and meanings.", MIMEType: "text/plain"},
		func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			r, err := s.schemaInfo(ctx, "")
			if err != nil {
				return nil, err
			}
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "apsql://schema", MIMEType: "text/plain", Text: r.text()}}}, nil
		})
	s.mcp.AddResource(&mcp.Resource{URI: "apsql://guide", Name: "guide", Title: "How to use apsql's tools",
		Description: "Reading with query and find, changing the library with explain then run, examples.", MIMEType: "text/markdown"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "apsql://guide", MIMEType: "text/markdown", Text: guide}}}, nil
		})
}

func (s *Server) addPrompts() {
	s.mcp.AddPrompt(&mcp.Prompt{Name: "clean-up-duplicates", Title: "Find and clean up duplicates",
		Description: "Find exact duplicate photos and videos, show what they cost, and move the extra copies to the trash after the user agrees.",
		Arguments:   []*mcp.PromptArgument{{Name: "scope", Description: "optional: which part of the library, e.g. 'videos' or '2019'"}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			scope := strings.TrimSpace(req.Params.Arguments["scope"])
			if scope == "" {
				scope = "the whole library"
			}
			text := `Find and clean up exact duplicates in my Amazon Photos library (` + scope + `), with the apsql tools.
1. query: SELECT count(DISTINCT group_id) AS groups, count(*) - count(DISTINCT group_id) AS extra_copies, sum(size) FILTER (WHERE NOT oldest) AS extra_bytes FROM (SELECT *, row_number() OVER (PARTITION BY group_id ORDER BY createdDate, id) = 1 AS oldest FROM duplicates)
2. Show me a few groups (name, size, createdDate, albums) and, with usage, how much of the extra bytes count against my quota.
3. Keep the oldest copy of each group (and any copy that is in an album, if the oldest is not); explain a TRASH of the other copies, e.g. TRASH (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY group_id ORDER BY createdDate, id) AS k FROM duplicates) WHERE k > 1)
4. Tell me how many items and bytes the plan trashes and wait for my yes before run. Trash can be restored for 30 days.`
			return &mcp.GetPromptResult{Description: "clean up exact duplicates", Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}}}, nil
		})
	s.mcp.AddPrompt(&mcp.Prompt{Name: "what-uses-my-storage", Title: "What uses my storage",
		Description: "Explain what takes the space and the quota: by type, year and camera, the largest files, and what duplicates cost."},
		func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			text := `What uses the storage of my Amazon Photos account? Use the apsql tools:
1. usage: the quota use by type (photos are free with Prime; videos and other files count).
2. query storage_report: SELECT type, year, sum(count) AS items, sum(bytes) AS bytes, sum(billable_bytes) AS billable FROM storage_report GROUP BY ALL ORDER BY billable DESC LIMIT 15
3. query the 20 largest videos: SELECT id, name, size, duration, contentDate FROM videos ORDER BY size DESC LIMIT 20
4. query what exact duplicates would free: SELECT sum(duplicate_bytes), sum(duplicate_billable_bytes) FROM storage_report
Sum it up in a short table with human-readable sizes and suggest what could be cleaned up; change nothing.`
			return &mcp.GetPromptResult{Description: "what uses my storage", Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}}}, nil
		})
}
