package serve

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/apsql/apsql/engine"
)

// validID is the shape of a node id (Amazon's are 22 characters of
// base64url; the emulator's are alike). Anything else is refused before it
// reaches a statement, a file name or a URL.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// detailColumns are the node's columns in the detail pane, in order.
var detailColumns = []string{"name", "contentDate", "dateTimeOriginal", "createdDate", "size", "contentType",
	"width", "height", "duration", "make", "model", "apertureValue", "focalLength", "exposureTime",
	"isoSpeedRatings", "flash", "orientation", "favorite", "hidden", "md5", "id"}

type field struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

type nodeLabel struct {
	Label string  `json:"label"`
	Prob  float64 `json:"prob"`
	Model string  `json:"model"`
}

type detail struct {
	ID     string      `json:"id"`
	Found  bool        `json:"found"`
	Fields []field     `json:"fields"`
	Labels []nodeLabel `json:"labels"`
	// Albums and People are null when the mirror has no such table yet
	// (Notes then says how to get them).
	Albums []string `json:"albums"`
	People []string `json:"people"`
	// PeopleCovers: People are only the people whose cover photo this is
	// (the mirror has people but no tags of them).
	PeopleCovers bool     `json:"peopleCovers,omitempty"`
	Notes        []string `json:"notes"`
}

