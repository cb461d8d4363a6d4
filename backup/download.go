package backup

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/output"
)

// maxStalls is how many resumes in a row may bring no byte before a file
// gives up.
const maxStalls = 5

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// errDiskFull stops the run: no other file can be written either.
var errDiskFull = errors.New("disk full")

// execute fetches, adopts and re-describes the planned nodes, recording
// each in the manifest as soon as its file is in place.
func (r *runState) execute(ctx context.Context, b *Backup, jobs []job) error {
	if len(jobs) == 0 {
		return nil
	}
	var total int64
	var fetches int
	for _, j := range jobs {
		if j.kind == jobNew || j.kind == jobUpdate || j.kind == jobRestore {
			total += j.n.Size
			fetches++
		}
	}
	var c *fetch.Client
	if fetches > 0 {
		var err error
		if c, err = b.client(ctx); err != nil {
			return err
		}
	}
	// One progress line: bytes with their rate and ETA, and the files
	// done in its label (when the shell's bar can change it).
	d := &downloader{c: c, root: r.root, dir: r.o.dir,
		bytes: r.s.Progress.Start(fmt.Sprintf("backup 0/%s files", output.Thousands(int64(len(jobs)))), total, "bytes")}
	defer d.bytes.Done()
	describe, _ := d.bytes.(interface{ Describe(string) })
	var filesDone atomic.Int64
	var (
		next  atomic.Int64
		stop  atomic.Bool
		fatal error
		fmu   sync.Mutex
		wg    sync.WaitGroup
	)
	// Manifest lines go through one writer, flushed every second, so that
	// a crash loses at most a second of records (the files themselves are
	// found again by their md5 on the next run).
	recs := make(chan record, 256)
	var recErr error
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case rec, ok := <-recs:
				if !ok {
					return
				}
				if err := r.m.append(rec); err != nil && recErr == nil {
					recErr = err
					stop.Store(true)
				}
			case <-tick.C:
				if err := r.m.flush(); err != nil && recErr == nil {
					recErr = err
					stop.Store(true)
				}
			}
		}
	}()
	for range max(1, min(r.o.conc, len(jobs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				rec, rw, err := r.one(ctx, d, jobs[i])
				if k := filesDone.Add(1); describe != nil {
					describe.Describe(fmt.Sprintf("backup %s/%s files", output.Thousands(k), output.Thousands(int64(len(jobs)))))
				}
				if rec != nil {
					recs <- *rec
				}
				r.add(rw)
				if err != nil {
					fmu.Lock()
					if fatal == nil {
						fatal = err
					}
					fmu.Unlock()
					stop.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	close(recs)
	<-recDone
	for i := int(next.Load()); i < len(jobs); i++ {
		if i < 0 {
			continue
		}
		j := jobs[i]
		why := "not fetched: interrupted; the next BACKUP fetches it"
		if fatal != nil {
			why = "not fetched: stopped after " + fatal.Error()
		}
		r.add(row{j.n.ID, j.n.Name, j.rel, statusFailed, why})
	}
	r.mu.Lock()
	r.written = d.total.Load()
	r.mu.Unlock()
	for dir := range d.dirs {
		syncDir(filepath.Join(r.o.dir, dir))
	}
	if fatal == nil {
		fatal = recErr
	}
	return fatal
}

// one does one job: the file's record for the manifest (nil when nothing
// is in place), its result row, and an error that stops the run.
func (r *runState) one(ctx context.Context, d *downloader, j job) (*record, row, error) {
	n := j.n
	rw := row{id: n.ID, name: n.Name, path: j.rel}
	name := filepath.FromSlash(j.rel)
	var got int64
	switch j.kind {
	case jobNew, jobUpdate, jobRestore:
		if err := noLinkedFolders(r.root, name, r.o.dir); err != nil {
			rw.status, rw.detail = statusFailed, err.Error()
			return nil, rw, nil
		}
		if sub := filepath.Dir(name); sub != "." {
			if err := r.root.MkdirAll(sub, 0o755); err != nil {
				rw.status, rw.detail = statusFailed, "create the folder: "+err.Error()
				return nil, rw, full(err)
			}
			d.addDir(sub)
		}
		n2, resumes, err := d.fetch(ctx, n, name)
		if err != nil {
			rw.status, rw.detail = statusFailed, "GET /nodes/{id}/contentRedirection: "+err.Error()
			return nil, rw, full(err)
		}
		if err := r.root.Rename(partName(name), name); err != nil {
			rw.status, rw.detail = statusFailed, "rename the verified part file to "+j.rel+": "+err.Error()
			return nil, rw, full(err)
		}
		got = n2
		rw.status = statusOK
		rw.detail = fmt.Sprintf("%s: fetched %s, md5 verified", j.kind, output.Bytes(n2))
		if n.MD5 == "" {
			rw.detail = fmt.Sprintf("%s: fetched %s (the node has no md5 to verify against)", j.kind, output.Bytes(n2))
		}
		if resumes > 0 {
			rw.detail += fmt.Sprintf("; resumed %d %s", resumes, plural(int64(resumes), "time", "times"))
		}
	case jobAdopt:
		rw.status, rw.detail = statusOK, "already there with the node's md5: recorded"
	case jobMeta:
		rw.status, rw.detail = statusOK, "metadata changed: sidecars rewritten"
	}
	if j.kind == jobMeta {
		if err := noLinkedFolders(r.root, name, r.o.dir); err != nil {
			rw.status, rw.detail = statusFailed, err.Error()
			return nil, rw, nil
		}
	}
	abs := filepath.Join(r.o.dir, name)
	if !n.Content.IsZero() && j.kind != jobMeta {
		_ = os.Chtimes(abs, time.Time{}, n.Content)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		rw.status, rw.detail = statusFailed, "read back "+j.rel+": "+err.Error()
		return nil, rw, nil
	}
	mt := fi.ModTime().UTC()
	rec := &record{Event: "file", ID: n.ID, Path: j.rel, Size: n.Size, MD5: n.MD5, MTime: &mt, Run: r.runID}
	if !n.Content.IsZero() {
		c := n.Content
		rec.ContentDate = &c
	}
	if j.kind == jobMeta {
		rec.Run, rec.MTime = j.prev.Run, j.prev.MTime
	}
	if r.o.sidecar != "" {
		meta, err := r.writeSidecars(n, j.rel)
		if err != nil {
			rw.status, rw.detail = statusFailed, rw.detail+"; sidecar: "+err.Error()
			return rec, rw, full(err)
		}
		rec.Meta = meta
	}
	if j.kind != jobMeta {
		r.markVerified(n.ID, got)
	}
	return rec, rw, nil
}

func (r *runState) markVerified(id string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.verified == nil {
		r.verified = map[string]bool{}
	}
	r.verified[id] = true
	if n > 0 {
		r.files++
	}
}

// full turns a full disk into the error that stops the run; nil for other
// errors (they fail one file).
func full(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: free space, then run BACKUP again (files already written are kept)", errDiskFull)
	}
	return nil
}

// noLinkedFolders refuses a file whose folders inside the backup include a
// symbolic link: a {yyyy} folder linked to /etc must not be written
// through.
func noLinkedFolders(root *os.Root, name, dir string) error {
	folder := filepath.Dir(name)
	if folder == "." {
		return nil
	}
	parts := strings.Split(folder, string(filepath.Separator))
	for i := range parts {
		sub := filepath.Join(parts[:i+1]...)
		fi, err := root.Lstat(sub)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return fmt.Errorf("check the folder %s: %w", filepath.ToSlash(sub), err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("the folder %s in %s is a symbolic link: BACKUP never writes through a link; remove it", filepath.ToSlash(sub), dir)
		}
	}
	return nil
}

// partName is where a file is fetched before it is verified: ".NAME.part"
// beside it (no node's file name starts with a dot).
func partName(name string) string {
	return filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".part")
}

// downloader fetches files for one run.
type downloader struct {
	c     *fetch.Client
	root  *os.Root
	dir   string
	bytes engine.Tracker
	total atomic.Int64

	mu    sync.Mutex
	owner string
	dirs  map[string]bool
}

func (d *downloader) addDir(sub string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dirs == nil {
		d.dirs = map[string]bool{}
	}
	d.dirs[sub] = true
}

func (d *downloader) ownerID(ctx context.Context, n *node) (string, error) {
	if n.OwnerID != "" {
		return n.OwnerID, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.owner == "" {
		o, err := d.c.OwnerID(ctx)
		if err != nil {
			return "", err
		}
		d.owner = o
	}
	return d.owner, nil
}

// badContent is a download whose bytes are not the node's.
type badContent struct{ msg string }

func (e *badContent) Error() string { return e.msg }

// fetch downloads n into partName(name): an existing part file (an
// interrupted run's) is resumed, a cut connection resumes with a Range
// request, and the whole file is checked against the node's size and md5
// and synced to disk before fetch returns. A part whose content turns out
// wrong is removed and fetched once more from the start.
func (d *downloader) fetch(ctx context.Context, n *node, name string) (int64, int, error) {
	part := partName(name)
	for attempt := 0; ; attempt++ {
		got, resumes, resumed, err := d.fetchOnce(ctx, n, part)
		var bad *badContent
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			_ = d.root.Remove(part)
			return got, resumes, err
		}
		if errors.As(err, &bad) {
			_ = d.root.Remove(part)
			if resumed && attempt == 0 {
				continue
			}
		}
		return got, resumes, err
	}
}

// openPart opens a part file without following a link: a planted link is
// removed (its target is left alone) and a new file made with O_EXCL.
func openPart(root *os.Root, name string) (*os.File, error) {
	fi, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case fi.Mode().IsRegular():
		return root.OpenFile(name, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	case fi.Mode()&fs.ModeSymlink != 0:
		if err := root.Remove(name); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s exists and is not a regular file; move it away", filepath.Base(name))
	}
	return root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
}

func (d *downloader) fetchOnce(ctx context.Context, n *node, part string) (have int64, resumes int, resumed bool, err error) {
	f, err := openPart(d.root, part)
	if err != nil {
		return 0, 0, false, err
	}
	defer f.Close()
	h := md5.New()
	if have, err = f.Seek(0, io.SeekEnd); err != nil {
		return 0, 0, false, err
	}
	if have > n.Size || n.MD5 == "" {
		have = 0 // a prefix can only be trusted with an md5 at the end
	}
	if have > 0 {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, 0, false, err
		}
		if _, err := io.CopyN(h, f, have); err != nil {
			return 0, 0, false, fmt.Errorf("read the partial file: %w", err)
		}
		resumed = true
	}
	if err := f.Truncate(have); err != nil {
		return 0, 0, false, err
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return 0, 0, false, err
	}
	owner, err := d.ownerID(ctx, n)
	if err != nil {
		return 0, 0, false, err
	}
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	w := &hashWriter{f: f, h: h, tr: d.bytes, total: &d.total}
	stalls := 0
	for n.Size == 0 || have < n.Size {
		got, err := d.get(ctx, n, owner, have, w, *bufp)
		have += got
		if err == nil {
			break
		}
		var restart *restartError
		switch {
		case w.err != nil:
			return have, resumes, resumed, fmt.Errorf("write %s: %w", filepath.Base(part), w.err)
		case errors.As(err, &restart):
			have, resumed = 0, false
			h.Reset()
			if e := f.Truncate(0); e != nil {
				return have, resumes, resumed, e
			}
			if _, e := f.Seek(0, io.SeekStart); e != nil {
				return have, resumes, resumed, e
			}
		case ctx.Err() != nil:
			return have, resumes, resumed, fmt.Errorf("interrupted; %s is kept and the next BACKUP resumes it", filepath.Base(part))
		case !resumable(err):
			return have, resumes, resumed, err
		}
		if got > 0 {
			stalls = 0
		} else {
			stalls++
		}
		if stalls >= maxStalls {
			return have, resumes, resumed, fmt.Errorf("gave up after %d resumes without progress: %w", stalls, err)
		}
		resumes++
	}
	if have != n.Size && n.Size > 0 {
		return have, resumes, resumed, &badContent{fmt.Sprintf("got %d bytes, the node has %d; the partial file was removed", have, n.Size)}
	}
	if n.MD5 != "" {
		if sum := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(sum, n.MD5) {
			return have, resumes, resumed, &badContent{fmt.Sprintf("md5 %s does not match the node's %s; the partial file was removed", sum, n.MD5)}
		}
	}
	if err := f.Sync(); err != nil {
		return have, resumes, resumed, fmt.Errorf("sync %s: %w", filepath.Base(part), err)
	}
	return have, resumes, resumed, f.Close()
}

