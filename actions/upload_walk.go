package actions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/apsql/apsql/engine"
)

// walkUpload lists the regular files under local (or local itself). A
// directory is recreated under remote with its own name, as cp -r does;
// with a trailing slash ('dir/') its contents go straight into remote, as
// rsync does.
//
//   - local itself may be a symbolic link, to a file or a directory: it is
//     followed, and the remote folder takes the link's name (UPLOAD
//     '~/Pictures' where Pictures links to /data/photos makes "Pictures").
//   - Symbolic links inside the tree are not followed (no loops, nothing
//     outside the tree); they come back as skipped outcomes.
//   - Hidden files and folders (.DS_Store, ...) are skipped, as outcomes.
func walkUpload(local, remote string) ([]*upFile, []Outcome, error) {
	walkRoot, fi, err := statUpload(local)
	if err != nil {
		return nil, nil, err
	}
	if fi.Mode().IsRegular() {
		name := filepath.Base(local)
		return []*upFile{{abs: local, rel: name, remote: remote, name: name, size: fi.Size()}}, nil, nil
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("%s is neither a file nor a directory", engine.Quote(local))
	}
	base, err := treeName(local)
	if err != nil {
		return nil, nil, err
	}
	// rsync's rule: 'dir/' uploads the contents of dir into remote, 'dir'
	// uploads dir itself (remote/dir).
	contents := strings.HasSuffix(local, "/") || strings.HasSuffix(local, string(filepath.Separator))
	w := &treeWalk{root: walkRoot, base: base, remote: remote, contents: contents}
	if err := filepath.WalkDir(walkRoot, w.visit); err != nil {
		return nil, nil, err
	}
	return w.files, w.skipped, nil
}

// statUpload returns the path to walk for UPLOAD 'local' (the link's
// target when local is a symbolic link: only the argument is followed, as
// WalkDir would list the link itself) and what it is.
func statUpload(local string) (string, fs.FileInfo, error) {
	walkRoot := local
	if li, err := os.Lstat(local); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		if walkRoot, err = filepath.EvalSymlinks(local); err != nil {
			return "", nil, fmt.Errorf("%s is a symbolic link that cannot be followed: %w", engine.Quote(local), err)
		}
	}
	fi, err := os.Stat(walkRoot)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, fmt.Errorf("%s does not exist: give a file or a directory", engine.Quote(local))
	}
	return walkRoot, fi, err
}

// treeName is the name of the uploaded directory, the first component of
// the shown paths ("." and "/" name the directory they stand for).
func treeName(local string) (string, error) {
	base := filepath.Base(filepath.Clean(local))
	if base != "." && base != string(filepath.Separator) {
		return base, nil
	}
	abs, err := filepath.Abs(local)
	if err != nil {
		return "", err
	}
	return filepath.Base(abs), nil
}

// treeWalk lists one directory tree of an UPLOAD.
type treeWalk struct {
	root     string // the directory walked (the argument, its link followed)
	base     string // its name: the first component of the shown paths
	remote   string // the remote folder the tree goes into
	contents bool   // 'dir/': the tree's contents go straight into remote
	files    []*upFile
	skipped  []Outcome
}

// visit is the WalkDir function: a regular file is listed; what is not
// uploaded (unreadable, hidden, a link, not a regular file) becomes an
// outcome saying why.
func (w *treeWalk) visit(p string, d fs.DirEntry, err error) error {
	rel, rerr := filepath.Rel(w.root, p)
	if rerr != nil {
		return rerr
	}
	shown := joinRel(w.base, filepath.ToSlash(rel))
	if rel == "." {
		shown = w.base
	}
	switch {
	case err != nil:
		w.skip(shown, StatusFailed, "read: "+err.Error())
		return skipDirOf(d)
	case rel != "." && strings.HasPrefix(d.Name(), "."):
		w.skip(shown, StatusSkipped, "hidden file or folder: not uploaded")
		return skipDirOf(d)
	case d.IsDir():
		return nil
	case d.Type()&fs.ModeSymlink != 0:
		w.skip(shown, StatusSkipped, "symbolic link: not followed")
		return nil
	case !d.Type().IsRegular():
		w.skip(shown, StatusSkipped, "not a regular file")
		return nil
	}
	info, err := d.Info()
	if err != nil {
		w.skip(shown, StatusFailed, "read: "+err.Error())
		return nil
	}
	w.files = append(w.files, &upFile{abs: p, rel: shown, remote: w.remoteDir(rel), name: d.Name(), size: info.Size()})
	return nil
}

// remoteDir is the remote folder of the file at rel (relative to the
// walked directory).
func (w *treeWalk) remoteDir(rel string) string {
	dir := path.Dir(filepath.ToSlash(rel))
	if dir == "." {
		dir = ""
	}
	if w.contents {
		return joinRel(w.remote, dir)
	}
	return joinRel(w.remote, joinRel(w.base, dir))
}

func (w *treeWalk) skip(shown string, st Status, detail string) {
	w.skipped = append(w.skipped, Outcome{Name: shown, Status: st, Target: shown, Detail: detail})
}

// skipDirOf is what WalkDir is told after an entry is left out: skip its
// subtree when it is a directory.
func skipDirOf(d fs.DirEntry) error {
	if d != nil && d.IsDir() {
		return fs.SkipDir
	}
	return nil
}

// joinRel joins two '/'-separated relative paths, either of which may be
// empty.
func joinRel(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + "/" + b
}
