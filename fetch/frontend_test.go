package fetch_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// Issue 22 item 3: an answer from Amazon's front end (a sign-in page, a
// captcha, an HTML 403, an HTML 503) is a *FrontEndError that says what
// happened and what to try, is neither ErrUnauthorized nor a passing
// outage, and is sent once, not retried ten times; the API's own JSON 503
// is still retried.
func TestFrontEndAnswersAreNotTheAPI(t *testing.T) {
	cases := []struct {
		page   emulator.FrontEnd
		kind   fetch.FrontEndKind
		status int
		say    string
	}{
		{emulator.FrontEndSignIn, fetch.FrontEndSignIn, 200, "sign-in page"},
		{emulator.FrontEndCaptcha, fetch.FrontEndCaptcha, 200, "captcha"},
		{emulator.FrontEndForbidden, fetch.FrontEndBlocked, 403, "front end"},
		{emulator.FrontEndUnavailable, fetch.FrontEndUnavailable, 503, "not the API's own 503"},
	}
	for _, tc := range cases {
		srv, c := newEmulated(t, emulator.Options{Nodes: 50, Seed: 2}, func(cfg *fetch.Config) {
			cfg.Sleep = func(ctx context.Context, d time.Duration) error { return nil }
		})
		srv.SetFrontEnd(tc.page, -1)
		_, err := c.Usage(t.Context())
		var fe *fetch.FrontEndError
		if !errors.As(err, &fe) || !errors.Is(err, fetch.ErrNotAPI) {
			t.Errorf("front end %d: %v (%T), want a *FrontEndError", tc.page, err, err)
			continue
		}
		if errors.Is(err, fetch.ErrUnauthorized) {
			t.Errorf("front end %d: %v reads as an expired session", tc.page, err)
		}
		if fe.Kind != tc.kind || fe.Status != tc.status {
			t.Errorf("front end %d: kind %d status %d, want %d %d", tc.page, fe.Kind, fe.Status, tc.kind, tc.status)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.say) || !strings.Contains(msg, http.StatusText(tc.status)) || strings.Contains(msg, "<") {
			t.Errorf("front end %d: message %q: want the status, %q and no HTML", tc.page, msg, tc.say)
		}
		if n := srv.Stats().Requests; n != 1 {
			t.Errorf("front end %d: %d requests sent, want 1 (never retried as an outage)", tc.page, n)
		}
		// A later request meets the page too.
		if _, err := c.AccountInfo(t.Context()); err == nil {
			t.Errorf("front end %d: a later request succeeded against the front end", tc.page)
		}
		// The API's own 503 is an outage: retried until it passes.
		srv.SetFrontEnd(emulator.FrontEndNone, 0)
		srv.SetFaults(0, 1, 0, 0)
		go func() {
			time.Sleep(50 * time.Millisecond)
			srv.SetFaults(0, 0, 0, 0)
		}()
		srv.ResetStats()
		_, c2 := newEmulatedClient(t, srv, nil)
		if _, err := c2.Usage(t.Context()); err != nil {
			t.Errorf("after the front end: JSON 500/503 then success: %v", err)
		}
	}
}

// newEmulatedClient is a second client of srv.
func newEmulatedClient(t *testing.T, srv *emulator.Server, mod func(*fetch.Config)) (*emulator.Server, *fetch.Client) {
	t.Helper()
	cookies, err := fetch.NewCookies(srv.Cookies())
	if err != nil {
		t.Fatal(err)
	}
	cfg := fetch.Config{Cookies: cookies, Endpoint: srv.URL(), Sleep: func(ctx context.Context, d time.Duration) error {
		t := time.NewTimer(10 * time.Millisecond)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := fetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}
