package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safehold/safehold/clock"
	"modernc.org/sqlite" // database/sql driver "sqlite"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLite is the default Store: one database file in WAL mode. Reads use a
// pool of connections. Writes go through one writer goroutine that owns the
// single write connection (SQLite has one writer) and commits in groups:
// the Update calls queued while a commit is in flight run one after another,
// each inside its own SAVEPOINT of one transaction, and one COMMIT commits
// all of them. A failing fn rolls back only its own savepoint, so each
// Update is still atomic on its own; the batch shares only the commit.
//
// Durability is pipelined: the COMMIT writes the group's frames to the WAL
// (synchronous=NORMAL: SQLite does not fsync it), the writer hands the
// group to the syncer goroutine and goes on with the next group (see
// maxInflight), and the syncer fdatasyncs the -wal file and only then
// answers the group's Updates (one fdatasync covers every group committed
// before it started).
// So:
//   - no caller is told that a write succeeded (nor anything else) before
//     the WAL frames of its commit are on disk;
//   - readers (Get, List, the Updates of the next groups) may see a commit
//     a few milliseconds before it is durable. A write that depends on what
//     they saw commits later, at a later position of the WAL, and is
//     answered only after an fdatasync that started after its own commit,
//     which covers every earlier frame: it can never be durable without what
//     it depends on;
//   - kill -9 loses nothing: a committed group's frames are in the page
//     cache, which outlives the process; only a power loss can take the
//     frames of groups not yet answered, and none of them was acknowledged;
//   - a checkpoint (SQLite's automatic one, run by the writer inside a
//     COMMIT, or the one on close) fsyncs the WAL itself before it copies
//     any frame into the database file (synchronous=NORMAL keeps
//     checkpoint syncs) and fsyncs the database before the WAL is reused,
//     so it never copies or overwrites frames that are not on disk.
//
// If an fdatasync fails, whether the frames reached the disk is unknown
// (and the kernel may have dropped them): the group's callers get the
// error, and every later Update fails with it too, until the store is
// reopened (which recovers from what the WAL holds).
type SQLite struct {
	// GetTask and GetTaskByKey read on the read pool; Get and List (below)
	// answer from the cache and the mirrors first.
	sqliteReader
	w   *sql.DB
	wc  *sql.Conn // the write connection, used only by the writer goroutine
	r   *sql.DB
	clk clock.Clock

	writes     chan *writeReq
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once

	// The durability pipeline: the writer sends each committed group to
	// the syncer, which makes the WAL durable and answers it.
	wal        *os.File     // the -wal file, kept open to fdatasync it
	syncWAL    func() error // fdatasyncs wal (a test may wrap it)
	synced     chan *pendingGroup
	inflight   chan struct{} // a slot per group committed or running, not yet answered
	syncerDone chan struct{}
	syncMu     sync.Mutex            // held while syncWAL runs
	syncErr    atomic.Pointer[error] // sticky: a failed fdatasync fails every later Update

	reserve *reserve // space given back to a Freeing write on a full file system

	wakeOnce sync.Once
	wake     atomic.Pointer[chan struct{}] // Wakeups' channel, once asked for

	rq *stmtCache // the read pool's prepared statements
	wq *stmtCache // the write connection's (used only by the writer goroutine)

	// A read cache for Get (the ARM GET hot path). SQLite has one writer,
	// this process, so every write is seen: a commit drops the keys it
	// touched (or the whole kind for DeleteScope) and bumps gen, and a Get
	// only fills the cache if no commit happened while it read. Hits take
	// the lock shared, so a reader whose thread the OS preempts while it
	// holds the lock does not hold up the other readers (the GET path reads
	// here two or three times per request).
	cmu   sync.RWMutex
	cache map[docKey]Doc
	gen   uint64
	// versions are the kinds' Versions (KindVersion), moved with gen by
	// each invalidate of their kind (s.cmu held).
	versions map[string]*Version
	// beforeCommit, when set, runs in the writer between a group's first
	// invalidate and its COMMIT (tests: a read at that moment).
	beforeCommit atomic.Pointer[func()]

	mirrors mirrorSet // lists by type, from memory (sqlite_mirror.go)
}

const cacheMax = 20000

// leaseMemory is how long a finished task's last claim is remembered for
// fencing after its lease ended.
const leaseMemory = 24 * time.Hour

// docKey is a document's key in the read cache (keys match case-insensitively).
type docKey struct{ kind, key string }

func cacheKey(kind, key string) docKey { return docKey{kind, lowerKey(key)} }

