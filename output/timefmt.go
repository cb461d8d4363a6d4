package output

import "math"

// Dates and times are formatted by hand rather than through time.Time.Format:
// the text is appended to the output buffer without allocating, and values
// outside time.Time's comfortable range (DuckDB allows years far beyond 9999
// and BC dates) still print.

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse).
func civil(days int64) (year int64, month, day int) {
	z := days + 719468
	era := z
	if z < 0 {
		era = z - 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, int(m), int(d)
}

// append2 appends v (0..99) as two digits.
func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

// appendPadded appends v with at least width digits, zero padded.
func appendPadded(b []byte, v int64, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v > 0 || width > 0 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	return append(b, tmp[i:]...)
}

// appendDate appends days since the epoch as YYYY-MM-DD, the way DuckDB
// prints dates: years before 1 AD get a " (BC)" suffix.
func appendDate(b []byte, days int64) []byte {
	y, m, d := civil(days)
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	b = appendPadded(b, y, 4)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	b = append2(b, d)
	if bc {
		b = append(b, " (BC)"...)
	}
	return b
}

// appendClock appends a time of day given in nanoseconds since midnight as
// HH:MM:SS, with a fraction only when it is not zero and without trailing
// zeros (18:22:00, 18:22:00.5, 18:22:00.000123).
func appendClock(b []byte, nanos int64) []byte {
	secs := nanos / 1e9
	frac := nanos % 1e9
	h := secs / 3600
	b = appendPadded(b, h, 2)
	b = append(b, ':')
	b = append2(b, int(secs/60%60))
	b = append(b, ':')
	b = append2(b, int(secs%60))
	return appendFraction(b, frac)
}

// appendFraction appends ".fff" for a nonzero count of nanoseconds, trimmed
// of trailing zeros.
func appendFraction(b []byte, frac int64) []byte {
	if frac == 0 {
		return b
	}
	digits := 9
	for frac%10 == 0 {
		frac /= 10
		digits--
	}
	b = append(b, '.')
	return appendPadded(b, frac, digits)
}

// unitNanos is the number of nanoseconds in one tick of each Arrow time unit
// (arrow.Second, Millisecond, Microsecond, Nanosecond).
var unitNanos = [4]int64{1e9, 1e6, 1e3, 1}

// appendTimestamp appends a timestamp given in ticks of unit (a unitNanos
// entry) since the epoch, shifted by offset seconds, as
// "YYYY-MM-DD HH:MM:SS[.fff]". DuckDB's infinities print as infinity and
// -infinity.
func appendTimestamp(b []byte, v int64, unit int64, offset int64) []byte {
	switch v {
	case math.MaxInt64:
		return append(b, "infinity"...)
	case -math.MaxInt64:
		return append(b, "-infinity"...)
	}
	perDay := 86400 * (1e9 / unit)
	days := v / perDay
	rem := v % perDay
	if rem < 0 {
		rem += perDay
		days--
	}
	nanos := rem*unit + offset*1e9
	if nanos < 0 {
		nanos += 86400e9
		days--
	} else if nanos >= 86400e9 {
		nanos -= 86400e9
		days++
	}
	b = appendDate(b, days)
	b = append(b, ' ')
	return appendClock(b, nanos)
}

// appendOffset appends a UTC offset in seconds as +HH or +HH:MM, like
// DuckDB's TIMESTAMPTZ text.
func appendOffset(b []byte, offset int) []byte {
	sign := byte('+')
	if offset < 0 {
		sign = '-'
		offset = -offset
	}
	b = append(b, sign)
	b = append2(b, offset/3600)
	if m := offset / 60 % 60; m != 0 {
		b = append(b, ':')
		b = append2(b, m)
	}
	return b
}

// appendInterval appends an interval the way DuckDB prints one:
// "1 year 2 months 3 days 04:05:06.5", leaving out zero parts, "00:00:00"
// when everything is zero.
func appendInterval(b []byte, months, days int64, nanos int64) []byte {
	start := len(b)
	part := func(n int64, one, many string) {
		if n == 0 {
			return
		}
		if len(b) > start {
			b = append(b, ' ')
		}
		b = appendInt(b, n)
		if n == 1 || n == -1 {
			b = append(b, one...)
		} else {
			b = append(b, many...)
		}
	}
	part(months/12, " year", " years")
	part(months%12, " month", " months")
	part(days, " day", " days")
	if nanos != 0 || len(b) == start {
		if len(b) > start {
			b = append(b, ' ')
		}
		if nanos < 0 {
			b = append(b, '-')
			nanos = -nanos
		}
		b = appendClock(b, nanos)
	}
	return b
}
