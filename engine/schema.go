package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/apsql/apsql/filetypes"
	"github.com/apsql/apsql/model"
)

// SchemaVersion is the version of the library schema this apsql writes.
// Each migration below moves a database from version i to i+1; add new
// columns or tables as a new migration, never by editing an old one.
const SchemaVersion = 4

var migrations = []func(ctx context.Context, d *DB, tx *sql.Tx) error{
	// 0 → 1: the tables and views of SPEC §4.
	func(ctx context.Context, d *DB, tx *sql.Tx) error {
		for _, t := range model.Tables {
			if _, err := tx.ExecContext(ctx, d.CreateTableSQL(t, t.Name)); err != nil {
				return fmt.Errorf("create table %s: %w", t.Name, err)
			}
		}
		return createViews(ctx, tx)
	},
	// 1 → 2: the tables added since (albums, album_members, people), and
	// aggregations.searchData stored as the object it is: version 1 wrote
	// it as a JSON string holding the object's text, so ->> found nothing.
	func(ctx context.Context, d *DB, tx *sql.Tx) error {
		for _, t := range model.Tables {
			if _, err := tx.ExecContext(ctx, d.CreateTableSQL(t, t.Name)); err != nil {
				return fmt.Errorf("create table %s: %w", t.Name, err)
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE aggregations SET searchData = CAST(searchData->>'$' AS JSON) WHERE json_type(searchData) = 'VARCHAR'`)
		return err
	},
	// 2 → 3: the changes table (what each SYNC and action changed) and
	// the sequence of its sync_id.
	func(ctx context.Context, d *DB, tx *sql.Tx) error {
		t, _ := model.Lookup("changes")
		if _, err := tx.ExecContext(ctx, d.CreateTableSQL(t, t.Name)); err != nil {
			return fmt.Errorf("create table changes: %w", err)
		}
		_, err := tx.ExecContext(ctx, `CREATE SEQUENCE IF NOT EXISTS `+ChangesSequence)
		return err
	},
	// 3 → 4: actions_log.reason, why an outcome is what it is (gone,
	// unknown, refused ...), which re-runs select on. The entries written
	// before it said so only in their detail's words: those that later
	// statements read (a node gone, an outcome unknown) get their reason
	// from those words once, here.
	func(ctx context.Context, d *DB, tx *sql.Tx) error {
		for _, q := range []string{
			`ALTER TABLE actions_log ADD COLUMN IF NOT EXISTS reason VARCHAR`,
			`UPDATE actions_log SET reason = 'unknown' WHERE reason IS NULL AND status = 'failed' AND contains(detail, 'outcome unknown')`,
			`UPDATE actions_log SET reason = 'gone' WHERE reason IS NULL AND status = 'skipped' AND contains(detail, 'not on the service (gone')`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("add actions_log.reason: %w", err)
			}
		}
		return nil
	},
}

// ChangesSequence numbers the statements that write the changes table
// (its sync_id column).
const ChangesSequence = "apsql_changes_seq"

// createViews (re)creates the views over nodes.
func createViews(ctx context.Context, tx *sql.Tx) error {
	for _, v := range []string{
		`CREATE OR REPLACE VIEW photos AS SELECT * FROM nodes WHERE status = 'AVAILABLE' AND starts_with(contentType, 'image/')`,
		`CREATE OR REPLACE VIEW videos AS SELECT * FROM nodes WHERE status = 'AVAILABLE' AND starts_with(contentType, 'video/')`,
	} {
		if _, err := tx.ExecContext(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// CreateTableSQL returns the CREATE TABLE statement of t under the name name
// (a staging table of the same shape takes another name), for this
// database: JSON columns are stored with zstd where its storage has it.
func (d *DB) CreateTableSQL(t model.Table, name string) string {
	return CreateTableSQL(t, name, d.zstd)
}

// CreateTableSQL returns the CREATE TABLE statement of t under the name
// name. With zstd, JSON columns (raw, searchData) are stored with zstd
// compression: they are long documents read rarely and never filtered on
// their bytes, and DuckDB's default string compression spends most of a
// SYNC's insert time on them (dictionary analysis, FSST) to end 5x larger
// (bench/results/sync.md). zstd needs a database written with storage
// version v1.2.0 or later (see StorageVersion); elsewhere DuckDB would
// silently store the column uncompressed.
func CreateTableSQL(t model.Table, name string, zstd bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", Ident(name))
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", Ident(c.Name), c.Type)
		if zstd && c.Type == model.JSON {
			b.WriteString(" USING COMPRESSION zstd")
		}
		if t.Key == c.Name {
			b.WriteString(" PRIMARY KEY")
		}
	}
	b.WriteString(")")
	return b.String()
}

// Ident quotes an identifier for DuckDB.
func Ident(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Quote quotes a string literal for DuckDB.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func (d *DB) migrate(ctx context.Context) error {
	if _, err := d.conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS apsql_meta (key VARCHAR PRIMARY KEY, value VARCHAR)`); err != nil {
		return fmt.Errorf("open database %s: %w", d.Path, err)
	}
	var v int
	err := d.conn.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM apsql_meta WHERE key = 'schema_version'`).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("open database %s: read schema version: %w", d.Path, err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("open database %s: it was written by a newer apsql (schema %d, this one knows %d); upgrade apsql", d.Path, v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			if err := migrations[v](ctx, d, tx); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO apsql_meta VALUES ('schema_version', ?)`, fmt.Sprint(v+1))
			return err
		})
		if err != nil {
			return fmt.Errorf("open database %s: migrate schema %d to %d: %w", d.Path, v, v+1, err)
		}
	}
	_, err = d.conn.ExecContext(ctx, fileCategoryMacro())
	return err
}

// fileCategoryMacro defines file_category(ext) from the known file types
// table, on this session's connection.
func fileCategoryMacro() string {
	var b strings.Builder
	b.WriteString(`CREATE OR REPLACE TEMP MACRO file_category(ext) AS (CASE lower(CASE WHEN starts_with(ext, '.') THEN ext[2:] ELSE ext END)`)
	for _, t := range filetypes.Known {
		fmt.Fprintf(&b, " WHEN %s THEN %s", Quote(t.Ext), Quote(t.Category))
	}
	b.WriteString(" END)")
	return b.String()
}