// OpenSQLite opens (creating if needed) the database at path and applies migrations.
// clk stamps Created and Updated; nil means the real clock.
//
// On a file system so full that SQLite cannot open the database (its
// shared-memory index or its WAL cannot grow: "disk I/O error"), the store
// gives back the reserve a previous open left beside it (see reserve) and
// opens in that space: reads work, and writes until the space is gone
// again, then fail with ErrInsufficientStorage as on any full file system;
// the reserve is made again once there is room. Without a reserve to give
// back, the open fails with ErrInsufficientStorage saying how much to free
// and where.
func OpenSQLite(ctx context.Context, path string, clk clock.Clock) (*SQLite, error) {
	s, err := openSQLite(ctx, path, clk, false)
	if err == nil || freeSpace(path) >= openRoom {
		return s, err
	}
	r := &reserve{path: path + "-reserve"}
	if r.make() && r.release() {
		if s, err = openSQLite(ctx, path, clk, true); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("open sqlite %s: %w: the file system of %s is full (%d bytes free): free %d MiB or more there (or move the data dir to a larger one) and start again (%v)",
		path, ErrInsufficientStorage, filepath.Dir(path), max(0, freeSpace(path)), 4*reserveSize>>20, err)
}

// openRoom is the free space below which an open that failed is taken as
// one that found its file system full.
const openRoom = reserveSize

func openSQLite(ctx context.Context, path string, clk clock.Clock, reserveGivenBack bool) (*SQLite, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	// temp_store(memory): the statement journal of each Update's savepoint
	// stays in memory (a temporary file otherwise: a write per page).
	// synchronous(NORMAL): a COMMIT does not fsync the WAL; the syncer does
	// before the group is answered (see SQLite). Checkpoints still fsync.
	pragmas := "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=temp_store(memory)"
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s := &SQLite{w: w, r: r, clk: clk, writes: make(chan *writeReq, 256), closing: make(chan struct{}), writerDone: make(chan struct{}),
		synced: make(chan *pendingGroup, maxInflight), inflight: make(chan struct{}, maxInflight), syncerDone: make(chan struct{})}
	s.rq = newStmtCache(r, false)
	s.sqliteReader = sqliteReader{s.rq}
	fail := func(err error) (*SQLite, error) {
		if s.wc != nil {
			s.wc.Close()
		}
		if s.wal != nil {
			s.wal.Close()
		}
		w.Close()
		r.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		return fail(err)
	}
	if s.wc, err = w.Conn(ctx); err != nil {
		return fail(fmt.Errorf("open sqlite %s: %w", path, err))
	}
	// Durability rests on the WAL: refuse a database SQLite could not put
	// in WAL mode (synchronous=NORMAL would not be durable without it).
	var mode string
	if err := s.wc.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fail(fmt.Errorf("open sqlite %s: %w", path, err))
	}
	if !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("open sqlite %s: journal mode is %q, want wal", path, mode))
	}
	// The -wal file exists while a connection is open (the writer's stays
	// open until Close, so SQLite never deletes it under us). Migrations
	// (committed without a WAL fsync) are made durable here.
	if s.wal, err = os.Open(path + "-wal"); err != nil {
		return fail(fmt.Errorf("open sqlite %s: %w", path, err))
	}
	s.syncWAL = func() error { return fdatasync(s.wal) }
	if err := s.syncWAL(); err != nil {
		return fail(fmt.Errorf("open sqlite %s: sync WAL: %w", path, err))
	}
	// The -wal file may have just been created (a clean close deletes it),
	// and fdatasync does not make its name durable: SQLite fsyncs a new
	// WAL's directory at its own first sync of it, which synchronous=NORMAL
	// defers to the first checkpoint. Sync the directory now, before any
	// Update is acknowledged (the database file's name is covered too).
	dir, err := os.Open(filepath.Dir(path))
	if err == nil {
		err = dir.Sync()
		dir.Close()
	}
	if err != nil {
		return fail(fmt.Errorf("open sqlite %s: sync directory: %w", path, err))
	}
	s.reserve = &reserve{path: path + "-reserve"}
	if reserveGivenBack {
		s.reserve.lastTry = time.Now() // made again by restore, once there is room for it
	} else {
		s.reserve.make()
	}
	s.wq = newStmtCache(s.wc, true)
	go s.syncer()
	go s.writer()
	return s, nil
}

func (s *SQLite) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	pending, err := pendingMigrations(sqliteMigrations, "migrations/sqlite/*.sql", func(name string) (bool, error) {
		var n int
		err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n)
		return n > 0, err
	})
	if err != nil {
		return err
	}
	for _, m := range pending {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, m.body); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)`, m.name, s.clk.Now().Format(time.RFC3339Nano)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// Close stops the writer (after the writes already queued) and closes the database.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.writerDone
		<-s.syncerDone
	})
	s.rq.Close()
	s.wq.Close()
	s.wc.Close()
	err1 := s.r.Close()
	err2 := s.w.Close()
	err3 := s.wal.Close()
	if errors.Is(err3, os.ErrClosed) {
		err3 = nil // closed before
	}
	if s.reserve != nil {
		s.reserve.close()
	}
	return errors.Join(err1, err2, err3)
}

const getDocSQL = `SELECT kind, key, scope, type, value, version, created, updated FROM docs WHERE kind = ? AND key = ?`

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

type sqliteReader struct{ q querier }

const tsFormat = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(tsFormat)
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, _ := time.Parse(tsFormat, s)
	return t
}

func (r sqliteReader) Get(ctx context.Context, kind, key string) (Doc, error) {
	row := r.q.QueryRowContext(ctx, getDocSQL, kind, strings.ToLower(key))
	d, err := scanDoc(row.Scan)
	return one(d, err, sql.ErrNoRows, "get "+kind+" "+key)
}

func scanDoc(scan func(...any) error) (Doc, error) {
	var d Doc
	var created, updated string
	if err := scan(&d.Kind, &d.Key, &d.Scope, &d.Type, &d.Value, &d.Version, &created, &updated); err != nil {
		return Doc{}, err
	}
	d.Created, d.Updated = parseTime(created), parseTime(updated)
	return d, nil
}

// prefixEnd is the least string greater than every string that starts with
// p (bytewise, as SQLite compares TEXT): scope >= p AND scope < prefixEnd(p)
// selects a prefix through the index, where LIKE would scan.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\xff\xff\xff\xff"
}

func (r sqliteReader) List(ctx context.Context, kind string, q ListQuery) ([]Doc, error) {
	sqlq := `SELECT kind, key, scope, type, value, version, created, updated FROM docs WHERE kind = ?`
	args := []any{kind}
	if q.ScopePrefix != "" {
		p := strings.ToLower(q.ScopePrefix)
		sqlq += ` AND scope >= ? AND scope < ?`
		args = append(args, p, prefixEnd(p))
	}
	if q.Type != "" {
		sqlq += ` AND type = ?`
		args = append(args, strings.ToLower(q.Type))
	}
	if q.After != "" {
		sqlq += ` AND key > ?`
		args = append(args, strings.ToLower(q.After))
	}
	// Without a limit the rows are sorted here: SQLite would copy every
	// row, values included, through a temporary B-tree (keys are unique and
	// compare bytewise in both).
	if q.Limit > 0 {
		sqlq += ` ORDER BY key LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := r.q.QueryContext(ctx, sqlq, args...)
	out, err := collect(rows, err, "list "+kind, scanDoc)
	if err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	}
	return out, nil
}

