package actions

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
	"github.com/apsql/apsql/mirror"
)

// The Family Vault (API.md §1.3 #30; the seed's add_to_family_vault and
// remove_from_family_vault): POST /familyArchive/ (with the trailing
// slash) {"nodesToAdd":[…],"nodesToRemove":[…],"familyId"}. Batches hold
// batchSize ids: API.md gives no limit, and the service's other bulk
// endpoints take 50. The familyId is the account's family, read from the
// root folder's familyId (CDASDK NodeInfo.familyId); a node in the vault
// carries familyId too, which is how membership is read back and kept in
// nodes.raw.

// errNoFamily is an account whose family id could not be found: the root
// folder carries none, no mirrored node in the vault carries one, and the
// statement gave none.
var errNoFamily = errors.New("the account's Amazon Household family id is not known: the root folder carries no familyId and no mirrored node in the vault carries one; " +
	"give it with (FAMILY_ID 'id'): the Amazon Photos web page sends it as \"familyId\" in the body of POST /drive/v1/familyArchive/ when you add a photo to the Family Vault (the browser's developer tools, Network tab), " +
	"and after a SYNC any photo in the vault shows it (SELECT raw->>'familyId' FROM nodes WHERE raw->>'familyId' IS NOT NULL LIMIT 1). " +
	"An account without a family needs Amazon Household first (amazon.com/myh/households); nothing was sent")

// vaultOp is ADD TO FAMILY VAULT (add) or REMOVE FROM FAMILY VAULT.
type vaultOp struct {
	action string // journal action
	add    bool
}

var (
	vaultAdd    = vaultOp{"ADD TO FAMILY VAULT", true}
	vaultRemove = vaultOp{"REMOVE FROM FAMILY VAULT", false}
)

func (v vaultOp) request() string {
	if v.add {
		return `POST /familyArchive/ {"nodesToAdd":[...]}`
	}
	return `POST /familyArchive/ {"nodesToRemove":[...]}`
}

// familyID returns the family id to send: the FAMILY_ID option when given,
// else the root folder's familyId, else the familyId a mirrored node in
// the vault carries; how it was found goes into the summary.
func familyID(ctx context.Context, c *fetch.Client, db *engine.DB, given string) (id, source string, err error) {
	if given != "" {
		return given, "the FAMILY_ID option", nil
	}
	root, err := c.Root(ctx)
	if err != nil {
		return "", "", fmt.Errorf("read the account's family from the root folder: %w", err)
	}
	var r struct {
		FamilyID string `json:"familyId"`
	}
	if json.Unmarshal(root.Raw, &r) == nil && r.FamilyID != "" {
		return r.FamilyID, "the root folder", nil
	}
	var fid sql.NullString
	err = db.QueryRow(ctx, `SELECT min(raw->>'familyId') FROM nodes WHERE (raw->>'familyId') IS NOT NULL`).Scan(&fid)
	if err != nil {
		return "", "", fmt.Errorf("read a family id from nodes: %w", err)
	}
	if fid.Valid && fid.String != "" {
		return fid.String, "a mirrored node in the vault", nil
	}
	return "", "", errNoFamily
}

// inVault returns the ids among ids whose node carries a familyId in the
// local mirror (nodes.raw).
func inVault(ctx context.Context, db *engine.DB, ids []string) (map[string]bool, error) {
	return selectedIDs(ctx, db, ids, `SELECT id FROM nodes WHERE (raw->>'familyId') IS NOT NULL AND id IN %s`)
}

// done reports whether the service shows node n in the vault (add) or
// out of it.
func (v vaultOp) done(n *remoteNode) bool { return (n.FamilyID != "") == v.add }

// parseVault reads what follows ADD TO FAMILY / REMOVE FROM FAMILY: VAULT
// target [(FAMILY_ID 'id')]; given is the FAMILY_ID ("" when absent).
func parseVault(v vaultOp, a0 *engine.Args) (stmt statement, given string, err error) {
	if !a0.Keyword("VAULT") {
		return statement{}, "", fmt.Errorf("write %s target", v.action)
	}
	if stmt, err = parseStatementArgs(a0, false, []string{"FAMILY_ID"}); err != nil {
		return statement{}, "", err
	}
	given, hasGiven := stmt.opts["FAMILY_ID"]
	if given = strings.TrimSpace(given); hasGiven && (given == "" || given == "true") {
		return statement{}, "", errors.New("FAMILY_ID needs the family id as a string, e.g. (FAMILY_ID 'AbCd...')")
	}
	return stmt, given, nil
}

