package mirror

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/dupes"
	"github.com/apsql/apsql/engine"
)

// Duplicates and library health (issue 20): the views duplicates,
// storage_report and timeline_gaps, the table function near_duplicates()
// over the hashes table, and SYNC HASHES (hashes.go), which fills it.
//
// The views are TEMP views of the session's connection, made when the
// database is opened: they need no schema migration and work on a
// read-only file too. Both kinds of groups share their shape: group_id
// (BIGINT, 1, 2, ... in the order of each group's oldest member) and id,
// one row per member, so a statement that acts on groups (DEDUPE) reads
// either the same way.

// RegisterDupes creates the views, registers near_duplicates() on db's
// connection and SYNC HASHES in db's registry.
func RegisterDupes(db *engine.DB, client ClientFunc) error {
	for _, v := range dupesViews {
		if _, err := db.Exec(context.Background(), v); err != nil {
			return fmt.Errorf("create the duplicates views: %w", err)
		}
	}
	if err := registerNearDuplicates(db); err != nil {
		return fmt.Errorf("register near_duplicates(): %w", err)
	}
	registerSyncHashes(db.Commands(), client)
	registerDedupe(db.Commands(), client)
	return nil
}

// usageType is the SQL of /account/usage's category of a node (photo,
// video, doc, other), as the service counts it (API.md §1.3 #1).
// list_contains, not IN: DuckDB plans an IN list as a join, which took
// 12 s over a million nodes.
const usageType = `CASE WHEN starts_with(contentType, 'image/') THEN 'photo'
  WHEN starts_with(contentType, 'video/') THEN 'video'
  WHEN list_contains(['pdf', 'doc', 'xls', 'ppt', 'txt', 'markup'], file_category(extension)) THEN 'doc'
  ELSE 'other' END`

var dupesViews = []string{
	// duplicates: every available file whose md5 another available file
	// has (photos, videos, and after SYNC ALL documents and other files),
	// the oldest copy of each group first.
	`CREATE OR REPLACE TEMP VIEW duplicates AS
WITH d AS (
  SELECT md5 FROM nodes
  WHERE status = 'AVAILABLE' AND kind = 'FILE' AND md5 IS NOT NULL AND md5 <> ''
  GROUP BY md5 HAVING count(*) > 1),
dn AS (
  SELECT n.id, n.name, n.size, n.md5, n.createdDate FROM nodes n SEMI JOIN d USING (md5)
  WHERE n.status = 'AVAILABLE' AND n.kind = 'FILE'),
am AS (
  SELECT m.id, list(DISTINCT a.name ORDER BY a.name) AS albums
  FROM album_members m JOIN albums a ON a.id = m.albumId
  WHERE m.id IN (SELECT id FROM dn) GROUP BY m.id),
g AS (
  SELECT md5, row_number() OVER (ORDER BY min(createdDate), min(id)) AS group_id FROM dn GROUP BY md5)
SELECT g.group_id, dn.id, dn.name, dn.size, dn.md5, dn.createdDate, coalesce(am.albums, []::VARCHAR[]) AS albums
FROM dn JOIN g USING (md5) LEFT JOIN am USING (id)
ORDER BY g.group_id, dn.createdDate, dn.id`,

	// storage_report: what the library holds by usage type, year and
	// camera, what counts against the quota (photos are free with Prime;
	// videos and other files count), and what removing exact duplicates
	// (every copy but the oldest of each md5) would free.
	`CREATE OR REPLACE TEMP VIEW storage_report AS
WITH live AS (
  SELECT id, size, md5, createdDate, contentDate, contentType, extension, make, model FROM nodes
  WHERE status = 'AVAILABLE' AND kind = 'FILE'),
keep AS (
  SELECT md5, arg_min(id, (createdDate, id)) AS keep_id FROM live
  WHERE md5 IS NOT NULL AND md5 <> '' GROUP BY md5 HAVING count(*) > 1),
f AS (
  SELECT id, size, ` + usageType + ` AS type,
    year(coalesce(contentDate, createdDate)) AS year,
    nullif(trim(CASE WHEN starts_with(lower(model), lower(make)) THEN model ELSE concat_ws(' ', make, model) END), '') AS camera,
    keep.keep_id IS NOT NULL AND id <> keep.keep_id AS extra_copy
  FROM live LEFT JOIN keep USING (md5))
SELECT type, year, coalesce(camera, '(none)') AS camera,
  count(*) AS count,
  coalesce(sum(size), 0)::BIGINT AS bytes,
  coalesce(sum(size) FILTER (WHERE type <> 'photo'), 0)::BIGINT AS billable_bytes,
  count(*) FILTER (WHERE extra_copy) AS duplicate_count,
  coalesce(sum(size) FILTER (WHERE extra_copy), 0)::BIGINT AS duplicate_bytes,
  coalesce(sum(size) FILTER (WHERE extra_copy AND type <> 'photo'), 0)::BIGINT AS duplicate_billable_bytes
FROM f GROUP BY ALL ORDER BY type, year, camera`,

	// timeline_gaps: each month without a photo between the month of the
	// first photo and that of the last, with the gap it belongs to.
	`CREATE OR REPLACE TEMP VIEW timeline_gaps AS
WITH m AS (
  SELECT DISTINCT date_trunc('month', coalesce(contentDate, createdDate))::DATE AS month FROM photos
  WHERE coalesce(contentDate, createdDate) IS NOT NULL),
r AS (SELECT min(month) AS lo, max(month) AS hi FROM m),
cal AS (
  SELECT unnest(generate_series(r.lo, r.hi, INTERVAL 1 MONTH))::DATE AS month FROM r WHERE r.lo IS NOT NULL),
gap AS (SELECT month FROM cal ANTI JOIN m USING (month)),
run AS (
  SELECT month, month - to_months(row_number() OVER (ORDER BY month)::INTEGER) AS key FROM gap)
SELECT month, min(month) OVER w AS gap_start, max(month) OVER w AS gap_end, count(*) OVER w AS gap_months
FROM run WINDOW w AS (PARTITION BY key)
ORDER BY month`,
}