// AnyUnder answers store.AnyUnder in one statement through the docs_scope
// index alone (AnyUnderReader): in a transaction, on its connection, so it
// sees the transaction's writes.
func (r sqliteReader) AnyUnder(ctx context.Context, prefix string, kinds []string) (bool, error) {
	if len(kinds) == 0 {
		return false, nil
	}
	p := strings.ToLower(prefix)
	var q strings.Builder
	args := make([]any, 0, 3*len(kinds))
	q.WriteString("SELECT ")
	for i, k := range kinds {
		if i > 0 {
			q.WriteString(" OR ")
		}
		if p == "" {
			q.WriteString("EXISTS (SELECT 1 FROM docs WHERE kind = ?)")
			args = append(args, k)
		} else {
			q.WriteString("EXISTS (SELECT 1 FROM docs WHERE kind = ? AND scope >= ? AND scope < ?)")
			args = append(args, k, p, prefixEnd(p))
		}
	}
	var n int
	if err := r.q.QueryRowContext(ctx, q.String(), args...).Scan(&n); err != nil {
		return false, fmt.Errorf("any under %s: %w", prefix, err)
	}
	return n != 0, nil
}

const taskCols = `id, kind, coalesce(tkey, ''), payload, run_at, attempts, last_error, lease_owner, lease_until, created`

func scanTask(scan func(...any) error) (Task, error) {
	var t Task
	var runAt, leaseUntil, created string
	if err := scan(&t.ID, &t.Kind, &t.Key, &t.Payload, &runAt, &t.Attempts, &t.LastError, &t.LeaseOwner, &leaseUntil, &created); err != nil {
		return Task{}, err
	}
	t.RunAt, t.LeaseUntil, t.Created = parseTime(runAt), parseTime(leaseUntil), parseTime(created)
	return t, nil
}

func (r sqliteReader) GetTask(ctx context.Context, id string) (Task, error) {
	t, err := scanTask(r.q.QueryRowContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE id = ?`, id).Scan)
	return one(t, err, sql.ErrNoRows, "get task "+id)
}

func (r sqliteReader) GetTaskByKey(ctx context.Context, key string) (Task, error) {
	if key == "" {
		return Task{}, ErrNotFound
	}
	t, err := scanTask(r.q.QueryRowContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE tkey = ?`, key).Scan)
	return one(t, err, sql.ErrNoRows, "get task "+key)
}

// Get reads one document.
func (s *SQLite) Get(ctx context.Context, kind, key string) (Doc, error) {
	d, err := s.View(ctx, kind, key)
	if err != nil {
		return Doc{}, err
	}
	d.Value = append([]byte(nil), d.Value...) // the caller's to change; the cache's stays
	return d, nil
}

// View is Get whose Value is the read cache's own (Viewer): the caller
// must not modify it. Cached values are never modified in place (a commit
// drops them), so it stays what was read.
func (s *SQLite) View(ctx context.Context, kind, key string) (Doc, error) {
	ck := cacheKey(kind, key)
	s.cmu.RLock()
	d, ok := s.cache[ck]
	gen := s.gen
	s.cmu.RUnlock()
	if ok {
		return d, nil
	}
	d, err := scanDoc(s.rq.QueryRowContext(ctx, getDocSQL, kind, ck.key).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Doc{}, ErrNotFound
	}
	if err != nil {
		return Doc{}, err
	}
	s.cmu.Lock()
	if s.gen == gen {
		s.cacheLocked(ck, d)
	}
	s.cmu.Unlock()
	return d, nil
}

// cacheLocked puts d in the read cache (s.cmu held).
func (s *SQLite) cacheLocked(ck docKey, d Doc) {
	if s.cache == nil || len(s.cache) >= cacheMax {
		s.cache = map[docKey]Doc{}
	}
	s.cache[ck] = d
}

// invalidate drops cache entries a committed transaction touched.
func (s *SQLite) invalidate(keys []docKey, kinds []string) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.gen++
	for _, k := range keys {
		delete(s.cache, k)
		if v := s.versions[k.kind]; v != nil {
			v.bump()
		}
	}
	for _, kind := range kinds {
		for k := range s.cache {
			if k.kind == kind {
				delete(s.cache, k)
			}
		}
		if v := s.versions[kind]; v != nil {
			v.bump()
		}
	}
}

// KindVersion returns kind's Version (KindVersioner): this process is
// SQLite's one writer, and a group's commit is invalidated (the Versions
// of the kinds it wrote moved) before and after its COMMIT, so after it
// for every reader before its Update returns.
func (s *SQLite) KindVersion(kind string) *Version {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	v := s.versions[kind]
	if v == nil {
		if s.versions == nil {
			s.versions = map[string]*Version{}
		}
		v = &Version{}
		s.versions[kind] = v
	}
	return v
}

// List lists documents of one kind, ordered by key.
func (s *SQLite) List(ctx context.Context, kind string, q ListQuery) ([]Doc, error) {
	out, ok, load := s.mirrors.list(kind, q)
	if ok {
		return out, nil
	}
	return s.listSQL(ctx, kind, q, load)
}

// ListView is List without copying the documents (ListViewer): from the
// list's mirror, whose documents are stable, or else from SQLite.
func (s *SQLite) ListView(ctx context.Context, kind string, q ListQuery, fn func(d *Doc, stable bool) bool) error {
	docs, ok, load := s.mirrors.view(kind, q)
	if ok {
		for _, d := range docs {
			if !fn(d, true) {
				break
			}
		}
		return nil
	}
	out, err := s.listSQL(ctx, kind, q, load)
	for i := range out {
		if !fn(&out[i], false) {
			break
		}
	}
	return err
}

// listSQL answers a List that no mirror holds from SQLite, starting the
// mirror's load when load.
func (s *SQLite) listSQL(ctx context.Context, kind string, q ListQuery, load bool) ([]Doc, error) {
	s.startMirror(ctx, kind, q.Type, load)
	return s.sqliteReader.List(ctx, kind, q)
}

// startMirror starts loading the mirror of (kind, typ) when load and
// nobody loads it yet.
func (s *SQLite) startMirror(ctx context.Context, kind, typ string, load bool) {
	if load && s.mirrors.startLoad(kind, typ) {
		// In the background: this List may run inside an Update's fn,
		// on the writer goroutine the load has to wait for.
		go func() {
			s.loadMirror(context.WithoutCancel(ctx), kind, typ)
			s.mirrors.loaded(kind, typ)
		}()
	}
}

