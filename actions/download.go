package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/naming"
)

// Download defaults.
const (
	defaultDownloadDir = "media"
	defaultConcurrency = 8
	maxConcurrency     = 64
)

// copyBufs are the buffers downloads copy through: large enough that a
// loopback transfer is not dominated by system calls.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// download is one file to fetch.
type download struct {
	it   item
	path string // where the file goes
	rel  string // path relative to the target directory, for the result
	// matched: the file at path was found to hold the node's content
	// (suffixCollisions): it is already there.
	matched bool
}

// runDownload runs DOWNLOAD target [TO 'dir'] [(NAMING, CONCURRENCY, OVERWRITE)].
func (x *Actions) runDownload(ctx context.Context, s *engine.Session, stmt *engine.Statement, explain bool) (*engine.Result, error) {
	st, o, err := parseDownload(stmt)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	items, err := x.downloadItems(ctx, s, st, o)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	r, err := newRun(ctx, s, "DOWNLOAD", explain)
	if err != nil {
		return nil, err
	}
	r.orderBy(items)
	p, err := planDownloads(ctx, r, items, o)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	if explain {
		return p.explain(r, o), nil
	}
	if len(p.todo) == 0 {
		return r.result(false, ""), nil
	}
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	if res, err := p.addLive(ctx, r, c, o); res != nil || err != nil {
		return res, err
	}
	return p.fetchAll(ctx, r, c, o)
}

// downloadOpts are DOWNLOAD's TO and options.
type downloadOpts struct {
	dir             string
	tmpl            template
	conc            int
	overwrite, live bool
}

// parseDownload reads DOWNLOAD's statement: its target, TO and options.
func parseDownload(stmt *engine.Statement) (statement, downloadOpts, error) {
	var o downloadOpts
	st, err := parseStatementArgs(stmt.Args(), true, []string{"NAMING", "CONCURRENCY", "OVERWRITE", "LIVE_VIDEO"})
	if err != nil {
		return st, o, err
	}
	o.dir = defaultDownloadDir
	if st.hasTo {
		o.dir = st.to
	}
	if strings.TrimSpace(o.dir) == "" {
		return st, o, errors.New("TO '' is empty: name a directory, e.g. TO 'media'")
	}
	naming := defaultNaming
	if v, ok := st.opts["NAMING"]; ok {
		naming = v
	}
	if o.tmpl, err = parseTemplate(naming); err != nil {
		return st, o, err
	}
	if o.conc, err = concurrencyOpt(st.opts); err != nil {
		return st, o, err
	}
	for _, b := range []struct {
		key string
		to  *bool
	}{{"OVERWRITE", &o.overwrite}, {"LIVE_VIDEO", &o.live}} {
		if v, ok := st.opts[b.key]; ok {
			if *b.to, err = engine.ParseBool(b.key, v); err != nil {
				return st, o, err
			}
		}
	}
	return st, o, nil
}

// downloadItems resolves the target (folders by their files) and fills
// what the naming template needs.
func (x *Actions) downloadItems(ctx context.Context, s *engine.Session, st statement, o downloadOpts) ([]item, error) {
	items, err := resolve(ctx, s.DB, st.target, "nodes")
	if err != nil {
		return nil, err
	}
	if items, err = expandFolders(ctx, s.DB, items); err != nil {
		return nil, err
	}
	album := "" // an ALBUM 'name' target names {album} for all its nodes
	if st.target.kind == targetAlbum {
		album = st.target.album
	}
	return items, fillNaming(ctx, s.DB, x.client, o.tmpl, items, album)
}

// downloadPlan is what a DOWNLOAD fetches: each file with its path, the
// Live Photo stills whose videos go along.
type downloadPlan struct {
	todo   []download
	total  int64
	taken  map[string]string // path → id
	stills map[string]bool
}

