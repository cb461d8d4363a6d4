package actions

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/model"
)

// landed reads the answer of an upload the service took: the new node; or
// the node it already had for this content (cdproxy's silent dedup); or a
// node stored with another md5. An answer that is not a node leaves the
// outcome unknown.
func (up *uploader) landed(f *upFile, parentID string, a *attempt) (Outcome, *fetch.Node) {
	o := Outcome{Name: f.rel, Target: f.rel}
	n := a.node
	if n == nil || n.ID == "" {
		o.Status, o.Reason, o.Detail = StatusFailed, ReasonUnknown, fmt.Sprintf("%s: %s: the answer has no node id: %s", a.ep, unknownOutcome, clip(string(raw(n)), 60))
		return o, nil
	}
	up.total.Add(f.size)
	o.ID = n.ID
	switch {
	case n.Name != "" && heldElsewhere(n, f.name, parentID) && sameContent(n, f):
		// The service kept the file it already had (cdproxy's silent
		// dedup): nothing new was stored.
		o.Status, o.Detail = StatusSkipped, fmt.Sprintf("%s: the service already holds this content as %s and stored nothing new", a.ep, engine.Quote(n.Name))
	case n.ContentProperties.MD5 != "" && !sameContent(n, f):
		o.Status, o.Detail = StatusFailed, fmt.Sprintf("uploaded to /%s, but the service stored md5 %s for a file with md5 %s: check it, and TRASH it if it is wrong", f.remote, n.ContentProperties.MD5, f.md5)
	default:
		o.Status, o.Detail = StatusOK, up.r.s.Say("%s: uploaded to /%s (%v)", a.ep, f.remote, model.Size(f.size))
	}
	return o, n
}

// settle409 settles an upload answered 409: the name is held by the node
// id. The same content there needs no upload (after a resend, it is this
// upload, whose answer was lost); so does the same content elsewhere
// (/v2/upload also refuses content that a file elsewhere holds). Other
// content is for ON CONFLICT to settle. The node comes back when it is an
// available file, for the nodes table.
func (up *uploader) settle409(ctx context.Context, f *upFile, parentID, onConflict string, a *attempt, id string) (Outcome, *fetch.Node) {
	o := Outcome{ID: id, Name: f.rel, Target: f.rel}
	held, err := up.c.GetNode(ctx, id)
	switch {
	case err != nil:
		o.Status, o.Detail = StatusFailed, fmt.Sprintf("a file named %s is already in /%s (409); reading it failed: %v", engine.Quote(f.name), f.remote, err)
		if a.resent {
			// The first send, whose answer was lost, may be what holds
			// the name.
			o.Reason, o.Detail = ReasonUnknown, a.ep+": "+unknownOutcome+": "+o.Detail+" (the answer was lost and the resend found the name taken; if it landed, the re-run finds it by its name and md5)"
		}
		return o, nil
	case !sameContent(held, f):
		return up.otherContent(ctx, o, f, parentID, onConflict, held)
	case heldElsewhere(held, f.name, parentID):
		o.Status, o.Detail = StatusSkipped, fmt.Sprintf("the same content is already in the library as %s (%s answered 409): not uploaded again", engine.Quote(held.Name), a.ep)
	case a.resent:
		o.Status, o.Detail = StatusOK, up.r.s.Say("%s: uploaded to /%s (%v); the answer was lost and the resend found it (409)", a.ep, f.remote, model.Size(f.size))
	default:
		o.Status, o.Detail = StatusSkipped, fmt.Sprintf("a file named %s with the same content is already in /%s (409)", engine.Quote(f.name), f.remote)
		if up.sentBefore(ctx, f.rel) {
			o.Detail += ": the upload of an earlier run of the statement, whose answer was lost"
		}
	}
	return o, availableFile(held)
}

// sentBefore reports whether an earlier run of the statement sent the
// file target without learning that it landed (run.earlierSent). It holds
// the run's lock, so that it reads no flush's transaction half done.
func (up *uploader) sentBefore(ctx context.Context, target string) bool {
	up.r.mu.Lock()
	defer up.r.mu.Unlock()
	sent, err := up.r.earlierSent(ctx, []string{target})
	return err == nil && sent[target]
}

