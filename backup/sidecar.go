package backup

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sidecarNames are the sidecar files of the file at rel: "IMG_1.jpg.xmp"
// and "IMG_1.jpg.json" (the full name, so that a Live Photo's still and
// video never share one; immich-go, darktable and digiKam read this form,
// and Google Takeout writes it).
func sidecarNames(rel, kind string) []string {
	switch kind {
	case "xmp":
		return []string{rel + ".xmp"}
	case "json":
		return []string{rel + ".json"}
	case "both":
		return []string{rel + ".xmp", rel + ".json"}
	}
	return nil
}

// sidecars returns the sidecar contents of n for kind, in the order of
// sidecarNames.
func sidecars(n *node, kind string) [][]byte {
	switch kind {
	case "xmp":
		return [][]byte{xmpSidecar(n)}
	case "json":
		return [][]byte{takeoutSidecar(n)}
	case "both":
		return [][]byte{xmpSidecar(n), takeoutSidecar(n)}
	}
	return nil
}

// metaDigest names the content of n's sidecars, so that a re-run rewrites
// only those whose metadata changed.
func metaDigest(kind string, bodies [][]byte) string {
	h := fnv.New64a()
	h.Write([]byte(kind))
	for _, b := range bodies {
		h.Write([]byte{0})
		h.Write(b)
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// sidecarsStale reports whether n's sidecars must be (re)written: their
// metadata changed since the manifest's record, or one is missing.
func (r *runState) sidecarsStale(n *node, rec *record) bool {
	if metaDigest(r.o.sidecar, sidecars(n, r.o.sidecar)) != rec.Meta {
		return true
	}
	for _, name := range sidecarNames(rec.Path, r.o.sidecar) {
		if fi, err := r.root.Lstat(filepath.FromSlash(name)); err != nil || !fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// writeSidecars writes n's sidecars beside rel, each through a temporary
// file renamed into place, and returns their digest.
func (r *runState) writeSidecars(n *node, rel string) (string, error) {
	bodies := sidecars(n, r.o.sidecar)
	for i, name := range sidecarNames(rel, r.o.sidecar) {
		// Plain paths, not the root: the file's folders were checked for
		// links before it was fetched (noLinkedFolders), O_NOFOLLOW and
		// O_EXCL keep the temporary file from following a planted link,
		// and a rename replaces a link rather than writing through it. A
		// root resolves every component again: a third of the CPU of
		// sidecars.
		local := filepath.Join(r.o.dir, filepath.FromSlash(name))
		if fi, err := os.Lstat(local); err == nil && !fi.Mode().IsRegular() {
			return "", fmt.Errorf("%s exists and is not a regular file; move it away", name)
		}
		tmp := filepath.Join(filepath.Dir(local), "."+filepath.Base(local)+".tmp")
		_ = os.Remove(tmp)
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
		if err != nil {
			return "", err
		}
		_, err = f.Write(bodies[i])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil && !n.Content.IsZero() {
			err = os.Chtimes(tmp, time.Time{}, n.Content)
		}
		if err == nil {
			err = os.Rename(tmp, local)
		}
		if err != nil {
			_ = os.Remove(tmp)
			return "", err
		}
	}
	return metaDigest(r.o.sidecar, bodies), nil
}

var errNoLocation = errors.New("no location")

// parseLocation reads a node's location: ISO 6709 ("+49.2827-123.1207/",
// as the service writes it for videos) or "lat,lon".
func parseLocation(s string) (lat, lon float64, err error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "/"))
	if s == "" {
		return 0, 0, errNoLocation
	}
	if a, b, ok := strings.Cut(s, ","); ok {
		lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
		lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("location %q", s)
		}
		return lat, lon, checkLatLon(lat, lon, s)
	}
	// ISO 6709: ±DD.DDDD±DDD.DDDD[±AAA]
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return 0, 0, fmt.Errorf("location %q", s)
	}
	i := strings.IndexAny(s[1:], "+-")
	if i < 0 {
		return 0, 0, fmt.Errorf("location %q", s)
	}
	rest := s[1+i:]
	j := strings.IndexAny(rest[1:], "+-")
	if j >= 0 {
		rest = rest[:1+j] // drop the altitude
	}
	lat, err1 := strconv.ParseFloat(s[:1+i], 64)
	lon, err2 := strconv.ParseFloat(rest, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("location %q", s)
	}
	return lat, lon, checkLatLon(lat, lon, s)
}

func checkLatLon(lat, lon float64, s string) error {
	if math.Abs(lat) > 90 || math.Abs(lon) > 180 || math.IsNaN(lat) || math.IsNaN(lon) {
		return fmt.Errorf("location %q out of range", s)
	}
	return nil
}

