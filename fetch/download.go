package fetch

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// A file's content, fetched into a local file: the one resume loop under
// DOWNLOAD and BACKUP. The bytes go to ".NAME.part" beside the file,
// through the md5 as they are written; a connection cut mid-body resumes
// with a Range request (every resume of one file shares the request's
// no-progress budget, see progress.go); the whole is checked against the
// node's size and md5, synced, and renamed into place. A part file that a
// later run could not resume from is never left behind.

// maxStalls is how many resumes in a row may bring no byte before a
// download gives up (a resume that makes progress resets the count).
const maxStalls = 5

var (
	// ErrBadContent is the cause of a download whose bytes are not the
	// node's: another size, or another md5. The part file was removed.
	ErrBadContent = errors.New("the content is not the node's")
	// ErrDownloadInterrupted is the cause of a download stopped by its
	// context. Its message says whether the part file was kept for the
	// next run.
	ErrDownloadInterrupted = errors.New("interrupted")
)

// DiskFull reports whether err is a full disk or an exhausted quota: no
// other file can be written either.
func DiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// PartFile is what a download writes to: an *os.File, or a test's
// wrapper of one (Download.Wrap).
type PartFile interface {
	io.ReadWriteSeeker
	io.Closer
	Truncate(size int64) error
	Sync() error
}

// Download is one node's content to fetch into a file (DownloadFile).
type Download struct {
	ID string
	// OwnerID is the node's ownerId; "" for the account's (OwnerID).
	OwnerID string
	// Size is the node's size; 0 when it is not known.
	Size int64
	// MD5 is the node's md5 (hex); "" when it has none: then nothing is
	// verified, and a part file kept by an earlier run is not trusted.
	MD5 string
	// Progress, when set, is told of the bytes as they are written.
	Progress func(n int64)
	// Wrap, when set, wraps the part file once it is opened (tests make
	// it fail as a full disk does).
	Wrap func(*os.File) PartFile
}

// Downloaded is what DownloadFile did, also when it failed.
type Downloaded struct {
	Size     int64  // the file's bytes (a resumed part file's included)
	MD5      string // the file's md5 (hex); "" unless it succeeded
	Resumes  int    // Range resumes after a cut
	Requests int    // contentRedirection requests sent
}

// FileError is a download that failed on the local disk, not on the
// network: opening, writing, syncing or renaming its file. It wraps the
// file system's error (errors.Is(err, syscall.ENOSPC), see DiskFull).
type FileError struct {
	Op  string // "write .a.jpg.part"; "" when Err says it all
	Err error
}

func (e *FileError) Error() string {
	if e.Op == "" {
		return e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error()
}

func (e *FileError) Unwrap() error { return e.Err }

// PartName is where the file name is downloaded before it is verified:
// ".NAME.part" beside it (callers name no file with a leading dot, so it
// is never another node's file).
func PartName(name string) string {
	return filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".part")
}

// DownloadFile fetches d's content into the file name under root (GET
// /nodes/{id}/contentRedirection, API.md §1.4 C5) and returns once the
// file is in place, verified and synced; its folder must exist, and the
// caller syncs it. A part file an interrupted run left is resumed. A
// download that fails leaves a part file only when a later run can
// resume from it (it holds bytes and the node has an md5); one whose
// bytes turn out wrong (ErrBadContent) is removed, and fetched once more
// from the start when a resumed prefix may have been the fault.
//
// Errors: errors.Is ErrNodeGone (404), ErrNoProgress (the budget ran out,
// or maxStalls resumes in a row brought nothing), ErrBadContent,
// ErrDownloadInterrupted, ErrUnauthorized; *FileError for the local disk
// (DiskFull tells a full one); any other *APIError.
func (c *Client) DownloadFile(ctx context.Context, root *os.Root, name string, d Download) (Downloaded, error) {
	part := PartName(name)
	var got Downloaded
	for attempt := 0; ; attempt++ {
		requests := got.Requests
		var resumed bool
		var err error
		got, resumed, err = c.downloadOnce(ctx, root, part, d)
		got.Requests += requests
		switch {
		case err == nil:
			if err := root.Rename(part, name); err != nil {
				return got, &FileError{"rename the verified " + filepath.Base(part) + " to " + filepath.ToSlash(name), err}
			}
			return got, nil
		case DiskFull(err):
			// A partial file on a full disk is worth less than the room.
			_ = root.Remove(part)
			return got, err
		case errors.Is(err, ErrBadContent):
			_ = root.Remove(part)
			if resumed && attempt == 0 {
				continue // a kept prefix may be what was wrong: once more, from scratch
			}
			return got, err
		}
		kept := resumable(root, part, d)
		if !kept {
			// Nothing a later run could resume from: leave no file behind.
			_ = root.Remove(part)
		}
		if errors.Is(err, ErrDownloadInterrupted) && kept {
			err = fmt.Errorf("%w; %s is kept and the next run resumes it", err, filepath.Base(part))
		}
		return got, err
	}
}

