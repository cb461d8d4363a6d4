package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apsql/apsql/actions"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/output"
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
	a := engine.NewArgs(rest)
	dir, err := a.String()
	if err != nil {
		return nil, fmt.Errorf("check: %w (CHECK 'dir' [AGAINST target])", err)
	}
	var target *actions.Target
	if a.Keyword("AGAINST") {
		t, after, err := actions.ParseTarget(a.Rest(), nil)
		if err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
		if strings.TrimSpace(after) != "" {
			return nil, fmt.Errorf("check: unexpected %q at the end of the statement", clip(after, 20))
		}
		target = &t
	} else if !a.Done() {
		return nil, fmt.Errorf("check: unexpected %q: write CHECK 'dir' [AGAINST target]", clip(a.Rest(), 20))
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a folder")
		}
		return nil, fmt.Errorf("check: %s: %w", dir, err)
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
	nodes, _, err := loadNodes(ctx, s.DB, options{target: target})
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	var m *manifest
	if _, err := os.Stat(filepath.Join(dir, metaDir, manifestName)); err == nil {
		if m, err = readManifest(dir); err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
	}
	type local struct {
		path, md5 string
		size      int64
		used      bool
	}
	var locals []*local
	rows, err := s.DB.Query(ctx, `SELECT path, size, coalesce(md5, '') FROM local_files(?) ORDER BY path`, dir)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	byPath := map[string]*local{}
	for rows.Next() {
		l := &local{}
		if err := rows.Scan(&l.path, &l.size, &l.md5); err != nil {
			rows.Close()
			return nil, err
		}
		locals = append(locals, l)
		byPath[l.path] = l
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	// The backup's own files, part files and sidecars are not photos.
	own := func(p string) bool {
		rel, _ := filepath.Rel(dir, p)
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
			_, ok := byPath[stem]
			return ok || m != nil && m.byPath[fold(strings.TrimSuffix(rel, filepath.Ext(rel)))] != ""
		}
		return false
	}
	kept := locals[:0]
	for _, l := range locals {
		if !own(l.path) {
			kept = append(kept, l)
		}
	}
	locals = kept
	var out []checkRow
	usedNode := map[string]bool{}
	if m != nil {
		for _, n := range nodes {
			rec := m.get(n.ID)
			if rec == nil {
				continue
			}
			l := byPath[filepath.Join(dir, filepath.FromSlash(rec.Path))]
			if l == nil || l.used {
				continue
			}
			l.used, usedNode[n.ID] = true, true
			st := checkMatched
			if !strings.EqualFold(l.md5, n.MD5) {
				st = checkDiffers
			}
			out = append(out, checkRow{st, l.path, n.ID, n.Name, l.md5, l.size})
		}
	}
	cloudByMD5 := map[string][]*node{}
	byName := map[string][]*node{}
	for _, n := range nodes {
		if n.MD5 != "" {
			cloudByMD5[strings.ToLower(n.MD5)] = append(cloudByMD5[strings.ToLower(n.MD5)], n)
		}
		byName[n.Name] = append(byName[n.Name], n)
	}
	localMD5 := map[string]bool{}
	for _, l := range locals {
		localMD5[strings.ToLower(l.md5)] = true
	}
	for _, l := range locals {
		if l.used {
			continue
		}
		if ns := cloudByMD5[strings.ToLower(l.md5)]; l.md5 != "" && len(ns) > 0 {
			for _, n := range ns {
				usedNode[n.ID] = true
			}
			out = append(out, checkRow{checkMatched, l.path, ns[0].ID, ns[0].Name, l.md5, l.size})
			continue
		}
		if m == nil {
			if ns := byName[filepath.Base(l.path)]; len(ns) == 1 && !usedNode[ns[0].ID] && !localMD5[strings.ToLower(ns[0].MD5)] {
				usedNode[ns[0].ID] = true
				out = append(out, checkRow{checkDiffers, l.path, ns[0].ID, ns[0].Name, l.md5, l.size})
				continue
			}
		}
		out = append(out, checkRow{checkMissingInCloud, l.path, "", "", l.md5, l.size})
	}
	for _, n := range nodes {
		if usedNode[n.ID] {
			continue
		}
		if localMD5[strings.ToLower(n.MD5)] && n.MD5 != "" {
			out = append(out, checkRow{checkMatched, "", n.ID, n.Name, n.MD5, n.Size})
			continue
		}
		out = append(out, checkRow{checkMissingLocally, "", n.ID, n.Name, n.MD5, n.Size})
	}
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
			parts = append(parts, output.Thousands(counts[st])+" "+st)
		}
	}
	sum := "check: " + strings.Join(parts, ", ")
	if len(parts) == 0 {
		sum = "check: the folder and the target are both empty"
	}
	return &engine.Result{Rows: bl.Reader(), Summary: sum}, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var _ = fs.ErrNotExist
