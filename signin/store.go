package signin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure Go: the reader of the browsers' SQLite files

	"github.com/apsql/apsql/fetch"
)

// Errors of reading a profile; test with errors.Is.
var (
	// ErrNoAmazon: the profile holds no signed-in Amazon session.
	ErrNoAmazon = errors.New("no Amazon session")
	// ErrSchema: the cookie database has a layout apsql does not know (a
	// newer browser version).
	ErrSchema = errors.New("unknown cookie database layout")
	// ErrUnreadable: the copy of the database could not be read.
	ErrUnreadable = errors.New("cookie database unreadable")
)

// maxChromiumVersion is the newest Chromium cookie database version
// (meta table) whose layout apsql knows: 24 put a SHA-256 hash of the
// cookie's host before each value.
const maxChromiumVersion = 24

// Cookie is one cookie of a browser. Its String prints no value.
type Cookie struct {
	Host, Path, Name string
	Value            string
	Secure, HTTPOnly bool
	Expires          time.Time // zero: a session cookie
}

func (c Cookie) String() string { return c.Name + "@" + c.Host }

// GoString is String: %#v must not print the value either.
func (c Cookie) GoString() string { return c.String() }

// row is one Amazon cookie as the database holds it, still encrypted.
type row struct {
	host, path, name, value string
	enc                     []byte // Chromium's encrypted_value
	expires                 time.Time
	created                 int64
	secure, httpOnly        bool
	container               bool // Firefox: not the default container
	site                    string
}

// Store is the Amazon cookies of one profile, read from a copy of its
// database; Chromium's values are decrypted only by Cookies.
type Store struct {
	Profile Profile
	version int // Chromium: meta version; Firefox: user_version
	rows    []row
	now     time.Time
}

// Load copies the profile's cookie database (and its -wal and -journal)
// to a temporary folder, as the browser keeps the original open and
// locked, and reads the Amazon cookies of the copy.
func Load(ctx context.Context, env Env, p Profile) (*Store, error) {
	tmp, err := os.MkdirTemp("", "apsql-login-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	db := filepath.Join(tmp, "cookies.db")
	if err := copyFile(p.DB, db); err != nil {
		return nil, fmt.Errorf("%s: copy its cookie database: %w", p, err)
	}
	for _, ext := range []string{"-wal", "-journal"} {
		if err := copyFile(p.DB+ext, db+ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: copy its cookie database: %w", p, err)
		}
	}
	conn, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(2000)")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	s := &Store{Profile: p, now: env.now()}
	if p.chromium() {
		err = s.readChromium(ctx, conn)
	} else {
		err = s.readFirefox(ctx, conn)
	}
	if err != nil {
		if errors.Is(err, ErrSchema) || ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %v: close the browser and run apsql login again", ErrUnreadable, p, err)
	}
	return s, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// columns returns the column names of a table; none when it is missing.
func columns(ctx context.Context, conn *sql.DB, table string) (map[string]bool, error) {
	rows, err := conn.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

// checkColumns returns ErrSchema naming the columns of want that the table lacks.
func (s *Store) checkColumns(ctx context.Context, conn *sql.DB, table string, want []string) error {
	have, err := columns(ctx, conn, table)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		return fmt.Errorf("%w: %s: its cookie database %s has no %s table (is it a cookie database, or one of a newer %s?): export the Amazon cookies with a cookie extension instead", ErrSchema, s.Profile, s.Profile.DB, table, BrowserTitle(s.Profile.Browser))
	}
	var missing []string
	for _, c := range want {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s: the %s table of its cookie database lacks the column(s) %s (a %s version newer than apsql knows?): update apsql, or export the Amazon cookies with a cookie extension instead", ErrSchema, s.Profile, table, strings.Join(missing, ", "), BrowserTitle(s.Profile.Browser))
	}
	return nil
}

func (s *Store) readFirefox(ctx context.Context, conn *sql.DB) error {
	if err := conn.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&s.version); err != nil {
		return err
	}
	if err := s.checkColumns(ctx, conn, "moz_cookies", []string{"host", "name", "value", "path", "expiry", "isSecure", "isHttpOnly", "creationTime", "originAttributes"}); err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, `SELECT host, name, value, path, expiry, isSecure, isHttpOnly, creationTime, originAttributes FROM moz_cookies WHERE host LIKE '%amazon.%'`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r row
		var expiry int64
		var origin string
		if err := rows.Scan(&r.host, &r.name, &r.value, &r.path, &expiry, &r.secure, &r.httpOnly, &r.created, &origin); err != nil {
			return err
		}
		if strings.Contains(origin, "partitionKey") {
			continue // a cookie of an Amazon frame inside another site
		}
		r.container = origin != ""
		if expiry > 1e11 {
			expiry /= 1000 // newer Firefox versions store milliseconds
		}
		if expiry > 0 {
			r.expires = time.Unix(expiry, 0).UTC()
		}
		s.add(r)
	}
	return rows.Err()
}

// chromiumEpoch is 1601-01-01 in Unix seconds: Chromium counts
// microseconds from it.
const chromiumEpoch = 11644473600

