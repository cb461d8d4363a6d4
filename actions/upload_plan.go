package actions

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/model"
)

// uploadPlan is what an UPLOAD sends, once its files are listed, hashed
// and checked against the library and each other.
type uploadPlan struct {
	todo     []*upFile // the files to send
	folders  []string  // the remote folders they go into, parents first
	hashNote string    // the summary's note on hashing
}

// plan lists the statement's files, hashes them and decides, file by
// file, what to send. What is not sent (unreadable, hidden, a duplicate)
// is added to r as an outcome.
func (st *uploadStmt) plan(ctx context.Context, s *engine.Session, r *run) (*uploadPlan, error) {
	files, err := st.list(ctx, s.DB, r)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	hashNote, err := hashAll(ctx, files, s)
	if err != nil {
		return nil, err
	}
	todo, err := st.dedupe(ctx, s.DB, r, files)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	return &uploadPlan{todo: todo, folders: neededFolders(todo), hashNote: hashNote}, nil
}

// list returns the local files of the statement: its tree, or its
// query's paths. What is left out is added to r.
func (st *uploadStmt) list(ctx context.Context, db *engine.DB, r *run) ([]*upFile, error) {
	var files []*upFile
	var skipped []Outcome
	var err error
	if st.query == "" {
		files, skipped, err = walkUpload(st.local, st.remote)
	} else {
		files, skipped, err = queryUpload(ctx, db, st.query, st.remote)
	}
	if err != nil {
		return nil, err
	}
	for _, o := range skipped {
		r.add(o)
	}
	return files, nil
}

// dedupe decides, file by file: failed to read, duplicate (of a node of
// the library, or of an earlier file of this upload, with DEDUP), or to
// send. It returns the files to send; the others are added to r.
func (st *uploadStmt) dedupe(ctx context.Context, db *engine.DB, r *run, files []*upFile) ([]*upFile, error) {
	inLibrary := map[string][2]string{}
	if st.dedup {
		var sums []string
		for _, f := range files {
			if f.err == nil {
				sums = append(sums, f.md5)
			}
		}
		var err error
		if inLibrary, err = libraryMD5s(ctx, db, sums); err != nil {
			return nil, err
		}
	}
	var todo []*upFile
	first := map[string]string{} // md5 → rel of the first file with it
	for _, f := range files {
		switch {
		case f.err != nil:
			r.add(Outcome{Name: f.rel, Status: StatusFailed, Detail: f.err.Error(), Target: f.rel})
		case st.dedup && inLibrary[f.md5][0] != "":
			n := inLibrary[f.md5]
			r.add(Outcome{ID: n[0], Name: f.rel, Status: StatusSkipped, Target: f.rel,
				Detail: fmt.Sprintf("already in the library (same md5 as %s %s)", n[0], engine.Quote(n[1]))})
		case st.dedup && first[f.md5] != "":
			r.add(Outcome{Name: f.rel, Status: StatusSkipped, Target: f.rel, Detail: "same content as " + first[f.md5] + " in this upload"})
		default:
			first[f.md5] = f.rel
			todo = append(todo, f)
		}
	}
	return todo, nil
}

// libraryMD5s returns, for the sums present in nodes, the id and name of
// one node with it.
func libraryMD5s(ctx context.Context, db *engine.DB, sums []string) (map[string][2]string, error) {
	out := map[string][2]string{}
	for lo := 0; lo < len(sums); lo += 1000 {
		hi := min(lo+1000, len(sums))
		rows, err := db.Query(ctx, `SELECT lower(md5), min(id), min(name) FROM nodes WHERE lower(md5) IN `+idList(sums[lo:hi])+` GROUP BY lower(md5)`)
		if err != nil {
			return nil, fmt.Errorf("look the md5s up in nodes: %w", err)
		}
		for rows.Next() {
			var sum, id, name string
			if err := rows.Scan(&sum, &id, &name); err != nil {
				rows.Close()
				return nil, err
			}
			out[sum] = [2]string{id, name}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// neededFolders returns the remote folders the files go into, with every
// ancestor, parents first.
func neededFolders(files []*upFile) []string {
	set := map[string]bool{}
	for _, f := range files {
		for p := f.remote; p != "" && !set[p]; p = parentOf(p) {
			set[p] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		di, dj := strings.Count(out[i], "/"), strings.Count(out[j], "/")
		if di != dj {
			return di < dj
		}
		return out[i] < out[j]
	})
	return out
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// explain is the result of EXPLAIN UPLOAD: a planned row a file to send,
// and what the statement would do.
func (p *uploadPlan) explain(r *run) *engine.Result {
	var bytes int64
	for _, f := range p.todo {
		bytes += f.size
		r.add(Outcome{Name: f.rel, Status: statusPlanned, Target: f.rel,
			Detail: r.s.Say("POST /cdproxy/nodes into /%s (%v)", f.remote, model.Size(f.size))})
	}
	files, folders := int64(len(p.todo)), int64(len(p.folders))
	return r.result(false, r.s.Say("would upload %v %s (%v) and create up to %d %s (existing ones are reused); %s; nothing was sent",
		model.Count(files), plural(files, "file", "files"), model.Size(bytes),
		folders, plural(folders, "folder", "folders"), p.hashNote))
}
