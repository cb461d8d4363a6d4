// Package mirror keeps the local DuckDB mirror of an Amazon Photos library:
// the SYNC statements (SPEC §2.1), the search() table function (§2.2) and
// the .tree, .usage and .account dot commands (§3).
//
// Nodes stream from the service as Arrow record batches (fetch decodes the
// pages) into a staging table through the engine's Arrow ingestion, so
// memory stays bounded whatever the library's size. A full SYNC replaces
// the mirror in one transaction only after the staging table holds exactly
// the server's count of distinct ids; anything less (Ctrl-C, a 401, a
// crash, a library that kept changing) leaves the previous mirror as it
// was.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apsql/apsql/model"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/filterlang"
	"github.com/apsql/apsql/resultset"
)

// ClientFunc returns the API client, creating it on first use: the shell
// builds it from --cookies/--endpoint only when a statement needs the
// service, so local-only use needs no cookies.
type ClientFunc func(ctx context.Context) (*fetch.Client, error)

// DefaultFilter is what SYNC and SYNC NODES fetch: every photo and video.
const DefaultFilter = "type:(PHOTOS OR VIDEOS)"

// Register adds the SYNC statements to reg.
func Register(reg *engine.Registry, client ClientFunc) {
	reg.Register(engine.Command{
		Keywords: []string{"SYNC"},
		Syntax:   "SYNC [NODES [FILTER 'filter'] | ALL | NEW | FOLDERS | ALBUMS | PEOPLE | TRASH | AGGREGATIONS | TAGS [category] | USAGE]",
		Help:     "mirror the library (plain SYNC: nodes, folders, albums, people and usage) into the local tables",
		Run: func(ctx context.Context, s *engine.Session, rest string) (*engine.Result, error) {
			job, err := parseSync(rest)
			if err != nil {
				return nil, err
			}
			// Never write into a file that cannot take it: read-only, or
			// with a damaged block (issue 11 item 6). The read of every
			// block runs beside the listing; every write waits for it
			// (writeGate).
			if err := s.DB.Writable(); err != nil {
				return nil, fmt.Errorf("sync: %w", err) // known at once: fetch nothing
			}
			check := s.DB.StartCheckBeforeWrite(ctx)
			defer check.Stop()
			c, err := client(ctx)
			if err != nil {
				return nil, err
			}
			return run(withWriteGate(ctx, check), s, newService(c), job)
		},
	})
}

// syncJob is a parsed SYNC statement: which tables to refresh, in order.
type syncJob struct {
	parts []string // "nodes", "new", "folders", "albums", "people", "trash", "aggregations", "tags", "usage"
	// filter is SYNC NODES' filter (DefaultFilter when none is given):
	// those nodes are upserted. "" is plain SYNC: the nodes table is
	// replaced by a verified full listing.
	filter   string
	category string // SYNC TAGS category; "" for all of them
}

// tagCategories are the aggregation categories SYNC TAGS records.
var tagCategories = []string{"things", "people", "location"}

