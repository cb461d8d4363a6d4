package actions

import (
	"context"
	"fmt"
	"strings"

	"github.com/apsql/apsql/engine"
)

// UPLOAD, in the order it runs: parse the statement (this file), list the
// local files (upload_walk.go, upload_query.go), hash them and decide
// which to send (upload_hash.go, upload_plan.go), make the remote folders
// (upload_folders.go), send the files (upload_send.go), each body checked
// against its md5 as it goes (upload_body.go), and settle what the service
// answered (upload_answer.go).

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

// uploadRequest names an upload in the journal's 'sending' entries.
const uploadRequest = "POST /cdproxy/nodes (upload)"

// uploadStmt is a parsed UPLOAD: where the files come from, where they go
// and how.
type uploadStmt struct {
	local      string // UPLOAD 'path' ("" with a query)
	query      string // UPLOAD (SELECT path ...)
	remote     string // TO 'remote/folder', cleaned by remotePath ("" is the root)
	onConflict string // ON CONFLICT (conflictReport when none)
	dedup      bool   // DEDUP: skip content the library or this upload already holds
	conc       int    // CONCURRENCY
}

// runUpload runs UPLOAD 'path' [TO 'remote/folder'] [ON CONFLICT
// SKIP|RENAME|REPLACE] [(DEDUP true, CONCURRENCY n)].
func (x *Actions) runUpload(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	st, err := parseUpload(rest)
	if err != nil {
		return nil, err
	}
	r, err := newRun(ctx, s, "UPLOAD", explain)
	if err != nil {
		return nil, err
	}
	p, err := st.plan(ctx, s, r)
	if err != nil {
		return nil, err
	}
	if explain {
		return p.explain(r), nil
	}
	// The journal gets the read failures and the duplicates too.
	if err := r.journalAdded(ctx); err != nil {
		return nil, err
	}
	if len(p.todo) == 0 {
		return r.result(false, p.hashNote), nil
	}
	return x.sendUpload(ctx, s, r, st, p)
}

// parseUpload reads what follows UPLOAD: 'local/path' or (SELECT path
// ...), then the tail (parseUploadTail) and its options.
func parseUpload(rest string) (*uploadStmt, error) {
	st := &uploadStmt{dedup: true}
	a := engine.NewArgs(rest)
	var tail string
	var err error
	if a.PeekByte() == '(' {
		st.query, tail, err = uploadQuery(rest) // UPLOAD (SELECT path ...): upload_query.go
	} else if st.local, err = a.String(); err == nil {
		tail = a.Rest()
	}
	if err != nil {
		return nil, fmt.Errorf("upload: %w (UPLOAD 'local/path' | (SELECT path ...) [TO 'remote/folder'])", err)
	}
	if err := st.parseTail(tail); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	return st, nil
}

// parseTail reads TO, ON CONFLICT and the options into st.
func (st *uploadStmt) parseTail(tail string) error {
	var parsed statement
	var err error
	if st.onConflict, err = parseUploadTail(&parsed, tail); err != nil {
		return err
	}
	if v, ok := parsed.opts["DEDUP"]; ok {
		if st.dedup, err = engine.ParseBool("DEDUP", v); err != nil {
			return err
		}
	}
	if st.conc, err = concurrencyOpt(parsed.opts); err != nil {
		return err
	}
	st.remote, err = remotePath(parsed.to)
	return err
}

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