// planDownloads sorts items into what is fetched, with its path, and
// rows for the rest.
func planDownloads(ctx context.Context, r *run, items []item, o downloadOpts) (*downloadPlan, error) {
	p := &downloadPlan{taken: map[string]string{}}
	// A node an earlier statement found gone (404) is skipped again.
	missing, err := notInMirror(ctx, r.s.DB, items)
	if err != nil {
		return nil, err
	}
	r.add(missing...)
	for _, it := range items {
		switch {
		case !it.known():
			continue // in missing
		case it.Kind != "FILE" && it.Kind != "":
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Reason: ReasonNotApplicable, Detail: "not a file (" + it.Kind + ")"})
			continue
		}
		rel := o.tmpl.expand(it)
		path, err := localPath(o.dir, rel)
		if err != nil {
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusFailed, Detail: err.Error()})
			continue
		}
		p.todo = append(p.todo, download{it: it, path: path, rel: rel})
		p.total += it.Size
	}
	// Two nodes with one path: the later ids get "name (2).ext", ...;
	// a node whose file is on disk keeps its name.
	p.todo = suffixCollisions(p.todo, o.dir, p.taken, o.overwrite)
	if o.live {
		ids := make([]string, len(p.todo))
		for i, d := range p.todo {
			ids[i] = d.it.ID
		}
		if p.stills, err = liveStills(ctx, r.s.DB, ids); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// explain returns EXPLAIN DOWNLOAD's rows and summary.
func (p *downloadPlan) explain(r *run, o downloadOpts) *engine.Result {
	var n, bytes int64
	for _, d := range p.todo {
		if ok, _ := present(d.path, d.it); ok {
			r.add(Outcome{ID: d.it.ID, Name: d.it.Name, Status: StatusSkipped, Reason: ReasonAlready, Detail: "already present (md5 matches): " + d.rel})
			continue
		}
		n++
		bytes += d.it.Size
		r.add(Outcome{ID: d.it.ID, Name: d.it.Name, Status: statusPlanned,
			Detail: r.s.Say("GET /nodes/{id}/contentRedirection → %s (%v)", d.rel, model.Size(d.it.Size))})
	}
	for _, d := range p.todo {
		if p.stills[d.it.ID] {
			rel := liveRel(d.rel, ".MOV", "")
			r.add(Outcome{ID: d.it.ID, Name: d.it.Name, Status: statusPlanned,
				Detail: fmt.Sprintf("its Live Photo video: GET /nodes/{id}/children (kind:ASSET), then GET /nodes/{video}/contentRedirection → %s (or its own extension)", rel)})
		}
	}
	extra := ""
	if n := len(p.stills); n > 0 {
		extra = r.s.Say(", and the videos of %v Live %s", model.Count(n), plural(int64(n), "Photo", "Photos"))
	}
	return r.result(false, r.s.Say("would download %v %s (%v)%s into %s with %d at a time; nothing was sent",
		model.Count(n), plural(n, "file", "files"), model.Size(bytes), extra, o.dir, o.conc))
}

// addLive lists the Live Photo videos of the stills and adds them to
// todo, each right after its still. When listing stops, nothing is
// downloaded and the result says so.
func (p *downloadPlan) addLive(ctx context.Context, r *run, c *fetch.Client, o downloadOpts) (*engine.Result, error) {
	if len(p.stills) == 0 {
		return nil, nil
	}
	tr := r.s.Progress.Start("live videos", int64(len(p.stills)), "photos")
	more, failed, fatal := addLiveVideos(ctx, api{c}, o.dir, p.todo, p.stills, o.conc, p.taken, tr, &r.requests)
	tr.Done()
	if err := r.record(ctx, nil, failed...); err != nil {
		return nil, err
	}
	if fatal != nil || ctx.Err() != nil {
		// Nothing was downloaded: every target says so.
		why := "not sent: stopped while listing Live Photo videos"
		if fatal != nil {
			why += ": " + fatal.Error()
		}
		listed := map[string]bool{}
		for _, o := range failed {
			listed[o.ID] = true
		}
		var outs []Outcome
		for _, d := range p.todo {
			if !listed[d.it.ID] {
				outs = append(outs, Outcome{ID: d.it.ID, Name: d.it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: why})
			}
		}
		if err := r.record(ctx, nil, outs...); err != nil {
			return nil, err
		}
		return r.result(ctx.Err() != nil, fatalSummary(fatal)), nil
	}
	for _, d := range more {
		r.order[d.it.ID] = r.order[d.it.ParentID] + 1 // each video right after its still
		p.todo = append(p.todo, d)
		p.total += d.it.Size
	}
	return nil, nil
}

// fetchAll downloads todo on o.conc workers into o.dir and returns the
// statement's result.
func (p *downloadPlan) fetchAll(ctx context.Context, r *run, c *fetch.Client, o downloadOpts) (*engine.Result, error) {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, fmt.Errorf("download: create the target directory: %w", err)
	}
	// Every file operation goes through root: nothing is written outside
	// the target, whatever links are planted in it.
	root, err := os.OpenRoot(o.dir)
	if err != nil {
		return nil, fmt.Errorf("download: open the target directory: %w", err)
	}
	defer root.Close()
	dl := &downloader{s: r.s, c: c, overwrite: o.overwrite, root: root, dir: o.dir,
		files: r.s.Progress.Start("download", int64(len(p.todo)), "files"),
		bytes: r.s.Progress.Start("download", p.total, "bytes")}
	defer dl.files.Done()
	defer dl.bytes.Done()
	dirs := map[string]bool{}
	var dirsMu sync.Mutex
	start := time.Now()
	k := r.newSink(ctx, nil)
	fatal := pool(ctx, o.conc, p.todo, func(d download) error {
		out, requests, stop := dl.one(ctx, d)
		r.requests.Add(int64(requests))
		if out.Status == StatusOK {
			dirsMu.Lock()
			dirs[filepath.Dir(d.path)] = true
			dirsMu.Unlock()
		}
		dl.files.Add(1)
		if err := k.put(out, nil); err != nil {
			return err
		}
		if stop != nil {
			return stop // the disk is full: no other file can be written either
		}
		return fatalReason(out.Reason)
	}, func(d download, why string) {
		_ = k.put(Outcome{ID: d.it.ID, Name: d.it.Name, Status: StatusFailed, Reason: ReasonNotSent, Detail: why}, nil)
	})
	if err := k.close(); err != nil && fatal == nil {
		fatal = err
	}
	// The renames are durable once their directories are synced.
	for d := range dirs {
		syncDir(d)
	}
	secs := time.Since(start).Seconds()
	got := dl.got()
	extra := r.s.Say("%v downloaded into %s", model.Size(got), o.dir)
	if secs > 0 && got > 0 {
		extra += r.s.Say(" at %v/s", model.Size(float64(got)/secs))
	}
	if f := fatalSummary(fatal); f != "" {
		extra += "; " + f
	}
	return r.result(ctx.Err() != nil, extra), nil
}

