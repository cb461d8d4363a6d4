package actions

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apsql/apsql/output"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// upFile is one local file of an UPLOAD.
type upFile struct {
	abs    string // local path
	rel    string // shown path: relative to the uploaded path's parent, '/'-separated
	remote string // remote folder, relative to the root, '/'-separated ("" is the root)
	name   string
	size   int64
	md5    string
	err    error // reading or hashing failed
}

// What UPLOAD does with a file whose name the folder holds with other
// content (ON CONFLICT): report it as a conflict (none given), skip it,
// upload it as "name (1).ext", or make it the new content of that node.
const (
	conflictReport  = ""
	conflictSkip    = "SKIP"
	conflictRename  = "RENAME"
	conflictReplace = "REPLACE"
)

// maxRenames bounds the "name (n).ext" tried by ON CONFLICT RENAME.
const maxRenames = 1000

// parseUploadTail reads what follows UPLOAD 'path': [TO 'remote/folder']
// [ON CONFLICT SKIP|RENAME|REPLACE] [(options)].
func parseUploadTail(st *statement, rest string) (onConflict string, err error) {
	a := engine.NewArgs(rest)
	if a.Keyword("TO") {
		if st.to, err = a.String(); err != nil {
			return "", fmt.Errorf("TO: %w", err)
		}
		st.hasTo = true
	}
	if a.Keyword("ON") {
		if !a.Keyword("CONFLICT") {
			return "", fmt.Errorf("expected ON CONFLICT SKIP|RENAME|REPLACE, found ON %q", clip(a.Rest(), 20))
		}
		for _, w := range []string{conflictSkip, conflictRename, conflictReplace} {
			if a.Keyword(w) {
				onConflict = w
			}
		}
		if onConflict == "" {
			return "", fmt.Errorf("ON CONFLICT takes SKIP, RENAME or REPLACE, not %q", clip(a.Rest(), 20))
		}
	}
	if st.opts, err = a.Options("DEDUP", "CONCURRENCY"); err != nil {
		return "", err
	}
	if !a.Done() {
		return "", fmt.Errorf("unexpected %q at the end of the statement (UPLOAD 'local/path' [TO 'remote/folder'] [ON CONFLICT SKIP|RENAME|REPLACE] [(options)])", clip(a.Rest(), 20))
	}
	return onConflict, nil
}