// parseSync reads the text after SYNC.
func parseSync(rest string) (syncJob, error) {
	a := engine.NewArgs(rest)
	if a.Done() {
		return syncJob{parts: []string{"nodes", "folders", "albums", "people", "usage"}}, nil
	}
	w, err := a.Word()
	if err != nil {
		return syncJob{}, fmt.Errorf("SYNC: %w; write SYNC, SYNC NODES, SYNC NEW, SYNC FOLDERS, SYNC ALBUMS, SYNC PEOPLE, SYNC TRASH, SYNC AGGREGATIONS, SYNC TAGS or SYNC USAGE", err)
	}
	job := syncJob{parts: []string{strings.ToLower(w)}}
	switch strings.ToUpper(w) {
	case "ALL":
		// Every file through GET /nodes (documents too), then what plain
		// SYNC adds.
		job.parts = append(job.parts, "folders", "usage")
	case "NODES":
		job.filter = DefaultFilter
		if a.Keyword("FILTER") {
			f, err := a.String()
			if err != nil {
				return syncJob{}, fmt.Errorf("SYNC NODES FILTER: %w", err)
			}
			if _, err := filterlang.Parse(f, filterlang.Search); err != nil {
				return syncJob{}, err
			}
			job.filter = f
		}
	case "TAGS":
		if !a.Done() {
			var c string
			if a.PeekByte() == '\'' {
				c, err = a.String()
			} else {
				c, err = a.Word()
			}
			if err != nil {
				return syncJob{}, fmt.Errorf("SYNC TAGS: %w", err)
			}
			c = strings.ToLower(c)
			if !contains(tagCategories, c) {
				return syncJob{}, fmt.Errorf("SYNC TAGS: unknown category %q; use one of %s", c, strings.Join(tagCategories, ", "))
			}
			job.category = c
		}
	case "NEW", "FOLDERS", "ALBUMS", "PEOPLE", "TRASH", "AGGREGATIONS", "USAGE":
	default:
		return syncJob{}, fmt.Errorf("SYNC %s: unknown; write SYNC, SYNC NODES [FILTER 'filter'], SYNC NEW, SYNC FOLDERS, SYNC ALBUMS, SYNC PEOPLE, SYNC TRASH, SYNC AGGREGATIONS, SYNC TAGS [category] or SYNC USAGE", w)
	}
	if !a.Done() {
		return syncJob{}, fmt.Errorf("SYNC %s: unexpected %q at the end", strings.ToUpper(w), a.Rest())
	}
	return job, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// tableStats is one row of SYNC's result.
type tableStats struct {
	table                               string
	fetched, inserted, updated, removed int64
	seconds                             float64
}

func (t tableStats) summary(s *engine.Session) string {
	return s.Say("%s %v fetched (+%v ~%v -%v)", t.table, model.Count(t.fetched), model.Count(t.inserted), model.Count(t.updated), model.Count(t.removed))
}

// partEndpoint names the requests of a SYNC part, for its warning.
var partEndpoint = map[string]string{
	"nodes":        "GET /search",
	"new":          "GET /search",
	"all":          "GET /nodes",
	"folders":      "GET /nodes/{id}/children",
	"albums":       "GET /nodes (albums) and /nodes/{id}/children",
	"people":       "GET /search/aggregation?category=people",
	"trash":        "GET /trash",
	"aggregations": "GET /search (aggregations)",
	"tags":         "GET /search",
	"usage":        "GET /account/usage",
}

// stopsAll reports whether err ends the whole statement rather than one
// part: an interrupt, or a session the service no longer accepts (every
// later part would fail the same way).
func stopsAll(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, fetch.ErrUnauthorized) || errors.Is(err, fetch.ErrNotAPI)
}

