package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/output"
)

// dotCommand is one of the shell's dot commands.
type dotCommand struct {
	names []string // ".quit", ".exit"
	args  string   // for .help
	help  string
	// setting: the command changes how results are shown or where they
	// go and prints no result itself, so a pending .once waits past it.
	setting bool
	run     func(ctx context.Context, sh *shell, args []string) error
}

// dotTable dispatches dot commands; .help is generated from it and from the
// engine's statement registry.
type dotTable struct {
	cmds []dotCommand
}

func (t *dotTable) add(c dotCommand) { t.cmds = append(t.cmds, c) }

func (t *dotTable) lookup(name string) (dotCommand, bool) {
	for _, c := range t.cmds {
		for _, n := range c.names {
			if n == name {
				return c, true
			}
		}
	}
	return dotCommand{}, false
}

// setting reports whether the dot command line is a setting (see
// dotCommand.setting).
func (t *dotTable) setting(line string) bool {
	f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), ";"))
	if len(f) == 0 {
		return false
	}
	c, ok := t.lookup(f[0])
	return ok && c.setting
}

func (t *dotTable) names() []string {
	var out []string
	for _, c := range t.cmds {
		out = append(out, c.names...)
	}
	sort.Strings(out)
	return out
}

func (t *dotTable) run(ctx context.Context, sh *shell, line string) error {
	// ".timer on;" is forgiven: people end everything with a semicolon.
	fields, err := dotArgs(strings.TrimSuffix(strings.TrimSpace(line), ";"))
	if err != nil {
		return err
	}
	c, ok := t.lookup(fields[0])
	if !ok {
		return fmt.Errorf("unknown command %s; .help lists the commands", fields[0])
	}
	return c.run(ctx, sh, fields[1:])
}

// errTooDeep stops .read nested past maxReadDepth.
type errTooDeep struct{ msg string }

func (e errTooDeep) Error() string { return e.msg }

// dotArgs splits a dot command line into words, as sqlite3 does: a word in
// '...' or "..." may hold spaces, and a doubled quote inside stands for
// one ('it”s').
func dotArgs(line string) ([]string, error) {
	var out []string
	for i := 0; i < len(line); {
		switch c := line[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(line); j++ {
				if line[j] == c {
					if j+1 < len(line) && line[j+1] == c {
						b.WriteByte(c)
						j++
						continue
					}
					break
				}
				b.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unterminated %c in %s: close the quote", c, line)
			}
			out = append(out, b.String())
			i = j + 1
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' {
				j++
			}
			out = append(out, line[i:j])
			i = j
		}
	}
	return out, nil
}

func onOff(name string, args []string) (bool, error) {
	if len(args) == 1 {
		switch strings.ToLower(args[0]) {
		case "on", "true", "yes", "1":
			return true, nil
		case "off", "false", "no", "0":
			return false, nil
		}
	}
	return false, fmt.Errorf("usage: %s on|off", name)
}

