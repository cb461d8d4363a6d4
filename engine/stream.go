//go:build duckdb_arrow

package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	bindings "github.com/duckdb/duckdb-go-bindings"
	"github.com/duckdb/duckdb-go/v2"
)

// Why this file reaches past the driver: duckdb-go's Arrow.QueryContext
// executes through duckdb_pending_prepared + duckdb_execute_pending, which
// makes DuckDB materialize the whole result before the first batch (10M
// rows of SELECT * FROM range(...) held in memory). DuckDB's C API can
// stream instead (duckdb_pending_prepared_streaming, then duckdb_fetch_chunk
// one 2048-row chunk at a time), and duckdb-go-bindings wraps those calls,
// but the driver keeps the two handles they need unexported: the connection
// (for duckdb_interrupt) and the prepared statement. No option, connector
// hook or method exposes them (checked for duckdb-go v2.10506.0). So
// driverHandles reads them with reflect, checking names and types, and
// QueryArrow falls back to the driver's materializing Arrow.QueryContext
// when the layout is not what it expects; TestDriverLayout fails loudly in
// that case so the fallback never goes unnoticed.

// streamInterruptEvery is how often a cancelled query re-sends duckdb_interrupt
// until it stops: DuckDB can clear an interrupt that lands between two
// pipeline stages (the driver does the same, see its context.go).
const streamInterruptEvery = 100 * time.Millisecond

// QueryArrow runs query (one or more statements; args bind to the last)
// on the pinned connection conn and returns the last statement's result as
// a stream of Arrow record batches of up to 2048 rows, produced by DuckDB
// as they are read: memory stays bounded by a batch or two whatever the
// result's size.
//
// Obligations and semantics:
//   - The reader must be released (rr.Release) before conn runs another
//     statement or is closed. A reader read to its end (Next returned false)
//     has already given its DuckDB resources back; Release is still
//     required and cheap.
//   - ctx governs the whole stream, not just the start: cancelling it
//     interrupts DuckDB (Ctrl-C), and Next then returns false with an
//     error that matches ctx.Err() under errors.Is.
//   - DuckDB errors (at prepare, execution, or mid-stream from rr.Err) are
//     *duckdb.Error values, as the driver returns.
//   - Batches are valid until the next call to Next or Release; Retain one
//     to keep it longer.
//   - The reader is not safe for concurrent use (Retain and Release are).
func QueryArrow(ctx context.Context, conn *sql.Conn, query string, args ...any) (array.RecordReader, error) {
	var rr array.RecordReader
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("query arrow: connection is a %T, not a DuckDB connection", dc)
		}
		var err error
		rr, err = queryStreaming(ctx, c, query, args)
		if errors.Is(err, errDriverLayout) {
			rr, err = queryMaterialized(ctx, c, query, args)
		}
		return err
	})
	return rr, err
}

// errDriverLayout means duckdb-go's internals are not what driverHandles
// expects; QueryArrow then uses the driver's own (materializing) path.
var errDriverLayout = errors.New("duckdb-go internals changed: cannot reach the connection and statement handles, streaming disabled")

// driverHandles returns the native connection of c and the prepared
// statement of s. It is the only place that reads the driver's unexported
// fields (Conn.conn and Stmt.preparedStmt); it checks their names and types
// first and returns errDriverLayout when they differ.
func driverHandles(c *duckdb.Conn, s *duckdb.Stmt) (bindings.Connection, bindings.PreparedStatement, error) {
	var none bindings.Connection
	cf := reflect.ValueOf(c).Elem().FieldByName("conn")
	if !cf.IsValid() || cf.Type() != reflect.TypeFor[bindings.Connection]() {
		return none, bindings.PreparedStatement{}, fmt.Errorf("%w (duckdb.Conn.conn)", errDriverLayout)
	}
	sf := reflect.ValueOf(s).Elem().FieldByName("preparedStmt")
	if !sf.IsValid() || sf.Type() != reflect.TypeFor[*bindings.PreparedStatement]() {
		return none, bindings.PreparedStatement{}, fmt.Errorf("%w (duckdb.Stmt.preparedStmt)", errDriverLayout)
	}
	conn := *(*bindings.Connection)(unsafe.Pointer(cf.UnsafeAddr()))
	stmt := *(**bindings.PreparedStatement)(unsafe.Pointer(sf.UnsafeAddr()))
	if conn.Ptr == nil || stmt == nil || stmt.Ptr == nil {
		return none, bindings.PreparedStatement{}, fmt.Errorf("%w (nil handle)", errDriverLayout)
	}
	return conn, *stmt, nil
}

