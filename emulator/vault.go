package emulator

import (
	"math/rand/v2"
	"net/http"
	"slices"
)

// The Family Vault (API.md §1.3 #30, the seed's add_to_family_vault and
// remove_from_family_vault): POST /familyArchive/ {"nodesToAdd":[…],
// "nodesToRemove":[…],"familyId"}. Only the request is known (UP returns
// r.json()); the rest is inferred and kept in line with the service's
// other bulk endpoints:
//   - the answer is {"errorMap":{id: status}} like POST /bulk/nodes/purge:
//     404 for an id the service does not have, 400 for a node that is not
//     an available photo or video (the vault holds only those);
//   - a node in the vault carries "familyId" (CDASDK NodeInfo.familyId),
//     and the root carries the account's family: that is where a client
//     learns the id to send;
//   - /search with searchContext=family lists the vault's photos and
//     videos;
//   - an account without a family (Options.NoFamily) is answered 400
//     {"message":"Customer is not a member of a family"}, and a familyId
//     other than the account's 400 "Invalid familyId".

// familyID derives the account's family id from the seed (22 id
// characters, like node ids).
func familyID(seed int64) string {
	return newID(rand.New(rand.NewPCG(uint64(seed), 1<<57)))
}

// vaultBody is POST /familyArchive/.
type vaultBody struct {
	NodesToAdd    []string `json:"nodesToAdd"`
	NodesToRemove []string `json:"nodesToRemove"`
	FamilyID      string   `json:"familyId"`
}

// POST /familyArchive/
func (s *Server) handleFamilyArchive(w http.ResponseWriter, r *http.Request) {
	var body vaultBody
	if !s.readJSON(w, r, &body) {
		return
	}
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.family == "":
		s.writeError(w, http.StatusBadRequest, "Customer is not a member of a family")
		return
	case body.FamilyID != l.family:
		s.writeError(w, http.StatusBadRequest, "Invalid familyId: "+body.FamilyID)
		return
	}
	errs := map[string]int{}
	set := func(ids []string, in bool) {
		for _, id := range ids {
			i, ok := l.lookup(id)
			switch {
			case !ok:
				errs[id] = http.StatusNotFound
			case in && (l.nodes[i].status != statusAvailable || l.mediaType(i) == typeNone || l.nodes[i].kind != kindFile):
				errs[id] = http.StatusBadRequest
			case (l.nodes[i].flags&flagVault != 0) != in:
				l.nodes[i].flags ^= flagVault
				l.nodes[i].version++
				l.version++
			}
		}
	}
	set(body.NodesToAdd, true)
	set(body.NodesToRemove, false)
	writeErrorMap(w, errs)
}

// FamilyID returns the account's family id ("" without a family).
func (s *Server) FamilyID() string {
	s.lib.mu.RLock()
	defer s.lib.mu.RUnlock()
	return s.lib.family
}

// VaultIDs returns the ids of the live nodes in the Family Vault, sorted.
func (s *Server) VaultIDs() []string {
	l := s.lib
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	for i := range l.nodes {
		if n := &l.nodes[i]; n.flags&flagVault != 0 && n.status != statusPurged {
			out = append(out, n.id)
		}
	}
	slices.Sort(out)
	return out
}
