package vision

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FileResult is the outcome for one file of LabelDir.
type FileResult struct {
	Path string // the file, as dir_in joined with its relative path
	// Status is StatusOK (copied, or already there from an earlier run),
	// StatusSkipped (not decodable, or no prediction qualified) or
	// StatusFailed (the copy failed). Detail says more.
	Status string
	Detail string
	// Label, Index and Prob describe the chosen prediction; Label is ""
	// when none qualified.
	Label string
	Index int
	Prob  float64
	// Dest is the copy's path under dir_out, "" when none was made.
	Dest string
	// Top holds the TopK best predictions, best first, for the labels table.
	Top []Prediction
}

// Summary counts the files of a LabelDir run.
type Summary struct {
	Files     int           // files seen under dir_in
	Labeled   int           // copied (or already present) into a label folder
	Unlabeled int           // decoded, but no prediction qualified
	Skipped   int           // not decodable (HEIC, damaged, not an image)
	Failed    int           // the copy failed
	Removed   int           // files of earlier runs removed from dir_out first
	Elapsed   time.Duration // wall time of the run
}

// LabelDir sorts the images under dir in into label folders under out, the
// reference's run(...) semantics:
//   - every regular file under in (recursively, skipping out when it lies
//     inside in) is decoded and classified; files that cannot be decoded
//     are reported as skipped with the reason;
//   - for each image, its TopK predictions are walked best first,
//     skipping names matching Exclude and names not matching Restrict; the
//     first with probability ≥ Threshold wins (see Choose);
//   - the winner's image is copied, keeping its modification time, to
//     out/FOLDER/NAME, FOLDER being the class name, synset or index
//     (Naming); at most one copy per image; a name taken by another file
//     gets a suffix (NAME_2.jpg);
//   - without Accumulate, the files earlier runs wrote to out are removed
//     first. apsql lists what it writes in out/.apsql-label-manifest and
//     refuses to empty a directory holding any other file.
//
// emit, when not nil, is called for every file in walk order on the calling
// goroutine. The error is for the run as a whole (bad options, dir_out
// refused, model failure, ctx ended), without the statement's name: the
// caller says whose it is; per-file problems are in the results.
func (m *Model) LabelDir(ctx context.Context, in, out string, opts Options, emit func(FileResult)) (Summary, error) {
	start := time.Now()
	var sum Summary
	opts = opts.withDefaults()
	if err := opts.check(); err != nil {
		return sum, err
	}
	if opts.Naming == NamingSynset && m.classes[0].Synset == "" {
		return sum, errors.New("naming 'synset' needs a labels file with synsets (a TSV with the header index, synset, name)")
	}
	st, err := os.Stat(in)
	if err != nil {
		return sum, fmt.Errorf("input directory: %w", err)
	}
	if !st.IsDir() {
		return sum, fmt.Errorf("input %s is not a directory", in)
	}
	inAbs, err := realPath(in)
	if err != nil {
		return sum, err
	}
	outAbs, err := realPath(out)
	if err != nil {
		return sum, err
	}
	if inAbs == outAbs || within(inAbs, outAbs) {
		return sum, fmt.Errorf("input %s is inside output %s; choose an output directory outside the images", in, out)
	}

	mf, err := openManifest(out)
	if err != nil {
		return sum, err
	}
	defer mf.close()
	// Now that out exists, resolve it again: a symlink on its way (out
	// did not exist before) must not hide that it lies inside in, where
	// the walk would read the copies as input.
	if outAbs, err = realPath(out); err != nil {
		return sum, err
	}
	if inAbs == outAbs || within(inAbs, outAbs) {
		return sum, fmt.Errorf("input %s is inside output %s; choose an output directory outside the images", in, out)
	}
	if !opts.Accumulate {
		if sum.Removed, err = mf.empty(); err != nil {
			return sum, err
		}
	}

	feed := func(_ context.Context, send func(*task) bool) error {
		stop := errors.New("stop")
		err := filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if path == in {
					return fmt.Errorf("walk %s: %w", path, err)
				}
				// An unreadable file or folder is reported in its place,
				// as skipped, and the walk goes on.
				if !send(&task{ref: path, load: func() ([]byte, error) { return nil, err }}) {
					return stop
				}
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if a, err := filepath.Abs(path); err == nil && a == outAbs {
					return filepath.SkipDir
				}
				if path != in {
					if r, err := realPath(path); err == nil && r == outAbs {
						return filepath.SkipDir
					}
				}
				return nil
			}
			if !d.Type().IsRegular() {
				// Follow symlinks to files, not to directories.
				if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
					return nil
				}
			}
			if !send(&task{ref: path, load: func() ([]byte, error) { return os.ReadFile(path) }}) {
				return stop
			}
			return nil
		})
		if errors.Is(err, stop) {
			return nil
		}
		return err
	}

	p := pipe{m: m, batch: opts.Batch, workers: opts.Workers}
	err = p.run(ctx, feed, func(o outcome) error {
		r := m.fileResult(o, opts, mf)
		sum.Files++
		switch {
		case r.Status == StatusFailed:
			sum.Failed++
		case r.Status == StatusOK:
			sum.Labeled++
		case r.Top == nil:
			sum.Skipped++
		default:
			sum.Unlabeled++
		}
		if emit != nil {
			emit(r)
		}
		return nil
	})
	sum.Elapsed = time.Since(start)
	return sum, err
}

