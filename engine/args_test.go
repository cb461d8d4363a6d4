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

func TestFindArgsLimit(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`'type:(PHOTOS)' LIMIT -1`, "LIMIT -1: a count of rows is 0 or more"},
		{`'type:(PHOTOS)' LIMIT x`, "LIMIT wants a count of rows"},
	} {
		if _, _, err := findArgs(c.in, true); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("findArgs(%s) = %v, want %q", c.in, err, c.want)
		}
	}
	if _, n, err := findArgs(`'type:(PHOTOS)' LIMIT 0`, true); err != nil || n != 0 {
		t.Errorf("LIMIT 0: %d, %v", n, err)
	}
}
