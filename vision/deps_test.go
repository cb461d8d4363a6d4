package vision

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDuckDBOrHTTP keeps the package at its place in the architecture:
// it classifies images and knows nothing of the database or the service.
func TestNoDuckDBOrHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "duckdb") || dep == "net/http" {
			t.Errorf("vision depends on %s", dep)
		}
	}
}
