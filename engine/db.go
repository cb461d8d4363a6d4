// Package engine is apsql's embedded query engine: it opens the DuckDB
// database with the library schema, keeps one pinned connection for the
// session, splits scripts into statements and dispatches them either to
// apsql's own statements (SYNC, FIND, TRASH, ...) or to DuckDB unchanged.
package engine

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"
)

// DefaultPath is the database file used when none is given.
const DefaultPath = "ap.duckdb"

// Memory is the name of an in-memory database.
const Memory = ":memory:"

// ErrBadPath marks a database path that cannot work as given (a
// directory, a missing or unwritable folder): bad usage rather than a
// failure.
var ErrBadPath = errors.New("bad database path")

// DB is an open apsql database with one pinned connection. It is not safe
// for concurrent statements: a session runs one statement at a time.
type DB struct {
	Path string // as given; Memory for an in-memory database

	connector *duckdb.Connector
	db        *sql.DB
	conn      *sql.Conn
	cmds      *Registry
	tempDir   string // spill folder of an in-memory database, removed by Close
	zstd      bool   // the storage has zstd for strings (CreateTableSQL)
	// threadsOwed is the threads setting an Arrow insert could not put
	// back (its transaction had failed); RestoreSettings applies it.
	threadsOwed atomic.Int64
	// ReadOnly is set when the file is not writable (its mode, a
	// read-only mount): it is open for queries only (see Writable).
	ReadOnly bool

	lockdown   sync.Mutex // guards lockedDown (see Lockdown)
	lockedDown bool
	sums       blockSums // CheckBeforeWrite's reader of the file's blocks

	// Damaged is set (wrapping ErrDamaged) when the file is shorter than
	// its header says (blocks missing at its end): it is open read-only,
	// for queries only, and every statement that writes refuses it.
	Damaged error
}

// StorageVersion is the DuckDB storage version of the database files apsql
// creates. DuckDB writes the oldest format it can by default (v1.0.0),
// which lacks zstd for strings and the newer string compression: a 1M-node
// SYNC spends ~40% more time in DuckDB and the file is twice the size
// (bench/results/sync.md). Such a file opens in DuckDB 1.5 or later (the
// version apsql embeds); files created before keep their format.
const StorageVersion = "v1.5.0"

// Open opens (creating if needed) the database at path (Memory or "" for an
// in-memory one), migrates its schema to the current version and pins one
// connection for the session. Errors name the problem and the fix: a
// directory given as the file, an unwritable location, a file locked by
// another process, a file written by a newer apsql, a file that is not a
// DuckDB database.
//
// A file that cannot be written (no write permission, a read-only mount)
// is opened read-only (DuckDB's access_mode READ_ONLY), with ReadOnly set:
// queries work, statements that write fail.
//
// DuckDB never installs or loads an extension on its own here: a SQLite
// file given as the database would otherwise make it download the sqlite
// extension from the network before anything runs.
func Open(ctx context.Context, path string) (*DB, error) {
	dsn := path
	readOnly := false
	if path == "" || path == Memory {
		path, dsn = Memory, ""
	} else if err := checkPath(path); err != nil {
		return nil, err
	} else if readOnly, err = notWritable(path); err != nil {
		return nil, err
	}
	dsn += "?storage_compatibility_version=" + StorageVersion +
		"&autoinstall_known_extensions=false&autoload_known_extensions=false" +
		// jemalloc's background threads hand freed memory back to the
		// system: a re-SYNC of a million nodes peaked at 501-640 MB
		// without them, 466-468 MB with them, and was no slower.
		"&allocator_background_threads=true"
	if readOnly {
		dsn += "&access_mode=READ_ONLY"
	}
	var damaged error
	if !readOnly && path != Memory {
		// A file missing its last blocks can pass every check of its
		// tables and then fail a write half-way with DuckDB's "FATAL
		// Error: IO Error": find it now, and open it for queries only.
		var err error
		if damaged, err = truncated(ctx, dsn, path); err != nil {
			return nil, openError(path, err)
		}
		if damaged != nil {
			dsn += "&access_mode=READ_ONLY"
			readOnly = true
		}
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, openError(path, err)
	}
	d, err := openConnector(ctx, path, connector, readOnly)
	if err != nil {
		// openConnector's errors went through openError: a catalog that
		// lies past the end of the file is ErrDamaged there.
		if damaged != nil {
			return nil, fmt.Errorf("%w (and it cannot be opened read-only either: %v)", damaged, err)
		}
		return nil, err
	}
	d.Damaged = damaged
	return d, nil
}

