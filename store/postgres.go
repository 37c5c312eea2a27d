package store

import (
	"bytes"
	"context"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net"
	neturl "net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safehold/safehold/clock"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// Postgres is the Store on PostgreSQL, shared by every replica of one
// Safehold. The design mirrors SQLite's so both pass one conformance suite:
//
//   - Update transactions are serialized across all processes by a
//     transaction-scoped advisory lock (one per schema), taken first in every
//     write transaction: each read-modify-write sees every earlier commit, as
//     with SQLite's single writer, without retry loops that would re-run the
//     caller's fn. Within a process one writer goroutine runs the Updates,
//     in groups as SQLite does: the Updates queued while a group runs form
//     the next one, a single transaction (the lock taken once) with one
//     SAVEPOINT per Update and one COMMIT, after which each is answered. So
//     a write costs its own statements, not a transaction of its own (and
//     the statements that need no answer wait for the next round trip: see
//     pgGroupConn), and writers hold one pool connection, never
//     starving readers of them. Metadata writes are small; the data path
//     (chunks, packs) never runs inside Update.
//   - ClaimTasks does not take that lock: it claims with
//     SELECT … FOR UPDATE SKIP LOCKED, so replicas claim concurrently and
//     never the same task; each claim bumps the task's epoch in task_leases.
//   - A fenced Update (ctx from WithLease) locks the task row, then its
//     task_leases row (the order ClaimTasks uses, so the two cannot
//     deadlock), and fails with ErrLeaseLost unless owner and epoch match.
//   - Enqueue sends NOTIFY on commit; Wakeups delivers them (LISTEN on a
//     dedicated connection, reconnecting); runners keep polling as fallback.
//   - Migrations are embedded and applied under an advisory lock, so
//     replicas starting together against an empty database are safe.
//
// Why our own task contract and not River (riverqueue/river): River has no
// fencing token (a rescued job can run again while the first worker still
// commits) and rescues stuck jobs only by age (one hour by default, no
// heartbeat), while a backup that lost its lease must not commit a recovery
// point and large backups outlive any fixed horizon; its unique jobs skip
// duplicates where our schedules need keyed replacement; and it would bring a
// second queue model with its own tables and migrations. The contract here is
// a handful of statements in River's shapes (SKIP LOCKED claims, LISTEN/NOTIFY
// wake-ups) plus the epoch, and the same conformance suite checks it on
// SQLite and PostgreSQL.
type Postgres struct {
	pool     *pgxpool.Pool
	maxConns int32 // the pool's (pool.Config() copies the whole configuration)
	clk      clock.Clock
	lockID   int64 // advisory lock key of this schema's writers
	// stmtTimeout bounds each statement of the writer's transactions
	// (writer_statement_timeout in the URL; 0: none).
	stmtTimeout time.Duration
	// roundTrip bounds, on this side, how long any round trip to the
	// database may wait for its answer (see pgWatchdogConn; 0: no bound).
	roundTrip atomic.Int64                       // nanoseconds
	timedOut  atomic.Int64                       // Unix nanoseconds: when a round trip last timed out
	sent      atomic.Int64                       // writes to the database's connections (round trips; tests)
	hook      atomic.Pointer[func(stage string)] // tests: called at the writer's stages

	// The writer: Updates queue in writes; it runs them in groups (see
	// Update) on one connection at a time, with wctx, until closing.
	writes     chan *pgReq
	wctx       context.Context
	wcancel    context.CancelFunc
	closing    chan struct{}
	closeOnce  sync.Once
	writerDone chan struct{}
	wcache     pgWriteCache
	lists      pgListMemo // the lists ReadBatch read, by the writer_gen they were read at
	reads      pgReads    // ReadBatch's round trips

	cancel   context.CancelFunc
	bg       sync.WaitGroup
	wakeOnce sync.Once
	wake     chan struct{}

	gcMu   sync.Mutex
	lastGC time.Time

	keep atomic.Pointer[pgKeep] // KeepGeneration's
}

// pgKeep is a generation document that every Update writing a document of
// its kinds writes too (KeepGeneration).
type pgKeep struct {
	gen   Read
	kinds []string
}

// KeepGeneration makes every Update that writes a document of kinds
// (GenerationKeeper) write gen's document too, in the same transaction.
func (p *Postgres) KeepGeneration(gen Read, kinds ...string) bool {
	p.keep.Store(&pgKeep{gen: gen, kinds: slices.Clone(kinds)})
	return true
}

// wrote reports whether t wrote (or deleted by scope) a document of k's kinds.
func (k *pgKeep) wrote(t *pgTx) bool {
	return slices.ContainsFunc(k.kinds, t.touched)
}

const notifyChannel = "safehold_tasks"

// IsPostgresURL reports whether u selects the PostgreSQL store.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// DefaultWriterStatementTimeout bounds each statement of the writer's
// transactions unless the store URL's writer_statement_timeout says
// otherwise.
const DefaultWriterStatementTimeout = 30 * time.Second

// DefaultRoundTripMargin is how much longer than the writer's statement
// timeout a round trip may wait for the database's answer, unless the
// store URL's round_trip_timeout says otherwise.
const DefaultRoundTripMargin = 5 * time.Second

// OpenPostgres connects to the database at url (a postgres:// URL; libpq
// parameters such as sslmode and search_path may be given as query
// parameters) and applies the embedded migrations. clk stamps Created and
// Updated; nil means the real clock.
//
// The URL's writer_statement_timeout (a Go duration such as 10s; 0 for
// none; DefaultWriterStatementTimeout if absent) bounds each statement of
// the writer's transactions, the wait for the writers' lock included: a
// stuck statement (a row locked by hand, a replica stopped while it held
// the lock) fails the Updates it holds up with ErrUnavailable instead of
// hanging every write; and a writer's transaction left idle twice as long
// and a second (its process stopped or cut off) is ended by the database,
// which frees the writers' lock.
//
// The URL's round_trip_timeout (a Go duration; 0 for none; the statement
// timeout and DefaultRoundTripMargin if absent, none if that is 0) bounds
// how long any round trip waits for the database's answer, on this side:
// a database that stopped answering (a frozen server, a network
// partition: nothing resets the connection) fails the reads and writes
// waiting on it with ErrUnavailable after that long instead of hanging
// them, and the store serves again once it answers (see pgWatchdogConn).
func OpenPostgres(ctx context.Context, url string, clk clock.Clock) (*Postgres, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	url, timeout, roundTrip, err := pgTimeouts(url)
	if err != nil {
		return nil, fmt.Errorf("postgres store URL: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres store URL: %w", err)
	}
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	p := &Postgres{clk: clk, stmtTimeout: timeout, maxConns: cfg.MaxConns,
		writes: make(chan *pgReq, 256), closing: make(chan struct{}), writerDone: make(chan struct{}),
		reads: pgReads{pipes: pgReadPipes()}}
	pgWatchdog(cfg, &p.roundTrip, &p.timedOut, &p.sent, roundTrip)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	p.pool = pool
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect postgres: %w", pgConnectErr(err))
	}
	h := fnv.New64a()
	h.Write([]byte("safehold-writers:" + schema))
	p.lockID = int64(h.Sum64())
	if err := p.migrate(ctx, schema); err != nil {
		pool.Close()
		return nil, err
	}
	// Bounded from here on (a migration may take its time).
	p.roundTrip.Store(int64(roundTrip))
	p.cancel = func() {}
	p.wctx, p.wcancel = context.WithCancel(context.Background())
	go p.writer()
	return p, nil
}

// pgTimeouts takes Safehold's own parameters out of a store URL (they are
// not the database's): writer_statement_timeout and round_trip_timeout
// (default: the statement timeout and DefaultRoundTripMargin; none when
// the statement timeout is 0).
func pgTimeouts(raw string) (string, time.Duration, time.Duration, error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "", 0, 0, err
	}
	q := u.Query()
	changed := false
	duration := func(name string, def time.Duration) (time.Duration, error) {
		v, ok := q[name]
		if !ok {
			return def, nil
		}
		q.Del(name)
		changed = true
		d, err := time.ParseDuration(v[0])
		if v[0] == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%s %q: want a duration such as 30s (0 for none)", name, v[0])
		}
		return d, nil
	}
	stmt, err := duration("writer_statement_timeout", DefaultWriterStatementTimeout)
	if err != nil {
		return "", 0, 0, err
	}
	def := time.Duration(0)
	if stmt > 0 {
		def = stmt + DefaultRoundTripMargin
	}
	rt, err := duration("round_trip_timeout", def)
	if err != nil {
		return "", 0, 0, err
	}
	if !changed {
		return raw, stmt, rt, nil
	}
	u.RawQuery = q.Encode()
	return u.String(), stmt, rt, nil
}

func (p *Postgres) migrate(ctx context.Context, schema string) error {
	h := fnv.New64a()
	h.Write([]byte("safehold-migrations:" + schema))
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		pending, err := pendingMigrations(postgresMigrations, "migrations/postgres/*.sql", func(name string) (bool, error) {
			var n int
			err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE name = $1`, name).Scan(&n)
			return n > 0, err
		})
		if err != nil {
			return err
		}
		for _, m := range pending {
			if _, err := tx.Exec(ctx, m.body); err != nil {
				return fmt.Errorf("migrate %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations(name, applied_at) VALUES ($1, $2)`, m.name, p.clk.Now()); err != nil {
				return fmt.Errorf("migrate %s: %w", m.name, err)
			}
		}
		return nil
	})
}

// Close stops the writer (after the Updates already queued), the listener,
// and closes the pool.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		<-p.writerDone
		p.wcancel()
	})
	if p.cancel != nil {
		p.cancel()
	}
	p.bg.Wait()
	p.pool.Close()
	return nil
}

// Pool is the connection pool (for other tables of the same database, such
// as leader and ownership leases).
func (p *Postgres) Pool() *pgxpool.Pool { return p.pool }

type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

type pgReader struct{ q pgQuerier }

// Get, List, GetTask and GetTaskByKey read on the pool, outside any
// transaction (no cache: other replicas write too), each on a connection
// of its own (see onConn).

func (p *Postgres) Get(ctx context.Context, kind, key string) (d Doc, err error) {
	err = p.onConn(ctx, func(q *pgxpool.Conn) error { d, err = (pgReader{q}).Get(ctx, kind, key); return err })
	return d, err
}

