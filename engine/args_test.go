package engine

import (
	"reflect"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	a := NewArgs(`'it''s a filter' LIMIT 10 (NAMING '{id}', OVERWRITE, CONCURRENCY 4)`)
	s, err := a.String()
	if err != nil || s != "it's a filter" {
		t.Fatalf("String() = %q, %v", s, err)
	}
	if !a.Keyword("limit") {
		t.Fatal("Keyword(limit) = false")
	}
	if n, err := a.Int(); err != nil || n != 10 {
		t.Fatalf("Int() = %d, %v", n, err)
	}
	opts, err := a.Options("NAMING", "OVERWRITE", "CONCURRENCY")
	want := map[string]string{"NAMING": "{id}", "OVERWRITE": "true", "CONCURRENCY": "4"}
	if err != nil || !reflect.DeepEqual(opts, want) {
		t.Fatalf("Options() = %v, %v, want %v", opts, err, want)
	}
	if !a.Done() {
		t.Errorf("Done() = false, rest %q", a.Rest())
	}
}

func TestArgsErrors(t *testing.T) {
	tests := []struct {
		name, src string
		f         func(a *Args) error
		want      string
	}{
		{"string missing", "LIMIT 3", func(a *Args) error { _, err := a.String(); return err }, `expected a quoted string like 'text', found "LIMIT 3"`},
		{"unterminated", "'abc", func(a *Args) error { _, err := a.String(); return err }, "unterminated string"},
		{"int", "ten", func(a *Args) error { _, err := a.Int(); return err }, `expected a whole number, found "ten"`},
		{"end", "", func(a *Args) error { _, err := a.Int(); return err }, "found the end of the statement"},
		{"unknown option", "(FOO 1)", func(a *Args) error { _, err := a.Options("BAR"); return err }, "unknown option FOO; known options: BAR"},
		{"missing comma", "(BAR 1 BAZ 2)", func(a *Args) error { _, err := a.Options("BAR", "BAZ"); return err }, "expected ',' or ')'"},
	}
	for _, tt := range tests {
		err := tt.f(NewArgs(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}