// resumable reports whether the part file of a failed download is worth
// keeping for a later run, which resumes it with a Range request: it
// holds bytes, no more than the node's, and the node has an md5 to verify
// the whole against. An empty one is never kept.
func resumable(root *os.Root, part string, d Download) bool {
	fi, err := root.Lstat(part)
	return err == nil && fi.Mode().IsRegular() && fi.Size() > 0 && (d.Size == 0 || fi.Size() <= d.Size) && d.MD5 != ""
}

// downloadOnce is one try of DownloadFile, into part. resumed says that
// the file's bytes start with what an earlier run had kept.
func (c *Client) downloadOnce(ctx context.Context, root *os.Root, part string, d Download) (got Downloaded, resumed bool, err error) {
	f, err := openPart(root, part, d.Wrap)
	if err != nil {
		return got, false, &FileError{Err: err}
	}
	defer f.Close()
	w := &partWriter{f: f, h: md5.New(), progress: d.Progress, name: filepath.Base(part)}
	if err := w.keepPrefix(d); err != nil {
		return got, false, err
	}
	owner := d.OwnerID
	if owner == "" {
		if owner, err = c.OwnerID(ctx); err != nil {
			return got, false, err
		}
	}
	err = c.fill(ctx, w, d, owner, &got)
	got.Size = w.have
	if err != nil {
		return got, w.resumed, err
	}
	if err := w.verify(d); err != nil {
		return got, w.resumed, err
	}
	if err := f.Sync(); err != nil {
		return got, w.resumed, &FileError{"sync " + w.name, err}
	}
	if err := f.Close(); err != nil {
		return got, w.resumed, &FileError{"close " + w.name, err}
	}
	got.MD5 = hex.EncodeToString(w.h.Sum(nil))
	return got, w.resumed, nil
}

// copyBufs are the buffers downloads copy through: large enough that a
// loopback transfer is not dominated by system calls.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// fill GETs the content from w.have on until the node's size (or the end
// of the body, when the size is not known), resuming after each cut.
func (c *Client) fill(ctx context.Context, w *partWriter, d Download, owner string, got *Downloaded) error {
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	stalls := 0
	for d.Size == 0 || w.have < d.Size {
		got.Requests++
		n, err := c.copyContent(ctx, d.ID, owner, w, *bufp)
		if err == nil {
			return nil
		}
		var restart *RangeError
		switch {
		case w.err != nil:
			return &FileError{"write " + w.name, w.err} // the disk, not the network
		case errors.As(err, &restart):
			if err := w.restart(); err != nil {
				return err
			}
		case ctx.Err() != nil:
			return ErrDownloadInterrupted
		case !resumableError(err):
			return err
		}
		if n > 0 {
			stalls = 0
		} else {
			stalls++
		}
		if stalls >= maxStalls {
			return fmt.Errorf("gave up after %d resumes without progress: %w", stalls, err)
		}
		got.Resumes++
	}
	return nil
}

// copyContent sends one contentRedirection request from w.have on (a
// Range when w.have > 0) and copies the body to w.
func (c *Client) copyContent(ctx context.Context, id, owner string, w *partWriter, buf []byte) (int64, error) {
	body, err := c.OpenContent(ctx, id, owner, w.have)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	return io.CopyBuffer(w, body, buf)
}

