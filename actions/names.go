package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// maxComponent caps one file name component in bytes: most file systems
// allow 255, and ".part" must still fit.
const maxComponent = 200

// defaultNaming is DOWNLOAD's default file name template.
const defaultNaming = "{id}_{name}"

// namingFields are the fields of a NAMING template.
var namingFields = []string{"id", "name", "ext", "yyyy", "mm", "dd", "folder", "path", "album"}

// cleanName makes a name from the service safe as one path component: it
// never contains a path separator, a control or format character, and is
// never "", "." or "..". Characters that Windows forbids (<>:"|?* and \)
// become '_' as well, so that a tree copied there keeps its names; invalid
// UTF-8 becomes '_'. The result is at most maxComponent bytes, cut at a
// character boundary and keeping the extension when there is one.
func cleanName(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteByte('_')
		case r == '/' || r == '\\' || r == 0 || strings.ContainsRune(`<>:"|?*`, r):
			b.WriteByte('_')
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029':
			// Controls, and format characters such as the bidi overrides
			// that make "gpj.exe" display as "exe.jpg".
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimSpace(b.String())
	// Leading dots would hide the file, and ".." would climb: replace them.
	if strings.HasPrefix(out, ".") {
		out = "_" + strings.TrimLeft(out, ".")
	}
	out = strings.TrimRight(out, ". ") // Windows drops trailing dots and spaces
	if out == "" {
		out = "_"
	}
	return capName(out, maxComponent)
}

// capName shortens name to at most n bytes at a character boundary,
// keeping a short extension.
func capName(name string, n int) string {
	if len(name) <= n {
		return name
	}
	ext := filepath.Ext(name)
	if len(ext) > 16 || len(ext) >= n/2 {
		ext = ""
	}
	base := name[:len(name)-len(ext)]
	limit := n - len(ext)
	for limit > 0 && !utf8.RuneStart(base[limit]) {
		limit--
	}
	return base[:limit] + ext
}

// template is a parsed NAMING template: literal text (which may hold '/'
// to make subdirectories) and fields.
type template struct {
	parts []tmplPart
}

type tmplPart struct {
	lit   string
	field string // "" for a literal
}

// parseTemplate checks a NAMING template: its fields must be known, and its
// literal text may not leave the target directory (no absolute path, no
// ".." component).
func parseTemplate(src string) (template, error) {
	var t template
	if strings.TrimSpace(src) == "" {
		return t, errors.New("NAMING is empty: give a template such as '{id}_{name}'")
	}
	if strings.ContainsRune(src, '\\') || strings.ContainsRune(src, 0) {
		return t, fmt.Errorf("NAMING %q: use '/' to make subdirectories; '\\' and NUL are not allowed", src)
	}
	if strings.HasPrefix(src, "/") {
		return t, fmt.Errorf("NAMING %q: the template must be relative to the target directory (no leading '/')", src)
	}
	rest := src
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("NAMING %q: unclosed '{'", src)
		}
		f := rest[i+1 : i+j]
		known := false
		for _, k := range namingFields {
			known = known || k == f
		}
		if !known {
			return t, fmt.Errorf("NAMING %q: unknown field {%s}; the fields are {%s}", src, f, strings.Join(namingFields, "} {"))
		}
		t.parts = append(t.parts, tmplPart{field: f})
		rest = rest[i+j+1:]
	}
	hasName := false
	for _, p := range t.parts {
		if p.field == "" {
			for _, c := range strings.Split(p.lit, "/") {
				if c == ".." {
					return t, fmt.Errorf("NAMING %q: '..' would leave the target directory", src)
				}
			}
		} else if p.field == "id" || p.field == "name" {
			hasName = true
		}
	}
	if !hasName {
		return t, fmt.Errorf("NAMING %q: include {id} or {name}, or every file gets the same name", src)
	}
	return t, nil
}

// expand returns the relative path (with '/' separators) of it under the
// template: field values are cleaned of separators and '..', so only the
// template's own '/' make directories; every component is cleaned ("." and
// ".." become "_") and capped in length, and empty ones are dropped.
func (t template) expand(it item) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
			continue
		}
		b.WriteString(fieldValue(p.field, it))
	}
	var comps []string
	for _, c := range strings.Split(b.String(), "/") {
		if c == "" {
			continue
		}
		comps = append(comps, cleanName(c))
	}
	if len(comps) == 0 {
		return cleanName(it.ID)
	}
	return strings.Join(comps, "/")
}