// runVault runs ADD TO FAMILY VAULT target and REMOVE FROM FAMILY VAULT
// target (a0 starts at VAULT).
func (x *Actions) runVault(ctx context.Context, s *engine.Session, v vaultOp, a0 *engine.Args, explain bool) (*engine.Result, error) {
	verb := lower(v.action)
	stmt, given, err := parseVault(v, a0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	r, items, err := begin(ctx, s, v.action, verb, stmt.target, "nodes", explain)
	if err != nil {
		return nil, err
	}
	todo, err := x.sortVault(ctx, r, v, items, explain)
	if err != nil {
		return nil, err
	}
	if explain {
		from := "the familyId read from the root folder"
		if given != "" {
			from = "the FAMILY_ID given"
		}
		return r.result(false, planSummary(r.s, r.plan(todo, v.request()), v.request(), len(todo), from)), nil
	}
	return x.sendAll(ctx, r, todo, func(r *run, a api) (batchSpec, error) {
		family, _, err := familyID(ctx, a.c, s.DB, given)
		if err != nil {
			return batchSpec{}, fmt.Errorf("%s: %w", verb, err)
		}
		return v.spec(a, family, r.changes), nil
	})
}

// sortVault adds the rows of the items that need no request (the mirror's
// word on membership read back from the service first) and returns the
// rest.
func (x *Actions) sortVault(ctx context.Context, r *run, v vaultOp, items []item, explain bool) ([]item, error) {
	member, err := inVault(ctx, r.s.DB, itemIDs(items))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", lower(v.action), err)
	}
	var todo, already []item
	for _, it := range items {
		switch {
		case r.notSettable(it):
		case member[it.ID] == v.add:
			already = append(already, it)
		default:
			todo = append(todo, it)
		}
	}
	detail := "not in the Family Vault"
	if v.add {
		detail = "already in the Family Vault"
	}
	more, err := x.recheckAlready(ctx, r, explain, already, detail, v.done)
	if err != nil {
		return nil, err
	}
	var send []item
	for _, it := range append(todo, more...) {
		if v.add && !isMedia(it) {
			r.add(Outcome{ID: it.ID, Name: it.Name, Status: StatusSkipped, Detail: "not a photo or video: the Family Vault holds only those"})
			continue
		}
		send = append(send, it)
	}
	return send, nil
}

// spec is the vault edit on the pipeline: batches of 50 for family, one at
// a time, read back by the nodes' familyId; the nodes' new familyId (in
// raw) is recorded in ch.
func (v vaultOp) spec(a api, family string, ch *mirror.ActionChanges) batchSpec {
	req := v.request()
	apply := func(ids []string) func(context.Context, *sql.Tx) error {
		if len(ids) == 0 {
			return nil
		}
		patch := `{"familyId":null}`
		if v.add {
			patch = `{"familyId":` + string(mustJSON(family)) + `}`
		}
		q := `UPDATE nodes SET raw = json_merge_patch(coalesce(raw, '{}'), ` + engine.Quote(patch) + `) WHERE id IN ` + idList(ids)
		return func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
			return ch.Nodes(ctx, tx, "nodes", mirror.ChangeChanged, ids, "raw")
		}
	}
	send := func(ctx context.Context, ids []string, retry func(context.Context, error) bool) (map[string]error, error) {
		return a.familyArchive(ctx, family, v.add, ids, retry)
	}
	// A node the service does not have fails (the vault's answer is not
	// proof it is gone): run SYNC.
	outcome := func(res *sent, id, name string) Outcome {
		if d, ok := res.gone[id]; ok {
			return Outcome{ID: id, Name: name, Status: StatusFailed, Detail: joinDetail(req, d) + " (the service does not have the node: run SYNC)"}
		}
		return res.outcome(id, name, req)
	}
	return batchSpec{req: req, per: batchSize, workers: 1, progress: lower(v.action),
		send: send, verify: nodesVerifier(a, v.done), apply: apply, outcome: outcome, direct: true}
}

// mustJSON encodes a string as JSON.
func mustJSON(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