// runUpload runs UPLOAD 'path' [TO 'remote/folder'] [ON CONFLICT
// SKIP|RENAME|REPLACE] [(DEDUP true, CONCURRENCY n)].
func (x *Actions) runUpload(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	a := engine.NewArgs(rest)
	var local, query, tail string
	var err error
	if a.PeekByte() == '(' {
		query, tail, err = uploadQuery(rest) // UPLOAD (SELECT path ...): upload_query.go
	} else if local, err = a.String(); err == nil {
		tail = a.Rest()
	}
	if err != nil {
		return nil, fmt.Errorf("upload: %w (UPLOAD 'local/path' | (SELECT path ...) [TO 'remote/folder'])", err)
	}
	var st statement
	onConflict, err := parseUploadTail(&st, tail)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	dedup := true
	if v, ok := st.opts["DEDUP"]; ok {
		if dedup, err = engine.ParseBool("DEDUP", v); err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
	}
	conc, err := concurrencyOpt(st.opts)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	remoteBase, err := remotePath(st.to)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	r, err := newRun(ctx, s, "UPLOAD", explain)
	if err != nil {
		return nil, err
	}
	var files []*upFile
	var skipped []Outcome
	if query == "" {
		files, skipped, err = walkUpload(local, remoteBase)
	} else {
		files, skipped, err = queryUpload(ctx, s.DB, query, remoteBase)
	}
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	for _, o := range skipped {
		r.add(o)
	}
	hashStart := time.Now()
	var hashed int64
	hashFiles(ctx, files, runtime.GOMAXPROCS(0), s.Progress.Start("hash", totalSize(files), "bytes"))
	for _, f := range files {
		hashed += f.size
	}
	hashSecs := time.Since(hashStart).Seconds()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("upload: interrupted while hashing the local files; nothing was sent")
	}
	// Decide, file by file: failed to read, duplicate, or to send.
	var todo []*upFile
	inLibrary := map[string][2]string{}
	if dedup {
		var sums []string
		for _, f := range files {
			if f.err == nil {
				sums = append(sums, f.md5)
			}
		}
		if inLibrary, err = libraryMD5s(ctx, s.DB, sums); err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
	}
	first := map[string]string{} // md5 → rel of the first file with it
	for _, f := range files {
		switch {
		case f.err != nil:
			r.add(Outcome{Name: f.rel, Status: StatusFailed, Detail: f.err.Error(), Target: f.rel})
		case dedup && inLibrary[f.md5][0] != "":
			n := inLibrary[f.md5]
			r.add(Outcome{ID: n[0], Name: f.rel, Status: StatusSkipped, Target: f.rel,
				Detail: fmt.Sprintf("already in the library (same md5 as %s %s)", n[0], engine.Quote(n[1]))})
		case dedup && first[f.md5] != "":
			r.add(Outcome{Name: f.rel, Status: StatusSkipped, Target: f.rel, Detail: "same content as " + first[f.md5] + " in this upload"})
		default:
			first[f.md5] = f.rel
			todo = append(todo, f)
		}
	}
	folders := neededFolders(todo)
	hashNote := ""
	if hashSecs > 0 && hashed > 0 {
		hashNote = fmt.Sprintf("hashed %s at %s/s", output.Bytes(hashed), output.Bytes(int64(float64(hashed)/hashSecs)))
	}
	if explain {
		var bytes int64
		for _, f := range todo {
			bytes += f.size
			r.add(Outcome{Name: f.rel, Status: statusPlanned, Target: f.rel,
				Detail: fmt.Sprintf("POST /cdproxy/nodes into /%s (%s)", f.remote, output.Bytes(f.size))})
		}
		return r.result(false, fmt.Sprintf("would upload %s %s (%s) and create up to %d %s (existing ones are reused); %s; nothing was sent",
			output.Thousands(int64(len(todo))), plural(int64(len(todo)), "file", "files"), output.Bytes(bytes),
			len(folders), plural(int64(len(folders)), "folder", "folders"), hashNote)), nil
	}
	// The journal gets the read failures and the duplicates too.
	if err := r.journalAdded(ctx); err != nil {
		return nil, err
	}
	if len(todo) == 0 {
		return r.result(false, hashNote), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	up := &uploader{c: c, r: r, onConflict: onConflict}
	root, err := c.Root(ctx)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	ids, folderErr, fatal := up.folders(ctx, root.ID, folders, x.workers)
	tracker := s.Progress.Start("upload", int64(len(todo)), "files")
	defer tracker.Done()
	bytesTr := s.Progress.Start("upload", totalSize(todo), "bytes")
	defer bytesTr.Done()
	up.bytes = bytesTr
	start := time.Now()
	if fatal == nil {
		// New nodes go into nodes (and outcomes into the journal) in
		// batches a fraction of a second apart, and before the statement
		// returns, interrupted or not.
		k := r.newSink(ctx, nil)
		// Each file is journaled as about to be sent before it goes.
		fatal = poolJournaled(ctx, r, conc, todo, func(f *upFile) []string { return []string{f.rel} }, uploadRequest, func(f *upFile) error {
			defer tracker.Add(1)
			if err := folderErr[f.remote]; err != nil {
				return k.put(Outcome{Name: f.rel, Status: StatusFailed, Target: f.rel,
					Detail: "folder /" + f.remote + " could not be made: " + err.Error()}, nil)
			}
			o, raw := up.file(ctx, f, ids[f.remote])
			if err := k.put(o, raw); err != nil {
				return err
			}
			return fatalReason(o.Reason)
		}, func(f *upFile, why string) {
			_ = k.put(Outcome{Name: f.rel, Status: StatusFailed, Reason: ReasonNotSent, Target: f.rel, Detail: why}, nil)
		})
		if err := k.close(); err != nil && fatal == nil {
			fatal = err
		}
	} else {
		for _, f := range todo {
			_ = r.record(ctx, nil, Outcome{Name: f.rel, Status: StatusFailed, Reason: ReasonNotSent, Target: f.rel, Detail: "not sent: " + fatal.Error()})
		}
	}
	extra := hashNote
	if secs := time.Since(start).Seconds(); secs > 0 {
		n := r.count(StatusOK)
		extra += fmt.Sprintf("; uploaded %s at %.1f files/s", output.Bytes(up.sent()), float64(n)/secs)
	}
	if f := fatalSummary(fatal); f != "" {
		extra += "; " + f
	}
	return r.end(ctx.Err() != nil, fatal, extra)
}

