package actions

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// rewriting returns a client for e's emulator whose answers to the
// requests that match pass through rewrite (status and body in, body out).
func rewriting(e *env, match func(*http.Request) bool, rewrite func(status int, body []byte) []byte) *fetch.Client {
	e.t.Helper()
	cookies, err := fetch.NewCookies(e.srv.Cookies())
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := fetch.New(fetch.Config{
		Cookies: cookies, Endpoint: e.srv.URL(),
		Sleep:      func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		HTTPClient: &http.Client{Transport: answerRewriter{next: e.rec, match: match, rewrite: rewrite}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

type answerRewriter struct {
	next    http.RoundTripper
	match   func(*http.Request) bool
	rewrite func(status int, body []byte) []byte
}

func (a answerRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err != nil || !a.match(req) {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = a.rewrite(resp.StatusCode, body)
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// testUploader is an uploader of one run of UPLOAD through c.
func testUploader(e *env, c *fetch.Client, onConflict string) *uploader {
	e.t.Helper()
	r, err := newRun(e.t.Context(), e.s, "UPLOAD", false)
	if err != nil {
		e.t.Fatal(err)
	}
	return &uploader{c: c, r: r, onConflict: onConflict, bytes: engine.NoProgress.Start("", 0, "")}
}

// hashedFile is a local file named name holding content, hashed for an
// upload into remote.
func hashedFile(e *env, name, content, remote string) *upFile {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), name)
	writeFile(e.t, p, content)
	files, _, err := walkUpload(p, remote)
	if err != nil {
		e.t.Fatal(err)
	}
	hashFiles(e.t.Context(), files, 1, engine.NoProgress.Start("", 0, ""))
	return files[0]
}

// TestUploadAnswerWithoutNodeID: an upload the service answers 200 with
// something that is not a node is an unknown outcome (it may have landed),
// never ok, and nothing goes into nodes; the emulator holds the file.
func TestUploadAnswerWithoutNodeID(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 5, Seed: 21}, 0)
	c := rewriting(e, func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/cdproxy/nodes" },
		func(status int, body []byte) []byte {
			if status != http.StatusOK && status != http.StatusCreated {
				return body
			}
			return []byte(`{"message":"accepted"}`)
		})
	root, err := e.c.Root(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f := hashedFile(e, "lost.jpg", "an answer that names no node", "")
	o, n := testUploader(e, c, conflictReport).file(t.Context(), f, root.ID)
	if o.Status != StatusFailed || o.Reason != ReasonUnknown || n != nil || !strings.Contains(o.Detail, "accepted") {
		t.Errorf("outcome %+v (node %v), want failed with reason unknown quoting the answer", o, n != nil)
	}
	if k, err := e.srv.CountNodes(`name:"lost.jpg"`); err != nil || k != 1 {
		t.Errorf("the service holds lost.jpg %d times (%v), want 1: the test proves nothing", k, err)
	}
}

// TestUploadConflictWithoutNodeID: a 409 whose answer does not name the
// node holding the name is settled by listing the folder (findChild):
// the same content is skipped with the existing id, other content is a
// conflict naming it.
func TestUploadConflictWithoutNodeID(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 5, Seed: 22}, 0)
	held := e.serviceHas("Dest", "x.jpg", "what the service has")
	dest := e.srv.State().Folders["Dest"]
	c := rewriting(e, func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/cdproxy/nodes" },
		func(status int, body []byte) []byte {
			if status != http.StatusConflict {
				return body
			}
			return []byte(`{"message":"Node with the same name already exists"}`)
		})
	for _, tc := range []struct {
		content string
		status  Status
		reason  Reason
	}{
		{"what the service has", StatusSkipped, ReasonNone},
		{"other bytes", StatusConflict, ReasonConflict},
	} {
		f := hashedFile(e, "x.jpg", tc.content, "Dest")
		o, _ := testUploader(e, c, conflictReport).file(t.Context(), f, dest)
		if o.Status != tc.status || o.Reason != tc.reason || o.ID != held {
			t.Errorf("%q: outcome %+v, want %s (%q) with the id %s", tc.content, o, tc.status, tc.reason, held)
		}
	}
	if k, err := e.srv.CountNodes(`name:"x.jpg"`); err != nil || k != 1 {
		t.Errorf("the service holds x.jpg %d times (%v), want 1", k, err)
	}
}

// TestUploadNameHeldByFolder: a local file whose name the remote folder
// gives to a subfolder is a conflict naming that folder, which never goes
// into nodes; ON CONFLICT REPLACE replaces nothing, as it is not a file.
func TestUploadNameHeldByFolder(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 5, Seed: 23}, 0)
	e.serviceHas("Dest/x.jpg", "inside.jpg", "a file in a folder named x.jpg")
	folder := e.srv.State().Folders["Dest/x.jpg"]
	file := filepath.Join(t.TempDir(), "x.jpg")
	writeFile(t, file, "a photo named like the folder")
	for _, tc := range []struct {
		clause string
		status Status
		detail string
	}{
		{"", StatusConflict, "ON CONFLICT"},
		{"ON CONFLICT REPLACE", StatusFailed, "not a file: nothing replaced"},
	} {
		rows, sum := e.run(`UPLOAD '` + file + `' TO 'Dest' ` + tc.clause)
		var r row
		for _, x := range rows {
			if x.name == "x.jpg" {
				r = x
			}
		}
		if r.status != tc.status || r.id != folder || !strings.Contains(r.detail, tc.detail) {
			t.Errorf("%q: %+v, want %s naming the folder %s and %q (%s)", tc.clause, r, tc.status, folder, tc.detail, sum)
		}
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, folder); n != 0 {
		t.Errorf("the folder %s went into nodes", folder)
	}
	if n := len(e.rec.matching("PUT", "/content")); n != 0 {
		t.Errorf("%d PUT .../content: REPLACE sent content into a folder", n)
	}
}