// xmpCoord writes a coordinate as XMP wants it: "DDD,MM.mmmmmmK".
func xmpCoord(v float64, pos, neg byte) string {
	ref := pos
	if v < 0 {
		ref, v = neg, -v
	}
	deg := math.Floor(v)
	min := (v - deg) * 60
	return fmt.Sprintf("%d,%.6f%c", int(deg), min, ref)
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// hierarchy makes one component of a hierarchical keyword: the separators
// of digiKam ('/') and Lightroom ('|') become '_'.
func hierarchy(s string) string {
	return strings.NewReplacer("/", "_", "|", "_").Replace(s)
}

// keywords are n's hierarchical keywords: Albums/…, People/…, Things/…,
// Labels/…, as (top, leaf) pairs.
func keywords(n *node) [][2]string {
	var out [][2]string
	for _, g := range []struct {
		top  string
		vals []string
	}{{"Albums", n.Albums}, {"People", n.People}, {"Things", n.Things}, {"Labels", n.Labels}} {
		for _, v := range g.vals {
			out = append(out, [2]string{g.top, v})
		}
	}
	return out
}

// xmpSidecar is n's XMP sidecar: dates, GPS, title and description,
// rating, flat and hierarchical keywords, and the people in it.
func xmpSidecar(n *node) []byte {
	var b strings.Builder
	b.WriteString("<?xpacket begin=\"\ufeff\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n")
	b.WriteString(`<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="apsql">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"`)
	attr := func(name, v string) { fmt.Fprintf(&b, "\n    %s=\"%s\"", name, xmlText(v)) }
	if !n.Content.IsZero() {
		// The service keeps capture times in UTC: the offset is known.
		attr("exif:DateTimeOriginal", n.Content.UTC().Format("2006-01-02T15:04:05Z07:00"))
		attr("photoshop:DateCreated", n.Content.UTC().Format("2006-01-02T15:04:05Z07:00"))
	}
	if !n.Created.IsZero() {
		attr("xmp:CreateDate", n.Created.UTC().Format("2006-01-02T15:04:05Z07:00"))
	}
	if n.Favorite {
		attr("xmp:Rating", "5")
	}
	if lat, lon, err := parseLocation(n.Location); err == nil {
		attr("exif:GPSVersionID", "2.2.0.0")
		attr("exif:GPSLatitude", xmpCoord(lat, 'N', 'S'))
		attr("exif:GPSLongitude", xmpCoord(lon, 'E', 'W'))
	}
	b.WriteString(">\n")
	alt := func(tag, v string) {
		fmt.Fprintf(&b, "   <%s><rdf:Alt><rdf:li xml:lang=\"x-default\">%s</rdf:li></rdf:Alt></%s>\n", tag, xmlText(v), tag)
	}
	list := func(tag, kind string, vals []string) {
		if len(vals) == 0 {
			return
		}
		fmt.Fprintf(&b, "   <%s><rdf:%s>", tag, kind)
		for _, v := range vals {
			fmt.Fprintf(&b, "<rdf:li>%s</rdf:li>", xmlText(v))
		}
		fmt.Fprintf(&b, "</rdf:%s></%s>\n", kind, tag)
	}
	alt("dc:title", n.Name)
	if n.Description != "" {
		alt("dc:description", n.Description)
	}
	var flat, dk, lr []string
	seen := map[string]bool{}
	for _, k := range keywords(n) {
		if !seen[k[1]] {
			seen[k[1]] = true
			flat = append(flat, k[1])
		}
		dk = append(dk, k[0]+"/"+hierarchy(k[1]))
		lr = append(lr, k[0]+"|"+hierarchy(k[1]))
	}
	list("dc:subject", "Bag", flat)
	list("digiKam:TagsList", "Seq", dk)
	list("lr:hierarchicalSubject", "Bag", lr)
	list("Iptc4xmpExt:PersonInImage", "Bag", n.People)
	b.WriteString("  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>\n")
	return []byte(b.String())
}

// takeoutTime is Google Takeout's time object.
type takeoutTime struct {
	Timestamp string `json:"timestamp"`
	Formatted string `json:"formatted"`
}

type takeoutGeo struct {
	Latitude      float64 `json:"latitude"`
	Longitude     float64 `json:"longitude"`
	Altitude      float64 `json:"altitude"`
	LatitudeSpan  float64 `json:"latitudeSpan"`
	LongitudeSpan float64 `json:"longitudeSpan"`
}

type takeoutPerson struct {
	Name string `json:"name"`
}

// takeout is Google Takeout's per-photo JSON, as immich-go and other
// Takeout importers read it. url is left out: the copy has none.
type takeout struct {
	Title          string          `json:"title"`
	Description    string          `json:"description"`
	ImageViews     string          `json:"imageViews"`
	CreationTime   *takeoutTime    `json:"creationTime,omitempty"`
	PhotoTakenTime *takeoutTime    `json:"photoTakenTime,omitempty"`
	GeoData        *takeoutGeo     `json:"geoData,omitempty"`
	GeoDataExif    *takeoutGeo     `json:"geoDataExif,omitempty"`
	People         []takeoutPerson `json:"people,omitempty"`
	Favorited      bool            `json:"favorited,omitempty"`
	AmazonID       string          `json:"amazonPhotosId"`
	Albums         []string        `json:"albums,omitempty"`
}

func takeoutStamp(t time.Time) *takeoutTime {
	if t.IsZero() {
		return nil
	}
	return &takeoutTime{Timestamp: strconv.FormatInt(t.Unix(), 10), Formatted: t.UTC().Format("Jan 2, 2006, 3:04:05 PM UTC")}
}

func takeoutSidecar(n *node) []byte {
	t := takeout{Title: n.Name, Description: n.Description, ImageViews: "0",
		CreationTime: takeoutStamp(n.Created), PhotoTakenTime: takeoutStamp(n.Content),
		Favorited: n.Favorite, AmazonID: n.ID, Albums: n.Albums}
	if lat, lon, err := parseLocation(n.Location); err == nil {
		g := &takeoutGeo{Latitude: lat, Longitude: lon}
		t.GeoData, t.GeoDataExif = g, g
	} else {
		t.GeoData = &takeoutGeo{}
	}
	for _, p := range n.People {
		t.People = append(t.People, takeoutPerson{p})
	}
	b, _ := json.MarshalIndent(t, "", "  ")
	return append(b, '\n')
}

var _ = fs.ErrNotExist
