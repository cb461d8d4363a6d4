package serve

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apsql/apsql/engine"
)

// pageMax bounds one page of the grid.
const pageMax = 500

// parseQuery reads the box's text and the facets from the URL's values.
func parseQuery(v url.Values) (query, error) {
	q := query{Text: v.Get("q"), Label: v.Get("label")}
	var err error
	if y := v.Get("year"); y != "" {
		if q.Year, err = strconv.Atoi(y); err != nil || q.Year < 1 || q.Year > 9999 {
			return q, badRequest("year=%q: want a year like 2019", y)
		}
	}
	if m := v.Get("month"); m != "" {
		if q.Month, err = strconv.Atoi(m); err != nil || q.Month < 1 || q.Month > 12 || q.Year == 0 {
			return q, badRequest("month=%q: want 1 to 12, with a year", m)
		}
	}
	if v.Has("make") || v.Has("model") {
		q.Camera = &camera{Make: v.Get("make"), Model: v.Get("model")}
	}
	return q, nil
}

func intParam(v url.Values, name string, def, lo, hi int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s=%q: want a number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

// item is one tile of the grid.
type item struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Width    int     `json:"w,omitempty"`
	Height   int     `json:"h,omitempty"`
	Date     string  `json:"date,omitempty"`
	Video    bool    `json:"video,omitempty"`
	Duration float64 `json:"duration,omitempty"`
	Favorite bool    `json:"favorite,omitempty"`
	Missing  bool    `json:"missing,omitempty"` // not in nodes (trash, search())
}

type gridPage struct {
	Total  int64  `json:"total"` // -1 while the count is not known yet
	Offset int    `json:"offset"`
	More   bool   `json:"more"`
	Mode   string `json:"mode"`
	Items  []item `json:"items"`
	Millis int64  `json:"ms"`
}

// handleGrid answers GET /api/grid?q=...&offset=&limit= (and the facets):
// one page of the result.
func (s *Server) handleGrid(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	v := r.URL.Query()
	q, err := parseQuery(v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	offset, err := intParam(v, "offset", 0, 0, 1<<40)
	if err == nil {
		var limit int
		if limit, err = intParam(v, "limit", 200, 1, pageMax); err == nil {
			var page *gridPage
			if page, err = s.page(r.Context(), q, offset, limit); err == nil {
				page.Millis = time.Since(start).Milliseconds()
				s.writeJSON(w, page)
				return
			}
		}
	}
	s.writeError(w, r, err)
}

// page reads one page of q's result. The first page of a query whose
// table is not built yet is read straight from the query (a top-N), and
// then the table is built in the background.
func (s *Server) page(ctx context.Context, q query, offset, limit int) (*gridPage, error) {
	res, err := s.results.get(q)
	if err != nil {
		return nil, err
	}
	p := &gridPage{Total: -1, Offset: offset, Mode: res.mode}
	var ids []string
	if offset == 0 && !res.q.refined() && !res.isReady() {
		err = s.db.with(ctx, func(*engine.DB) error {
			rows, err := s.db.sb.Query(ctx, res.sql+"\nLIMIT "+strconv.Itoa(limit+1), res.args...)
			if err != nil {
				return sqlError(err)
			}
			defer rows.Close()
			for rows.Next() {
				var id sql.NullString
				if err := rows.Scan(&id); err != nil {
					return sqlError(err)
				}
				if id.Valid {
					ids = append(ids, id.String)
				}
			}
			if err := rows.Err(); err != nil {
				return sqlError(err)
			}
			return sqlError(rows.Close())
		})
		res.start()
		if err != nil {
			return nil, err
		}
		if len(ids) > limit {
			ids, p.More = ids[:limit], true
		} else {
			p.Total = int64(len(ids))
		}
	} else {
		if err := res.wait(ctx); err != nil {
			return nil, err
		}
		p.Total = res.total
		err = s.db.with(ctx, func(db *engine.DB) error {
			var err error
			ids, err = queryStrings(ctx, db, "SELECT id FROM temp."+res.table+" WHERE rowid >= ? AND rowid < ? ORDER BY rowid", offset, offset+limit)
			return err
		})
		if err != nil {
			return nil, err
		}
		p.More = int64(offset+len(ids)) < res.total
	}
	p.Items, err = s.items(ctx, ids)
	return p, err
}

// items reads the tiles of ids, in their order.
func (s *Server) items(ctx context.Context, ids []string) ([]item, error) {
	out := make([]item, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	byID := make(map[string]*item, len(ids))
	var in strings.Builder
	for i, id := range ids {
		out[i] = item{ID: id, Missing: true}
		byID[id] = &out[i]
		if i > 0 {
			in.WriteByte(',')
		}
		in.WriteString(engine.Quote(id))
	}
	err := s.db.with(ctx, func(db *engine.DB) error {
		rows, err := db.Query(ctx, `SELECT id, name, width, height, "contentDate", category = 'vid' OR "contentType" LIKE 'video/%', duration, favorite, "ownerId"
			FROM nodes WHERE id IN (`+in.String()+`)`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id, name, owner sql.NullString
				wd, ht          sql.NullInt64
				date            sql.NullTime
				video, fav      sql.NullBool
				dur             sql.NullFloat64
			)
			if err := rows.Scan(&id, &name, &wd, &ht, &date, &video, &dur, &fav, &owner); err != nil {
				return err
			}
			it := byID[id.String]
			if it == nil {
				continue
			}
			*it = item{ID: id.String, Name: name.String, Width: int(wd.Int64), Height: int(ht.Int64),
				Video: video.Bool, Duration: dur.Float64, Favorite: fav.Bool}
			if date.Valid {
				it.Date = date.Time.UTC().Format(time.RFC3339)
			}
			if owner.Valid {
				s.thumbs.setOwner(id.String, owner.String)
			}
		}
		return rows.Err()
	})
	// Duplicate ids in a user's query share the first one's row.
	for i := range out {
		if p := byID[out[i].ID]; p != &out[i] {
			out[i] = *p
		}
	}
	return out, err
}

func queryStrings(ctx context.Context, db *engine.DB, q string, args ...any) ([]string, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if s.Valid {
			out = append(out, s.String)
		}
	}
	return out, rows.Err()
}