// fileResult classifies one outcome and makes its copy.
func (m *Model) fileResult(o outcome, opts Options, mf *manifest) FileResult {
	path := o.ref.(string)
	r := FileResult{Path: path, Index: -1}
	if o.err != nil {
		r.Status, r.Detail = StatusSkipped, o.err.Error()
		return r
	}
	r.Top = m.topK(o.probs, opts.TopK)
	p, ok := Choose(r.Top, opts)
	if !ok {
		r.Status, r.Detail = StatusSkipped, whyUnlabeled(r.Top, opts)
		return r
	}
	r.Label, r.Index, r.Prob = p.Name, p.Index, p.Prob
	dest, already, err := mf.copy(path, folderName(p, opts.Naming))
	switch {
	case err != nil:
		r.Status, r.Detail = StatusFailed, err.Error()
	case already:
		r.Status, r.Dest, r.Detail = StatusOK, dest, "already present"
	default:
		r.Status, r.Dest = StatusOK, dest
	}
	return r
}

// folderName is the directory a prediction's images go to.
func folderName(p Prediction, naming string) string {
	switch naming {
	case NamingSynset:
		return cleanName(p.Synset)
	case NamingIndex:
		return strconv.Itoa(p.Index)
	}
	return cleanName(p.Name)
}

// cleanName makes a class name safe as one path element: labels files are
// user input, and a name must never climb out of dir_out.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, strings.TrimSpace(s))
	if s == "" || s == "." || s == ".." {
		return "_" + s
	}
	return s
}

// realPath is the absolute path with symlinks resolved as far as it exists.
func realPath(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(a); err == nil {
		return r, nil
	}
	return a, nil
}

// within reports whether p lies strictly inside dir.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// manifestName is the file in dir_out that lists, one quoted relative path
// per line, the files apsql wrote there.
const manifestName = ".apsql-label-manifest"

const manifestHeader = "# apsql LABEL manifest: the files apsql wrote in this directory; LABEL without ACCUMULATE removes only these"

// partSuffix marks a copy being written; it is renamed when complete.
const partSuffix = ".apsql-part"

// manifest tracks the files apsql wrote to a dir_out. Every write goes
// through root, so that no link planted in dir_out (a label folder, a part
// file, the manifest) makes LABEL write outside it.
type manifest struct {
	dir   string
	root  *os.Root
	files map[string]bool // slash-separated paths relative to dir
	f     *os.File        // append handle, opened on the first record
	// taken holds the copies made or claimed by this run: another image
	// of the same name never counts as their "already present".
	taken map[string]bool
}

func openManifest(dir string) (*manifest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	mf := &manifest{dir: dir, root: root, files: map[string]bool{}, taken: map[string]bool{}}
	if fi, err := root.Lstat(manifestName); err == nil && !fi.Mode().IsRegular() {
		root.Close()
		return nil, fmt.Errorf("%s is not a regular file (a symbolic link?): LABEL never writes through one; remove it", filepath.Join(dir, manifestName))
	}
	f, err := root.Open(manifestName)
	if errors.Is(err, fs.ErrNotExist) {
		return mf, nil
	}
	if err != nil {
		root.Close()
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rel, err := strconv.Unquote(line)
		if err != nil {
			root.Close()
			return nil, fmt.Errorf("%s:%d is damaged (%v); empty %s yourself or use ACCUMULATE true", filepath.Join(dir, manifestName), n, err, dir)
		}
		mf.files[rel] = true
	}
	if err := sc.Err(); err != nil {
		root.Close()
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return mf, nil
}

// empty removes the files earlier runs wrote, after checking that dir holds
// nothing else, and returns how many it removed.
func (mf *manifest) empty() (int, error) {
	var foreign, ours, dirs []string
	err := filepath.WalkDir(mf.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mf.dir, path)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			if rel != "." {
				dirs = append(dirs, path)
			}
		case rel == manifestName:
		case mf.files[rel] || strings.HasSuffix(rel, partSuffix):
			ours = append(ours, path)
		default:
			foreign = append(foreign, rel)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scan output directory: %w", err)
	}
	if len(foreign) > 0 {
		return 0, fmt.Errorf("refusing to empty %s: it holds %d file(s) apsql did not write (such as %q); choose a new or empty output directory, or use ACCUMULATE true to add to it", mf.dir, len(foreign), foreign[0])
	}
	for _, p := range ours {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("empty output directory: %w", err)
		}
	}
	// Deepest first, so parents empty after their children; directories
	// that still hold something stay.
	slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
	for _, d := range dirs {
		_ = os.Remove(d)
	}
	mf.files = map[string]bool{}
	if err := mf.root.WriteFile(manifestName, []byte(manifestHeader+"\n"), 0o644); err != nil {
		return 0, fmt.Errorf("reset manifest: %w", err)
	}
	return len(ours), nil
}

