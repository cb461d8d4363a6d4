package backup

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// Backup runs the BACKUP and CHECK statements of one shell.
type Backup struct {
	// client returns the session's API client; it is called only when a
	// statement has something to send (never for EXPLAIN).
	client func(ctx context.Context) (*fetch.Client, error)
}

var errNoClient = errors.New("no connection to Amazon Photos: give cookies (--cookies) or run with --demo")

// stopGrace is how long requests in flight may still take after Ctrl-C.
const stopGrace = 400 * time.Millisecond

// Register adds BACKUP, CHECK and the EXPLAIN of each to reg.
func Register(reg *engine.Registry, client func(ctx context.Context) (*fetch.Client, error)) {
	b := &Backup{client: client}
	if client == nil {
		b.client = func(context.Context) (*fetch.Client, error) { return nil, errNoClient }
	}
	type stmt struct {
		kw           []string
		syntax, help string
		run          func(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error)
	}
	for _, e := range []stmt{
		{[]string{"BACKUP"}, "BACKUP [target] TO 'dir' [(NAMING '{yyyy}/{mm}/{name}', SIDECAR 'xmp'|'json'|'both', VIEWS true, MIRROR true, CONCURRENCY n)] [THEN TRASH]",
			"keep an incremental copy of the target (none: the whole library) in dir, with a manifest; re-runs fetch only what is new or changed", b.runBackup},
		{[]string{"CHECK"}, "CHECK 'dir' [AGAINST target]",
			"compare a folder with the library by md5: matched, missing_in_cloud, missing_locally, differs", b.runCheck},
	} {
		run := e.run
		reg.Register(engine.Command{Keywords: e.kw, Syntax: e.syntax, Help: e.help,
			Run: func(ctx context.Context, s *engine.Session, rest string) (*engine.Result, error) {
				ctx, release := fetch.WithStopGrace(ctx, stopGrace)
				defer release()
				return run(ctx, s, rest, false)
			}})
		reg.Register(engine.Command{Keywords: append([]string{"EXPLAIN"}, e.kw...), Syntax: "EXPLAIN " + e.syntax,
			Help: "dry run of " + strings.Join(e.kw, " ") + ": what it would fetch, write, move or trash; nothing is sent or written",
			Run: func(ctx context.Context, s *engine.Session, rest string) (*engine.Result, error) {
				return run(ctx, s, rest, true)
			}})
	}
}
