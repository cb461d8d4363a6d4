package engine

// Facts about a database file that DuckDB refused to open, for openError:
// it decides on these and on the error's type, never on its text.

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/duckdb/duckdb-go/v2"
)

// accessible reports whether the file can be opened for reading and its
// folder takes new files (DuckDB's write-ahead log goes beside it).
func accessible(path string) bool {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrPermission) {
		return false
	}
	if err == nil {
		f.Close()
	}
	probe, err := os.CreateTemp(filepath.Dir(path), ".apsql-probe-*")
	if errors.Is(err, os.ErrPermission) {
		return false
	}
	if err == nil {
		probe.Close()
		os.Remove(probe.Name())
	}
	return true
}

// storageNumber reads the storage version number of the DuckDB file at
// path: the 64-bit number after its main header's checksum and magic. ok
// is false for a file without DuckDB's header.
func storageNumber(path string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	head := make([]byte, 20)
	if _, err := io.ReadFull(f, head); err != nil || string(head[8:12]) != duckdbMagic {
		return 0, false
	}
	return binary.LittleEndian.Uint64(head[12:]), true
}

// ownStorageNumber is the storage version number of the files this build
// creates (StorageVersion), read from a new file in a temporary folder
// the first time it is asked; 0 when that fails.
var ownStorageNumber = sync.OnceValue(func() uint64 {
	dir, err := os.MkdirTemp("", "apsql-version-")
	if err != nil {
		return 0
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "v.duckdb")
	c, err := duckdb.NewConnector(path+"?storage_compatibility_version="+StorageVersion+
		"&autoinstall_known_extensions=false&autoload_known_extensions=false", nil)
	if err != nil {
		return 0
	}
	db := sql.OpenDB(c)
	err = db.Ping()
	db.Close()
	c.Close()
	if err != nil {
		return 0
	}
	v, _ := storageNumber(path)
	return v
})
