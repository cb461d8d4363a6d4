package filterlang

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/alecthomas/participle/v2/lexer"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/filterlang")

var testdata = filepath.Join("..", "testdata", "filterlang")

var dialectNames = map[string]Dialect{"search": Search, "nodes": Nodes, "local": Local}

type goldenCase struct {
	dialect string
	src     string
}

// readCases reads testdata/filterlang/cases.txt: "DIALECT: FILTER" lines.
func readCases(t testing.TB) []goldenCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		d, src, ok := strings.Cut(line, ":")
		if _, known := dialectNames[d]; !ok || !known {
			t.Fatalf("cases.txt: bad line %q: want DIALECT: FILTER", line)
		}
		cases = append(cases, goldenCase{d, strings.TrimPrefix(src, " ")})
	}
	return cases
}

// checkGolden compares got with testdata/filterlang/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./filterlang -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; run go test ./filterlang -update and review the diff\n%s",
			path, firstDiff(string(got), string(want)))
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return ""
}

// TestGolden runs every case of cases.txt through Parse, String and SQL (or
// the error and its caret) and compares the result with cases.golden.
func TestGolden(t *testing.T) {
	var out bytes.Buffer
	for _, c := range readCases(t) {
		fmt.Fprintf(&out, "### %s: %s\n", c.dialect, c.src)
		f, err := Parse(c.src, dialectNames[c.dialect])
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("Parse(%q) error %T %v, want *Error", c.src, err, err)
				continue
			}
			fmt.Fprintf(&out, "error: %v\n", err)
			for _, l := range strings.Split(e.Caret(c.src), "\n") {
				fmt.Fprintf(&out, "| %s\n", l)
			}
			out.WriteByte('\n')
			continue
		}
		where, args := f.SQL()
		fmt.Fprintf(&out, "canonical: %s\nsql: %s\nargs: %s\n\n", f, where, formatArgs(args))
		checkRoundTrip(t, c.src, f)
		checkGrammarAgrees(t, c.src)
	}
	checkGolden(t, "cases.golden", out.Bytes())
}

func formatArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok {
			parts[i] = fmt.Sprintf("%q", s)
		} else {
			parts[i] = fmt.Sprint(a)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// checkRoundTrip asserts parse(print(f)) == f, positions aside.
func checkRoundTrip(t testing.TB, src string, f *Filter) {
	t.Helper()
	printed := f.String()
	g, err := Parse(printed, f.Dialect())
	if err != nil {
		t.Fatalf("Parse(String(Parse(%q))) = Parse(%q): %v", src, printed, err)
	}
	if !reflect.DeepEqual(stripPositions(g.Root), stripPositions(f.Root)) {
		t.Fatalf("Parse(%q) gives another tree than Parse(%q)", printed, src)
	}
	if again := g.String(); again != printed {
		t.Fatalf("String is not stable: %q, then %q", printed, again)
	}
}

// checkGrammarAgrees asserts that the fast parser and the participle grammar
// accept the same filters and build the same trees, positions included.
func checkGrammarAgrees(t testing.TB, src string) {
	t.Helper()
	if err := grammarAgrees(src); err != nil {
		t.Fatal(err)
	}
}

// grammarAgrees compares the fast parser with the participle grammar on src.
func grammarAgrees(src string) error {
	toks, err := lex(src)
	if err != nil {
		return nil // neither parser sees the filter
	}
	fast := newFastParser(src, toks).parse()
	peek, err := lexer.Upgrade(&tokenLexer{toks: lexerTokens(src, toks)})
	if err != nil {
		return err
	}
	slow, err := grammar.ParseFromLexer(peek)
	switch {
	case fast == nil && err == nil:
		return fmt.Errorf("%q: the grammar accepts it, the fast parser does not", src)
	case fast != nil && err != nil:
		return fmt.Errorf("%q: the fast parser accepts it, the grammar does not: %v", src, err)
	case fast != nil && !reflect.DeepEqual(fast, slow):
		return fmt.Errorf("%q: the fast parser and the grammar build different trees", src)
	}
	return nil
}

// stripPositions returns a deep copy of v with every lexer.Position zeroed.
func stripPositions[T any](v *T) *T {
	c := reflect.New(reflect.TypeFor[T]())
	copyZeroPos(c.Elem(), reflect.ValueOf(v).Elem())
	return c.Interface().(*T)
}

func copyZeroPos(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.New(src.Type().Elem()))
		copyZeroPos(dst.Elem(), src.Elem())
	case reflect.Slice:
		dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
		for i := range src.Len() {
			copyZeroPos(dst.Index(i), src.Index(i))
		}
	case reflect.Struct:
		if src.Type() == reflect.TypeFor[lexer.Position]() {
			return
		}
		for i := range src.NumField() {
			if dst.Field(i).CanSet() {
				copyZeroPos(dst.Field(i), src.Field(i))
			}
		}
	default:
		dst.Set(src)
	}
}

// TestGrammar keeps the EBNF that participle derives from the AST in a
// golden file, so that a grammar change shows as a diff.
func TestGrammar(t *testing.T) {
	checkGolden(t, "grammar.ebnf", []byte(Grammar()+"\n"))
}
