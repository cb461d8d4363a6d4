package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// Paging limits (API.md §1.5).
const (
	// pageLimit is the largest page every listing accepts.
	pageLimit = 200
	// nodesCap: /nodes, /nodes/{id}/children and /trash refuse
	// offset+limit > 9999; /search has no cap.
	nodesCap = 9999
)

// listing describes one paged listing.
type listing struct {
	op    string     // "search", "trash", "children", ... for events and errors
	path  string     // "/search"
	query url.Values // filters, sort, ...; offset/limit/startToken are added per page
	// capped listings (node dialect) stop at offset+limit ≤ 9999 and may
	// answer nextToken; /search pages by offset up to count.
	capped bool
	// sized, when set, learns the listing's count from the first page
	// before any page is consumed (to size the id set once).
	sized func(count int)
	// unchanged, when set, lets the decoders skip the nodes the mirror
	// holds unchanged (StreamSearchChanged): one function per decoder.
	unchanged NewUnchangedFunc
}

func (l listing) request(offset, limit int, token string) *request {
	q := url.Values{}
	for k, v := range l.query {
		q[k] = v
	}
	q.Set("limit", strconv.Itoa(limit))
	if token != "" {
		q.Set("startToken", token)
	} else {
		q.Set("offset", strconv.Itoa(offset))
	}
	op := fmt.Sprintf("%s offset %d", l.path, offset)
	if token != "" {
		op = l.path + " (startToken)"
	}
	return &request{Path: l.path, Query: q, Op: op}
}

// pageFunc consumes one page body on consumer goroutine worker (0 ≤ worker
// < consumers); the body is only valid during the call.
type pageFunc func(worker int, body []byte) (PageInfo, error)

// overCapError says a capped listing holds more than 9999 nodes and
// answered no nextToken: the caller splits it (listSplit).
type overCapError struct{ count int }

func (e *overCapError) Error() string {
	return fmt.Sprintf("the listing holds %d nodes, more than Amazon's %d offset cap", e.count, nodesCap)
}

// pageStats is what paging saw.
type pageStats struct {
	count        int // the first page's count
	items        int // data elements received
	pages        int
	countChanged bool // a later page reported another count
	shortPages   int  // pages (not the last) with fewer items than asked
}

type retryCounterKey struct{}

// countRetries makes send count its retries into n.
func countRetries(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, retryCounterKey{}, n)
}

// peekEnvelope reads count and nextToken of a page without decoding nodes.
func peekEnvelope(body []byte) (PageInfo, error) {
	return walkPage(body, func(data []byte, i int) (int, bool, error) {
		end, err := skipContainer(data, i)
		return end, false, err
	})
}