func (s *Store) readChromium(ctx context.Context, conn *sql.DB) error {
	if c, err := columns(ctx, conn, "meta"); err != nil {
		return err
	} else if len(c) == 0 {
		return fmt.Errorf("%w: %s: its cookie database %s has no meta table (is it a Chromium cookie database?): export the Amazon cookies with a cookie extension instead", ErrSchema, s.Profile, s.Profile.DB)
	}
	meta := map[string]string{}
	mr, err := conn.QueryContext(ctx, `SELECT key, value FROM meta`)
	if err != nil {
		return err
	}
	for mr.Next() {
		var k, v string
		if err := mr.Scan(&k, &v); err != nil {
			mr.Close()
			return err
		}
		meta[k] = v
	}
	mr.Close()
	v, err := strconv.Atoi(meta["version"])
	if err != nil {
		return fmt.Errorf("%w: %s: its cookie database has no version in its meta table: export the Amazon cookies with a cookie extension instead", ErrSchema, s.Profile)
	}
	s.version = v
	compat := v
	if c, err := strconv.Atoi(meta["last_compatible_version"]); err == nil {
		compat = c
	}
	if v > maxChromiumVersion && compat > maxChromiumVersion {
		return fmt.Errorf("%w: %s: its cookie database is version %d, newer than the versions apsql reads (up to %d): update apsql, or export the Amazon cookies with a cookie extension instead", ErrSchema, s.Profile, v, maxChromiumVersion)
	}
	if err := s.checkColumns(ctx, conn, "cookies", []string{"host_key", "name", "value", "encrypted_value", "path", "expires_utc", "is_secure", "is_httponly", "creation_utc"}); err != nil {
		return err
	}
	q := `SELECT host_key, name, value, encrypted_value, path, expires_utc, is_secure, is_httponly, creation_utc FROM cookies WHERE host_key LIKE '%amazon.%'`
	if have, err := columns(ctx, conn, "cookies"); err != nil {
		return err
	} else if have["top_frame_site_key"] {
		q += ` AND top_frame_site_key = ''` // not a cookie of an Amazon frame inside another site
	}
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r row
		var expires int64
		if err := rows.Scan(&r.host, &r.name, &r.value, &r.enc, &r.path, &expires, &r.secure, &r.httpOnly, &r.created); err != nil {
			return err
		}
		if expires > 0 {
			r.expires = time.Unix(expires/1e6-chromiumEpoch, 0).UTC()
		}
		s.add(r)
	}
	return rows.Err()
}

// add keeps r when it is a cookie of an Amazon retail site.
func (s *Store) add(r row) {
	site, ok := fetch.AmazonSite(r.host)
	if !ok {
		return
	}
	r.site = site
	s.rows = append(s.rows, r)
}

func (s *Store) live(r row) bool { return r.expires.IsZero() || r.expires.After(s.now) }

// Sites lists the Amazon sites ("amazon.de") for which the profile holds
// an unexpired authentication cookie (at-*), sorted.
func (s *Store) Sites() []string {
	return s.sites(true)
}

func (s *Store) sites(live bool) []string {
	set := map[string]bool{}
	for _, r := range s.rows {
		if strings.HasPrefix(r.name, "at-") && (!live || s.live(r)) {
			set[r.site] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// NoSession returns the error for a profile without a live Amazon
// session: none at all, or one that has expired.
func (s *Store) NoSession() error {
	if old := s.sites(false); len(old) > 0 {
		return fmt.Errorf("%w: the Amazon session of %s (%s) has expired: sign in at www.%s in %s, then run apsql login again", ErrNoAmazon, s.Profile, strings.Join(old, ", "), old[0], BrowserTitle(s.Profile.Browser))
	}
	if len(s.rows) > 0 {
		return fmt.Errorf("%w: %s has Amazon cookies but no signed-in session (no at-* cookie): sign in to Amazon Photos in %s, then run apsql login again", ErrNoAmazon, s.Profile, BrowserTitle(s.Profile.Browser))
	}
	return fmt.Errorf("%w: %s holds no Amazon cookies: sign in to Amazon Photos in %s (or pick another profile with --profile), then run apsql login again", ErrNoAmazon, s.Profile, BrowserTitle(s.Profile.Browser))
}

// Cookies returns the unexpired cookies of site, decrypted, one per name
// (the default container's, then the newest). Cookies that no browser
// could send in a Cookie header are left out.
func (s *Store) Cookies(ctx context.Context, env Env, site string) ([]Cookie, error) {
	var keys *keyring
	if s.Profile.chromium() {
		keys = newKeyring(env, s.Profile.Browser)
	}
	best := map[string]row{}
	for _, r := range s.rows {
		if r.site != site || !s.live(r) {
			continue
		}
		if b, ok := best[r.name]; ok && (r.container && !b.container || r.container == b.container && r.created < b.created) {
			continue
		}
		best[r.name] = r
	}
	if len(best) == 0 {
		return nil, s.NoSession()
	}
	out := make([]Cookie, 0, len(best))
	for _, r := range best {
		v := r.value
		if s.Profile.chromium() && len(r.enc) > 0 {
			var err error
			if v, err = keys.decrypt(ctx, r.enc, r.host, s.version); err != nil {
				return nil, fmt.Errorf("%s: cookie %s: %w", s.Profile, r.name, err)
			}
		}
		if !sendable(r.name, v) {
			continue
		}
		out = append(out, Cookie{Host: r.host, Path: r.path, Name: r.name, Value: v, Secure: r.secure, HTTPOnly: r.httpOnly, Expires: r.expires})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// sendable reports whether a cookie fits a Cookie header and a cookies.txt
// line: no control character, no ";" (nor a space or "=" in the name).
func sendable(name, value string) bool {
	bad := func(r rune) bool { return r < 0x20 || r == 0x7f }
	return name != "" && strings.IndexFunc(name, bad) < 0 && !strings.ContainsAny(name, ";= ") &&
		strings.IndexFunc(value, bad) < 0 && !strings.Contains(value, ";")
}