// truncated opens the file once, on its own, to compare its size with the
// blocks its header counts (DuckDB's file: three 4 KiB headers, then
// total_blocks blocks of block_size); a shorter file is damaged: the
// first error says why. It is closed again before the session's open.
func truncated(ctx context.Context, dsn, path string) (error, error) {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		return nil, nil // a new file: nothing to compare
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector) // Close closes the connector too
	defer db.Close()
	var blocks, blockSize int64
	err = db.QueryRowContext(ctx, `SELECT total_blocks, block_size FROM pragma_database_size() WHERE database_name = current_database()`).Scan(&blocks, &blockSize)
	if err != nil {
		return nil, err
	}
	if fi, err = os.Stat(path); err != nil {
		return nil, err
	}
	if want := 3*4096 + blocks*blockSize; blocks > 0 && fi.Size() < want {
		return fmt.Errorf("open database %s: %w: the file is %d bytes but its header counts %d blocks of %d bytes (%d bytes): it lost its last %d bytes (a copy cut short, a full disk); "+
			"it is open for queries only, and statements that write refuse it: restore it from a backup, or SYNC into a new file (apsql new.duckdb)",
			path, ErrDamaged, fi.Size(), blocks, blockSize, want, want-fi.Size()), nil
	}
	return nil, nil
}

// openConnector opens the session's database on connector (see Open).
func openConnector(ctx context.Context, path string, connector *duckdb.Connector, readOnly bool) (*DB, error) {
	var err error
	db := sql.OpenDB(connector)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		connector.Close()
		return nil, openError(path, err)
	}
	d := &DB{Path: path, connector: connector, db: db, conn: conn, cmds: NewRegistry(), ReadOnly: readOnly}
	registerBuiltins(d.cmds)
	if path == Memory {
		// An in-memory database spills to ./.tmp by default: litter in the
		// user's folder. Use a private folder in the system's temp instead.
		if d.tempDir, err = os.MkdirTemp("", "apsql-spill-"); err == nil {
			_, err = conn.ExecContext(ctx, "SET temp_directory = "+Quote(d.tempDir))
		}
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("open an in-memory database: spill folder: %w", err)
		}
	}
	if d.zstd, err = d.hasZstd(ctx); err != nil {
		d.Close()
		return nil, openError(path, err)
	}
	migrate := d.migrate
	if readOnly {
		migrate = d.checkSchema
	}
	if err := migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// checkSchema is migrate for a read-only file: its schema must be the
