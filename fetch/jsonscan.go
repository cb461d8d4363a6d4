package fetch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small, allocation-free JSON scanner over a complete page body: the hot
// path of a sync decodes ~2 KB nodes at hundreds of thousands per second,
// where encoding/json manages ~40k per core. It validates structure
// (brackets, strings, literals) enough that what it copies into the raw
// column is the JSON it was given.

// syntaxError is a malformed page; off is the byte offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.off, e.msg)
}

func errAt(off int, format string, args ...any) error {
	return &syntaxError{off: off, msg: fmt.Sprintf(format, args...)}
}

var errEOF = errors.New("unexpected end of JSON")

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString reads the string whose opening quote is at data[i]; it returns
// the index after the closing quote and whether the string holds escapes.
// A node has ~100 short strings: one pass that tests 8 bytes at a time for
// '"' and '\\' (SWAR) beats two IndexByte calls per string, and the word
// that holds one says where (its lowest flagged byte is exact), so the
// bytes before it are not looked at again one by one.
func scanString(data []byte, i int) (end int, escaped bool, err error) {
	j := i + 1
	for {
		for j+8 <= len(data) {
			w := binary.LittleEndian.Uint64(data[j:])
			m := hasZeroByte(w^quotes) | hasZeroByte(w^backslashes)
			if m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		if j >= len(data) {
			break
		}
		switch data[j] {
		case '"':
			return j + 1, escaped, nil
		case '\\':
			escaped = true
			j += 2
			continue
		}
		j++ // the last 7 bytes, one at a time
	}
	return 0, false, errAt(i, "unterminated string")
}

const (
	quotes      = 0x2222222222222222 // '"' in every byte
	backslashes = 0x5c5c5c5c5c5c5c5c // '\\' in every byte
)

// hasZeroByte is non-zero when one of v's bytes is zero.
func hasZeroByte(v uint64) uint64 {
	return (v - 0x0101010101010101) & ^v & 0x8080808080808080
}

// skipValue returns the index after the JSON value starting at data[i].
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errEOF
	}
	switch c := data[i]; {
	case c == '"':
		end, _, err := scanString(data, i)
		return end, err
	case c == '{' || c == '[':
		return skipContainer(data, i)
	case c == 't':
		return literal(data, i, "true")
	case c == 'f':
		return literal(data, i, "false")
	case c == 'n':
		return literal(data, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(data) {
			c := data[j]
			if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
				j++
				continue
			}
			break
		}
		return j, nil
	default:
		return 0, errAt(i, "unexpected %q", c)
	}
}

func literal(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return 0, errAt(i, "invalid literal")
	}
	return i + len(lit), nil
}

// skipContainer skips an object or array, checking that brackets match.
func skipContainer(data []byte, i int) (int, error) {
	var stack [64]byte
	depth := 0
	j := i
	for j < len(data) {
		switch c := data[j]; c {
		case '"':
			end, _, err := scanString(data, j)
			if err != nil {
				return 0, err
			}
			j = end
			continue
		case '{', '[':
			if depth == len(stack) {
				return 0, errAt(j, "nesting deeper than %d", len(stack))
			}
			stack[depth] = c
			depth++
		case '}', ']':
			if depth == 0 || (c == '}') != (stack[depth-1] == '{') {
				return 0, errAt(j, "mismatched %q", c)
			}
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
		j++
	}
	return 0, errAt(i, "unterminated %q", data[i])
}

// unescape appends the decoded contents of the JSON string s (without its
// quotes) to dst.
func unescape(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			k := bytes.IndexByte(s[i:], '\\')
			if k < 0 {
				return append(dst, s[i:]...), nil
			}
			dst = append(dst, s[i:i+k]...)
			i += k
			continue
		}
		if i+1 >= len(s) {
			return dst, errors.New("truncated escape")
		}
		switch s[i+1] {
		case '"', '\\', '/':
			dst = append(dst, s[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return dst, errors.New("bad \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, fmt.Errorf("bad escape \\%c", s[i+1])
		}
		i += 2
	}
	return dst, nil
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// parseInt parses a JSON number that must be an integer (an integral float
// such as 3.0 or 1e3 is accepted).
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := b[0] == '-'
	s := b
	if neg {
		s = b[1:]
	}
	if len(s) == 0 || len(s) > 18 {
		return parseIntSlow(b)
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return parseIntSlow(b)
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseIntSlow parses what parseInt's fast path does not: 19-digit and
// longer integers exactly, and integral floats (3.0, 1e3) within int64.
func parseIntSlow(b []byte) (int64, bool) {
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(b), 64)
	// -2^63 is exact in a float64 and fits; 2^63 does not.
	if err != nil || f != math.Trunc(f) || f >= 1<<63 || f < -(1<<63) {
		return 0, false
	}
	return int64(f), true
}

func parseFloat(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	return f, err == nil
}

// parseTimestamp parses Amazon's ISO-8601 dates ("2019-07-06T18:22:00.000Z",
// any number of fraction digits, or a ±hh:mm offset) into microseconds since
// the Unix epoch, UTC.
func parseTimestamp(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	i := 19
	var micros int64
	if b[i] == '.' {
		i++
		scale := int64(100000)
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			micros += int64(b[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return 0, false
		}
	}
	if i >= len(b) {
		return 0, false
	}
	var offset int64
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return 0, false
		}
		oh, okh := digits(b[i+1 : i+3])
		om, okm := digits(b[i+4 : i+6])
		if !okh || !okm {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return 0, false
	}
	if i != len(b) {
		return 0, false
	}
	days := daysFromCivil(int64(year), int64(month), int64(day))
	secs := days*86400 + int64(hour*3600+minute*60+sec) - offset
	return secs*1e6 + micros, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysFromCivil is the number of days since 1970-01-01 of a proleptic
// Gregorian date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
