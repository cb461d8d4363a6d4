package main

import (
	"slices"
	"testing"

	"github.com/apsql/apsql/engine"
)

// TestCompleter checks tab completion of keywords, dot commands, apsql's
// statements, tables and columns.
func TestCompleter(t *testing.T) {
	db, err := engine.Open(t.Context(), engine.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sh := &shell{sess: engine.NewSession(db), dots: newDotTable()}
	c := &completer{sh: sh}
	tests := []struct {
		line string
		want string // one of the completions (the rest of the word)
	}{
		{"SEL", "ECT"},
		{"sel", "ect"},
		{".ta", "bles"},
		{".sch", "ema"},
		{"SELECT * FROM pho", "tos"},
		{"SELECT cont", "entDate"},
		{"SELECT cont", "entType"},
		{"FI", "ND"},
		{"SELECT * FROM nodes WHERE exte", "nsion"},
		{"ADD TO FAMILY VA", "ULT"},
		{"rename per", "son"},
		{"SET COVER OF PERS", "ON"},
		{"MERGE PEO", "PLE"},
	}
	for _, tt := range tests {
		got, n := c.Do([]rune(tt.line), len([]rune(tt.line)))
		var words []string
		for _, g := range got {
			words = append(words, string(g))
		}
		if !slices.Contains(words, tt.want) {
			t.Errorf("complete %q = %q (replacing %d), want it to offer %q", tt.line, words, n, tt.want)
		}
	}
	if got, _ := c.Do([]rune("SELECT "), 7); len(got) != 0 {
		t.Errorf("complete after a space = %d candidates, want none", len(got))
	}
}
