package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// ingestSeq numbers the internal views that ingestion registers, so that
// two ingestions never share one.
var ingestSeq atomic.Int64

// Ingester inserts Arrow record batches into one table through DuckDB's
// Arrow scan (the fastest way in: ~95k rows/s for the nodes table, against
// ~50k through the Appender).
//
// Every batch is registered as a temporary view under a unique internal
// name, copied with INSERT INTO table SELECT * FROM view, and the view is
// dropped and its memory released before Insert returns. Reading every
// column in order is deliberate: duckdb-go's Arrow views return values from
// the wrong columns, or crash, when a query reads only some of their columns
// or aggregates them (duckdb/duckdb-go issues #24 and #28), so no other
// query ever sees the view.
//
// An Ingester uses the session's pinned connection: it must not be used
// while another statement runs on it, nor concurrently with itself.
type Ingester struct {
	d      *DB
	table  string // quoted, possibly schema-qualified
	schema *arrow.Schema
	rows   int64
}

// Ingester returns an Ingester for table ("name", "schema.name", or
// "temp.main.name" for a temporary table). The
// batches' fields must be the table's columns, by name and in table order
// (model.NodeColumns for nodes, trash and a staging table of their shape);
// a mismatch is an error naming the first difference. DuckDB converts the
// Arrow types to the columns' types (an Arrow string into JSON, for one).
func (d *DB) Ingester(ctx context.Context, table string, schema *arrow.Schema) (*Ingester, error) {
	catalog, sch, name := "", "main", table
	if rest, ok := strings.CutPrefix(table, "temp.main."); ok {
		catalog, name = "temp", rest
	} else if i := strings.IndexByte(table, '.'); i >= 0 {
		sch, name = table[:i], table[i+1:]
	}
	rows, err := d.Query(ctx, `SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? AND database_name = coalesce(nullif(?, ''), current_database()) ORDER BY column_index`, sch, name, catalog)
	if err != nil {
		return nil, fmt.Errorf("ingest into %s: %w", table, err)
	}
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ingest into %s: %w", table, err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ingest into %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("ingest into %s: no such table", table)
	}
	if err := sameColumns(cols, schema); err != nil {
		return nil, fmt.Errorf("ingest into %s: %w", table, err)
	}
	qualified := Ident(sch) + "." + Ident(name)
	if catalog != "" {
		qualified = Ident(catalog) + "." + qualified
	}
	return &Ingester{d: d, table: qualified, schema: schema}, nil
}

// sameColumns reports the first difference between a table's columns and
// the fields of schema.
func sameColumns(cols []string, schema *arrow.Schema) error {
	fields := schema.Fields()
	for i := range max(len(cols), len(fields)) {
		switch {
		case i >= len(fields):
			return fmt.Errorf("the batches lack column %q (column %d of the table)", cols[i], i+1)
		case i >= len(cols):
			return fmt.Errorf("the batches have an extra field %q (field %d); the table has %d columns", fields[i].Name, i+1, len(cols))
		case !strings.EqualFold(fields[i].Name, cols[i]):
			return fmt.Errorf("field %d of the batches is %q, but column %d of the table is %q; build the batches in table order", i+1, fields[i].Name, i+1, cols[i])
		}
	}
	return nil
}

// Rows returns the number of rows inserted so far.
func (in *Ingester) Rows() int64 { return in.rows }

// Insert copies rec into the table. rec's schema must equal the one the
// Ingester was made with. The caller keeps its reference to rec: Insert
// retains what it needs and releases it before returning.
func (in *Ingester) Insert(ctx context.Context, rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		return nil
	}
	if !rec.Schema().Equal(in.schema) {
		return fmt.Errorf("ingest into %s: a batch with another schema: %s", in.table, rec.Schema())
	}
	rr, err := array.NewRecordReader(in.schema, []arrow.RecordBatch{rec})
	if err != nil {
		return fmt.Errorf("ingest into %s: %w", in.table, err)
	}
	defer rr.Release()
	return in.InsertReader(ctx, rr)
}

