package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/chzyer/readline"

	"github.com/apsql/apsql/engine"
)

const (
	prompt         = "apsql> "
	continuePrompt = "   ...> "
)

// historyPath is $XDG_STATE_HOME/apsql/history (~/.local/state/apsql/history).
func historyPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "apsql", "history")
}

// secretLine matches input that may carry cookie values; such lines never
// reach the history file.
var secretLine = regexp.MustCompile(`(?i)(cookie|session-id|session_id|ubid[-_]|at[-_](main|acb)|sess-at|x-main)`)

// repl is the interactive shell: statements end with ';' and may span lines;
// Ctrl-C at the prompt clears the input, Ctrl-C during a statement cancels
// it, Ctrl-D leaves.
func (sh *shell) repl(ctx context.Context, stdin io.Reader) int {
	sh.interactive = true
	sh.sess.Interactive = true
	sh.bail = sh.cfg.bail
	hist := historyPath()
	if hist != "" {
		if err := os.MkdirAll(filepath.Dir(hist), 0o700); err != nil {
			hist = ""
		}
	}
	rl, err := readline.NewEx(&readline.Config{
		Prompt:                 prompt,
		HistoryFile:            hist,
		DisableAutoSaveHistory: true,
		HistorySearchFold:      true,
		AutoComplete:           &completer{sh: sh},
		InterruptPrompt:        "^C",
		EOFPrompt:              "",
		Stdin:                  io.NopCloser(stdin),
		Stdout:                 sh.stdout,
		Stderr:                 sh.stderr,
	})
	if err != nil {
		fmt.Fprintf(sh.stderr, "apsql: cannot start the line editor: %v\n", err)
		return exitFailed
	}
	defer rl.Close()
	sh.sess.Confirm = func(question string) bool {
		rl.SetPrompt(question + " [y/N] ")
		defer rl.SetPrompt(prompt)
		line, err := rl.Readline()
		if err != nil {
			return false
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes"
	}
	for _, l := range sh.banner {
		fmt.Fprintln(sh.stdout, l)
	}

	var buf strings.Builder // the statement being typed
	var entry strings.Builder
	for {
		if buf.Len() == 0 {
			rl.SetPrompt(prompt)
		} else {
			rl.SetPrompt(continuePrompt)
		}
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			buf.Reset()
			entry.Reset()
			continue
		}
		if err != nil { // io.EOF: Ctrl-D
			return exitOK
		}
		if buf.Len() > 0 {
			buf.WriteByte('\n')
			entry.WriteByte('\n')
		}
		buf.WriteString(line)
		entry.WriteString(line)
		stmts, rest := engine.Split(buf.String())
		if strings.HasPrefix(strings.TrimSpace(rest), ".") && !strings.Contains(rest, "\n") {
			// A dot command ends at the end of its line.
			stmts = append(stmts, engine.Stmt{Text: strings.TrimSpace(rest), Dot: true})
			rest = ""
		}
		if len(stmts) == 0 && strings.TrimSpace(rest) != "" {
			continue // wait for the ';'
		}
		if e := strings.TrimSpace(entry.String()); e != "" && !secretLine.MatchString(e) {
			rl.SaveHistory(e)
		}
		entry.Reset()
		buf.Reset()
		buf.WriteString(rest)
		entry.WriteString(rest)
		for _, st := range stmts {
			err := sh.interactiveExec(ctx, st)
			if errors.Is(err, errQuit) {
				return exitOK
			}
			if err != nil && sh.bail {
				return exitFailed
			}
		}
	}
}

// interactiveExec runs one statement with its own Ctrl-C context and
// prints its error; it returns the error (nil when interrupted).
func (sh *shell) interactiveExec(ctx context.Context, st engine.Stmt) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := sh.exec(ctx, st)
	switch {
	case err == nil, errors.Is(err, errQuit):
		return err
	case ctx.Err() != nil:
		fmt.Fprintln(sh.stderr, "Interrupted")
		return nil
	default:
		if !errors.Is(err, errReported) {
			sh.printError("", err)
		}
		return err
	}
}

// completer completes keywords, dot commands, table and column names.
type completer struct{ sh *shell }

var sqlKeywords = strings.Fields(`SELECT FROM WHERE GROUP BY ORDER LIMIT OFFSET HAVING JOIN LEFT RIGHT INNER OUTER ON USING AS AND OR NOT IN IS NULL LIKE ILIKE BETWEEN CASE WHEN THEN ELSE END DISTINCT COUNT SUM AVG MIN MAX INSERT INTO VALUES UPDATE SET DELETE CREATE TABLE VIEW DROP ALTER COPY TO FORMAT PARQUET CSV HEADER DESCRIBE SUMMARIZE EXPLAIN WITH UNION ALL ASC DESC TRUE FALSE`)

// statementWords are words of apsql's statements past the two or three
// that the registry keys them by (ADD TO FAMILY VAULT, SET COVER OF
// PERSON, MERGE PEOPLE ... INTO, RENAME PERSON): the registry cannot list
// them, so completion offers them from here.
var statementWords = strings.Fields(`FAMILY VAULT PERSON PEOPLE MERGE COVER ALBUMS FOLDER MOVE`)

func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	text := string(line[:pos])
	start := strings.LastIndexAny(text, " \t\n(,;.=") + 1
	if start == 1 && strings.HasPrefix(text, ".") {
		start = 0
	}
	word := text[start:]
	if word == "" {
		return nil, 0
	}
	var cands []string
	if start == 0 && strings.HasPrefix(word, ".") {
		cands = c.sh.dots.names()
	} else {
		cands = append(cands, sqlKeywords...)
		cands = append(cands, statementWords...)
		cands = append(cands, c.sh.sess.DB.Commands().KeywordSet()...)
		cands = append(cands, c.names()...)
	}
	var out [][]rune
	seen := map[string]bool{}
	upper := strings.ToUpper(word) == word
	for _, cand := range cands {
		if !strings.HasPrefix(strings.ToLower(cand), strings.ToLower(word)) || seen[cand] {
			continue
		}
		seen[cand] = true
		suffix := cand[len(word):]
		if isKeyword(cand) && !upper {
			suffix = strings.ToLower(suffix)
		}
		out = append(out, []rune(suffix))
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i]) < string(out[j]) })
	return out, len([]rune(word))
}

func isKeyword(s string) bool { return strings.ToUpper(s) == s }

// names lists table, view and column names of the database.
func (c *completer) names() []string {
	rows, err := c.sh.sess.DB.Query(context.Background(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'
		 UNION SELECT column_name FROM information_schema.columns WHERE table_schema = 'main'`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if rows.Scan(&s) == nil {
			out = append(out, s)
		}
	}
	return out
}
