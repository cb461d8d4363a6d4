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
	"regexp"
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

// suffixCollisions gives each download its own path. Names never move
// once given: a file already on disk with a node's md5 (and size) is that
// node's file, whatever number its name carries, so a re-run finds each
// node where an earlier run put it, even when a same-named node appeared
// since (with a lower id) or the target selects fewer nodes.
//
// When several nodes map to one path (compared without case, as
// case-insensitive file systems would), or the disk holds numbered
// variants of it, the nodes found on disk keep their files; the others,
// in id order, get the path itself or "name (2).ext", "name (3).ext", ...:
// the first name that no node of the statement holds and that is not on
// disk with other content (with OVERWRITE, such a file may be replaced).
// A lone node with no numbered variant keeps its path as before. matched
// marks the downloads found on disk. taken receives every path
// (lower-cased) with its id.
func suffixCollisions(ds []download, dir string, taken map[string]string, overwrite bool) []download {
	groups := map[string][]int{}
	var keys []string
	for i, d := range ds {
		k := strings.ToLower(d.path)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	disk := diskIndex{}
	free := func(p string) bool {
		k := strings.ToLower(p)
		_, used := taken[k]
		return !used && groups[k] == nil
	}
	// The groups whose unmatched nodes get names once every group's
	// matches are known, with their common path.
	type pending struct {
		g         []int
		path, rel string
	}
	var later []pending
	for _, k := range keys {
		g := groups[k]
		sort.SliceStable(g, func(a, b int) bool { return ds[g[a]].it.ID < ds[g[b]].it.ID })
		first := ds[g[0]]
		variants := disk.variants(filepath.Dir(first.path), filepath.Base(first.path))
		if len(g) == 1 && len(variants) == 0 {
			taken[k] = first.it.ID
			continue
		}
		// Existing files, the path itself first: each is the file of
		// the node of this group with its size and md5, if any.
		files := variants
		if disk.has(first.path) {
			files = append([]string{filepath.Base(first.path)}, variants...)
		}
		for _, name := range files {
			p := filepath.Join(filepath.Dir(first.path), name)
			if _, used := taken[strings.ToLower(p)]; used || strings.ToLower(p) != k && groups[strings.ToLower(p)] != nil {
				continue // held, or the path of another node of the statement
			}
			fi, err := os.Lstat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			sum := ""
			for _, i := range g {
				d := &ds[i]
				if d.matched || d.it.Size != fi.Size() {
					continue
				}
				if d.it.MD5 != "" && sum == "" { // no md5: the size decides, as present does
					if sum, err = md5File(p, nil); err != nil {
						break
					}
				}
				if d.it.MD5 == "" || strings.EqualFold(sum, d.it.MD5) {
					rel, _ := strings.CutSuffix(d.rel, filepath.Base(d.path))
					d.rel, d.path, d.matched = rel+name, p, true
					taken[strings.ToLower(p)] = d.it.ID
					break
				}
			}
		}
		later = append(later, pending{g, first.path, first.rel})
	}
	for _, pg := range later {
		g, first := pg.g, ds[pg.g[0]]
		base := filepath.Base(pg.path)
		if len(g) == 1 && !first.matched {
			// A lone node none of whose numbered variants is its file:
			// its path, as ever (a file there with other content fails
			// it unless OVERWRITE).
			taken[strings.ToLower(pg.path)] = first.it.ID
			continue
		}
		for _, i := range g {
			d := &ds[i]
			if d.matched {
				continue
			}
			rel0, _ := strings.CutSuffix(pg.rel, base)
			ext := path.Ext(base)
			stem := strings.TrimSuffix(base, ext)
			for n := 1; ; n++ {
				name := base
				if n > 1 {
					name = fmt.Sprintf("%s (%d)%s", stem, n, ext)
				}
				p := filepath.Join(filepath.Dir(pg.path), name)
				if n > 1 && !free(p) || n == 1 && taken[strings.ToLower(p)] != "" {
					continue
				}
				if !overwrite && disk.has(p) {
					continue // another file's name: never taken over
				}
				d.rel, d.path = rel0+name, p
				taken[strings.ToLower(p)] = d.it.ID
				break
			}
		}
	}
	return ds
}

// diskIndex lists the target's directories as they are needed: the names
// each holds, lower-cased, and by "name.ext" its numbered variants
// "name (n).ext".
type diskIndex map[string]*diskDir

type diskDir struct {
	names    map[string]bool
	variants map[string][]string // lower-cased base name → variant names, by number
}

// suffixed matches a " (n)" before the extension.
var suffixed = regexp.MustCompile(`^(.*) \(([0-9]+)\)(\.[^.]*)?$`)

func (x diskIndex) dir(d string) *diskDir {
	if dd, ok := x[d]; ok {
		return dd
	}
	dd := &diskDir{names: map[string]bool{}, variants: map[string][]string{}}
	x[d] = dd
	f, err := os.Open(d)
	if err != nil {
		return dd // none yet: nothing on disk
	}
	defer f.Close()
	ents, _ := f.ReadDir(-1)
	num := map[string]int{}
	for _, e := range ents {
		name := e.Name()
		dd.names[strings.ToLower(name)] = true
		if !strings.Contains(name, " (") {
			continue
		}
		if m := suffixed.FindStringSubmatch(name); m != nil {
			n, err := strconv.Atoi(m[2])
			if err != nil || n < 2 {
				continue
			}
			k := strings.ToLower(m[1] + m[3])
			dd.variants[k] = append(dd.variants[k], name)
			num[name] = n
		}
	}
	for _, v := range dd.variants {
		sort.Slice(v, func(i, j int) bool { return num[v[i]] < num[v[j]] })
	}
	return dd
}

// has reports whether the file p is on disk (by a listing of its directory).
func (x diskIndex) has(p string) bool {
	return x.dir(filepath.Dir(p)).names[strings.ToLower(filepath.Base(p))]
}

// variants returns the numbered variants of base in the directory d.
func (x diskIndex) variants(d, base string) []string {
	return x.dir(d).variants[strings.ToLower(base)]
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
