package engine

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		stmts []Stmt
		rest  string
	}{
		{"empty", "", nil, ""},
		{"blanks and comments only", "  -- hi\n/* there */\n", nil, ""},
		{"one", "SELECT 1;", []Stmt{{Text: "SELECT 1", Line: 1}}, ""},
		{"two on one line", "SELECT 1; SELECT 2;", []Stmt{{Text: "SELECT 1", Line: 1}, {Text: "SELECT 2", Line: 1}}, ""},
		{"multi-line", "SELECT\n  1\n;\nSELECT 2;", []Stmt{{Text: "SELECT\n  1", Line: 1}, {Text: "SELECT 2", Line: 4}}, ""},
		{"incomplete rest", "SELECT 1; SELECT", []Stmt{{Text: "SELECT 1", Line: 1}}, "SELECT"},
		{"semicolon in string", "SELECT 'a;b';", []Stmt{{Text: "SELECT 'a;b'", Line: 1}}, ""},
		{"doubled quote", "SELECT 'it''s;';", []Stmt{{Text: "SELECT 'it''s;'", Line: 1}}, ""},
		{"E string backslash", `SELECT E'a\';b';`, []Stmt{{Text: `SELECT E'a\';b'`, Line: 1}}, ""},
		{"backslash in plain string", `SELECT 'a\'; SELECT 2;`, []Stmt{{Text: `SELECT 'a\'`, Line: 1}, {Text: "SELECT 2", Line: 1}}, ""},
		{"identifier", `SELECT "a;b" FROM t;`, []Stmt{{Text: `SELECT "a;b" FROM t`, Line: 1}}, ""},
		{"line comment", "SELECT 1 -- no; end\n;", []Stmt{{Text: "SELECT 1 -- no; end", Line: 1}}, ""},
		{"block comment", "SELECT /* ; */ 1;", []Stmt{{Text: "SELECT /* ; */ 1", Line: 1}}, ""},
		{"nested block comment", "SELECT /* a /* ; */ ; */ 1;", []Stmt{{Text: "SELECT /* a /* ; */ ; */ 1", Line: 1}}, ""},
		{"dollar quote", "SELECT $$a;b$$;", []Stmt{{Text: "SELECT $$a;b$$", Line: 1}}, ""},
		{"tagged dollar quote", "SELECT $x$ $$; $x$;", []Stmt{{Text: "SELECT $x$ $$; $x$", Line: 1}}, ""},
		{"parameter is not a tag", "SELECT $1; SELECT 2;", []Stmt{{Text: "SELECT $1", Line: 1}, {Text: "SELECT 2", Line: 1}}, ""},
		{"unterminated string", "SELECT 'abc;", nil, "SELECT 'abc;"},
		{"unterminated comment", "SELECT /* ;", nil, "SELECT /* ;"},
		{"unterminated comment before a statement", "SELECT 1; /* a comment\nthat", []Stmt{{Text: "SELECT 1", Line: 1}}, "/* a comment\nthat"},
		{"comment over lines, then a statement", "/* a comment\nthat spans */ SELECT 42;", []Stmt{{Text: "SELECT 42", Line: 2}}, ""},
		{"dot command", ".mode csv\nSELECT 1;", []Stmt{{Text: ".mode csv", Line: 1, Dot: true}, {Text: "SELECT 1", Line: 2}}, ""},
		{"dot command at end without newline", ".tables", nil, ".tables"},
		{"dot not at statement start", "SELECT 1\n.5;", []Stmt{{Text: "SELECT 1\n.5", Line: 1}}, ""},
		{"empty statements", ";;SELECT 1;;", []Stmt{{Text: "SELECT 1", Line: 1}}, ""},
		{"line numbers after strings", "SELECT 'a\nb';\n\nSELECT 3;", []Stmt{{Text: "SELECT 'a\nb'", Line: 1}, {Text: "SELECT 3", Line: 4}}, ""},
		{"comment before statement", "-- c\nSELECT 1;", []Stmt{{Text: "SELECT 1", Line: 2}}, ""},
		{"trailing comment is no rest", "SELECT 1; -- done", []Stmt{{Text: "SELECT 1", Line: 1}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmts, rest := Split(tt.src)
			if !reflect.DeepEqual(stmts, tt.stmts) || rest != tt.rest {
				t.Errorf("Split(%q) = %#v, %q, want %#v, %q", tt.src, stmts, rest, tt.stmts, tt.rest)
			}
		})
	}
}

func TestKeywords(t *testing.T) {
	tests := []struct {
		stmt string
		n    int
		want []string
		rest string
	}{
		{"explain /* x */ find 'a'", 2, []string{"EXPLAIN", "FIND"}, "'a'"},
		{"-- c\nsync nodes filter 'x'", 3, []string{"SYNC", "NODES", "FILTER"}, "'x'"},
		{"SELECT(1)", 2, []string{"SELECT"}, ""},
		{"trash 'a','b'", 1, []string{"TRASH"}, "'a','b'"},
		{"", 1, nil, ""},
	}
	for _, tt := range tests {
		if got := Keywords(tt.stmt, tt.n); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Keywords(%q, %d) = %q, want %q", tt.stmt, tt.n, got, tt.want)
		}
		if tt.rest != "" {
			if got := AfterKeywords(tt.stmt, len(tt.want)); got != tt.rest {
				t.Errorf("AfterKeywords(%q, %d) = %q, want %q", tt.stmt, len(tt.want), got, tt.rest)
			}
		}
	}
}