// AnyUnder answers store.AnyUnder from the mirror of a whole kind of few
// documents, else from SQLite for the kinds left.
func (s *SQLite) AnyUnder(ctx context.Context, prefix string, kinds []string) (bool, error) {
	return s.mirrors.anyUnder(prefix, kinds, func(kinds []string) (bool, error) {
		return s.sqliteReader.AnyUnder(ctx, prefix, kinds)
	}, nil)
}

type sqliteTx struct {
	sqliteReader
	now   time.Time
	keys  []docKey   // cache keys written
	kinds []string   // kinds bulk-deleted
	ops   []mirrorOp // the changes, for the list mirrors once committed

	s      *SQLite      // whose read cache answers Get where it can (nil: never)
	before *groupWrites // what the group's savepoints before this one wrote
	tasks  bool         // a task was enqueued or rescheduled (Wakeups)
}

// groupWrites is what the released savepoints of a group wrote so far (a
// savepoint rolled back wrote nothing).
type groupWrites struct {
	keys    map[docKey]struct{}
	kinds   map[string]struct{} // bulk-deleted
	written map[string]struct{} // the kinds of both
}

func (g *groupWrites) add(keys []docKey, kinds []string) {
	for _, k := range keys {
		g.keys[k] = struct{}{}
		g.written[k.kind] = struct{}{}
	}
	for _, k := range kinds {
		g.kinds[k] = struct{}{}
		g.written[k] = struct{}{}
	}
}

// wroteKind reports whether the group, this transaction included, has
// written (or tried to write) a document of kind.
func (t *sqliteTx) wroteKind(kind string) bool {
	if _, ok := t.before.written[kind]; ok || slices.Contains(t.kinds, kind) {
		return true
	}
	for _, k := range t.keys {
		if k.kind == kind {
			return true
		}
	}
	return false
}

// List lists documents in the transaction. While nothing in the group has
// written a document of kind, the list mirrors show what SQLite holds
// (only the writer commits, and it applies each group's changes to them
// before it begins the next), so a mirror answers as outside a
// transaction; else SQLite does, with the transaction's writes.
func (t *sqliteTx) List(ctx context.Context, kind string, q ListQuery) ([]Doc, error) {
	if t.s == nil || t.wroteKind(kind) {
		return t.sqliteReader.List(ctx, kind, q)
	}
	out, ok, load := t.s.mirrors.list(kind, q)
	if ok {
		return out, nil
	}
	t.s.startMirror(ctx, kind, q.Type, load)
	return t.sqliteReader.List(ctx, kind, q)
}

// AnyUnder answers store.AnyUnder in the transaction: from the mirror of
// a whole kind of few documents that nothing in the group has written (as
// List), else from SQLite for the kinds left.
func (t *sqliteTx) AnyUnder(ctx context.Context, prefix string, kinds []string) (bool, error) {
	if t.s == nil {
		return t.sqliteReader.AnyUnder(ctx, prefix, kinds)
	}
	return t.s.mirrors.anyUnder(prefix, kinds, func(kinds []string) (bool, error) {
		return t.sqliteReader.AnyUnder(ctx, prefix, kinds)
	}, t.wroteKind)
}

// Get reads a document in the transaction. A document that nothing in the
// group has written yet is as the last commit left it (only the writer
// commits, and it begins a group after the cache dropped what the last
// one changed): the read cache answers it when it holds it, and else
// keeps what SQLite answers (no commit can run meanwhile: this is the
// writer).
func (t *sqliteTx) Get(ctx context.Context, kind, key string) (Doc, error) {
	if t.s == nil {
		return t.sqliteReader.Get(ctx, kind, key)
	}
	ck := cacheKey(kind, key)
	_, written := t.before.keys[ck]
	_, bulk := t.before.kinds[kind]
	if written || bulk || slices.Contains(t.keys, ck) || slices.Contains(t.kinds, kind) {
		return t.sqliteReader.Get(ctx, kind, key)
	}
	t.s.cmu.RLock()
	d, ok := t.s.cache[ck]
	t.s.cmu.RUnlock()
	if !ok {
		var err error
		if d, err = t.sqliteReader.Get(ctx, kind, key); err != nil {
			return Doc{}, err
		}
		t.s.cmu.Lock()
		t.s.cacheLocked(ck, d)
		t.s.cmu.Unlock()
	}
	d.Value = append([]byte(nil), d.Value...) // the caller's to change; the cache's stays
	return d, nil
}

// Update runs fn in one transaction (a savepoint of the writer's current
// group commit) and returns once it is durable, or with fn's error and
// nothing of fn written. A panic in fn is re-raised in the caller.
//
// A Freeing write that finds the file system full gives back the store's
// reserve and is tried once more; once there is room again, the next
// write makes the reserve again.
func (s *SQLite) Update(ctx context.Context, fn func(tx Tx) error) error {
	fn = fenced(ctx, fn)
	l, leased := LeaseFrom(ctx)
	enqueued := false
	run := func(t *sqliteTx) error {
		if leased {
			if err := t.checkLease(ctx, l); err != nil {
				return err
			}
		}
		err := fn(t)
		enqueued = t.tasks
		return err
	}
	err := s.update(ctx, run)
	if err != nil && errors.Is(err, ErrInsufficientStorage) && freeing(ctx) && s.reserve.release() {
		err = s.update(ctx, run)
	}
	if err == nil {
		s.reserve.restore()
		if enqueued {
			s.signal()
		}
	}
	return err
}

// Wakeups delivers a value soon after an Update that enqueued or
// rescheduled a task commits (store.Waker): this process is the only
// writer, so the runner needs no poll to see them. Values are coalesced.
func (s *SQLite) Wakeups() <-chan struct{} {
	s.wakeOnce.Do(func() {
		ch := make(chan struct{}, 1)
		s.wake.Store(&ch)
	})
	return *s.wake.Load()
}

