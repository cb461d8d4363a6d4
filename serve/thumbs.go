package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// thumbSizes are the sizes the page asks for (the grid's tiles, and the
// detail pane's picture); a fixed set keeps the cache small.
var thumbSizes = map[int]bool{256: true, 512: true, 1024: true}

// thumbs fetches thumbnails from the service and keeps them on disk:
// DIR/SIZE/ID.jpg, written to a temporary file, synced and renamed, so a
// cached file is always whole.
type thumbs struct {
	dir    string
	client func(ctx context.Context) (*fetch.Client, error)
	group  singleflight.Group

	mu     sync.Mutex
	owners map[string]string // node id → ownerId, from the grid's pages
	owner  string            // the account's, for nodes without one
}

func newThumbs(dir string, client func(ctx context.Context) (*fetch.Client, error)) *thumbs {
	return &thumbs{dir: dir, client: client, owners: map[string]string{}}
}

// maxOwners bounds the owner cache (the ids of ~40 grid pages a MiB).
const maxOwners = 1 << 20

func (t *thumbs) setOwner(id, owner string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.owners) >= maxOwners {
		clear(t.owners)
	}
	t.owners[id] = owner
}

func (t *thumbs) path(id string, size int) string {
	return filepath.Join(t.dir, strconv.Itoa(size), id+".jpg")
}

// get returns the thumbnail of id at size, from the cache or the service.
func (t *thumbs) get(ctx context.Context, id string, size int, owner func(ctx context.Context) (string, error)) ([]byte, error) {
	p := t.path(id, size)
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
		return b, nil
	}
	v, err, _ := t.group.Do(p, func() (any, error) {
		o, err := owner(ctx)
		if err != nil {
			return nil, err
		}
		c, err := t.client(ctx)
		if err != nil {
			return nil, err
		}
		data, err := c.Thumbnail(ctx, id, o, size)
		if err != nil {
			return nil, err
		}
		if err := writeAtomic(p, data); err != nil {
			return nil, fmt.Errorf("cache thumbnail: %w", err)
		}
		return data, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// writeAtomic writes data to path through a temporary file in the same
// folder: a reader never sees half a file.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".part-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// handleThumb answers GET /thumb/{id}?s=256 with the JPEG; nothing of the
// service's answer but the image reaches the browser.
func (s *Server) handleThumb(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID.MatchString(id) {
		http.Error(w, "not a node id", http.StatusBadRequest)
		return
	}
	size := 256
	if v := r.URL.Query().Get("s"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !thumbSizes[n] {
			http.Error(w, "s: want 256, 512 or 1024", http.StatusBadRequest)
			return
		}
		size = n
	}
	data, err := s.thumbs.get(r.Context(), id, size, func(ctx context.Context) (string, error) { return s.ownerOf(ctx, id) })
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, fetch.ErrNodeGone) {
			status = http.StatusNotFound
		}
		if r.Context().Err() == nil {
			s.opts.Logf("serve: thumbnail %s: %v", id, err)
		}
		http.Error(w, "no thumbnail", status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", http.DetectContentType(data))
	h.Set("Cache-Control", "private, max-age=86400")
	w.Write(data)
}

// ownerOf is the ownerId the thumbnail service wants for id: from the
// grid's pages, else the mirror, else the account's.
func (s *Server) ownerOf(ctx context.Context, id string) (string, error) {
	t := s.thumbs
	t.mu.Lock()
	o := t.owners[id]
	if o == "" {
		o = t.owner
	}
	t.mu.Unlock()
	if o != "" {
		return o, nil
	}
	var owner *string
	err := s.db.with(ctx, func(db *engine.DB) error {
		return db.QueryRow(ctx, `SELECT "ownerId" FROM nodes WHERE id = ?`, id).Scan(&owner)
	})
	if err == nil && owner != nil && *owner != "" {
		t.setOwner(id, *owner)
		return *owner, nil
	}
	c, err := t.client(ctx)
	if err != nil {
		return "", err
	}
	o, err = c.OwnerID(ctx)
	if err != nil {
		return "", fmt.Errorf("read the owner id for thumbnails: %w", err)
	}
	t.mu.Lock()
	t.owner = o
	t.mu.Unlock()
	return o, nil
}
