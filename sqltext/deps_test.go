package sqltext

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeavesStayLight keeps the pure leaves light (docs/ARCHITECTURE.md):
// the tokenizer, the perceptual hashes and the name templates depend on no
// DuckDB, HTTP, Arrow or ONNX Runtime, and only the hashes on cgo (they
// link libjpeg-turbo for the thumbnails' luminance).
func TestLeavesStayLight(t *testing.T) {
	heavy := []string{"github.com/duckdb/", "net/http", "github.com/yalue/onnxruntime_go", "github.com/apache/arrow-go"}
	for _, leaf := range []struct {
		pkg string
		cgo bool
	}{{".", false}, {"../dupes", true}, {"../naming", false}} {
		forbidden := heavy
		if !leaf.cgo {
			forbidden = append(forbidden[:len(forbidden):len(forbidden)], "runtime/cgo")
		}
		out, err := exec.Command("go", "list", "-deps", leaf.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", leaf.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s; it must stay free of DuckDB, HTTP, Arrow and ONNX (and of cgo, but for dupes)", leaf.pkg, dep)
				}
			}
		}
	}
}
