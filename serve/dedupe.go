package serve

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/apsql/apsql/engine"
)

// The Duplicates view (issue 20 item 6): its groups are the rows of
// EXPLAIN DEDUPE, asked for through /api/explain with the action
// "dedupe", and "trash the others" is the same DEDUPE through /api/run
// with the EXPLAIN's confirmation. The statement confirmed names the plan
// the EXPLAIN showed ((PLAN 'id'), engine.Result.Plan): a DEDUPE whose
// groups changed since refuses to run.

// dedupeRequest is the part of an actionRequest for the action dedupe.
type dedupeRequest struct {
	// Target is "near" (near_duplicates()) or "exact" (duplicates).
	Target string `json:"target"`
	// Policy is one of DEDUPE's KEEP policies.
	Policy string `json:"policy"`
	// MaxDistance is near_duplicates()'s max_distance; nil for the
	// default.
	MaxDistance *int `json:"max_distance"`
	// Plan is the plan id of the EXPLAIN being confirmed ("" for an
	// EXPLAIN).
	Plan string `json:"plan"`
}

// maxDedupeRows bounds the rows of the Duplicates view (members of
// groups), more than an action's maxRows: the view is the list itself.
const maxDedupeRows = 3000

var dedupePolicies = []string{"oldest", "newest", "largest", "highest_resolution", "in_most_albums", "favorite"}

var validPlan = regexp.MustCompile(`^[0-9a-f]{6,64}$`)

// dedupeStatement builds DEDUPE's statement from the request's parts,
// each checked; nothing the page sends goes into SQL as it is.
func dedupeStatement(d dedupeRequest) (prepared, error) {
	var target string
	switch d.Target {
	case "near", "":
		target = "near_duplicates()"
		if d.MaxDistance != nil {
			if *d.MaxDistance < 0 || *d.MaxDistance > 16 {
				return prepared{}, badRequest("max_distance %d: want 0 to 16 bits", *d.MaxDistance)
			}
			target = fmt.Sprintf("near_duplicates(max_distance := %d)", *d.MaxDistance)
		}
	case "exact":
		if d.MaxDistance != nil {
			return prepared{}, badRequest("max_distance is for near duplicates, not exact ones")
		}
		target = "duplicates"
	default:
		return prepared{}, badRequest("unknown dedupe target %q: want near or exact", d.Target)
	}
	if !slices.Contains(dedupePolicies, d.Policy) {
		return prepared{}, badRequest("unknown policy %q: want one of %v", d.Policy, dedupePolicies)
	}
	text := "DEDUPE " + target + " KEEP " + d.Policy
	if d.Plan != "" {
		if !validPlan.MatchString(d.Plan) {
			return prepared{}, badRequest("not a plan id: %q", d.Plan)
		}
		text = withPlan(text, d.Plan)
	}
	return prepared{text: text, rows: maxDedupeRows}, nil
}

// withPlan is stmt run only while its plan is the one of id (DEDUPE's
// (PLAN 'id')).
func withPlan(stmt, id string) string {
	return stmt + " (PLAN " + engine.Quote(id) + ")"
}