// run executes a SYNC job part by part. With several parts (plain SYNC,
// SYNC ALL) the small parts list from the start, beside the first
// (startListings), and each part is written in its turn; each part fails
// on its own: its table keeps its previous contents, a one-line warning
// naming the endpoint goes to stderr, and the other parts still run; the
// statement fails at the end only when the nodes part did. An interrupt or
// a rejected session stops it at once, listings included.
func run(ctx context.Context, s *engine.Session, svc source, job syncJob) (*engine.Result, error) {
	start := time.Now()
	ctx, changes := withChangeLog(ctx, job.statement())
	lists := startListings(ctx, svc, job.parts)
	defer lists.stop()
	var (
		done     []tableStats
		warnings []string
		mainErr  error
	)
	for i, p := range job.parts {
		t0 := time.Now()
		// A full SYNC of the nodes waits for the block check itself, just
		// before its first write; every other part before it starts.
		if p != "nodes" || job.filter != "" {
			if err := waitWritable(ctx); err != nil {
				return nil, err
			}
		}
		var (
			st   tableStats
			more []tableStats // further tables the part wrote
			err  error
		)
		switch p {
		case "nodes":
			if job.filter == "" {
				st, err = syncNodesFull(ctx, s, svc)
			} else {
				st, err = syncNodesFilter(ctx, s, svc, job.filter)
			}
		case "new":
			st, err = syncNew(ctx, s, svc)
		case "all":
			st, err = syncAll(ctx, s, svc)
		case "trash":
			st, err = syncTrash(ctx, s, svc)
		case "aggregations":
			st, err = syncAggregations(ctx, s, svc)
		case "tags":
			st, err = syncTags(ctx, s, svc, job.category)
		default:
			list, ok := partFetches[p]
			if !ok {
				err = fmt.Errorf("unknown part %q", p)
				break
			}
			var all []tableStats
			if all, err = listAndWrite(ctx, s, svc, p, list, lists.of[p]); err == nil {
				st, more = all[0], all[1:]
			}
		}
		var damaged *checkError
		if errors.As(err, &damaged) {
			return nil, damaged // the file: no part may write
		}
		if err != nil {
			if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
			}
			err = fmt.Errorf("SYNC %s: %w; the %s table keeps its previous contents", strings.ToUpper(p), err, tableOf(p))
			if len(job.parts) == 1 || stopsAll(ctx, err) {
				return nil, err
			}
			if i == 0 {
				mainErr = err // the statement's own table: fail once the others are done
				continue
			}
			warnings = append(warnings, fmt.Sprintf("warning: SYNC %s failed (%s): %s", strings.ToUpper(p), partEndpoint[p], oneLine(err.Error())))
			continue
		}
		done = append(done, st)
		done = append(done, more...)
		for k := len(done) - 1 - len(more); k < len(done); k++ {
			if done[k].seconds == 0 {
				done[k].seconds = time.Since(t0).Seconds()
			}
		}
	}
	if mainErr != nil {
		var others []string
		for _, t := range done {
			others = append(others, t.table)
		}
		msg := mainErr.Error()
		if len(others) > 0 {
			msg += " (" + strings.Join(others, ", ") + " refreshed)"
		}
		if len(warnings) > 0 {
			msg += "\n" + strings.Join(warnings, "\n")
		}
		return nil, &partsError{msg: msg, err: mainErr}
	}
	b := resultset.New(
		resultset.Col("table", resultset.String),
		resultset.Col("fetched", resultset.Int64),
		resultset.Col("inserted", resultset.Int64),
		resultset.Col("updated", resultset.Int64),
		resultset.Col("removed", resultset.Int64),
		resultset.Col("seconds", resultset.Float64),
	)
	parts := make([]string, len(done))
	for i, t := range done {
		b.Append(t.table, t.fetched, t.inserted, t.updated, t.removed, round3(t.seconds))
		parts[i] = t.summary(s)
	}
	summary := fmt.Sprintf("sync: %s in %.1fs", strings.Join(parts, "; "), time.Since(start).Seconds())
	if len(warnings) > 0 {
		summary = strings.Join(warnings, "\n") + "\n" + summary
	}
	summary += changes.summary(s)
	return &engine.Result{Rows: b.Reader(), Summary: summary}, nil
}

// listAndWrite writes part p from its listing started with the statement
// (one; the seconds are then those the statement waited for it and wrote),
// or from a listing made now (one nil).
func listAndWrite(ctx context.Context, s *engine.Session, svc source, p string, list partFetch, one *listing) ([]tableStats, error) {
	var (
		write partWrite
		err   error
	)
	if one != nil {
		t0 := time.Now()
		write, err = one.wait(ctx, s.Progress)
		if err == nil {
			s.Logf("sync %s: listed in %s beside the parts before it, waited %s for it", p, one.took.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
		}
	} else {
		write, err = list(ctx, s.Progress, svc)
	}
	if err != nil {
		return nil, err
	}
	return write(ctx, s.DB)
}

// partsError is a SYNC whose main part failed after the others ran: its
// message adds what the others did, errors.Is/As see the part's error.
type partsError struct {
	msg string
	err error
}

func (e *partsError) Error() string { return e.msg }
func (e *partsError) Unwrap() error { return e.err }

// oneLine keeps the first line of a message.
func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// tableOf names the table a SYNC part writes.
func tableOf(part string) string {
	if part == "new" || part == "all" {
		return "nodes"
	}
	return part
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// writeGateKey keys the statement's block check (engine.BlockCheck) in its
// context.
type writeGateKey struct{}

// writeGate is what a SYNC part waits for before it writes: the
// statement's block check (*engine.BlockCheck), or a test's stand-in.
type writeGate interface {
	Wait(ctx context.Context) error
}

func withWriteGate(ctx context.Context, c writeGate) context.Context {
	return context.WithValue(ctx, writeGateKey{}, c)
}

// checkError is the block check's refusal: it ends the whole statement.
type checkError struct{ err error }

func (e *checkError) Error() string { return "sync: " + e.err.Error() }
func (e *checkError) Unwrap() error { return e.err }

// waitWritable waits for the statement's block check (none: a part run on
// its own, as tests do) and returns its refusal as a *checkError. Every
// SYNC part calls it before it writes anything to the file.
func waitWritable(ctx context.Context) error {
	c, ok := ctx.Value(writeGateKey{}).(writeGate)
	if !ok {
		return nil
	}
	if err := c.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return &checkError{err}
	}
	return nil
}
