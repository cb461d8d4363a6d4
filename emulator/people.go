package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// People clusters (API.md §1.3 #27–#29, the seed's rename_cluster,
// combine_clusters and update_cluster_thumbnail). The request bodies are
// UP's; the answers are not captured anywhere (UP returns r.json()), so
// they are inferred: the cluster as it now is, {"clusterId","clusterName",
// "nodeId"}. A merge keeps the first cluster of clusterIds (inferred); the
// others' photos join it, and a person search for a merged id keeps
// finding them (people:(id) follows the merge).

// clusterIndex returns the index of a standing (not merged away) cluster.
func (l *library) clusterIndex(id string) (int, bool) {
	for k := range l.clusters {
		if l.clusters[k].id == id && l.clusters[k].mergedInto < 0 {
			return k, true
		}
	}
	return 0, false
}

// peopleValues returns the cluster ids a person search matches for a node
// whose people bits are mask: each cluster's own id and, after merges, the
// ids merged into it.
func (l *library) peopleValues(mask uint32) []string {
	if l.aliases == nil {
		return bitNames(mask, l.clusterIDs)
	}
	var out []string
	for m := mask; m != 0; m &= m - 1 {
		out = append(out, l.aliases[trailingZeros(m)]...)
	}
	return out
}

// heroCovers makes a cluster's chosen cover its bucket's cover, while that
// node is still an available photo of the person.
func (l *library) heroCovers(people []bucket) {
	for k := range people {
		if k >= len(l.clusters) || l.clusters[k].hero == "" || people[k].count == 0 {
			continue
		}
		if i, ok := l.lookup(l.clusters[k].hero); ok && l.nodes[i].status == statusAvailable && l.nodes[i].people&(1<<k) != 0 {
			people[k].cover = i
		}
	}
}

// renameCluster sets a cluster's name.
func (l *library) renameCluster(k int, name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: empty name", ErrBadName)
	}
	l.clusters[k].name = name
	l.version++
	return nil
}

// mergeClusters merges the clusters ks[1:] into ks[0], named name: every
// node of theirs becomes a node of ks[0], and their ids become aliases of
// it.
func (l *library) mergeClusters(ks []int, name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: empty name", ErrBadName)
	}
	if l.aliases == nil {
		l.aliases = make([][]string, len(l.clusters))
		for k := range l.clusters {
			l.aliases[k] = []string{l.clusters[k].id}
		}
	}
	into := ks[0]
	var moved uint32
	for _, k := range ks[1:] {
		moved |= 1 << k
		l.clusters[k].mergedInto = into
		l.clusters[k].hero = ""
		l.aliases[into] = append(l.aliases[into], l.aliases[k]...)
		l.aliases[k] = nil
	}
	for i := range l.nodes {
		if n := &l.nodes[i]; n.people&moved != 0 {
			n.people = n.people&^moved | 1<<into
		}
	}
	l.clusters[into].name = name
	l.version++
	return nil
}

// appendCluster renders a cluster's answer.
func (l *library) appendCluster(b []byte, k int) []byte {
	c := &l.clusters[k]
	b = append(b, `{"clusterId":`...)
	b = appendString(b, c.id)
	b = append(b, `,"clusterName":`...)
	b = appendString(b, c.name)
	if c.hero != "" {
		b = append(b, `,"nodeId":`...)
		b = appendString(b, c.hero)
	}
	return append(b, '}')
}

// clusterBody is the body of the three cluster endpoints (UP sends
// context "customer" and resourceVersion V2 with each).
type clusterBody struct {
	SourceCluster string   `json:"sourceCluster"` // PUT /cluster/name
	ClusterIDs    []string `json:"clusterIds"`    // POST /cluster
	NewName       string   `json:"newName"`
	ClusterID     string   `json:"clusterId"` // PUT /cluster/hero/{id}
	NodeID        string   `json:"nodeId"`
}

func (s *Server) writeNoCluster(w http.ResponseWriter, id string) {
	s.writeLogref(w, http.StatusNotFound, "Cluster "+id+" not found", "CLUSTER_NOT_FOUND", "")
}