// handleNode answers GET /api/node/{id}: the detail pane.
func (s *Server) handleNode(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID.MatchString(id) {
		s.writeError(w, r, badRequest("not a node id: %q", id))
		return
	}
	ctx := r.Context()
	d := &detail{ID: id, Fields: []field{}, Labels: []nodeLabel{}, Notes: []string{}}
	err := s.db.with(ctx, func(db *engine.DB) error {
		cols, err := tableColumns(ctx, db)
		if err != nil {
			return err
		}
		if err := nodeFields(ctx, db, id, d); err != nil {
			return err
		}
		if cols["labels"] != nil {
			rows, err := db.Query(ctx, `SELECT label, prob, model FROM labels WHERE id = ? ORDER BY "labeledAt" DESC, rank LIMIT 10`, id)
			if err != nil {
				return err
			}
			for rows.Next() {
				var l nodeLabel
				var model sql.NullString
				if err := rows.Scan(&l.Label, &l.Prob, &model); err != nil {
					rows.Close()
					return err
				}
				l.Model = model.String
				d.Labels = append(d.Labels, l)
			}
			rows.Close()
		}
		if d.Albums, err = albumsOf(ctx, db, cols, id); err != nil {
			return err
		}
		if d.Albums == nil {
			d.Notes = append(d.Notes, "albums: this mirror has no album tables yet (SYNC ALBUMS, with an apsql that has them)")
		}
		if d.People, err = peopleOf(ctx, db, cols, id); err != nil {
			return err
		}
		if d.People == nil {
			// No tags of people: the people table (plain SYNC fills it)
			// still knows whose cover photo this is.
			var known int
			if d.People, known, err = coverPeopleOf(ctx, db, cols, id); err != nil {
				return err
			}
			if known > 0 {
				d.PeopleCovers = true
				d.Notes = append(d.Notes, fmt.Sprintf("people: the mirror knows %d people and whose cover photo this is; the tags table links no photo to them yet", known))
			} else {
				d.Notes = append(d.Notes, "people: run SYNC TAGS people to see who is in the photo")
			}
		}
		return nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, d)
}

// tableColumns lists the columns of the tables the detail pane may use;
// they are looked up on every request, since SYNC may add them while the
// gallery runs.
func tableColumns(ctx context.Context, db *engine.DB) (map[string][]string, error) {
	rows, err := db.Query(ctx, `SELECT table_name, column_name FROM duckdb_columns()
		WHERE schema_name = 'main' AND NOT internal AND table_name IN ('labels', 'tags', 'albums', 'album_members', 'people')
		ORDER BY table_name, column_index`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		out[t] = append(out[t], c)
	}
	return out, rows.Err()
}

// pick returns the first of names that cols has, or "".
func pick(cols []string, names ...string) string {
	for _, n := range names {
		if slices.Contains(cols, n) {
			return n
		}
	}
	return ""
}

func nodeFields(ctx context.Context, db *engine.DB, id string, d *detail) error {
	q := "SELECT "
	for i, c := range detailColumns {
		if i > 0 {
			q += ", "
		}
		q += `"` + c + `"`
	}
	vals := make([]any, len(detailColumns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err := db.QueryRow(ctx, q+" FROM nodes WHERE id = ?", id).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		// A node of a user's query that the mirror does not hold (trash,
		// search()): the pane says so.
		d.Notes = append(d.Notes, "not in nodes (in the trash, or not mirrored yet)")
		return nil
	}
	if err != nil {
		return err
	}
	d.Found = true
	for i, c := range detailColumns {
		v := vals[i]
		switch t := v.(type) {
		case nil:
			continue
		case time.Time:
			v = t.UTC().Format("2006-01-02 15:04:05")
		case []byte:
			v = string(t)
		}
		d.Fields = append(d.Fields, field{Name: c, Value: v})
	}
	return nil
}

// albumsOf lists the names of the albums holding id, from the album tables
// when the mirror has them (nil when it has not).
func albumsOf(ctx context.Context, db *engine.DB, cols map[string][]string, id string) ([]string, error) {
	m := cols["album_members"]
	member := pick(m, "id", "nodeId", "node_id", "memberId", "member_id")
	album := pick(m, "albumId", "album_id", "album")
	if member == "" || album == "" {
		return nil, nil
	}
	name := fmt.Sprintf("m.%q", album)
	join := ""
	if a := cols["albums"]; pick(a, "id") != "" && pick(a, "name") != "" {
		name = fmt.Sprintf("coalesce(a.name, m.%q)", album)
		join = fmt.Sprintf(" LEFT JOIN albums a ON a.id = m.%q", album)
	} else if n := pick(m, "albumName", "album_name", "name"); n != "" {
		name = fmt.Sprintf("m.%q", n)
	}
	return queryNames(ctx, db, fmt.Sprintf("SELECT DISTINCT %s AS n FROM album_members m%s WHERE m.%q = ? ORDER BY n", name, join, member), id)
}

// peopleOf lists the people in id: its "people" tags, named from the
// people table when the mirror has one (nil without tags of people).
func peopleOf(ctx context.Context, db *engine.DB, cols map[string][]string, id string) ([]string, error) {
	if cols["tags"] == nil {
		return nil, nil
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM tags WHERE category = 'people'`).Scan(&n); err != nil || n == 0 {
		return nil, err
	}
	name, join := "t.value", ""
	p := cols["people"]
	if key, nm := pick(p, "clusterId", "cluster_id", "id"), pick(p, "name"); key != "" && nm != "" {
		name = fmt.Sprintf("coalesce(nullif(p.%q, ''), t.value)", nm)
		join = fmt.Sprintf(" LEFT JOIN people p ON p.%q = t.value", key)
	}
	out, err := queryNames(ctx, db, fmt.Sprintf("SELECT DISTINCT %s AS n FROM tags t%s WHERE t.category = 'people' AND t.id = ? ORDER BY n", name, join), id)
	if out == nil && err == nil {
		out = []string{}
	}
	return out, err
}

func queryNames(ctx context.Context, db *engine.DB, q string, args ...any) ([]string, error) {
	out, err := queryStrings(ctx, db, q, args...)
	if out == nil && err == nil {
		out = []string{}
	}
	return out, err
}

// coverPeopleOf lists the people whose cover photo id is, from the people
// table, and how many people the table holds (nil, 0 without one).
func coverPeopleOf(ctx context.Context, db *engine.DB, cols map[string][]string, id string) ([]string, int, error) {
	p := cols["people"]
	key, nm, cover := pick(p, "clusterId", "cluster_id", "id"), pick(p, "name"), pick(p, "coverNodeId", "cover_node_id")
	if key == "" || cover == "" {
		return nil, 0, nil
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM people`).Scan(&n); err != nil || n == 0 {
		return nil, 0, err
	}
	name := fmt.Sprintf("%q", key)
	if nm != "" {
		name = fmt.Sprintf("coalesce(nullif(%q, ''), %q)", nm, key)
	}
	out, err := queryNames(ctx, db, fmt.Sprintf("SELECT DISTINCT %s AS n FROM people WHERE %q = ? ORDER BY n", name, cover), id)
	return out, n, err
}
