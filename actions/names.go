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
