package actions

import (
	"errors"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// Status is what happened to one node or file: the status column of an
// action's result and of its journal entry (SPEC §2.3).
type Status string

// The statuses of a result row and of a journal entry.
const (
	StatusOK      Status = "ok"
	StatusSkipped Status = "skipped"
	StatusFailed  Status = "failed"
	// StatusConflict is an UPLOAD's file whose name is taken by another
	// file (ON CONFLICT chooses): it fails the statement until chosen.
	StatusConflict Status = engine.RowConflict

	// statusPlanned is an EXPLAIN row: what would be sent.
	statusPlanned Status = "planned"
	// statusSending is the journal status of a request about to be sent
	// (intend): a later entry gives its outcome. When none does (the
	// process died, the disk filled), the node's outcome is unknown, and a
	// re-run reads it back before it sends anything for it (priorUnknown).
	statusSending Status = "sending"
)

// Reason says why an outcome is what it is, for the program: re-runs and
// every decision select on it (the journal's reason column), never on the
// words of the detail, which are for people. "" is a plain outcome (done,
// or failed for a reason no decision needs).
type Reason string

// The reasons of outcomes. ReasonAlready: the node already is as the
// statement wants it. ReasonNotApplicable: the statement does not apply to
// the node (not a file, not a photo). ReasonGone: the service does not
// have the node (404); it leaves the mirror. ReasonNotInTrash: PURGE found
// the node restored elsewhere. ReasonUnknown: the request may have been
// applied; a re-run reads the node back before it sends again.
// ReasonRefused: the service refused (4xx), nothing was applied.
// ReasonUnauthorized: the cookies stopped working; the statement stops.
// ReasonNotSent: never sent (interrupted, stopped, or the journal could
// not be written first). ReasonConflict: the name is taken.
// ReasonNotInMirror: the local tables do not hold the node.
// ReasonDiskFull: the local disk is full (DOWNLOAD).
const (
	ReasonNone          Reason = ""
	ReasonAlready       Reason = "already done"
	ReasonNotApplicable Reason = "not applicable"
	ReasonGone          Reason = "gone"
	ReasonNotInTrash    Reason = "no longer in trash"
	ReasonUnknown       Reason = "unknown"
	ReasonRefused       Reason = "refused"
	ReasonUnauthorized  Reason = "unauthorized"
	ReasonNotSent       Reason = "not sent"
	ReasonConflict      Reason = "conflict"
	ReasonNotInMirror   Reason = "not in mirror"
	ReasonDiskFull      Reason = "disk full"
)

// reasonOf classifies the error of a failed request.
func reasonOf(err error) Reason {
	switch {
	case err == nil:
		return ReasonNone
	case errors.Is(err, fetch.ErrUnauthorized):
		return ReasonUnauthorized
	case errors.Is(err, fetch.ErrNodeGone):
		return ReasonGone
	case errors.Is(err, fetch.ErrRefused), refusedForSure(err):
		return ReasonRefused
	}
	return ReasonNone
}

// fatalReason returns the error that stops a statement after an outcome
// of reason: the cookies stopped working, so nothing else can succeed.
func fatalReason(r Reason) error {
	if r == ReasonUnauthorized {
		return fetch.ErrUnauthorized
	}
	return nil
}
