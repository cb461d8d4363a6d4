package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"time"
)

// Paging tokens (API.md §1.3 #10, #16, #21; §7 #1). With Options.NextToken
// the capped listings answer "nextToken" while items remain, and a request
// with startToken continues where the token points, past the 9999 offset
// cap, which is how a client lists more than 9999 nodes. A token expires
// TokenTTL after its listing's first page (API.md §1.5, §1.6).
//
// A token is unpadded base64url of
//
//	uvarint next offset | varint listing start (Unix ms) | 12-byte MAC
//
// where the MAC is HMAC-SHA256 under the library's secret over the listing
// identity (path, canonical filter, canonical sort) and the two varints.
// The identity is bound by the MAC rather than carried: a token presented
// to another listing fails the check exactly like a forged one.

const (
	defaultTokenTTL = 10 * time.Minute // API.md §1.5: "nextToken lifetime ~10 minutes"
	tokenMACLen     = 12
	msgBadToken     = "Invalid startToken"
	msgTokenExpired = "Next token is expired"
)

// tokenEncoding is strict so that a token has one spelling: a changed
// character always changes the bytes, and so fails the MAC.
var tokenEncoding = base64.RawURLEncoding.Strict()

// checkTokenTTL rejects a negative TTL; zero stands for the default.
func checkTokenTTL(ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("emulator: token TTL %v: want a positive duration, or 0 for the default %v", ttl, defaultTokenTTL)
	}
	return nil
}

// pageToken is what a startToken carries.
type pageToken struct {
	offset int   // index of the first item of the next page
	start  int64 // Unix ms of the listing's first page, for expiry
}

// listID names a listing for its tokens. Each part is length-prefixed so
// that no two different listings share an identity, whatever bytes a
// filter holds.
func listID(path, filter, sort string) string {
	var b []byte
	for _, p := range [...]string{path, filter, sort} {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return string(b)
}

// tokenMAC signs a token's payload for listing id.
func (s *Server) tokenMAC(id string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.secret[:])
	m.Write([]byte("startToken\x00"))
	m.Write([]byte(id))
	m.Write(payload)
	return m.Sum(nil)[:tokenMACLen]
}

// encodeToken returns the nextToken that continues listing id at t.
func (s *Server) encodeToken(id string, t pageToken) string {
	b := binary.AppendUvarint(nil, uint64(t.offset))
	b = binary.AppendVarint(b, t.start)
	return tokenEncoding.EncodeToString(append(b, s.tokenMAC(id, b)...))
}

// decodeToken checks tok against listing id; false for a garbled or
// forged token, or one issued for another listing.
func (s *Server) decodeToken(id, tok string) (pageToken, bool) {
	b, err := tokenEncoding.DecodeString(tok)
	if err != nil || len(b) <= tokenMACLen {
		return pageToken{}, false
	}
	payload, mac := b[:len(b)-tokenMACLen], b[len(b)-tokenMACLen:]
	if !hmac.Equal(mac, s.tokenMAC(id, payload)) {
		return pageToken{}, false
	}
	off, n := binary.Uvarint(payload)
	if n <= 0 || off > math.MaxInt32 {
		return pageToken{}, false
	}
	start, m := binary.Varint(payload[n:])
	if m <= 0 || n+m != len(payload) {
		return pageToken{}, false
	}
	return pageToken{offset: int(off), start: start}, true
}

// startPage readies lst for tokens under listing id. Without a startToken
// (tok "") the page starts a new listing clock, so a client that resumes
// by offset gets fresh tokens; with one, the page continues at the token's
// offset on the token's clock. It answers 400 and returns false for a bad
// or expired token.
func (s *Server) startPage(w http.ResponseWriter, lst *listing, id, tok string) bool {
	lst.id, lst.start = id, time.Now().UnixMilli()
	if tok == "" {
		return true
	}
	t, ok := s.decodeToken(id, tok)
	switch {
	case !ok:
		s.writeError(w, http.StatusBadRequest, msgBadToken)
		return false
	case time.Since(time.UnixMilli(t.start)) > s.opts.TokenTTL || t.start < s.tokensBefore.Load():
		s.writeExpired(w)
		return false
	}
	lst.offset, lst.start = t.offset, t.start
	return true
}

// ExpireTokens makes every paging token issued so far expired, as if
// TokenTTL had passed: tests use it to expire a listing at a chosen page
// instead of racing a clock. Listings started after it returns are valid.
func (s *Server) ExpireTokens() {
	next := time.Now().UnixMilli() + 1
	s.tokensBefore.Store(next)
	// A listing started in this millisecond would carry a start before next.
	time.Sleep(time.Until(time.UnixMilli(next)))
}

// appendNextToken appends `,"nextToken":"…"` when lst answers tokens and
// items remain after its page.
func (s *Server) appendNextToken(b []byte, lst listing) []byte {
	count := len(lst.res.ids)
	if lst.id == "" || lst.offset >= count {
		return b
	}
	next := lst.offset + min(lst.limit, count-lst.offset)
	if next >= count || next == lst.offset { // limit=0 pages nothing: no token that never advances
		return b
	}
	b = append(b, `,"nextToken":"`...)
	b = append(b, s.encodeToken(lst.id, pageToken{offset: next, start: lst.start})...)
	return append(b, '"')
}

// writeExpired answers a token past TokenTTL in the shape RCL#289 observed
// (API.md §1.6): a logref and the message, but no "code" as writeLogref's
// bodies have.
func (s *Server) writeExpired(w http.ResponseWriter) {
	b := append([]byte(`{"logref":"`), s.newLogref()...)
	writeJSON(w, http.StatusBadRequest, append(b, `","message":"`+msgTokenExpired+`"}`...))
}
