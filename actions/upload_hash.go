package actions

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/model"
)

// hashAll hashes files on every core and returns the summary's note,
// "hashed 1.0 GB at 1.2 GB/s" ("" when there was nothing to time). An
// interrupted hash is an error: nothing was sent.
func hashAll(ctx context.Context, files []*upFile, s *engine.Session) (string, error) {
	start := time.Now()
	hashed := totalSize(files)
	hashFiles(ctx, files, runtime.GOMAXPROCS(0), s.Progress.Start("hash", hashed, "bytes"))
	secs := time.Since(start).Seconds()
	if ctx.Err() != nil {
		return "", errors.New("upload: interrupted while hashing the local files; nothing was sent")
	}
	if secs <= 0 || hashed <= 0 {
		return "", nil
	}
	return s.Say("hashed %v at %v/s", model.Size(hashed), model.Size(float64(hashed)/secs)), nil
}

// hashFiles computes the md5 of every file on workers goroutines.
func hashFiles(ctx context.Context, files []*upFile, workers int, tr engine.Tracker) {
	defer tr.Done()
	var wg sync.WaitGroup
	next := make(chan *upFile)
	for range max(1, min(workers, len(files))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bp := copyBufs.Get().(*[]byte)
			defer copyBufs.Put(bp)
			for f := range next {
				tr.Add(f.hash(*bp))
			}
		}()
	}
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		next <- f
	}
	close(next)
	wg.Wait()
}

// hash sets f's md5, or f.err when the file cannot be read or its size
// changed since it was listed; it returns how many bytes it read.
func (f *upFile) hash(buf []byte) int64 {
	sum, n, err := md5Sized(f.abs, buf)
	switch {
	case err != nil:
		f.err = fmt.Errorf("read: %w", err)
	case n != f.size:
		f.err = fmt.Errorf("the file changed while it was being read (%d bytes, then %d): not uploaded; run the statement again once it is stable", f.size, n)
	default:
		f.md5 = sum
	}
	return n
}

// md5Sized returns the hex md5 of a file and how many bytes it read.
func md5Sized(p string, buf []byte) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := md5.New()
	n, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func totalSize(files []*upFile) int64 {
	var n int64
	for _, f := range files {
		n += f.size
	}
	return n
}
