package emulator

import (
	"fmt"
	"strconv"
)

// What the synthetic library gives BACKUP's sidecars to carry besides
// dates, favourites, albums and people: GPS coordinates for the nodes that
// have a place (contentProperties.image.location and video.location, ISO
// 6709 as the service writes it: "+49.2827-123.1207/") and a description
// on about one node in five of those. Both derive from the node's index
// (no draw from the generator's random stream, so the rest of the library
// is unchanged); a description set by PATCH replaces the synthetic one.

// placeCoords are the places' coordinates (degrees), by places index.
var placeCoords = [][2]float64{
	{49.2827, -123.1207}, {43.6532, -79.3832}, {45.5019, -73.5674}, {37.7749, -122.4194},
	{34.0522, -118.2437}, {40.7128, -74.0060}, {47.6062, -122.3321}, {21.3069, -157.8583},
	{39.7392, -104.9903}, {21.1619, -86.8515}, {51.5072, -0.1276}, {48.8566, 2.3522},
	{52.5200, 13.4050}, {41.9028, 12.4964}, {41.3874, 2.1686}, {35.6762, 139.6503},
	{-33.8688, 151.2093}, {64.1466, -21.9426},
}

// nodeMix is a deterministic hash of a node index.
func nodeMix(i int32) uint64 {
	z := uint64(i) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// location is node i's GPS position in ISO 6709, "" without a place: the
// place's centre moved by up to ±0.05° in each direction.
func (l *library) location(i int32) string {
	n := &l.nodes[i]
	if n.loc == 0 || int(n.loc) > len(placeCoords) {
		return ""
	}
	c := placeCoords[n.loc-1]
	h := nodeMix(i)
	lat := c[0] + (float64(h&0xffff)/0xffff-0.5)*0.1
	lon := c[1] + (float64(h>>16&0xffff)/0xffff-0.5)*0.1
	return fmt.Sprintf("%+.4f%+.4f/", lat, lon)
}

// descriptionOf is node i's description: the one PATCH set, else the
// synthetic one of about one located media node in five.
func (l *library) descriptionOf(i int32) string {
	if e := l.extra[i]; e != nil && e.descSet {
		return e.description
	}
	n := &l.nodes[i]
	if n.loc == 0 || !n.isMedia() || nodeMix(i)>>40%5 != 0 {
		return ""
	}
	p := places[n.loc-1]
	return [...]string{"Day out in ", "Evening walk, ", "With friends in ", "Trip to ", "Morning in "}[nodeMix(i)>>48%5] + p.city + ", " + strconv.Itoa(1+int(nodeMix(i)>>52%28)) + " photos that day"
}
