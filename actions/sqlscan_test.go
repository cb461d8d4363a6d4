package actions

import (
	"strings"
	"testing"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/filterlang"
)

// TestScannersAgree runs the same tricky pieces of SQL through every place
// that reads SQL text: the script splitter, the registry's keyword lookup,
// the arguments of apsql's own statements, filter inlining and action
// targets. Each piece holds a semicolon, the word TO, a parenthesis, a ?
// and quote or comment characters that mean nothing inside it; every
// reader must take it as one string, identifier or comment (issue 18
// item 4: before, only the splitter knew $$, E'...' and nested comments).
func TestScannersAgree(t *testing.T) {
	tests := []struct {
		name   string
		piece  string
		trivia bool   // a comment: no token at all
		value  string // the string's value, for string pieces
	}{
		{"plain string", `'it''s; TO ( ? */ --'`, false, `it's; TO ( ? */ --`},
		{"E string", `E'it\'s; TO ( ? */'`, false, `it's; TO ( ? */`},
		{"dollar string", `$$a'; TO ( ? */ --$$`, false, `a'; TO ( ? */ --`},
		{"tagged dollar string", `$t$ $$; TO ( ? ' $t$`, false, ` $$; TO ( ? ' `},
		{"quoted identifier", `"col; TO ( ? '"`, false, ""},
		{"nested block comment", `/* a /* ; TO ( ? ' */ still; TO ( ' */`, true, ""},
		{"line comment", "-- ; TO ( ? ' /*\n", true, ""},
	}
	reg := engine.NewRegistry()
	reg.Register(engine.Command{Keywords: []string{"DOWNLOAD"}})
	reg.Register(engine.Command{Keywords: []string{"EXPLAIN", "DOWNLOAD"}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.piece
			// The splitter: the piece's semicolon ends nothing.
			stmt := "DOWNLOAD WHERE name = " + p + " TO 'dir' (NAMING '{id}')"
			stmts, rest := engine.Split(stmt + ";\nSELECT 1;")
			if len(stmts) != 2 || stmts[0].Text != stmt || rest != "" {
				t.Errorf("split: %+v, rest %q; want the statement whole, then SELECT 1", stmts, rest)
			}
			// Keyword detection and the registry's lookup: a comment
			// between keywords is skipped, anything else ends them.
			kw := engine.Keywords("EXPLAIN "+p+" DOWNLOAD 'x'", 2)
			c, ok := reg.Lookup("EXPLAIN " + p + " DOWNLOAD 'x'")
			after := engine.AfterKeywords("EXPLAIN "+p+" DOWNLOAD 'x'", 2)
			if tt.trivia {
				if len(kw) != 2 || !ok || len(c.Keywords) != 2 || after != "'x'" {
					t.Errorf("keywords: %q, lookup %q, after %q; want EXPLAIN DOWNLOAD, 'x'", kw, c.Keywords, after)
				}
			} else if len(kw) != 1 || ok || !strings.HasPrefix(after, p) {
				t.Errorf("keywords: %q, lookup %v %q, after %q; want EXPLAIN alone", kw, ok, c.Keywords, after)
			}
			// Arguments: a comment is skipped, a string is one value.
			in := p + " , 'y'"
			if tt.trivia {
				in = p + " 'x' , 'y'"
			}
			a := engine.NewArgs(in)
			got, err := a.String()
			switch {
			case tt.trivia:
				if err != nil || got != "x" || !a.Punct(',') {
					t.Errorf("args: %q, %v; want x, then ','", got, err)
				}
			case tt.value != "":
				if err != nil || got != tt.value || !a.Punct(',') {
					t.Errorf("args: %q, %v; want %q, then ','", got, err, tt.value)
				}
			default:
				if err == nil {
					t.Errorf("args: a quoted identifier read as the string %q", got)
				}
			}
			// Filter inlining: the piece's ? is no parameter.
			if got, want := filterlang.Inline("a = "+p+" AND b = ?", []any{"v"}), "a = "+p+" AND b = 'v'"; got != want {
				t.Errorf("inline: %q, want %q", got, want)
			}
			// Action targets: the piece's TO and ( do not end the WHERE
			// predicate.
			st, err := parseStatement("WHERE name = "+p+" TO 'dir' (NAMING '{id}')", true, []string{"NAMING"})
			if err != nil || st.target.sql != strings.TrimSpace("name = "+p) || st.to != "dir" || st.opts["NAMING"] != "{id}" {
				t.Errorf("target: %q to %q opts %v, %v; want the predicate whole, TO 'dir', NAMING", st.target.sql, st.to, st.opts, err)
			}
			// An id list: strings of every kind are ids, comments are skipped.
			if !tt.trivia && tt.value == "" {
				return
			}
			st, err = parseStatement("'id1', "+p+" 'id2'", false, nil)
			want := []string{"id1", "id2"}
			if !tt.trivia {
				st, err = parseStatement("'id1', "+p, false, nil)
				want = []string{"id1", strings.TrimSpace(tt.value)}
			}
			if err != nil || strings.Join(st.target.ids, "|") != strings.Join(want, "|") {
				t.Errorf("id list: %q, %v; want %q", st.target.ids, err, want)
			}
		})
	}
}