// journalAdded writes the outcomes collected so far with add (read
// failures, duplicates) to the journal.
func (r *run) journalAdded(ctx context.Context) error {
	r.mu.Lock()
	outs := append([]Outcome(nil), r.outcomes...)
	r.outcomes = r.outcomes[:0]
	r.counts = map[Status]int{}
	r.mu.Unlock()
	return r.record(ctx, nil, outs...)
}

// uploadRequest names an upload in the journal's 'sending' entries.
const uploadRequest = "POST /cdproxy/nodes (upload)"

// remotePath cleans a TO 'remote/folder' path into '/'-separated components
// relative to the root.
func remotePath(p string) (string, error) {
	var comps []string
	for _, c := range strings.Split(strings.ReplaceAll(p, `\`, "/"), "/") {
		c = strings.TrimSpace(c)
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("TO %s: '..' is not allowed in a remote folder path", engine.Quote(p))
		}
		comps = append(comps, c)
	}
	return strings.Join(comps, "/"), nil
}

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
	walkRoot := local
	if li, err := os.Lstat(local); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		// Only the argument is followed; WalkDir would list the link itself.
		if walkRoot, err = filepath.EvalSymlinks(local); err != nil {
			return nil, nil, fmt.Errorf("%s is a symbolic link that cannot be followed: %w", engine.Quote(local), err)
		}
	}
	fi, err := os.Stat(walkRoot)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s does not exist: give a file or a directory", engine.Quote(local))
		}
		return nil, nil, err
	}
	join := func(a, b string) string {
		if a == "" {
			return b
		}
		if b == "" {
			return a
		}
		return a + "/" + b
	}
	if fi.Mode().IsRegular() {
		name := filepath.Base(local)
		return []*upFile{{abs: local, rel: name, remote: remote, name: name, size: fi.Size()}}, nil, nil
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("%s is neither a file nor a directory", engine.Quote(local))
	}
	base := filepath.Base(filepath.Clean(local))
	if base == "." || base == string(filepath.Separator) {
		abs, err := filepath.Abs(local)
		if err != nil {
			return nil, nil, err
		}
		base = filepath.Base(abs)
	}
	// rsync's rule: 'dir/' uploads the contents of dir into remote, 'dir'
	// uploads dir itself (remote/dir).
	contents := strings.HasSuffix(local, "/") || strings.HasSuffix(local, string(filepath.Separator))
	var files []*upFile
	var skipped []Outcome
	err = filepath.WalkDir(walkRoot, func(p string, d fs.DirEntry, err error) error {
		rel, rerr := filepath.Rel(walkRoot, p)
		if rerr != nil {
			return rerr
		}
		shown := join(base, filepath.ToSlash(rel))
		if rel == "." {
			shown = base
		}
		if err != nil {
			skipped = append(skipped, Outcome{Name: shown, Status: StatusFailed, Target: shown, Detail: "read: " + err.Error()})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if rel != "." && strings.HasPrefix(d.Name(), ".") {
			skipped = append(skipped, Outcome{Name: shown, Status: StatusSkipped, Target: shown, Detail: "hidden file or folder: not uploaded"})
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			skipped = append(skipped, Outcome{Name: shown, Status: StatusSkipped, Target: shown, Detail: "symbolic link: not followed"})
			return nil
		case !d.Type().IsRegular():
			skipped = append(skipped, Outcome{Name: shown, Status: StatusSkipped, Target: shown, Detail: "not a regular file"})
			return nil
		}
		info, err := d.Info()
		if err != nil {
			skipped = append(skipped, Outcome{Name: shown, Status: StatusFailed, Target: shown, Detail: "read: " + err.Error()})
			return nil
		}
		dir := path.Dir(filepath.ToSlash(rel))
		if dir == "." {
			dir = ""
		}
		into := join(base, dir)
		if contents {
			into = dir
		}
		files = append(files, &upFile{abs: p, rel: shown, remote: join(remote, into), name: d.Name(), size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return files, skipped, nil
}

// hashFiles computes the md5 of every file on workers goroutines.
func hashFiles(ctx context.Context, files []*upFile, workers int, tr engine.Tracker) {
	defer tr.Done()
	var wg sync.WaitGroup
	next := make(chan *upFile)
	for range max(1, min(workers, len(files))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bp := copyBufs.Get().(*[]byte)
			defer copyBufs.Put(bp)
			for f := range next {
				sum, n, err := md5Sized(f.abs, *bp)
				switch {
				case err != nil:
					f.err = fmt.Errorf("read: %w", err)
				case n != f.size:
					f.err = fmt.Errorf("the file changed while it was being read (%d bytes, then %d): not uploaded; run the statement again once it is stable", f.size, n)
				default:
					f.md5 = sum
				}
				tr.Add(n)
			}
		}()
	}
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		next <- f
	}
	close(next)
	wg.Wait()
}

// md5Sized returns the hex md5 of a file and how many bytes it read.
func md5Sized(p string, buf []byte) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := md5.New()
	n, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func totalSize(files []*upFile) int64 {
	var n int64
	for _, f := range files {
		n += f.size
	}
	return n
}

// libraryMD5s returns, for the sums present in nodes, the id and name of
// one node with it.
func libraryMD5s(ctx context.Context, db *engine.DB, sums []string) (map[string][2]string, error) {
	out := map[string][2]string{}
	for lo := 0; lo < len(sums); lo += 1000 {
		hi := min(lo+1000, len(sums))
		rows, err := db.Query(ctx, `SELECT lower(md5), min(id), min(name) FROM nodes WHERE lower(md5) IN `+idList(sums[lo:hi])+` GROUP BY lower(md5)`)
		if err != nil {
			return nil, fmt.Errorf("look the md5s up in nodes: %w", err)
		}
		for rows.Next() {
			var sum, id, name string
			if err := rows.Scan(&sum, &id, &name); err != nil {
				rows.Close()
				return nil, err
			}
			out[sum] = [2]string{id, name}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// neededFolders returns the remote folders the files go into, with every
// ancestor, parents first.
func neededFolders(files []*upFile) []string {
	set := map[string]bool{}
	for _, f := range files {
		for p := f.remote; p != "" && !set[p]; p = parentOf(p) {
			set[p] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		di, dj := strings.Count(out[i], "/"), strings.Count(out[j], "/")
		if di != dj {
			return di < dj
		}
		return out[i] < out[j]
	})
	return out
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// uploader sends the folders and files of one UPLOAD.
type uploader struct {
	c     *fetch.Client
	r     *run
	bytes engine.Tracker
	// onConflict is the ON CONFLICT choice (conflictReport when none).
	onConflict string
	// v2 is set once POST /cdproxy/nodes answered 403 (some accounts get
	// "Not Registered" there, API.md §7 #2): the rest goes to /v2/upload.
	v2 atomic.Bool

	mu    sync.Mutex
	total int64
}

func (up *uploader) sent() int64 {
	up.mu.Lock()
	defer up.mu.Unlock()
	return up.total
}

// folders makes the remote folders (parents first, one depth level at a
// time) and returns their ids. POST /nodes answers 409 with the existing
// folder's id when the name is taken (API.md §1.3 #13): that folder is
// reused, so re-sending a create is always safe.
func (up *uploader) folders(ctx context.Context, rootID string, paths []string, workers int) (map[string]string, map[string]error, error) {
	ids := map[string]string{"": rootID}
	errs := map[string]error{}
	var mu sync.Mutex
	for lo := 0; lo < len(paths); {
		depth := strings.Count(paths[lo], "/")
		hi := lo
		for hi < len(paths) && strings.Count(paths[hi], "/") == depth {
			hi++
		}
		level := paths[lo:hi]
		lo = hi
		// Each folder is journaled as about to be made before it is.
		fatal := poolJournaled(ctx, up.r, workers, level, func(p string) []string { return []string{"/" + p + "/"} }, `POST /nodes {"kind":"FOLDER"}`, func(p string) error {
			mu.Lock()
			parent, perr := ids[parentOf(p)], errs[parentOf(p)]
			mu.Unlock()
			if perr != nil {
				mu.Lock()
				errs[p] = perr
				mu.Unlock()
				return nil
			}
			id, o, err := up.folder(ctx, parent, p)
			mu.Lock()
			if err != nil {
				errs[p] = err
			} else {
				ids[p] = id
			}
			mu.Unlock()
			if rerr := up.r.record(ctx, nil, o); rerr != nil {
				return rerr
			}
			if errors.Is(err, fetch.ErrUnauthorized) {
				return err
			}
			return nil
		}, func(p string, why string) {
			mu.Lock()
			errs[p] = errors.New(why)
			mu.Unlock()
		})
		if fatal != nil {
			return ids, errs, fatal
		}
	}
	return ids, errs, nil
}

// folder makes (or finds) one remote folder.
func (up *uploader) folder(ctx context.Context, parentID, p string) (string, Outcome, error) {
	name := p[strings.LastIndexByte(p, '/')+1:]
	o := Outcome{Name: "/" + p + "/", Target: "/" + p + "/"}
	up.r.requests.Add(1)
	n, err := up.c.CreateFolder(context.WithoutCancel(ctx), parentID, name,
		func(context.Context, error) bool { return true })
	if errors.Is(err, fetch.ErrUnexpectedAnswer) {
		err = nil // the answer is read below
	}
	conflict, isConflict := "", false
	if err != nil {
		conflict, isConflict = (api{up.c}).conflictID(ctx, err, parentID, name, "FOLDER")
	}
	switch {
	case err == nil:
		if n.ID == "" {
			err = fmt.Errorf("POST /nodes: the answer has no folder id: %s", clip(string(n.Raw), 60))
			o.Status, o.Detail = StatusFailed, err.Error()
			return "", o, err
		}
		o.ID, o.Status, o.Detail = n.ID, StatusOK, "POST /nodes: folder created"
		// Keep folders in step with the service (path as SYNC writes it).
		_ = up.r.withTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO folders (id, name, parentId, path, createdDate, modifiedDate) VALUES (?, ?, ?, ?, ?, ?)`,
				n.ID, name, parentID, "/"+p, nullTime(n.CreatedDate), nullTime(n.ModifiedDate))
			return err
		})
		return n.ID, o, nil
	case isConflict:
		// The name may be held by a file: only a folder can be reused.
		n, gerr := (api{up.c}).getNode(ctx, conflict)
		switch {
		case gerr != nil:
			err = fmt.Errorf("POST /nodes: 409, the name is taken by %s, which could not be read: %w", conflict, gerr)
		case n.Kind != "FOLDER":
			err = fmt.Errorf("POST /nodes: 409, the name %s in its parent folder is taken by a %s (%s), not a folder: rename one of them, or UPLOAD ... TO another folder",
				engine.Quote(name), strings.ToLower(n.Kind), conflict)
		default:
			o.ID, o.Status, o.Detail = conflict, StatusSkipped, "POST /nodes: 409, the folder exists; reused"
			return conflict, o, nil
		}
		o.ID, o.Status, o.Detail = conflict, StatusFailed, err.Error()
		return "", o, err
	default:
		o.Status, o.Detail = StatusFailed, "POST /nodes: "+err.Error()
		return "", o, err
	}
}