func (p *Postgres) List(ctx context.Context, kind string, lq ListQuery) (docs []Doc, err error) {
	err = p.onConn(ctx, func(q *pgxpool.Conn) error { docs, err = (pgReader{q}).List(ctx, kind, lq); return err })
	return docs, err
}

func (p *Postgres) GetTask(ctx context.Context, id string) (t Task, err error) {
	err = p.onConn(ctx, func(q *pgxpool.Conn) error { t, err = (pgReader{q}).GetTask(ctx, id); return err })
	return t, err
}

func (p *Postgres) GetTaskByKey(ctx context.Context, key string) (t Task, err error) {
	err = p.onConn(ctx, func(q *pgxpool.Conn) error { t, err = (pgReader{q}).GetTaskByKey(ctx, key); return err })
	return t, err
}

// onConn runs run on a pooled connection. run reads, or runs a transaction
// of its own that it may run again; its result is not used before run
// returns. When the connection turns out broken (the database dropped it
// while it idled in the pool: a restart, a failover,
// pg_terminate_backend; pgx closes a connection on such an error), run
// runs again on another connection, as database/sql does with
// driver.ErrBadConn: each dead pooled connection fails once, so up to as
// many times as the pool holds connections. A database that cannot be
// reached, or that fails run on a fresh connection too, is ErrUnavailable.
func (p *Postgres) onConn(ctx context.Context, run func(c *pgxpool.Conn) error) error {
	c, err := p.tryConn(ctx, run)
	if c != nil {
		c.Release()
	}
	return err
}

// tryConn runs run on a pooled connection as onConn does and, when run
// succeeds, returns the connection (the caller releases it).
func (p *Postgres) tryConn(ctx context.Context, run func(c *pgxpool.Conn) error) (*pgxpool.Conn, error) {
	for tries := p.maxConns; ; tries-- {
		c, err := p.pool.Acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if err = run(c); err == nil {
			return c, nil
		}
		// A database that did not answer in time is not tried again
		// (each try would wait as long).
		broken := c.Conn().IsClosed() && ctx.Err() == nil && !pgTimedOut(err)
		if !c.Conn().IsClosed() && c.Conn().PgConn().TxStatus() != 'I' {
			pgRollback(c) // (kept in the pool)
		}
		c.Release()
		switch {
		case ctx.Err() != nil:
			return nil, err
		case !broken:
			return nil, pgUnavailable(err)
		case tries <= 0:
			return nil, fmt.Errorf("%w: the connection to the database was lost: %w", ErrUnavailable, err)
		}
	}
}

// pgConnectErr is the error of a first connection to the database: also
// ErrUnavailable when it could not be reached at all (refused, reset, no
// route, timed out: down or restarting, a condition that passes), as
// pgUnavailable says for what it answered. A refused login or a database
// that does not exist stays as it is (what to fix is the store URL).
func pgConnectErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && !errors.Is(err, ErrUnavailable) {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return pgUnavailable(err)
}

