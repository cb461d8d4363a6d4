package mirror

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"golang.org/x/sync/errgroup"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/model"
)

// smallTable describes how one of the small tables (folders, usage,
// aggregations, tags) is replaced.
type smallTable struct {
	name string
	key  []string // columns that identify a row
	// scope limits the rows replaced ("" = all): SYNC TAGS people
	// replaces only the people rows. It is SQL over the mirror table.
	scope string
}

// replace writes rows into a staging table with DuckDB's Appender, then
// replaces the table's rows in scope with them in one transaction, and
// returns what changed: rows whose key is new (inserted), rows whose other
// columns changed (updated), keys that are gone (removed).
func (t smallTable) replace(ctx context.Context, db *engine.DB, rows [][]driver.Value) (inserted, updated, removed int64, err error) {
	ch, err := replaceTables(ctx, db, tableRows{t, rows})
	if err != nil {
		return 0, 0, 0, err
	}
	return ch[0].inserted, ch[0].updated, ch[0].removed, nil
}

// tableRows is the new content of one small table.
type tableRows struct {
	t    smallTable
	rows [][]driver.Value
}

// changes counts what a replace changed in one table.
type changes struct{ inserted, updated, removed int64 }

// replaceTables stages every table's rows, then replaces them all in one
// transaction (albums and album_members change together or not at all).
func replaceTables(ctx context.Context, db *engine.DB, parts ...tableRows) ([]changes, error) {
	if _, err := db.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+stagingSchema); err != nil {
		return nil, err
	}
	for _, p := range parts {
		t := p.t
		if _, ok := model.Lookup(t.name); !ok {
			return nil, fmt.Errorf("no table %s in the model", t.name)
		}
		stage := stagingSchema + "." + engine.Ident(t.name)
		if _, err := db.Exec(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM %s LIMIT 0", stage, engine.Ident(t.name))); err != nil {
			return nil, fmt.Errorf("create staging table: %w", err)
		}
		defer db.Exec(context.Background(), "DROP TABLE IF EXISTS "+stage)
		if err := appendRows(db, t.name, p.rows); err != nil {
			return nil, fmt.Errorf("stage %s: %w", t.name, err)
		}
	}
	out := make([]changes, len(parts))
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		for i, p := range parts {
			c, err := p.t.swap(ctx, tx)
			if err != nil {
				return err
			}
			out[i] = c
		}
		return nil
	})
	return out, err
}

// appendRows appends rows to the staging table name with DuckDB's Appender.
func appendRows(db *engine.DB, name string, rows [][]driver.Value) error {
	return db.Raw(func(c *duckdb.Conn) error {
		a, err := duckdb.NewAppenderFromConn(c, stagingSchema, name)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := a.AppendRow(r...); err != nil {
				return errors.Join(err, a.Close())
			}
		}
		return a.Close()
	})
}