func newDotTable() *dotTable {
	t := &dotTable{}
	t.add(dotCommand{names: []string{".help"}, help: "show this help", run: func(ctx context.Context, sh *shell, args []string) error {
		sh.help()
		return nil
	}})
	t.add(dotCommand{names: []string{".quit", ".exit"}, setting: true, help: "leave apsql", run: func(context.Context, *shell, []string) error {
		return errQuit
	}})
	t.add(dotCommand{names: []string{".tables"}, help: "list tables and views", run: func(ctx context.Context, sh *shell, args []string) error {
		return sh.statement(ctx, `SELECT table_name AS name, lower(table_type) AS type FROM information_schema.tables WHERE table_schema = 'main' AND table_name <> 'apsql_meta' ORDER BY 1`)
	}})
	t.add(dotCommand{names: []string{".schema"}, args: "[TABLE]", help: "show CREATE statements", run: func(ctx context.Context, sh *shell, args []string) error {
		q := `SELECT sql FROM (SELECT table_name AS name, sql FROM duckdb_tables() WHERE NOT internal AND schema_name = 'main' AND table_name <> 'apsql_meta'
		      UNION ALL SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND schema_name = 'main')`
		if len(args) > 1 {
			return fmt.Errorf("usage: .schema [TABLE]")
		}
		if len(args) == 1 {
			var n int
			if err := sh.sess.DB.QueryRow(ctx, `SELECT count(*) FROM (SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views()) t(n) WHERE lower(n) = lower(?)`, args[0]).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("no table or view named %q; .tables lists them", args[0])
			}
			q += " WHERE lower(name) = lower(" + engine.Quote(args[0]) + ")"
		}
		rows, err := sh.sess.DB.Query(ctx, q+" ORDER BY name")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			fmt.Fprintln(sh.out, strings.TrimRight(s, ";")+";")
		}
		return rows.Err()
	}})
	t.add(dotCommand{names: []string{".mode"}, args: "FORMAT", setting: true, help: "output format: " + strings.Join(formatNames(), ", "), run: func(ctx context.Context, sh *shell, args []string) error {
		if len(args) == 0 {
			fmt.Fprintf(sh.out, "current output mode: %s\n", sh.opts.Format)
			return nil
		}
		f, err := output.ParseFormat(args[0])
		if err != nil {
			return err
		}
		sh.opts.Format = f
		return nil
	}})
	t.add(dotCommand{names: []string{".headers"}, args: "on|off", setting: true, help: "show column names", run: func(ctx context.Context, sh *shell, args []string) error {
		v, err := onOff(".headers", args)
		if err == nil {
			sh.opts.Headers = v
		}
		return err
	}})
	t.add(dotCommand{names: []string{".output"}, args: "[FILE]", setting: true, help: "send results to FILE (no FILE: back to stdout)", run: func(ctx context.Context, sh *shell, args []string) error {
		if len(args) > 1 {
			return fmt.Errorf("usage: .output [FILE]")
		}
		if len(args) == 0 {
			return sh.setOutput("")
		}
		return sh.setOutput(args[0])
	}})
	t.add(dotCommand{names: []string{".once"}, args: "FILE", setting: true, help: "send the next result only to FILE", run: func(ctx context.Context, sh *shell, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("usage: .once FILE")
		}
		return sh.setOnce(args[0])
	}})
	t.add(dotCommand{names: []string{".maxrows"}, args: "[N]", setting: true, help: fmt.Sprintf("a table shows its first and last N/2 rows (default %d at the terminal; no N or -1: every row)", defaultMaxRows), run: func(ctx context.Context, sh *shell, args []string) error {
		n := -1
		if len(args) > 1 {
			return fmt.Errorf("usage: .maxrows [N]")
		}
		if len(args) == 1 {
			v, err := strconv.Atoi(args[0])
			if err != nil || v < -1 {
				return fmt.Errorf(".maxrows %s: give a number of rows, or -1 for every row", args[0])
			}
			n = v
		}
		sh.maxRows, sh.maxRowsSet = max(n, 0), true
		return nil
	}})
	t.add(dotCommand{names: []string{".echo"}, args: "on|off", setting: true, help: "print each statement before running it", run: func(ctx context.Context, sh *shell, args []string) error {
		v, err := onOff(".echo", args)
		if err == nil {
			sh.echo = v
		}
		return err
	}})
	t.add(dotCommand{names: []string{".bail"}, args: "on|off", setting: true, help: "stop at the first error (default: on in scripts, off at the prompt)", run: func(ctx context.Context, sh *shell, args []string) error {
		v, err := onOff(".bail", args)
		if err == nil {
			sh.bail = v
		}
		return err
	}})
	t.add(dotCommand{names: []string{".open"}, args: "[FILE]", setting: true, help: "close this database and open FILE (no FILE: a new in-memory one)", run: func(ctx context.Context, sh *shell, args []string) error {
		switch len(args) {
		case 0:
			return sh.open(ctx, engine.Memory)
		case 1:
			return sh.open(ctx, args[0])
		}
		return fmt.Errorf("usage: .open [FILE]")
	}})
	t.add(dotCommand{names: []string{".read"}, args: "FILE", help: "run the statements in FILE", run: func(ctx context.Context, sh *shell, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("usage: .read FILE")
		}
		if sh.readDepth >= maxReadDepth {
			return errTooDeep{fmt.Sprintf(".read %s: nested %d deep; does a file read itself?", args[0], maxReadDepth)}
		}
		sh.readDepth++
		defer func() { sh.readDepth-- }()
		src, err := os.ReadFile(args[0])
		if err != nil {
			return fmt.Errorf(".read: %w", err)
		}
		failed := false
		for _, st := range scriptStatements(string(src)) {
			err := sh.exec(ctx, st)
			if err == nil {
				continue
			}
			var deep errTooDeep
			switch {
			case err == errQuit || errors.As(err, &deep) || ctx.Err() != nil:
				return err // not wrapped once per level
			case sh.bail:
				if errors.Is(err, errReported) {
					return err
				}
				return fmt.Errorf("%s:%d: %w", args[0], st.Line, err)
			}
			// .bail off: say what failed and go on.
			if !errors.Is(err, errReported) {
				where := fmt.Sprintf("%s:%d: ", args[0], st.Line)
				if sh.interactive {
					where = "Error: " + where
				}
				sh.printError(where, err)
			}
			failed = true
		}
		if failed {
			return errReported
		}
		return nil
	}})
	t.add(dotCommand{names: []string{".timer"}, args: "on|off", setting: true, help: "print the run time of each statement", run: func(ctx context.Context, sh *shell, args []string) error {
		v, err := onOff(".timer", args)
		if err == nil {
			sh.timer = v
		}
		return err
	}})
	return t
}

func formatNames() []string {
	var out []string
	for _, f := range output.Formats() {
		out = append(out, string(f))
	}
	return out
}

// help prints the dot commands and apsql's own statements.
func (sh *shell) help() {
	w := sh.out
	fmt.Fprintln(w, "Dot commands:")
	for _, c := range sh.dots.cmds {
		fmt.Fprintf(w, "  %-24s %s\n", strings.Join(c.names, "|")+" "+c.args, c.help)
	}
	fmt.Fprintln(w, "\napsql statements (end each with ;):")
	dryRuns := 0
	for _, c := range sh.sess.DB.Commands().All() {
		if len(c.Keywords) > 1 && c.Keywords[0] == "EXPLAIN" && c.Keywords[1] != "FIND" {
			dryRuns++ // listed once below
			continue
		}
		fmt.Fprintf(w, "  %s\n      %s\n", c.Syntax, c.Help)
	}
	if dryRuns > 0 {
		fmt.Fprintf(w, "  EXPLAIN <action>\n      dry run of any action above: the nodes or files and the requests it would send; nothing is sent\n")
	}
	fmt.Fprintln(w, "\nSELECT * FROM search('amazon filter') queries the service live, page by page, newest upload first.")
	fmt.Fprintln(w, "Everything else is DuckDB SQL, e.g. SELECT * FROM photos LIMIT 5;")
	fmt.Fprintln(w, "COPY (SELECT ...) TO 'out.parquet' (FORMAT parquet); exports results.")
}
