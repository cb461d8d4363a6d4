package actions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// Actions runs the action statements of one shell. Register creates it.
type Actions struct {
	// client returns the session's API client; it is called only when a
	// statement has something to send (never for EXPLAIN).
	client func(ctx context.Context) (*fetch.Client, error)
	// workers bounds the requests one statement has in flight; the fetch
	// client's adaptive limit may allow fewer.
	workers int
}

// defaultWorkers is how many batches or nodes one statement works on at a
// time; the fetch client's adaptive concurrency (at most 16) is the real
// bound on requests.
const defaultWorkers = 8

// Register adds the action statements (and EXPLAIN of each) to reg. client
// returns the session's API client; it is called only when a statement has
// something to send, so EXPLAIN and statements whose target is empty work
// without cookies.
func Register(reg *engine.Registry, client func(ctx context.Context) (*fetch.Client, error)) {
	x := &Actions{client: client, workers: defaultWorkers}
	if client == nil {
		x.client = func(context.Context) (*fetch.Client, error) { return nil, errNoClient }
	}
	for _, c := range x.commands() {
		reg.Register(c)
	}
}

// runner is the shape of every action's Run, with the EXPLAIN flag: it
// gets the statement as the registry tokenized it (and the target of
// node ids a caller such as the gallery gave instead of a target in the
// text, engine.WithIDs).
type runner func(ctx context.Context, s *engine.Session, st *engine.Statement, explain bool) (*engine.Result, error)

// textRunner is an action that reads its arguments from its text and
// takes no target of ids.
type textRunner func(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error)

// text adapts a textRunner; a target of ids is refused.
func text(f textRunner) runner {
	return func(ctx context.Context, s *engine.Session, st *engine.Statement, explain bool) (*engine.Result, error) {
		if st.IDs != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(st.Keywords, " "), engine.ErrNoIDTarget)
		}
		return f(ctx, s, st.Rest(), explain)
	}
}

func (x *Actions) table() []struct {
	kw     []string
	syntax string
	help   string
	run    runner
} {
	mv := func(m move) runner {
		return func(ctx context.Context, s *engine.Session, st *engine.Statement, explain bool) (*engine.Result, error) {
			return x.runMove(ctx, s, m, st.Args(), explain)
		}
	}
	vault := func(v vaultOp) runner {
		return func(ctx context.Context, s *engine.Session, st *engine.Statement, explain bool) (*engine.Result, error) {
			return x.runVault(ctx, s, v, st.Args(), explain)
		}
	}
	set := func(op setting) runner {
		return func(ctx context.Context, s *engine.Session, st *engine.Statement, explain bool) (*engine.Result, error) {
			return x.runSetting(ctx, s, op, st.Args(), explain)
		}
	}
	return []struct {
		kw     []string
		syntax string
		help   string
		run    runner
	}{
		{[]string{"TRASH"}, "TRASH target", "move nodes to the trash (batches of 50)", mv(moveTrash)},
		{[]string{"RESTORE"}, "RESTORE target", "restore nodes from the trash; WHERE and FILTER are evaluated over trash", mv(moveRestore)},
		{[]string{"PURGE"}, "PURGE target", "delete nodes in the trash for good; asks for confirmation (or --yes)", mv(movePurge)},
		{[]string{"FAVORITE"}, "FAVORITE target", "mark nodes as favorites", set(setFavorite)},
		{[]string{"UNFAVORITE"}, "UNFAVORITE target", "unmark favorites", set(setUnfavorite)},
		{[]string{"HIDE"}, "HIDE target", "hide nodes", set(setHide)},
		{[]string{"UNHIDE"}, "UNHIDE target", "unhide nodes", set(setUnhide)},
		{[]string{"CREATE", "ALBUM"}, "CREATE ALBUM 'name' [FROM target]", "create an album, optionally holding target", x.runCreateAlbum},
		{[]string{"ALBUM"}, "ALBUM 'name' ADD|REMOVE target", "add nodes to an album or remove them", x.runAlbum},
		{[]string{"RENAME", "ALBUM"}, "RENAME ALBUM 'old' TO 'new'", "rename an album", text(x.runRenameAlbum)},
		{[]string{"RENAME", "PERSON"}, "RENAME PERSON 'name or cluster id' TO 'new'", "rename a person (a face cluster of the people table)", text(x.runRenamePerson)},
		{[]string{"MERGE", "PEOPLE"}, "MERGE PEOPLE 'a', 'b' [, ...] INTO 'name'", "merge people into the first one named, under a name", text(x.runMergePeople)},
		// Keywords stop at two or three words: EXPLAIN and the longest
		// keyword list must fit the four words the registry looks at.
		{[]string{"SET", "COVER"}, "SET COVER OF PERSON 'name or cluster id' TO 'nodeId'", "set a person's cover photo", text(x.runSetCover)},
		{[]string{"ADD", "TO", "FAMILY"}, "ADD TO FAMILY VAULT target", "share photos and videos with the family (batches of 50)", vault(vaultAdd)},
		{[]string{"REMOVE", "FROM", "FAMILY"}, "REMOVE FROM FAMILY VAULT target", "take photos and videos out of the Family Vault", vault(vaultRemove)},
		{[]string{"CREATE", "FOLDER"}, "CREATE FOLDER 'path/to/folder'", "create a folder and its missing parents (existing ones are reused)", text(x.runCreateFolder)},
		{[]string{"MOVE"}, "MOVE target TO 'folder/path'", "move files or folders into a folder", x.runMoveTo},
		{[]string{"RENAME"}, "RENAME 'id' TO 'new name'", "rename a file, folder or album", text(x.runRename)},
		{[]string{"DOWNLOAD"}, "DOWNLOAD target [TO 'dir'] [(NAMING '{id}_{name}', CONCURRENCY n, OVERWRITE false, LIVE_VIDEO false)]",
			"download files, verified against md5, written atomically; present and correct files are skipped; LIVE_VIDEO true adds each Live Photo's video next to it", x.runDownload},
		{[]string{"UPLOAD"}, "UPLOAD 'path' | (SELECT path ...) [TO 'remote/folder'] [ON CONFLICT SKIP|RENAME|REPLACE] [(DEDUP true, CONCURRENCY n)]",
			"upload a file or a tree, recreating folders; skips files whose md5 is already in the library", text(x.runUpload)},
	}
}

// stopGrace is how long the requests an interrupted action has in flight
// may still take: an answer within it makes the outcome known; after it
// the request is cut and its nodes are journalled as "outcome unknown",
// so that the statement stops within a second of Ctrl-C.
const stopGrace = 400 * time.Millisecond

// commands returns the engine commands of the actions: each statement and
// its EXPLAIN.
func (x *Actions) commands() []engine.Command {
	var out []engine.Command
	for _, e := range x.table() {
		run := e.run
		out = append(out,
			engine.Command{Keywords: e.kw, Syntax: e.syntax, Help: e.help,
				Exec: func(ctx context.Context, s *engine.Session, st *engine.Statement) (*engine.Result, error) {
					ctx, release := fetch.WithStopGrace(ctx, stopGrace)
					defer release()
					return run(ctx, s, st, false)
				}},
			engine.Command{Keywords: append([]string{"EXPLAIN"}, e.kw...), Syntax: "EXPLAIN " + e.syntax,
				Help: "dry run of " + strings.Join(e.kw, " ") + ": the nodes or files and the requests it would send; nothing is sent",
				Exec: func(ctx context.Context, s *engine.Session, st *engine.Statement) (*engine.Result, error) {
					return run(ctx, s, st, true)
				}})
	}
	return out
}