// current one, since it cannot be upgraded.
func (d *DB) checkSchema(ctx context.Context) error {
	// A file without apsql_meta (a plain DuckDB file) has version 0.
	var v int
	var hasMeta bool
	err := d.conn.QueryRowContext(ctx, `SELECT count(*) > 0 FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'apsql_meta'`).Scan(&hasMeta)
	if err == nil && hasMeta {
		err = d.conn.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM apsql_meta WHERE key = 'schema_version'`).Scan(&v)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("open database %s: read schema version: %w", d.Path, err)
	}
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("open database %s: it was written by a newer apsql (schema %d, this one knows %d); upgrade apsql", d.Path, v, SchemaVersion)
	case v < SchemaVersion:
		return fmt.Errorf("open database %s: the file is read-only and its schema (version %d) must be upgraded to %d before use; make it writable once (chmod u+w %s) and open it again", d.Path, v, SchemaVersion, d.Path)
	}
	_, err = d.conn.ExecContext(ctx, fileCategoryMacro())
	return err
}

// ErrReadOnly is the cause of Writable's error.
var ErrReadOnly = errors.New("the database is open read-only")

// Writable returns an error naming the file and the fix when the database
// is open read-only or damaged (Damaged); statements that write (SYNC, the
// actions) call it before they fetch or send anything.
func (d *DB) Writable() error {
	if d.Damaged != nil {
		return d.Damaged
	}
	if !d.ReadOnly {
		return nil
	}
	return fmt.Errorf("database %s is read-only (the file is not writable), so it was opened for queries only: make it writable (chmod u+w %s) or copy it to a writable place%w", d.Path, d.Path, quiet(ErrReadOnly))
}

// ErrDamaged is the cause of CheckIntegrity's error.
var ErrDamaged = errors.New("the database file is damaged")

// CheckBeforeWrite returns an error when the database cannot take a large
// write safely: it is read-only (Writable), or a block of one of its
// tables fails DuckDB's checksum (every column of every table is read, so
// each block's checksum is checked). SYNC calls it before it fetches
// anything, so that it never writes into a damaged file and reports
// success.
func (d *DB) CheckBeforeWrite(ctx context.Context) error {
	if err := d.Writable(); err != nil {
		return err
	}
	if d.Path == Memory {
		return nil
	}
	return d.checkBlocks(ctx, d.conn)
}

// BlockCheck is a CheckBeforeWrite running on a connection of its own
// (see StartCheckBeforeWrite).
type BlockCheck struct {
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

// Wait returns the check's result once it has finished, or ctx's error
// first.
func (c *BlockCheck) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Stop cancels a check still running and waits until it has ended (its
// connection closed, the memory limit put back). Call it once the
// statement is done, whatever happened.
func (c *BlockCheck) Stop() {
	c.cancel()
	<-c.done
}

// StartCheckBeforeWrite returns CheckBeforeWrite's verdict on a read-only
// or in-memory database at once, and otherwise starts its read of every
// block on a connection of its own: the session's connection stays free,
// so a statement can fetch (and read the mirror) while the file is read,
// and waits for the check before it writes anything. A 1M-node file takes
// ~0.1 s of CPU (blockSums; ~0.75 s when read through DuckDB).
func (d *DB) StartCheckBeforeWrite(ctx context.Context) *BlockCheck {
	ctx, cancel := context.WithCancel(ctx)
	c := &BlockCheck{done: make(chan struct{}), cancel: cancel}
	if err := d.Writable(); err != nil || d.Path == Memory {
		c.err = err
		close(c.done)
		return c
	}
	go func() {
		defer close(c.done)
		conn, err := d.db.Conn(ctx)
		if err != nil {
			c.err = d.damaged("", err)
			return
		}
		defer conn.Close()
		c.err = d.checkBlocks(ctx, conn)
	}()
	return c
}

// checkBlocks checks every block of every table of the file on conn: by
// their checksums read from the file (blockSums), confirmed through DuckDB
// when one fails, or through DuckDB alone when the file cannot be read so.
func (d *DB) checkBlocks(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, `SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary ORDER BY ALL`)
	if err != nil {
		return d.damaged("", err)
	}
	var tables [][2]string
	for rows.Next() {
		var t [2]string
		if err := rows.Scan(&t[0], &t[1]); err != nil {
			rows.Close()
			return d.damaged("", err)
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d.damaged("", err)
	}
	// The blocks DuckDB reads (pragma_storage_info loads each segment's
	// first block; readTables, all of them) stay in its buffer pool after
	// the check: a small memory limit while it reads keeps them from
	// adding to the SYNC's peak (a million-node file: 533-704 MB peak RSS at the
	// default 256MB limit, against 426-475 MB without the check). The
	// limit is put back as DuckDB shows it (limitToRestore).
	// After Lockdown no setting changes: the check reads under the
	// user's limit.
	if !d.LockedDown() {
		var limit string
		if err := conn.QueryRowContext(ctx, `SELECT current_setting('memory_limit')`).Scan(&limit); err != nil {
			return d.damaged("", err)
		}
		// DuckDB refuses a limit below what it cannot evict (an index
		// changed since the last checkpoint, such as after a SYNC that
		// replaced 1% of a million rows): that says nothing about the
		// file, so the check then reads under the limit it has.
		// A refused SET still changes the setting DuckDB shows (not the
		// limit it holds to): put it back at once, or the next check
		// would read 64MB as the limit to restore.
		restore := func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SET memory_limit = `+Quote(limitToRestore(limit)))
		}
		if _, err := conn.ExecContext(ctx, `SET memory_limit = '64MB'`); err == nil {
			defer restore()
		} else {
			restore()
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	suspects, ok, err := d.blockSuspects(ctx, conn, tables)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return d.damaged("", err)
	}
	if ok {
		if len(suspects) == 0 {
			return nil
		}
		// A block failed its checksum here: DuckDB says what is wrong,
		// reading the tables that hold it.
		if err := d.readTables(ctx, conn, suspects); err != nil {
			return err
		}
		// DuckDB reads them: this file's blocks are not laid out as
		// blockSums assumes. Check it through DuckDB from now on.
		d.sums.mu.Lock()
		d.sums.off = true
		d.sums.mu.Unlock()
	}
	return d.readTables(ctx, conn, tables)
}

// readTables reads every column of tables on conn through DuckDB, which
// checks the checksum of each block it loads.
func (d *DB) readTables(ctx context.Context, conn *sql.Conn, tables [][2]string) error {
	for _, t := range tables {
		// max(hash(COLUMNS(*))) uses every column, so none is pruned.
		q := `SELECT max(hash(COLUMNS(*))) FROM ` + Ident(t[0]) + `.` + Ident(t[1])
		r, err := conn.QueryContext(ctx, q)
		if err == nil {
			for r.Next() {
			}
			err = r.Err()
			r.Close()
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return d.damaged(t[1], err)
		}
	}
	return nil
}

