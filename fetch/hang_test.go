package fetch_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// Issue 17 item 2 (part): a service that never sends the headers is cut
// after HeaderTimeout per attempt, and the request fails once
// ProgressTimeout passed without progress, instead of 11 attempts of the
// transport's 90 s (before: a search page that never answers failed only
// after 1,053 s).
func TestNeverAnswerFailsWithinProgressTimeout(t *testing.T) {
	srv, c := newEmulated(t, emulator.Options{Nodes: 50, Seed: 2}, func(cfg *fetch.Config) {
		cfg.HeaderTimeout = 200 * time.Millisecond
		cfg.ProgressTimeout = 1500 * time.Millisecond
		cfg.MaxRetries = 100
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			tm := time.NewTimer(min(d, 50*time.Millisecond))
			defer tm.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tm.C:
				return nil
			}
		}
	})
	srv.SetHang("GET /drive/v1/account/usage", emulator.HangHeaders, 0, -1)
	t0 := time.Now()
	_, err := c.Usage(t.Context())
	el := time.Since(t0)
	if !errors.Is(err, fetch.ErrNoProgress) || !strings.Contains(err.Error(), "--timeout") {
		t.Fatalf("err = %v, want ErrNoProgress naming --timeout", err)
	}
	if el > 5*time.Second {
		t.Errorf("failed after %v, want about ProgressTimeout (1.5 s)", el)
	}
	t.Logf("%v: %v", el.Round(time.Millisecond), err)
}