func (s *SQLite) signal() {
	if ch := s.wake.Load(); ch != nil {
		select {
		case *ch <- struct{}{}:
		default:
		}
	}
}

// checkLease fails with ErrLeaseLost unless l is the task's latest claim.
func (t *sqliteTx) checkLease(ctx context.Context, l Lease) error {
	var owner string
	var epoch int64
	err := t.q.QueryRowContext(ctx, `SELECT owner, epoch FROM task_leases WHERE task_id = ?`, l.TaskID).Scan(&owner, &epoch)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (owner != l.Owner || epoch != l.Epoch) {
		return fmt.Errorf("task %s (%s, epoch %d): %w", l.TaskID, l.Owner, l.Epoch, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("check lease: %w", err)
	}
	return nil
}

func (s *SQLite) update(ctx context.Context, fn func(t *sqliteTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan writeResult, 1)}
	select {
	case s.writes <- req:
	case <-s.closing:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	res := s.await(req)
	if res.panicked {
		panic(res.panic)
	}
	return sqliteFull(res.err)
}

// sqliteFull marks err as ErrInsufficientStorage when SQLite answered
// SQLITE_FULL ("database or disk is full": a write of the WAL or of the
// database file failed with ENOSPC, or the database reached its maximum
// size) or a file write failed with ENOSPC.
// It marks err as ErrUnavailable when SQLite answered SQLITE_BUSY or
// SQLITE_LOCKED: another process held the database's lock past the busy
// timeout (an operator's sqlite3 shell in a write transaction, a backup
// tool), and nothing was written; the write may be tried again.
func sqliteFull(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == 13 && !errors.Is(err, ErrInsufficientStorage) { // SQLITE_FULL
		return fmt.Errorf("%w: %w", ErrInsufficientStorage, err)
	}
	if errors.As(err, &se) && (se.Code()&0xff == 5 || se.Code()&0xff == 6) && !errors.Is(err, ErrUnavailable) { // SQLITE_BUSY, SQLITE_LOCKED
		return fmt.Errorf("%w: another process holds the SQLite database's lock: %w", ErrUnavailable, err)
	}
	return outOfSpace(err)
}

// await waits for a queued request's answer, even if its ctx ends: the
// caller must not believe a write failed that is about to commit. A request
// the writer took is always answered (the syncer answers every group before
// it stops); one queued while Close ran, after the writer's last look at
// the queue, never runs and fails with errStoreClosed.
func (s *SQLite) await(req *writeReq) writeResult {
	select {
	case res := <-req.done:
		return res
	case <-s.syncerDone:
		select {
		case res := <-req.done:
			return res
		default:
			return writeResult{err: errStoreClosed}
		}
	}
}

var errStoreClosed = errors.New("store is closed")

// maxBatch bounds how many Updates share one commit.
const maxBatch = 128

type writeReq struct {
	ctx  context.Context
	fn   func(t *sqliteTx) error
	done chan writeResult
}

type writeResult struct {
	err      error
	panicked bool
	panic    any
}

// maxInflight is how many groups may be committed or running and not yet
// answered: one being made durable while the next runs. The writer waits
// for the sync of the one before to end before it begins a third, so the
// Updates queued meanwhile form the next group: commits stay as few (and
// groups as large) as the fsyncs allow, and each commit's fsync overlaps
// with the next group's work.
const maxInflight = 2

// writer owns the write connection: it takes the queued Updates in groups,
// commits each group once and hands it to the syncer, which answers it.
func (s *SQLite) writer() {
	defer close(s.writerDone)
	defer close(s.synced) // after the last group: the syncer answers it and stops
	for {
		var first *writeReq
		select {
		case first = <-s.writes:
		case <-s.closing:
			// Answer whatever is still queued, then stop.
			for {
				select {
				case r := <-s.writes:
					s.inflight <- struct{}{}
					s.synced <- s.commitGroup([]*writeReq{r})
				default:
					return
				}
			}
		}
		s.inflight <- struct{}{} // (the Updates queued while this waits join the group)
		batch := []*writeReq{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.synced <- s.commitGroup(batch)
	}
}

// pendingGroup is a group the writer is done with, waiting for its answers:
// committed (its WAL frames written, not yet known to be on disk) or not.
type pendingGroup struct {
	batch     []*writeReq
	results   []writeResult
	committed bool
}

// syncer answers the writer's groups in commit order, each committed one
// after an fdatasync of the WAL that started after its COMMIT. While it
// syncs, the writer runs the next group; the groups committed meanwhile
// share the next fdatasync.
func (s *SQLite) syncer() {
	defer close(s.syncerDone)
	var groups []*pendingGroup
	for g := range s.synced {
		groups = append(groups[:0], g)
	more:
		for {
			select {
			case g, ok := <-s.synced:
				if !ok {
					break more
				}
				groups = append(groups, g)
			default:
				break more
			}
		}
		committed := false
		for _, g := range groups {
			committed = committed || g.committed
		}
		var err error
		if committed {
			err = s.syncWALOnce()
		}
		for _, g := range groups {
			for i, r := range g.batch {
				res := g.results[i]
				if err != nil && g.committed && !res.panicked {
					res.err = err
				}
				r.done <- res
			}
			<-s.inflight
		}
	}
}

// syncWALOnce fdatasyncs the WAL, or fails with the error of an earlier
// failed fdatasync (after which nothing is known to be durable).
func (s *SQLite) syncWALOnce() error {
	if err := s.failedSync(); err != nil {
		return err
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if err := s.syncWAL(); err != nil {
		err = fmt.Errorf("commit: sync WAL (the store must be reopened): %w", err)
		s.syncErr.Store(&err)
		return err
	}
	return nil
}

// failedSync is the error of a failed fdatasync, if one failed.
func (s *SQLite) failedSync() error {
	if p := s.syncErr.Load(); p != nil {
		return *p
	}
	return nil
}

// commitGroup runs each request's fn in its own savepoint of one
// transaction and commits once; the syncer answers the group.
func (s *SQLite) commitGroup(batch []*writeReq) *pendingGroup {
	bg := context.Background()
	g := &pendingGroup{batch: batch, results: make([]writeResult, len(batch))}
	results := g.results
	failAll := func(err error) *pendingGroup {
		for i := range results {
			if !results[i].panicked {
				results[i].err = err
			}
		}
		return g
	}
	if err := s.failedSync(); err != nil {
		return failAll(err)
	}
	// The transaction is begun and ended with plain statements on the
	// writer's connection (not a database/sql Tx, whose statements could
	// not use the connection's prepared ones).
	tx := s.wq
	rollback := func() { tx.ExecContext(bg, `ROLLBACK`) }
	if _, err := tx.ExecContext(bg, `BEGIN IMMEDIATE`); err != nil {
		rollback() // in case BEGIN failed after all
		return failAll(fmt.Errorf("begin: %w", err))
	}
	var keys []docKey
	var kinds []string
	var ops []mirrorOp
	before := &groupWrites{keys: map[docKey]struct{}{}, kinds: map[string]struct{}{}, written: map[string]struct{}{}}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i].err = err
			continue
		}
		if _, err := tx.ExecContext(bg, `SAVEPOINT u`); err != nil {
			rollback()
			return failAll(fmt.Errorf("begin: %w", err))
		}
		stx := &sqliteTx{sqliteReader: sqliteReader{tx}, now: s.clk.Now(), s: s, before: before}
		results[i] = runFn(r.ctx, r.fn, stx)
		if results[i].err != nil || results[i].panicked {
			_, err1 := tx.ExecContext(bg, `ROLLBACK TO u`)
			_, err2 := tx.ExecContext(bg, `RELEASE u`)
			if err := errors.Join(err1, err2); err != nil {
				// The transaction itself is gone (e.g. disk full): nothing
				// of the group commits, and every caller hears why.
				rollback()
				return failAll(fmt.Errorf("roll back: %w", err))
			}
			continue
		}
		if _, err := tx.ExecContext(bg, `RELEASE u`); err != nil {
			rollback()
			return failAll(fmt.Errorf("commit: %w", err))
		}
		keys = append(keys, stx.keys...)
		kinds = append(kinds, stx.kinds...)
		ops = append(ops, stx.ops...)
		before.add(stx.keys, stx.kinds)
	}
	// Drop cached entries before and after the commit: a Get racing the
	// commit then sees a changed gen and does not cache what it read.
	touched := len(keys) > 0 || len(kinds) > 0
	if touched {
		s.invalidate(keys, kinds)
	}
	if f := s.beforeCommit.Load(); f != nil {
		(*f)()
	}
	_, err := tx.ExecContext(bg, `COMMIT`)
	if err != nil {
		rollback() // a failed COMMIT may leave the transaction open
	}
	if touched {
		s.invalidate(keys, kinds)
	}
	if err != nil {
		s.mirrors.reset() // whether anything committed is unknown: list from SQLite again
		// It may have written frames: answer after a sync all the same.
		g.committed = true
		return failAll(fmt.Errorf("commit: %w", err))
	}
	s.mirrors.apply(ops)
	s.cacheWrites(ops)
	g.committed = true
	return g
}