// InsertReader copies every batch of rr into the table in one INSERT: the
// Arrow scan pulls batches as DuckDB consumes them, so a reader fed by a
// producer streams in bounded memory. rr's schema must equal the one the
// Ingester was made with; InsertReader does not release rr.
func (in *Ingester) InsertReader(ctx context.Context, rr array.RecordReader) error {
	if !rr.Schema().Equal(in.schema) {
		return fmt.Errorf("ingest into %s: a reader with another schema: %s", in.table, rr.Schema())
	}
	view := fmt.Sprintf("__apsql_ingest_%d", ingestSeq.Add(1))
	n, err := in.d.insertView(ctx, in.table, view, rr)
	in.rows += n
	if err != nil {
		return fmt.Errorf("ingest into %s: %w", in.table, err)
	}
	return nil
}

// insertView registers rr as the temporary view named view, copies all of
// it into table, then drops the view and releases the stream, whatever
// happened.
func (d *DB) insertView(ctx context.Context, table, view string, rr array.RecordReader) (n int64, err error) {
	defer d.oneThread()()
	err = d.Raw(func(c *duckdb.Conn) error {
		ar, err := duckdb.NewArrowFromConn(c)
		if err != nil {
			return err
		}
		release, err := ar.RegisterView(rr, view)
		if err != nil {
			return err
		}
		defer func() {
			// The view refers to the stream: drop it before the stream goes.
			// A cancelled ctx must not leave it behind, hence Background.
			_, _ = c.ExecContext(context.Background(), "DROP VIEW IF EXISTS "+Ident(view), nil)
			release()
		}()
		res, err := c.ExecContext(ctx, "INSERT INTO "+table+" SELECT * FROM "+Ident(view), nil)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// oneThread sets DuckDB's threads to 1 for an Arrow insert and returns the
// function that puts the previous setting back.
//
// Why: the Arrow scan is one stream, so one DuckDB thread runs the insert
// and blocks in the stream's callback while the producer decodes the next
// batch. With more threads, the thread that waits for the query's result
// finds no task to run and spins on the scheduler's queue, taking a whole
// core from the producer: a 1M-node SYNC on 2 cores went from 23 s to 17 s
// with one thread (bench/results/sync.md). threads is a database-wide
// setting; the session's connection is the only one that runs statements.
func (d *DB) oneThread() (restore func()) {
	if d.LockedDown() {
		// SET is refused there, and inside SYNC's transaction the
		// refusal would abort it: the insert runs at the threads it has.
		return func() {}
	}
	ctx := context.Background()
	var prev int64
	if err := d.conn.QueryRowContext(ctx, "SELECT current_setting('threads')::BIGINT").Scan(&prev); err != nil || prev <= 1 {
		return func() {}
	}
	if owed := d.threadsOwed.Load(); owed > 0 {
		prev = owed // threads is 1 only because an earlier restore failed
	}
	if _, err := d.conn.ExecContext(ctx, "SET threads = 1"); err != nil {
		return func() {}
	}
	return func() {
		if _, err := d.conn.ExecContext(ctx, fmt.Sprintf("SET threads = %d", prev)); err != nil {
			// Inside a transaction that the failed insert aborted, SET
			// fails too: owe it until the transaction has ended.
			d.threadsOwed.Store(prev)
		}
	}
}

// ExecOneThread runs a statement on the pinned connection with DuckDB's
// threads at 1, and puts the setting back after it (see oneThread).
//
// Why: the COMMIT of a large insert (a first SYNC's: the primary key's
// index filled from the transaction's rows, then the checkpoint) is one
// thread's work; with more threads, the thread that waits for the result
// spins on the scheduler's queue and its mutex meanwhile. A 300k-node
// COMMIT used 0.44-0.48 s of CPU on one thread against 0.51-1.37 s with
// two (bench/firstlab numbers in BENCHMARKS.md).
func (d *DB) ExecOneThread(ctx context.Context, query string) (sql.Result, error) {
	defer d.oneThread()()
	return d.conn.ExecContext(ctx, query)
}

// RestoreSettings puts back a setting that an Arrow insert changed and
// could not restore because its transaction had failed (threads). Call it
// after a ROLLBACK; Session.Run calls it around every statement.
func (d *DB) RestoreSettings() {
	prev := d.threadsOwed.Load()
	if prev <= 0 {
		return
	}
	if _, err := d.conn.ExecContext(context.Background(), fmt.Sprintf("SET threads = %d", prev)); err == nil {
		d.threadsOwed.CompareAndSwap(prev, 0)
	}
}

// Stream starts one INSERT into the table that consumes batches as they
// are sent, and returns the stream to send them into. One statement for a
// whole listing lets DuckDB write full row groups straight to the database
// file instead of logging every batch in the WAL and checkpointing between
// them (on a file database, ~10x faster than an INSERT per batch).
//
//   - Send hands a batch over and returns once DuckDB took it (the
//     stream holds no more than that batch: memory stays bounded). It may be
//     called from any goroutine, one call at a time.
//   - Close ends the stream and waits for the INSERT: with cause nil the
//     rows are committed; with an error the INSERT fails and nothing of it
//     stays. Close must be called exactly once, also after a failed Send.
//
// The session's connection is busy until Close returns.
func (in *Ingester) Stream(ctx context.Context) *IngestStream {
	s := &IngestStream{
		in:     in,
		reader: &chanReader{schema: in.schema, ch: make(chan arrow.RecordBatch), done: make(chan struct{})},
		result: make(chan error, 1),
	}
	s.reader.refs.Store(1)
	go func() {
		err := in.InsertReader(ctx, s.reader)
		close(s.reader.done) // Send must not wait for a reader that has stopped
		s.result <- err
	}()
	return s
}

// IngestStream is one running INSERT fed by Send; see Ingester.Stream.
type IngestStream struct {
	in     *Ingester
	reader *chanReader
	result chan error
	closed bool
}

// errStreamEnded is what Send returns once the INSERT stopped; Close says why.
var errStreamEnded = errors.New("the insert has stopped")

// Send hands rec to the INSERT, retaining it until DuckDB releases it.
func (s *IngestStream) Send(ctx context.Context, rec arrow.RecordBatch) error {
	if !rec.Schema().Equal(s.in.schema) {
		return fmt.Errorf("ingest into %s: a batch with another schema: %s", s.in.table, rec.Schema())
	}
	rec.Retain()
	select {
	case s.reader.ch <- rec:
		return nil
	case <-s.reader.done:
		rec.Release()
		return fmt.Errorf("ingest into %s: %w", s.in.table, errStreamEnded)
	case <-ctx.Done():
		rec.Release()
		return context.Cause(ctx)
	}
}

// Close ends the stream (failing the INSERT when cause is not nil) and
// returns the INSERT's error.
func (s *IngestStream) Close(cause error) error {
	if s.closed {
		return errors.New("ingest stream closed twice")
	}
	s.closed = true
	s.reader.finish(cause)
	err := <-s.result
	if cause != nil {
		return cause // the INSERT failed because of it
	}
	return err
}

// chanReader is an array.RecordReader over batches sent on a channel; it
// ends when finish is called, with finish's error as Err.
type chanReader struct {
	refs   atomic.Int64
	schema *arrow.Schema
	ch     chan arrow.RecordBatch
	done   chan struct{} // closed when the INSERT stopped reading
	cur    arrow.RecordBatch
	once   sync.Once
	end    chan struct{}
	err    error
	mu     sync.Mutex
}

func (r *chanReader) endCh() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.end == nil {
		r.end = make(chan struct{})
	}
	return r.end
}

// finish ends the reader after the batches already sent.
func (r *chanReader) finish(err error) {
	end := r.endCh()
	r.once.Do(func() {
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		close(end)
	})
}

func (r *chanReader) Retain() { r.refs.Add(1) }

func (r *chanReader) Release() {
	if r.refs.Add(-1) == 0 && r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}

func (r *chanReader) Schema() *arrow.Schema { return r.schema }

func (r *chanReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	select {
	case rec := <-r.ch:
		r.cur = rec
		return true
	case <-r.endCh():
		// A Send racing with finish: take what was sent first.
		select {
		case rec := <-r.ch:
			r.cur = rec
			return true
		default:
		}
		return false
	}
}

func (r *chanReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record is RecordBatch (arrow's deprecated name).
func (r *chanReader) Record() arrow.RecordBatch { return r.cur }

func (r *chanReader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