// parseAPITime reads the service's dates; NULL when absent or odd.
func parseAPITime(s string) any {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return t.UTC()
}

// nullTime is t for a TIMESTAMP column, or NULL when zero (absent or odd
// in the service's answer).
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// withTx runs fn in a transaction under the run's lock.
func (r *run) withTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s.DB.Tx(ctx, func(tx *sql.Tx) error { return fn(ctx, tx) })
}

// errChanged marks a file that changed between hashing and sending.
var errChanged = errors.New("the file changed while it was being uploaded")

// checkedFile is an upload body: the file's bytes, hashed as they go, with
// the last bytes held back until the md5 matches the one computed before.
// A file that changed in between fails the read, so the service never
// receives a complete body with other content than the md5 recorded.
type checkedFile struct {
	f       *os.File
	h       hash.Hash
	n, size int64
	want    string
	failed  *error // shared with the uploader: set when the content changed
	tr      engine.Tracker
}

func (c *checkedFile) fail(format string, args ...any) error {
	err := fmt.Errorf("%w: %s", errChanged, fmt.Sprintf(format, args...))
	*c.failed = err
	return err
}

func (c *checkedFile) Read(p []byte) (int, error) {
	if c.n >= c.size {
		return 0, io.EOF
	}
	if rem := c.size - c.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	k, err := c.f.Read(p)
	c.h.Write(p[:k])
	c.n += int64(k)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if errors.Is(err, io.EOF) && c.n < c.size || k == 0 && c.n < c.size {
		return 0, c.fail("it shrank to %d bytes (it had %d when hashed)", c.n, c.size)
	}
	if c.n == c.size {
		if sum := hex.EncodeToString(c.h.Sum(nil)); sum != c.want {
			return 0, c.fail("md5 %s now, %s when hashed", sum, c.want)
		}
		var one [1]byte
		if m, _ := c.f.Read(one[:]); m > 0 {
			return 0, c.fail("it grew past the %d bytes it had when hashed", c.size)
		}
	}
	if c.tr != nil {
		c.tr.Add(int64(k))
	}
	return k, nil
}