type facets struct {
	Total    int64         `json:"total"`
	Timeline []monthCount  `json:"timeline"`
	Cameras  []cameraCount `json:"cameras"`
	Labels   []labelCount  `json:"labels"`
	Millis   int64         `json:"ms"`
}

type monthCount struct {
	Year  int   `json:"year"`
	Month int   `json:"month"`
	N     int64 `json:"n"`
}

type cameraCount struct {
	Make  string `json:"make"`
	Model string `json:"model"`
	N     int64  `json:"n"`
}

type labelCount struct {
	Label string `json:"label"`
	N     int64  `json:"n"`
}

// facetTop bounds the cameras and labels listed.
const facetTop = 15

// handleFacets answers GET /api/facets?q=...: the timeline, cameras and
// labels of the result (with its facets applied), and its count.
func (s *Server) handleFacets(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.results.get(q)
	if err == nil {
		err = res.wait(ctx)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := &facets{Total: res.total, Timeline: []monthCount{}, Cameras: []cameraCount{}, Labels: []labelCount{}}
	t := "temp." + res.table
	err = s.db.with(ctx, func(db *engine.DB) error {
		rows, err := db.Query(ctx, `SELECT year(n."contentDate") AS y, month(n."contentDate") AS m, count(*)
			FROM `+t+` r JOIN nodes n ON n.id = r.id WHERE n."contentDate" IS NOT NULL GROUP BY ALL ORDER BY y, m`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c monthCount
			if err := rows.Scan(&c.Year, &c.Month, &c.N); err != nil {
				rows.Close()
				return err
			}
			f.Timeline = append(f.Timeline, c)
		}
		rows.Close()
		rows, err = db.Query(ctx, `SELECT coalesce(n.make, ''), coalesce(n.model, ''), count(*) AS c
			FROM `+t+` r JOIN nodes n ON n.id = r.id WHERE n.make IS NOT NULL OR n.model IS NOT NULL GROUP BY ALL ORDER BY c DESC, 1, 2 LIMIT ?`, facetTop)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c cameraCount
			if err := rows.Scan(&c.Make, &c.Model, &c.N); err != nil {
				rows.Close()
				return err
			}
			f.Cameras = append(f.Cameras, c)
		}
		rows.Close()
		rows, err = db.Query(ctx, `SELECT l.label, count(DISTINCT l.id) AS c
			FROM `+t+` r JOIN labels l ON l.id = r.id AND l.rank = 1 GROUP BY ALL ORDER BY c DESC, 1 LIMIT ?`, facetTop)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c labelCount
			if err := rows.Scan(&c.Label, &c.N); err != nil {
				return err
			}
			f.Labels = append(f.Labels, c)
		}
		return rows.Err()
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f.Millis = time.Since(start).Milliseconds()
	s.writeJSON(w, f)
}
