package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/resultset"
)

// The statuses of CHECK, as rclone check --combined names them.
const (
	checkMatched         = "matched"
	checkMissingInCloud  = "missing_in_cloud"
	checkMissingLocally  = "missing_locally"
	checkDiffers         = "differs"
	checkStatusesInOrder = "differs missing_in_cloud missing_locally matched"
)

type checkRow struct {
	status, path, id, name, md5 string
	size                        int64
}

// runCheck runs CHECK 'dir' [AGAINST target]: one row per local file or
// node, by md5. A file at the path a backup's manifest recorded for a node
// is compared with that node (differs when the md5 is not the node's);
// otherwise any node with the file's md5 matches it; without a manifest, a
// file and a node of the same name whose md5s differ are "differs".
func (b *Backup) runCheck(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	dir, target, err := parseCheck(rest)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	if explain {
		bl := resultset.New(resultset.Col("plan", resultset.String))
		what := "the whole library (nodes)"
		if target != nil {
			what = target.Text()
		}
		bl.Append(fmt.Sprintf("hash every file below %s with local_files() (md5s cached by path, size and mtime) and compare with %s by md5; nothing is sent", dir, what))
		return &engine.Result{Rows: bl.Reader(), Summary: "check (explain): nothing was read or sent"}, nil
	}
	ck := &checker{s: s, dir: dir, usedNode: map[string]bool{}}
	if ck.nodes, _, err = loadNodes(ctx, s.DB, options{target: target}); err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, metaDir, manifestName)); err == nil {
		if ck.m, err = readManifest(dir); err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
	}
	if err := ck.readLocals(ctx, s.DB); err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	ck.byManifest()
	ck.byContent()
	ck.leftInCloud()
	return ck.result(), nil
}

// parseCheck reads CHECK's folder and AGAINST target (nil: the library).
func parseCheck(rest string) (string, *actions.Target, error) {
	a := engine.NewArgs(rest)
	dir, err := a.String()
	if err != nil {
		return "", nil, fmt.Errorf("%w (CHECK 'dir' [AGAINST target])", err)
	}
	var target *actions.Target
	if a.Keyword("AGAINST") {
		t, after, err := actions.ParseTarget(a.Rest(), nil)
		if err != nil {
			return "", nil, err
		}
		if strings.TrimSpace(after) != "" {
			return "", nil, fmt.Errorf("unexpected %q at the end of the statement", clip(after, 20))
		}
		target = &t
	} else if !a.Done() {
		return "", nil, fmt.Errorf("unexpected %q: write CHECK 'dir' [AGAINST target]", clip(a.Rest(), 20))
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a folder")
		}
		return "", nil, fmt.Errorf("%s: %w", dir, err)
	}
	return dir, target, nil
}

// checker pairs a folder's files with the target's nodes.
type checker struct {
	s        *engine.Session
	dir      string
	m        *manifest // the folder's backup manifest; nil when it is none
	nodes    []*node
	locals   []*checkFile
	byPath   map[string]*checkFile
	usedNode map[string]bool
	out      []checkRow
}

// checkFile is a file of the folder.
type checkFile struct {
	path, md5 string
	size      int64
	used      bool
}

