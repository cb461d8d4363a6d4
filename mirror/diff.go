package mirror

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"golang.org/x/sync/errgroup"

	"github.com/apsql/apsql/engine"
	"github.com/apsql/apsql/fetch"
)

// keyIndex holds the change key (fetch.ChangeKey) of every mirrored row in
// a full listing's scope, so that the listing decodes and stores only the
// nodes that differ, and marks every id the listing names: the rows it
// never marked are the ones to remove.
//
// Amazon's ids are 22 characters of URL-safe base64 (16 bytes): the rows
// are kept in the order the mirror stores them, as a 16-byte id and the
// key (24 bytes a row), with an open-addressing table of their positions
// (4 bytes a slot): ~29 MB for a million; other ids in a map. The mirror
// stores a listing's nodes in the listing's order (a first SYNC inserts
// them page by page), so a decoder first tries the row after the one its
// previous node matched: a sequential read instead of a random one into
// 30 MB. The position table is two halves, each with its own lock, so that
// two goroutines fill it. After loading, the index is read only; marks
// are atomic bits, so the decoders look up concurrently, and the counts
// are the bits set (no counter that every lookup would write).
type keyIndex struct {
	rows  []islot         // in the mirror's order; key 0: no row
	pos   []uint32        // 1 + a position in rows; 0: an empty slot
	half  uint64          // slots of one half: [0, half) and [half, 2*half)
	mu    [2]sync.Mutex   // one writer per half while filling
	seen  []atomic.Uint64 // one bit per row: the listing named it
	same  []atomic.Uint64 // one bit per row: ... with the same key
	omu   sync.Mutex      // the other ids, while filling
	other map[string]int  // id → position in okeys
	okeys []uint64
	oseen []atomic.Uint32 // 1: named, 2: named with the same key
	oids  []string

	// A keyIndex started by startKeyIndex is filled by goroutines while
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
	key uint64 // 0: no row
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

// newKeyIndex returns an index for up to n rows.
func newKeyIndex(n int) *keyIndex {
	half := uint64(max(8, n*2/3+1))
	words := (n + 63) / 64
	return &keyIndex{rows: make([]islot, n), pos: make([]uint32, 2*half), half: half,
		seen: make([]atomic.Uint64, words), same: make([]atomic.Uint64, words), other: map[string]int{}}
}

// slotOf returns the half of k (0 or 1) and the first slot to probe.
func (x *keyIndex) slotOf(k [16]byte) (h, i uint64) {
	hash := islotHash(k)
	h = hash & 1
	i, _ = bits.Mul64(hash, x.half)
	return h, h*x.half + i
}

// addAll indexes the rows at positions ps (already stored in x.rows),
// starting with half first; a repeated id keeps the first. Two goroutines
// may call it at once (each starting with another half, they rarely wait
// for each other).
func (x *keyIndex) addAll(ps []uint32, first uint64) {
	for n := range uint64(2) {
		h := (first + n) & 1
		lo, hi := h*x.half, (h+1)*x.half
		x.mu[h].Lock()
		for _, p := range ps {
			id := x.rows[p].id
			sh, i := x.slotOf(id)
			if sh != h {
				continue
			}
			for x.pos[i] != 0 && x.rows[x.pos[i]-1].id != id {
				if i++; i == hi {
					i = lo
				}
			}
			if x.pos[i] == 0 {
				x.pos[i] = p + 1
			} else {
				x.rows[p].key = 0 // a repeated id: not a row of its own
			}
		}
		x.mu[h].Unlock()
	}
}

// addOther records a mirrored row whose id is not 22 characters of base64.
func (x *keyIndex) addOther(id string, key uint64) {
	x.omu.Lock()
	defer x.omu.Unlock()
	if _, ok := x.other[id]; ok {
		return
	}
	x.other[id] = len(x.okeys)
	x.okeys = append(x.okeys, key)
	x.oids = append(x.oids, id)
}

// find returns the position of k in x.rows, trying the row after hint
// first; -1 when the mirror lacks it.
func (x *keyIndex) find(k [16]byte, hint int) int {
	if p := hint + 1; p > 0 && p < len(x.rows) && x.rows[p].id == k && x.rows[p].key != 0 {
		return p
	}
	h, i := x.slotOf(k)
	lo, hi := h*x.half, (h+1)*x.half
	for {
		p := x.pos[i]
		if p == 0 {
			return -1
		}
		if x.rows[p-1].id == k {
			return int(p - 1)
		}
		if i++; i == hi {
			i = lo
		}
	}
}

// unchanged marks id as listed and reports whether the mirror holds it with
// the same change key (fetch.UnchangedFunc); *hint is where the previous
// node of the same decoder was found.
func (x *keyIndex) unchanged(id []byte, key uint64, hint *int) bool {
	if k, ok := compactID(id); ok {
		p := x.find(k, *hint)
		if p < 0 {
			return false
		}
		*hint = p
		bit := uint64(1) << (p % 64)
		same := x.rows[p].key == key
		if x.seen[p/64].Or(bit)&bit == 0 && same {
			x.same[p/64].Or(bit)
		}
		return same
	}
	j, ok := x.other[string(id)]
	if !ok {
		return false
	}
	same := x.okeys[j] == key
	mark := uint32(1)
	if same {
		mark = 2
	}
	x.oseen[j].CompareAndSwap(0, mark)
	return same
}

// counts returns how many ids of the index the listing named, and how
// many of those with the same key (skipped as unchanged).
func (x *keyIndex) counts() (marked, same int64) {
	for i := range x.seen {
		marked += int64(bits.OnesCount64(x.seen[i].Load()))
		same += int64(bits.OnesCount64(x.same[i].Load()))
	}
	for i := range x.oseen {
		switch x.oseen[i].Load() {
		case 1:
			marked++
		case 2:
			marked++
			same++
		}
	}
	return marked, same
}

// reset clears the marks (a listing fetched again).
func (x *keyIndex) reset() {
	for i := range x.seen {
		x.seen[i].Store(0)
		x.same[i].Store(0)
	}
	for i := range x.oseen {
		x.oseen[i].Store(0)
	}
}

// unlisted returns the ids of the index that the listing never named.
func (x *keyIndex) unlisted() []string {
	var out []string
	for p := range x.rows {
		r := &x.rows[p]
		if r.key != 0 && x.seen[p/64].Load()&(1<<(p%64)) == 0 {
			out = append(out, base64.RawURLEncoding.EncodeToString(r.id[:]))
		}
	}
	for j, id := range x.oids {
		if x.oseen[j].Load() == 0 {
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

// startKeyIndex sizes the index for table's rows, then reads the change
// keys of those in scope on the session's connection in a goroutine, so
// that the listing's first pages are fetched meanwhile instead of after
// it (at 1M rows the read takes ~0.5 s of one core, and the listing waits
// on the network and the service). It returns the index and the context the
// listing must run in: the decoders wait for the keys (x.unchangedFunc),
// and a failed read cancels that context with its error.
//
// Until x.wait has returned, the session's connection belongs to the
// read: the caller writes nothing before it (a diff listing writes its
// first staged batch only after a node was found changed, so after the
// keys were read). The caller must call x.stop when it is done.
func startKeyIndex(ctx context.Context, db *engine.DB, table, scope string) (*keyIndex, context.Context, error) {
	x, err := countKeyIndex(ctx, db, table)
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

// unchangedFunc returns, for each of the listing's decoders, x.unchanged
// with a hint of its own; until the keys are read, each decoder waits for
// them (or for ctx) before it decides.
func (x *keyIndex) unchangedFunc(ctx context.Context) fetch.NewUnchangedFunc {
	return func() fetch.UnchangedFunc {
		hint := -1
		return func(id []byte, key uint64) bool {
			if x.ready != nil && !x.loaded.Load() {
				select {
				case <-x.ready:
				case <-ctx.Done():
					return false
				}
				if !x.loaded.Load() {
					return false // the read failed: the listing is cancelled
				}
			}
			return x.unchanged(id, key, &hint)
		}
	}
}

// countKeyIndex returns an empty index sized for table's rows, which
// bound its rows in scope: DuckDB counts a whole table from its metadata
// (~1 ms), while the count of the rows in scope read two columns of every
// row, 50-130 ms at 1M before the listing could start. Rows left unused
// (out of scope) cost 29 bytes each and are never listed nor removed.
func countKeyIndex(ctx context.Context, db *engine.DB, table string) (*keyIndex, error) {
	var n int64
	if err := db.QueryRow(ctx, "SELECT count(*) FROM "+engine.Ident(table)).Scan(&n); err != nil {
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

// fill reads the change keys of table's rows in scope into x: this
// goroutine reads the batches, two workers decode the ids, hash the keys
// and fill the position table's halves (at 1M rows, DuckDB's scan takes
// ~0.2 s and the rest ~0.3 s of one core).
func (x *keyIndex) fill(ctx context.Context, db *engine.DB, table, scope string) error {
	rr, err := engine.QueryArrow(ctx, db.Conn(), `SELECT id, "version", epoch_us("modifiedDate"), md5 FROM `+engine.Ident(table)+" n"+where(scope))
	if err != nil {
		return fmt.Errorf("read the mirror's keys: %w", err)
	}
	defer rr.Release()
	type batch struct {
		rec  arrow.RecordBatch
		base int // the position of its first row
	}
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan batch, 2)
	for w := range 2 {
		g.Go(func() error {
			var ps []uint32
			for b := range batches {
				var err error
				ps, err = x.addBatch(b.rec, b.base, ps[:0], uint64(w))
				b.rec.Release()
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(batches)
		base := 0
		for rr.Next() {
			rec := rr.RecordBatch()
			rec.Retain()
			select {
			case batches <- batch{rec, base}:
				base += int(rec.NumRows())
			case <-gctx.Done():
				rec.Release()
				return nil
			}
		}
		return rr.Err()
	})
	err = g.Wait()
	for b := range batches { // left by a worker that failed
		b.rec.Release()
	}
	if err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return fmt.Errorf("read the mirror's keys: %w", err)
	}
	x.oseen = make([]atomic.Uint32, len(x.okeys))
	return nil
}

// addBatch adds the rows of one batch of the keys' query, the first at
// position base (ps is scratch space, returned for reuse).
func (x *keyIndex) addBatch(rec arrow.RecordBatch, base int, ps []uint32, first uint64) ([]uint32, error) {
	ids, ok1 := rec.Column(0).(stringColumn)
	ver, ok2 := rec.Column(1).(*array.Int64)
	mod, ok3 := rec.Column(2).(*array.Int64)
	md5, ok4 := rec.Column(3).(stringColumn)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return ps, fmt.Errorf("unexpected column types %s", rec.Schema())
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
		id := ids.Value(i)
		k, ok := compactID([]byte(id))
		// A row past the count read before (the table grew under the
		// read) goes to the map like an id of another form.
		if p := base + i; ok && p < len(x.rows) {
			x.rows[p] = islot{id: k, key: key}
			ps = append(ps, uint32(p))
		} else {
			x.addOther(id, key)
		}
	}
	x.addAll(ps, first)
	return ps, nil
}