// queryMaterialized is the driver's own Arrow path: correct, but DuckDB
// holds the whole result in memory before the first batch.
func queryMaterialized(ctx context.Context, c *duckdb.Conn, query string, args []any) (array.RecordReader, error) {
	ar, err := duckdb.NewArrowFromConn(c)
	if err != nil {
		return nil, err
	}
	return ar.QueryContext(ctx, query, args...)
}

// queryStreaming prepares query with the driver (so multi-statement
// scripts and argument binding behave exactly as elsewhere) and executes
// it with DuckDB's streaming pending-result API.
func queryStreaming(ctx context.Context, c *duckdb.Conn, query string, args []any) (_ array.RecordReader, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ds, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s := ds.(*duckdb.Stmt)
	conn, prepared, err := driverHandles(c, s)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	r := &streamReader{stmt: s, conn: conn, ctx: ctx}
	r.refs.Store(1)
	r.watch()
	defer func() {
		if err != nil {
			r.finish()
		}
	}()

	if err := s.BindWithCtx(ctx, streamArgs(args)); err != nil {
		return nil, err
	}
	var pending bindings.PendingResult
	if bindings.PendingPreparedStreaming(prepared, &pending) == bindings.StateError {
		msg := bindings.PendingError(pending)
		bindings.DestroyPending(&pending)
		return nil, r.wrap(&duckdb.Error{Type: duckdb.ErrorTypeInvalid, Msg: msg})
	}
	state := bindings.ExecutePending(pending, &r.res)
	bindings.DestroyPending(&pending)
	r.hasRes = true
	if state == bindings.StateError {
		return nil, r.wrap(streamResultError(&r.res))
	}

	r.opts = bindings.ResultGetArrowOptions(&r.res)
	r.hasOpts = true
	n := bindings.ColumnCount(&r.res)
	names := make([]string, n)
	types := make([]bindings.LogicalType, n)
	for i := range n {
		names[i] = bindings.ColumnName(&r.res, i)
		types[i] = bindings.ColumnLogicalType(&r.res, i)
	}
	schema, ed := bindings.NewArrowSchema(r.opts, types, names)
	marks := make([]string, n)
	for i := range types {
		marks[i] = typeMark(types[i])
		bindings.DestroyLogicalType(&types[i])
	}
	if err := streamErrorData(ed); err != nil {
		return nil, fmt.Errorf("arrow schema of the result: %w", err)
	}
	r.schema, r.out = schema, markedSchema(schema, marks)
	return r, nil
}

// ExtUHugeInt marks, in a result field's metadata, a UHUGEINT column:
// DuckDB sends it as a Decimal128 whose 128 bits are to be read unsigned
// (values from 2^127 up would print negative).
const ExtUHugeInt = "apsql.uhugeint"

// typeMark is the extension name a result column of type lt gets in its
// field metadata, so that the output renders it as DuckDB means it: JSON
// embedded as JSON (DuckDB exports it as a plain string), UHUGEINT
// unsigned. "" for the rest.
func typeMark(lt bindings.LogicalType) string {
	if bindings.LogicalTypeGetAlias(lt) == "JSON" {
		return "arrow.json"
	}
	if bindings.GetTypeId(lt) == bindings.TypeUHugeInt {
		return ExtUHugeInt
	}
	return ""
}

// markedSchema is schema with marks[i] as the extension name of field i,
// or schema itself when nothing is marked.
func markedSchema(schema *arrow.Schema, marks []string) *arrow.Schema {
	fields := slices.Clone(schema.Fields())
	changed := false
	for i, m := range marks {
		if m == "" || i >= len(fields) {
			continue
		}
		if _, ok := fields[i].Metadata.GetValue("ARROW:extension:name"); ok {
			continue
		}
		keys := append(fields[i].Metadata.Keys(), "ARROW:extension:name")
		vals := append(fields[i].Metadata.Values(), m)
		fields[i].Metadata = arrow.NewMetadata(keys, vals)
		changed = true
	}
	if !changed {
		return schema
	}
	md := schema.Metadata()
	return arrow.NewSchema(fields, &md)
}

// streamArgs turns QueryArrow's arguments into the driver's form, as
// duckdb.Arrow.QueryContext does (sql.Named arguments keep their names).
func streamArgs(args []any) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		if na, ok := a.(sql.NamedArg); ok {
			nv[i].Name = na.Name
			a = na.Value
		}
		nv[i].Ordinal = i + 1
		nv[i].Value = a
	}
	return nv
}

