package actions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/naming"
)

// maxComponent caps one file name component in bytes (naming.MaxComponent).
const maxComponent = naming.MaxComponent

// defaultNaming is DOWNLOAD's default file name template.
const defaultNaming = "{id}_{name}"

// cleanName makes a name from the service safe as one path component
// (naming.Clean).
func cleanName(s string) string { return naming.Clean(s) }

// template is a parsed NAMING template (naming.Template).
type template struct{ naming.Template }

// parseTemplate checks a NAMING template (naming.Parse).
func parseTemplate(src string) (template, error) {
	t, err := naming.Parse(src)
	return template{t}, err
}

// expand returns the relative path of it under the template.
func (t template) expand(it item) string {
	return t.Expand(naming.Values{ID: it.ID, Name: it.Name, Ext: it.Ext, Content: it.Content,
		Folder: it.Folder, Path: it.Path, Album: it.Album})
}

// uses reports whether the template has field f.
func (t template) uses(f string) bool { return t.Uses(f) }

// localPath joins rel under dir and checks that the result stays inside it.
func localPath(dir, rel string) (string, error) { return naming.LocalPath(dir, rel) }

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
		page, err := c.NodesPage(ctx, fetch.NodeQuery{Filter: fetch.AlbumFilter, Offset: offset})
		if err != nil {
			return nil, err
		}
		albums = append(albums, page.Nodes...)
		offset += len(page.Nodes)
		if len(page.Nodes) == 0 || offset >= page.Count {
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
	c := &collisions{ds: ds, taken: taken, overwrite: overwrite, disk: diskIndex{}, groups: map[string][]int{}}
	// The groups whose unmatched nodes get names once every group's
	// matches are known.
	var later []pending
	for _, k := range c.group() {
		g := c.groups[k]
		sort.SliceStable(g, func(a, b int) bool { return ds[g[a]].it.ID < ds[g[b]].it.ID })
		first := ds[g[0]]
		variants := c.disk.variants(filepath.Dir(first.path), filepath.Base(first.path))
		if len(g) == 1 && len(variants) == 0 {
			taken[k] = first.it.ID
			continue
		}
		c.matchFiles(k, g, first.path, variants)
		later = append(later, pending{g, first.path, first.rel})
	}
	for _, pg := range later {
		c.name(pg)
	}
	return ds
}

// collisions is the state of suffixCollisions: the downloads, grouped by
// lower-cased path, and every path given (lower-cased) with its id.
type collisions struct {
	ds        []download
	groups    map[string][]int
	taken     map[string]string
	disk      diskIndex
	overwrite bool
}

// pending is a group whose unmatched nodes get names, with its common
// path (as first given).
type pending struct {
	g         []int
	path, rel string
}

// group groups the downloads by lower-cased path and returns the paths in
// the order they first come.
func (c *collisions) group() []string {
	var keys []string
	for i, d := range c.ds {
		k := strings.ToLower(d.path)
		if _, ok := c.groups[k]; !ok {
			keys = append(keys, k)
		}
		c.groups[k] = append(c.groups[k], i)
	}
	return keys
}

// free reports whether no node of the statement holds p or was given it.
func (c *collisions) free(p string) bool {
	k := strings.ToLower(p)
	_, used := c.taken[k]
	return !used && c.groups[k] == nil
}

// matchFiles gives the nodes of group g (path p, lower-cased k) the files
// already on disk that are theirs: the path itself first, then its
// numbered variants, each the file of the node with its size and md5.
func (c *collisions) matchFiles(k string, g []int, p string, variants []string) {
	files := variants
	if c.disk.has(p) {
		files = append([]string{filepath.Base(p)}, variants...)
	}
	for _, name := range files {
		fp := filepath.Join(filepath.Dir(p), name)
		if _, used := c.taken[strings.ToLower(fp)]; used || strings.ToLower(fp) != k && c.groups[strings.ToLower(fp)] != nil {
			continue // held, or the path of another node of the statement
		}
		c.matchFile(g, fp, name)
	}
}

// matchFile marks the node of g whose file fp (named name) is, if any: the
// first unmatched one with its size and md5 (no md5: the size decides, as
// present does).
func (c *collisions) matchFile(g []int, fp, name string) {
	fi, err := os.Lstat(fp)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	sum := ""
	for _, i := range g {
		d := &c.ds[i]
		if d.matched || d.it.Size != fi.Size() {
			continue
		}
		if d.it.MD5 != "" && sum == "" {
			if sum, err = md5File(fp, nil); err != nil {
				return
			}
		}
		if d.it.MD5 == "" || strings.EqualFold(sum, d.it.MD5) {
			rel, _ := strings.CutSuffix(d.rel, filepath.Base(d.path))
			d.rel, d.path, d.matched = rel+name, fp, true
			c.taken[strings.ToLower(fp)] = d.it.ID
			return
		}
	}
}

// name gives each node of the group pg not found on disk its name: a lone
// node its path, as ever (a file there with other content fails it unless
// OVERWRITE); the others the first free one of the path and its numbered
// variants.
func (c *collisions) name(pg pending) {
	g, first := pg.g, c.ds[pg.g[0]]
	if len(g) == 1 && !first.matched {
		c.taken[strings.ToLower(pg.path)] = first.it.ID
		return
	}
	base := filepath.Base(pg.path)
	rel0, _ := strings.CutSuffix(pg.rel, base)
	for _, i := range g {
		d := &c.ds[i]
		if d.matched {
			continue
		}
		name, p := c.freeName(pg.path)
		d.rel, d.path = rel0+name, p
		c.taken[strings.ToLower(p)] = d.it.ID
	}
}

// freeName returns the first name (and path) for one more node of the
// group at p: p itself when no node was given it, else "name (n).ext" that
// no node of the statement holds; never a file on disk (with OVERWRITE,
// such a file may be replaced).
func (c *collisions) freeName(p string) (string, string) {
	base := filepath.Base(p)
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for n := 1; ; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s (%d)%s", stem, n, ext)
		}
		fp := filepath.Join(filepath.Dir(p), name)
		if n > 1 && !c.free(fp) || n == 1 && c.taken[strings.ToLower(fp)] != "" {
			continue
		}
		if !c.overwrite && c.disk.has(fp) {
			continue // another file's name: never taken over
		}
		return name, fp
	}
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
