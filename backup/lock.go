package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lock holds the folder's lock file for one BACKUP: an flock, so that the
// kernel lets go of it when the process dies (kill -9 leaves no stale
// lock).
type lock struct{ f *os.File }

// takeLock locks dir against a second BACKUP.
func takeLock(dir string) (*lock, error) {
	p := filepath.Join(dir, metaDir, lockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create the lock file %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(p); rerr == nil && len(b) > 0 {
			holder = " (process " + strings.TrimSpace(string(b)) + ")"
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w%s: wait for it to finish, or stop it, then run BACKUP again", ErrLocked, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &lock{f: f}, nil
}

func (l *lock) release() {
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
}

// enclosingBackup returns the backup folder that holds dir (dir itself
// excluded), or "".
func enclosingBackup(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(filepath.Join(p, metaDir, manifestName)); err == nil && fi.Mode().IsRegular() {
			return p
		}
		if filepath.Dir(p) == p {
			return ""
		}
	}
}
