package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/naming"
	"github.com/apsql/apsql/resultset"
)

// Defaults of BACKUP.
const (
	defaultNaming      = "{yyyy}/{mm}/{name}"
	defaultConcurrency = 8
	maxConcurrency     = 64
)

// Statuses of a result row, as the actions use them.
const (
	statusOK      = "ok"
	statusSkipped = "skipped"
	statusFailed  = "failed"
	statusPlanned = "planned"
)

// reserved are the top-level names the backup keeps for itself (compared
// folded): no node's file gets one.
var reserved = []string{metaDir, deletedDir, "albums", "people"}

// options is a parsed BACKUP statement.
type options struct {
	dir       string
	target    *actions.Target // nil: the whole library
	naming    string
	tmpl      naming.Template
	sidecar   string // "", "xmp", "json" or "both"
	views     bool
	mirror    bool
	thenTrash bool
	conc      int
}

var backupOptions = []string{"NAMING", "SIDECAR", "VIEWS", "MIRROR", "CONCURRENCY"}

// parseBackup reads [target] TO 'dir' [(options)] [THEN TRASH [true|false]].
func parseBackup(rest string) (options, error) {
	o := options{naming: defaultNaming, conc: defaultConcurrency}
	after := rest
	if a := engine.NewArgs(rest); a.Peek() != "TO" {
		t, more, err := actions.ParseTarget(rest, []string{"TO"})
		if err != nil {
			return o, err
		}
		o.target, after = &t, more
	}
	a := engine.NewArgs(after)
	if !a.Keyword("TO") {
		return o, errors.New("BACKUP needs TO 'dir': the folder that holds the backup, e.g. BACKUP TO 'photos-backup'")
	}
	dir, err := a.String()
	if err != nil {
		return o, fmt.Errorf("TO: %w", err)
	}
	if strings.TrimSpace(dir) == "" {
		return o, errors.New("TO '' is empty: name a folder, e.g. TO 'photos-backup'")
	}
	o.dir = dir
	opts, err := a.Options(backupOptions...)
	if err != nil {
		return o, err
	}
	if a.Keyword("THEN") {
		if !a.Keyword("TRASH") {
			return o, errors.New("THEN must be followed by TRASH (THEN TRASH trashes, in the cloud, what this backup holds verified)")
		}
		o.thenTrash = true
		if w := a.Peek(); w != "" {
			v, _ := a.Word()
			if o.thenTrash, err = engine.ParseBool("THEN TRASH", v); err != nil {
				return o, err
			}
		}
	}
	if !a.Done() {
		return o, fmt.Errorf("unexpected %q at the end of the statement", clip(a.Rest(), 20))
	}
	if v, ok := opts["NAMING"]; ok {
		o.naming = v
	}
	if o.tmpl, err = naming.Parse(o.naming); err != nil {
		return o, err
	}
	if v, ok := opts["SIDECAR"]; ok {
		switch v = strings.ToLower(v); v {
		case "xmp", "json", "both":
			o.sidecar = v
		case "none", "false", "":
		default:
			return o, fmt.Errorf("SIDECAR wants 'xmp', 'json' or 'both', not %q", v)
		}
	}
	for name, p := range map[string]*bool{"VIEWS": &o.views, "MIRROR": &o.mirror} {
		if v, ok := opts[name]; ok {
			if *p, err = engine.ParseBool(name, v); err != nil {
				return o, err
			}
		}
	}
	if v, ok := opts["CONCURRENCY"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxConcurrency {
			return o, fmt.Errorf("CONCURRENCY wants a whole number from 1 to %d, not %q", maxConcurrency, v)
		}
		o.conc = n
	}
	return o, nil
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}

// node is one file the target selects, with what the sidecars and views
// carry.
type node struct {
	ID, Name, Ext string
	ParentID      string
	Folder, Path  string // parent folder's name and full path
	OwnerID       string
	MD5           string
	Type          string
	Size          int64
	Content       time.Time // contentDate, else createdDate
	Created       time.Time
	Favorite      bool
	Description   string
	Location      string // "+49.2827-123.1207/" (ISO 6709) or "lat,lon"
	Albums        []string
	People        []string
	Things        []string
	Labels        []string
	Album         string // {album}
}

// jobKind is what a run does for one node.
type jobKind int

const (
	jobNew     jobKind = iota + 1 // fetch into a new path
	jobUpdate                     // the node's md5 changed: fetch again into its path
	jobRestore                    // its file is gone locally: fetch again
	jobAdopt                      // a file with its md5 is already at the path: record it
	jobMeta                       // only the sidecars change
)

