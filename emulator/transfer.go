package emulator

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png" // decode uploaded PNGs for thumbnails
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/draw"
)

// Content: downloads (contentRedirection → templink, cdproxy content),
// uploads (cdproxy) and thumbnails.

// content builds a file's (or a Live Photo child's) bytes. The caller
// holds l.mu.
func (s *Server) content(i int32) []byte {
	l := s.lib
	if isAsset(i) {
		return l.assetContent(i &^ assetBit)
	}
	n := &l.nodes[i]
	if n.format == fmtUpload {
		return l.extra[i].data
	}
	t := s.tpl.template(n.format, n.tmpl)
	b := make([]byte, len(t.data), int(n.size))
	copy(b, t.data)
	return appendTrailer(b, n.format, n.id)
}

// GET /nodes/{id}/contentRedirection?querySuffix=?download=true&ownerId=...
// answers 302 to the templink URL of the content (API.md §1.3 #20).
func (s *Server) handleRedirect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	if !q.Has("ownerId") { // API.md §2.2: needed, as for thumbnails
		writeJSON(w, http.StatusBadRequest, []byte(`{"Message":"Missing required parameter ownerId"}`))
		return
	}
	l := s.lib
	l.mu.RLock()
	i, ok := l.lookupAny(id)
	v1 := ok && l.needsV2(i) && !hasV2(r, "")
	ok = ok && l.hasContent(i)
	l.mu.RUnlock()
	if !ok || v1 || q.Get("ownerId") != l.owner {
		s.writeNotFound(w, id, v1)
		return
	}
	target := "http://" + r.Host + "/cdproxy/templink/" + l.templinkToken(id)
	if suffix := q.Get("querySuffix"); suffix != "" {
		if !strings.HasPrefix(suffix, "?") {
			suffix = "?" + suffix
		}
		target += suffix
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusFound)
}

// GET /cdproxy/templink/{token}: the token is the credential, no cookies.
func (s *Server) handleTemplink(w http.ResponseWriter, r *http.Request) {
	id, ok := s.lib.templinkID(r.PathValue("token"))
	if !ok {
		s.writeError(w, http.StatusForbidden, "Invalid or expired link")
		return
	}
	if vb := r.URL.Query().Get("viewBox"); vb != "" {
		s.serveThumb(w, r, id, vb)
		return
	}
	s.serveContent(w, r, id)
}

// GET /cdproxy/nodes/{id}/content (cookie auth).
func (s *Server) handleContent(w http.ResponseWriter, r *http.Request) {
	s.serveContent(w, r, r.PathValue("id"))
}

// serveContent sends a file's bytes with Content-Disposition, ETag and
// Range support (http.ServeContent).
func (s *Server) serveContent(w http.ResponseWriter, r *http.Request, id string) {
	l := s.lib
	l.mu.RLock()
	i, ok := l.lookupAny(id)
	if !ok || !l.hasContent(i) {
		l.mu.RUnlock()
		s.writeNotFound(w, id, false)
		return
	}
	data := s.content(i)
	var name, ct string
	var modified int64
	var md5 [16]byte
	if isAsset(i) {
		p := i &^ assetBit
		a := l.asset(p)
		name, modified, md5, ct = a.name, l.nodes[p].modified, a.md5, assetMIME
	} else {
		n := &l.nodes[i]
		name, modified, md5, ct = n.name, n.modified, n.md5, l.contentType(i)
	}
	l.mu.RUnlock()
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("ETag", fmt.Sprintf(`"%x"`, md5))
	if after, ok := s.faults.takeStall(); ok {
		w = &stallWriter{ResponseWriter: w, r: r, limit: after}
	}
	http.ServeContent(w, r, name, time.UnixMilli(modified), bytes.NewReader(data))
}

// contentDisposition quotes name for attachment; non-ASCII names also get
// the RFC 5987 filename* form.
func contentDisposition(name string) string {
	var plain strings.Builder
	ascii := true
	for _, c := range name {
		switch {
		case c == '"' || c == '\\':
			plain.WriteByte('\\')
			plain.WriteRune(c)
		case c < 0x20 || c == 0x7f:
			plain.WriteByte('_')
		case c >= 0x80:
			ascii = false
			plain.WriteByte('_')
		default:
			plain.WriteRune(c)
		}
	}
	v := `attachment; filename="` + plain.String() + `"`
	if !ascii {
		v += "; filename*=UTF-8''" + url.PathEscape(name)
	}
	return v
}

// uploadParent is the folder an upload goes into: parentNodeId, or the
// root when it is absent; false when the id is unknown.
func (l *library) uploadParent(pid string) (int32, bool) {
	if pid == "" {
		return l.root, true
	}
	return l.lookup(pid)
}

