package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apsql/apsql/engine"
)

// uploadQuery reads the "( query )" of UPLOAD (SELECT path FROM ...), as
// a ( SELECT ... ) target is read, and returns the query and the text
// after it.
func uploadQuery(rest string) (query, after string, err error) {
	t, after, err := parseTarget(rest, nil, nil)
	if err != nil {
		return "", "", err
	}
	if t.kind != targetSelect {
		return "", "", errors.New("UPLOAD ( ... ) takes a query returning a path column, e.g. (SELECT path FROM local_files('dir'))")
	}
	return t.sql, after, nil
}

// queryUpload lists the files of UPLOAD (query): the query's path column
// (else its first), one local file each, uploaded into remote under its
// own name; a path that is not a regular file is a failed row.
func queryUpload(ctx context.Context, db *engine.DB, query, remote string) ([]*upFile, []Outcome, error) {
	rows, err := db.Query(ctx, `SELECT * FROM (`+query+`) AS q`)
	if err != nil {
		return nil, nil, fmt.Errorf("the query of UPLOAD ( ... ): %w", err)
	}
	cols, err := rows.Columns()
	if err != nil {
		rows.Close()
		return nil, nil, err
	}
	pick := 0
	for i, c := range cols {
		if strings.EqualFold(c, "path") {
			pick = i
		}
	}
	var paths []string
	vals := make([]any, len(cols))
	for rows.Next() {
		var p any
		for i := range vals {
			vals[i] = new(any)
		}
		vals[pick] = &p
		if err := rows.Scan(vals...); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if s, ok := p.(string); ok && s != "" {
			paths = append(paths, s)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, nil, err
	}
	var files []*upFile
	var skipped []Outcome
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			skipped = append(skipped, Outcome{Name: p, Status: StatusFailed, Target: p, Detail: "read: " + err.Error()})
		case !fi.Mode().IsRegular():
			skipped = append(skipped, Outcome{Name: p, Status: StatusFailed, Target: p, Detail: "not a regular file"})
		default:
			name := filepath.Base(p)
			files = append(files, &upFile{abs: p, rel: filepath.ToSlash(p), remote: remote, name: name, size: fi.Size()})
		}
	}
	return files, skipped, nil
}
