package fetch

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Region says where a session's requests go.
//
// MetadataURL is the base of the drive/v1 API (paths such as "/nodes" are
// appended). UploadURL is the base of the content host: uploads go to
// UploadURL+"/cdproxy/nodes" (and "/v2/upload"), content to
// UploadURL+"/cdproxy/nodes/{id}/content". ThumbnailURL is the base of the
// thumbnail host: ThumbnailURL+"/v1/thumbnail/{id}". UploadURL is "" for a
// country whose content host is not known (see RegionFor).
type Region struct {
	TLD    string // "com", "co.uk", "co.jp", ...
	Domain string // "amazon.com", "amazon.co.uk", ...
	Name   string // "NA", "EU", "FE"; "" when unknown
	// Suffix is the cookie suffix of the session ("main", "acbuk").
	Suffix string

	MetadataURL, UploadURL, ThumbnailURL string
}

// country is one row of API.md §4.2's mapping from the cookie suffix to the
// web domain and the content region.
type country struct {
	tld, region string
}

// countries maps the <cc> of ubid-acb<cc>/at-acb<cc> to its web domain and
// region (API.md §4.2 "Recommended mapping"). The code is the country code,
// not the domain suffix: uk → co.uk, jp → co.jp.
var countries = map[string]country{
	"main": {"com", "NA"},
	"ca":   {"ca", "NA"},
	"mx":   {"com.mx", "NA"},
	"br":   {"com.br", "NA"},
	"uk":   {"co.uk", "EU"},
	"jp":   {"co.jp", "FE"},
	"au":   {"com.au", "FE"}, // EXT maps AU to the JP region
	// Amazon's own retail domains; the content region is not known
	// (API.md §4.2 "in, sg, … unknown"): metadata works, uploads need
	// --endpoint.
	"in": {"in", ""},
	"sg": {"sg", ""},
}

// euCountries is UP's EUROPEAN_TLD_MAP (API.md §4.2): these codes are their
// own web domain and use the EU content host.
var euCountries = []string{
	"at", "be", "bg", "hr", "ch", "cy", "cz", "dk", "ee", "fi", "fr", "de", "gr", "hu", "is", "ie",
	"it", "li", "lv", "lt", "lu", "mt", "no", "nl", "pl", "pt", "ro", "sk", "si", "es", "se",
}

func init() {
	for _, cc := range euCountries {
		countries[cc] = country{cc, "EU"}
	}
}

// regionHosts are the content hosts per region (API.md §1.1).
var regionHosts = map[string]string{
	"NA": "https://content-na.drive.amazonaws.com",
	"EU": "https://content-eu.drive.amazonaws.com",
	"FE": "https://content-jp.drive.amazonaws.com", // inferred from EXT and observed templinks
}

// RegionFor derives the Amazon site from the cookie names (ubid-main/at-main
// → amazon.com, ubid-acb<cc>/at-acb<cc> → the country's domain).
// tldOverride ("co.uk", "amazon.de", ".com") forces the domain instead; it
// also picks the session when the cookies hold several sites. An unknown
// country is an error naming the fix, never a www.amazon.<garbage> URL.
func RegionFor(c Cookies, tldOverride string) (Region, error) {
	sites := c.sites()
	if len(sites) == 0 {
		if err := c.validate(); err != nil {
			return Region{}, err
		}
	}
	tld := normaliseTLD(tldOverride)
	if tld != "" {
		if !validTLD(tld) {
			return Region{}, fmt.Errorf("--tld %q is not a domain suffix: use the part after www.amazon. (com, ca, co.uk, de, co.jp, ...)", tldOverride)
		}
		r := Region{TLD: tld, Domain: "amazon." + tld}
		for cc, ct := range countries {
			if ct.tld == tld {
				r.Name = ct.region
				if cc == "main" {
					r.Suffix = "main"
				} else {
					r.Suffix = "acb" + cc
				}
			}
		}
		// Prefer the session whose suffix matches the forced domain.
		if r.Suffix == "" || !contains(sites, r.Suffix) {
			if len(sites) == 1 {
				r.Suffix = sites[0]
			} else if len(sites) > 1 {
				return Region{}, fmt.Errorf("the cookies hold sessions for several sites (%s) and none matches --tld %s: keep only the cookies of amazon.%s", strings.Join(sites, ", "), tld, tld)
			}
		}
		r.fillURLs()
		return r, nil
	}
	if len(sites) > 1 {
		return Region{}, fmt.Errorf("the cookies hold sessions for several sites (%s): pass --tld to choose one (e.g. --tld com)", strings.Join(sites, ", "))
	}
	suffix := sites[0]
	cc := "main"
	if suffix != "main" {
		cc = strings.TrimPrefix(suffix, "acb")
	}
	ct, ok := countries[cc]
	if !ok {
		return Region{}, fmt.Errorf("unknown Amazon country %q (from the cookie at-%s): pass --tld with the domain you log in at, e.g. --tld co.uk for www.amazon.co.uk", cc, suffix)
	}
	r := Region{TLD: ct.tld, Domain: "amazon." + ct.tld, Name: ct.region, Suffix: suffix}
	r.fillURLs()
	return r, nil
}

func (r *Region) fillURLs() {
	r.MetadataURL = "https://www." + r.Domain + "/drive/v1"
	r.UploadURL = regionHosts[r.Name]
	r.ThumbnailURL = "https://thumbnails-photos." + r.Domain
}

// withEndpoint points every host at one base URL (--endpoint): metadata at
// URL/drive/v1, uploads at URL/cdproxy/nodes, thumbnails at URL/v1/thumbnail.
func (r Region) withEndpoint(endpoint string) (Region, error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Region{}, fmt.Errorf("--endpoint %q is not an http(s) URL: pass e.g. http://127.0.0.1:8080", endpoint)
	}
	u.RawQuery, u.Fragment = "", ""
	base := strings.TrimRight(u.String(), "/")
	r.MetadataURL = base + "/drive/v1"
	r.UploadURL = base
	r.ThumbnailURL = base
	return r, nil
}

func normaliseTLD(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "https://")
	s = strings.TrimPrefix(s, "www.")
	s = strings.TrimPrefix(s, "amazon")
	return strings.Trim(s, "./")
}

func validTLD(s string) bool {
	if s == "" || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '.' {
			return false
		}
	}
	return true
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// KnownCountries lists the cookie country codes RegionFor maps, sorted
// ("main" is amazon.com). For help texts and tests.
func KnownCountries() []string {
	out := make([]string, 0, len(countries))
	for cc := range countries {
		out = append(out, cc)
	}
	sort.Strings(out)
	return out
}

// errNoUploadHost is returned for content requests in a region whose
// content host is not known.
var errNoUploadHost = errors.New("no upload host is known for this Amazon site: pass --endpoint with the content host, or --tld with a site of a known region")
