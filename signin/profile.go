package signin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Browsers are the names --browser takes.
var Browsers = []string{"firefox", "chromium", "chrome", "brave", "edge"}

// ErrUnsupported is returned on a system whose browser profiles apsql does
// not know (only Linux and macOS are read).
var ErrUnsupported = errors.New("apsql login reads browser profiles on Linux and macOS only: export the Amazon cookies with a cookie extension into the cookies file instead")

// Env is what the package reads of its surroundings; the zero value is
// this machine. Tests set each field.
type Env struct {
	Home      string           // "" is os.UserHomeDir
	ConfigDir string           // "" is $XDG_CONFIG_HOME, else Home/.config (Linux)
	GOOS      string           // "" is runtime.GOOS
	Now       func() time.Time // nil is time.Now
}

func (e Env) home() string {
	if e.Home != "" {
		return e.Home
	}
	h, _ := os.UserHomeDir()
	return h
}

func (e Env) goos() string {
	if e.GOOS != "" {
		return e.GOOS
	}
	return runtime.GOOS
}

func (e Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e Env) configDir() string {
	if e.ConfigDir != "" {
		return e.ConfigDir
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" && e.Home == "" {
		return d
	}
	return filepath.Join(e.home(), ".config")
}

// Profile is one browser profile with a cookie database.
type Profile struct {
	Browser string // one of Browsers
	Name    string // the profile's folder: "default-release", "Default", "Profile 1"
	Dir     string // the profile's folder
	DB      string // its cookie database: cookies.sqlite, Cookies or Network/Cookies
}

func (p Profile) String() string {
	return fmt.Sprintf("%s profile %q (%s)", BrowserTitle(p.Browser), p.Name, p.Dir)
}

func (p Profile) chromium() bool { return p.Browser != "firefox" }

// BrowserTitle is how a browser of Browsers is spelled in messages ("Firefox").
func BrowserTitle(b string) string {
	switch b {
	case "firefox":
		return "Firefox"
	case "chromium":
		return "Chromium"
	case "chrome":
		return "Chrome"
	case "brave":
		return "Brave"
	case "edge":
		return "Edge"
	}
	return b
}

// roots returns the folders that hold a browser's profiles.
func (e Env) roots(browser string) ([]string, error) {
	h := e.home()
	switch e.goos() {
	case "linux":
		c := e.configDir()
		switch browser {
		case "firefox":
			return []string{
				filepath.Join(h, ".mozilla", "firefox"),
				filepath.Join(c, "mozilla", "firefox"),
				filepath.Join(h, "snap", "firefox", "common", ".mozilla", "firefox"),
				filepath.Join(h, ".var", "app", "org.mozilla.firefox", ".mozilla", "firefox"),
			}, nil
		case "chromium":
			return []string{filepath.Join(c, "chromium"), filepath.Join(h, "snap", "chromium", "common", "chromium")}, nil
		case "chrome":
			return []string{filepath.Join(c, "google-chrome")}, nil
		case "brave":
			return []string{filepath.Join(c, "BraveSoftware", "Brave-Browser")}, nil
		case "edge":
			return []string{filepath.Join(c, "microsoft-edge")}, nil
		}
	case "darwin":
		as := filepath.Join(h, "Library", "Application Support")
		switch browser {
		case "firefox":
			return []string{filepath.Join(as, "Firefox", "Profiles")}, nil
		case "chromium":
			return []string{filepath.Join(as, "Chromium")}, nil
		case "chrome":
			return []string{filepath.Join(as, "Google", "Chrome")}, nil
		case "brave":
			return []string{filepath.Join(as, "BraveSoftware", "Brave-Browser")}, nil
		case "edge":
			return []string{filepath.Join(as, "Microsoft Edge")}, nil
		}
	default:
		return nil, ErrUnsupported
	}
	return nil, fmt.Errorf("unknown browser %q: use one of %s", browser, strings.Join(Browsers, ", "))
}