// nearDuplicatesCols are near_duplicates()'s result columns.
var nearDuplicatesCols = []struct {
	name string
	t    duckdb.Type
}{{"group_id", duckdb.TYPE_BIGINT}, {"id", duckdb.TYPE_VARCHAR}, {"distance", duckdb.TYPE_INTEGER}}

// registerNearDuplicates registers near_duplicates(max_distance := N,
// max_chain := C) on db's connection.
func registerNearDuplicates(db *engine.DB) error {
	integer, err := duckdb.NewTypeInfo(duckdb.TYPE_INTEGER)
	if err != nil {
		return err
	}
	cols := make([]duckdb.ColumnInfo, len(nearDuplicatesCols))
	for i, c := range nearDuplicatesCols {
		info, err := duckdb.NewTypeInfo(c.t)
		if err != nil {
			return err
		}
		cols[i] = duckdb.ColumnInfo{Name: c.name, T: info}
	}
	err = duckdb.RegisterTableUDF(db.Conn(), nearUDF, duckdb.ChunkTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{integer, integer}},
		BindArgumentsContext: func(ctx context.Context, _ map[string]any, args ...any) (duckdb.ChunkTableSource, error) {
			o := dupes.Options{MaxDistance: dupes.DefaultMaxDistance, MaxChain: dupes.DefaultMaxChain}
			if v, ok := args[0].(int32); ok {
				o.MaxDistance = int(v)
			}
			if v, ok := args[1].(int32); ok {
				o.MaxChain = int(v)
			}
			if o.MaxDistance < 0 || o.MaxDistance > dupes.MaxMaxDistance {
				return nil, fmt.Errorf("near_duplicates(max_distance := %d): want 0 to %d bits (the default is %d)", o.MaxDistance, dupes.MaxMaxDistance, dupes.DefaultMaxDistance)
			}
			if o.MaxChain < 1 {
				return nil, fmt.Errorf("near_duplicates(max_chain := %d): want 1 or more steps (the default is %d)", o.MaxChain, dupes.DefaultMaxChain)
			}
			return &nearSource{ctx: ctx, db: db, opts: o, cols: cols}, nil
		},
	})
	if err != nil {
		return err
	}
	// duckdb-go cannot read a named argument left out (its value has no
	// type), so the named arguments and their defaults live in a macro.
	_, err = db.Exec(context.Background(), fmt.Sprintf(`CREATE OR REPLACE TEMP MACRO near_duplicates(max_distance := %d, max_chain := %d) AS TABLE
SELECT * FROM %s(coalesce(CAST(max_distance AS INTEGER), %d), coalesce(CAST(max_chain AS INTEGER), %d))`,
		dupes.DefaultMaxDistance, dupes.DefaultMaxChain, nearUDF, dupes.DefaultMaxDistance, dupes.DefaultMaxChain))
	return err
}

