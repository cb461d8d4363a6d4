package actions

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/apsql/apsql/engine"
)

// checkedOpener opens f's content for each attempt of a request, as a
// checkedFile: *changed is set when the content is no longer the one
// hashed, and tr counts the bytes sent.
func checkedOpener(f *upFile, changed *error, tr engine.Tracker) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		fh, err := os.Open(f.abs)
		if err != nil {
			return nil, err
		}
		return &checkedFile{f: fh, h: md5.New(), size: f.size, want: f.md5, failed: changed, tr: tr}, nil
	}
}

// errChanged marks a file that changed between hashing and sending.
var errChanged = errors.New("the file changed while it was being uploaded")

// checkedFile is an upload body: the file's bytes, hashed as they go, with
// the last bytes held back until the md5 matches the one computed before.
// A file that changed in between fails the read, so the service never
// receives a complete body with other content than the md5 recorded.
type checkedFile struct {
	f       *os.File
	h       hash.Hash
	n, size int64
	want    string
	failed  *error // shared with the uploader: set when the content changed
	tr      engine.Tracker
}

func (c *checkedFile) fail(format string, args ...any) error {
	err := fmt.Errorf("%w: %s", errChanged, fmt.Sprintf(format, args...))
	*c.failed = err
	return err
}

func (c *checkedFile) Read(p []byte) (int, error) {
	if c.n >= c.size {
		return 0, io.EOF
	}
	if rem := c.size - c.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	k, err := c.f.Read(p)
	c.h.Write(p[:k])
	c.n += int64(k)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if errors.Is(err, io.EOF) && c.n < c.size || k == 0 && c.n < c.size {
		return 0, c.fail("it shrank to %d bytes (it had %d when hashed)", c.n, c.size)
	}
	if c.n == c.size {
		if sum := hex.EncodeToString(c.h.Sum(nil)); sum != c.want {
			return 0, c.fail("md5 %s now, %s when hashed", sum, c.want)
		}
		var one [1]byte
		if m, _ := c.f.Read(one[:]); m > 0 {
			return 0, c.fail("it grew past the %d bytes it had when hashed", c.size)
		}
	}
	if c.tr != nil {
		c.tr.Add(int64(k))
	}
	return k, nil
}

func (c *checkedFile) Close() error { return c.f.Close() }
