package sqltext

import (
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		src  string
		want string // kinds and texts, one per token
	}{
		{"SELECT 1;", "word:SELECT space number:1 punctuation:;"},
		{`E'a\'b' e'x'`, `string:E'a\'b' space string:e'x'`},
		{`xe'a\'`, `word:xe string:'a\'`},
		{"$$a;b$$ $t$ $$ $t$ $1 ?", "dollar string:$$a;b$$ space dollar string:$t$ $$ $t$ space parameter:$1 space parameter:?"},
		{"/* a /* b */ c */x", "block comment:/* a /* b */ c */ word:x"},
		{`"a""b" -- c` + "\n", `quoted identifier:"a""b" space line comment:-- c space`},
		{"1.5e-3 .5 a$$b", "number:1.5e-3 space number:.5 space word:a punctuation:$ punctuation:$ word:b"},
	}
	for _, tt := range tests {
		var got []string
		for _, tok := range Tokenize(tt.src) {
			if tok.Kind == Space {
				got = append(got, "space")
				continue
			}
			got = append(got, tok.Kind.String()+":"+tok.Text)
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("Tokenize(%q) =\n  %s\nwant\n  %s", tt.src, g, tt.want)
		}
	}
}

func TestUnquote(t *testing.T) {
	for src, want := range map[string]string{
		`'it''s'`:       "it's",
		`E'a\nb\'c''d'`: "a\nb'c'd",
		`$x$a'b$$c$x$`:  "a'b$$c",
		`"a""b"`:        `a"b`,
		`'back\slash'`:  `back\slash`,
		`e'\\'`:         `\`,
		`$$$$`:          "",
	} {
		toks := Tokenize(src)
		if len(toks) != 1 {
			t.Fatalf("Tokenize(%q) = %d tokens", src, len(toks))
		}
		if got, ok := Unquote(toks[0]); !ok || got != want {
			t.Errorf("Unquote(%s) = %q, %v; want %q", src, got, ok, want)
		}
	}
}

// FuzzTokenize: the tokenizer never panics, its tokens concatenate back to
// the input with consistent positions and lines, only the last token may
// be unterminated, and Split and the statement helpers never panic.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{
		"SELECT 1;", `E'a\';b'`, "$$a;b$$", "$x$ $$; $x$", "/* a /* ; */ ; */", `"a;""b"`,
		"-- c\nTRASH 'a', 'b'", ".mode csv\nSELECT 1", "'unterminated", "/* open", "$t$ open", `E'\`,
		"WHERE name = 'TO' TO 'dir' (NAMING '{id}')", "$1 ? 1e5 .5", "e'", "\xff'x'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		toks := Tokenize(src)
		var b strings.Builder
		line := 1
		for i, tok := range toks {
			if tok.Pos != b.Len() || tok.Line != line || tok.Text == "" {
				t.Fatalf("token %d %+v at %d line %d", i, tok, b.Len(), line)
			}
			if tok.Unterminated && i != len(toks)-1 {
				t.Fatalf("unterminated token %d is not the last", i)
			}
			b.WriteString(tok.Text)
			line += strings.Count(tok.Text, "\n")
			Unquote(tok)
		}
		if b.String() != src {
			t.Fatalf("tokens concatenate to %q, want %q", b.String(), src)
		}
		stmts, rest := Split(src)
		for _, s := range stmts {
			if !strings.Contains(src, s.Text) {
				t.Fatalf("statement %q is not in the input", s.Text)
			}
		}
		if !strings.HasSuffix(src, rest) {
			t.Fatalf("rest %q is not the input's end", rest)
		}
		st := Parse(src)
		st.Keywords(4)
		st.After(2)
		FindWord(st.Tokens, "TO")
		for i, tok := range st.Tokens {
			if tok.IsPunct('(') {
				MatchParen(st.Tokens, i)
				break
			}
		}
	})
}