// limitToRestore returns what SET memory_limit takes to put back a limit
// that DuckDB shows as shown ("286.1 MiB", "1.8 GiB"). DuckDB shows a limit
// cut to one decimal, so setting the shown value lowers the limit by up to
// a tenth of its unit each time (a 1.85 GiB limit shows as 1.8 GiB, which
// set and shown again is 1.7 GiB); the middle of what the shown value
// stands for shows the same, and stays so.
func limitToRestore(shown string) string {
	num, unit, ok := strings.Cut(shown, " ")
	if !ok || !strings.Contains(num, ".") {
		return shown
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return shown
	}
	return strconv.FormatFloat(v+0.05, 'f', 2, 64) + " " + unit
}

func (d *DB) damaged(table string, err error) error {
	where := ""
	if table != "" {
		where = " (table " + table + ")"
	}
	return fmt.Errorf("%w: %s%s: %v; nothing was changed: restore the file from a backup, or SYNC into a new file (apsql new.duckdb)", ErrDamaged, d.Path, where, err)
}

// notWritable reports whether the existing file at path cannot be
// written: it has no write permission bit at all (chmod 444, which root
// would otherwise ignore), or opening it for writing is refused (no
// permission, a read-only mount). A path that does not exist yet is
// writable (checkPath checked its folder).
func notWritable(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := checkDuckDBFile(path, fi.Size()); err != nil {
		return false, err
	}
	if fi.Mode().Perm()&0o222 == 0 {
		return true, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return true, nil
		}
		return false, fmt.Errorf("open database %s: %w", path, unwrapPathError(err))
	}
	f.Close()
	return false, nil
}

// duckdbMagic is at byte 8 of every DuckDB database file (after the main
// header's checksum).
const duckdbMagic = "DUCK"

// checkDuckDBFile refuses an existing file that is not a DuckDB database,
// before DuckDB sees it, naming what it looks like. An empty file is left
// to DuckDB, which makes it a new database.
func checkDuckDBFile(path string, size int64) error {
	if size == 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("open database %s: permission denied: the file cannot be read; check its owner and mode%w", path, quiet(ErrBadPath))
		}
		return fmt.Errorf("open database %s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if len(head) >= 12 && string(head[8:12]) == duckdbMagic {
		return nil
	}
	return fmt.Errorf("open database %s: %s is not a DuckDB database (%s); give the path of an apsql database, or a new file name to create one", path, path, fileKind(head))
}

// fileKind names what the first bytes of a file look like.
func fileKind(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("SQLite format 3\x00")):
		return "it is a SQLite database"
	case bytes.HasPrefix(head, []byte("PAR1")):
		return "it is a Parquet file: query it with SELECT * FROM 'file.parquet'"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "it is a ZIP archive"
	case utf8.Valid(head) && bytes.IndexByte(head, 0) < 0:
		return "it is a text file"
	}
	return "its first bytes are not DuckDB's header"
}

// hasZstd reports whether the database's storage version (v1.0.0+ for a
// file written by an older apsql, StorageVersion for a new one) has zstd
// compression for strings, which came with v1.2.0.
func (d *DB) hasZstd(ctx context.Context) (bool, error) {
	var v sql.NullString
	err := d.conn.QueryRowContext(ctx, `SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = current_database()`).Scan(&v)
	if err != nil {
		return false, fmt.Errorf("read storage version: %w", err)
	}
	if !v.Valid { // no tag: a catalog that does not say its format
		return false, nil
	}
	return storageAtLeast(v.String, 1, 2), nil
}