func (k jobKind) String() string {
	return map[jobKind]string{jobNew: "new", jobUpdate: "changed in the cloud", jobRestore: "missing locally", jobAdopt: "already there", jobMeta: "metadata changed"}[k]
}

type job struct {
	n    *node
	rel  string // '/'-separated, relative to the backup folder
	kind jobKind
	// prev is the node's record before the run (jobMeta keeps its run
	// and mtime): copied at planning, as the manifest changes under the
	// workers.
	prev record
}

// row is one result row.
type row struct{ id, name, path, status, detail string }

// runBackup runs BACKUP and EXPLAIN BACKUP.
func (b *Backup) runBackup(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	start := time.Now()
	o, err := parseBackup(rest)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := checkFolder(o.dir); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if !explain {
		if err := os.MkdirAll(filepath.Join(o.dir, metaDir), 0o755); err != nil {
			return nil, fmt.Errorf("backup: %w", writeError(o.dir, err))
		}
		lk, err := takeLock(o.dir)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		defer lk.release()
	}
	nodes, m, err := load(ctx, s.DB, o, explain)
	if m != nil && !explain {
		defer m.close()
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	root, err := openRoot(o.dir, explain)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if root != nil {
		defer root.Close()
	}
	r := &runState{o: o, s: s, m: m, root: root, explain: explain, start: start, runID: start.UTC().Format("20060102T150405Z")}
	if !explain {
		if err := r.recordRun(); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	jobs, gone, err := r.plan(nodes)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if explain {
		return r.explainResult(jobs, gone), nil
	}
	fatal := r.execute(ctx, b, jobs)
	fatal = r.finish(ctx, b, nodes, gone, fatal)
	return r.result(ctx.Err() != nil, fatal), nil
}

// checkFolder refuses a backup folder that is a file, or inside another
// backup.
func checkFolder(dir string) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("%s is a file, not a folder: name a folder", dir)
	}
	if outer := enclosingBackup(dir); outer != "" {
		return fmt.Errorf("%w: %s is inside the backup in %s; back up into a folder outside it (or into %s itself)", ErrNestedBackup, dir, outer, outer)
	}
	return nil
}

// load reads the target's nodes and the manifest (opened for writing
// unless explain), one core each. The caller closes a manifest
// returned, also with an error.
func load(ctx context.Context, db *engine.DB, o options, explain bool) ([]*node, *manifest, error) {
	type opened struct {
		m   *manifest
		err error
	}
	mc := make(chan opened, 1)
	go func() {
		var o2 opened
		if explain {
			o2.m, o2.err = readManifest(o.dir)
		} else {
			o2.m, o2.err = openManifest(o.dir)
		}
		mc <- o2
	}()
	nodes, _, err := loadNodes(ctx, db, o)
	mo := <-mc
	return nodes, mo.m, errors.Join(err, mo.err)
}

// recordRun writes the run's line in the manifest.
func (r *runState) recordRun() error {
	at := r.start.UTC()
	target := "the whole library"
	if r.o.target != nil {
		target = r.o.target.Text()
	}
	return r.m.append(record{Event: "run", Run: r.runID, At: &at, Target: target})
}

// finish runs what follows the files (MIRROR, VIEWS, the manifest's
// compaction, THEN TRASH) unless the run was stopped, and returns the
// error that stopped it.
func (r *runState) finish(ctx context.Context, b *Backup, nodes []*node, gone []*record, fatal error) error {
	goOn := func() bool { return fatal == nil && ctx.Err() == nil }
	if goOn() && r.o.mirror {
		r.moveGone(gone)
	}
	if goOn() && r.o.views {
		if err := r.buildViews(nodes); err != nil {
			r.add(row{status: statusFailed, detail: "views: " + err.Error()})
		}
	}
	if err := r.m.flush(); err != nil && fatal == nil {
		fatal = err
	}
	if fatal == nil {
		fatal = r.m.compact()
	}
	if goOn() && r.o.thenTrash {
		fatal = r.thenTrash(ctx, b, nodes)
	}
	return fatal
}

// writeError explains a folder that cannot be written.
func writeError(dir string, err error) error {
	switch {
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%s is on a read-only file system: back up to a writable folder", dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s cannot be written (permission denied): back up to a folder you can write, or fix its permissions", dir)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("disk full: free space on %s, then run BACKUP again (files already written are kept)", dir)
	}
	return fmt.Errorf("create %s: %w", dir, err)
}