// concurrencyOpt reads the CONCURRENCY option (default 8, 1 to 64).
func concurrencyOpt(opts map[string]string) (int, error) {
	v, ok := opts["CONCURRENCY"]
	if !ok {
		return defaultConcurrency, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxConcurrency {
		return 0, fmt.Errorf("CONCURRENCY wants a whole number from 1 to %d, not %q", maxConcurrency, v)
	}
	return n, nil
}

// downloader fetches files for one DOWNLOAD statement.
type downloader struct {
	s         *engine.Session
	c         *fetch.Client
	overwrite bool
	root      *os.Root // the target directory
	dir       string   // its name, for messages
	files     engine.Tracker
	bytes     engine.Tracker
	total     atomic.Int64 // bytes received
}

// progress counts bytes as they are written.
func (dl *downloader) progress(n int64) {
	dl.bytes.Add(n)
	dl.total.Add(n)
}

func (dl *downloader) got() int64 { return dl.total.Load() }

// contentReq is the request of a download, for details.
const contentReq = "GET /nodes/{id}/contentRedirection"

// one downloads one file and says what happened, with the requests it
// sent. stop is set when no other file can be written either (a full
// disk).
func (dl *downloader) one(ctx context.Context, d download) (o Outcome, requests int, stop error) {
	o = Outcome{ID: d.it.ID, Name: d.it.Name, Target: d.it.ID}
	name := d.local()
	if done, stop := dl.prepare(&o, d, name); done {
		return o, 0, stop
	}
	got, err := dl.c.DownloadFile(ctx, dl.root, name, fetch.Download{ID: d.it.ID, OwnerID: d.it.OwnerID,
		Size: d.it.Size, MD5: d.it.MD5, Progress: dl.progress, Wrap: wrapPart})
	requests = got.Requests
	if errors.Is(err, fetch.ErrNodeGone) && d.it.known() {
		// Purged since the mirror saw it? Asked by id, the service says
		// for sure; then it is gone, as TRASH marks it: skipped, removed
		// from the mirror, and skipped by the re-runs.
		requests++
		if _, gerr := (api{dl.c}).getNode(ctx, d.it.ID); errors.Is(gerr, errNodeGone) {
			return goneOutcome(d.it.ID, d.it.Name, contentReq, "404, and GET /nodes/{id} 404"), requests, nil
		}
	}
	if err != nil {
		var fe *fetch.FileError
		o.Status, o.Reason, o.Detail = StatusFailed, reasonOf(err), contentReq+": "+err.Error()
		if errors.As(err, &fe) {
			o.Detail = err.Error() // the disk, not the network
		}
		return o, requests, dl.diskFull(&o, err)
	}
	setMTime(d.path, d.it.Content)
	o.Status = StatusOK
	o.Detail = dl.s.Say("%s → %s (%v, md5 verified)", contentReq, d.rel, model.Size(got.Size))
	if d.it.MD5 == "" {
		o.Detail = dl.s.Say("%s → %s (%v; the node has no md5 to verify against)", contentReq, d.rel, model.Size(got.Size))
	}
	if got.Resumes > 0 {
		o.Detail += fmt.Sprintf("; resumed %d %s", got.Resumes, plural(int64(got.Resumes), "time", "times"))
	}
	return o, requests, nil
}

// prepare checks what is at d's path and makes its folder. done says the
// outcome is decided without a download (the file is there, or cannot be
// written); stop is set for a full disk.
func (dl *downloader) prepare(o *Outcome, d download, name string) (done bool, stop error) {
	if err := dl.noLinkedFolders(name); err != nil {
		o.Status, o.Detail = StatusFailed, err.Error()
		return true, nil
	}
	if fi, err := dl.root.Lstat(name); err == nil {
		if !fi.Mode().IsRegular() {
			o.Status, o.Detail = StatusFailed, d.rel+" exists and is not a regular file; move it away"
			return true, nil
		}
		ok, err := d.matched, error(nil) // found by its md5 while naming
		if !ok {
			ok, err = present(d.path, d.it)
		}
		switch {
		case err != nil:
			o.Status, o.Detail = StatusFailed, "read the existing "+d.rel+": "+err.Error()
			return true, nil
		case ok:
			o.Status, o.Reason, o.Detail = StatusSkipped, ReasonAlready, "already present (md5 matches): "+d.rel
			setMTime(d.path, d.it.Content)
			return true, nil
		case !dl.overwrite:
			o.Status, o.Detail = StatusFailed, d.rel+" exists with other content; OVERWRITE true replaces it"
			return true, nil
		}
	}
	if sub := filepath.Dir(name); sub != "." {
		if err := dl.root.MkdirAll(sub, 0o755); err != nil {
			o.Status, o.Detail = StatusFailed, "create the directory: "+err.Error()
			return true, dl.diskFull(o, err)
		}
	}
	return false, nil
}

// local is d's path relative to the target directory, in the OS's form.
func (d download) local() string { return filepath.Clean(filepath.FromSlash(d.rel)) }

// noLinkedFolders refuses a file whose folders inside the target include a
// symbolic link (naming.LinkedFolder).
func (dl *downloader) noLinkedFolders(name string) error {
	sub, err := naming.LinkedFolder(dl.root, name)
	if err != nil || sub == "" {
		return err
	}
	to, _ := dl.root.Readlink(sub)
	return fmt.Errorf("the folder %s in %s is a symbolic link (to %s): DOWNLOAD never writes through a link; remove it, or download TO another directory",
		filepath.ToSlash(sub), dl.dir, to)
}

// diskFull gives o the detail of a full disk and returns the error that
// stops the statement, when err is one; nil otherwise.
func (dl *downloader) diskFull(o *Outcome, err error) error {
	if !fetch.DiskFull(err) {
		return nil
	}
	full := fmt.Errorf("disk full: free space on %s, then run the statement again", dl.dir)
	o.Reason, o.Detail = ReasonDiskFull, full.Error()+" ("+o.Detail+")"
	return full
}

// partFile is what a download writes to (tests wrap it to fail as a full
// disk does).
type partFile = fetch.PartFile

// wrapPart wraps each part file opened; tests replace it.
var wrapPart = func(f *os.File) partFile { return f }

// present reports whether path already holds it's content: same size and,
// when the node has one, same md5.
func present(path string, it item) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	if !fi.Mode().IsRegular() || fi.Size() != it.Size {
		return false, nil
	}
	if it.MD5 == "" {
		return true, nil
	}
	sum, err := md5File(path, nil)
	if err != nil {
		return false, err
	}
	return strings.EqualFold(sum, it.MD5), nil
}

// md5File returns the hex md5 of a file's content (md5Sized); buf, when
// given, is the read buffer.
func md5File(path string, buf []byte) (string, error) {
	if buf == nil {
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		buf = *bp
	}
	sum, _, err := md5Sized(path, buf)
	return sum, err
}

// syncDir makes the renames in dir durable; failures are ignored (some
// file systems cannot sync a directory, and the files themselves are).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