// POST /cdproxy/nodes?name=...&kind=FILE&parentNodeId=...: the raw body is
// the file (API.md §1.4 C1). 201 node, or 409 NAME_ALREADY_EXISTS.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if s.opts.UploadNotRegistered {
		s.writeError(w, http.StatusForbidden, "Not Registered")
		return
	}
	q := r.URL.Query()
	name := q.Get("name")
	if k := q.Get("kind"); k != "" && k != "FILE" {
		s.writeLogref(w, http.StatusBadRequest, "Invalid kind "+k+" for an upload", "INVALID_PARAMETER", "")
		return
	}
	if name == "" {
		s.writeLogref(w, http.StatusBadRequest, "Missing required parameter name", "INVALID_PARAMETER", "")
		return
	}
	var contentDate int64
	if v := q.Get("contentDate"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			s.writeLogref(w, http.StatusBadRequest, "Invalid contentDate "+v, "INVALID_PARAMETER", "")
			return
		}
		contentDate = t.UnixMilli()
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxUploadBytes+1))
	if err != nil {
		s.writeLogref(w, http.StatusBadRequest, "Could not read the upload: "+err.Error(), "INVALID_PARAMETER", "")
		return
	}
	if len(data) > maxUploadBytes {
		s.writeLogref(w, http.StatusRequestEntityTooLarge, "File too large", "FILE_TOO_LARGE", "")
		return
	}
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.uploadParent(q.Get("parentNodeId"))
	if !ok {
		s.writeNotFound(w, q.Get("parentNodeId"), false)
		return
	}
	if s.opts.UploadDedup {
		if err := l.checkUploadTarget(p, name); err != nil {
			s.writeMutationError(w, err)
			return
		}
		if d, ok := l.sameContent(md5.Sum(data)); ok {
			writeJSON(w, http.StatusCreated, l.appendNode(nil, d, renderOpts{}))
			return
		}
	}
	i, err := l.upload(p, name, data, contentDate, s.nowMS())
	if err != nil {
		s.writeMutationError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, l.appendNode(nil, i, renderOpts{}))
}

// POST /v2/upload?conflictResolution=RENAME&fileSize=N&name=...&parentNodeId=...&contentDate=...
// with header x-amzn-file-md5 and the raw file as body (API.md §1.4 C2): 201
// node. The checks and statuses are cdproxy's; errors come in the v2 body
// (writeV2Error), a conflict with errorDetails.conflictNodeIds.
func (s *Server) handleUploadV2(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bad := func(msg string) { s.writeV2Error(w, http.StatusBadRequest, msg, "INVALID_PARAMETER", "") }
	name := q.Get("name")
	if name == "" {
		bad("Missing required parameter name")
		return
	}
	rename := false
	switch cr := q.Get("conflictResolution"); cr {
	case "":
	case "RENAME":
		rename = true
	default:
		bad("Invalid conflictResolution " + cr + ": want RENAME")
		return
	}
	var contentDate int64
	if v := q.Get("contentDate"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			bad("Invalid contentDate " + v)
			return
		}
		contentDate = t.UnixMilli()
	}
	size := int64(-1)
	if v := q.Get("fileSize"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			bad("Invalid fileSize " + v)
			return
		}
		size = n
	}
	if size > maxUploadBytes {
		s.writeV2Error(w, http.StatusRequestEntityTooLarge, "File too large", "FILE_TOO_LARGE", "")
		return
	}
	sumHex := strings.ToLower(strings.TrimSpace(r.Header.Get("x-amzn-file-md5")))
	var want [16]byte
	if sumHex == "" {
		bad("Missing required header x-amzn-file-md5")
		return
	}
	if len(sumHex) != 2*len(want) {
		bad("Invalid x-amzn-file-md5 " + sumHex + ": want 32 hex digits")
		return
	}
	if _, err := hex.Decode(want[:], []byte(sumHex)); err != nil {
		bad("Invalid x-amzn-file-md5 " + sumHex + ": want 32 hex digits")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxUploadBytes+1))
	if err != nil {
		bad("Could not read the upload: " + err.Error())
		return
	}
	if len(data) > maxUploadBytes {
		s.writeV2Error(w, http.StatusRequestEntityTooLarge, "File too large", "FILE_TOO_LARGE", "")
		return
	}
	if size >= 0 && int64(len(data)) != size {
		bad(fmt.Sprintf("fileSize %d does not match the %d bytes received", size, len(data)))
		return
	}
	sum := md5.Sum(data)
	if sum != want {
		bad("x-amzn-file-md5 " + sumHex + " does not match the md5 of the bytes received, " + hex.EncodeToString(sum[:]))
		return
	}
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.uploadParent(q.Get("parentNodeId"))
	if !ok {
		s.writeV2Error(w, http.StatusNotFound, "Node "+q.Get("parentNodeId")+" not found", "NODE_NOT_FOUND", "")
		return
	}
	i, err := l.uploadV2(p, name, data, sum, contentDate, s.nowMS(), rename)
	var de *duplicateError
	var ce *conflictError
	switch {
	case err == nil:
		writeJSON(w, http.StatusCreated, l.appendNode(nil, i, renderOpts{}))
	case errors.As(err, &de):
		s.writeV2Error(w, http.StatusConflict, de.Error(), "CONTENT_ALREADY_EXISTS", de.nodeID)
	case errors.As(err, &ce):
		s.writeV2Error(w, http.StatusConflict, ce.Error(), "NAME_ALREADY_EXISTS", ce.nodeID)
	default:
		bad(err.Error())
	}
}

