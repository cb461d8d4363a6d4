package actions

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/apsql/apsql/engine"
)

// item is one node a target selected, with what the local tables know
// about it.
type item struct {
	ID       string
	Name     string
	Kind     string
	Size     int64
	MD5      string
	Ext      string
	Type     string    // contentType
	Content  time.Time // contentDate, else createdDate; zero when unknown
	ParentID string
	Folder   string // the parent folder's name
	// Path (the parent folder's full path, "Pictures/Web") and Album are
	// filled only for NAMING templates that use {path} or {album}
	// (fillNaming).
	Path, Album string
	OwnerID     string
	Favorite    bool
	Hidden      bool
	// InNodes and InTrash say which local tables hold the node. A folder
	// of the folders table counts as InNodes (it is available), with
	// InFolders set and Kind FOLDER.
	InNodes, InTrash, InFolders bool
}

// known reports whether the local mirror holds the node at all.
func (it *item) known() bool { return it.InNodes || it.InTrash }

// resolve evaluates t in DuckDB and returns the nodes it selects, each once,
// in the target's order. table is where WHERE and FILTER targets are
// evaluated ("nodes", or "trash" for RESTORE and PURGE); ids from a list or
// a SELECT are looked up in both tables and in folders, and an id none
// holds comes back with known() false.
func resolve(ctx context.Context, db *engine.DB, t target, table string) ([]item, error) {
	var cte string
	var args []any
	switch t.kind {
	case targetWhere, targetFilter:
		cte = fmt.Sprintf(`SELECT id, row_number() OVER (ORDER BY id) AS ord FROM %s WHERE (%s)`, engine.Ident(table), t.sql)
		args = t.args
	case targetSelect:
		cte = fmt.Sprintf(`SELECT CAST(id AS VARCHAR) AS id, row_number() OVER () AS ord FROM (%s) AS sub`, t.sql)
	case targetAlbum:
		album, err := albumByName(ctx, db, t.album)
		if err != nil {
			return nil, err
		}
		cte = fmt.Sprintf(`SELECT id, row_number() OVER (ORDER BY id) AS ord FROM album_members WHERE albumId = %s`, engine.Quote(album))
	case targetIDs:
		vals := make([]string, len(t.ids))
		for i, id := range t.ids {
			vals[i] = fmt.Sprintf("(%s, %d)", engine.Quote(id), i)
		}
		cte = `SELECT * FROM (VALUES ` + strings.Join(vals, ", ") + `) AS v(id, ord)`
	default:
		return nil, fmt.Errorf("unknown target kind %d", t.kind)
	}
	// p is the table the action works on; o the other one.
	other := "trash"
	if table == "trash" {
		other = "nodes"
	}
	q := fmt.Sprintf(`WITH target AS (%s),
t AS (SELECT id, min(ord) AS ord FROM target WHERE id IS NOT NULL GROUP BY id)
SELECT t.id,
  coalesce(p.name, o.name, ff.name, ''), coalesce(p.kind, o.kind, CASE WHEN ff.id IS NOT NULL THEN 'FOLDER' END, ''), coalesce(p.size, o.size, 0),
  coalesce(p.md5, o.md5, ''), coalesce(p.extension, o.extension, ''),
  coalesce(p.contentType, o.contentType, ''),
  coalesce(p.contentDate, o.contentDate, p.createdDate, o.createdDate),
  coalesce(p.parentId, o.parentId, ff.parentId, ''), coalesce(f.name, ''), coalesce(p.ownerId, o.ownerId, ''),
  coalesce(p.favorite, o.favorite, false), coalesce(p.hidden, o.hidden, false),
  p.id IS NOT NULL, o.id IS NOT NULL, ff.id IS NOT NULL
FROM t LEFT JOIN %s p ON p.id = t.id LEFT JOIN %s o ON o.id = t.id
LEFT JOIN folders ff ON ff.id = t.id
LEFT JOIN folders f ON f.id = coalesce(p.parentId, o.parentId, ff.parentId)
ORDER BY t.ord`, cte, engine.Ident(table), engine.Ident(other))
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, queryError(db, t, err)
	}
	defer rows.Close()
	var out []item
	for rows.Next() {
		var it item
		var content sql.NullTime
		var inP, inO bool
		if err := rows.Scan(&it.ID, &it.Name, &it.Kind, &it.Size, &it.MD5, &it.Ext, &it.Type, &content,
			&it.ParentID, &it.Folder, &it.OwnerID, &it.Favorite, &it.Hidden, &inP, &inO, &it.InFolders); err != nil {
			return nil, targetError(t, err)
		}
		if content.Valid {
			it.Content = content.Time.UTC()
		}
		if table == "trash" {
			it.InTrash, it.InNodes = inP, inO
		} else {
			it.InNodes, it.InTrash = inP, inO
		}
		// Folders (the folders table) are targets too: TRASH, MOVE and
		// RENAME act on the folder itself.
		it.InNodes = it.InNodes || it.InFolders
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, targetError(t, err)
	}
	return out, nil
}

// queryError explains a target that DuckDB refused: a SELECT without an
// id column is told so, found from the query's prepared columns (not from
// the error's text).
func queryError(db *engine.DB, t target, err error) error {
	if t.kind == targetSelect {
		if cols, cerr := db.Columns(t.sql); cerr == nil && !engine.HasColumn(cols, "id") {
			return fmt.Errorf("target %s: the query must return a column named id (e.g. SELECT id FROM nodes ...), not %s: %w",
				clip(t.text, 40), clip(strings.Join(cols, ", "), 60), err)
		}
	}
	return targetError(t, err)
}

// targetError explains a failed resolution.
func targetError(t target, err error) error {
	return fmt.Errorf("target %s: %w", clip(t.text, 60), err)
}
