package filterlang

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package light (../shared/STYLE.md): no DuckDB,
// no HTTP, no ONNX Runtime, no cgo, whatever its tests import.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{"github.com/duckdb/", "net/http", "github.com/yalue/onnxruntime_go", "github.com/apache/arrow-go", "runtime/cgo"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("filterlang depends on %s; it must stay free of DuckDB, HTTP, ONNX and cgo", dep)
			}
		}
	}
}