// pageAll fetches every page of l and hands each body to consume, on up to
// consumers goroutines:
//   - the first page alone: its count sizes the listing (and it is never
//     fetched twice, the upstream duplicate-rows bug);
//   - a capped listing with nextToken pages sequentially by startToken;
//     one over 9999 nodes without it returns *overCapError before any
//     page is consumed;
//   - otherwise the other offsets are fetched concurrently (bounded by the
//     client's adaptive limit) while consumers decode.
//
// Memory stays bounded: at most MaxConcurrency bodies in flight plus one
// per consumer.
func (c *Client) pageAll(ctx context.Context, l listing, consumers int, consume pageFunc) (pageStats, error) {
	var st pageStats
	first, err := c.fetchBody(ctx, l.request(0, pageLimit, ""))
	if err != nil {
		return st, err
	}
	env, err := peekEnvelope(first.Bytes())
	if err != nil {
		putBuf(first)
		return st, fmt.Errorf("%s: page at offset 0: %w", l.op, err)
	}
	st.count = max(env.Count, 0)
	if l.sized != nil {
		l.sized(st.count)
	}
	if l.capped && env.NextToken == "" && st.count > nodesCap {
		putBuf(first)
		return st, &overCapError{count: st.count}
	}
	info, err := consume(0, first.Bytes())
	putBuf(first)
	if err != nil {
		return st, fmt.Errorf("%s: page at offset 0: %w", l.op, err)
	}
	st.pages, st.items = 1, info.Items
	c.event(Event{Kind: EventPage, Op: l.op, Items: info.Items, Offset: 0, Total: st.count})

	if l.capped && env.NextToken != "" {
		return st, c.pageTokens(ctx, l, env.NextToken, &st, consume)
	}
	if info.Items == 0 || st.count <= pageLimit {
		return st, nil
	}

	// The other offsets, concurrently.
	type page struct {
		offset int
		body   *bytes.Buffer
	}
	type job struct{ offset, limit int }
	var jobs []job
	for off := pageLimit; off < st.count; off += pageLimit {
		limit := pageLimit
		if l.capped {
			limit = min(pageLimit, nodesCap-off)
			if limit <= 0 {
				break
			}
		}
		jobs = append(jobs, job{off, limit})
	}
	g, gctx := errgroup.WithContext(ctx)
	jobCh := make(chan job)
	bodies := make(chan page, consumers)
	g.Go(func() error {
		defer close(jobCh)
		for _, j := range jobs {
			select {
			case jobCh <- j:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	var fetchers sync.WaitGroup
	for range min(c.cfg.MaxConcurrency, len(jobs)) {
		fetchers.Add(1)
		g.Go(func() error {
			defer fetchers.Done()
			for j := range jobCh {
				body, err := c.fetchBody(gctx, l.request(j.offset, j.limit, ""))
				if err != nil {
					return fmt.Errorf("%s: page %d of %d (offset %d): %w", l.op, j.offset/pageLimit+1, len(jobs)+1, j.offset, err)
				}
				select {
				case bodies <- page{j.offset, body}:
				case <-gctx.Done():
					putBuf(body)
					return nil
				}
			}
			return nil
		})
	}
	go func() { fetchers.Wait(); close(bodies) }()
	var mu sync.Mutex
	for w := range consumers {
		g.Go(func() error {
			for p := range bodies {
				if gctx.Err() != nil {
					putBuf(p.body)
					continue // drain so fetchers can finish
				}
				info, err := consume(w, p.body.Bytes())
				putBuf(p.body)
				if err != nil {
					return fmt.Errorf("%s: page at offset %d: %w", l.op, p.offset, err)
				}
				mu.Lock()
				st.pages++
				st.items += info.Items
				if info.Count >= 0 && info.Count != st.count {
					st.countChanged = true
				}
				if want := min(pageLimit, st.count-p.offset); info.Items < want {
					st.shortPages++
				}
				mu.Unlock()
				c.event(Event{Kind: EventPage, Op: l.op, Items: info.Items, Offset: p.offset, Total: st.count})
			}
			return nil
		})
	}
	err = g.Wait()
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	return st, err
}

// maxTokenRestarts bounds how often in a row, without a page consumed in
// between, a listing recovers from an expired paging token.
const maxTokenRestarts = 3

// pageTokens follows nextToken/startToken sequentially. A token expires
// (400 "Next token is expired", ~10 minutes after the listing started,
// API.md §5): the listing then resumes where it stopped, by offset while
// that is under the 9999 cap (the page answers a fresh token), otherwise
// by walking the listing again from the start and skipping the pages
// already consumed.
func (c *Client) pageTokens(ctx context.Context, l listing, token string, st *pageStats, consume pageFunc) error {
	restarts := 0
	byOffset := false // the next request goes by offset: resuming after an expired token
	offset, skip := 0, 0
	for token != "" || byOffset {
		body, err := c.fetchBody(ctx, l.request(offset, pageLimit, token))
		if err != nil {
			if token == "" || !tokenExpired(err) {
				return fmt.Errorf("%s: page %d: %w", l.op, st.pages+1, err)
			}
			if restarts++; restarts > maxTokenRestarts {
				return fmt.Errorf("%s: the paging tokens expired %d times in a row: the listing is too slow to get past page %d within their lifetime (a slow connection?); run it again: %w", l.op, maxTokenRestarts+1, st.pages, err)
			}
			if n, ok := ctx.Value(retryCounterKey{}).(*atomic.Int64); ok {
				n.Add(1)
			}
			c.event(Event{Kind: EventRetry, Op: l.op, Attempt: restarts, Status: http.StatusBadRequest, Err: err})
			token, byOffset, offset, skip = "", true, st.items, 0
			if st.items+pageLimit > nodesCap {
				offset, skip = 0, st.items // walk again from the start
			}
			continue
		}
		byOffset = false
		env, err := peekEnvelope(body.Bytes())
		if err == nil && skip > 0 && env.Items <= skip {
			// A page consumed before the token expired: pass over it.
			skip -= env.Items
			offset += env.Items
			token = env.NextToken
			putBuf(body)
			if env.Items == 0 || token == "" {
				return fmt.Errorf("%s: the listing ended early when it was walked again after an expired token: %w", l.op, ErrListingChanged)
			}
			continue
		}
		skip = 0 // a page across the resume point is consumed whole: its repeated ids are dropped as duplicates
		if err == nil {
			var info PageInfo
			info, err = consume(0, body.Bytes())
			if err == nil {
				c.event(Event{Kind: EventPage, Op: l.op, Items: info.Items, Offset: st.items, Total: st.count})
				st.pages++
				st.items += info.Items
				offset = st.items
				restarts = 0 // progress: only expiries in a row give up
				if info.Items == 0 {
					env.NextToken = ""
				}
			}
		}
		putBuf(body)
		if err != nil {
			return fmt.Errorf("%s: page %d: %w", l.op, st.pages+1, err)
		}
		token = env.NextToken
	}
	return nil
}

// tokenExpired reports Amazon's 400 "Next token is expired".
func tokenExpired(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(ae.Message), "token is expired")
}