// openRoot opens the backup folder; EXPLAIN of a folder not yet made has
// none.
func openRoot(dir string, explain bool) (*os.Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil && explain && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return root, nil
}

// runState is one BACKUP run.
type runState struct {
	o       options
	s       *engine.Session
	m       *manifest
	root    *os.Root
	explain bool
	start   time.Time
	runID   string

	mu       sync.Mutex
	rows     []row
	counts   map[string]int
	written  int64 // bytes fetched
	files    int
	verified map[string]bool // ids whose file was md5-verified in this run
	moved    int
	trashed  int
	views    int
}

func (r *runState) add(rw row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, rw)
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[rw.status]++
}

// loadNodes returns the files the target selects (each once, by id) and,
// when the target is not the whole library, the ids it selects.
func loadNodes(ctx context.Context, db *engine.DB, o options) ([]*node, map[string]bool, error) {
	join, args := "", []any(nil)
	if o.target != nil {
		q, a, err := o.target.IDQuery(ctx, db)
		if err != nil {
			return nil, nil, err
		}
		join, args = `JOIN (`+q+`) AS t ON t.id = n.id`, a
	}
	// The description and location are read from raw only for sidecars:
	// a re-run over 100k nodes without them skips the JSON.
	metaCols := `'', ''`
	if o.sidecar != "" {
		metaCols = `coalesce(n.raw->>'$.description', ''),
  coalesce(n.raw->>'$.contentProperties.image.location', n.raw->>'$.contentProperties.video.location', '')`
	}
	q := `SELECT n.id, coalesce(n.name, ''), coalesce(n.extension, ''), coalesce(n.parentId, ''),
  coalesce(f.name, ''), coalesce(f.path, ''), coalesce(n.ownerId, ''), coalesce(n.md5, ''), coalesce(n.contentType, ''),
  coalesce(n.size, 0), coalesce(n.contentDate, n.createdDate), n.createdDate, coalesce(n.favorite, false),
  ` + metaCols + `
FROM nodes n ` + join + ` LEFT JOIN folders f ON f.id = n.parentId
WHERE n.kind = 'FILE'`
	// Arrow batches, not database/sql rows: a re-run over 100k nodes
	// spent a third of its CPU scanning rows one value at a time.
	rr, err := engine.QueryArrow(ctx, db.Conn(), q, args...)
	if err != nil {
		if o.target != nil {
			return nil, nil, fmt.Errorf("target %s: %w", clip(o.target.Text(), 60), err)
		}
		return nil, nil, err
	}
	defer rr.Release()
	var out []*node
	for rr.Next() {
		rec := rr.RecordBatch()
		col := func(i int) arrow.Array { return rec.Column(i) }
		for i := 0; i < int(rec.NumRows()); i++ {
			n := &node{ID: str(col(0), i), Name: str(col(1), i), Ext: str(col(2), i), ParentID: str(col(3), i),
				Folder: str(col(4), i), Path: strings.TrimPrefix(str(col(5), i), "/"), OwnerID: str(col(6), i),
				MD5: str(col(7), i), Type: str(col(8), i), Size: i64(col(9), i), Content: ts(col(10), i), Created: ts(col(11), i),
				Favorite: boolean(col(12), i), Description: str(col(13), i), Location: str(col(14), i)}
			out = append(out, n)
		}
	}
	if err := rr.Err(); err != nil {
		return nil, nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	var in map[string]bool
	if o.target != nil {
		in = make(map[string]bool, len(out))
		for _, n := range out {
			in[n.ID] = true
		}
	}
	if o.sidecar != "" || o.views || o.tmpl.Uses("album") {
		if err := loadMeta(ctx, db, out); err != nil {
			return nil, nil, err
		}
	}
	if o.tmpl.Uses("album") {
		album := ""
		if o.target != nil {
			album = o.target.Album()
		}
		for _, n := range out {
			switch {
			case album != "":
				n.Album = album
			case len(n.Albums) == 1:
				n.Album = n.Albums[0]
			}
		}
	}
	return out, in, nil
}

// Values of Arrow columns as DuckDB sends them; NULL is the zero value.
// Strings are copied: a batch's buffers are freed with it.
func str(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return ""
	}
	switch c := a.(type) {
	case *array.String:
		return strings.Clone(c.Value(i))
	case *array.LargeString:
		return strings.Clone(c.Value(i))
	case *array.StringView:
		return strings.Clone(c.Value(i))
	}
	return a.ValueStr(i)
}

