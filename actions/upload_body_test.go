package actions

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckedFile: the body of an upload delivers the file as it was
// hashed, and fails before its last bytes when the file changed since.
func TestCheckedFile(t *testing.T) {
	hashed := "0123456789abcdef"
	sum := md5.Sum([]byte(hashed))
	cases := []struct {
		name, now string
		wantErr   bool
	}{
		{"unchanged", hashed, false},
		{"same size, other bytes", "0123456789abcdeX", true},
		{"shrank", "0123456789", true},
		{"grew", hashed + "more", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			writeFile(t, p, c.now)
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			var failed error
			cf := &checkedFile{f: f, h: md5.New(), size: int64(len(hashed)), want: hex.EncodeToString(sum[:]), failed: &failed}
			defer cf.Close()
			got, err := io.ReadAll(io.LimitReader(cf, 1<<20))
			if c.wantErr {
				if !errors.Is(err, errChanged) || failed == nil {
					t.Fatalf("err = %v, want errChanged", err)
				}
				if len(got) >= len(hashed) {
					t.Errorf("delivered all %d bytes of a changed file", len(got))
				}
				return
			}
			if err != nil || string(got) != hashed {
				t.Errorf("read %q, %v; want the file", got, err)
			}
		})
	}
}
