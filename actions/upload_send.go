package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/model"
)

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
	// dirs holds the remote folders once folders made them.
	dirs *folderSet
	// total counts the bytes the service took.
	total atomic.Int64
}

// sendUpload makes the remote folders, sends the planned files and sums
// up: what was sent, how fast, and what stopped the statement.
func (x *Actions) sendUpload(ctx context.Context, s *engine.Session, r *run, st *uploadStmt, p *uploadPlan) (*engine.Result, error) {
	c, err := x.client(ctx)
	if err != nil {
		return nil, err
	}
	up := &uploader{c: c, r: r, onConflict: st.onConflict}
	root, err := c.Root(ctx)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	fatal := up.folders(ctx, root.ID, p.folders, x.workers)
	done := s.Progress.Start("upload", int64(len(p.todo)), "files")
	defer done.Done()
	up.bytes = s.Progress.Start("upload", totalSize(p.todo), "bytes")
	defer up.bytes.Done()
	start := time.Now()
	if fatal == nil {
		fatal = up.sendFiles(ctx, p.todo, st.conc, done)
	} else {
		for _, f := range p.todo {
			_ = r.record(ctx, nil, Outcome{Name: f.rel, Status: StatusFailed, Reason: ReasonNotSent, Target: f.rel, Detail: "not sent: " + fatal.Error()})
		}
	}
	return r.end(ctx.Err() != nil, fatal, up.summary(p.hashNote, start, fatal))
}

// sendFiles sends the files on conc workers, each journaled as about to be
// sent before it goes. New nodes go into nodes (and outcomes into the
// journal) in batches a fraction of a second apart, and before the
// statement returns, interrupted or not. The error is fatal.
func (up *uploader) sendFiles(ctx context.Context, todo []*upFile, conc int, done engine.Tracker) error {
	k := up.r.newSink(ctx, nil)
	fatal := poolJournaled(ctx, up.r, conc, todo, func(f *upFile) []string { return []string{f.rel} }, uploadRequest, func(f *upFile) error {
		defer done.Add(1)
		o, n := up.fileInto(ctx, f)
		if err := k.put(o, raw(n)); err != nil {
			return err
		}
		return fatalReason(o.Reason)
	}, func(f *upFile, why string) {
		_ = k.put(Outcome{Name: f.rel, Status: StatusFailed, Reason: ReasonNotSent, Target: f.rel, Detail: why}, nil)
	})
	if err := k.close(); err != nil && fatal == nil {
		fatal = err
	}
	return fatal
}

// fileInto uploads f into its remote folder, or fails it when the folder
// could not be made.
func (up *uploader) fileInto(ctx context.Context, f *upFile) (Outcome, *fetch.Node) {
	parentID, err := up.dirs.of(f.remote)
	if err != nil {
		return Outcome{Name: f.rel, Status: StatusFailed, Target: f.rel,
			Detail: "folder /" + f.remote + " could not be made: " + err.Error()}, nil
	}
	return up.file(ctx, f, parentID)
}

// summary is the note of the statement's result.
func (up *uploader) summary(hashNote string, start time.Time, fatal error) string {
	extra := hashNote
	if secs := time.Since(start).Seconds(); secs > 0 {
		n := up.r.count(StatusOK)
		extra += up.r.s.Say("; uploaded %v at %.1f files/s", model.Size(up.total.Load()), float64(n)/secs)
	}
	if f := fatalSummary(fatal); f != "" {
		extra += "; " + f
	}
	return extra
}

// file uploads one file into the folder parentID. It returns the outcome
// and, when the service holds the file (new, or found by a 409), its node
// for the nodes table. It sends to POST /cdproxy/nodes (API.md §1.4 C1)
// and, once that was refused with 403, to POST /v2/upload (C2).
func (up *uploader) file(ctx context.Context, f *upFile, parentID string) (Outcome, *fetch.Node) {
	return up.fileAs(ctx, f, parentID, up.onConflict)
}

// fileAs is file with the ON CONFLICT choice onConflict.
func (up *uploader) fileAs(ctx context.Context, f *upFile, parentID, onConflict string) (Outcome, *fetch.Node) {
	if up.v2.Load() {
		o, n, _ := up.fileVia(ctx, f, parentID, true, onConflict)
		return o, n
	}
	o, n, forbidden := up.fileVia(ctx, f, parentID, false, onConflict)
	if forbidden {
		up.v2.Store(true)
		why := o.Detail
		o, n, _ = up.fileVia(ctx, f, parentID, true, onConflict)
		o.Detail += " (after " + why + ")"
	}
	return o, n
}

