package mirror

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/apsql/apsql/model"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/resultset"
)

// Tree writes the mirrored folder tree (the folders table; SYNC FOLDERS
// fills it) below path ("" or "/" for the root) to w, drawn like the
// upstream library's print_tree:
//
//	~
//	├── Documents
//	├── Pictures
//	│   ├── iPhone
//	│   └── Web
//	└── Videos
//
// Siblings come in name order.
func Tree(ctx context.Context, db *engine.DB, w io.Writer, path string) error {
	rows, err := db.Query(ctx, `SELECT id, name, parentId, path FROM folders`)
	if err != nil {
		return err
	}
	type folder struct{ id, name, path string }
	children := map[string][]folder{}
	byPath := map[string]string{}
	var root string
	n := 0
	for rows.Next() {
		var id, name, p, parent sql.NullString
		if err := rows.Scan(&id, &name, &parent, &p); err != nil {
			rows.Close()
			return err
		}
		n++
		byPath[p.String] = id.String
		if !parent.Valid || p.String == "/" {
			root = id.String
			continue
		}
		children[parent.String] = append(children[parent.String], folder{id.String, name.String, p.String})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf(".tree: no folders mirrored yet; run SYNC FOLDERS (or SYNC) first")
	}
	start, label := root, "~"
	if p := "/" + strings.Trim(path, "/"); p != "/" {
		id, ok := byPath[p]
		if !ok {
			return fmt.Errorf(".tree: no folder %s in the mirror; SELECT path FROM folders lists them (SYNC FOLDERS refreshes it)", p)
		}
		start, label = id, p
	}
	for _, kids := range children {
		sort.Slice(kids, func(i, j int) bool {
			if a, b := strings.ToLower(kids[i].name), strings.ToLower(kids[j].name); a != b {
				return a < b
			}
			return kids[i].name < kids[j].name
		})
	}
	var b strings.Builder
	b.WriteString(label + "\n")
	var walk func(id, indent string, depth int)
	walk = func(id, indent string, depth int) {
		if depth > 1000 {
			return // a cycle in bad data; the tree is drawn up to here
		}
		kids := children[id]
		for i, k := range kids {
			branch, next := "├── ", "│   "
			if i == len(kids)-1 {
				branch, next = "└── ", "    "
			}
			b.WriteString(indent + branch + k.name + "\n")
			walk(k.id, indent+next, depth+1)
		}
	}
	walk(start, "", 0)
	_, err = io.WriteString(w, b.String())
	return err
}

// Usage fetches the storage usage from the service, records it in the
// usage table (as SYNC USAGE does) and returns it with readable sizes:
// type, items, size, billable_items, billable_size.
func Usage(ctx context.Context, s *engine.Session, client ClientFunc) (*engine.Result, error) {
	c, err := client(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := syncUsage(ctx, s, newService(c)); err != nil {
		return nil, fmt.Errorf(".usage: %w", err)
	}
	rows, err := s.DB.Query(ctx, `SELECT type, total_count, total_bytes, billable_count, billable_bytes FROM usage ORDER BY total_bytes DESC, type`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	b := resultset.New(
		resultset.Col("type", resultset.String),
		resultset.Col("items", resultset.Int64),
		resultset.Col("size", resultset.String),
		resultset.Col("billable_items", resultset.Int64),
		resultset.Col("billable_size", resultset.String),
	)
	var items, bytes int64
	for rows.Next() {
		var typ string
		var tc, tb, bc, bb int64
		if err := rows.Scan(&typ, &tc, &tb, &bc, &bb); err != nil {
			return nil, err
		}
		b.Append(typ, tc, s.Say("%v", model.Size(tb)), bc, s.Say("%v", model.Size(bb)))
		items += tc
		bytes += tb
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return &engine.Result{Rows: b.Reader(), Summary: s.Say("usage: %v items, %v", model.Count(items), model.Size(bytes))}, nil
}

// Account describes the session: domain, region, endpoint, which cookies
// are present (names only; values never appear), the account status and
// owner id from the service. cookies are the ones the client was made
// with. Rows: property, value.
func Account(ctx context.Context, client ClientFunc, cookies fetch.Cookies) (*engine.Result, error) {
	c, err := client(ctx)
	if err != nil {
		return nil, err
	}
	r := c.Region()
	b := resultset.New(resultset.Col("property", resultset.String), resultset.Col("value", resultset.String))
	b.Append("domain", r.Domain)
	region := r.Name
	if region == "" {
		region = "unknown (uploads need --endpoint)"
	}
	b.Append("region", region)
	b.Append("api", r.MetadataURL)
	b.Append("cookies", strings.Join(cookies.Names(), ", "))
	info, err := c.AccountInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf(".account: %w", err)
	}
	status, _ := info["status"].(string)
	b.Append("status", status)
	owner, err := c.OwnerID(ctx)
	if err != nil {
		return nil, fmt.Errorf(".account: %w", err)
	}
	b.Append("owner id", owner)
	return &engine.Result{Rows: b.Reader()}, nil
}
