// Package naming turns nodes into safe local file names: NAMING templates and the cleaning of names from the service.
package naming

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxComponent caps one file name component in bytes: most file systems
// allow 255, and ".part" (or a sidecar's ".xmp") must still fit.
const MaxComponent = 200

// Fields are the fields of a NAMING template.
var Fields = []string{"id", "name", "ext", "yyyy", "mm", "dd", "folder", "path", "album"}

// Values are what a template's fields expand to for one node.
type Values struct {
	ID, Name string
	Ext      string    // the extension, with or without its dot
	Content  time.Time // contentDate (else createdDate); zero when unknown
	Folder   string    // the parent folder's name
	Path     string    // the parent folder's full path, "Pictures/Web"
	Album    string    // the album's name
}

// Clean makes a name from the service safe as one path component: it
// never contains a path separator, a control or format character, and is
// never "", "." or "..". Characters that Windows forbids (<>:"|?* and \)
// become '_' as well, so that a tree copied there keeps its names; invalid
// UTF-8 becomes '_'. The result is at most MaxComponent bytes, cut at a
// character boundary and keeping the extension when there is one.
func Clean(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteByte('_')
		case r == '/' || r == '\\' || r == 0 || strings.ContainsRune(`<>:"|?*`, r):
			b.WriteByte('_')
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029':
			// Controls, and format characters such as the bidi overrides
			// that make "gpj.exe" display as "exe.jpg".
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimSpace(b.String())
	// Leading dots would hide the file, and ".." would climb: replace them.
	if strings.HasPrefix(out, ".") {
		out = "_" + strings.TrimLeft(out, ".")
	}
	out = strings.TrimRight(out, ". ") // Windows drops trailing dots and spaces
	if out == "" {
		out = "_"
	}
	return capName(out, MaxComponent)
}

// capName shortens name to at most n bytes at a character boundary,
// keeping a short extension.
func capName(name string, n int) string {
	if len(name) <= n {
		return name
	}
	ext := filepath.Ext(name)
	if len(ext) > 16 || len(ext) >= n/2 {
		ext = ""
	}
	base := name[:len(name)-len(ext)]
	limit := n - len(ext)
	for limit > 0 && !utf8.RuneStart(base[limit]) {
		limit--
	}
	return base[:limit] + ext
}

// Template is a parsed NAMING template: literal text (which may hold '/'
// to make subdirectories) and fields.
type Template struct {
	parts []part
}

type part struct {
	lit   string
	field string // "" for a literal
}

// Parse checks a NAMING template: its fields must be known, and its
// literal text may not leave the target directory (no absolute path, no
// ".." component).
func Parse(src string) (Template, error) {
	var t Template
	if strings.TrimSpace(src) == "" {
		return t, errors.New("NAMING is empty: give a template such as '{id}_{name}'")
	}
	if strings.ContainsRune(src, '\\') || strings.ContainsRune(src, 0) {
		return t, fmt.Errorf("NAMING %q: use '/' to make subdirectories; '\\' and NUL are not allowed", src)
	}
	if strings.HasPrefix(src, "/") {
		return t, fmt.Errorf("NAMING %q: the template must be relative to the target directory (no leading '/')", src)
	}
	rest := src
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.parts = append(t.parts, part{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("NAMING %q: unclosed '{'", src)
		}
		f := rest[i+1 : i+j]
		known := false
		for _, k := range Fields {
			known = known || k == f
		}
		if !known {
			return t, fmt.Errorf("NAMING %q: unknown field {%s}; the fields are {%s}", src, f, strings.Join(Fields, "} {"))
		}
		t.parts = append(t.parts, part{field: f})
		rest = rest[i+j+1:]
	}
	hasName := false
	for _, p := range t.parts {
		if p.field == "" {
			for _, c := range strings.Split(p.lit, "/") {
				if c == ".." {
					return t, fmt.Errorf("NAMING %q: '..' would leave the target directory", src)
				}
			}
		} else if p.field == "id" || p.field == "name" {
			hasName = true
		}
	}
	if !hasName {
		return t, fmt.Errorf("NAMING %q: include {id} or {name}, or every file gets the same name", src)
	}
	return t, nil
}

// Expand returns the relative path (with '/' separators) of v under the
// template: field values are cleaned of separators and '..', so only the
// template's own '/' make directories; every component is cleaned ("." and
// ".." become "_") and capped in length, and empty ones are dropped.
func (t Template) Expand(v Values) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
			continue
		}
		b.WriteString(fieldValue(p.field, v))
	}
	var comps []string
	for _, c := range strings.Split(b.String(), "/") {
		if c == "" {
			continue
		}
		comps = append(comps, Clean(c))
	}
	if len(comps) == 0 {
		return Clean(v.ID)
	}
	return strings.Join(comps, "/")
}

// Uses reports whether the template has field f.
func (t Template) Uses(f string) bool {
	for _, p := range t.parts {
		if p.field == f {
			return true
		}
	}
	return false
}

// fieldValue is one template field of v, safe as part of a component.
func fieldValue(f string, it Values) string {
	var v string
	switch f {
	case "id":
		v = it.ID
	case "name":
		v = it.Name
		if v == "" {
			v = it.ID
		}
	case "ext":
		v = strings.TrimPrefix(it.Ext, ".")
		if v == "" {
			v = strings.TrimPrefix(filepath.Ext(it.Name), ".")
		}
	case "yyyy", "mm", "dd":
		if it.Content.IsZero() {
			return map[string]string{"yyyy": "0000", "mm": "00", "dd": "00"}[f]
		}
		return it.Content.Format(map[string]string{"yyyy": "2006", "mm": "01", "dd": "02"}[f])
	case "folder":
		v = it.Folder
	case "path":
		// The folder path keeps its '/': it makes the subdirectories
		// (Expand cleans each component); the root's files get none.
		var comps []string
		for _, c := range strings.Split(it.Path, "/") {
			if c = fieldValue("folder", Values{Folder: c}); c != "_" || it.Path != "" {
				comps = append(comps, c)
			}
		}
		return strings.Join(comps, "/")
	case "album":
		v = it.Album
	}
	// A value is part of one component: separators and the characters
	// Clean rejects must not survive, but dots inside are fine.
	v = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return '_'
		}
		return r
	}, v)
	if v == "" {
		return "_"
	}
	return v
}

// LocalPath joins rel under dir and checks that the result stays inside
// it: the last line of defence against a name that climbs out.
func LocalPath(dir, rel string) (string, error) {
	clean := filepath.FromSlash(rel)
	if !filepath.IsLocal(clean) {
		return "", fmt.Errorf("file name %q would leave the target directory", rel)
	}
	return filepath.Join(dir, clean), nil
}

// LinkedFolder returns the first folder of name (relative to root, in the
// OS's form) that is a symbolic link inside root, "" when none is: a
// {yyyy} folder linked to /etc must not be written through (root itself
// may be a link: the user named it). A folder that does not exist yet
// ends the check (the caller makes it).
func LinkedFolder(root *os.Root, name string) (string, error) {
	folder := filepath.Dir(name)
	if folder == "." {
		return "", nil
	}
	parts := strings.Split(folder, string(filepath.Separator))
	for i := range parts {
		sub := filepath.Join(parts[:i+1]...)
		fi, err := root.Lstat(sub)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", nil
		case err != nil:
			return "", fmt.Errorf("check the folder %s: %w", filepath.ToSlash(sub), err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return sub, nil
		}
	}
	return "", nil
}
