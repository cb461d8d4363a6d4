// Package signintest builds browser cookie databases in each browser's real schema, for tests.
package signintest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// Cookie is one cookie to put in a database.
type Cookie struct {
	Host, Name, Value string
	Path              string    // "" is "/"
	Expires           time.Time // zero: a session cookie
	HTTPOnly          bool
	Created           time.Time // zero: now
	// Origin is Firefox's originAttributes ("^userContextId=1" for a container).
	Origin string
}

// Other is a cookie of another site, which must be left alone.
var Other = Cookie{Host: ".example.org", Name: "session-id", Value: "not-amazon"}

// Amazon returns a signed-in session's cookies on .amazon.<tld> from a
// name → value map (the emulator's Cookies), expiring at exp.
func Amazon(tld string, m map[string]string, exp time.Time) []Cookie {
	var out []Cookie
	for k, v := range m {
		out = append(out, Cookie{Host: ".amazon." + tld, Name: k, Value: v, Expires: exp, HTTPOnly: len(k) > 3 && k[:3] == "at-"})
	}
	return out
}

// FirefoxSchema is moz_cookies as Firefox 128-140 make it (user_version 15).
const FirefoxSchema = `CREATE TABLE moz_cookies (id INTEGER PRIMARY KEY, originAttributes TEXT NOT NULL DEFAULT '', name TEXT, value TEXT, host TEXT, path TEXT, expiry INTEGER, lastAccessed INTEGER, creationTime INTEGER, isSecure INTEGER, isHttpOnly INTEGER, inBrowserElement INTEGER DEFAULT 0, sameSite INTEGER DEFAULT 0, rawSameSite INTEGER DEFAULT 0, schemeMap INTEGER DEFAULT 0, isPartitionedAttributeSet INTEGER DEFAULT 0, CONSTRAINT moz_uniqueid UNIQUE (name, host, path, originAttributes));
PRAGMA user_version = 15;`

// Open opens (creating) a SQLite database with one connection.
func Open(t testing.TB, path string) *sql.DB {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

func exec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func created(c Cookie) time.Time {
	if c.Created.IsZero() {
		return time.Now()
	}
	return c.Created
}

func path(c Cookie) string {
	if c.Path == "" {
		return "/"
	}
	return c.Path
}

// Firefox writes profile/cookies.sqlite with cookies, journal mode WAL as
// Firefox keeps it, and returns the database open: the test closes it.
func Firefox(t testing.TB, profile string, cookies []Cookie) *sql.DB {
	t.Helper()
	db := Open(t, filepath.Join(profile, "cookies.sqlite"))
	exec(t, db, `PRAGMA journal_mode = WAL`)
	exec(t, db, FirefoxSchema)
	for _, c := range cookies {
		var exp int64
		if !c.Expires.IsZero() {
			exp = c.Expires.Unix()
		}
		exec(t, db, `INSERT INTO moz_cookies (originAttributes, name, value, host, path, expiry, lastAccessed, creationTime, isSecure, isHttpOnly) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
			c.Origin, c.Name, c.Value, c.Host, path(c), exp, created(c).UnixMicro(), created(c).UnixMicro(), c.HTTPOnly)
	}
	return db
}

// ChromiumSchema is the cookies table of Chromium 130 and later (meta version 24).
const ChromiumSchema = `CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR);
CREATE TABLE cookies(creation_utc INTEGER NOT NULL,host_key TEXT NOT NULL,top_frame_site_key TEXT NOT NULL,name TEXT NOT NULL,value TEXT NOT NULL,encrypted_value BLOB NOT NULL,path TEXT NOT NULL,expires_utc INTEGER NOT NULL,is_secure INTEGER NOT NULL,is_httponly INTEGER NOT NULL,last_access_utc INTEGER NOT NULL,has_expires INTEGER NOT NULL,is_persistent INTEGER NOT NULL,priority INTEGER NOT NULL,samesite INTEGER NOT NULL,source_scheme INTEGER NOT NULL,source_port INTEGER NOT NULL,last_update_utc INTEGER NOT NULL,source_type INTEGER NOT NULL,has_cross_site_ancestor INTEGER NOT NULL);
CREATE UNIQUE INDEX cookies_unique_index ON cookies(host_key, top_frame_site_key, has_cross_site_ancestor, name, path, source_scheme, source_port);`

// Encrypt makes a Chromium encrypted_value.
type Encrypt func(host, value string) []byte

// Key is Chromium's AES key from a password (PBKDF2-SHA1, salt
// "saltysalt"; 1 iteration on Linux, 1003 on macOS).
func Key(password string, iterations int) []byte {
	k, err := pbkdf2.Key(sha1.New, password, []byte("saltysalt"), iterations, 16)
	if err != nil {
		panic(err)
	}
	return k
}

// CBC encrypts as Chromium does on Linux and macOS: prefix ("v10", "v11")
// then AES-128-CBC with 16 spaces as IV; hostHash puts the SHA-256 of the
// host before the value, as meta version 24 and later do.
func CBC(prefix string, key []byte, hostHash bool) Encrypt {
	return func(host, value string) []byte {
		pt := []byte(value)
		if hostHash {
			h := sha256.Sum256([]byte(host))
			pt = append(h[:], pt...)
		}
		n := aes.BlockSize - len(pt)%aes.BlockSize
		pt = append(pt, bytes.Repeat([]byte{byte(n)}, n)...)
		block, err := aes.NewCipher(key)
		if err != nil {
			panic(err)
		}
		out := make([]byte, len(pt))
		cipher.NewCBCEncrypter(block, bytes.Repeat([]byte{' '}, aes.BlockSize)).CryptBlocks(out, pt)
		return append([]byte(prefix), out...)
	}
}

// chromiumTime is Chromium's time: microseconds since 1601-01-01.
func chromiumTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro() + 11644473600*1e6
}

// Chromium writes profile/Network/Cookies in the real schema with meta
// version, each value encrypted with enc (nil: in the plain value
// column), and closes it.
func Chromium(t testing.TB, profile string, version int, enc Encrypt, cookies []Cookie) {
	t.Helper()
	db := Open(t, filepath.Join(profile, "Network", "Cookies"))
	defer db.Close()
	exec(t, db, ChromiumSchema)
	exec(t, db, `INSERT INTO meta VALUES ('mmap_status', '-1'), ('version', ?), ('last_compatible_version', ?)`, fmt.Sprint(version), fmt.Sprint(min(version, 24)))
	for _, c := range cookies {
		value, ev := c.Value, []byte{}
		if enc != nil {
			value, ev = "", enc(c.Host, c.Value)
		}
		has := !c.Expires.IsZero()
		exec(t, db, `INSERT INTO cookies VALUES (?, ?, '', ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, 1, 0, 2, 443, ?, 0, 0)`,
			chromiumTime(created(c)), c.Host, c.Name, value, ev, path(c), chromiumTime(c.Expires), c.HTTPOnly, chromiumTime(created(c)), has, has, chromiumTime(created(c)))
	}
}