// fieldValue is one template field of it, safe as part of a component.
func fieldValue(f string, it item) string {
	var v string
	switch f {
	case "id":
		v = it.ID
	case "name":
		v = it.Name
		if v == "" {
			v = it.ID
		}
	case "ext":
		v = strings.TrimPrefix(it.Ext, ".")
		if v == "" {
			v = strings.TrimPrefix(filepath.Ext(it.Name), ".")
		}
	case "yyyy", "mm", "dd":
		if it.Content.IsZero() {
			return map[string]string{"yyyy": "0000", "mm": "00", "dd": "00"}[f]
		}
		return it.Content.Format(map[string]string{"yyyy": "2006", "mm": "01", "dd": "02"}[f])
	case "folder":
		v = it.Folder
	case "path":
		// The folder path keeps its '/': it makes the subdirectories
		// (expand cleans each component); the root's files get none.
		var comps []string
		for _, c := range strings.Split(it.Path, "/") {
			if c = fieldValue("folder", item{Folder: c}); c != "_" || it.Path != "" {
				comps = append(comps, c)
			}
		}
		return strings.Join(comps, "/")
	case "album":
		v = it.Album
	}
	// A value is part of one component: separators and the characters
	// cleanName rejects must not survive, but dots inside are fine.
	v = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return '_'
		}
		return r
	}, v)
	if v == "" {
		return "_"
	}
	return v
}

// localPath joins rel under dir and checks that the result stays inside it:
// the last line of defence against a name that climbs out.
func localPath(dir, rel string) (string, error) {
	clean := filepath.FromSlash(rel)
	if !filepath.IsLocal(clean) {
		return "", fmt.Errorf("file name %q would leave the target directory", rel)
	}
	return filepath.Join(dir, clean), nil
}

// uses reports whether the template has field f.
func (t template) uses(f string) bool {
	for _, p := range t.parts {
		if p.field == f {
			return true
		}
	}
	return false
}

// fillNaming sets the Path and Album of items when the template uses
// {path} or {album}:
//   - {path} is the full path of the node's folder in the folders table
//     (SYNC FOLDERS), without the leading '/'; the root's files get none;
//   - {album} is the name of the album the node is in, when it is in
//     exactly one (otherwise "_"; album, when not "", is the album of an
//     ALBUM 'name' target and wins). Membership comes from the
//     album_members table when the mirror has one (SYNC ALBUMS), else from
//     the service: the albums (GET /nodes kind:VISUAL_COLLECTION) and
//     their members (GET /nodes/{album}/children).
func fillNaming(ctx context.Context, db *engine.DB, client func(context.Context) (*fetch.Client, error), t template, items []item, album string) error {
	if t.uses("path") {
		paths := map[string]string{}
		rows, err := db.Query(ctx, `SELECT id, path FROM folders`)
		if err != nil {
			return fmt.Errorf("NAMING {path}: %w", err)
		}
		for rows.Next() {
			var id string
			var p sql.NullString
			if err := rows.Scan(&id, &p); err != nil {
				rows.Close()
				return err
			}
			paths[id] = strings.TrimPrefix(p.String, "/")
		}
		rows.Close()
		if len(paths) == 0 {
			return errors.New("NAMING {path}: the folders table is empty: run SYNC FOLDERS first")
		}
		for i := range items {
			p, ok := paths[items[i].ParentID]
			if !ok && items[i].ParentID != "" {
				return fmt.Errorf("NAMING {path}: the folder %s of %s is not in the folders table: run SYNC FOLDERS first", items[i].ParentID, items[i].ID)
			}
			items[i].Path = p
		}
	}
	if !t.uses("album") {
		return nil
	}
	in := map[string][]string{} // node id → album names
	if album == "" {
		var err error
		if in, err = albumsOf(ctx, db, client); err != nil {
			return fmt.Errorf("NAMING {album}: %w", err)
		}
	}
	for i := range items {
		switch names := in[items[i].ID]; {
		case album != "":
			items[i].Album = album
		case len(names) == 1:
			items[i].Album = names[0]
		}
	}
	return nil
}

