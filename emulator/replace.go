package emulator

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"strings"
)

// PUT /cdproxy/nodes/{id}/content (API.md §1.4 C4): overwrites a file's
// content with the multipart part named "content" and answers the node,
// with the new size and md5 and its version bumped. The node keeps its id,
// name, folder, dates other than modifiedDate, albums and settings. Only
// an AVAILABLE file can be overwritten: an unknown or purged id is 404,
// a folder or album 400.
func (s *Server) handleReplaceContent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	data, err := contentPart(r)
	if err != nil {
		s.writeLogref(w, http.StatusBadRequest, err.Error(), "INVALID_PARAMETER", "")
		return
	}
	if len(data) > maxUploadBytes {
		s.writeLogref(w, http.StatusRequestEntityTooLarge, "File too large", "FILE_TOO_LARGE", "")
		return
	}
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.lookup(id)
	if !ok {
		s.writeNotFound(w, id, false)
		return
	}
	if err := l.replaceContent(i, data, s.nowMS()); err != nil {
		s.writeMutationError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l.appendNode(nil, i, renderOpts{}))
}

// contentPart reads the multipart part named "content" (at most
// maxUploadBytes+1 bytes).
func contentPart(r *http.Request) ([]byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("the body must be multipart/form-data with a part named content: %v", err)
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("missing the multipart part named content")
		}
		if err != nil {
			return nil, fmt.Errorf("could not read the upload: %v", err)
		}
		if p.FormName() != "content" {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(p, maxUploadBytes+1))
		if err != nil {
			return nil, fmt.Errorf("could not read the upload: %v", err)
		}
		return data, nil
	}
}

// replaceContent gives the file i the bytes data: its type follows its
// extension and content as for an upload.
func (l *library) replaceContent(i int32, data []byte, now int64) error {
	n := &l.nodes[i]
	if n.kind != kindFile || n.status != statusAvailable {
		return fmt.Errorf("%w: %s is not an available file", ErrBadKind, n.id)
	}
	e := l.extra[i]
	if e == nil {
		e = &extra{}
		l.extra[i] = e
	}
	ext := ""
	if k := strings.LastIndexByte(n.name, '.'); k >= 0 {
		ext = strings.ToLower(n.name[k+1:])
	}
	e.data, e.extension = data, ext
	e.contentType = uploadType(ext, data)
	e.width, e.height = 0, 0
	if strings.HasPrefix(e.contentType, "image/") {
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
			e.width, e.height = cfg.Width, cfg.Height
		}
	}
	n.format = fmtUpload
	n.size = int64(len(data))
	n.md5 = md5.Sum(data)
	l.touch(i, now)
	return nil
}