func (c *checkedFile) Close() error { return c.f.Close() }

// file uploads one file into the folder parentID. It returns the outcome
// and, when the service holds the file (new, or found by a 409), its node
// JSON for the nodes table. It sends to POST /cdproxy/nodes (API.md §1.4
// C1) and, once that was refused with 403, to POST /v2/upload (C2).
func (up *uploader) file(ctx context.Context, f *upFile, parentID string) (Outcome, []byte) {
	return up.fileAs(ctx, f, parentID, up.onConflict)
}

// fileAs is file with the ON CONFLICT choice onConflict.
func (up *uploader) fileAs(ctx context.Context, f *upFile, parentID, onConflict string) (Outcome, []byte) {
	if up.v2.Load() {
		o, raw, _ := up.fileVia(ctx, f, parentID, true, onConflict)
		return o, raw
	}
	o, raw, forbidden := up.fileVia(ctx, f, parentID, false, onConflict)
	if forbidden {
		up.v2.Store(true)
		why := o.Detail
		o, raw, _ = up.fileVia(ctx, f, parentID, true, onConflict)
		o.Detail += " (after " + why + ")"
	}
	return o, raw
}

// fileVia is file through one endpoint: /v2/upload when v2 is set.
func (up *uploader) fileVia(ctx context.Context, f *upFile, parentID string, v2 bool, onConflict string) (o Outcome, raw []byte, forbidden bool) {
	o = Outcome{Name: f.rel, Target: f.rel}
	var changed error
	resent := false
	ep := "POST /cdproxy/nodes"
	if v2 {
		// No conflictResolution: RENAME would store a second copy as
		// "name (1).ext" where a resend of a landed upload must find the
		// first (409).
		ep = "POST /v2/upload"
	}
	up.r.requests.Add(1)
	node, err := up.c.UploadFile(context.WithoutCancel(ctx), fetch.Upload{Name: f.name, ParentID: parentID, Size: f.size, MD5: f.md5, V2: v2,
		Open: func() (io.ReadCloser, error) {
			if f.size == 0 {
				return http.NoBody, nil
			}
			fh, err := os.Open(f.abs)
			if err != nil {
				return nil, err
			}
			return &checkedFile{f: fh, h: md5.New(), size: f.size, want: f.md5, failed: &changed, tr: up.bytes}, nil
		},
		// A resend cannot make a second copy: if the first request landed,
		// the name is taken and the service answers 409 with its id.
		Retry: func(context.Context, error) bool {
			if changed != nil {
				return false
			}
			resent = true
			return true
		}})
	if node != nil {
		raw = node.Raw
	}
	if errors.Is(err, fetch.ErrUnexpectedAnswer) {
		err = nil // the answer is read below
	}
	where := "/" + f.remote
	conflict, isConflict := "", false
	if err != nil && changed == nil {
		conflict, isConflict = (api{up.c}).conflictID(ctx, err, parentID, f.name, "FILE")
	}
	switch {
	case changed != nil:
		o.Status, o.Detail = StatusFailed, changed.Error()+": not uploaded; run the statement again once the file is stable"
		return o, nil, false
	case err == nil:
		n := node
		if n == nil || n.ID == "" {
			o.Status, o.Reason, o.Detail = StatusFailed, ReasonUnknown, fmt.Sprintf("%s: %s: the answer has no node id: %s", ep, unknownOutcome, clip(string(raw), 60))
			return o, nil, false
		}
		up.mu.Lock()
		up.total += f.size
		up.mu.Unlock()
		o.ID = n.ID
		if n.Name != "" && (!strings.EqualFold(n.Name, f.name) || !slices.Contains(n.Parents, parentID)) && strings.EqualFold(n.ContentProperties.MD5, f.md5) {
			// The service kept the file it already had (cdproxy's silent
			// dedup): nothing new was stored.
			o.Status, o.Detail = StatusSkipped, fmt.Sprintf("%s: the service already holds this content as %s and stored nothing new", ep, engine.Quote(n.Name))
			return o, raw, false
		}
		if n.ContentProperties.MD5 != "" && !strings.EqualFold(n.ContentProperties.MD5, f.md5) {
			o.Status, o.Detail = StatusFailed, fmt.Sprintf("uploaded to %s, but the service stored md5 %s for a file with md5 %s: check it, and TRASH it if it is wrong", where, n.ContentProperties.MD5, f.md5)
			return o, raw, false
		}
		o.Status, o.Detail = StatusOK, fmt.Sprintf("%s: uploaded to %s (%s)", ep, where, output.Bytes(f.size))
		return o, raw, false
	case isConflict:
		o.ID = conflict
		var existing []byte
		var n fetch.Node
		gn, gerr := up.c.GetNode(ctx, conflict)
		if gerr == nil {
			n, existing = *gn, gn.Raw
		}
		same := gerr == nil && strings.EqualFold(n.ContentProperties.MD5, f.md5)
		// /v2/upload also refuses content that a file elsewhere holds.
		elsewhere := gerr == nil && (!strings.EqualFold(n.Name, f.name) || !slices.Contains(n.Parents, parentID))
		switch {
		case same && elsewhere:
			o.Status, o.Detail = StatusSkipped, fmt.Sprintf("the same content is already in the library as %s (%s answered 409): not uploaded again", engine.Quote(n.Name), ep)
		case resent && same:
			o.Status, o.Detail = StatusOK, fmt.Sprintf("%s: uploaded to %s (%s); the answer was lost and the resend found it (409)", ep, where, output.Bytes(f.size))
		case same:
			o.Status, o.Detail = StatusSkipped, fmt.Sprintf("a file named %s with the same content is already in %s (409)", engine.Quote(f.name), where)
		case gerr != nil:
			o.Status, o.Detail = StatusFailed, fmt.Sprintf("a file named %s is already in %s (409); reading it failed: %v", engine.Quote(f.name), where, gerr)
			return o, nil, false
		case onConflict == conflictSkip:
			o.Status, o.Detail = StatusSkipped, fmt.Sprintf("a different file named %s is already in %s (409, %s): ON CONFLICT SKIP", engine.Quote(f.name), where, conflict)
		case onConflict == conflictRename:
			o, raw = up.renamed(ctx, f, parentID)
			return o, raw, false
		case onConflict == conflictReplace && n.Kind == "FILE" && n.Status == "AVAILABLE":
			o, raw = up.replace(ctx, f, conflict, where)
			return o, raw, false
		case onConflict == conflictReplace:
			o.Status, o.Detail = StatusFailed, fmt.Sprintf("ON CONFLICT REPLACE: the name %s in %s is held by a %s (%s), not a file: nothing replaced", engine.Quote(f.name), where, strings.ToLower(n.Kind), conflict)
			return o, nil, false
		default:
			o.Status, o.Reason, o.Detail = StatusConflict, ReasonConflict, fmt.Sprintf("a different file named %s is already in %s (409, %s): nothing sent; choose with ON CONFLICT RENAME (upload it as %s), ON CONFLICT REPLACE (make it the new content of %s) or ON CONFLICT SKIP",
				engine.Quote(f.name), where, conflict, engine.Quote(numbered(f.name, 1)), conflict)
		}
		if n.Kind != "FILE" || n.Status != "AVAILABLE" {
			return o, nil, false
		}
		return o, existing, false
	default:
		o.Status, o.Reason, o.Detail = StatusFailed, reasonOf(err), ep+": "+err.Error()
		if errors.Is(err, fetch.ErrInterrupted) {
			o.Reason, o.Detail = ReasonUnknown, ep+": "+unknownOutcome+": "+err.Error()
		}
		if !v2 && isStatus(err, http.StatusForbidden) {
			return o, nil, true
		}
		if !refusedForSure(err) {
			o.Detail += " (if it landed, the re-run finds it by its name and md5)"
		}
		return o, nil, false
	}
}

