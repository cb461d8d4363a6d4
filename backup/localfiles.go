package backup

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/apsql/apsql/engine"
)

// The md5 cache of local_files(): one row per file hashed, keyed by its
// absolute path and valid while its size and modification time are the
// same.
const (
	cacheTable  = "local_files_md5"
	localUDF    = "apsql_local_files"
	localNull   = "(apsql: NULL dir)"
	filesBatch  = 256 // files per cache look-up and per insert
	batchesAhed = 4   // batches in flight: memory stays bounded
)

// RegisterLocalFiles registers the table function local_files('dir') on
// db's connection: one row per regular file below dir (links are not
// followed) with its path, size, mtime and md5. md5s are cached in the
// table local_files_md5 by path, size and mtime, so a second call hashes
// only what changed; files are walked and hashed in batches on every core,
// in bounded memory.
func RegisterLocalFiles(db *engine.DB) error {
	varchar, err := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	if err != nil {
		return err
	}
	cols := []duckdb.ColumnInfo{}
	for _, c := range []struct {
		name string
		t    duckdb.Type
	}{{"path", duckdb.TYPE_VARCHAR}, {"size", duckdb.TYPE_BIGINT}, {"mtime", duckdb.TYPE_TIMESTAMP}, {"md5", duckdb.TYPE_VARCHAR}} {
		info, err := duckdb.NewTypeInfo(c.t)
		if err != nil {
			return err
		}
		cols = append(cols, duckdb.ColumnInfo{Name: c.name, T: info})
	}
	err = duckdb.RegisterTableUDF(db.Conn(), localUDF, duckdb.RowTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{varchar}},
		BindArgumentsContext: func(ctx context.Context, _ map[string]any, args ...any) (duckdb.RowTableSource, error) {
			dir, _ := args[0].(string)
			if dir == localNull || strings.TrimSpace(dir) == "" {
				return nil, errors.New("local_files(dir): name a folder, e.g. local_files('photos-backup')")
			}
			fi, err := os.Stat(dir)
			if err != nil {
				return nil, fmt.Errorf("local_files(%s): %w", engine.Quote(dir), err)
			}
			if !fi.IsDir() {
				return nil, fmt.Errorf("local_files(%s): not a folder", engine.Quote(dir))
			}
			return &localSource{db: db, dir: dir, cols: cols}, nil
		},
	})
	if err != nil {
		return err
	}
	_, err = db.Exec(context.Background(), fmt.Sprintf(`CREATE OR REPLACE TEMP MACRO local_files(dir) AS TABLE SELECT * FROM %s(coalesce(CAST(dir AS VARCHAR), %s))`,
		localUDF, engine.Quote(localNull)))
	return err
}

// localFile is one row of local_files().
type localFile struct {
	path   string // as listed: dir joined with the relative path
	abs    string // the cache key
	size   int64
	mtime  time.Time
	md5    string
	err    error
	hashed bool // hashed now (not from the cache): to be recorded
	b      *fileBatch
}

// fileBatch is a batch of files, complete when every md5 is in.
type fileBatch struct {
	files []localFile
	wg    sync.WaitGroup
	err   error // the walk's error: ends the listing
}

// localSource streams one local_files() call.
type localSource struct {
	db   *engine.DB
	dir  string
	cols []duckdb.ColumnInfo

	out chan *fileBatch
	cur *fileBatch
	i   int
}

func (s *localSource) ColumnInfos() []duckdb.ColumnInfo { return s.cols }

func (s *localSource) Cardinality() *duckdb.CardinalityInfo { return nil }

// Init starts the pipeline: the walker makes batches of files, looks each
// up in the cache and queues its misses to the hashers (one per core);
// the collector waits for each batch in turn, records its new md5s in the
// cache and hands it to FillRow. Channels hold a few batches, so memory
// stays bounded whatever the number of files. When DuckDB stops early (a
// LIMIT) and drops the source, done stops the goroutines.
func (s *localSource) Init() {
	s.out = make(chan *fileBatch, batchesAhed)
	done := make(chan struct{})
	runtime.AddCleanup(s, func(d chan struct{}) { close(d) }, done)
	cache := openCache(s.db)
	jobs := make(chan *localFile, 4*runtime.GOMAXPROCS(0))
	ready := make(chan *fileBatch, batchesAhed)
	for range runtime.GOMAXPROCS(0) {
		go func() {
			bufp := copyBufs.Get().(*[]byte)
			defer copyBufs.Put(bufp)
			for f := range jobs {
				f.md5, f.err = md5File(f.abs, *bufp)
				f.hashed = f.err == nil
				f.b.wg.Done()
			}
		}()
	}
	go s.walk(cache, jobs, ready, done)
	out := s.out
	go func() {
		defer close(out)
		defer cache.close()
		for b := range ready {
			b.wg.Wait()
			cache.store(b.files)
			if !send(out, done, b) {
				for range ready {
				}
				return
			}
		}
	}()
}

