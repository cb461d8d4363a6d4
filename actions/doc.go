// Package actions runs apsql's action statements against the service:
// TRASH, RESTORE, PURGE, FAVORITE, UNFAVORITE, HIDE, UNHIDE, CREATE ALBUM,
// ALBUM ADD/REMOVE, RENAME ALBUM, DOWNLOAD, UPLOAD and LABEL (a folder of
// images into label folders, or photos of the library from their
// thumbnails into the labels table, with vision), and EXPLAIN of each
// (SPEC §2.3).
//
// Every action follows the same path:
//
//   - the target (WHERE, a sub-SELECT, a list of ids, FILTER) is resolved
//     to ids in DuckDB, joined with the local tables;
//   - what the local tables already show as done is skipped ("already in
//     trash", "already present"), so re-running a statement after a partial
//     failure retries only what failed;
//   - requests go through the fetch client in batches (50 ids for the trash
//     and purge endpoints, API.md §1.5);
//   - every outcome is written to actions_log and, in the same transaction,
//     the local tables are changed to match the service;
//   - the result has one row per node or file (id, name, status, detail) and
//     a summary line.
//
// A mutating request whose outcome is unknown (a 5xx, a connection cut after
// the request was sent) is never blindly sent again: the node's state is read
// back first (GET /nodes/{id}), and only what is verified not done is resent.
// When even that check fails, the outcome is journaled as failed with
// "outcome unknown", and a re-run checks the server before it sends.
//
// Ctrl-C (the statement's context) stops the scheduling of new requests;
// metadata requests and uploads in flight finish, and their outcome is
// journaled, so the result says exactly what was done. Downloads stop at
// once and keep their hidden .NAME.part, which the next run resumes.
//
// The package never draws on the terminal: it reports progress through the
// session's Progress and asks confirmations through Session.Confirmed.
package actions