// nearUDF is the table function behind the near_duplicates() macro.
const nearUDF = "apsql_near_duplicates"

// nearSource computes the groups on the first FillChunk (never at bind,
// which DuckDB may run more than once) and hands them out chunk by chunk.
type nearSource struct {
	ctx  context.Context
	db   *engine.DB
	opts dupes.Options
	cols []duckdb.ColumnInfo

	done    bool
	ids     []string
	members []dupes.Member
	next    int
}

func (s *nearSource) ColumnInfos() []duckdb.ColumnInfo     { return s.cols }
func (s *nearSource) Cardinality() *duckdb.CardinalityInfo { return nil }
func (s *nearSource) Init()                                {}

// nearHashesSQL reads the hashes that still describe their node: an
// available photo or video whose md5 is the one hashed, oldest first (so
// a group's first member is its oldest photo).
const nearHashesSQL = `SELECT h.id, h.phash FROM hashes h JOIN nodes n USING (id)
WHERE h.phash IS NOT NULL AND n.status = 'AVAILABLE' AND h.md5 IS NOT DISTINCT FROM n.md5
ORDER BY coalesce(n.contentDate, n.createdDate), h.id`

func (s *nearSource) load() error {
	s.done = true
	// The session's connection is running the query that called us: read
	// through a connection of our own.
	conn, err := s.db.ReadConn(s.ctx)
	if err != nil {
		return fmt.Errorf("near_duplicates(): %w", err)
	}
	defer conn.Close()
	var exists bool
	if err := conn.QueryRowContext(s.ctx, `SELECT count(*) > 0 FROM duckdb_tables() WHERE table_name = 'hashes' AND schema_name = 'main'`).Scan(&exists); err != nil {
		return fmt.Errorf("near_duplicates(): %w", err)
	}
	if !exists {
		return fmt.Errorf("near_duplicates(): %w", ErrNoHashes)
	}
	// Arrow batches, not rows: a million rows through database/sql cost
	// a second and a half of CPU more.
	rr, err := engine.QueryArrow(s.ctx, conn, nearHashesSQL)
	if err != nil {
		return fmt.Errorf("near_duplicates(): read hashes: %w", err)
	}
	defer rr.Release()
	var hs []uint64
	for rr.Next() {
		rec := rr.RecordBatch()
		ph, ok := rec.Column(1).(*array.Uint64)
		if !ok {
			return fmt.Errorf("near_duplicates(): read hashes: phash is %s, not UBIGINT", rec.Column(1).DataType())
		}
		for i := range int(rec.NumRows()) {
			id, err := stringAt(rec.Column(0), i)
			if err != nil {
				return fmt.Errorf("near_duplicates(): read hashes: %w", err)
			}
			s.ids = append(s.ids, id)
			hs = append(hs, ph.Value(i))
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("near_duplicates(): read hashes: %w", err)
	}
	s.members, err = dupes.Group(s.ctx, hs, s.opts)
	if err != nil {
		return fmt.Errorf("near_duplicates(): %w", err)
	}
	return nil
}

// stringAt copies row i of a string column (the batch's buffers are
// reused once it is released).
func stringAt(a arrow.Array, i int) (string, error) {
	switch a := a.(type) {
	case *array.String:
		return strings.Clone(a.Value(i)), nil
	case *array.LargeString:
		return strings.Clone(a.Value(i)), nil
	case *array.StringView:
		return strings.Clone(a.Value(i)), nil
	}
	return "", fmt.Errorf("id is %s, not VARCHAR", a.DataType())
}

func (s *nearSource) FillChunk(chunk duckdb.DataChunk) error {
	if !s.done {
		if err := s.load(); err != nil {
			return err
		}
	}
	n := min(duckdb.GetDataChunkCapacity(), len(s.members)-s.next)
	for k := range n {
		m := s.members[s.next+k]
		if err := chunk.SetValue(0, k, int64(m.Group)+1); err != nil {
			return err
		}
		if err := chunk.SetValue(1, k, s.ids[m.Index]); err != nil {
			return err
		}
		if err := chunk.SetValue(2, k, int32(m.Dist)); err != nil {
			return err
		}
	}
	s.next += n
	return chunk.SetSize(n)
}