// walk lists the regular files below the folder in batches.
func (s *localSource) walk(cache *mdCache, jobs chan<- *localFile, ready chan<- *fileBatch, done <-chan struct{}) {
	defer close(ready)
	defer close(jobs)
	abs, err := filepath.Abs(s.dir)
	if err != nil {
		send(ready, done, &fileBatch{err: err})
		return
	}
	b := &fileBatch{}
	flush := func() bool {
		if len(b.files) == 0 {
			return true
		}
		hits := cache.lookup(b.files)
		b.wg.Add(len(b.files) - hits)
		for i := range b.files {
			f := &b.files[i]
			if f.md5 != "" {
				continue
			}
			f.b = b
			select {
			case jobs <- f:
			case <-done:
				// Stopped: the files not queued count as done.
				for j := i; j < len(b.files); j++ {
					if b.files[j].md5 == "" {
						b.wg.Done()
					}
				}
				return false
			}
		}
		ok := send(ready, done, b)
		b = &fileBatch{}
		return ok
	}
	werr := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == abs {
				return err
			}
			return nil // an unreadable folder is skipped
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(abs, p)
		b.files = append(b.files, localFile{path: filepath.Join(s.dir, rel), abs: p, size: fi.Size(), mtime: fi.ModTime()})
		if len(b.files) >= filesBatch && !flush() {
			return fs.SkipAll
		}
		return nil
	})
	if flush() && werr != nil {
		send(ready, done, &fileBatch{err: werr})
	}
}

func send[T any](out chan<- T, done <-chan struct{}, v T) bool {
	select {
	case out <- v:
		return true
	case <-done:
		return false
	}
}

func (s *localSource) FillRow(row duckdb.Row) (bool, error) {
	for s.cur == nil || s.i >= len(s.cur.files) {
		b, ok := <-s.out
		if !ok {
			return false, nil
		}
		if b.err != nil {
			return false, fmt.Errorf("local_files(%s): %w", engine.Quote(s.dir), b.err)
		}
		s.cur, s.i = b, 0
	}
	f := &s.cur.files[s.i]
	s.i++
	var sum any
	if f.err == nil {
		sum = f.md5
	}
	for i, v := range []any{f.path, f.size, f.mtime.UTC(), sum} {
		if err := row.SetRowValue(i, v); err != nil {
			return false, err
		}
	}
	return true, nil
}

// md5File hashes one file.
func md5File(p string, buf []byte) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// mdCache is the md5 cache on a side connection; every method is a no-op
// when the database cannot hold it (read-only). The walker looks up and
// the collector stores: mu keeps them off the connection at once.
type mdCache struct {
	mu   sync.Mutex
	conn *sql.Conn
}

func openCache(db *engine.DB) *mdCache {
	ctx := context.Background()
	conn, err := db.SideConn(ctx)
	if err != nil {
		return &mdCache{}
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+cacheTable+` (path VARCHAR PRIMARY KEY, size BIGINT, mtime TIMESTAMP, md5 VARCHAR)`); err != nil {
		// Read-only: a cache that exists can still be read.
		var n int
		if conn.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE table_name = '`+cacheTable+`'`).Scan(&n); n == 0 {
			conn.Close()
			return &mdCache{}
		}
	}
	return &mdCache{conn: conn}
}

func (c *mdCache) close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

// lookup fills the md5 of the files the cache holds with the same size
// and mtime, and returns how many.
func (c *mdCache) lookup(files []localFile) int {
	if c.conn == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	idx := make(map[string]int, len(files))
	var b strings.Builder
	b.WriteString(`SELECT path, size, epoch_us(mtime), md5 FROM ` + cacheTable + ` WHERE path IN (`)
	for i := range files {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(engine.Quote(files[i].abs))
		idx[files[i].abs] = i
	}
	b.WriteByte(')')
	rows, err := c.conn.QueryContext(context.Background(), b.String())
	if err != nil {
		return 0
	}
	defer rows.Close()
	hits := 0
	for rows.Next() {
		var p, sum string
		var size, us int64
		if rows.Scan(&p, &size, &us, &sum) != nil {
			continue
		}
		if i, ok := idx[p]; ok && files[i].size == size && files[i].mtime.UnixMicro() == us && files[i].md5 == "" {
			files[i].md5 = sum
			hits++
		}
	}
	return hits
}

// store records the md5s hashed now.
func (c *mdCache) store(files []localFile) {
	if c.conn == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	n := 0
	for i := range files {
		f := &files[i]
		if !f.hashed {
			continue
		}
		if n == 0 {
			b.WriteString(`INSERT OR REPLACE INTO ` + cacheTable + ` VALUES `)
		} else {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%s, %d, make_timestamp(%d), '%s')", engine.Quote(f.abs), f.size, f.mtime.UnixMicro(), f.md5)
		n++
	}
	if n > 0 {
		_, _ = c.conn.ExecContext(context.Background(), b.String())
	}
}
