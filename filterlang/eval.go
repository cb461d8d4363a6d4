package filterlang

import (
	"strconv"
	"strings"
	"time"
)

// Doc gives the evaluator one node's values. field is a node JSON path:
// "id", "name", "kind", "status", "isRoot", "parents", "labels",
// "description", "createdDate", "modifiedDate", "contentProperties.size",
// "contentProperties.contentType", "contentProperties.md5",
// "contentProperties.contentDate", "contentProperties.extension",
// "settings.hidden", "settings.favorite", and the search facets "things",
// "people" and "location" (the node's tags). An absent or null value is nil.
// Booleans are "true" or "false", numbers decimal, dates
// "2006-01-02T15:04:05.000Z" (UTC). The evaluator derives type and the time
// parts itself, from contentType, kind and contentDate.
type Doc interface {
	Values(field string) []string
}

// Match reports whether the node doc satisfies the filter. It selects
// exactly the nodes that SQL selects from a table holding the same nodes
// (see the package comment for the semantics). It does not modify the
// filter and is safe for concurrent use.
func (f *Filter) Match(doc Doc) bool { return matchOr(f.Root, doc) }

func matchOr(o *Or, doc Doc) bool {
	for _, a := range o.And {
		if matchAnd(a, doc) {
			return true
		}
	}
	return false
}

func matchAnd(a *And, doc Doc) bool {
	for _, n := range a.Not {
		var ok bool
		if n.Group != nil {
			ok = matchOr(n.Group, doc)
		} else {
			t := n.Term
			ok = matchOperand(t.info, t.Operand, doc)
		}
		if ok == n.Negated {
			return false
		}
	}
	return true
}

func matchOperand(f *field, o *Operand, doc Doc) bool {
	switch {
	case o.Group != nil:
		for _, a := range o.Group.And {
			all := true
			for _, n := range a.Not {
				if matchOperand(f, n.Operand, doc) == n.Negated {
					all = false
					break
				}
			}
			if all {
				return true
			}
		}
		return false
	case o.Range != nil:
		return matchRange(f, o.Range, doc)
	default:
		return matchValue(f, o.Value, doc)
	}
}

func matchValue(f *field, v *Value, doc Doc) bool {
	if f.kind == kType {
		switch v.val.str {
		case "ALBUMS":
			return contains(doc.Values("kind"), "VISUAL_COLLECTION")
		case "VIDEOS":
			return anyPrefix(doc.Values("contentProperties.contentType"), "video/")
		default:
			return anyPrefix(doc.Values("contentProperties.contentType"), "image/")
		}
	}
	vals := doc.Values(f.path)
	want := v.val.str
	if v.Prefix {
		if f.kind == kName {
			for _, s := range vals {
				if strings.HasPrefix(strings.ToLower(s), want) {
					return true
				}
			}
			return false
		}
		return anyPrefix(vals, want)
	}
	switch f.kind {
	case kName:
		for _, s := range vals {
			if strings.ToLower(s) == want {
				return true
			}
		}
		return false
	case kBool:
		return (len(vals) > 0 && vals[0] == "true") == v.val.b
	case kInt:
		for _, s := range vals {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n == v.val.num {
				return true
			}
		}
		return false
	case kDate:
		for _, s := range vals {
			if us, ok := parseDocDate(s); ok && us == v.val.num {
				return true
			}
		}
		return false
	case kTimePart:
		for _, s := range vals {
			if us, ok := parseDocDate(s); ok && timePart(f.name, us) == v.val.num {
				return true
			}
		}
		return false
	}
	// kString, kList, kFacet: an exact, case-sensitive member.
	return contains(vals, want)
}

func matchRange(f *field, r *Range, doc Doc) bool {
	for _, s := range doc.Values(f.path) {
		var n int64
		var ok bool
		if f.kind == kDate {
			n, ok = parseDocDate(s)
		} else {
			v, err := strconv.ParseInt(s, 10, 64)
			n, ok = v, err == nil
		}
		if !ok {
			continue
		}
		if r.Low != nil && (n < r.Low.val.num || n == r.Low.val.num && !r.LowInclusive) {
			continue
		}
		if r.High != nil && (n > r.High.val.num || n == r.High.val.num && !r.HighInclusive) {
			continue
		}
		return true
	}
	return false
}

func contains(vals []string, want string) bool {
	for _, s := range vals {
		if s == want {
			return true
		}
	}
	return false
}

func anyPrefix(vals []string, prefix string) bool {
	for _, s := range vals {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// parseDocDate reads a Doc date as Unix microseconds (UTC).
func parseDocDate(s string) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	return t.UnixMicro(), true
}

func timePart(name string, us int64) int64 {
	t := time.UnixMicro(us).UTC()
	switch name {
	case "timeYear":
		return int64(t.Year())
	case "timeMonth":
		return int64(t.Month())
	}
	return int64(t.Day())
}