// pgUnavailable marks err as ErrUnavailable when PostgreSQL refused the
// statement for a reason that passes (an error of classes 08, connection,
// and 57, operator intervention: a statement timeout, a shutdown, a
// database starting up; too many connections; a lock not available; a
// serialization failure or deadlock), and when it did not answer in time;
// and as ErrInsufficientStorage when its disk is full (53100).
func pgUnavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	if pgTimedOut(err) {
		return fmt.Errorf("%w: the database did not answer in time (round_trip_timeout): %w", ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pe.Code == "53100": // disk_full
		return fmt.Errorf("%w: %w", ErrInsufficientStorage, err)
	case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57"),
		pe.Code == "53300", pe.Code == "55P03", pe.Code == "40001", pe.Code == "40P01":
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

const pgDocCols = `kind, key, scope, type, value, version, created, updated`

// pgScanDoc reads a row of pgDocCols with scan (a pgx row's or rows' Scan).
func pgScanDoc(scan func(...any) error) (Doc, error) {
	var d Doc
	if err := scan(pgDocRow{d: &d}); err != nil {
		return Doc{}, err
	}
	return d, nil
}

// pgDocRow reads a row of pgDocCols, after writer_gen when gen is set
// (pgListGenSQL's rows), into d (a pgx.RowScanner). It decodes the
// columns' bytes as they come (text, bytea, int8 and timestamptz in the
// formats pgx asks for: the text columns as they are, the others binary)
// instead of pgx's Scan, which plans each column's scan by reflection for
// every single-row result (a request's gets: ~3 % of the server's CPU in
// bench/mixed on PostgreSQL); anything else (another format, a NULL where
// none is stored, a timestamp at infinity) goes through pgx's Scan, with
// its errors.
type pgDocRow struct {
	d   *Doc
	gen *int64
}

func (s pgDocRow) ScanRow(rows pgx.Rows) error {
	if !s.fast(rows.FieldDescriptions(), rows.RawValues()) {
		pgDocSlow.Add(1)
		d := s.d
		dest := []any{&d.Kind, &d.Key, &d.Scope, &d.Type, &d.Value, &d.Version, &d.Created, &d.Updated}
		if s.gen != nil {
			dest = append([]any{s.gen}, dest...)
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		d.Created, d.Updated = d.Created.UTC(), d.Updated.UTC()
	}
	return nil
}

// pgDocSlow counts the rows pgDocRow read through pgx's Scan (tests).
var pgDocSlow atomic.Int64

// pgEpochMicros is PostgreSQL's epoch for timestamps (2000-01-01 UTC) in
// Unix microseconds.
const pgEpochMicros = 946684800 * 1000000

// fast decodes the row into s if its columns are as expected, and reports
// whether it did (nothing of s changed otherwise).
func (s pgDocRow) fast(fds []pgconn.FieldDescription, vals [][]byte) bool {
	var gen int64
	if s.gen != nil {
		if len(fds) == 0 || len(vals) != len(fds) || !pgBinary(fds[0], pgtype.Int8OID) || len(vals[0]) != 8 {
			return false
		}
		gen = int64(binary.BigEndian.Uint64(vals[0]))
		fds, vals = fds[1:], vals[1:]
	}
	if len(fds) != 8 || len(vals) != 8 {
		return false
	}
	for i := 0; i < 4; i++ {
		if fds[i].DataTypeOID != pgtype.TextOID || vals[i] == nil {
			return false
		}
	}
	if !pgBinary(fds[4], pgtype.ByteaOID) || !pgBinary(fds[5], pgtype.Int8OID) || len(vals[5]) != 8 {
		return false
	}
	var ts [2]time.Time
	for i := range ts {
		v := vals[6+i]
		if !pgBinary(fds[6+i], pgtype.TimestamptzOID) || len(v) != 8 {
			return false
		}
		us := int64(binary.BigEndian.Uint64(v))
		if us == math.MaxInt64 || us == math.MinInt64 { // infinity
			return false
		}
		ts[i] = time.UnixMicro(us + pgEpochMicros).UTC()
	}
	if s.gen != nil {
		*s.gen = gen
	}
	d := s.d
	d.Kind, d.Key, d.Scope, d.Type = string(vals[0]), string(vals[1]), string(vals[2]), string(vals[3])
	d.Value = nil
	if vals[4] != nil {
		d.Value = make([]byte, len(vals[4]))
		copy(d.Value, vals[4])
	}
	d.Version = int64(binary.BigEndian.Uint64(vals[5]))
	d.Created, d.Updated = ts[0], ts[1]
	return true
}

func pgBinary(fd pgconn.FieldDescription, oid uint32) bool {
	return fd.DataTypeOID == oid && fd.Format == pgtype.BinaryFormatCode
}

func (r pgReader) Get(ctx context.Context, kind, key string) (Doc, error) {
	d, err := pgScanDoc(r.q.QueryRow(ctx, pgGetSQL, kind, strings.ToLower(key)).Scan)
	return one(d, err, pgx.ErrNoRows, "get "+kind+" "+key)
}

func (r pgReader) List(ctx context.Context, kind string, q ListQuery) ([]Doc, error) {
	sqlq, args := pgListSQL(kind, q)
	rows, err := r.q.Query(ctx, sqlq, args...)
	return collect(rows, err, "list "+kind, pgScanDoc)
}

const pgGetSQL = `SELECT ` + pgDocCols + ` FROM docs WHERE kind = $1 AND key = $2`

// pgListSQL is the statement of a List and its arguments.
func pgListSQL(kind string, q ListQuery) (string, []any) {
	var b strings.Builder
	b.Grow(len(pgDocCols) + 160)
	b.WriteString(`SELECT ` + pgDocCols + ` FROM docs WHERE kind = $1`)
	args := make([]any, 1, 4)
	args[0] = kind
	if q.ScopePrefix != "" {
		args = append(args, likeEscape(strings.ToLower(q.ScopePrefix))+"%")
		b.WriteString(` AND scope LIKE $` + strconv.Itoa(len(args)) + ` ESCAPE '\'`)
	}
	if q.Type != "" {
		args = append(args, strings.ToLower(q.Type))
		b.WriteString(` AND type = $` + strconv.Itoa(len(args)))
	}
	if q.After != "" {
		args = append(args, strings.ToLower(q.After))
		b.WriteString(` AND key > $` + strconv.Itoa(len(args)))
	}
	b.WriteString(` ORDER BY key`)
	if q.Limit > 0 {
		b.WriteString(` LIMIT ` + strconv.Itoa(q.Limit))
	}
	return b.String(), args
}

// readBatch makes the reads in one round trip on a pooled connection,
// each as Get or List makes it; a failure of the round trip is each
// read's error.
func (p *Postgres) readBatch(ctx context.Context, reads []Read) []ReadResult {
	out, err := p.readBatchErr(ctx, reads)
	if err != nil {
		out = pgReadErrs(len(reads), err)
	}
	return out
}

// readBatchErr is readBatch's round trip: its results, or the error that
// failed it.
func (p *Postgres) readBatchErr(ctx context.Context, reads []Read) ([]ReadResult, error) {
	var out []ReadResult
	err := p.onConn(ctx, func(c *pgxpool.Conn) error {
		out = make([]ReadResult, len(reads)) // (again when run again)
		var b pgx.Batch
		for i, rd := range reads {
			res := &out[i]
			if rd.List {
				p.lists.queue(&b, rd.Kind, rd.Q, res)
				continue
			}
			b.Queue(pgGetSQL, rd.Kind, strings.ToLower(rd.Key)).QueryRow(func(row pgx.Row) error {
				d, err := pgScanDoc(row.Scan)
				if res.Doc, res.Err = one(d, err, pgx.ErrNoRows, "get "+rd.Kind+" "+rd.Key); errors.Is(res.Err, ErrNotFound) {
					return nil
				}
				return res.Err
			})
		}
		return c.SendBatch(ctx, &b).Close()
	})
	return out, err
}

// AnyUnder answers store.AnyUnder in one statement through the docs_scope
// index (AnyUnderReader), reading no document: a List of one document per
// kind, ordered by key, made the planner walk every key of a kind with no
// document under the prefix.
func (r pgReader) AnyUnder(ctx context.Context, prefix string, kinds []string) (bool, error) {
	if len(kinds) == 0 {
		return false, nil
	}
	var found bool
	err := r.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM docs WHERE kind = ANY($1) AND scope LIKE $2 ESCAPE '\')`,
		kinds, likeEscape(strings.ToLower(prefix))+"%").Scan(&found)
	if err != nil {
		return false, fmt.Errorf("any of %v under %s: %w", kinds, prefix, err)
	}
	return found, nil
}

// AnyUnder is pgReader's, on a pooled connection.
func (p *Postgres) AnyUnder(ctx context.Context, prefix string, kinds []string) (found bool, err error) {
	err = p.onConn(ctx, func(q *pgxpool.Conn) error { found, err = (pgReader{q}).AnyUnder(ctx, prefix, kinds); return err })
	return found, err
}

const pgTaskCols = `id, kind, coalesce(tkey, ''), payload, run_at, attempts, last_error, lease_owner, lease_until, created`

func pgScanTask(scan func(...any) error) (Task, error) {
	var t Task
	var leaseUntil *time.Time
	if err := scan(&t.ID, &t.Kind, &t.Key, &t.Payload, &t.RunAt, &t.Attempts, &t.LastError, &t.LeaseOwner, &leaseUntil, &t.Created); err != nil {
		return Task{}, err
	}
	t.RunAt, t.Created = t.RunAt.UTC(), t.Created.UTC()
	if leaseUntil != nil {
		t.LeaseUntil = leaseUntil.UTC()
	}
	return t, nil
}

func (r pgReader) GetTask(ctx context.Context, id string) (Task, error) {
	t, err := pgScanTask(r.q.QueryRow(ctx, `SELECT `+pgTaskCols+` FROM tasks WHERE id = $1`, id).Scan)
	return one(t, err, pgx.ErrNoRows, "get task "+id)
}

func (r pgReader) GetTaskByKey(ctx context.Context, key string) (Task, error) {
	if key == "" {
		return Task{}, ErrNotFound
	}
	t, err := pgScanTask(r.q.QueryRow(ctx, `SELECT `+pgTaskCols+` FROM tasks WHERE tkey = $1`, key).Scan)
	return one(t, err, pgx.ErrNoRows, "get task "+key)
}

type pgTx struct {
	pgReader
	c        *pgGroupConn
	now      time.Time
	enqueued bool

	cache   *pgWriteCache
	keep    *pgKeep                // (KeepGeneration)
	changes map[docKey]pgCachedDoc // the documents this fn wrote, as they are now
	bulk    []string               // kinds this fn deleted by scope
	seen    []docKey               // the documents this fn read, or wrote knowing them (see known)
	listed  []string               // the kinds this fn listed
}

// dependsOn reports whether t read, or may have read, what u wrote.
func (t *pgTx) dependsOn(u *pgTx) bool {
	if len(u.bulk) > 0 {
		return true
	}
	for ck := range u.changes {
		if slices.Contains(t.seen, ck) || slices.Contains(t.listed, ck.kind) {
			return true
		}
	}
	return false
}

// pgMaxGroup bounds how many Updates share one transaction. Each Update that
// writes is a subtransaction with an xid of its own; PostgreSQL keeps up to
// 64 of them per backend in shared memory (PGPROC_MAX_CACHED_SUBXIDS), and a
// transaction with more makes every other backend's snapshot checks look
// them up in pg_subtrans.
const pgMaxGroup = 64

// A pgReq is an Update waiting for the writer or being run by it.
type pgReq struct {
	ctx   context.Context
	fn    func(tx Tx) error
	state atomic.Int32 // pgQueued, then pgTaken (by the writer) or pgWithdrawn (by the caller)
	done  chan writeResult
}

const (
	pgQueued int32 = iota
	pgTaken
	pgWithdrawn
)

// Update runs fn in a transaction of its own, serialized with every other
// Update on this schema (see the type's documentation), and returns once
// that transaction committed, or with fn's error and nothing of fn written.
// The Updates queued while the writer runs a group form its next group: one
// transaction, one SAVEPOINT per fn (a failing fn rolls back only its own)
// and one COMMIT, after which each is answered. A panic in fn is re-raised
// in the caller (nothing of fn is written). A canceled ctx withdraws an
// Update that the writer has not started yet.
func (p *Postgres) Update(ctx context.Context, fn func(tx Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &pgReq{ctx: ctx, fn: fenced(ctx, fn), done: make(chan writeResult, 1)}
	select {
	case p.writes <- r:
	case <-p.closing:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	var res writeResult
	select {
	case res = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(pgQueued, pgWithdrawn) {
			return ctx.Err()
		}
		// Started: the caller must not believe a write failed that may
		// be about to commit.
		res = <-r.done
	case <-p.writerDone:
		select {
		case res = <-r.done:
		default: // queued after the writer's last look at the queue
			return errStoreClosed
		}
	}
	if res.panicked {
		panic(res.panic)
	}
	return res.err
}

// QueuedUpdates is how many Updates wait for the writer (not yet in a group).
func (p *Postgres) QueuedUpdates() int { return len(p.writes) }

// writer runs the queued Updates in groups, one transaction each, until
// Close; the Updates queued by then still run.
func (p *Postgres) writer() {
	defer close(p.writerDone)
	var begun *pgBegun // the next group's transaction, when the last group began it
	for {
		var first *pgReq
		select {
		case first = <-p.writes:
		case <-p.closing:
			for {
				select {
				case r := <-p.writes:
					begun = p.commitGroup([]*pgReq{r}, begun)
				default:
					if begun != nil { // (never: it is begun for queued Updates)
						begun.c.Release()
					}
					return
				}
			}
		}
		group := []*pgReq{first}
	drain:
		for len(group) < pgMaxGroup {
			select {
			case r := <-p.writes:
				group = append(group, r)
			default:
				break drain
			}
		}
		begun = p.commitGroup(group, begun)
	}
}

// pgBegun is a writer's transaction as begun (by the group's own BEGIN or
// the last group's COMMIT): with the advisory lock held, writer_gen as
// read and the transaction's id.
type pgBegun struct {
	c   *pgxpool.Conn
	gen int64
	xid int64 // txid_current(): how to learn the outcome of a COMMIT whose answer was lost
}

// pgBegin queues the statements that begin a writer's transaction: the
// transaction, the statement timeout of its statements and how long it may
// idle (a writer stopped or cut off while it holds the writers' lock is
// ended by the database after twice the statement timeout and a second, so
// the other replicas write again), the lock that serializes it with every
// replica's writer, the setting that keeps its statements from bumping
// writer_gen (it bumps once, at COMMIT: see pgWriteCache), and the
// writers' generation and the transaction's id, read into into.
func (p *Postgres) pgBegin(b *pgx.Batch, into *pgBegun) {
	idle := time.Duration(0)
	if p.stmtTimeout > 0 {
		idle = 2*p.stmtTimeout + time.Second
	}
	b.Queue(`BEGIN`)
	b.Queue(`SELECT set_config('statement_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true), set_config('safehold.writer', 'on', true)`,
		fmt.Sprint(p.stmtTimeout.Milliseconds()), fmt.Sprint(idle.Milliseconds()))
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, p.lockID)
	b.Queue(`SELECT gen, txid_current() FROM writer_gen`).QueryRow(func(row pgx.Row) error { return row.Scan(&into.gen, &into.xid) })
}

// pgGroupConn runs a group's statements on its connection with the writer's
// context: a caller's canceled ctx fails that caller's next statement, never
// one in flight (pgx closes a connection whose statement is canceled, which
// would take the whole group with it).
//
// Each fn runs in a SAVEPOINT of its own, sent in one round trip with the
// fn's first statement (savepoint says one is due): a fn costs its own
// statements, nothing more. A fn that succeeded is not released: the next
// fn's savepoint nests in it, so that ROLLBACK TO SAVEPOINT u always undoes
// exactly the fn that failed, and the COMMIT commits them all.
//
// A write whose outcome the writer knows beforehand (a Put, Create or
// Delete of a document it holds in its cache, an Enqueue) is not sent on
// its own: it waits in pending, with the SAVEPOINTs before it, and goes
// with the next statement that needs an answer (a read the cache cannot
// answer, of this fn or a later one) or with the COMMIT. A group whose fns
// read what they write from the cache costs one round trip, not one per
// fn: the writer's round trips, one after the other, are what bounds its
// writes per second. Such writes are only those the database cannot refuse
// (see pgPlainText): if it does all the same (it failed), the fn they
// belong to fails and so do the fns run after it, which may have read what
// it wrote (failed; see commitGroup).
type pgGroupConn struct {
	c         *pgxpool.Conn
	ctx       context.Context
	fn        int  // the running fn's index in its group
	savepoint bool // a SAVEPOINT is due before the fn's next statement
	used      bool // the fn put a statement or a SAVEPOINT in the transaction (sent or pending)
	flushed   bool // some of them reached the database
	pending   []pgPending
	// doomed fails the running fn: it read what a write refused by the
	// database wrote (see onRefused); its statements fail with it.
	doomed error
	// broken is set when a refused write could not be undone: the
	// transaction is lost, every fn of the group fails.
	broken error
	// onRefused handles a pending statement (pending[x]) that the
	// database refused with err: it rolls the transaction back to the
	// refused statement's savepoint (nothing ran after it), fails that
	// statement's fn and every fn since that read what a failed one
	// wrote (the running one through doomed), and returns the pending
	// statements of the others after it, to go again; false if the
	// transaction could not be rolled back.
	onRefused func(pending []pgPending, x int, err error) ([]pgPending, bool)
}

// pgPending is a statement waiting for the next round trip, and the fn it
// belongs to.
type pgPending struct {
	q  *pgx.QueuedQuery
	fn int
}

// pgMaxPending bounds the statements waiting: a fn writing more sends them.
const pgMaxPending = 256

// start readies q for the group's fn i (clean: the innermost savepoint
// holds nothing, the fn may use it).
func (q *pgGroupConn) start(i int, clean bool) {
	q.fn, q.savepoint, q.used, q.flushed = i, !clean, false, false
}

// later queues a statement of the fn whose answer it does not need (see
// the type's documentation); args are sent as they are then (a caller's
// slice among them must be a copy).
func (q *pgGroupConn) later(ctx context.Context, sql string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := q.failing(); err != nil {
		return err
	}
	if q.savepoint {
		q.pending = append(q.pending, pgPending{&pgx.QueuedQuery{SQL: `SAVEPOINT u`}, q.fn})
		q.savepoint = false
	}
	q.used = true
	q.pending = append(q.pending, pgPending{&pgx.QueuedQuery{SQL: sql, Arguments: args}, q.fn})
	if len(q.pending) >= pgMaxPending {
		return q.batch(ctx, &pgx.Batch{}, func(pgx.BatchResults) error { return nil })
	}
	return nil
}

// drop forgets the pending statements of the running fn (it failed).
func (q *pgGroupConn) drop() {
	for len(q.pending) > 0 && q.pending[len(q.pending)-1].fn == q.fn {
		q.pending = q.pending[:len(q.pending)-1]
	}
}

// failing is the error of the running fn's statements once it is doomed
// or the transaction broken.
func (q *pgGroupConn) failing() error {
	if q.broken != nil {
		return q.broken
	}
	return q.doomed
}

// prelude takes what must precede the fn's next statement: the pending
// statements and the due SAVEPOINT.
func (q *pgGroupConn) prelude() []pgPending {
	pre := q.pending
	q.pending = nil
	if q.savepoint {
		pre = append(pre, pgPending{&pgx.QueuedQuery{SQL: `SAVEPOINT u`}, q.fn})
		q.savepoint = false
	}
	q.used, q.flushed = true, true
	return pre
}

// send sends the prelude (see prelude) and own in one round trip and reads
// the prelude's results. A pending statement the database refuses fails
// its fn and those since that read what it wrote (onRefused); the other
// statements go again, with own unless the running fn is one of those.
func (q *pgGroupConn) send(own []*pgx.QueuedQuery) (pgx.BatchResults, error) {
	pre := q.prelude()
	for {
		var b pgx.Batch
		for _, e := range pre {
			b.QueuedQueries = append(b.QueuedQueries, pgFresh(e.q))
		}
		for _, o := range own {
			b.QueuedQueries = append(b.QueuedQueries, pgFresh(o))
		}
		br := q.c.SendBatch(q.ctx, &b)
		x := 0
		var err error
		for ; x < len(pre); x++ {
			if _, err = br.Exec(); err != nil {
				break
			}
		}
		if err == nil {
			return br, nil
		}
		br.Close()
		rest, ok := []pgPending(nil), false
		if !q.c.Conn().IsClosed() && q.onRefused != nil {
			rest, ok = q.onRefused(pre, x, err)
		}
		if !ok {
			q.broken = err
			return nil, err
		}
		if q.doomed != nil {
			q.pending = rest // (with the next round trip)
			return nil, q.doomed
		}
		pre = rest
	}
}

// pgFresh is a copy of qq to send: a batch that failed leaves its queries
// naming prepared statements that pgx drops, which must not be sent again.
func pgFresh(qq *pgx.QueuedQuery) *pgx.QueuedQuery {
	return &pgx.QueuedQuery{SQL: qq.SQL, Arguments: qq.Arguments, Fn: qq.Fn}
}

func (q *pgGroupConn) direct() bool { return !q.savepoint && len(q.pending) == 0 }

func (q *pgGroupConn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.failing(); err != nil {
		return nil, err
	}
	if q.direct() {
		q.used, q.flushed = true, true
		return q.c.Query(q.ctx, sql, args...)
	}
	br, err := q.send([]*pgx.QueuedQuery{{SQL: sql, Arguments: args}})
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return pgBatchRows{rows, br}, nil
}

// pgBatchRows are the rows of a batch's last statement: closing them
// closes the batch.
type pgBatchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r pgBatchRows) Close() {
	r.Rows.Close()
	r.br.Close()
}

func (q *pgGroupConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := ctx.Err(); err != nil {
		return pgErrRow{err}
	}
	if err := q.failing(); err != nil {
		return pgErrRow{err}
	}
	if q.direct() {
		q.used, q.flushed = true, true
		return q.c.QueryRow(q.ctx, sql, args...)
	}
	var b pgx.Batch
	b.Queue(sql, args...)
	return pgBatchRow{q, &b}
}

// pgBatchRow is a QueryRow sent with the statements before it when it is
// scanned.
type pgBatchRow struct {
	q *pgGroupConn
	b *pgx.Batch
}

func (r pgBatchRow) Scan(dest ...any) error {
	return r.q.batch(r.q.ctx, r.b, func(br pgx.BatchResults) error { return br.QueryRow().Scan(dest...) })
}

func (q *pgGroupConn) Exec(ctx context.Context, sql string, args ...any) (tag pgconn.CommandTag, err error) {
	if err := ctx.Err(); err != nil {
		return pgconn.CommandTag{}, err
	}
	if err := q.failing(); err != nil {
		return pgconn.CommandTag{}, err
	}
	if q.direct() {
		q.used, q.flushed = true, true
		return q.c.Exec(q.ctx, sql, args...)
	}
	var b pgx.Batch
	b.Queue(sql, args...)
	err = q.batch(ctx, &b, func(br pgx.BatchResults) error {
		tag, err = br.Exec()
		return err
	})
	return tag, err
}

// batch sends b's statements in one round trip, after the prelude (the
// pending statements and the due SAVEPOINT), and closes the results after
// read has read b's (in queue order).
func (q *pgGroupConn) batch(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := q.failing(); err != nil {
		return err
	}
	br, err := q.send(b.QueuedQueries)
	if err != nil {
		return err
	}
	err = read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

type pgErrRow struct{ err error }

func (r pgErrRow) Scan(...any) error { return r.err }

// commitGroup runs the group's fns in one transaction, each in its own
// savepoint, commits once and then answers each caller: with its fn's error
// (its savepoint rolled back), or nil once the COMMIT succeeded, or the
// error of a COMMIT (or of the transaction) that failed, which fails every
// fn of the group. Withdrawn Updates are skipped.
//
// A COMMIT whose answer is lost (the connection dropped: a restart, a
// failover, a network failure) may have committed or not: the writer asks
// the database (txid_status of the transaction's id, read at its BEGIN)
// before answering, so that no committed write is reported failed nor a
// failed one committed. A panic of the writer's own code (outside the
// fns) answers every caller with an error, unless their transaction
// committed, and the writer goes on with a fresh connection.
//
// begun is the group's transaction if the last group began it (else the
// group begins its own). When more Updates wait, the COMMIT's round trip
// begins the next group's transaction too, returned as next: the writer's
// round trips are where it waits longest (for the database, then for a
// CPU among the callers its COMMIT just answered).
func (p *Postgres) commitGroup(group []*pgReq, begun *pgBegun) (next *pgBegun) {
	ctx := p.wctx
	results := make([]writeResult, len(group))
	enqueued := false
	var cur pgBegun     // this group's transaction
	commitSent := false // the COMMIT may have run
	committed := false  // the COMMIT succeeded
	failAll := func(err error) {
		p.wcache.reset() // what the transaction did is unknown
		for i := range results {
			if !results[i].panicked {
				results[i].err = err
			}
		}
	}
	defer func() {
		if v := recover(); v != nil {
			next = nil
			if cur.c != nil {
				cur.c.Release() // in a transaction: closed, never reused
			}
			var serr error
			if commitSent && !committed {
				serr = p.committed(cur.xid)
				committed = serr == nil
			}
			switch {
			case committed:
			case serr != nil && !errors.Is(serr, errAborted):
				failAll(fmt.Errorf("%w: the store's writer failed (panic: %v) after it sent the COMMIT, and whether the write committed is unknown (%v): read the resource again before retrying", ErrOutcomeUnknown, v, serr))
			default:
				failAll(fmt.Errorf("%w: the store's writer failed (panic: %v); nothing of the write was committed", ErrUnavailable, v))
			}
			p.wcache.reset()
		}
		// Every request once (a withdrawn caller does not read it).
		for i, r := range group {
			r.done <- results[i]
		}
	}()
	if begun != nil {
		cur = *begun
	} else {
		// A pooled connection that the database dropped while it idled
		// (a restart, a failover, pg_terminate_backend) fails the BEGIN
		// with nothing of the group run: it begins again on another.
		c, err := p.tryConn(ctx, func(c *pgxpool.Conn) error {
			var b pgx.Batch // one round trip
			p.pgBegin(&b, &cur)
			return c.SendBatch(ctx, &b).Close()
		})
		if err != nil {
			failAll(pgUnavailable(fmt.Errorf("begin: %w", err)))
			return nil
		}
		cur.c = c
	}
	c, gen := cur.c, cur.gen
	defer func() {
		if next == nil && cur.c != nil {
			c.Release() // a connection left in a transaction is closed, not reused
			cur.c = nil
		}
	}()
	rollback := func() { pgRollback(c) }
	if gen != p.wcache.gen {
		p.wcache.reset()
		p.wcache.gen = gen
	}
	q := &pgGroupConn{c: c, ctx: ctx}
	clean := false // the innermost savepoint holds nothing: the next fn may use it
	wrote := false // some fn succeeded
	txs := make([]*pgTx, len(group))
	erred := make([]*pgTx, len(group)) // the fns that failed by their own error
	q.onRefused = func(pending []pgPending, x int, err error) ([]pgPending, bool) {
		if _, rerr := c.Exec(ctx, `ROLLBACK TO SAVEPOINT u`); rerr != nil {
			return nil, false
		}
		p.wcache.reset() // it holds what the failed fns wrote
		j := pending[x].fn
		failed := map[int]bool{j: true}
		gone := []*pgTx{txs[j]}
		readErr := fmt.Errorf("%w: it read what a write of the same transaction wrote, which the database refused (%v); nothing of it was committed", ErrUnavailable, err)
		for k := j + 1; k < len(group) && k <= q.fn; k++ {
			for _, u := range gone {
				if txs[k] != nil && (u == nil || txs[k].dependsOn(u)) {
					failed[k] = true
					gone = append(gone, txs[k])
					break
				}
				// A fn that failed on what a failed one wrote (a Delete
				// answered ErrNotFound, a Create ErrConflict, its own check)
				// answers as those that succeeded on it, not with what it
				// made of a write that never was.
				if erred[k] != nil && (u == nil || erred[k].dependsOn(u)) {
					results[k] = writeResult{err: readErr}
					erred[k] = nil
					break
				}
			}
		}
		for k := range failed {
			ferr := pgRefusedWrite(err)
			if k != j {
				ferr = readErr
			}
			if k == q.fn {
				q.doomed = ferr
			} else {
				results[k] = writeResult{err: ferr}
			}
			txs[k] = nil
		}
		var rest []pgPending
		for _, e := range pending[x+1:] {
			if !failed[e.fn] {
				rest = append(rest, e)
			}
		}
		return rest, true
	}
	for i, r := range group {
		if !r.state.CompareAndSwap(pgQueued, pgTaken) {
			continue // withdrawn by its caller
		}
		if err := r.ctx.Err(); err != nil {
			results[i].err = err
			continue
		}
		q.start(i, clean)
		ptx := &pgTx{pgReader: pgReader{q}, c: q, now: p.clk.Now(), cache: &p.wcache, keep: p.keep.Load()}
		txs[i] = ptx
		results[i] = pgRunFn(r, q, ptx)
		if results[i].err != nil || results[i].panicked {
			txs[i] = nil // (nothing of it stays)
			if !results[i].panicked {
				erred[i] = ptx
			}
		}
		if q.broken != nil {
			rollback()
			failAll(pgBroken(c, fmt.Errorf("a write the database refused could not be undone: %w", q.broken)))
			return nil
		}
		if q.doomed != nil {
			// It read what a refused write wrote: nothing of it was sent
			// (see send); the fns before it that stay may have written
			// since the innermost savepoint.
			if !results[i].panicked {
				results[i].err = q.doomed
			}
			txs[i], q.doomed = nil, nil
			q.drop()
			clean = false
			continue
		}
		if !q.used {
			// The fn ran no statement: nothing to keep or undo.
			q.savepoint = false
			if results[i].err == nil && !results[i].panicked {
				wrote, enqueued = true, enqueued || ptx.enqueued
				p.wcache.apply(ptx)
			}
			continue
		}
		if c.Conn().IsClosed() {
			// The connection dropped: the transaction is gone, nothing of
			// it committed.
			failAll(fmt.Errorf("%w: the connection to the database was lost: %v", ErrUnavailable, results[i].err))
			return nil
		}
		failed := results[i].err != nil || results[i].panicked
		if !failed && q.flushed && c.Conn().PgConn().TxStatus() == 'E' {
			// The fn went on after a failed statement: it fails, alone.
			results[i].err = fmt.Errorf("commit: the transaction went on after a failed statement")
			failed = true
			txs[i], erred[i] = nil, ptx
		}
		if failed {
			results[i].err = pgUnavailable(results[i].err)
			q.drop() // its statements not sent yet
			if !q.flushed {
				continue // nothing of it reached the database
			}
			if _, err := c.Exec(ctx, `ROLLBACK TO SAVEPOINT u`); err != nil {
				rollback()
				failAll(pgBroken(c, fmt.Errorf("roll back: %w", errors.Join(results[i].err, err))))
				return nil
			}
			clean = true
			continue
		}
		clean, wrote, enqueued = false, true, enqueued || ptx.enqueued
		p.wcache.apply(ptx)
	}
	q.savepoint, q.fn = false, len(group) // (no fn runs)
	for {
		if !wrote {
			rollback() // nothing to commit: every fn failed or was withdrawn
			return nil
		}
		// One round trip: the statements still pending, the generation
		// this group leaves, the wake-up, the COMMIT and, when more
		// Updates wait, the next group's transaction. writer_gen moves by
		// one, this group's bump, unless something else changed documents
		// meanwhile (by hand: every writer holds the lock), which what the
		// writer remembers may not show.
		var b pgx.Batch
		pre := q.pending
		q.pending = nil
		ran := 0 // of pre
		for _, e := range pre {
			qq := pgFresh(e.q)
			qq.Fn = func(br pgx.BatchResults) error {
				_, err := br.Exec()
				if err == nil {
					ran++
				}
				return err
			}
			b.QueuedQueries = append(b.QueuedQueries, qq)
		}
		began := gen
		b.Queue(`UPDATE writer_gen SET gen = gen + 1 RETURNING gen`).QueryRow(func(row pgx.Row) error { return row.Scan(&gen) })
		if enqueued {
			b.Queue(`SELECT pg_notify($1, '')`, notifyChannel)
		}
		b.Queue(`COMMIT`).Exec(func(tag pgconn.CommandTag) error {
			if tag.String() != "COMMIT" { // (a transaction in error commits as ROLLBACK)
				return fmt.Errorf("the transaction was rolled back (%s)", tag)
			}
			committed = true
			return nil
		})
		var chained pgBegun
		chain := len(p.writes) > 0
		select {
		case <-p.closing:
			chain = false
		default:
		}
		if chain {
			p.pgBegin(&b, &chained)
		}
		p.stage("commit")
		commitSent = true
		err := c.SendBatch(ctx, &b).Close()
		p.stage("committed")
		if !committed && c.Conn().IsClosed() {
			// The answer was lost with the connection: ask the database.
			serr := p.committed(cur.xid)
			if serr == nil {
				p.wcache.reset() // writer_gen as it left it is unknown
				return nil       // (the chained BEGIN was lost with the connection)
			}
			if !errors.Is(serr, errAborted) {
				failAll(fmt.Errorf("%w: the connection to the database was lost during COMMIT (%v) and whether the write committed is unknown (%v): read the resource again before retrying", ErrOutcomeUnknown, err, serr))
				return nil
			}
		}
		if !committed && err != nil && ran < len(pre) && !c.Conn().IsClosed() {
			// A pending write was refused: nothing after it ran, the
			// COMMIT neither. Its fn fails, and so do those after it
			// that read what it wrote; the others commit.
			commitSent, gen = false, began
			rest, ok := q.onRefused(pre, ran, err)
			if !ok {
				rollback()
				failAll(pgBroken(c, fmt.Errorf("commit: a write the database refused could not be undone: %w", err)))
				return nil
			}
			q.pending = rest
			wrote = false
			for k := range group {
				if group[k].state.Load() == pgTaken && results[k].err == nil && !results[k].panicked {
					wrote = true
				}
			}
			continue
		}
		if !committed {
			if err == nil {
				err = errors.New("no COMMIT")
			}
			rollback()
			failAll(pgBroken(c, fmt.Errorf("commit: %w", err)))
			return nil
		}
		if gen != began+1 {
			p.wcache.reset()
		} else {
			p.wcache.steady++
			// Nothing but this group changed documents since began: the
			// lists remembered at began are, with its writes, those at gen.
			var fns []*pgTx
			for k, t := range txs {
				if t != nil && results[k].err == nil && !results[k].panicked {
					fns = append(fns, t)
				}
			}
			p.lists.advance(began, gen, fns)
		}
		p.wcache.gen = gen
		if !chain {
			return nil
		}
		if err != nil {
			rollback() // the next group begins its own
			return nil
		}
		chained.c = c
		return &chained
	}
}

// stage calls the test hook, if any.
func (p *Postgres) stage(name string) {
	if h := p.hook.Load(); h != nil {
		(*h)(name)
	}
}

// pgRefusedWrite is the error of a write sent with a later round trip that
// the database refused: a Create of a document that is there all the same
// (made by hand while the group ran: the writer remembered it absent) is
// ErrConflict, as a Create sent at once finds it; anything else is the
// database failing.
func pgRefusedWrite(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return pgUnavailable(err)
}

// pgBroken is err as the group's callers see it: ErrUnavailable when the
// connection dropped or PostgreSQL refused for a reason that passes.
func pgBroken(c *pgxpool.Conn, err error) error {
	if c.Conn().IsClosed() && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: the connection to the database was lost: %w", ErrUnavailable, err)
	}
	return pgUnavailable(err)
}

var errAborted = errors.New("the transaction was rolled back")

// pgOutcomeWait bounds how long the writer asks the database for the outcome
// of a COMMIT whose answer was lost.
var pgOutcomeWait = 30 * time.Second

// committed learns from the database whether the writer's transaction xid
// committed (nil), rolled back (errAborted) or neither can be told (the
// database stayed out of reach, or the transaction is still in progress,
// for pgOutcomeWait).
func (p *Postgres) committed(xid int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgOutcomeWait)
	defer cancel()
	for {
		var status *string
		err := p.onConn(ctx, func(q *pgxpool.Conn) error {
			return q.QueryRow(ctx, `SELECT txid_status($1)`, xid).Scan(&status)
		})
		switch {
		case err != nil:
		case status == nil:
			return fmt.Errorf("transaction %d is too old to tell", xid)
		case *status == "committed":
			return nil
		case *status == "aborted":
			return errAborted
		default:
			err = fmt.Errorf("transaction %d is %s", xid, *status)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pgRollback ends c's transaction, if any (a connection it fails on is
// closed when released, never reused).
func pgRollback(c *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c.Exec(ctx, `ROLLBACK`)
	cancel()
}

// pgRunFn checks r's lease (when its ctx carries one) and runs its fn in tx,
// turning a panic into a result that the caller re-raises.
func pgRunFn(r *pgReq, q *pgGroupConn, tx *pgTx) (res writeResult) {
	defer func() {
		if v := recover(); v != nil {
			res = writeResult{panicked: true, panic: v}
		}
	}()
	if l, ok := LeaseFrom(r.ctx); ok {
		if err := pgCheckLease(r.ctx, q, l); err != nil {
			return writeResult{err: err}
		}
	}
	err := r.fn(tx)
	if err == nil && tx.keep != nil && tx.keep.wrote(tx) {
		err = tx.Put(r.ctx, Doc{Kind: tx.keep.gen.Kind, Key: tx.keep.gen.Key, Value: NewGeneration()})
	}
	return writeResult{err: err}
}

// pgCheckLease locks the task row (if it still exists), then its lease row,
// and checks owner and epoch (one round trip).
func pgCheckLease(ctx context.Context, q *pgGroupConn, l Lease) error {
	var b pgx.Batch
	b.Queue(`SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE`, l.TaskID)
	b.Queue(`SELECT owner, epoch FROM task_leases WHERE task_id = $1 FOR UPDATE`, l.TaskID)
	var owner string
	var epoch int64
	var lost bool
	err := q.batch(ctx, &b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		err := br.QueryRow().Scan(&owner, &epoch)
		lost = errors.Is(err, pgx.ErrNoRows) || err == nil && (owner != l.Owner || epoch != l.Epoch)
		if lost {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("check lease: %w", err)
	}
	if lost {
		return fmt.Errorf("task %s (%s, epoch %d): %w", l.TaskID, l.Owner, l.Epoch, ErrLeaseLost)
	}
	return nil
}

// Get reads a document in the transaction: from the writer's cache when
// it holds it and nothing in this fn changed it wholesale (a DeleteScope of
// its kind), else from the database (remembered for the fns after).
func (t *pgTx) Get(ctx context.Context, kind, key string) (Doc, error) {
	ck := cacheKey(kind, key)
	t.seen = append(t.seen, ck)
	c, ok := t.changes[ck]
	if ok && c.unknown { // this fn's Put, as the database made it
		d, err := t.pgReader.Get(ctx, kind, key)
		if err == nil || errors.Is(err, ErrNotFound) {
			kept := d
			kept.Value = bytes.Clone(d.Value)
			t.changes[ck] = pgCachedDoc{d: kept, found: err == nil}
		}
		return d, err
	}
	if !ok && !slices.Contains(t.bulk, kind) {
		c, ok = t.cache.docs[ck]
		if !ok {
			ks, err := t.keySet(ctx, kind)
			if err != nil {
				return Doc{}, err
			}
			if _, in := ks[ck.key]; ks != nil && !in {
				return Doc{}, ErrNotFound
			}
			d, err := t.pgReader.Get(ctx, kind, key)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return Doc{}, err
			}
			c, ok = pgCachedDoc{d: d, found: err == nil}, true
			t.cache.put(ck, c)
		}
	}
	if !ok {
		return t.pgReader.Get(ctx, kind, key)
	}
	if !c.found {
		return Doc{}, ErrNotFound
	}
	d := c.d
	d.Value = append([]byte(nil), d.Value...) // the caller's to change; the cache's stays
	return d, nil
}

// List reads a list in the transaction: from the writer's cache when it
// holds it and nothing this fn wrote may change it, else from the database
// (remembered for the fns after when this fn wrote nothing of its kind: the
// result is then the state the fns before left).
func (t *pgTx) List(ctx context.Context, kind string, q ListQuery) ([]Doc, error) {
	t.listed = append(t.listed, kind)
	q = pgListKeyOf(q)
	lk := pgListKey{kind, q}
	docs, ok := t.cache.lists[lk]
	if ok && !slices.Contains(t.bulk, kind) && !t.changed(lk, docs) {
		out := make([]Doc, len(docs))
		for i, d := range docs {
			out[i] = d
			out[i].Value = append([]byte(nil), d.Value...) // the caller's to change; the cache's stays
		}
		return out, nil
	}
	docs, err := t.pgReader.List(ctx, kind, q)
	if err != nil {
		return nil, err
	}
	if len(docs) <= pgListCacheDocs && !t.touched(kind) {
		kept := make([]Doc, len(docs))
		for i, d := range docs {
			kept[i] = d
			kept[i].Value = append([]byte(nil), d.Value...)
		}
		t.cache.putList(lk, kept)
	}
	return docs, nil
}

// changed reports whether a write of this fn may change the list lk,
// which held docs before it.
func (t *pgTx) changed(lk pgListKey, docs []Doc) bool {
	for ck, c := range t.changes {
		if ck.kind == lk.kind && pgListMay(lk.q, docs, ck.key, c.d, c.found) {
			return true
		}
	}
	return false
}

// touched reports whether this fn wrote documents of kind.
func (t *pgTx) touched(kind string) bool {
	if slices.Contains(t.bulk, kind) {
		return true
	}
	for ck := range t.changes {
		if ck.kind == kind {
			return true
		}
	}
	return false
}

// wrote records the document's state after a write of this fn.
func (t *pgTx) wrote(ck docKey, c pgCachedDoc) {
	if t.changes == nil {
		t.changes = map[docKey]pgCachedDoc{}
	}
	t.changes[ck] = c
}

// AnyUnder is pgReader's, in the transaction (after its pending writes).
func (t *pgTx) AnyUnder(ctx context.Context, prefix string, kinds []string) (bool, error) {
	t.listed = append(t.listed, kinds...)
	// From the kinds' key sets when the fn wrote none of them.
	sets := make([]map[string]string, 0, len(kinds))
	for _, kind := range kinds {
		if t.touched(kind) {
			return t.pgReader.AnyUnder(ctx, prefix, kinds)
		}
		ks, err := t.keySet(ctx, kind)
		if err != nil {
			return false, err
		}
		if ks == nil {
			return t.pgReader.AnyUnder(ctx, prefix, kinds)
		}
		sets = append(sets, ks)
	}
	prefix = strings.ToLower(prefix)
	for _, ks := range sets {
		for _, scope := range ks {
			if strings.HasPrefix(scope, prefix) {
				return true, nil
			}
		}
	}
	return false, nil
}

// known is what this fn knows of a document without asking the database:
// its own writes, else the writer's cache.
func (t *pgTx) known(ck docKey) (pgCachedDoc, bool) {
	t.seen = append(t.seen, ck)
	if c, ok := t.changes[ck]; ok {
		return c, !c.unknown
	}
	if slices.Contains(t.bulk, ck.kind) {
		return pgCachedDoc{}, false
	}
	c, ok := t.cache.docs[ck]
	if !ok {
		if ks := t.cache.keys[ck.kind]; ks != nil {
			_, in := ks[ck.key]
			return pgCachedDoc{}, !in // (absent: known)
		}
	}
	return c, ok
}

// keySet is kind's complete key set (see pgWriteCache.keys) as the fns
// before this one left it, loaded in this round trip if the writer keeps
// none yet and this fn wrote nothing of kind; nil when there is none (the
// kind is too large, the writer's memory is not steady, the fn deleted by
// scope). The fn's own writes are not in it: callers look at them first.
func (t *pgTx) keySet(ctx context.Context, kind string) (map[string]string, error) {
	if slices.Contains(t.bulk, kind) {
		return nil, nil
	}
	if ks, ok := t.cache.keys[kind]; ok {
		return ks, nil
	}
	if t.cache.steady < 2 || t.touched(kind) {
		return nil, nil
	}
	rows, err := t.q.Query(ctx, `SELECT key, scope FROM docs WHERE kind = $1 LIMIT $2`, kind, pgKeySetMax+1)
	if err != nil {
		return nil, fmt.Errorf("keys of %s: %w", kind, err)
	}
	defer rows.Close()
	ks := map[string]string{}
	for rows.Next() {
		var k, sc string
		if err := rows.Scan(&k, &sc); err != nil {
			return nil, fmt.Errorf("keys of %s: %w", kind, err)
		}
		ks[k] = sc
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keys of %s: %w", kind, err)
	}
	if len(ks) > pgKeySetMax {
		ks = nil
	}
	if t.cache.keys == nil {
		t.cache.keys = map[string]map[string]string{}
	}
	t.cache.keys[kind] = ks
	return ks, nil
}

// pgPlainText reports whether the database takes d's text fields whatever
// else holds: valid UTF-8 without NUL (text refuses both), short enough
// for the indexes (a btree entry holds at most about 2.7 kB). A write of
// such a document is refused only by a database failing (see pgGroupConn).
func pgPlainText(d Doc) bool {
	n := 0
	for _, s := range [...]string{d.Kind, d.Key, d.Scope, d.Type} {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
		n += len(s)
	}
	return n <= 2000
}

// stored is d as the database stores it by a write of this fn over old.
func (t *pgTx) stored(d Doc, old pgCachedDoc) Doc {
	now := t.now.Truncate(time.Microsecond).UTC() // (a timestamptz holds microseconds)
	got := Doc{Kind: d.Kind, Key: strings.ToLower(d.Key), Scope: strings.ToLower(d.Scope), Type: strings.ToLower(d.Type),
		Value: bytes.Clone(d.Value), Version: 1, Created: now, Updated: now}
	if old.found {
		got.Version, got.Created = old.d.Version+1, old.d.Created
	}
	return got
}

const (
	pgCreateSQL = `INSERT INTO docs(kind, key, scope, type, value, version, created, updated) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)`
	pgPutSQL    = pgCreateSQL + `
		ON CONFLICT (kind, key) DO UPDATE SET scope = excluded.scope, type = excluded.type, value = excluded.value, version = docs.version + 1, updated = excluded.updated`
	pgDeleteSQL = `DELETE FROM docs WHERE kind = $1 AND key = $2`
)

func (t *pgTx) Create(ctx context.Context, d Doc) error {
	ck := cacheKey(d.Kind, d.Key)
	if old, ok := t.known(ck); ok && pgPlainText(d) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if old.found {
			return ErrConflict
		}
		// No ON CONFLICT: a row that is there all the same (written by
		// hand meanwhile) fails the write with ErrConflict rather than
		// losing it (see pgRefusedWrite).
		if err := t.c.later(ctx, pgCreateSQL, d.Kind, ck.key, strings.ToLower(d.Scope), strings.ToLower(d.Type), bytes.Clone(d.Value), t.now); err != nil {
			return fmt.Errorf("create %s %s: %w", d.Kind, d.Key, err)
		}
		t.wrote(ck, pgCachedDoc{d: t.stored(d, old), found: true})
		return nil
	}
	// ON CONFLICT DO NOTHING: a duplicate is no failed statement, which
	// would leave the caller's transaction unusable if it went on.
	got, err := pgScanDoc(t.q.QueryRow(ctx, pgCreateSQL+` ON CONFLICT (kind, key) DO NOTHING RETURNING `+pgDocCols,
		d.Kind, ck.key, strings.ToLower(d.Scope), strings.ToLower(d.Type), d.Value, t.now).Scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create %s %s: %w", d.Kind, d.Key, err)
	}
	t.wrote(ck, pgCachedDoc{d: got, found: true})
	return nil
}

func (t *pgTx) Put(ctx context.Context, d Doc) error {
	ck := cacheKey(d.Kind, d.Key)
	if old, ok := t.known(ck); ok && pgPlainText(d) {
		if err := t.c.later(ctx, pgPutSQL, d.Kind, ck.key, strings.ToLower(d.Scope), strings.ToLower(d.Type), bytes.Clone(d.Value), t.now); err != nil {
			return fmt.Errorf("put %s %s: %w", d.Kind, d.Key, err)
		}
		t.wrote(ck, pgCachedDoc{d: t.stored(d, old), found: true})
		return nil
	} else if pgPlainText(d) {
		if err := t.c.later(ctx, pgPutSQL, d.Kind, ck.key, strings.ToLower(d.Scope), strings.ToLower(d.Type), bytes.Clone(d.Value), t.now); err != nil {
			return fmt.Errorf("put %s %s: %w", d.Kind, d.Key, err)
		}
		t.wrote(ck, pgCachedDoc{d: Doc{Kind: d.Kind, Key: ck.key, Scope: strings.ToLower(d.Scope), Type: strings.ToLower(d.Type)}, found: true, unknown: true})
		return nil
	}
	got, err := pgScanDoc(t.q.QueryRow(ctx, pgPutSQL+` RETURNING `+pgDocCols,
		d.Kind, ck.key, strings.ToLower(d.Scope), strings.ToLower(d.Type), d.Value, t.now).Scan)
	if err != nil {
		return fmt.Errorf("put %s %s: %w", d.Kind, d.Key, err)
	}
	t.wrote(ck, pgCachedDoc{d: got, found: true})
	return nil
}

func (t *pgTx) Delete(ctx context.Context, kind, key string) error {
	ck := cacheKey(kind, key)
	if old, ok := t.known(ck); ok && pgPlainText(Doc{Kind: kind, Key: key}) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !old.found {
			return ErrNotFound
		}
		if err := t.c.later(ctx, pgDeleteSQL, kind, ck.key); err != nil {
			return fmt.Errorf("delete %s %s: %w", kind, key, err)
		}
		t.wrote(ck, pgCachedDoc{})
		return nil
	}
	tag, err := t.q.Exec(ctx, pgDeleteSQL, kind, ck.key)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, key, err)
	}
	t.wrote(ck, pgCachedDoc{})
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func (t *pgTx) DeleteScope(ctx context.Context, kind, prefix string) (int, error) {
	tag, err := t.q.Exec(ctx, `DELETE FROM docs WHERE kind = $1 AND scope LIKE $2 ESCAPE '\'`, kind, likeEscape(strings.ToLower(prefix))+"%")
	if err != nil {
		return 0, fmt.Errorf("delete %s under %s: %w", kind, prefix, err)
	}
	// What this fn knew of the kind may be gone: read it from the database.
	for ck := range t.changes {
		if ck.kind == kind {
			delete(t.changes, ck)
		}
	}
	if !slices.Contains(t.bulk, kind) {
		t.bulk = append(t.bulk, kind)
	}
	return int(tag.RowsAffected()), nil
}

// pgWriteCache is what the writer knows of the documents: as they were
// when it last committed (or read them since), valid while writer_gen has
// that commit's value. Only the writer goroutine uses it.
//
// Every change of docs by a writer happens in its transaction under the
// advisory lock, which bumps writer_gen once as it commits; any other
// statement changing docs bumps it too (a trigger). A group that finds
// writer_gen as its writer left it knows that nobody changed any document
// since, and reads what it remembers without a round trip; any other value
// drops everything, and so does a commit that finds writer_gen moved since
// its BEGIN (a change by hand while the group ran).
type pgWriteCache struct {
	gen  int64 // writer_gen at which docs is current; -1: none
	docs map[docKey]pgCachedDoc
	// lists are List results (of at most pgListCacheDocs documents), valid
	// as docs are; a write drops those it may change (see apply).
	lists map[pgListKey][]Doc
	// keys are the complete key sets of some kinds (lower-case key →
	// lower-case scope), valid as docs are and kept current by apply: a
	// key outside its kind's set is a document that does not exist, which
	// a Get, a Create's or Put's check and an AnyUnder learn without a
	// round trip (a new resource's name, a group's emptiness). A kind of
	// more than pgKeySetMax documents maps to nil (none kept).
	keys map[string]map[string]string
	// steady counts the groups committed since the last reset: key sets
	// are loaded only once the writer's memory has outlived a group (not
	// while other replicas' writes reset it at every group, when a key
	// set would cost more round trips than it saves).
	steady int
}

// pgKeySetMax bounds the documents of a kind whose key set the writer keeps.
const pgKeySetMax = 4096

// pgListKey is a List as the database runs it (see pgListKeyOf).
type pgListKey struct {
	kind string
	q    ListQuery
}

// pgListKeyOf is q as List's SQL reads it (lower case).
func pgListKeyOf(q ListQuery) ListQuery {
	q.ScopePrefix, q.Type, q.After = strings.ToLower(q.ScopePrefix), strings.ToLower(q.Type), strings.ToLower(q.After)
	if q.Limit < 0 {
		q.Limit = 0
	}
	return q
}

// The writer remembers lists of up to pgListCacheDocs documents, at most
// pgListCacheMax of them.
const (
	pgListCacheDocs = 256
	pgListCacheMax  = 1024
)

// pgListMay reports whether a write of the document key (found: as d now)
// may change the list q of its kind: it was in it, or it now matches q.
func pgListMay(q ListQuery, docs []Doc, key string, d Doc, found bool) bool {
	for i := range docs {
		if docs[i].Key == key {
			return true
		}
	}
	return found && strings.HasPrefix(d.Scope, q.ScopePrefix) && (q.Type == "" || d.Type == q.Type) && d.Key > q.After
}

func (c *pgWriteCache) putList(lk pgListKey, docs []Doc) {
	if c.lists == nil || len(c.lists) >= pgListCacheMax {
		c.lists = map[pgListKey][]Doc{}
	}
	c.lists[lk] = docs
}

// pgCachedDoc is a document, or the knowledge that there is none.
type pgCachedDoc struct {
	d     Doc
	found bool
	// unknown: a Put of this fn waits to be sent (see pgGroupConn) over a
	// document the writer did not know: d has its key, scope and type,
	// not its version and times, which a read takes from the database.
	unknown bool
}

func (c *pgWriteCache) put(ck docKey, d pgCachedDoc) {
	if c.docs == nil || len(c.docs) >= cacheMax {
		c.docs = map[docKey]pgCachedDoc{}
	}
	c.docs[ck] = d
}

// reset forgets everything (the database may hold anything now).
func (c *pgWriteCache) reset() {
	c.gen, c.docs, c.lists, c.keys, c.steady = -1, nil, nil, nil, 0
}

// apply takes in what a fn that succeeded wrote.
func (c *pgWriteCache) apply(t *pgTx) {
	for _, kind := range t.bulk {
		delete(c.keys, kind)
		for ck := range c.docs {
			if ck.kind == kind {
				delete(c.docs, ck)
			}
		}
		for lk := range c.lists {
			if lk.kind == kind {
				delete(c.lists, lk)
			}
		}
	}
	for ck, d := range t.changes {
		if d.unknown {
			delete(c.docs, ck)
		} else {
			c.put(ck, d)
		}
		if ks := c.keys[ck.kind]; ks != nil {
			if !d.found {
				delete(ks, ck.key)
			} else if ks[ck.key] = d.d.Scope; len(ks) > pgKeySetMax {
				c.keys[ck.kind] = nil // grown too large
			}
		}
		for lk, docs := range c.lists {
			if lk.kind == ck.kind && pgListMay(lk.q, docs, ck.key, d.d, d.found) {
				delete(c.lists, lk)
			}
		}
	}
}

func (t *pgTx) Enqueue(ctx context.Context, task Task) (Task, error) {
	task, key := newTask(task, t.now)
	task.RunAt = pgRunAt(task.RunAt, t.now)
	// Sent with the next round trip (see pgGroupConn): the task its key
	// replaces goes, the new one comes.
	write := func(sql string, args ...any) error {
		if pgPlainText(Doc{Kind: task.Kind, Key: task.Key + task.ID}) {
			return t.c.later(ctx, sql, args...)
		}
		_, err := t.q.Exec(ctx, sql, args...)
		return err
	}
	var err error
	if task.Key != "" {
		err = write(`DELETE FROM tasks WHERE tkey = $1`, task.Key)
	}
	if err == nil {
		err = write(`INSERT INTO tasks(id, kind, tkey, payload, run_at, attempts, created) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			task.ID, task.Kind, key, bytes.Clone(task.Payload), task.RunAt, task.Attempts, task.Created)
	}
	if err != nil {
		return Task{}, fmt.Errorf("enqueue %s: %w", task.Kind, err)
	}
	t.enqueued = true
	return task, nil
}

func (t *pgTx) CompleteTask(ctx context.Context, id string) error {
	tag, err := t.q.Exec(ctx, `DELETE FROM tasks WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("complete task %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func (t *pgTx) RescheduleTask(ctx context.Context, id string, runAt time.Time, lastError string) error {
	return t.PinTask(ctx, id, runAt, lastError, "", time.Time{})
}

func (t *pgTx) PinTask(ctx context.Context, id string, runAt time.Time, lastError, node string, until time.Time) error {
	var pinUntil *time.Time
	if node != "" {
		pinUntil = &until
	}
	tag, err := t.q.Exec(ctx, `UPDATE tasks SET run_at = $1, last_error = $2, lease_owner = '', lease_until = NULL, attempts = attempts + 1, pin_node = $3, pin_until = $4 WHERE id = $5`,
		pgRunAt(runAt, t.now), lastError, node, pinUntil, id)
	if err != nil {
		return fmt.Errorf("reschedule task %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	t.enqueued = true
	return nil
}

// pgRunAt is a task's run time as a timestamptz holds it (microseconds).
// A time after now is rounded up: cutting its nanoseconds would make the
// task due up to a microsecond early, and a handler that plans its next run
// at the moment its work falls due (a retention sweep at a point's expiry)
// would run, on a clock stopped at the task's time (a clock advance steps
// to each due task), before that moment, find nothing due and plan the same
// run again, for ever. A time at or before now (due already) is cut, so it
// stays due on a clock stopped at now.
func pgRunAt(t, now time.Time) time.Time {
	if c := t.Truncate(time.Microsecond); t.After(now) && !c.Equal(t) {
		return c.Add(time.Microsecond)
	}
	return t
}

// retryable reports PostgreSQL errors after which a statement of ours (never
// a caller's fn) may simply run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// ClaimTasks leases due tasks with SELECT … FOR UPDATE SKIP LOCKED.
func (p *Postgres) ClaimTasks(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Task, error) {
	var out []Task
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = p.onConn(ctx, func(c *pgxpool.Conn) error {
			out, err = p.claim(ctx, c, owner, now, lease, limit)
			return err
		})
		if !retryable(err) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("claim tasks: %w", err)
	}
	if len(out) > 0 {
		p.gcLeases(ctx, now, ClaimExcept(ctx))
	}
	return out, nil
}

func (p *Postgres) claim(ctx context.Context, c *pgxpool.Conn, owner string, now time.Time, lease time.Duration, limit int) ([]Task, error) {
	var out []Task
	until := now.Add(lease)
	kinds := ClaimKinds(ctx) // nil: any kind
	if kinds != nil && len(kinds) == 0 {
		return nil, nil
	}
	except := ClaimExcept(ctx)
	if except == nil {
		except = []string{} // id = ANY('{}') is false, so NOT … keeps every task
	}
	err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH c AS (
				SELECT id FROM tasks WHERE run_at <= $1 AND (lease_until IS NULL OR lease_until <= $1 OR ($9 AND lease_owner = $3))
					AND (pin_node = '' OR pin_node = $5 OR pin_until < $6)
					AND ($7::text[] IS NULL OR kind = ANY($7::text[]))
					AND NOT (id = ANY($8::text[]))
				ORDER BY run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
			UPDATE tasks t SET lease_owner = $3, lease_until = $4 FROM c WHERE t.id = c.id
			RETURNING `+strings.ReplaceAll(pgTaskCols, "id, kind,", "t.id, t.kind,"), now, limit, owner, until, OwnerNode(owner), time.Now(), kinds, except, ReclaimOwn(ctx))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Task, error) { return pgScanTask(r.Scan) })
		if err != nil || len(out) == 0 {
			return err
		}
		ids := make([]string, len(out))
		for i := range out {
			ids[i] = out[i].ID
		}
		rows, err = tx.Query(ctx, `INSERT INTO task_leases(task_id, owner, epoch, until)
			SELECT id, $2, 1, $3 FROM unnest($1::text[]) AS id ORDER BY id
			ON CONFLICT (task_id) DO UPDATE SET owner = excluded.owner, epoch = task_leases.epoch + 1, until = excluded.until
			RETURNING task_id, epoch`, ids, owner, until)
		if err != nil {
			return err
		}
		epochs := map[string]int64{}
		for rows.Next() {
			var id string
			var e int64
			if err := rows.Scan(&id, &e); err != nil {
				rows.Close()
				return err
			}
			epochs[id] = e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			out[i].LeaseEpoch = epochs[out[i].ID]
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].RunAt.Equal(out[j].RunAt) {
			return out[i].RunAt.Before(out[j].RunAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// gcLeases drops the fencing rows of tasks gone for leaseMemory, at most
// once a minute per process, in its own transaction; never those of the
// tasks running here (running: see SQLite's ClaimTasks).
func (p *Postgres) gcLeases(ctx context.Context, now time.Time, running []string) {
	p.gcMu.Lock()
	if now.Sub(p.lastGC) < time.Minute && !p.lastGC.After(now) {
		p.gcMu.Unlock()
		return
	}
	p.lastGC = now
	p.gcMu.Unlock()
	p.onConn(ctx, func(c *pgxpool.Conn) error {
		_, err := c.Exec(ctx, `DELETE FROM task_leases WHERE until < $1 AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.id = task_leases.task_id)
			AND NOT (task_id = ANY($2))`, now.Add(-leaseMemory), append([]string{}, running...))
		return err
	})
}

// ExtendLease pushes a held lease forward.
func (p *Postgres) ExtendLease(ctx context.Context, l Lease, until time.Time) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = p.onConn(ctx, func(c *pgxpool.Conn) error {
			return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
				tag, err := tx.Exec(ctx, `UPDATE tasks SET lease_until = $1 WHERE id = $2 AND lease_owner = $3`, until, l.TaskID, l.Owner)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return ErrLeaseLost
				}
				tag, err = tx.Exec(ctx, `UPDATE task_leases SET until = $1 WHERE task_id = $2 AND owner = $3 AND epoch = $4`, until, l.TaskID, l.Owner, l.Epoch)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return ErrLeaseLost
				}
				return nil
			})
		})
		if !retryable(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("extend lease %s: %w", l.TaskID, err)
	}
	return nil
}

// ReleaseLeases frees leases held by owners with the prefix.
func (p *Postgres) ReleaseLeases(ctx context.Context, ownerPrefix string) (int, error) {
	var tag pgconn.CommandTag
	err := p.onConn(ctx, func(c *pgxpool.Conn) (err error) {
		tag, err = c.Exec(ctx, `UPDATE tasks SET lease_owner = '', lease_until = NULL WHERE lease_owner LIKE $1 ESCAPE '\'`, likeEscape(ownerPrefix)+"%")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release leases: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// LeasedTasks counts the tasks whose lease is live at now, held by nodes
// (nil: by any).
func (p *Postgres) LeasedTasks(ctx context.Context, now time.Time, nodes []string) (int, error) {
	if nodes != nil && len(nodes) == 0 {
		return 0, nil
	}
	var n int
	if err := p.onConn(ctx, func(c *pgxpool.Conn) error {
		return c.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE lease_owner <> '' AND lease_until > $1
			AND ($2::text[] IS NULL OR split_part(lease_owner, '/', 1) = ANY($2))`, now, nodes).Scan(&n)
	}); err != nil {
		return 0, fmt.Errorf("leased tasks: %w", err)
	}
	return n, nil
}

// Leases implements LeaseLister.
func (p *Postgres) Leases(ctx context.Context) ([]Task, error) {
	var out []Task
	err := p.onConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT id, kind, lease_owner, lease_until FROM tasks WHERE lease_owner <> ''`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Task, error) {
			var t Task
			var until *time.Time
			err := r.Scan(&t.ID, &t.Kind, &t.LeaseOwner, &until)
			if until != nil {
				t.LeaseUntil = until.UTC()
			}
			return t, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list task leases: %w", err)
	}
	return out, nil
}

// DueFor implements DueReader.
func (p *Postgres) DueFor(ctx context.Context, node string, now, wall time.Time) (bool, time.Time, error) {
	var claimable bool
	var until *time.Time
	if err := p.onConn(ctx, func(c *pgxpool.Conn) error {
		return c.QueryRow(ctx, `SELECT coalesce(bool_or(pin_node = '' OR pin_node = $1 OR pin_until < $2), false),
				min(CASE WHEN pin_node <> '' AND pin_node <> $1 AND pin_until >= $2 THEN pin_until END)
			FROM tasks WHERE run_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)`, node, wall, now).Scan(&claimable, &until)
	}); err != nil {
		return false, time.Time{}, fmt.Errorf("due tasks: %w", err)
	}
	if claimable || until == nil {
		return claimable, time.Time{}, nil
	}
	return false, until.UTC(), nil
}

// PullTasks implements TaskPuller.
func (p *Postgres) PullTasks(ctx context.Context, from, to time.Time) (int, error) {
	var tag pgconn.CommandTag
	err := p.onConn(ctx, func(c *pgxpool.Conn) (err error) {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if tag, err = tx.Exec(ctx, `UPDATE tasks SET run_at = $1 WHERE run_at <= $2 AND run_at > $1`, to, from); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE tasks SET lease_until = lease_until - ($2::timestamptz - $1::timestamptz) WHERE lease_until > $1`, to, from)
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("pull tasks: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// NextTaskTime returns the earliest run time among unleased tasks.
func (p *Postgres) NextTaskTime(ctx context.Context) (time.Time, error) {
	var v *time.Time
	if err := p.onConn(ctx, func(c *pgxpool.Conn) error {
		return c.QueryRow(ctx, `SELECT min(CASE WHEN lease_until IS NULL OR lease_until < run_at THEN run_at ELSE lease_until END) FROM tasks`).Scan(&v)
	}); err != nil {
		return time.Time{}, fmt.Errorf("next task time: %w", err)
	}
	if v == nil {
		return time.Time{}, nil
	}
	return v.UTC(), nil
}

// Wakeups delivers a value soon after any process commits an Enqueue or a
// RescheduleTask (LISTEN/NOTIFY on a dedicated connection, reconnecting
// after errors). Values are coalesced; callers keep polling as the fallback.
func (p *Postgres) Wakeups() <-chan struct{} {
	p.wakeOnce.Do(func() {
		p.wake = make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		prev := p.cancel
		p.cancel = func() { cancel(); prev() }
		p.bg.Add(1)
		go p.listen(ctx)
	})
	return p.wake
}

func (p *Postgres) listen(ctx context.Context) {
	defer p.bg.Done()
	for ctx.Err() == nil {
		err := func() error {
			pc, err := p.pool.Acquire(ctx)
			if err != nil {
				return err
			}
			// A listening connection never goes back to the pool.
			c := pc.Hijack()
			defer c.Close(context.Background())
			pgUnwatch(c)
			if _, err := c.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
				return err
			}
			p.signal() // tasks may have arrived while not listening
			for {
				if _, err := c.WaitForNotification(ctx); err != nil {
					return err
				}
				p.signal()
			}
		}()
		if ctx.Err() != nil {
			return
		}
		_ = err
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (p *Postgres) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// likeEscaper escapes LIKE wildcards (ESCAPE '\'); made once (a
// Replacer is safe for concurrent use, and making one cost a list ~10 µs).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// likeEscape escapes LIKE wildcards (ESCAPE '\').
func likeEscape(s string) string {
	if !strings.ContainsAny(s, `\%_`) {
		return s
	}
	return likeEscaper.Replace(s)
}
