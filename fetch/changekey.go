package fetch

import (
	"context"
	"encoding/binary"
	"net/url"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/apsql/apsql/model"
)

// A node's change key: Amazon bumps version and modifiedDate on every change
// of a node, and a new content has a new md5. SYNC compares each listed node
// with its mirrored row by this key while the page is scanned, and decodes
// into Arrow only the nodes whose key differs (or that are new).

// ChangeKey hashes a node's version, modifiedDate (microseconds since the
// epoch, UTC) and md5 as the decoder stores them (a missing or ill-typed
// value is NULL: ok false). It is never 0. Mirror rows and listed nodes
// give the same key when the three columns hold the same values.
func ChangeKey(version int64, hasVersion bool, modified int64, hasModified bool, md5 []byte, hasMD5 bool) uint64 {
	if !hasVersion {
		version = 0
	}
	if !hasModified {
		modified = 0
	}
	h := mix64(0x243F6A8885A308D3 ^ uint64(flag(hasVersion)|flag(hasModified)<<1|flag(hasMD5)<<2))
	h = mix64(h ^ uint64(version))
	h = mix64(h ^ uint64(modified))
	if hasMD5 {
		b := md5
		for len(b) >= 8 {
			h = mix64(h ^ binary.LittleEndian.Uint64(b))
			b = b[8:]
		}
		var tail [8]byte
		copy(tail[:], b)
		h = mix64(h ^ binary.LittleEndian.Uint64(tail[:]) ^ uint64(len(md5))<<56)
	}
	return h | 1
}

// mix64 is splitmix64's finalizer: every input bit moves every output bit.
func mix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	return x ^ x>>31
}

func flag(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// UnchangedFunc reports whether the node id with change key key is in the
// mirror unchanged (ChangeKey). It is called once per listed node (a node
// the listing repeats: once per copy), in the listing's order within a
// page.
type UnchangedFunc func(id []byte, key uint64) bool

// NewUnchangedFunc returns the UnchangedFunc of one decoding goroutine:
// it is called once per goroutine, and the functions it returns are
// called concurrently, each from its own goroutine only (so each may keep
// state of its own, such as where in the mirror the previous node was).
type NewUnchangedFunc func() UnchangedFunc

// StreamSearchChanged is StreamSearch that emits only the nodes for which
// unchanged is false: the others are scanned for their id and change key
// but not decoded. They still count as fetched: the stats, the
// de-duplication and ErrListingChanged cover every listed node.
func (c *Client) StreamSearchChanged(ctx context.Context, filter string, unchanged NewUnchangedFunc, emit func(arrow.RecordBatch) error) (StreamStats, error) {
	l := listing{op: "search", path: "/search", query: searchQuery(filter, ""), unchanged: unchanged}
	return c.streamNodes(ctx, l, "", emit)
}

// StreamNodesChanged is StreamNodes that emits only the nodes for which
// unchanged is false, like StreamSearchChanged.
func (c *Client) StreamNodesChanged(ctx context.Context, filter string, unchanged NewUnchangedFunc, emit func(arrow.RecordBatch) error) (StreamStats, error) {
	q := url.Values{}
	if filter != "" {
		q.Set("filters", filter)
	}
	q.Set("sort", "['modifiedDate DESC']") // as StreamNodes
	l := listing{op: "nodes", path: "/nodes", query: q, capped: true, unchanged: unchanged}
	return c.streamNodes(ctx, l, filter, emit)
}

// skipUnchanged scans the node object at data[i] for its id and change key
// and, when d.Unchanged says the mirror holds it unchanged, records its id
// with Keep and returns the index after it with skip true. Anything it
// cannot read is left to the full decoder (skip false).
func (d *NodeDecoder) skipUnchanged(data []byte, i int) (end int, skip bool, err error) {
	d.arena = d.arena[:0]
	var id, version, modified, md5 cell
	end, err = eachMember(data, i, func(key []byte, _, _, v int) (int, error) {
		switch string(key) {
		case "id":
			return d.takeOrSkip(&id, colTypes[colID], data, v)
		case "version":
			return d.takeOrSkip(&version, colTypes[colVersion], data, v)
		case "modifiedDate":
			return d.takeOrSkip(&modified, colTypes[colModifiedDate], data, v)
		case "contentProperties":
			if data[v] == '{' {
				return eachMember(data, v, func(key []byte, _, _, v int) (int, error) {
					if string(key) == "md5" {
						return d.takeOrSkip(&md5, colTypes[colMD5], data, v)
					}
					return skipValue(data, v)
				})
			}
		}
		return skipValue(data, v)
	})
	if err != nil || !id.set {
		return 0, false, nil // the full decoder says what is wrong
	}
	key := ChangeKey(version.n, version.set, modified.n, modified.set, md5.s, md5.set)
	if !d.Unchanged(id.s, key) {
		return 0, false, nil
	}
	if d.Keep != nil {
		d.Keep(id.s)
	}
	return end, true, nil
}

// takeOrSkip stores the value at data[v] in c as the full decoder would
// (take: a value of another type or a JSON null leaves c as it was).
func (d *NodeDecoder) takeOrSkip(c *cell, t model.Type, data []byte, v int) (int, error) {
	end, _, err := d.take(c, t, data, v)
	return end, err
}
