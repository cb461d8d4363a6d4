package backup

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/naming"
)

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
		if j.fetches() {
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
		bytes: r.s.Progress.Start(r.s.Say("backup 0/%v files", model.Count(len(jobs))), total, "bytes")}
	defer d.bytes.Done()
	var stop atomic.Bool
	recs := newRecordWriter(r.m, &stop)
	next, fatal := r.runJobs(ctx, d, jobs, recs, &stop)
	recErr := recs.close()
	for _, j := range jobs[next:] {
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

// fetches reports whether j fetches the node's content.
func (j job) fetches() bool { return j.kind == jobNew || j.kind == jobUpdate || j.kind == jobRestore }

// runJobs runs the jobs on the run's workers until all are done, the run
// is interrupted, or stop is set (by a job's fatal error, or by the
// manifest's writer). It returns the index of the first job not started
// and the first fatal error.
func (r *runState) runJobs(ctx context.Context, d *downloader, jobs []job, recs *recordWriter, stop *atomic.Bool) (int, error) {
	describe, _ := d.bytes.(interface{ Describe(string) })
	var (
		next, done atomic.Int64
		fatal      error
		fmu        sync.Mutex
		wg         sync.WaitGroup
	)
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
				if k := done.Add(1); describe != nil {
					describe.Describe(r.s.Say("backup %v/%v files", model.Count(k), model.Count(len(jobs))))
				}
				if rec != nil {
					recs.recs <- *rec
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
	return min(int(next.Load()), len(jobs)), fatal
}

// recordWriter appends the manifest's lines from one goroutine, flushed
// every second, so that a crash loses at most a second of records (the
// files themselves are found again by their md5 on the next run). Its
// first error sets stop.
type recordWriter struct {
	m    *manifest
	recs chan record
	done chan struct{}
	stop *atomic.Bool
	err  error // read after close
}

func newRecordWriter(m *manifest, stop *atomic.Bool) *recordWriter {
	w := &recordWriter{m: m, recs: make(chan record, 256), done: make(chan struct{}), stop: stop}
	go w.run()
	return w
}

func (w *recordWriter) run() {
	defer close(w.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case rec, ok := <-w.recs:
			if !ok {
				return
			}
			w.fail(w.m.append(rec))
		case <-tick.C:
			w.fail(w.m.flush())
		}
	}
}

func (w *recordWriter) fail(err error) {
	if err != nil && w.err == nil {
		w.err = err
		w.stop.Store(true)
	}
}

// close waits for the lines sent to be written and returns the first
// error.
func (w *recordWriter) close() error {
	close(w.recs)
	<-w.done
	return w.err
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
		var ok bool
		var stop error
		if got, ok, stop = r.fetch(ctx, d, j, &rw); !ok {
			return nil, rw, stop
		}
	case jobAdopt:
		rw.status, rw.detail = statusOK, "already there with the node's md5: recorded"
	case jobMeta:
		rw.status, rw.detail = statusOK, "metadata changed: sidecars rewritten"
		if err := noLinkedFolders(r.root, name, r.o.dir); err != nil {
			rw.status, rw.detail = statusFailed, err.Error()
			return nil, rw, nil
		}
	}
	abs := filepath.Join(r.o.dir, name)
	if !n.Content.IsZero() && j.kind != jobMeta {
		_ = os.Chtimes(abs, time.Time{}, n.Content)
	}
	rec, err := r.record(j, abs)
	if err != nil {
		rw.status, rw.detail = statusFailed, "read back "+j.rel+": "+err.Error()
		return nil, rw, nil
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

// record is j's manifest line for its file at abs.
func (r *runState) record(j job, abs string) (*record, error) {
	n := j.n
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, err
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
	return rec, nil
}

// contentReq is the request of a download, for details.
const contentReq = "GET /nodes/{id}/contentRedirection"

// fetch downloads j's node into its path, verified (fetch.DownloadFile),
// and fills rw. ok says the file is in place; stop is the error that
// stops the run (a full disk).
func (r *runState) fetch(ctx context.Context, d *downloader, j job, rw *row) (got int64, ok bool, stop error) {
	n, name := j.n, filepath.FromSlash(j.rel)
	if err := noLinkedFolders(r.root, name, r.o.dir); err != nil {
		rw.status, rw.detail = statusFailed, err.Error()
		return 0, false, nil
	}
	if sub := filepath.Dir(name); sub != "." {
		if err := r.root.MkdirAll(sub, 0o755); err != nil {
			rw.status, rw.detail = statusFailed, "create the folder: "+err.Error()
			return 0, false, full(err)
		}
		d.addDir(sub)
	}
	res, err := d.c.DownloadFile(ctx, r.root, name, fetch.Download{ID: n.ID, OwnerID: n.OwnerID,
		Size: n.Size, MD5: n.MD5, Progress: d.progress})
	if err != nil {
		var fe *fetch.FileError
		rw.status, rw.detail = statusFailed, contentReq+": "+err.Error()
		if errors.As(err, &fe) {
			rw.detail = err.Error() // the disk, not the network
		}
		return 0, false, full(err)
	}
	rw.status = statusOK
	rw.detail = r.s.Say("%s: fetched %v, md5 verified", j.kind, model.Size(res.Size))
	if n.MD5 == "" {
		rw.detail = r.s.Say("%s: fetched %v (the node has no md5 to verify against)", j.kind, model.Size(res.Size))
	}
	if res.Resumes > 0 {
		rw.detail += fmt.Sprintf("; resumed %d %s", res.Resumes, plural(int64(res.Resumes), "time", "times"))
	}
	return res.Size, true, nil
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
	if fetch.DiskFull(err) {
		return fmt.Errorf("%w: free space, then run BACKUP again (files already written are kept)", errDiskFull)
	}
	return nil
}

// noLinkedFolders refuses a file whose folders inside the backup include a
// symbolic link (naming.LinkedFolder).
func noLinkedFolders(root *os.Root, name, dir string) error {
	sub, err := naming.LinkedFolder(root, name)
	if err != nil || sub == "" {
		return err
	}
	return fmt.Errorf("the folder %s in %s is a symbolic link: BACKUP never writes through a link; remove it", filepath.ToSlash(sub), dir)
}

// downloader fetches files for one run.
type downloader struct {
	c     *fetch.Client
	root  *os.Root
	dir   string
	bytes engine.Tracker
	total atomic.Int64 // bytes received

	mu   sync.Mutex
	dirs map[string]bool
}

// progress counts bytes as they are written.
func (d *downloader) progress(n int64) {
	d.bytes.Add(n)
	d.total.Add(n)
}

func (d *downloader) addDir(sub string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dirs == nil {
		d.dirs = map[string]bool{}
	}
	d.dirs[sub] = true
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
