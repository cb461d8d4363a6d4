package fetch

import (
	"fmt"
	"time"
)

// EventKind says what an Event reports.
type EventKind int

// The events a Client reports through Config.Events.
const (
	// EventPage: a page of a listing arrived; Items nodes in it, Offset its
	// offset, Total the listing's size as the server counts it.
	EventPage EventKind = iota + 1
	// EventRetry: a request failed and will be sent again after Wait;
	// Status is the HTTP status (0 for a network error), Err the cause.
	EventRetry
	// EventThrottled: the server said "too fast" (429/503); Wait is the
	// pause before the retry (the server's Retry-After when it sent one).
	EventThrottled
	// EventConcurrency: the adaptive limit of parallel requests changed to
	// Concurrency.
	EventConcurrency
	// EventWarning: something went wrong that does not fail the request
	// (a --cache file could not be written); Err says what.
	EventWarning
	// EventStalled: a request has made no progress for Wait (no answer,
	// an upload the server does not read, a body that trickles); Stall
	// says which, Limit when it fails, Err the last attempt's error if
	// one failed. Once per stall (Config.StallNotice after the last
	// progress), and at most one per StallNotice for the whole client
	// (a listing whose pages all stall says so once).
	EventStalled
)

func (k EventKind) String() string {
	switch k {
	case EventPage:
		return "page"
	case EventRetry:
		return "retry"
	case EventThrottled:
		return "throttled"
	case EventConcurrency:
		return "concurrency"
	case EventWarning:
		return "warning"
	case EventStalled:
		return "stalled"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one progress report. Fields that do not apply to a Kind are zero.
type Event struct {
	Kind EventKind
	// Op names the request or listing: "search", "trash", "children",
	// "GET /account/usage", ...
	Op          string
	Items       int // nodes in the page (EventPage)
	Offset      int // offset of the page (EventPage)
	Total       int // server count of the listing (EventPage)
	Attempt     int // 1 for the first retry (EventRetry, EventThrottled)
	Status      int // HTTP status, 0 for network errors
	Wait        time.Duration
	Err         error
	Concurrency int // new limit (EventConcurrency)
	// Refused is the 429s the client got so far and Rate the requests per
	// second it now sends at (EventThrottled on a 429).
	Refused int64
	Rate    float64
	// Stall says what a stalled request waits for ("has sent no headers
	// for 10s") and Limit how long it may go without progress before it
	// fails (EventStalled).
	Stall string
	Limit time.Duration
}

func (e Event) String() string {
	switch e.Kind {
	case EventPage:
		return fmt.Sprintf("%s: page at offset %d: %d items of %d", e.Op, e.Offset, e.Items, e.Total)
	case EventThrottled:
		if e.Status == 429 {
			return fmt.Sprintf("throttled by the service: %s refused, now at %s req/s (%s, waiting %s)", requestsN(e.Refused), formatRate(e.Rate), e.Op, e.Wait.Round(time.Millisecond))
		}
		return fmt.Sprintf("%s: %s (attempt %d, waiting %s): %v", e.Op, e.Kind, e.Attempt, e.Wait.Round(time.Millisecond), e.Err)
	case EventRetry:
		return fmt.Sprintf("%s: %s (attempt %d, waiting %s): %v", e.Op, e.Kind, e.Attempt, e.Wait.Round(time.Millisecond), e.Err)
	case EventConcurrency:
		return fmt.Sprintf("concurrency %d", e.Concurrency)
	case EventWarning:
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	case EventStalled:
		how := "retrying"
		if e.Attempt <= 1 {
			how = "still waiting"
		}
		return fmt.Sprintf("waiting for the service: %s %s (%s; gives up after %s without progress, --timeout)", e.Op, e.Stall, how, e.Limit)
	}
	return e.Kind.String()
}
