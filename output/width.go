package output

import (
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// displayWidth is the number of terminal columns s occupies: one per byte
// for ASCII, grapheme cluster widths (East Asian wide characters count two,
// combining marks zero) otherwise.
func displayWidth(s []byte) int {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			w := 0
			state := -1
			for len(s) > 0 {
				var cw int
				_, s, cw, state = uniseg.FirstGraphemeCluster(s, state)
				w += cw
			}
			return w
		}
	}
	return len(s)
}

// truncate appends to dst the longest prefix of s, cut at a grapheme
// boundary, that fits in width columns together with ellipsis, then the
// ellipsis. It returns the new dst and the display width written.
func truncate(dst, s []byte, width int, ellipsis string) ([]byte, int) {
	room := width - displayWidth([]byte(ellipsis))
	if room < 0 {
		// Not even the ellipsis fits: cut the ellipsis itself.
		return truncate(dst, []byte(ellipsis), width, "")
	}
	w := 0
	state := -1
	for len(s) > 0 {
		var cluster []byte
		var cw int
		cluster, s, cw, state = uniseg.FirstGraphemeCluster(s, state)
		if w+cw > room {
			break
		}
		dst = append(dst, cluster...)
		w += cw
	}
	dst = append(dst, ellipsis...)
	return dst, w + displayWidth([]byte(ellipsis))
}

// escapeControl appends s to dst with control characters made visible (\n,
// \t, \r, \xHH), so a value never breaks a table row. In markdown mode a
// pipe becomes \| and a newline <br>.
func escapeControl(dst, s []byte, markdown bool) []byte {
	const upper = "0123456789ABCDEF"
	for _, c := range s {
		switch {
		case c == '|' && markdown:
			dst = append(dst, '\\', '|')
		case c == '\n' && markdown:
			dst = append(dst, "<br>"...)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'x', upper[c>>4], upper[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// needsEscape reports whether escapeControl would change s.
func needsEscape(s []byte, markdown bool) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (markdown && c == '|') {
			return true
		}
	}
	return false
}
