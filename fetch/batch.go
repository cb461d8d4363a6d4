package fetch

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// ErrNodeGone is the cause of a node the service does not know (404):
// purged, or never existed. GetNode, Thumbnail and the per-id errors of a
// BatchResult wrap it; test with errors.Is.
var ErrNodeGone = errors.New("node not found on the service")

// ErrRefused is the cause of an id that a batch request refused for another
// reason than a missing node (BatchResult.Failed); test with errors.Is, and
// errors.As(err, **ItemError) for the code.
var ErrRefused = errors.New("refused by the service")

// ItemError is why a batch request refused one id: its entry in the
// answer's errorMap.
type ItemError struct {
	ID string
	// Code is the entry's HTTP status (404: the node is gone; 409: not in
	// the trash); 0 when the entry is not a number (Raw holds it).
	Code int
	Raw  string
}

func (e *ItemError) Error() string {
	switch {
	case e.Code == http.StatusNotFound:
		return ErrNodeGone.Error() + ": errorMap 404"
	case e.Code == http.StatusConflict:
		return ErrRefused.Error() + ": 409 node is not in the trash"
	case e.Code != 0:
		return ErrRefused.Error() + ": " + strconv.Itoa(e.Code) + " " + http.StatusText(e.Code)
	}
	return ErrRefused.Error() + ": " + e.Raw
}

// Is makes a 404 entry ErrNodeGone and every other entry ErrRefused.
func (e *ItemError) Is(target error) bool {
	if e.Code == http.StatusNotFound {
		return target == ErrNodeGone
	}
	return target == ErrRefused
}

// BatchResult is the answer of a batch request (trash, restore, purge,
// family archive): the ids it refused, each with why (an *ItemError).
// An id not in Failed was accepted.
type BatchResult struct {
	Failed map[string]error
}

// Err returns why id was refused, nil when it was not.
func (r BatchResult) Err(id string) error { return r.Failed[id] }

// errorMap is {"errorMap":{id: status}} of PATCH /trash, POST
// /bulk/nodes/purge and POST /familyArchive/.
type errorMap struct {
	ErrorMap map[string]json.RawMessage `json:"errorMap"`
}

func (m errorMap) result() BatchResult {
	r := BatchResult{Failed: make(map[string]error, len(m.ErrorMap))}
	for id, v := range m.ErrorMap {
		e := &ItemError{ID: id}
		if json.Unmarshal(v, &e.Code) != nil {
			e.Raw = string(v)
		}
		r.Failed[id] = e
	}
	return r
}

// goneError is a 404 of one node: errors.Is(err, ErrNodeGone), and it
// still unwraps to the *APIError, whose text it keeps.
type goneError struct{ api *APIError }

func (e *goneError) Error() string   { return e.api.Error() }
func (e *goneError) Unwrap() []error { return []error{ErrNodeGone, e.api} }

// gone turns a 404 into a goneError; other errors pass.
func gone(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return &goneError{api: ae}
	}
	return err
}
