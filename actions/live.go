package actions

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// Live Photos (API.md §2.2 childAssetTypeInfo, assetProperties; §2.7 "Live
// Photo child"): an iPhone still whose childAssetTypeInfo names LIVE_VIDEO
// has its motion part as a child node of kind ASSET, listed by
// GET /nodes/{id}/children and downloaded like any file. DOWNLOAD with
// (LIVE_VIDEO true) fetches it next to the still, with the still's name
// and the video's extension: IMG_0534.HEIC and IMG_0534.MOV.

// liveVideoType is the assetType of a Live Photo's video.
const liveVideoType = "LIVE_VIDEO"

// liveStills returns which of ids the local mirror (nodes or trash) shows
// as Live Photo stills.
func liveStills(ctx context.Context, db *engine.DB, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT id FROM (SELECT id, raw FROM nodes UNION ALL SELECT id, raw FROM trash)
WHERE id IN (SELECT unnest(?::VARCHAR[])) AND contains(CAST(raw->'childAssetTypeInfo' AS VARCHAR), ?)`, ids, `"`+liveVideoType+`"`)
	if err != nil {
		return nil, fmt.Errorf("find the Live Photos among the targets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// liveVideos lists the Live Photo videos of the still id.
func (a api) liveVideos(ctx context.Context, id string) ([]remoteNode, error) {
	page, err := a.c.ChildrenPage(ctx, id, fetch.NodeQuery{Filter: "kind:ASSET"})
	if err != nil {
		return nil, err
	}
	var out []remoteNode
	for _, n := range page.Nodes {
		if n.Kind == "ASSET" && n.AssetProperties.AssetType == liveVideoType && n.Status != "PURGED" {
			out = append(out, n)
		}
	}
	return out, nil
}

// liveRel is where the video of the still downloaded to rel goes: rel with
// the video's extension (.MOV when its name has none); with videoID (a
// still with several videos), that id before the extension.
func liveRel(rel, videoName, videoID string) string {
	ext := filepath.Ext(videoName)
	if ext == "" {
		ext = ".MOV"
	}
	stem := strings.TrimSuffix(rel, filepath.Ext(rel))
	if videoID != "" {
		stem += "_" + cleanName(videoID)
	}
	return stem + ext
}

// addLiveVideos lists the videos of the Live Photo stills among todo
// (conc at a time) and returns the downloads of those videos, placed by
// liveRel, with a failed outcome for each still whose listing failed and
// each video whose file name is taken. taken maps lower-cased paths to the
// node that claimed them. Each listing sent is counted in sent. fatal is the error that stopped the listing
// early (a 401).
func addLiveVideos(ctx context.Context, a api, dir string, todo []download, stills map[string]bool, conc int,
	taken map[string]string, tr engine.Tracker, sent *atomic.Int64) (more []download, failed []Outcome, fatal error) {
	var (
		mu   sync.Mutex
		jobs []download
	)
	fail := func(o Outcome) { failed = append(failed, o) }
	for _, d := range todo {
		if stills[d.it.ID] {
			jobs = append(jobs, d)
		}
	}
	fatal = pool(ctx, conc, jobs, func(d download) error {
		videos, err := a.liveVideos(ctx, d.it.ID)
		sent.Add(1)
		tr.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			fail(Outcome{ID: d.it.ID, Name: d.it.Name, Target: d.it.ID, Status: StatusFailed,
				Detail: "its Live Photo video: " + err.Error()})
			if errors.Is(err, fetch.ErrUnauthorized) {
				return fetch.ErrUnauthorized
			}
			return nil
		}
		for _, v := range videos {
			id := ""
			if len(videos) > 1 {
				id = v.ID
			}
			rel := liveRel(d.rel, v.Name, id)
			path, err := localPath(dir, rel)
			if err != nil {
				fail(Outcome{ID: v.ID, Name: v.Name, Target: v.ID, Status: StatusFailed, Detail: err.Error()})
				continue
			}
			key := strings.ToLower(path)
			if other, dup := taken[key]; dup {
				fail(Outcome{ID: v.ID, Name: v.Name, Target: v.ID, Status: StatusFailed,
					Detail: fmt.Sprintf("the Live Photo video of %s would be %s, which node %s already takes: add {id} to NAMING", d.it.ID, rel, other)})
				continue
			}
			taken[key] = v.ID
			owner := v.OwnerID
			if owner == "" {
				owner = d.it.OwnerID
			}
			it := item{ID: v.ID, Name: v.Name, Kind: "ASSET", Size: v.ContentProperties.Size, MD5: v.ContentProperties.MD5,
				Ext: strings.TrimPrefix(filepath.Ext(v.Name), "."), Content: d.it.Content, ParentID: d.it.ID, OwnerID: owner, InNodes: true}
			more = append(more, download{it: it, path: path, rel: rel})
		}
		return nil
	}, func(d download, why string) {
		mu.Lock()
		defer mu.Unlock()
		fail(Outcome{ID: d.it.ID, Name: d.it.Name, Target: d.it.ID, Status: StatusFailed, Detail: "its Live Photo video: " + why})
	})
	return more, failed, fatal
}
