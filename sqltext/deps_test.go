package sqltext

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeavesStayLight keeps the pure leaves light (docs/ARCHITECTURE.md):
// the tokenizer, the perceptual hashes and the name templates depend on no
// DuckDB, HTTP, Arrow, ONNX Runtime or cgo.
func TestLeavesStayLight(t *testing.T) {
	forbidden := []string{"github.com/duckdb/", "net/http", "github.com/yalue/onnxruntime_go", "github.com/apache/arrow-go", "runtime/cgo"}
	for _, pkg := range []string{".", "../dupes", "../naming"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s; it must stay free of DuckDB, HTTP, Arrow, ONNX and cgo", pkg, dep)
				}
			}
		}
	}
}