type restartError struct{ why string }

func (e *restartError) Error() string { return e.why }

func resumable(err error) bool {
	var ae *fetch.APIError
	if errors.As(err, &ae) {
		return ae.Retryable
	}
	return !errors.Is(err, context.Canceled)
}

// get sends one contentRedirection request (with a Range from offset when
// offset > 0) and copies the body to w.
func (d *downloader) get(ctx context.Context, n *node, owner string, offset int64, w io.Writer, buf []byte) (int64, error) {
	body, err := d.c.OpenContent(ctx, n.ID, owner, offset)
	var re *fetch.RangeError
	if errors.As(err, &re) {
		return 0, &restartError{re.Why}
	}
	if err != nil {
		return 0, err
	}
	defer body.Close()
	return io.CopyBuffer(w, body, buf)
}

// hashWriter writes to the file and the md5 at once and reports progress.
type hashWriter struct {
	f     io.Writer
	h     hash.Hash
	tr    engine.Tracker
	total *atomic.Int64
	err   error
}

func (w *hashWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.tr.Add(int64(n))
	w.total.Add(int64(n))
	if err != nil {
		w.err = err
	}
	return n, err
}

// md5Of returns the hex md5 of a file under root.
func md5Of(root *os.Root, name string) (string, error) {
	f, err := root.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, *bp); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var _ = path.Join
