package mirror

import (
	"context"
	"database/sql/driver"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// keyIndex holds the change key (fetch.ChangeKey) of every mirrored row in
// a full listing's scope, so that the listing decodes and stores only the
// nodes that differ, and marks every id the listing names: the rows it
// never marked are the ones to remove.
//
// Amazon's ids are 22 characters of URL-safe base64 (16 bytes): they are
// kept as 16-byte keys in an open-addressing table (24 bytes a row, ~32 MB
// for a million); other ids in a map. After loading, the index is read
// only; marks are atomic bits, so the decoders look up concurrently.
type keyIndex struct {
	slots  []islot
	seen   []atomic.Uint64 // one bit per slot
	other  map[string]int  // id → position in otherKeys
	okeys  []uint64
	oseen  []atomic.Bool
	oids   []string
	n      int
	marked atomic.Int64 // distinct ids of the index the listing named
	same   atomic.Int64 // of those, unchanged (skipped)

	// A keyIndex started by startKeyIndex is filled by a goroutine while
	// the listing begins: ready closes when it is done, loaded says that
	// it succeeded (err says why not).
	ready  chan struct{}
	loaded atomic.Bool
	err    error
	cancel context.CancelCauseFunc // stops the read (and the listing)
	took   time.Duration           // how long the read took (read after ready)
}

type islot struct {
	id  [16]byte
	key uint64 // 0: empty slot
}

var strictB64 = base64.RawURLEncoding.Strict()

// compactID decodes a 22-character base64 id into its 16 bytes.
func compactID(id []byte) (k [16]byte, ok bool) {
	if len(id) != 22 {
		return k, false
	}
	n, err := strictB64.Decode(k[:], id)
	return k, err == nil && n == 16
}

func islotHash(k [16]byte) uint64 {
	h := binary.LittleEndian.Uint64(k[:8])*0x9E3779B97F4A7C15 ^ binary.LittleEndian.Uint64(k[8:])
	h *= 0xBF58476D1CE4E5B9
	return h ^ h>>31
}

func newKeyIndex(n int) *keyIndex {
	size := max(16, n*4/3+1)
	return &keyIndex{slots: make([]islot, size), seen: make([]atomic.Uint64, (size+63)/64), other: map[string]int{}}
}

// add records a mirrored row; a repeated id keeps the first.
func (x *keyIndex) add(id string, key uint64) {
	if k, ok := compactID([]byte(id)); ok {
		i, _ := bits.Mul64(islotHash(k), uint64(len(x.slots)))
		for x.slots[i].key != 0 {
			if x.slots[i].id == k {
				return
			}
			if i++; i == uint64(len(x.slots)) {
				i = 0
			}
		}
		x.slots[i] = islot{id: k, key: key}
		x.n++
		return
	}
	if _, ok := x.other[id]; ok {
		return
	}
	x.other[id] = len(x.okeys)
	x.okeys = append(x.okeys, key)
	x.oids = append(x.oids, id)
	x.n++
}

// unchanged marks id as listed and reports whether the mirror holds it with
// the same change key (fetch.UnchangedFunc).
func (x *keyIndex) unchanged(id []byte, key uint64) bool {
	if k, ok := compactID(id); ok {
		i, _ := bits.Mul64(islotHash(k), uint64(len(x.slots)))
		for {
			s := &x.slots[i]
			if s.key == 0 {
				return false
			}
			if s.id == k {
				bit := uint64(1) << (i % 64)
				first := x.seen[i/64].Or(bit)&bit == 0
				same := s.key == key
				if first {
					x.marked.Add(1)
					if same {
						x.same.Add(1)
					}
				}
				return same
			}
			if i++; i == uint64(len(x.slots)) {
				i = 0
			}
		}
	}
	j, ok := x.other[string(id)]
	if !ok {
		return false
	}
	same := x.okeys[j] == key
	if !x.oseen[j].Swap(true) {
		x.marked.Add(1)
		if same {
			x.same.Add(1)
		}
	}
	return same
}

// reset clears the marks (a listing fetched again).
func (x *keyIndex) reset() {
	for i := range x.seen {
		x.seen[i].Store(0)
	}
	for i := range x.oseen {
		x.oseen[i].Store(false)
	}
	x.marked.Store(0)
	x.same.Store(0)
}

// unlisted returns the ids of the index that the listing never named.
func (x *keyIndex) unlisted() []string {
	var out []string
	for i := range x.slots {
		s := &x.slots[i]
		if s.key != 0 && x.seen[i/64].Load()&(1<<(i%64)) == 0 {
			out = append(out, base64.RawURLEncoding.EncodeToString(s.id[:]))
		}
	}
	for j, id := range x.oids {
		if !x.oseen[j].Load() {
			out = append(out, id)
		}
	}
	return out
}

// stringColumn is an Arrow column of strings, whichever layout DuckDB sent.
type stringColumn interface {
	arrow.Array
	Value(i int) string
}

// startKeyIndex sizes the index of table's rows in scope, then reads their
// change keys on the session's connection in a goroutine, so that the
// listing's first pages are fetched meanwhile instead of after it (at 1M
// rows the read takes ~0.5 s of one core, and the listing waits on the
// network and the service). It returns the index and the context the
// listing must run in: the decoders wait for the keys (x.unchangedFunc),
// and a failed read cancels that context with its error.
//
// Until x.wait has returned, the session's connection belongs to the
// read: the caller writes nothing before it (a diff listing writes its
// first staged batch only after a node was found changed, so after the
// keys were read). The caller must call x.stop when it is done.
func startKeyIndex(ctx context.Context, db *engine.DB, table, scope string) (*keyIndex, context.Context, error) {
	x, err := countKeyIndex(ctx, db, table, scope)
	if err != nil {
		return nil, ctx, err
	}
	lctx, cancel := context.WithCancelCause(ctx)
	x.ready = make(chan struct{})
	x.cancel = cancel
	t0 := time.Now()
	go func() {
		defer close(x.ready)
		defer func() { x.took = time.Since(t0) }()
		if err := x.fill(lctx, db, table, scope); err != nil {
			x.err = err
			cancel(err)
			return
		}
		x.loaded.Store(true)
	}()
	return x, lctx, nil
}

// wait returns once the keys are read (the read's error, if any), or
// ctx's error first.
func (x *keyIndex) wait(ctx context.Context) error {
	if x.ready == nil {
		return nil
	}
	select {
	case <-x.ready:
		return x.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// stop ends a read still running and waits until it has let go of the
// session's connection (the read checks its context between batches).
func (x *keyIndex) stop() {
	if x.ready == nil {
		return
	}
	x.cancel(context.Canceled)
	<-x.ready
}

// unchangedFunc is x.unchanged for the listing's decoders: until the keys
// are read, each decoder waits for them (or for ctx) before it decides.
func (x *keyIndex) unchangedFunc(ctx context.Context) fetch.UnchangedFunc {
	if x.ready == nil {
		return x.unchanged
	}
	return func(id []byte, key uint64) bool {
		if !x.loaded.Load() {
			select {
			case <-x.ready:
			case <-ctx.Done():
				return false
			}
			if !x.loaded.Load() {
				return false // the read failed: the listing is cancelled
			}
		}
		return x.unchanged(id, key)
	}
}

// countKeyIndex returns an empty index sized for table's rows in scope.
func countKeyIndex(ctx context.Context, db *engine.DB, table, scope string) (*keyIndex, error) {
	var n int64
	if err := db.QueryRow(ctx, "SELECT count(*) FROM "+engine.Ident(table)+" n"+where(scope)).Scan(&n); err != nil {
		return nil, fmt.Errorf("read the mirror's keys: %w", err)
	}
	return newKeyIndex(int(n)), nil
}

func where(scope string) string {
	if scope == "" {
		return ""
	}
	return " WHERE " + scope
}

// fill reads the change keys of table's rows in scope into x.
func (x *keyIndex) fill(ctx context.Context, db *engine.DB, table, scope string) error {
	rr, err := engine.QueryArrow(ctx, db.Conn(), `SELECT id, "version", epoch_us("modifiedDate"), md5 FROM `+engine.Ident(table)+" n"+where(scope))
	if err != nil {
		return fmt.Errorf("read the mirror's keys: %w", err)
	}
	defer rr.Release()
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		rec := rr.RecordBatch()
		ids, ok1 := rec.Column(0).(stringColumn)
		ver, ok2 := rec.Column(1).(*array.Int64)
		mod, ok3 := rec.Column(2).(*array.Int64)
		md5, ok4 := rec.Column(3).(stringColumn)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return fmt.Errorf("read the mirror's keys: unexpected column types %s", rec.Schema())
		}
		for i := range int(rec.NumRows()) {
			if ids.IsNull(i) {
				continue
			}
			var m string
			if md5.IsValid(i) {
				m = md5.Value(i)
			}
			key := fetch.ChangeKey(ver.Value(i), ver.IsValid(i), mod.Value(i), mod.IsValid(i), []byte(m), md5.IsValid(i))
			x.add(ids.Value(i), key)
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("read the mirror's keys: %w", err)
	}
	x.oseen = make([]atomic.Bool, len(x.okeys))
	return nil
}

// idRows are the rows of a one-column table of ids (for the Appender).
func idRows(ids []string) [][]driver.Value {
	rows := make([][]driver.Value, len(ids))
	for i, id := range ids {
		rows[i] = []driver.Value{id}
	}
	return rows
}