// cacheWrites puts the documents a committed group wrote, as they now are,
// in the read cache (after the commit's invalidate, so no Get that read
// before the commit can cache over them): a Get that follows a write (a
// resource group's DELETE in the next group reads the group its PUT wrote,
// a client GETs what it PUT) then needs no query. Only while the cache is
// less than half full, so that writes never fill it and empty it of what
// reads put there.
func (s *SQLite) cacheWrites(ops []mirrorOp) {
	var last map[docKey]*Doc
	for _, op := range ops {
		switch {
		case op.put != nil:
			if last == nil {
				last = map[docKey]*Doc{}
			}
			last[cacheKey(op.put.Kind, op.put.Key)] = op.put
		case op.scope:
			for k, d := range last {
				if k.kind == op.kind && strings.HasPrefix(d.Scope, op.prefix) {
					delete(last, k)
				}
			}
		case op.kind != "":
			delete(last, cacheKey(op.kind, op.key))
		}
	}
	if len(last) == 0 {
		return
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.cache == nil {
		s.cache = map[docKey]Doc{}
	}
	for k, d := range last {
		if len(s.cache) >= cacheMax/2 {
			break
		}
		s.cache[k] = *d // shared with the mirrors: neither modifies a document
	}
}

func runFn(ctx context.Context, fn func(t *sqliteTx) error, t *sqliteTx) (res writeResult) {
	defer func() {
		if p := recover(); p != nil {
			res = writeResult{panicked: true, panic: p}
		}
	}()
	return writeResult{err: fn(t)}
}

func (t *sqliteTx) Create(ctx context.Context, d Doc) error {
	t.keys = append(t.keys, cacheKey(d.Kind, d.Key))
	_, err := t.q.ExecContext(ctx, `INSERT INTO docs(kind, key, scope, type, value, version, created, updated) VALUES (?, ?, ?, ?, ?, 1, ?, ?)`,
		d.Kind, strings.ToLower(d.Key), strings.ToLower(d.Scope), strings.ToLower(d.Type), d.Value, fmtTime(t.now), fmtTime(t.now))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint") {
			return ErrConflict
		}
		return fmt.Errorf("create %s %s: %w", d.Kind, d.Key, err)
	}
	now := parseTime(fmtTime(t.now))
	t.ops = append(t.ops, mirrorOp{put: &Doc{Kind: d.Kind, Key: strings.ToLower(d.Key), Scope: strings.ToLower(d.Scope), Type: strings.ToLower(d.Type),
		Value: append([]byte(nil), d.Value...), Version: 1, Created: now, Updated: now}})
	return nil
}