// readLocals reads the folder's files with local_files(), leaving out the
// backup's own.
func (ck *checker) readLocals(ctx context.Context, db *engine.DB) error {
	rows, err := db.Query(ctx, `SELECT path, size, coalesce(md5, '') FROM local_files(?) ORDER BY path`, ck.dir)
	if err != nil {
		return err
	}
	defer rows.Close()
	ck.byPath = map[string]*checkFile{}
	var all []*checkFile
	for rows.Next() {
		l := &checkFile{}
		if err := rows.Scan(&l.path, &l.size, &l.md5); err != nil {
			return err
		}
		all = append(all, l)
		ck.byPath[l.path] = l
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, l := range all {
		if !ck.own(l.path) {
			ck.locals = append(ck.locals, l)
		}
	}
	return nil
}

// own reports the backup's own files, part files and sidecars: not
// photos.
func (ck *checker) own(p string) bool {
	rel, _ := filepath.Rel(ck.dir, p)
	rel = filepath.ToSlash(rel)
	top, _, _ := strings.Cut(rel, "/")
	base := filepath.Base(p)
	switch {
	case top == metaDir || top == deletedDir:
		return true
	case strings.HasPrefix(base, ".") && (strings.HasSuffix(base, ".part") || strings.HasSuffix(base, ".tmp")):
		return true
	case strings.HasSuffix(p, ".xmp") || strings.HasSuffix(p, ".json"):
		// A sidecar: beside its file, or of a file the manifest records.
		stem := p[:strings.LastIndexByte(p, '.')]
		_, ok := ck.byPath[stem]
		return ok || ck.m != nil && ck.m.byPath[fold(strings.TrimSuffix(rel, filepath.Ext(rel)))] != ""
	}
	return false
}

// byManifest compares each node the manifest records with the file at
// its path.
func (ck *checker) byManifest() {
	if ck.m == nil {
		return
	}
	for _, n := range ck.nodes {
		rec := ck.m.get(n.ID)
		if rec == nil {
			continue
		}
		l := ck.byPath[filepath.Join(ck.dir, filepath.FromSlash(rec.Path))]
		if l == nil || l.used {
			continue
		}
		l.used, ck.usedNode[n.ID] = true, true
		st := checkMatched
		if !strings.EqualFold(l.md5, n.MD5) {
			st = checkDiffers
		}
		ck.out = append(ck.out, checkRow{st, l.path, n.ID, n.Name, l.md5, l.size})
	}
}

// byContent pairs each other file with the nodes of its md5; without a
// manifest, a file with the name of one node (whose md5 no file has)
// differs from it; the rest are missing in the cloud.
func (ck *checker) byContent() {
	cloudByMD5 := map[string][]*node{}
	byName := map[string][]*node{}
	for _, n := range ck.nodes {
		if n.MD5 != "" {
			cloudByMD5[strings.ToLower(n.MD5)] = append(cloudByMD5[strings.ToLower(n.MD5)], n)
		}
		byName[n.Name] = append(byName[n.Name], n)
	}
	localMD5 := ck.localMD5s()
	for _, l := range ck.locals {
		if l.used {
			continue
		}
		if ns := cloudByMD5[strings.ToLower(l.md5)]; l.md5 != "" && len(ns) > 0 {
			for _, n := range ns {
				ck.usedNode[n.ID] = true
			}
			ck.out = append(ck.out, checkRow{checkMatched, l.path, ns[0].ID, ns[0].Name, l.md5, l.size})
			continue
		}
		if ck.m == nil {
			if ns := byName[filepath.Base(l.path)]; len(ns) == 1 && !ck.usedNode[ns[0].ID] && !localMD5[strings.ToLower(ns[0].MD5)] {
				ck.usedNode[ns[0].ID] = true
				ck.out = append(ck.out, checkRow{checkDiffers, l.path, ns[0].ID, ns[0].Name, l.md5, l.size})
				continue
			}
		}
		ck.out = append(ck.out, checkRow{checkMissingInCloud, l.path, "", "", l.md5, l.size})
	}
}

// localMD5s is the set of the files' md5s (lower case).
func (ck *checker) localMD5s() map[string]bool {
	set := map[string]bool{}
	for _, l := range ck.locals {
		set[strings.ToLower(l.md5)] = true
	}
	return set
}

// leftInCloud adds the nodes no file was paired with: matched when a file
// has their md5 (a copy), else missing locally.
func (ck *checker) leftInCloud() {
	localMD5 := ck.localMD5s()
	for _, n := range ck.nodes {
		if ck.usedNode[n.ID] {
			continue
		}
		if localMD5[strings.ToLower(n.MD5)] && n.MD5 != "" {
			ck.out = append(ck.out, checkRow{checkMatched, "", n.ID, n.Name, n.MD5, n.Size})
			continue
		}
		ck.out = append(ck.out, checkRow{checkMissingLocally, "", n.ID, n.Name, n.MD5, n.Size})
	}
}

// result sorts the rows (by status, path, id) and counts them.
func (ck *checker) result() *engine.Result {
	out := ck.out
	rank := func(s string) int { return strings.Index(checkStatusesInOrder, s) }
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].status != out[j].status {
			return rank(out[i].status) < rank(out[j].status)
		}
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return out[i].id < out[j].id
	})
	bl := resultset.New(resultset.Col("status", resultset.String), resultset.Col("path", resultset.String),
		resultset.Col("id", resultset.String), resultset.Col("name", resultset.String),
		resultset.Col("size", resultset.Int64), resultset.Col("md5", resultset.String))
	counts := map[string]int64{}
	for _, r := range out {
		counts[r.status]++
		bl.Append(r.status, nullable(r.path), nullable(r.id), nullable(r.name), r.size, nullable(r.md5))
	}
	var parts []string
	for _, st := range strings.Fields(checkStatusesInOrder) {
		if counts[st] > 0 {
			parts = append(parts, ck.s.Say("%v %s", model.Count(counts[st]), st))
		}
	}
	sum := "check: " + strings.Join(parts, ", ")
	if len(parts) == 0 {
		sum = "check: the folder and the target are both empty"
	}
	return &engine.Result{Rows: bl.Reader(), Summary: sum}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
