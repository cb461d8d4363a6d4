package vision

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImageNet1k(t *testing.T) {
	c := ImageNet1k()
	if len(c) != 1000 {
		t.Fatalf("ImageNet1k has %d classes, want 1000", len(c))
	}
	if c[0] != (Class{0, "n01440764", "tench"}) || c[999].Index != 999 || c[999].Synset == "" {
		t.Errorf("ImageNet1k()[0] = %+v, [999] = %+v", c[0], c[999])
	}
}

func TestParseLabels(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Class
		err  string
	}{
		{"plain names", "cat\ndog\n\n", []Class{{0, "", "cat"}, {1, "", "dog"}}, ""},
		{"tsv any order, CRLF", "index\tsynset\tname\r\n1\tn2\tdog\r\n0\tn1\tcat\r\n", []Class{{0, "n1", "cat"}, {1, "n2", "dog"}}, ""},
		{"bom", "\ufeffcat\n", []Class{{0, "", "cat"}}, ""},
		{"empty", "\n\n", nil, "the file is empty"},
		{"blank name in the middle", "cat\n\ndog\n", nil, ":2: empty class name"},
		{"tsv short row", "index\tsynset\tname\n0\tn1\n", nil, "want 3 tab-separated fields"},
		{"tsv index out of range", "index\tsynset\tname\n5\tn1\tcat\n", nil, "index \"5\" is not between 0 and 0"},
		{"tsv duplicate", "index\tsynset\tname\n0\tn1\tcat\n0\tn2\tdog\n", nil, "index 0 appears twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLabels([]byte(tc.in), "x")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseLabels(%q) error = %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("parseLabels(%q) = %v, want %v", tc.in, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("parseLabels(%q)[%d] = %+v, want %+v", tc.in, i, got[i], tc.want[i])
				}
			}
		})
	}
	if _, err := LoadLabels(filepath.Join(t.TempDir(), "none.txt")); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadLabels(missing) = %v, want a not-exist error", err)
	}
}

func TestInitRuntimeTwice(t *testing.T) {
	needRuntime(t)
	if err := InitRuntime(""); err != nil {
		t.Errorf("InitRuntime again = %v, want nil", err)
	}
	if err := InitRuntime(RuntimePath()); err != nil {
		t.Errorf("InitRuntime(same library) = %v, want nil", err)
	}
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	os.WriteFile(other, []byte("not a library"), 0o644)
	if err := InitRuntime(other); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("InitRuntime(other library) = %v, want an already-loaded error", err)
	}
}