// FindProfiles lists the profiles with a cookie database of the browser
// ("" for every browser of Browsers), sorted by browser and name.
func FindProfiles(env Env, browser string) ([]Profile, error) {
	bs := Browsers
	if browser != "" {
		bs = []string{browser}
	}
	var out []Profile
	seen := map[string]bool{}
	for _, b := range bs {
		roots, err := env.roots(b)
		if err != nil {
			return nil, err
		}
		for _, r := range roots {
			var pats []string
			if b == "firefox" {
				pats = []string{filepath.Join(r, "*", "cookies.sqlite")}
				for _, dir := range firefoxAbsolute(r) {
					pats = append(pats, filepath.Join(dir, "cookies.sqlite"))
				}
			} else {
				pats = []string{filepath.Join(r, "*", "Network", "Cookies"), filepath.Join(r, "*", "Cookies")}
			}
			for _, pat := range pats {
				dbs, _ := filepath.Glob(pat)
				for _, db := range dbs {
					dir := filepath.Dir(db)
					if filepath.Base(dir) == "Network" {
						dir = filepath.Dir(dir)
					}
					if seen[dir] {
						continue // Network/Cookies wins over an old Cookies beside it
					}
					seen[dir] = true
					out = append(out, Profile{Browser: b, Name: filepath.Base(dir), Dir: dir, DB: db})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Browser != out[j].Browser {
			return out[i].Browser < out[j].Browser
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// firefoxAbsolute returns the profile folders that root's profiles.ini
// keeps elsewhere (IsRelative=0, Path=/somewhere/else).
func firefoxAbsolute(root string) []string {
	data, err := os.ReadFile(filepath.Join(root, "profiles.ini"))
	if err != nil {
		return nil
	}
	var out []string
	relative, path := true, ""
	flush := func() {
		if !relative && filepath.IsAbs(path) {
			out = append(out, path)
		}
		relative, path = true, ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "["):
			flush()
		case line == "IsRelative=0":
			relative = false
		case strings.HasPrefix(line, "Path="):
			path = strings.TrimPrefix(line, "Path=")
		}
	}
	flush()
	return out
}

// ProfileAt returns the profile at path: a profile folder, or its cookie
// database itself. browser "" is taken from the file (cookies.sqlite is
// Firefox's) and the path (google-chrome, BraveSoftware, ...).
func ProfileAt(path, browser string) (Profile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Profile{}, fmt.Errorf("--profile %s: %w", path, err)
	}
	db, dir := path, filepath.Dir(path)
	if fi.IsDir() {
		dir = path
		db = ""
		for _, name := range []string{"cookies.sqlite", filepath.Join("Network", "Cookies"), "Cookies"} {
			if st, err := os.Stat(filepath.Join(path, name)); err == nil && st.Mode().IsRegular() {
				db = filepath.Join(path, name)
				break
			}
		}
		if db == "" {
			return Profile{}, fmt.Errorf("--profile %s holds no cookie database (cookies.sqlite for Firefox, Cookies or Network/Cookies for Chromium, Chrome, Brave, Edge): give the profile's folder", path)
		}
	} else if filepath.Base(dir) == "Network" {
		dir = filepath.Dir(dir)
	}
	firefox := filepath.Base(db) == "cookies.sqlite"
	switch {
	case browser == "":
		browser = guessBrowser(db, firefox)
	case browser == "firefox" && !firefox:
		return Profile{}, fmt.Errorf("--profile %s: %s is not Firefox's cookies.sqlite: leave out --browser firefox, or give a Firefox profile", path, filepath.Base(db))
	case browser != "firefox" && firefox:
		return Profile{}, fmt.Errorf("--profile %s is a Firefox profile (cookies.sqlite), not %s: pass --browser firefox", path, BrowserTitle(browser))
	}
	return Profile{Browser: browser, Name: filepath.Base(dir), Dir: dir, DB: db}, nil
}

// guessBrowser names the Chromium-family browser of a database from its
// path; Chromium when the path does not tell.
func guessBrowser(db string, firefox bool) string {
	if firefox {
		return "firefox"
	}
	p := strings.ToLower(filepath.ToSlash(db))
	switch {
	case strings.Contains(p, "google-chrome") || strings.Contains(p, "google/chrome"):
		return "chrome"
	case strings.Contains(p, "bravesoftware"):
		return "brave"
	case strings.Contains(p, "microsoft-edge") || strings.Contains(p, "microsoft edge"):
		return "edge"
	}
	return "chromium"
}