// resumableError reports whether a failed body read is worth a Range
// resume: a cut connection or a timeout, not a refusal.
func resumableError(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Retryable
	}
	return !errors.Is(err, context.Canceled)
}

// partWriter writes to the part file and the md5 at once and reports
// progress. err keeps the file's write error, so that it is not taken for
// a cut connection and resumed.
type partWriter struct {
	f        PartFile
	h        hash.Hash
	progress func(int64)
	name     string // the part file's, for messages
	have     int64  // bytes in the file
	resumed  bool   // they start with a prefix an earlier run kept
	err      error
}

func (w *partWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.have += int64(n)
	if w.progress != nil {
		w.progress(int64(n))
	}
	if err != nil {
		w.err = err
	}
	return n, err
}

// keepPrefix hashes what an earlier run left in the file, when it can be
// trusted (no longer than the node, and an md5 to check the whole
// against at the end), and cuts the rest.
func (w *partWriter) keepPrefix(d Download) error {
	have, err := w.f.Seek(0, io.SeekEnd)
	if err != nil {
		return &FileError{"read " + w.name, err}
	}
	if have > d.Size && d.Size > 0 || d.MD5 == "" {
		have = 0
	}
	if have > 0 {
		if _, err := w.f.Seek(0, io.SeekStart); err != nil {
			return &FileError{"read " + w.name, err}
		}
		if _, err := io.CopyN(w.h, w.f, have); err != nil {
			return &FileError{"read the partial file", err}
		}
	}
	w.have, w.resumed = have, have > 0
	return w.truncate()
}

// restart empties the file: the server ignored or refused the Range.
func (w *partWriter) restart() error {
	w.have, w.resumed = 0, false
	w.h.Reset()
	return w.truncate()
}

func (w *partWriter) truncate() error {
	if err := w.f.Truncate(w.have); err != nil {
		return &FileError{"truncate " + w.name, err}
	}
	if _, err := w.f.Seek(w.have, io.SeekStart); err != nil {
		return &FileError{"seek " + w.name, err}
	}
	return nil
}

// verify checks the whole file against the node's size and md5.
func (w *partWriter) verify(d Download) error {
	if w.have != d.Size && d.Size > 0 {
		return &contentError{fmt.Sprintf("got %d bytes, the node has %d; the partial file was removed", w.have, d.Size)}
	}
	if d.MD5 != "" {
		if sum := hex.EncodeToString(w.h.Sum(nil)); !strings.EqualFold(sum, d.MD5) {
			return &contentError{fmt.Sprintf("md5 %s does not match the node's %s; the partial file was removed", sum, d.MD5)}
		}
	}
	return nil
}

// contentError is a download whose bytes are not the node's
// (ErrBadContent).
type contentError struct{ msg string }

func (e *contentError) Error() string        { return e.msg }
func (e *contentError) Is(target error) bool { return target == ErrBadContent }

// openPart opens the part file name under root without following a link:
//
//   - none there: created with O_EXCL (a link planted meanwhile makes it
//     fail, never followed);
//   - a regular file (an interrupted run's): opened to be resumed;
//   - a symbolic link (planted): the link itself is removed, its target
//     is left alone, and a new file is created;
//   - anything else (a directory): an error that names it.
func openPart(root *os.Root, name string, wrap func(*os.File) PartFile) (PartFile, error) {
	if wrap == nil {
		wrap = func(f *os.File) PartFile { return f }
	}
	fi, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case fi.Mode().IsRegular():
		f, err := root.OpenFile(name, os.O_RDWR|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return nil, err
		}
		return wrap(f), nil
	case fi.Mode()&fs.ModeSymlink != 0:
		if err := root.Remove(name); err != nil {
			return nil, fmt.Errorf("%s is a symbolic link and could not be removed: %w", filepath.Base(name), err)
		}
	default:
		return nil, fmt.Errorf("%s exists and is not a regular file; move it away", filepath.Base(name))
	}
	f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, err
	}
	return wrap(f), nil
}
