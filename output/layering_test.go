package output

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDomainPackagesDoNotRender keeps rendering for people here
// (docs/ARCHITECTURE.md): the packages below the program pass counts and
// sizes as numbers (engine.Session.Say with model.Count, model.Size), and
// none of them imports output.
func TestDomainPackagesDoNotRender(t *testing.T) {
	const self = "github.com/apsql/apsql/output"
	pkgs := []string{"../actions", "../mirror", "../backup", "../engine", "../fetch", "../serve", "../signin", "../dupes", "../vision"}
	args := append([]string{"list", "-tags", "duckdb_arrow", "-f", "{{.ImportPath}} {{join .Imports \" \"}}"}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if imp == self {
				t.Errorf("%s imports output: pass numbers to Session.Say (model.Count, model.Size) instead", f[0])
			}
		}
	}
}