// storageAtLeast reports whether a storage version tag ("v1.5.0+") is at
// least major.minor.
func storageAtLeast(tag string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(strings.TrimPrefix(tag, "v"), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// checkPath catches the mistakes DuckDB reports obscurely.
func checkPath(path string) error {
	if _, err := url.Parse(path); err != nil || strings.Contains(path, "?") {
		// The driver parses the path as a URL and reads options after '?'.
		return fmt.Errorf("open database %s: apsql cannot open a file whose path contains '?' or a '%%' not followed by two hex digits; rename it or choose another path%w", path, quiet(ErrBadPath))
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("open database %s: it is a directory; give a file name such as %s%w", path, filepath.Join(path, DefaultPath), quiet(ErrBadPath))
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("open database %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("open database %s: folder %s does not exist; create it or choose another path%w", path, dir, quiet(ErrBadPath))
	}
	if !di.IsDir() {
		return fmt.Errorf("open database %s: %s is not a folder%w", path, dir, quiet(ErrBadPath))
	}
	probe, err := os.CreateTemp(dir, ".apsql-probe-*")
	if err != nil {
		return fmt.Errorf("open database %s: cannot create files in %s (%v); choose a writable location with --db%w", path, dir, unwrapPathError(err), quiet(ErrBadPath))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// quiet wraps err so that it can be matched with errors.Is but adds no
// text to the message it is formatted into with %w.
func quiet(err error) error { return silent{err} }

type silent struct{ err error }

func (s silent) Error() string { return "" }
func (s silent) Unwrap() error { return s.err }

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openError rewrites DuckDB's refusal to open path into one clear line.
// It decides by the error's type (duckdb.Error's Type) and by facts about
// the file, never by the message's text: a lock another process holds
// (lockHolder), a file or folder apsql may not read or write, a file
// without DuckDB's header, and else damage.
func openError(path string, err error) error {
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	if de.Type != duckdb.ErrorTypeIO && de.Type != duckdb.ErrorTypeSerialization {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	pid, lockErr := lockHolder(path)
	switch {
	case pid > 0:
		return fmt.Errorf("open database %s: it is in use by process %d (another apsql?); close it, or open a copy of the file", path, pid)
	case lockErr != nil:
		return fmt.Errorf("open database %s: %w", path, err) // cannot tell a lock from damage
	case !accessible(path):
		return fmt.Errorf("open database %s: permission denied; choose a writable location with --db", path)
	}
	if fi, serr := os.Stat(path); serr == nil {
		if herr := checkDuckDBFile(path, fi.Size()); herr != nil {
			return herr
		}
	}
	if v, ok := storageNumber(path); ok && ownStorageNumber() > 0 && v > ownStorageNumber() {
		return fmt.Errorf("open database %s: it was written by a newer DuckDB (storage version %d; this apsql writes %d): upgrade apsql%w", path, v, ownStorageNumber(), quiet(err))
	}
	return fmt.Errorf("open database %s: %w: %w; restore it from a backup, or SYNC into a new file (apsql new.duckdb)", path, ErrDamaged, err)
}

// SetMemoryLimit bounds the memory DuckDB's buffer manager uses ("256MB",
// "2GB"); beyond it DuckDB spills to a temporary folder beside the database.
func (d *DB) SetMemoryLimit(ctx context.Context, limit string) error {
	if _, err := d.conn.ExecContext(ctx, "SET memory_limit = "+Quote(limit)); err != nil {
		return fmt.Errorf("memory limit %q: %w; give a size such as 512MB or 2GB", limit, err)
	}
	return nil
}

// Close releases the connection and the database.
func (d *DB) Close() error {
	var errs []error
	if d.conn != nil {
		errs = append(errs, d.conn.Close())
	}
	if d.db != nil {
		errs = append(errs, d.db.Close())
	}
	if d.connector != nil {
		errs = append(errs, d.connector.Close())
	}
	if d.tempDir != "" {
		errs = append(errs, os.RemoveAll(d.tempDir))
	}
	// After DuckDB: closing this descriptor drops the process's lock
	// on the file (see blockSums).
	errs = append(errs, d.sums.close())
	return errors.Join(errs...)
}

// Conn returns the session's pinned connection. Statements that need their
// own transaction use it too (DuckDB serialises them anyway).
func (d *DB) Conn() *sql.Conn { return d.conn }

// SideConn returns a new connection to the same database, for the work a
// table function does while the session's connection runs the query that
// calls it (a cache lookup); the caller must Close it before the DB.
func (d *DB) SideConn(ctx context.Context) (*sql.Conn, error) { return d.db.Conn(ctx) }

// Commands returns the registry of apsql's own statements.
func (d *DB) Commands() *Registry { return d.cmds }

// Exec runs a statement that returns no rows on the pinned connection.
func (d *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.conn.ExecContext(ctx, query, args...)
}

// QueryRow runs a query returning at most one row on the pinned connection.
func (d *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return d.conn.QueryRowContext(ctx, query, args...)
}

// Query runs a query on the pinned connection; the rows must be closed
// before the next statement.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.conn.QueryContext(ctx, query, args...)
}

// Tx runs fn in one transaction on the pinned connection: committed when fn
// returns nil, rolled back otherwise (also when ctx is cancelled).
func (d *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// Raw gives fn the driver connection (*duckdb.Conn), e.g. for the Arrow
// interface or the Appender.
func (d *DB) Raw(fn func(c *duckdb.Conn) error) error {
	return d.conn.Raw(func(dc any) error {
		c, ok := dc.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		return fn(c)
	})
}

var _ driver.Conn = (*duckdb.Conn)(nil)