// otherContent settles a name that the folder holds with other content
// (the node held) as ON CONFLICT says: a conflict (none given), a skip,
// an upload under the next free name, or held's new content.
func (up *uploader) otherContent(ctx context.Context, o Outcome, f *upFile, parentID, onConflict string, held *fetch.Node) (Outcome, *fetch.Node) {
	where := "/" + f.remote
	switch onConflict {
	case conflictSkip:
		o.Status, o.Detail = StatusSkipped, fmt.Sprintf("a different file named %s is already in %s (409, %s): ON CONFLICT SKIP", engine.Quote(f.name), where, o.ID)
	case conflictRename:
		return up.renamed(ctx, f, parentID)
	case conflictReplace:
		if availableFile(held) == nil {
			o.Status, o.Detail = StatusFailed, fmt.Sprintf("ON CONFLICT REPLACE: the name %s in %s is held by a %s (%s), not a file: nothing replaced", engine.Quote(f.name), where, strings.ToLower(held.Kind), o.ID)
			return o, nil
		}
		return up.replace(ctx, f, o.ID, where)
	default:
		o.Status, o.Reason, o.Detail = StatusConflict, ReasonConflict, fmt.Sprintf("a different file named %s is already in %s (409, %s): nothing sent; choose with ON CONFLICT RENAME (upload it as %s), ON CONFLICT REPLACE (make it the new content of %s) or ON CONFLICT SKIP",
			engine.Quote(f.name), where, o.ID, engine.Quote(numbered(f.name, 1)), o.ID)
	}
	return o, availableFile(held)
}

// sameContent reports whether the node n holds f's content (its md5).
func sameContent(n *fetch.Node, f *upFile) bool {
	return strings.EqualFold(n.ContentProperties.MD5, f.md5)
}

// heldElsewhere reports whether n is not the file name in the folder
// parentID.
func heldElsewhere(n *fetch.Node, name, parentID string) bool {
	return !strings.EqualFold(n.Name, name) || !slices.Contains(n.Parents, parentID)
}

// availableFile is n when it is a file that is not in the trash (one for
// the nodes table), else nil.
func availableFile(n *fetch.Node) *fetch.Node {
	if n.Kind != "FILE" || n.Status != "AVAILABLE" {
		return nil
	}
	return n
}

// changedOutcome fails a file that changed after it was hashed.
func changedOutcome(o Outcome, changed error) Outcome {
	o.Status, o.Detail = StatusFailed, changed.Error()+": not uploaded; run the statement again once the file is stable"
	return o
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
func (up *uploader) renamed(ctx context.Context, f *upFile, parentID string) (Outcome, *fetch.Node) {
	for n := 1; n <= maxRenames; n++ {
		g := *f
		g.name = numbered(f.name, n)
		o, node := up.fileAs(ctx, &g, parentID, conflictReport)
		if o.Status == StatusConflict {
			continue // taken by other content: the next number
		}
		o.Name, o.Target = f.rel, f.rel
		o.Detail = fmt.Sprintf("ON CONFLICT RENAME: %s as %s: %s", engine.Quote(f.name), engine.Quote(g.name), o.Detail)
		return o, node
	}
	return Outcome{Name: f.rel, Target: f.rel, Status: StatusFailed,
		Detail: fmt.Sprintf("ON CONFLICT RENAME: %s (1) to (%d) are all taken by other files in /%s: rename the local file", engine.Quote(f.name), maxRenames, f.remote)}, nil
}

// replace makes f the new content of the file node id (ON CONFLICT
// REPLACE): PUT /cdproxy/nodes/{id}/content with a multipart part
// "content" (API.md §1.4 C4). The node keeps its id, name, folder and
// albums; the answer must carry f's md5. Sending the same bytes again is
// harmless, so a failed request is resent.
func (up *uploader) replace(ctx context.Context, f *upFile, id, where string) (Outcome, *fetch.Node) {
	const ep = "PUT /cdproxy/nodes/{id}/content"
	o := Outcome{ID: id, Name: f.rel, Target: f.rel}
	var changed error
	up.r.requests.Add(1)
	n, err := up.c.ReplaceContent(context.WithoutCancel(ctx), id, f.name, f.size, checkedOpener(f, &changed, up.bytes),
		func(context.Context, error) bool { return changed == nil })
	if errors.Is(err, fetch.ErrUnexpectedAnswer) {
		err = nil // the answer is read below
	}
	switch {
	case changed != nil:
		return changedOutcome(o, changed), nil
	case err != nil:
		o.Status, o.Detail = StatusFailed, ep+": "+err.Error()
		if !refusedForSure(err) {
			o.Detail = ep + ": " + unknownOutcome + ": " + err.Error() + " (the re-run finds the new content by its md5)"
		}
		return o, nil
	case n == nil || n.ID != id:
		o.Status, o.Detail = StatusFailed, fmt.Sprintf("%s: %s: the answer is not the node %s: %s", ep, unknownOutcome, id, clip(string(raw(n)), 60))
		return o, nil
	case !sameContent(n, f):
		o.Status, o.Detail = StatusFailed, fmt.Sprintf("%s: the service stored md5 %s for a file with md5 %s: check %s", ep, n.ContentProperties.MD5, f.md5, id)
		return o, n
	}
	up.total.Add(f.size)
	o.Status, o.Detail = StatusOK, up.r.s.Say("ON CONFLICT REPLACE: %s: the new content of %s in %s (%v)", ep, engine.Quote(f.name), where, model.Size(f.size))
	return o, n
}
