package actions

import (
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestFamilyVaultFamilyID (issue 16 item 7): when the root folder carries
// no familyId, the vault statements take the id as (FAMILY_ID 'x'), and
// without it the error says where to find it; a vault member in the
// mirror gives it too. Checked against the emulator's vault.
func TestFamilyVaultFamilyID(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 200, Seed: 47, RootWithoutFamily: true}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' ORDER BY id LIMIT 10`)
	_, _, err := e.try(t.Context(), `ADD TO FAMILY VAULT `+idsTarget(ids[:5]))
	if err == nil || !strings.Contains(err.Error(), "FAMILY_ID") || !strings.Contains(err.Error(), "familyArchive") {
		t.Fatalf("no familyId on the root: %v, want an error naming FAMILY_ID and where to find the id", err)
	}
	if n := len(e.rec.matching("POST", "/familyArchive/")); n != 0 {
		t.Fatalf("%d vault requests sent without a family id", n)
	}
	if _, _, err := e.try(t.Context(), `ADD TO FAMILY VAULT `+idsTarget(ids[:5])+` (FAMILY_ID)`); err == nil || !strings.Contains(err.Error(), "FAMILY_ID needs") {
		t.Errorf("FAMILY_ID without a value: %v", err)
	}
	rows, sum := e.run(`ADD TO FAMILY VAULT ` + idsTarget(ids[:5]) + ` (FAMILY_ID '` + e.srv.FamilyID() + `')`)
	if st := byStatus(rows); len(st[StatusOK]) != 5 {
		t.Fatalf("ADD with FAMILY_ID: %v (%s)", st, sum)
	}
	if got := e.srv.VaultIDs(); !slices.Equal(got, slices.Sorted(slices.Values(ids[:5]))) {
		t.Fatalf("the service's vault holds %v, want the 5 added", got)
	}
	// A vault member in the mirror now carries the id: no option needed.
	rows, sum = e.run(`ADD TO FAMILY VAULT ` + idsTarget(ids[5:]))
	if st := byStatus(rows); len(st[StatusOK]) != 5 {
		t.Fatalf("ADD with the id from a mirrored member: %v (%s)", st, sum)
	}
	rows, _ = e.run(`REMOVE FROM FAMILY VAULT ` + idsTarget(ids[:3]) + ` (FAMILY_ID '` + e.srv.FamilyID() + `')`)
	if st := byStatus(rows); len(st[StatusOK]) != 3 {
		t.Fatalf("REMOVE with FAMILY_ID: %v", st)
	}
	if got := e.srv.VaultIDs(); !slices.Equal(got, slices.Sorted(slices.Values(ids[3:]))) {
		t.Errorf("the service's vault holds %d nodes, want 7", len(got))
	}
	// A wrong id is the service's refusal, one failed row per node.
	rows, _ = e.run(`ADD TO FAMILY VAULT ` + idsTarget(ids[:1]) + ` (FAMILY_ID 'wrong')`)
	if rows[0].status != StatusFailed || !strings.Contains(rows[0].detail, "Invalid familyId") {
		t.Errorf("a wrong FAMILY_ID: %+v", rows)
	}
}
