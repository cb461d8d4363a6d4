//go:build unix

package engine

import (
	"io"
	"os"
	"syscall"
)

// lockHolder returns the process that holds a lock on the database file
// at path, as DuckDB takes it (fcntl, the whole file), or 0 when none
// does. DuckDB refuses to open a file another process holds.
func lockHolder(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return 0, err
	}
	if lk.Type == syscall.F_UNLCK {
		return 0, nil
	}
	return int(lk.Pid), nil
}