// albumsOf maps node ids to the names of the albums holding them: from
// album_members when the mirror has it, else from the service.
func albumsOf(ctx context.Context, db *engine.DB, client func(context.Context) (*fetch.Client, error)) (map[string][]string, error) {
	out := map[string][]string{}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name IN ('album_members', 'albums')`).Scan(&n); err != nil {
		return nil, err
	}
	if n == 2 {
		// An albums table never filled (no SYNC ALBUMS yet) proves nothing.
		err := db.QueryRow(ctx, `SELECT count(*) FROM albums`).Scan(&n)
		if err != nil {
			return nil, err
		}
	} else {
		n = 0
	}
	if n > 0 {
		rows, err := db.Query(ctx, `SELECT m.id, a.name FROM album_members m JOIN albums a ON a.id = m.albumId ORDER BY a.name`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				return nil, err
			}
			out[id] = append(out[id], name)
		}
		return out, rows.Err()
	}
	c, err := client(ctx)
	if err != nil {
		return nil, err
	}
	a := api{c}
	var albums []remoteNode
	for offset := 0; ; {
		var page struct {
			Count int          `json:"count"`
			Data  []remoteNode `json:"data"`
		}
		q := url.Values{"filters": {"kind:VISUAL_COLLECTION AND status:AVAILABLE"}, "limit": {"200"}, "offset": {strconv.Itoa(offset)}}
		if err := c.Do(ctx, &fetch.Request{Path: "/nodes", Query: q, Op: "GET /nodes albums offset " + strconv.Itoa(offset)}, &page); err != nil {
			return nil, err
		}
		albums = append(albums, page.Data...)
		offset += len(page.Data)
		if len(page.Data) == 0 || offset >= page.Count {
			break
		}
		if offset+200 > 9999 {
			return nil, errors.New("more than 9999 albums: run SYNC ALBUMS")
		}
	}
	for _, al := range albums {
		ids, complete, err := a.children(ctx, al.ID)
		if err != nil {
			return nil, err
		}
		if !complete {
			return nil, fmt.Errorf("album %s holds more members than the service lists (9999): run SYNC ALBUMS", engine.Quote(al.Name))
		}
		for id := range ids {
			out[id] = append(out[id], al.Name)
		}
	}
	return out, nil
}

// suffixCollisions gives each download its own path: when several nodes
// map to one path (compared without case, as case-insensitive file systems
// would), the smallest id keeps it and the others, in id order, get
// "name (2).ext", "name (3).ext", ... (the first number free among all
// the statement's paths), so the result is the same on every run. taken
// receives every path (lower-cased) with its id.
func suffixCollisions(ds []download, dir string, taken map[string]string) []download {
	groups := map[string][]int{}
	var keys []string
	for i, d := range ds {
		k := strings.ToLower(d.path)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range keys {
		g := groups[k]
		sort.SliceStable(g, func(a, b int) bool { return ds[g[a]].it.ID < ds[g[b]].it.ID })
		taken[k] = ds[g[0]].it.ID
	}
	for _, k := range keys {
		g := groups[k]
		for _, i := range g[1:] {
			d := &ds[i]
			ext := path.Ext(d.rel)
			base := strings.TrimSuffix(d.rel, ext)
			for n := 2; ; n++ {
				rel := fmt.Sprintf("%s (%d)%s", base, n, ext)
				p, err := localPath(dir, rel)
				if err != nil {
					break // cannot happen: rel only gained a suffix
				}
				if _, used := taken[strings.ToLower(p)]; !used && groups[strings.ToLower(p)] == nil {
					d.rel, d.path = rel, p
					taken[strings.ToLower(p)] = d.it.ID
					break
				}
			}
		}
	}
	return ds
}

// setMTime sets a downloaded file's modification time to the node's
// capture date (contentDate, else createdDate), as a backup keeps it; a
// zero time leaves it. Failing to set it does not fail the download.
func setMTime(p string, t time.Time) {
	if t.IsZero() {
		return
	}
	_ = os.Chtimes(p, time.Time{}, t)
}