// PUT /cluster/name {"sourceCluster","newName"}: rename a person.
func (s *Server) handleClusterName(w http.ResponseWriter, r *http.Request) {
	var body clusterBody
	if !s.readJSON(w, r, &body) {
		return
	}
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ok := l.clusterIndex(body.SourceCluster)
	if !ok {
		s.writeNoCluster(w, body.SourceCluster)
		return
	}
	if err := l.renameCluster(k, body.NewName); err != nil {
		s.writeError(w, http.StatusBadRequest, "Invalid newName")
		return
	}
	writeJSON(w, http.StatusOK, l.appendCluster(nil, k))
}

// POST /cluster {"clusterIds":[…],"newName"}: merge people into the first.
func (s *Server) handleClusterMerge(w http.ResponseWriter, r *http.Request) {
	var body clusterBody
	if !s.readJSON(w, r, &body) {
		return
	}
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	var ks []int
	for _, id := range body.ClusterIDs {
		k, ok := l.clusterIndex(id)
		if !ok {
			s.writeNoCluster(w, id)
			return
		}
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	if len(ks) < 2 {
		s.writeError(w, http.StatusBadRequest, "clusterIds must name at least two clusters")
		return
	}
	if err := l.mergeClusters(ks, body.NewName); err != nil {
		s.writeError(w, http.StatusBadRequest, "Invalid newName")
		return
	}
	writeJSON(w, http.StatusOK, l.appendCluster(nil, ks[0]))
}

// PUT /cluster/hero/{id} {"clusterId","nodeId"}: a person's cover photo,
// which must be an available photo of that person.
func (s *Server) handleClusterHero(w http.ResponseWriter, r *http.Request) {
	var body clusterBody
	if !s.readJSON(w, r, &body) {
		return
	}
	id := r.PathValue("id")
	if body.ClusterID != "" && body.ClusterID != id {
		s.writeError(w, http.StatusBadRequest, "clusterId in the body differs from the path")
		return
	}
	l := s.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ok := l.clusterIndex(id)
	if !ok {
		s.writeNoCluster(w, id)
		return
	}
	i, ok := l.lookup(body.NodeID)
	if !ok {
		s.writeNotFound(w, body.NodeID, false)
		return
	}
	if l.nodes[i].status != statusAvailable || l.nodes[i].people&(1<<k) == 0 {
		s.writeError(w, http.StatusBadRequest, "Node "+body.NodeID+" is not in cluster "+id)
		return
	}
	l.clusters[k].hero = body.NodeID
	l.version++
	writeJSON(w, http.StatusOK, l.appendCluster(nil, k))
}

// Person is one person of the emulator's truth (tests).
type Person struct {
	ClusterID string
	Name      string
	// Count is how many AVAILABLE photos and videos show the person.
	Count int
	// Cover is the chosen cover node's id ("" for the default).
	Cover string
	// Aliases are the ids merged into this cluster.
	Aliases []string
}

// People returns the standing clusters that show in at least one
// available photo or video, by cluster id.
func (s *Server) People() []Person {
	l := s.lib
	l.mu.RLock()
	defer l.mu.RUnlock()
	counts := make([]int, len(l.clusters))
	for i := range l.nodes {
		n := &l.nodes[i]
		if n.status != statusAvailable || n.kind != kindFile || l.mediaType(int32(i)) == typeNone {
			continue
		}
		for m := n.people; m != 0; m &= m - 1 {
			counts[trailingZeros(m)]++
		}
	}
	var out []Person
	for k, c := range l.clusters {
		if c.mergedInto >= 0 || counts[k] == 0 {
			continue
		}
		p := Person{ClusterID: c.id, Name: c.name, Count: counts[k], Cover: c.hero}
		if l.aliases != nil {
			p.Aliases = slices.Clone(l.aliases[k][1:])
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Person) int { return strings.Compare(a.ClusterID, b.ClusterID) })
	return out
}