func streamResultError(res *bindings.Result) error {
	return &duckdb.Error{Type: duckdb.ErrorType(bindings.ResultErrorType(res)), Msg: bindings.ResultError(res)}
}

func streamErrorData(ed bindings.ErrorData) error {
	defer bindings.DestroyErrorData(&ed)
	if !bindings.ErrorDataHasError(ed) {
		return nil
	}
	return &duckdb.Error{Type: duckdb.ErrorType(bindings.ErrorDataErrorType(ed)), Msg: bindings.ErrorDataMessage(ed)}
}

var _ array.RecordReader = (*streamReader)(nil)

// streamReader is QueryArrow's reader over a streaming DuckDB result.
type streamReader struct {
	refs   atomic.Int64
	ctx    context.Context
	schema *arrow.Schema // as DuckDB converts the chunks
	out    *arrow.Schema // schema with typeMark in the field metadata

	stmt    *duckdb.Stmt
	conn    bindings.Connection
	res     bindings.Result
	hasRes  bool
	opts    bindings.ArrowOptions
	hasOpts bool

	// stopWatch ends the interrupter; set by watch, cleared by finish.
	stopWatch func()

	cur  arrow.RecordBatch
	err  error
	done bool // exhausted, failed or released: DuckDB resources are gone
}

// watch arranges for ctx's cancellation to interrupt DuckDB, repeatedly,
// until finish. No goroutine runs unless ctx is cancelled.
func (r *streamReader) watch() {
	stop := make(chan struct{})
	exited := make(chan struct{})
	conn := r.conn
	unregister := context.AfterFunc(r.ctx, func() {
		defer close(exited)
		t := time.NewTicker(streamInterruptEvery)
		defer t.Stop()
		for {
			bindings.Interrupt(conn)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	r.stopWatch = func() {
		close(stop)
		if !unregister() {
			// The interrupter started: wait for it, so that it cannot
			// interrupt the connection's next statement.
			<-exited
		}
	}
}

// wrap adds ctx's error to a DuckDB error caused by the interrupt.
func (r *streamReader) wrap(err error) error {
	if ctxErr := r.ctx.Err(); ctxErr != nil {
		return errors.Join(ctxErr, err)
	}
	return err
}

// finish gives back every DuckDB resource, result first, then the
// prepared statement, and stops the interrupter.
func (r *streamReader) finish() {
	if r.done {
		return
	}
	r.done = true
	if r.hasOpts {
		bindings.DestroyArrowOptions(&r.opts)
	}
	if r.hasRes {
		bindings.DestroyResult(&r.res)
	}
	if err := r.stmt.Close(); err != nil && r.err == nil {
		r.err = err
	}
	r.stopWatch()
}

// Schema is the result's Arrow schema.
func (r *streamReader) Schema() *arrow.Schema { return r.out }

// Next fetches the next chunk from DuckDB and converts it to a record
// batch. It returns false at the end of the result or on an error (Err).
func (r *streamReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.done {
		return false
	}
	if err := r.ctx.Err(); err != nil {
		r.err = err
		r.finish()
		return false
	}
	chunk := bindings.FetchChunk(r.res)
	if chunk.Ptr == nil {
		// duckdb_fetch_chunk returns NULL at the end and on errors.
		if msg := bindings.ResultError(&r.res); msg != "" {
			r.err = r.wrap(streamResultError(&r.res))
		}
		r.finish()
		return false
	}
	defer bindings.DestroyDataChunk(&chunk)
	if bindings.DataChunkGetSize(chunk) == 0 {
		r.finish()
		return false
	}
	rec, ed := bindings.DataChunkToArrowArray(r.opts, r.schema, chunk)
	if err := streamErrorData(ed); err != nil {
		r.err = fmt.Errorf("convert a result chunk to arrow: %w", err)
		r.finish()
		return false
	}
	if r.out != r.schema {
		marked := array.NewRecordBatch(r.out, rec.Columns(), rec.NumRows())
		rec.Release()
		rec = marked
	}
	r.cur = rec
	return true
}

// RecordBatch is the batch read by the last successful Next.
func (r *streamReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record is RecordBatch under its deprecated name.
//
// Deprecated: use RecordBatch.
func (r *streamReader) Record() arrow.RecordBatch { return r.cur }

// Err is the error that ended the stream, nil at a normal end.
func (r *streamReader) Err() error { return r.err }

// Retain adds a reference.
func (r *streamReader) Retain() { r.refs.Add(1) }

// Release drops a reference; the last one frees the current batch and
// every DuckDB resource still held.
func (r *streamReader) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	r.finish()
}