// numbered is name with " (n)" before its extension: "x (1).jpg".
func numbered(name string, n int) string {
	ext := path.Ext(name)
	if ext == name {
		ext = ""
	}
	return fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(name, ext), n, ext)
}

// renamed uploads f as "name (1).ext", "name (2).ext", ...: the first name
// the folder does not hold with other content (ON CONFLICT RENAME). A
// name that holds this very content is where an earlier run put it: the
// file is skipped as already there, so re-runs upload no second copy.
func (up *uploader) renamed(ctx context.Context, f *upFile, parentID string) (Outcome, []byte) {
	for n := 1; n <= maxRenames; n++ {
		g := *f
		g.name = numbered(f.name, n)
		o, raw := up.fileAs(ctx, &g, parentID, conflictReport)
		if o.Status == StatusConflict {
			continue // taken by other content: the next number
		}
		o.Name, o.Target = f.rel, f.rel
		o.Detail = fmt.Sprintf("ON CONFLICT RENAME: %s as %s: %s", engine.Quote(f.name), engine.Quote(g.name), o.Detail)
		return o, raw
	}
	return Outcome{Name: f.rel, Target: f.rel, Status: StatusFailed,
		Detail: fmt.Sprintf("ON CONFLICT RENAME: %s (1) to (%d) are all taken by other files in /%s: rename the local file", engine.Quote(f.name), maxRenames, f.remote)}, nil
}

