package fetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestStalledAnswerIsRetried: an answer whose body stops half way is cut
// after IdleTimeout and the GET is sent again, instead of waiting for ever.
func TestStalledAnswerIsRetried(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1) == 1 {
			w.Header().Set("Content-Length", "100")
			w.Write([]byte(`{"data":`))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // nothing more until the client gives up
			return
		}
		w.Write([]byte(`{"count":7}`))
	}))
	t.Cleanup(srv.Close)
	c, rec := newTestClient(t, srv.URL, func(cfg *Config) { cfg.IdleTimeout = 100 * time.Millisecond })
	var out struct{ Count int }
	start := time.Now()
	if err := c.Do(t.Context(), &Request{Path: "/x"}, &out); err != nil || out.Count != 7 {
		t.Fatalf("Do = %v, count %d; want the second answer", err, out.Count)
	}
	if took := time.Since(start); took > 5*time.Second || n.Load() != 2 || rec.count(EventRetry) != 1 {
		t.Errorf("took %s, %d requests, %d retries; want one retry after 100 ms", took, n.Load(), rec.count(EventRetry))
	}
}

// TestStopGraceCutsDetachedRequests: a request sent under
// context.WithoutCancel of a WithStopGrace context stops grace after the
// statement's context is done, with ErrInterrupted.
func TestStopGraceCutsDetachedRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // until it is read, net/http does not see the client leave
		<-r.Context().Done()        // no answer
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(t.Context())
	ctx, release := WithStopGrace(ctx, 100*time.Millisecond)
	defer release()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := c.Do(context.WithoutCancel(ctx), &Request{Method: http.MethodPatch, Path: "/x", JSON: map[string]any{}}, nil)
	if took := time.Since(start); !errors.Is(err, ErrInterrupted) || took > time.Second {
		t.Errorf("Do = %v after %s; want ErrInterrupted about 200 ms in", err, took)
	}
}
