package output

import (
	"fmt"
	"strconv"

	"github.com/apsql/apsql/model"
)

// Thousands writes n with comma separators: 1234567 → "1,234,567".
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	b := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		b = append(b, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// Bytes writes a size in decimal units, as storage is sold and as the
// confirmation prompts show it: 999 B, 1.5 kB, 3.2 GB.
func Bytes(n int64) string {
	const unit = 1000
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; (m >= unit || m <= -unit) && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// Human is the renderer of lines for people (engine.Session.Say): a
// model.Count with Thousands, a model.Size with Bytes.
func Human(v any) (string, bool) {
	switch n := v.(type) {
	case model.Count:
		return Thousands(int64(n)), true
	case model.Size:
		return Bytes(int64(n)), true
	}
	return "", false
}
