package filterlang

import (
	"errors"
	"strings"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	_, err := Parse("type:(PHOTOS) AND timeYear:(2023 ANDD)", Search)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse error %T %v, want *Error", err, err)
	}
	if got, want := err.Error(), `filter 1:34: unexpected "ANDD", expected AND, OR or ) (did you mean AND?)`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if e.Offset != 33 {
		t.Errorf("Offset = %d, want 33", e.Offset)
	}
}

func TestCaret(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"first column", "nmae:x", "nmae:x\n^"},
		{"middle", "type:(PHOTOS) AND timeYear:(2023 ANDD)", "type:(PHOTOS) AND timeYear:(2023 ANDD)\n                                 ^"},
		{"second line", "type:(PHOTOS)\n  AND nmae:x", "  AND nmae:x\n      ^"},
		{"tabs kept", "type:PHOTOS\tAND\tnmae:x", "type:PHOTOS\tAND\tnmae:x\n           \t   \t^"},
		{"end of filter", "type:PHOTOS AND", "type:PHOTOS AND\n               ^"},
		{"runes, not bytes", `name:"é" AND nmae:x`, "name:\"é\" AND nmae:x\n             ^"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.src, Local)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %v, want *Error", tt.src, err)
			}
			if got := e.Caret(tt.src); got != tt.want {
				t.Errorf("Caret(%q) =\n%s\nwant\n%s", tt.src, got, tt.want)
			}
		})
	}
}

// TestPrecedence pins Lucene's precedence: NOT over AND over OR.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		src  string
		tree string
	}{
		{"AND over OR in a group", "things:(plant AND beach OR moon)", "things:\n  OR\n    AND\n      plant\n      beach\n    moon"},
		{"OR after AND in a group", "things:(plant OR beach AND moon)", "things:\n  OR\n    plant\n    AND\n      beach\n      moon"},
		{"AND over OR between terms", "things:a OR things:b AND type:PHOTOS", "OR\n  things: a\n  AND\n    things: b\n    type: PHOTOS"},
		{"NOT over AND", "NOT things:a AND things:b", "AND\n  NOT\n    things: a\n  things: b"},
		{"parentheses", "NOT (things:a OR things:b)", "NOT\n  OR\n    things: a\n    things: b"},
		{"single group collapses", "type:(PHOTOS)", "type: PHOTOS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.src, Search)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Tree(); got != tt.tree {
				t.Errorf("Tree(%q) =\n%s\nwant\n%s", tt.src, got, tt.tree)
			}
		})
	}
}

func TestInline(t *testing.T) {
	tests := []struct {
		name  string
		where string
		args  []any
		want  string
	}{
		{"quote doubled", `"name" = ?`, []any{"it's"}, `"name" = 'it''s'`},
		{"injection stays a literal", `"name" = ?`, []any{"'); DROP TABLE nodes; --"}, `"name" = '''); DROP TABLE nodes; --'`},
		{"numbers and booleans", `"size" = ? AND coalesce("hidden", false) = ?`, []any{int64(-5), true}, `"size" = -5 AND coalesce("hidden", false) = true`},
		{"? inside quotes is not a parameter", `"a?" = '?' AND "b" = ?`, []any{"x"}, `"a?" = '?' AND "b" = 'x'`},
		{"backslash is plain", `x LIKE ? ESCAPE '\'`, []any{`a\%%`}, `x LIKE 'a\%%' ESCAPE '\'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Inline(tt.where, tt.args); got != tt.want {
				t.Errorf("Inline(%q, %v) = %q, want %q", tt.where, tt.args, got, tt.want)
			}
		})
	}
}

func TestLikePrefix(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc%", "100%": `100\%%`, "a_b": `a\_b%`, `a\b`: `a\\b%`} {
		if got := likePrefix(in); got != want {
			t.Errorf("likePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLex(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // type:text pairs
	}{
		{"term", "kind:FILE", "Field:kind Punct:: Word:FILE"},
		{"dotted field", "contentProperties.size:[1 TO *]", "Field:contentProperties.size Punct:: Punct:[ Word:1 Keyword:TO Punct:* Punct:]"},
		{"prefix star", "name:sample*", "Field:name Punct:: Word:sample Star:*"},
		{"free star", "name:sample *", "Field:name Punct:: Word:sample Punct:*"},
		{"date with colons", "createdDate:2014-12-31T23:59:59.000Z", "Field:createdDate Punct:: Word:2014-12-31T23:59:59.000Z"},
		{"ids and locations", "parents:HeMReF-vvJiTTkdPIeWuoP location:CAN#BC#Vancouver", "Field:parents Punct:: Word:HeMReF-vvJiTTkdPIeWuoP Field:location Punct:: Word:CAN#BC#Vancouver"},
		{"escapes", `name:my\ photo\:1 name:\AND`, `Field:name Punct:: Word:my\ photo\:1 Field:name Punct:: Word:\AND`},
		{"lower-case and is a word", "a:b and c", "Field:a Punct:: Word:b Word:and Word:c"},
		{"keyword prefix", "name:AND*", "Field:name Punct:: Word:AND Star:*"},
		{"quoted", `name:"a \"b\" c"`, `Field:name Punct:: String:"a \"b\" c"`},
	}
	names := map[int]string{}
	for name, typ := range (definition{}).Symbols() {
		names[int(typ)] = name
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, err := lex(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tok := range toks[:len(toks)-1] {
				got = append(got, names[int(tok.typ)]+":"+tt.src[tok.off:tok.end])
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("lex(%q) = %s, want %s", tt.src, g, tt.want)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`abc`: "abc", `my\ photo`: "my photo", `"a \"b\""`: `a "b"`, `"x\\y"`: `x\y`, `\é`: "é", `""`: ""} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		d    Dialect
		want string
	}{
		{"typo", "nmae", Nodes, "name"},
		{"case", "TimeYear", Search, "timeYear"},
		{"last segment", "contentType", Local, "contentProperties.contentType"},
		{"alias", "parentIds", Nodes, "parents"},
		{"alias of the other dialect", "year", Nodes, ""},
		{"nothing close", "zzz", Search, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggest(tt.in, tt.d); got != tt.want {
				t.Errorf("suggest(%q, %v) = %q, want %q", tt.in, tt.d, got, tt.want)
			}
		})
	}
}
