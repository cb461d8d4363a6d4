package mirror

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/model"
)

// The album and people actions (CREATE ALBUM, RENAME ALBUM, ALBUM
// ADD/REMOVE, RENAME PERSON, MERGE PEOPLE, SET COVER) write the rows the
// service answered with, as a SYNC would write them, and record in changes
// what differs: a SYNC right after finds nothing more to record for them.

// PutAlbum writes, in tx, the albums row of row as the service sent it
// (keepCount: the count the row has, 0 for a new one, instead of
// row.Count). With ch it records the row as added, or as changed with the
// fields that differ (nothing when none does); a nil ch records nothing.
func PutAlbum(ctx context.Context, tx *sql.Tx, ch *ActionChanges, row AlbumRow, keepCount bool) error {
	if row.ID == "" {
		return fmt.Errorf("the album the service sent has no id: %s", clipText(string(row.Raw)))
	}
	var count any = row.Count
	if keepCount {
		count = nil
	}
	staged := `(SELECT ?::VARCHAR AS id, ?::VARCHAR AS name, ?::TIMESTAMP AS "createdDate", ?::TIMESTAMP AS "modifiedDate",
  coalesce(?::BIGINT, (SELECT count FROM albums WHERE id = ?), 0) AS count, ?::VARCHAR AS "coverNodeId", CAST(? AS JSON) AS raw)`
	args := []any{row.ID, row.Name, nullTime(row.CreatedDate), nullTime(row.ModifiedDate), count, row.ID,
		nullString(row.CoverNodeID), jsonText(row.Raw)}
	return ch.put(ctx, tx, "albums", staged, args)
}

// PutPeople writes, in tx, the people rows of the cluster ids as the
// service lists them in people (a cluster people lacks, merged away, is
// deleted) and records each in changes with ch (nil: not recorded):
// added, changed with the fields that differ, or removed.
func PutPeople(ctx context.Context, tx *sql.Tx, ch *ActionChanges, people []fetch.Person, ids []string) error {
	byID := make(map[string]fetch.Person, len(people))
	for _, p := range people {
		byID[p.ClusterID] = p
	}
	for _, id := range ids {
		p, ok := byID[id]
		if !ok {
			if ch != nil {
				if err := ch.Nodes(ctx, tx, "people", ChangeRemoved, []string{id}); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM people WHERE "clusterId" = ?`, id); err != nil {
				return fmt.Errorf("update people: %w", err)
			}
			continue
		}
		staged := `(SELECT ?::VARCHAR AS "clusterId", ?::VARCHAR AS name, ?::BIGINT AS count, ?::VARCHAR AS "coverNodeId", CAST(? AS JSON) AS raw)`
		args := []any{p.ClusterID, p.Name, p.Count, nullString(p.CoverNodeID), jsonText(p.Raw)}
		if err := ch.put(ctx, tx, "people", staged, args); err != nil {
			return err
		}
	}
	return nil
}

// put records, then writes, the one staged row of table (staged: a
// one-row subquery with the table's columns, args its values). A nil a
// writes without recording.
func (a *ActionChanges) put(ctx context.Context, tx *sql.Tx, table, staged string, args []any) error {
	tb, ok := model.Lookup(table)
	if !ok {
		return fmt.Errorf("no table %s in the model", table)
	}
	if a != nil {
		if err := a.recordRow(ctx, tx, tb, staged, args); err != nil {
			return fmt.Errorf("record the changes of %s: %w", table, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO `+engine.Ident(table)+` SELECT * FROM `+staged, args...); err != nil {
		return fmt.Errorf("update %s: %w", table, err)
	}
	return nil
}

// recordRow records the staged row of table tb before it is written:
// added when its key is new, changed with the fields that differ, nothing
// when the row is as staged already. A row the statement changed before
// keeps one change row: its fields grow by the new ones.
func (a *ActionChanges) recordRow(ctx context.Context, tx *sql.Tx, tb model.Table, staged string, args []any) error {
	key := engine.Ident(tb.Key)
	var (
		added      bool
		fields     string
		rowID      string
		name       sql.NullString
		prevChange string
		prevFields string
	)
	q := `SELECT n.` + key + ` IS NULL, array_to_string(` + fieldsSQL(tb.Columns, tb.Key) + `, ','), s.` + key + `, s.name FROM ` + staged +
		` s LEFT JOIN ` + engine.Ident(tb.Name) + ` n ON n.` + key + ` = s.` + key
	if err := tx.QueryRowContext(ctx, q, args...).Scan(&added, &fields, &rowID, &name); err != nil {
		return err
	}
	if added {
		fields = ""
	} else if fields == "" {
		return nil
	}
	id, err := a.log.syncID(ctx, tx)
	if err != nil {
		return err
	}
	err = tx.QueryRowContext(ctx, `SELECT change, array_to_string(coalesce(fields, []), ',') FROM changes WHERE sync_id = ? AND in_table = ? AND id = ? LIMIT 1`,
		id, tb.Name, rowID).Scan(&prevChange, &prevFields)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		change, list := ChangeAdded, "NULL"
		if !added {
			change, list = ChangeChanged, listLiteral(strings.Split(fields, ","))
		}
		_, err = tx.ExecContext(ctx, insertChanges(id, a.log, tb.Name)+`?, ?, ?, `+list+`, true, NULL`, rowID, name, change)
	case err == nil && prevChange == ChangeChanged:
		list := listLiteral(mergeFields(tb, prevFields, fields))
		_, err = tx.ExecContext(ctx, `UPDATE changes SET name = ?, fields = `+list+` WHERE sync_id = ? AND in_table = ? AND id = ?`, name, id, tb.Name, rowID)
	case err == nil:
		_, err = tx.ExecContext(ctx, `UPDATE changes SET name = ? WHERE sync_id = ? AND in_table = ? AND id = ?`, name, id, tb.Name, rowID)
	}
	return err
}

// mergeFields returns the columns of tb named in either comma-separated
// list, in the table's order.
func mergeFields(tb model.Table, a, b string) []string {
	named := map[string]bool{}
	for _, f := range strings.Split(a+","+b, ",") {
		named[f] = true
	}
	var out []string
	for _, c := range tb.Columns {
		if named[c.Name] {
			out = append(out, c.Name)
		}
	}
	return out
}

// jsonText is raw as the text of a JSON column ("{}" when empty or not
// JSON), as the appender would store it.
func jsonText(raw json.RawMessage) string {
	return string(jsonValue(raw).(json.RawMessage))
}