// record notes rel in the manifest before the file is written, so that a
// crash never leaves a file apsql wrote but did not list.
func (mf *manifest) record(rel string) error {
	if mf.f == nil {
		_, statErr := mf.root.Lstat(manifestName)
		f, err := mf.root.OpenFile(manifestName, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
		if err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		mf.f = f
		if errors.Is(statErr, fs.ErrNotExist) {
			if _, err := f.WriteString(manifestHeader + "\n"); err != nil {
				return fmt.Errorf("manifest: %w", err)
			}
		}
	}
	if _, err := mf.f.WriteString(strconv.Quote(rel) + "\n"); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	mf.files[rel] = true
	return nil
}

func (mf *manifest) close() {
	if mf.f != nil {
		mf.f.Close()
	}
	mf.root.Close()
}

// copy copies src into dir/folder, keeping its modification time and
// permissions, and returns the copy's path. already is true when an earlier
// run made the same copy (same name, size, time and content).
func (mf *manifest) copy(src, folder string) (dest string, already bool, err error) {
	st, err := os.Stat(src)
	if err != nil {
		return "", false, fmt.Errorf("copy: %w", err)
	}
	dir := filepath.Join(mf.dir, folder)
	if fi, err := mf.root.Lstat(folder); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return "", false, fmt.Errorf("copy: the folder %s is a symbolic link: LABEL never writes through a link; remove it", dir)
	}
	if err := mf.root.MkdirAll(folder, 0o755); err != nil {
		return "", false, fmt.Errorf("copy: %w", err)
	}
	base := filepath.Base(src)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	var rel string
	for n := 1; ; n++ {
		name := base
		if n > 1 {
			name = stem + "_" + strconv.Itoa(n) + ext
		}
		rel = folder + "/" + name
		dest = filepath.Join(dir, name)
		fi, err := mf.root.Lstat(filepath.Join(folder, name))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", false, fmt.Errorf("copy: %w", err)
		}
		if !mf.taken[rel] && mf.files[rel] && fi.Size() == st.Size() && fi.ModTime().Equal(st.ModTime()) {
			same, err := sameFiles(src, dest)
			if err != nil {
				return "", false, fmt.Errorf("copy: %w", err)
			}
			if same {
				mf.taken[rel] = true
				return dest, true, nil
			}
		}
	}
	mf.taken[rel] = true
	if err := mf.record(rel); err != nil {
		return "", false, err
	}
	if err := copyFile(mf.root, src, filepath.FromSlash(rel), st); err != nil {
		return "", false, err
	}
	return dest, false, nil
}

// sameFiles reports whether files a and b hold the same bytes (their sizes
// are known to be equal).
func sameFiles(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == ea || (na == 0 && nb == 0), nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

// copyFile writes dest.apsql-part under root, syncs it and renames it to
// dest (a name relative to root). A stale part file, or a link planted in
// its place, is removed (a link's target is left alone), and the new one is
// created with O_EXCL|O_NOFOLLOW: nothing is ever written through a link.
func copyFile(root *os.Root, src, dest string, st fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer in.Close()
	part := dest + partSuffix
	if fi, err := root.Lstat(part); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("copy: %s is a directory; move it away", filepath.Join(root.Name(), part))
		}
		if err := root.Remove(part); err != nil {
			return fmt.Errorf("copy: remove the stale %s: %w", filepath.Base(part), err)
		}
	}
	out, err := root.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, st.Mode().Perm()|0o200)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// A zero access time leaves it unchanged.
		err = root.Chtimes(part, time.Time{}, st.ModTime())
	}
	if err == nil {
		err = root.Rename(part, dest)
	}
	if err != nil {
		root.Remove(part)
		return fmt.Errorf("copy %s: %w", filepath.Base(src), err)
	}
	return nil
}
