package filetypes

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestReferenceTable checks every row of the reference README's "Known File
// Types" table against Category.
func TestReferenceTable(t *testing.T) {
	f, err := os.Open("../../shared/reference/amazon-photos-README.md")
	if err != nil {
		t.Skipf("reference README not beside the checkout: %v", err)
	}
	defer f.Close()
	row := regexp.MustCompile(`^\|\s*\\\.(\w+)\s*\|\s*(\w+)\s*\|$`)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		n++
		if got := Category(m[1]); got != m[2] {
			t.Errorf("Category(%q) = %q, want %q", m[1], got, m[2])
		}
	}
	if n != 83 {
		t.Errorf("read %d rows of the reference table, want 83", n)
	}
}

func TestCategory(t *testing.T) {
	tests := []struct{ ext, want string }{
		{"jpg", "img"}, {"JPG", "img"}, {".jpg", "img"}, {".JPEG", "img"},
		{"mov", "vid"}, {".MOV", "vid"}, {"heic", "img"}, {"qt", "vid"},
		{"7z", "zip"}, {"docx", "doc"}, {"", ""}, {".", ""}, {"unknown", ""}, {"..jpg", ""},
	}
	for _, tt := range tests {
		if got := Category(tt.ext); got != tt.want {
			t.Errorf("Category(%q) = %q, want %q", tt.ext, got, tt.want)
		}
	}
}

func TestNoDuplicates(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Known {
		if seen[k.Ext] {
			t.Errorf("extension %q listed twice", k.Ext)
		}
		if k.Ext != strings.ToLower(k.Ext) || strings.HasPrefix(k.Ext, ".") {
			t.Errorf("extension %q must be lower case without a dot", k.Ext)
		}
		seen[k.Ext] = true
	}
	if got := Categories(); len(got) != 11 {
		t.Errorf("Categories() = %v, want 11 categories", got)
	}
}

// TestDependencies keeps the package free of heavy imports.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "duckdb") || dep == "net/http" || strings.Contains(dep, "onnx") {
			t.Errorf("filetypes depends on %s", dep)
		}
	}
}
