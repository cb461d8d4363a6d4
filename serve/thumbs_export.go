package serve

import (
	"context"
	"os"
	"path/filepath"

	"github.com/apsql/apsql/fetch"
)

// Thumbs is the gallery's thumbnail cache for another front end of the
// same library (apsql mcp): the same folder and files, so that a
// thumbnail fetched by one is on disk for the other.
type Thumbs struct{ t *thumbs }

// NewThumbs returns the cache in dir ("" for the gallery's default,
// $XDG_CACHE_HOME/apsql/thumbs); client is called only on a miss.
func NewThumbs(dir string, client func(ctx context.Context) (*fetch.Client, error)) (*Thumbs, error) {
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(d, "apsql", "thumbs")
	}
	return &Thumbs{newThumbs(dir, client)}, nil
}

// ThumbSizes are the sizes the cache keeps (the gallery's).
func ThumbSizes() []int { return []int{256, 512, 1024} }

// Get returns the JPEG thumbnail of node id at size (one of ThumbSizes),
// from the cache or the service; owner returns the ownerId the service
// wants, and is called only on a miss.
func (t *Thumbs) Get(ctx context.Context, id string, size int, owner func(ctx context.Context) (string, error)) ([]byte, error) {
	return t.t.get(ctx, id, size, owner)
}
