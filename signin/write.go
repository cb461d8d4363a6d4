package signin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CookiesTxt renders cookies as a Netscape cookies.txt, the format that
// keeps each cookie's domain and expiry (fetch.ParseCookies reads it).
func CookiesTxt(cookies []Cookie) []byte {
	var b strings.Builder
	b.WriteString("# Netscape HTTP Cookie File\n# Written by apsql login: the Amazon session of one browser profile. Keep it private.\n")
	for _, c := range cookies {
		if c.HTTPOnly {
			b.WriteString("#HttpOnly_")
		}
		sub := "FALSE"
		if strings.HasPrefix(c.Host, ".") {
			sub = "TRUE"
		}
		secure := "FALSE"
		if c.Secure {
			secure = "TRUE"
		}
		var exp int64
		if !c.Expires.IsZero() {
			exp = c.Expires.Unix()
		}
		path := c.Path
		if path == "" {
			path = "/"
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", c.Host, sub, path, secure, exp, c.Name, c.Value)
	}
	return []byte(b.String())
}

// WriteFile replaces path with data, readable only by its owner, so that
// a reader sees the old file or the new one, never a part: a temporary
// file beside it is written, synced and renamed over it. Its folder is
// made (0700) when missing.
func WriteFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make the folder of the cookies file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("cookies file %s is not a regular file: give another --cookies path", path)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write the cookies file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write the cookies file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write the cookies file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write the cookies file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the cookies file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write the cookies file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself survives a crash
		d.Close()
	}
	return nil
}