// replace makes f the new content of the file node id (ON CONFLICT
// REPLACE): PUT /cdproxy/nodes/{id}/content with a multipart part
// "content" (API.md §1.4 C4). The node keeps its id, name, folder and
// albums; the answer must carry f's md5. Sending the same bytes again is
// harmless, so a failed request is resent.
func (up *uploader) replace(ctx context.Context, f *upFile, id, where string) (Outcome, []byte) {
	o := Outcome{ID: id, Name: f.rel, Target: f.rel}
	var changed error
	up.r.requests.Add(1)
	var raw []byte
	node, err := up.c.ReplaceContent(context.WithoutCancel(ctx), id, f.name, f.size, func() (io.ReadCloser, error) {
		fh, err := os.Open(f.abs)
		if err != nil {
			return nil, err
		}
		return &checkedFile{f: fh, h: md5.New(), size: f.size, want: f.md5, failed: &changed, tr: up.bytes}, nil
	}, func(context.Context, error) bool { return changed == nil })
	if node != nil {
		raw = node.Raw
	}
	if errors.Is(err, fetch.ErrUnexpectedAnswer) {
		err = nil // the answer is read below
	}
	const ep = "PUT /cdproxy/nodes/{id}/content"
	switch {
	case changed != nil:
		o.Status, o.Detail = StatusFailed, changed.Error()+": not uploaded; run the statement again once the file is stable"
		return o, nil
	case err != nil:
		o.Status, o.Detail = StatusFailed, ep+": "+err.Error()
		if !refusedForSure(err) {
			o.Detail = ep + ": " + unknownOutcome + ": " + err.Error() + " (the re-run finds the new content by its md5)"
		}
		return o, nil
	case node == nil || node.ID != id:
		o.Status, o.Detail = StatusFailed, fmt.Sprintf("%s: %s: the answer is not the node %s: %s", ep, unknownOutcome, id, clip(string(raw), 60))
		return o, nil
	case !strings.EqualFold(node.ContentProperties.MD5, f.md5):
		o.Status, o.Detail = StatusFailed, fmt.Sprintf("%s: the service stored md5 %s for a file with md5 %s: check %s", ep, node.ContentProperties.MD5, f.md5, id)
		return o, raw
	}
	up.mu.Lock()
	up.total += f.size
	up.mu.Unlock()
	o.Status, o.Detail = StatusOK, fmt.Sprintf("ON CONFLICT REPLACE: %s: the new content of %s in %s (%s)", ep, engine.Quote(f.name), where, output.Bytes(f.size))
	return o, raw
}