// writeV2Error writes the error body of /v2/upload (API.md §1.6, RUST
// ResponseUploadFail): {"message","errorCode","timeStamp","requestId"},
// plus "errorDetails":{"conflictNodeIds":[conflictID]} on a conflict.
// The errorCode values and the timeStamp format are inferred.
func (s *Server) writeV2Error(w http.ResponseWriter, status int, msg, code, conflictID string) {
	b := []byte(`{"message":`)
	b = appendString(b, msg)
	b = append(b, `,"errorCode":`...)
	b = appendString(b, code)
	b = append(b, `,"timeStamp":`...)
	b = appendDate(b, s.nowMS())
	b = append(b, `,"requestId":"`...)
	b = append(b, s.newLogref()...)
	b = append(b, '"')
	if conflictID != "" {
		b = append(b, `,"errorDetails":{"conflictNodeIds":[`...)
		b = appendString(b, conflictID)
		b = append(b, `]}`...)
	}
	writeJSON(w, status, append(b, '}'))
}

// GET /v1/thumbnail/{id}?ownerId=...&viewBox=W[,H]: a JPEG of the image
// (a video's poster frame) scaled to fit W×H (W×W when H is absent),
// never larger than the original (viewBox=10000 gives the original size).
func (s *Server) handleThumbnail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := r.PathValue("id")
	if !q.Has("ownerId") {
		writeJSON(w, http.StatusBadRequest, []byte(`{"Message":"Missing required parameter ownerId"}`))
		return
	}
	if q.Get("ownerId") != s.lib.owner {
		s.writeNotFound(w, id, false)
		return
	}
	s.serveThumb(w, r, id, q.Get("viewBox"))
}

type thumbKey struct {
	class uint8
	w, h  int
}

// thumbCache keeps encoded thumbnails of synthetic nodes, which depend
// only on the class and the box.
type thumbCache struct {
	mu sync.Mutex
	m  map[thumbKey][]byte
}

func (s *Server) serveThumb(w http.ResponseWriter, r *http.Request, id, viewBox string) {
	bw, bh, err := parseViewBox(viewBox)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	l := s.lib
	l.mu.RLock()
	i, ok := l.lookup(id)
	mt := typeNone
	var class uint8
	var uploaded []byte
	if ok {
		mt = l.mediaType(i)
		class = l.nodes[i].tmpl
		if l.nodes[i].format == fmtUpload {
			uploaded = l.extra[i].data
		}
	}
	l.mu.RUnlock()
	if !ok || (mt != typePhotos && mt != typeVideos) {
		s.writeNotFound(w, id, false)
		return
	}
	var body []byte
	if uploaded != nil {
		img, _, err := image.Decode(bytes.NewReader(uploaded))
		if err != nil {
			s.writeError(w, http.StatusNotFound, "No thumbnail for node "+id)
			return
		}
		body, err = scaleJPEG(img, bw, bh)
		if err != nil {
			s.writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	} else {
		key := thumbKey{class, bw, bh}
		s.thumbs.mu.Lock()
		body = s.thumbs.m[key]
		s.thumbs.mu.Unlock()
		if body == nil {
			img, err := s.tpl.classImage(class)
			if err == nil {
				body, err = scaleJPEG(img, bw, bh)
			}
			if err != nil {
				s.writeError(w, http.StatusInternalServerError, err.Error())
				return
			}
			s.thumbs.mu.Lock()
			if s.thumbs.m == nil || len(s.thumbs.m) > 512 {
				s.thumbs.m = make(map[thumbKey][]byte)
			}
			s.thumbs.m[key] = body
			s.thumbs.mu.Unlock()
		}
	}
	w.Header().Set("Cache-Control", "private, max-age=86400")
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// parseViewBox parses "W" or "W,H" (0,0 when absent: original size).
func parseViewBox(v string) (int, int, error) {
	if v == "" {
		return 0, 0, nil
	}
	ws, hs, two := strings.Cut(v, ",")
	bw, err := strconv.Atoi(strings.TrimSpace(ws))
	bh := bw
	if err == nil && two {
		bh, err = strconv.Atoi(strings.TrimSpace(hs))
	}
	if err != nil || bw <= 0 || bh <= 0 {
		//lint:ignore ST1005 the service's own message, which clients may show
		return 0, 0, fmt.Errorf("Invalid viewBox %q: want W or W,H with positive integers", v)
	}
	return bw, bh, nil
}

// scaleJPEG fits img into bw×bh (keeping its aspect, never enlarging) and
// encodes it as a JPEG.
func scaleJPEG(img image.Image, bw, bh int) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if bw > 0 && (w > bw || h > bh) {
		scale := min(float64(bw)/float64(w), float64(bh)/float64(h))
		w, h = max(1, int(float64(w)*scale+0.5)), max(1, int(float64(h)*scale+0.5))
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