// swap compares the staged rows of t with the table's rows in scope and,
// when they differ, replaces those with the staged ones.
func (t smallTable) swap(ctx context.Context, tx *sql.Tx) (changes, error) {
	tb, _ := model.Lookup(t.name)
	stage := stagingSchema + "." + engine.Ident(t.name)
	tbl := engine.Ident(t.name)
	var on, differ []string
	for _, k := range t.key {
		on = append(on, fmt.Sprintf("s.%s = n.%s", engine.Ident(k), engine.Ident(k)))
	}
	for _, c := range tb.Columns {
		if !contains(t.key, c.Name) {
			differ = append(differ, fmt.Sprintf("s.%s IS DISTINCT FROM n.%s", engine.Ident(c.Name), engine.Ident(c.Name)))
		}
	}
	join := strings.Join(on, " AND ")
	changed := "false"
	if len(differ) > 0 {
		changed = "(" + strings.Join(differ, " OR ") + ")"
	}
	scope := "true"
	if t.scope != "" {
		scope = "(" + t.scope + ")"
	}
	mirror := fmt.Sprintf("(SELECT * FROM %s WHERE %s)", tbl, scope)
	var c changes
	q := fmt.Sprintf(`SELECT
			(SELECT count(*) FROM %[1]s s WHERE NOT EXISTS (SELECT 1 FROM %[2]s n WHERE %[3]s)),
			(SELECT count(*) FROM %[1]s s JOIN %[2]s n ON %[3]s WHERE %[4]s),
			(SELECT count(*) FROM %[2]s n WHERE NOT EXISTS (SELECT 1 FROM %[1]s s WHERE %[3]s))`, stage, mirror, join, changed)
	if err := tx.QueryRowContext(ctx, q).Scan(&c.inserted, &c.updated, &c.removed); err != nil {
		return c, fmt.Errorf("compare %s: %w", t.name, err)
	}
	if rec, ok := recordedTables[t.name]; ok {
		if err := rec.record(ctx, tx, t, tb, c, stage, mirror, join, changed); err != nil {
			return c, err
		}
	}
	if c.inserted+c.updated+c.removed == 0 {
		return c, nil
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s", tbl, scope)); err != nil {
		return c, fmt.Errorf("replace %s: %w", t.name, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s SELECT * FROM %s", tbl, stage)); err != nil {
		return c, fmt.Errorf("replace %s: %w", t.name, err)
	}
	return c, nil
}

// nullString is s, or NULL when empty.
func nullString(s string) driver.Value {
	if s == "" {
		return nil
	}
	return s
}

// jsonValue is a JSON document for a JSON column ("{}" when empty). The
// appender marshals what it is given with encoding/json: a string would be
// stored as a JSON string holding the text (so ->> finds nothing), a
// json.RawMessage as the document itself.
func jsonValue(raw json.RawMessage) driver.Value {
	if len(raw) == 0 || !json.Valid(raw) {
		return json.RawMessage("{}")
	}
	return raw
}

// nullTime is t, or NULL when zero.
func nullTime(t time.Time) driver.Value {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// fetchFolders lists the folder tree with each folder's path; its write
// replaces the folders table.
func fetchFolders(ctx context.Context, p engine.Progress, src source) (partWrite, error) {
	tr := p.Start("sync folders", -1, "folders")
	folders, err := src.Folders(ctx)
	tr.Done()
	if err != nil {
		return nil, err
	}
	rows := make([][]driver.Value, len(folders))
	for i, f := range folders {
		rows[i] = []driver.Value{f.ID, f.Name, nullString(f.ParentID), f.Path, nullTime(f.CreatedDate), nullTime(f.ModifiedDate)}
	}
	return replaceWrite(smallTable{name: "folders", key: []string{"id"}}, len(folders), rows), nil
}

// fetchUsage fetches the storage usage by type; its write replaces the
// usage table.
func fetchUsage(ctx context.Context, _ engine.Progress, src source) (partWrite, error) {
	u, err := src.Usage(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([][]driver.Value, len(u.Types))
	for i, t := range u.Types {
		rows[i] = []driver.Value{t.Type, t.BillableBytes, t.BillableCount, t.TotalBytes, t.TotalCount}
	}
	return replaceWrite(smallTable{name: "usage", key: []string{"type"}}, len(rows), rows), nil
}

// syncAggregations mirrors every aggregation of the library (one search).
func syncAggregations(ctx context.Context, s *engine.Session, src source) (tableStats, error) {
	t0 := time.Now()
	aggs, err := src.Aggregations(ctx, "all")
	if err != nil {
		return tableStats{}, err
	}
	rows := make([][]driver.Value, 0, len(aggs))
	seen := map[[2]string]bool{}
	for _, a := range aggs {
		k := [2]string{a.Category, a.Value}
		if seen[k] {
			continue
		}
		seen[k] = true
		rows = append(rows, []driver.Value{a.Category, a.Value, a.Count, nullString(a.NodeID), jsonValue(a.SearchData)})
	}
	ins, upd, rem, err := smallTable{name: "aggregations", key: []string{"category", "value"}}.replace(ctx, s.DB, rows)
	if err != nil {
		return tableStats{}, err
	}
	return tableStats{table: "aggregations", fetched: int64(len(rows)), inserted: ins, updated: upd, removed: rem, seconds: time.Since(t0).Seconds()}, nil
}

// tagSearches bounds the tag searches in flight; each pages concurrently
// through the client's adaptive limit as well.
const tagSearches = 4

// syncTags records which nodes carry which things, people and locations:
// one search per aggregation value of the category (all three when
// category is ""). The listings are checked like a full SYNC's: a value
// whose listing changed while paging fails the statement.
func syncTags(ctx context.Context, s *engine.Session, src source, category string) (tableStats, error) {
	t0 := time.Now()
	cats := tagCategories
	if category != "" {
		cats = []string{category}
	}
	aggs, err := src.Aggregations(ctx, "all")
	if err != nil {
		return tableStats{}, err
	}
	var values []fetch.Aggregation
	for _, a := range aggs {
		if contains(cats, a.Category) && a.Value != "" {
			values = append(values, a)
		}
	}
	tr := s.Progress.Start("sync tags", int64(len(values)), "values")
	defer tr.Done()
	var (
		mu   sync.Mutex
		rows [][]driver.Value
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(tagSearches)
	for _, a := range values {
		g.Go(func() error {
			var ids []string
			var err error
			for attempt := 1; attempt <= maxAttempts; attempt++ {
				ids, err = src.StreamSearchIDs(gctx, fetch.TagFilter(a.Category, a.Value))
				if !errors.Is(err, fetch.ErrListingChanged) {
					break
				}
			}
			if err != nil {
				return fmt.Errorf("tag %s:%s: %w", a.Category, a.Value, err)
			}
			mu.Lock()
			for _, id := range ids {
				rows = append(rows, []driver.Value{id, a.Category, a.Value})
			}
			mu.Unlock()
			tr.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return tableStats{}, err
	}
	quoted := make([]string, len(cats))
	for i, c := range cats {
		quoted[i] = engine.Quote(c)
	}
	t := smallTable{name: "tags", key: []string{"id", "category", "value"}, scope: `"category" IN (` + strings.Join(quoted, ", ") + ")"}
	ins, upd, rem, err := t.replace(ctx, s.DB, rows)
	if err != nil {
		return tableStats{}, err
	}
	return tableStats{table: "tags", fetched: int64(len(rows)), inserted: ins, updated: upd, removed: rem, seconds: time.Since(t0).Seconds()}, nil
}