// fileVia is file through one endpoint: /v2/upload when v2. forbidden:
// POST /cdproxy/nodes answered 403, the file is for /v2/upload.
func (up *uploader) fileVia(ctx context.Context, f *upFile, parentID string, v2 bool, onConflict string) (o Outcome, n *fetch.Node, forbidden bool) {
	a := up.send(ctx, f, parentID, v2)
	switch {
	case a.changed != nil:
		return changedOutcome(Outcome{Name: f.rel, Target: f.rel}, a.changed), nil, false
	case a.err == nil:
		o, n = up.landed(f, parentID, a)
		return o, n, false
	}
	if held, ok := (api{up.c}).conflictID(ctx, a.err, parentID, f.name, "FILE"); ok {
		o, n = up.settle409(ctx, f, parentID, onConflict, a, held)
		return o, n, false
	}
	if a.resent && isStatus(a.err, http.StatusConflict) {
		return a.lost409(f), nil, false
	}
	return a.failed(f), nil, !v2 && isStatus(a.err, http.StatusForbidden)
}

// attempt is one upload request (with its resends) and what came of it.
type attempt struct {
	ep      string      // the endpoint, for the outcome's detail
	node    *fetch.Node // the answer: a node, or only its Raw when it is not one
	err     error       // the request failed (an answer that is not a node is read by landed)
	changed error       // the file changed since it was hashed: no complete body was sent
	resent  bool        // the request was sent again after a failed attempt
}

// send uploads f into the folder parentID through one endpoint:
// /v2/upload when v2.
func (up *uploader) send(ctx context.Context, f *upFile, parentID string, v2 bool) *attempt {
	a := &attempt{ep: "POST /cdproxy/nodes"}
	if v2 {
		// No conflictResolution: RENAME would store a second copy as
		// "name (1).ext" where a resend of a landed upload must find the
		// first (409).
		a.ep = "POST /v2/upload"
	}
	open := checkedOpener(f, &a.changed, up.bytes)
	if f.size == 0 {
		open = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	up.r.requests.Add(1)
	a.node, a.err = up.c.UploadFile(context.WithoutCancel(ctx), fetch.Upload{Name: f.name, ParentID: parentID, Size: f.size, MD5: f.md5, V2: v2, Open: open,
		// A resend cannot make a second copy: if the first request landed,
		// the name is taken and the service answers 409 with its id.
		Retry: func(context.Context, error) bool {
			if a.changed != nil {
				return false
			}
			a.resent = true
			return true
		}})
	if errors.Is(a.err, fetch.ErrUnexpectedAnswer) {
		a.err = nil // the answer is read by landed
	}
	return a
}

// lost409 is the outcome of an upload whose resend was answered 409 and
// whose name's holder could not be read (the 409's answer and the lookup
// by name cut): the first send, whose answer was lost, may be what holds
// the name, so the outcome is unknown, not refused. The re-run finds the
// file by its name and md5 (409) and sends no second copy.
func (a *attempt) lost409(f *upFile) Outcome {
	return Outcome{Name: f.rel, Target: f.rel, Status: StatusFailed, Reason: ReasonUnknown,
		Detail: a.ep + ": " + unknownOutcome + ": the answer was lost and the resend was answered 409 (the name is taken, perhaps by this upload), but which file holds the name could not be read: " + a.err.Error() + " (if it landed, the re-run finds it by its name and md5)"}
}

// failed is the outcome of an upload the service did not take: refused,
// or of unknown fate (cut, interrupted, 5xx), which a re-run finds by its
// name and md5 if it landed.
func (a *attempt) failed(f *upFile) Outcome {
	o := Outcome{Name: f.rel, Target: f.rel, Status: StatusFailed, Reason: reasonOf(a.err), Detail: a.ep + ": " + a.err.Error()}
	if errors.Is(a.err, fetch.ErrInterrupted) {
		o.Reason, o.Detail = ReasonUnknown, a.ep+": "+unknownOutcome+": "+a.err.Error()
	}
	if !refusedForSure(a.err) {
		o.Detail += " (if it landed, the re-run finds it by its name and md5)"
	}
	return o
}