func (t *sqliteTx) Put(ctx context.Context, d Doc) error {
	t.keys = append(t.keys, cacheKey(d.Kind, d.Key))
	var version int64
	var created string
	err := t.q.QueryRowContext(ctx, `INSERT INTO docs(kind, key, scope, type, value, version, created, updated) VALUES (?, ?, ?, ?, ?, 1, ?, ?)
		ON CONFLICT(kind, key) DO UPDATE SET scope = excluded.scope, type = excluded.type, value = excluded.value, version = docs.version + 1, updated = excluded.updated
		RETURNING version, created`,
		d.Kind, strings.ToLower(d.Key), strings.ToLower(d.Scope), strings.ToLower(d.Type), d.Value, fmtTime(t.now), fmtTime(t.now)).Scan(&version, &created)
	if err != nil {
		return fmt.Errorf("put %s %s: %w", d.Kind, d.Key, err)
	}
	t.ops = append(t.ops, mirrorOp{put: &Doc{Kind: d.Kind, Key: strings.ToLower(d.Key), Scope: strings.ToLower(d.Scope), Type: strings.ToLower(d.Type),
		Value: append([]byte(nil), d.Value...), Version: version, Created: parseTime(created), Updated: parseTime(fmtTime(t.now))}})
	return nil
}

func (t *sqliteTx) Delete(ctx context.Context, kind, key string) error {
	t.keys = append(t.keys, cacheKey(kind, key))
	res, err := t.q.ExecContext(ctx, `DELETE FROM docs WHERE kind = ? AND key = ?`, kind, strings.ToLower(key))
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	t.ops = append(t.ops, mirrorOp{kind: kind, key: strings.ToLower(key)})
	return nil
}