func i64(a arrow.Array, i int) int64 {
	if c, ok := a.(*array.Int64); ok && !a.IsNull(i) {
		return c.Value(i)
	}
	return 0
}

func boolean(a arrow.Array, i int) bool {
	if c, ok := a.(*array.Boolean); ok && !a.IsNull(i) {
		return c.Value(i)
	}
	return false
}

func ts(a arrow.Array, i int) time.Time {
	c, ok := a.(*array.Timestamp)
	if !ok || a.IsNull(i) {
		return time.Time{}
	}
	unit := c.DataType().(*arrow.TimestampType).Unit
	return c.Value(i).ToTime(unit).UTC()
}

// loadMeta fills the albums, people, things and labels of nodes from the
// mirror's tables (SYNC ALBUMS, SYNC PEOPLE, SYNC TAGS, LABEL).
func loadMeta(ctx context.Context, db *engine.DB, nodes []*node) error {
	byID := make(map[string]*node, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	queries := []struct {
		q   string
		set func(n *node, v string)
	}{
		{`SELECT m.id, a.name FROM album_members m JOIN albums a ON a.id = m.albumId WHERE a.name IS NOT NULL AND a.name <> '' ORDER BY a.name`,
			func(n *node, v string) { n.Albums = append(n.Albums, v) }},
		{`SELECT t.id, p.name FROM tags t JOIN people p ON p.clusterId = t.value WHERE t.category = 'people' AND p.name IS NOT NULL AND p.name <> '' ORDER BY p.name`,
			func(n *node, v string) { n.People = append(n.People, v) }},
		{`SELECT id, value FROM tags WHERE category = 'things' ORDER BY value`,
			func(n *node, v string) { n.Things = append(n.Things, v) }},
		{`SELECT id, label FROM labels WHERE (rank = 1 OR prob >= 0.5) AND label IS NOT NULL ORDER BY label`,
			func(n *node, v string) { n.Labels = append(n.Labels, v) }},
	}
	for _, x := range queries {
		rows, err := db.Query(ctx, x.q)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, v string
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return err
			}
			if n := byID[id]; n != nil {
				x.set(n, v)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	for _, n := range nodes {
		n.Albums, n.People, n.Things, n.Labels = dedup(n.Albums), dedup(n.People), dedup(n.Things), dedup(n.Labels)
	}
	return nil
}

func dedup(s []string) []string {
	if len(s) < 2 {
		return s
	}
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// plan decides what happens to every node and (for MIRROR) which recorded
// files left the target.
func (r *runState) plan(nodes []*node) ([]job, []*record, error) {
	var jobs []job
	var fresh []*node
	states := r.localStates(nodes)
	for i, n := range nodes {
		rec := r.m.byID[n.ID]
		if rec == nil {
			fresh = append(fresh, n)
			continue
		}
		if j, ok := r.planRecorded(n, rec, states[i]); ok {
			jobs = append(jobs, j)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].ID < fresh[j].ID })
	taken := map[string]bool{}
	for _, name := range reserved {
		taken[fold(name)] = true
	}
	for _, n := range fresh {
		if j, ok := r.planNew(n, taken); ok {
			jobs = append(jobs, j)
		}
	}
	if !r.o.mirror {
		return jobs, nil, nil
	}
	gone := r.goneFiles(nodes)
	if len(nodes) == 0 && len(gone) > 0 {
		return nil, nil, fmt.Errorf("MIRROR: the target selects no file, so every one of the %d files of the backup would move to %s; run SYNC first (the nodes table is empty?) or check the target", len(gone), deletedDir)
	}
	return jobs, gone, nil
}

// planRecorded is the job of a node the manifest records, whose file is
// in state st; ok false when there is none (a row says why, when it is
// not simply up to date).
func (r *runState) planRecorded(n *node, rec *record, st localState) (job, bool) {
	switch {
	case n.MD5 == rec.MD5 && n.Size == rec.Size:
		switch st {
		case localSame:
			if r.o.sidecar != "" && r.sidecarsStale(n, rec) {
				return job{n: n, rel: rec.Path, kind: jobMeta, prev: *rec}, true
			}
		case localMissing:
			return job{n: n, rel: rec.Path, kind: jobRestore}, true
		default:
			r.add(row{n.ID, n.Name, rec.Path, statusSkipped, "edited locally since the backup wrote it: kept, not overwritten"})
		}
	case st == localSame || st == localMissing:
		return job{n: n, rel: rec.Path, kind: jobUpdate}, true
	default:
		r.add(row{n.ID, n.Name, rec.Path, statusSkipped, "changed in the cloud and edited locally: the local file is kept; move it away and run BACKUP again to fetch the cloud's version"})
	}
	return job{}, false
}

// planNew gives a new node the template's path; a path already recorded,
// used by another new node (taken: compared folded, as case-insensitive
// file systems would) or held by a file that is not the node's gets
// " (2)", " (3)", ... in id order, so names never shift between runs. A
// file there with the node's md5 is adopted.
func (r *runState) planNew(n *node, taken map[string]bool) (job, bool) {
	rel := r.o.tmpl.Expand(naming.Values{ID: n.ID, Name: n.Name, Ext: n.Ext, Content: n.Content, Folder: n.Folder, Path: n.Path, Album: n.Album})
	if _, err := naming.LocalPath(r.o.dir, rel); err != nil {
		r.add(row{n.ID, n.Name, rel, statusFailed, err.Error()})
		return job{}, false
	}
	if top, _, _ := strings.Cut(rel, "/"); taken[fold(top)] && isReserved(top) {
		rel = "_" + rel // the backup's own folders keep their names
	}
	ext := path.Ext(rel)
	base := strings.TrimSuffix(rel, ext)
	kind := jobNew
	for k := 1; ; k++ {
		cand := rel
		if k > 1 {
			cand = fmt.Sprintf("%s (%d)%s", base, k, ext)
		}
		if r.m.byPath[fold(cand)] != "" || taken[fold(cand)] {
			continue
		}
		if ok, exists := r.holds(cand, n); exists {
			if !ok {
				continue // someone else's file: never overwritten
			}
			kind = jobAdopt
		}
		rel = cand
		break
	}
	taken[fold(rel)] = true
	return job{n: n, rel: rel, kind: kind}, true
}

// goneFiles are the records of nodes no longer in the target (MIRROR).
func (r *runState) goneFiles(nodes []*node) []*record {
	present := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		present[n.ID] = true
	}
	var gone []*record
	for _, id := range sortedIDs(r.m.byID) {
		if !present[id] {
			gone = append(gone, r.m.byID[id])
		}
	}
	return gone
}

func isReserved(name string) bool {
	for _, r := range reserved {
		if fold(r) == fold(name) {
			return true
		}
	}
	return false
}

func sortedIDs(m map[string]*record) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// localState is what the folder holds at a recorded path.
type localState int

const (
	localSame    localState = iota // as the backup wrote it (size and mtime)
	localMissing                   // nothing there
	localEdited                    // another size or mtime, or not a file
)

// localStates stats the recorded file of every node (in parallel: a
// re-run over 100k nodes is mostly these system calls).
func (r *runState) localStates(nodes []*node) []localState {
	out := make([]localState, len(nodes))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(8, len(nodes)/1000)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(nodes) {
					return
				}
				if rec := r.m.byID[nodes[i].ID]; rec != nil {
					out[i] = r.localState(rec)
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// localState says what the folder holds at rec's path. It is a plain
// Lstat of the joined path (nothing is written, and no link is followed
// at the end; a linked folder makes the file look missing or edited, and
// the fetch that follows goes through the root and refuses the link).
func (r *runState) localState(rec *record) localState {
	if r.root == nil {
		return localMissing
	}
	fi, err := os.Lstat(filepath.Join(r.o.dir, filepath.FromSlash(rec.Path)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return localMissing
	case err != nil || !fi.Mode().IsRegular() || fi.Size() != rec.Size:
		return localEdited
	case rec.MTime != nil && !sameTime(fi.ModTime(), *rec.MTime):
		return localEdited
	}
	return localSame
}

// sameTime compares modification times to the second that FAT and SMB
// shares keep (2 s on FAT).
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -2*time.Second && d < 2*time.Second
}

// holds reports whether rel already exists in the folder (exists) and, if
// so, whether it is a regular file with n's size and md5 (ok).
func (r *runState) holds(rel string, n *node) (ok, exists bool) {
	if r.root == nil {
		return false, false
	}
	fi, err := r.root.Lstat(filepath.FromSlash(rel))
	if err != nil {
		// Not there, or not to be read (a folder on its way that links
		// out of the backup): the name is not another's file, and writing
		// it fails with the reason. Counting it as taken would try " (2)",
		// " (3)", ... for ever.
		return false, false
	}
	if !fi.Mode().IsRegular() || fi.Size() != n.Size || n.MD5 == "" {
		return false, true
	}
	sum, err := md5Of(r.root, filepath.FromSlash(rel))
	return err == nil && strings.EqualFold(sum, n.MD5), true
}

// explainResult lists what BACKUP would do.
func (r *runState) explainResult(jobs []job, gone []*record) *engine.Result {
	var n, bytes int64
	for _, j := range jobs {
		switch j.kind {
		case jobNew, jobUpdate, jobRestore:
			n++
			bytes += j.n.Size
			r.add(row{j.n.ID, j.n.Name, j.rel, statusPlanned, r.s.Say("%s: GET /nodes/{id}/contentRedirection → %s (%v)", j.kind, j.rel, model.Size(j.n.Size))})
		case jobAdopt:
			r.add(row{j.n.ID, j.n.Name, j.rel, statusPlanned, "already there with the node's md5: recorded in the manifest"})
		case jobMeta:
			r.add(row{j.n.ID, j.n.Name, j.rel, statusPlanned, "sidecars rewritten: the node's metadata changed"})
		}
		if r.o.sidecar != "" && j.kind != jobMeta {
			r.add(row{j.n.ID, j.n.Name, j.rel, statusPlanned, "sidecar " + strings.Join(sidecarNames(j.rel, r.o.sidecar), ", ")})
		}
	}
	date := r.start.Format("2006-01-02")
	for _, g := range gone {
		r.add(row{g.ID, path.Base(g.Path), g.Path, statusPlanned, "left the target (trashed, purged or no longer selected): move to " + path.Join(deletedDir, date, g.Path)})
	}
	extra := r.s.Say("would fetch %v %s (%v) into %s", model.Count(n), plural(n, "file", "files"), model.Size(bytes), r.o.dir)
	if len(gone) > 0 {
		extra += fmt.Sprintf(", move %d to %s", len(gone), path.Join(deletedDir, date))
	}
	if r.o.thenTrash {
		extra += "; THEN TRASH would trash in the cloud the nodes whose files are verified after the run (each re-checked with the service first)"
	}
	return r.result(false, nil, extra+"; nothing was sent or written")
}

// result builds the statement's rows and summary.
func (r *runState) result(interrupted bool, fatal error, extra ...string) *engine.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := resultset.New(resultset.Col("id", resultset.String), resultset.Col("name", resultset.String),
		resultset.Col("path", resultset.String), resultset.Col("status", resultset.String), resultset.Col("detail", resultset.String))
	failed := 0
	for _, rw := range r.rows {
		var id any
		if rw.id != "" {
			id = rw.id
		}
		b.Append(id, rw.name, rw.path, rw.status, rw.detail)
		if rw.status == statusFailed {
			failed++
		}
	}
	var s strings.Builder
	s.WriteString("backup")
	if r.explain {
		s.WriteString(" (explain)")
	}
	if interrupted {
		s.WriteString(" interrupted")
	}
	s.WriteString(": ")
	if len(extra) > 0 {
		s.WriteString(extra[0])
	} else {
		secs := time.Since(r.start).Seconds()
		s.WriteString(r.s.Say("%v %s fetched (%v", model.Count(r.files), plural(int64(r.files), "file", "files"), model.Size(r.written)))
		if secs > 0 && r.written > 0 {
			s.WriteString(r.s.Say(", %v/s", model.Size(float64(r.written)/secs)))
		}
		s.WriteString(r.s.Say("), %v in the backup", model.Count(len(r.m.byID))))
		if r.moved > 0 {
			fmt.Fprintf(&s, ", %d moved to %s", r.moved, deletedDir)
		}
		if r.views > 0 {
			fmt.Fprintf(&s, ", %d view links", r.views)
		}
		if r.trashed > 0 {
			fmt.Fprintf(&s, ", %d trashed in the cloud", r.trashed)
		}
		if n := r.counts[statusSkipped]; n > 0 {
			fmt.Fprintf(&s, ", %d skipped", n)
		}
		if failed > 0 {
			fmt.Fprintf(&s, ", %d failed", failed)
		}
		fmt.Fprintf(&s, " (%.1f s)", secs)
		if fatal != nil {
			fmt.Fprintf(&s, "; stopped: %v", fatal)
		}
	}
	return &engine.Result{Rows: b.Reader(), Summary: s.String(), Failed: failed}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