func (t *sqliteTx) DeleteScope(ctx context.Context, kind, prefix string) (int, error) {
	t.kinds = append(t.kinds, kind)
	p := strings.ToLower(prefix)
	res, err := t.q.ExecContext(ctx, `DELETE FROM docs WHERE kind = ? AND scope >= ? AND scope < ?`, kind, p, prefixEnd(p))
	if err != nil {
		return 0, fmt.Errorf("delete %s under %s: %w", kind, prefix, err)
	}
	t.ops = append(t.ops, mirrorOp{kind: kind, prefix: p, scope: true})
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (t *sqliteTx) Enqueue(ctx context.Context, task Task) (Task, error) {
	if task.Key != "" {
		if old, err := t.GetTaskByKey(ctx, task.Key); err == nil {
			if _, err := t.q.ExecContext(ctx, `DELETE FROM tasks WHERE id = ?`, old.ID); err != nil {
				return Task{}, fmt.Errorf("enqueue %s: %w", task.Kind, err)
			}
		}
	}
	task, key := newTask(task, t.now)
	t.tasks = true
	_, err := t.q.ExecContext(ctx, `INSERT INTO tasks(id, kind, tkey, payload, run_at, attempts, last_error, lease_owner, lease_until, created) VALUES (?, ?, ?, ?, ?, ?, '', '', '', ?)`,
		task.ID, task.Kind, key, task.Payload, fmtTime(task.RunAt), task.Attempts, fmtTime(task.Created))
	if err != nil {
		return Task{}, fmt.Errorf("enqueue %s: %w", task.Kind, err)
	}
	return task, nil
}

func (t *sqliteTx) CompleteTask(ctx context.Context, id string) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM tasks WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("complete task %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func (t *sqliteTx) RescheduleTask(ctx context.Context, id string, runAt time.Time, lastError string) error {
	return t.PinTask(ctx, id, runAt, lastError, "", time.Time{})
}

func (t *sqliteTx) PinTask(ctx context.Context, id string, runAt time.Time, lastError, node string, until time.Time) error {
	pinUntil := ""
	if node != "" {
		pinUntil = fmtTime(until)
	}
	t.tasks = true
	res, err := t.q.ExecContext(ctx, `UPDATE tasks SET run_at = ?, last_error = ?, lease_owner = '', lease_until = '', attempts = attempts + 1, pin_node = ?, pin_until = ? WHERE id = ?`,
		fmtTime(runAt), lastError, node, pinUntil, id)
	if err != nil {
		return fmt.Errorf("reschedule task %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ClaimTasks leases due tasks.
func (s *SQLite) ClaimTasks(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Task, error) {
	// Most wake-ups find nothing due: look through a read connection first,
	// so that idle polling never queues behind (or delays) real writes.
	var due int
	node, wall := OwnerNode(owner), fmtTime(time.Now())
	cond := `run_at <= ? AND (lease_until = '' OR lease_until <= ? OR (? AND lease_owner = ?)) AND (pin_node = '' OR pin_node = ? OR pin_until < ?)`
	args := []any{fmtTime(now), fmtTime(now), ReclaimOwn(ctx), owner, node, wall}
	if kinds := ClaimKinds(ctx); kinds != nil {
		if len(kinds) == 0 {
			return nil, nil
		}
		cond += ` AND kind IN (?` + strings.Repeat(`, ?`, len(kinds)-1) + `)`
		for _, k := range kinds {
			args = append(args, k)
		}
	}
	if ids := ClaimExcept(ctx); len(ids) > 0 {
		cond += ` AND id NOT IN (?` + strings.Repeat(`, ?`, len(ids)-1) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	err := s.rq.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM tasks WHERE `+cond+` LIMIT 1)`, args...).Scan(&due)
	if err == nil && due == 0 {
		return nil, nil
	}
	var out []Task
	err = s.update(ctx, func(tx *sqliteTx) error {
		out = out[:0]
		rows, err := tx.q.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE `+cond+` ORDER BY run_at, id LIMIT ?`, append(args, limit)...)
		out, err = collect(rows, err, "claim tasks", scanTask)
		if err != nil {
			return err
		}
		until := now.Add(lease)
		for i := range out {
			if _, err := tx.q.ExecContext(ctx, `UPDATE tasks SET lease_owner = ?, lease_until = ? WHERE id = ?`, owner, fmtTime(until), out[i].ID); err != nil {
				return err
			}
			var epoch int64
			if err := tx.q.QueryRowContext(ctx, `INSERT INTO task_leases(task_id, owner, epoch, until) VALUES (?, ?, 1, ?)
				ON CONFLICT(task_id) DO UPDATE SET owner = excluded.owner, epoch = task_leases.epoch + 1, until = excluded.until RETURNING epoch`,
				out[i].ID, owner, fmtTime(until)).Scan(&epoch); err != nil {
				return err
			}
			out[i].LeaseOwner, out[i].LeaseUntil, out[i].LeaseEpoch = owner, until, epoch
		}
		if len(out) > 0 {
			// Never the fences of the tasks running here (ClaimExcept): a
			// handler whose task was completed or replaced while it ran (an
			// item's schedule stopped during its backup) still writes under
			// it, and a clock moved on a day would take it from under it.
			q, args := `DELETE FROM task_leases WHERE until < ? AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.id = task_leases.task_id)`, []any{fmtTime(now.Add(-leaseMemory))}
			if ids := ClaimExcept(ctx); len(ids) > 0 {
				q += ` AND task_id NOT IN (?` + strings.Repeat(`, ?`, len(ids)-1) + `)`
				for _, id := range ids {
					args = append(args, id)
				}
			}
			if _, err := tx.q.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim tasks: %w", err)
	}
	return out, nil
}

// LeasedTasks counts the tasks whose lease is live at now, held by nodes
// (nil: by any).
func (s *SQLite) LeasedTasks(ctx context.Context, now time.Time, nodes []string) (int, error) {
	var n int
	q, args := `SELECT count(*) FROM tasks WHERE lease_owner <> '' AND lease_until > ?`, []any{fmtTime(now)}
	if nodes != nil {
		if len(nodes) == 0 {
			return 0, nil
		}
		q += ` AND substr(lease_owner, 1, instr(lease_owner || '/', '/') - 1) IN (?` + strings.Repeat(`, ?`, len(nodes)-1) + `)`
		for _, node := range nodes {
			args = append(args, node)
		}
	}
	if err := s.r.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("leased tasks: %w", err)
	}
	return n, nil
}

// Leases implements LeaseLister.
func (s *SQLite) Leases(ctx context.Context) ([]Task, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, kind, lease_owner, lease_until FROM tasks WHERE lease_owner <> ''`)
	return collect(rows, err, "list task leases", func(scan func(...any) error) (Task, error) {
		var t Task
		var until string
		err := scan(&t.ID, &t.Kind, &t.LeaseOwner, &until)
		t.LeaseUntil = parseTime(until)
		return t, err
	})
}

// DueFor implements DueReader.
func (s *SQLite) DueFor(ctx context.Context, node string, now, wall time.Time) (bool, time.Time, error) {
	var claimable int
	var until sql.NullString
	w := fmtTime(wall)
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(CASE WHEN pin_node = '' OR pin_node = ? OR pin_until < ? THEN 1 ELSE 0 END), 0),
			min(CASE WHEN pin_node <> '' AND pin_node <> ? AND pin_until >= ? THEN pin_until END)
		FROM tasks WHERE run_at <= ? AND (lease_until = '' OR lease_until <= ?)`,
		node, w, node, w, fmtTime(now), fmtTime(now)).Scan(&claimable, &until); err != nil {
		return false, time.Time{}, fmt.Errorf("due tasks: %w", err)
	}
	if claimable == 1 {
		return true, time.Time{}, nil
	}
	return false, parseTime(until.String), nil
}

// PullTasks implements TaskPuller.
func (s *SQLite) PullTasks(ctx context.Context, from, to time.Time) (int, error) {
	var n int64
	err := s.update(ctx, func(tx *sqliteTx) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE tasks SET run_at = ? WHERE run_at <= ? AND run_at > ?`, fmtTime(to), fmtTime(from), fmtTime(to))
		if err != nil {
			return fmt.Errorf("pull tasks: %w", err)
		}
		n, _ = res.RowsAffected()
		rows, err := tx.q.QueryContext(ctx, `SELECT id, lease_until FROM tasks WHERE lease_until <> '' AND lease_until > ?`, fmtTime(to))
		leases, err := collect(rows, err, "pull tasks' leases", func(scan func(...any) error) (l [2]string, err error) {
			return l, scan(&l[0], &l[1])
		})
		if err != nil {
			return err
		}
		for _, l := range leases {
			if _, err := tx.q.ExecContext(ctx, `UPDATE tasks SET lease_until = ? WHERE id = ?`, fmtTime(parseTime(l[1]).Add(to.Sub(from))), l[0]); err != nil {
				return fmt.Errorf("pull tasks' leases: %w", err)
			}
		}
		return nil
	})
	return int(n), err
}

// NextTaskTime returns the earliest run time among unleased tasks.
func (s *SQLite) NextTaskTime(ctx context.Context) (time.Time, error) {
	var v sql.NullString
	if err := s.r.QueryRowContext(ctx, `SELECT min(CASE WHEN lease_until = '' OR lease_until < run_at THEN run_at ELSE lease_until END) FROM tasks`).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("next task time: %w", err)
	}
	return parseTime(v.String), nil
}

// ExtendLease pushes a held lease forward.
func (s *SQLite) ExtendLease(ctx context.Context, l Lease, until time.Time) error {
	return s.update(ctx, func(tx *sqliteTx) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE tasks SET lease_until = ? WHERE id = ? AND lease_owner = ?
			AND EXISTS (SELECT 1 FROM task_leases WHERE task_id = ? AND owner = ? AND epoch = ?)`,
			fmtTime(until), l.TaskID, l.Owner, l.TaskID, l.Owner, l.Epoch)
		if err != nil {
			return fmt.Errorf("extend lease %s: %w", l.TaskID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("extend lease %s: %w", l.TaskID, ErrLeaseLost)
		}
		_, err = tx.q.ExecContext(ctx, `UPDATE task_leases SET until = ? WHERE task_id = ?`, fmtTime(until), l.TaskID)
		return err
	})
}

// ReleaseLeases frees leases held by owners with the prefix.
func (s *SQLite) ReleaseLeases(ctx context.Context, ownerPrefix string) (int, error) {
	var n int64
	err := s.update(ctx, func(tx *sqliteTx) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE tasks SET lease_owner = '', lease_until = '' WHERE lease_owner >= ? AND lease_owner < ?`, ownerPrefix, prefixEnd(ownerPrefix))
		if err != nil {
			return fmt.Errorf("release leases: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}
