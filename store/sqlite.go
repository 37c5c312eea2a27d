package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/clock"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLite is the default Store: one database file in WAL mode. Writes go
// through a single connection (SQLite has one writer); reads use a pool.
type SQLite struct {
	w   *sql.DB
	r   *sql.DB
	clk clock.Clock

	getStmt *sql.Stmt // the hot path: prepared once, cached per connection by database/sql

	// A read cache for Get (the ARM GET hot path). SQLite has one writer,
	// this process, so every write is seen: a commit drops the keys it
	// touched (or the whole kind for DeleteScope) and bumps gen, and a Get
	// only fills the cache if no commit happened while it read.
	cmu   sync.Mutex
	cache map[string]Doc
	gen   uint64
}

const cacheMax = 20000

func cacheKey(kind, key string) string { return kind + "\x00" + strings.ToLower(key) }

// OpenSQLite opens (creating if needed) the database at path and applies migrations.
// clk stamps Created and Updated; nil means the real clock.
func OpenSQLite(ctx context.Context, path string, clk clock.Clock) (*SQLite, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	pragmas := "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
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
	s := &SQLite{w: w, r: r, clk: clk}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.getStmt, err = r.PrepareContext(ctx, getDocSQL); err != nil {
		s.Close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return s, nil
}

func (s *SQLite) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(sqliteMigrations, "migrations/sqlite/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := sqliteMigrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)`, name, s.clk.Now().Format(time.RFC3339Nano)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

// Close closes the database.
func (s *SQLite) Close() error {
	if s.getStmt != nil {
		s.getStmt.Close()
	}
	err1 := s.r.Close()
	err2 := s.w.Close()
	return errors.Join(err1, err2)
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
	row := r.q.QueryRowContext(ctx, `SELECT kind, key, scope, type, value, version, created, updated FROM docs WHERE kind = ? AND key = ?`, kind, strings.ToLower(key))
	d, err := scanDoc(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Doc{}, ErrNotFound
	}
	return d, err
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

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func (r sqliteReader) List(ctx context.Context, kind string, q ListQuery) ([]Doc, error) {
	sqlq := `SELECT kind, key, scope, type, value, version, created, updated FROM docs WHERE kind = ?`
	args := []any{kind}
	if q.ScopePrefix != "" {
		sqlq += ` AND scope LIKE ? ESCAPE '\'`
		args = append(args, likeEscape(strings.ToLower(q.ScopePrefix))+"%")
	}
	if q.Type != "" {
		sqlq += ` AND type = ?`
		args = append(args, strings.ToLower(q.Type))
	}
	if q.After != "" {
		sqlq += ` AND key > ?`
		args = append(args, strings.ToLower(q.After))
	}
	sqlq += ` ORDER BY key`
	if q.Limit > 0 {
		sqlq += fmt.Sprintf(` LIMIT %d`, q.Limit)
	}
	rows, err := r.q.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	defer rows.Close()
	var out []Doc
	for rows.Next() {
		d, err := scanDoc(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", kind, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
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
	if errors.Is(err, sql.ErrNoRows) {
		return Task{}, ErrNotFound
	}
	return t, err
}

func (r sqliteReader) GetTaskByKey(ctx context.Context, key string) (Task, error) {
	if key == "" {
		return Task{}, ErrNotFound
	}
	t, err := scanTask(r.q.QueryRowContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE tkey = ?`, key).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Task{}, ErrNotFound
	}
	return t, err
}

// Get reads one document.
func (s *SQLite) Get(ctx context.Context, kind, key string) (Doc, error) {
	ck := cacheKey(kind, key)
	s.cmu.Lock()
	d, ok := s.cache[ck]
	gen := s.gen
	s.cmu.Unlock()
	if ok {
		d.Value = append([]byte(nil), d.Value...)
		return d, nil
	}
	d, err := scanDoc(s.getStmt.QueryRowContext(ctx, kind, strings.ToLower(key)).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Doc{}, ErrNotFound
	}
	if err != nil {
		return Doc{}, err
	}
	s.cmu.Lock()
	if s.gen == gen {
		if s.cache == nil || len(s.cache) >= cacheMax {
			s.cache = map[string]Doc{}
		}
		c := d
		c.Value = append([]byte(nil), d.Value...)
		s.cache[ck] = c
	}
	s.cmu.Unlock()
	return d, nil
}

// invalidate drops cache entries a committed transaction touched.
func (s *SQLite) invalidate(keys []string, kinds []string) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.gen++
	for _, k := range keys {
		delete(s.cache, k)
	}
	for _, kind := range kinds {
		for k := range s.cache {
			if strings.HasPrefix(k, kind+"\x00") {
				delete(s.cache, k)
			}
		}
	}
}

// List lists documents of one kind, ordered by key.
func (s *SQLite) List(ctx context.Context, kind string, q ListQuery) ([]Doc, error) {
	return sqliteReader{s.r}.List(ctx, kind, q)
}

// GetTask reads one task.
func (s *SQLite) GetTask(ctx context.Context, id string) (Task, error) {
	return sqliteReader{s.r}.GetTask(ctx, id)
}

// GetTaskByKey reads the task with a unique key.
func (s *SQLite) GetTaskByKey(ctx context.Context, key string) (Task, error) {
	return sqliteReader{s.r}.GetTaskByKey(ctx, key)
}

type sqliteTx struct {
	sqliteReader
	now   time.Time
	keys  []string // cache keys written
	kinds []string // kinds bulk-deleted
}

// Update runs fn in one transaction.
func (s *SQLite) Update(ctx context.Context, fn func(tx Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	stx := &sqliteTx{sqliteReader: sqliteReader{tx}, now: s.clk.Now()}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback() // also on panic: never leave the one write connection in a transaction
		}
	}()
	if err := fn(stx); err != nil {
		return err
	}
	committed = true
	// Drop cached entries before and after the commit: a Get racing the
	// commit then sees a changed gen and does not cache what it read.
	if len(stx.keys) > 0 || len(stx.kinds) > 0 {
		s.invalidate(stx.keys, stx.kinds)
	}
	err = tx.Commit()
	if len(stx.keys) > 0 || len(stx.kinds) > 0 {
		s.invalidate(stx.keys, stx.kinds)
	}
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
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
	return nil
}

func (t *sqliteTx) Put(ctx context.Context, d Doc) error {
	t.keys = append(t.keys, cacheKey(d.Kind, d.Key))
	_, err := t.q.ExecContext(ctx, `INSERT INTO docs(kind, key, scope, type, value, version, created, updated) VALUES (?, ?, ?, ?, ?, 1, ?, ?)
		ON CONFLICT(kind, key) DO UPDATE SET scope = excluded.scope, type = excluded.type, value = excluded.value, version = docs.version + 1, updated = excluded.updated`,
		d.Kind, strings.ToLower(d.Key), strings.ToLower(d.Scope), strings.ToLower(d.Type), d.Value, fmtTime(t.now), fmtTime(t.now))
	if err != nil {
		return fmt.Errorf("put %s %s: %w", d.Kind, d.Key, err)
	}
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
	return nil
}

func (t *sqliteTx) DeleteScope(ctx context.Context, kind, prefix string) (int, error) {
	t.kinds = append(t.kinds, kind)
	res, err := t.q.ExecContext(ctx, `DELETE FROM docs WHERE kind = ? AND scope LIKE ? ESCAPE '\'`, kind, likeEscape(strings.ToLower(prefix))+"%")
	if err != nil {
		return 0, fmt.Errorf("delete %s under %s: %w", kind, prefix, err)
	}
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
	if task.ID == "" {
		task.ID = uuid.NewString()
	}
	if task.RunAt.IsZero() {
		task.RunAt = t.now
	}
	task.Created = t.now
	var key any
	if task.Key != "" {
		key = task.Key
	}
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
	res, err := t.q.ExecContext(ctx, `UPDATE tasks SET run_at = ?, last_error = ?, lease_owner = '', lease_until = '', attempts = attempts + 1 WHERE id = ?`, fmtTime(runAt), lastError, id)
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
	var out []Task
	err := s.Update(ctx, func(txi Tx) error {
		tx := txi.(*sqliteTx)
		rows, err := tx.q.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE run_at <= ? AND (lease_until = '' OR lease_until < ?) ORDER BY run_at, id LIMIT ?`, fmtTime(now), fmtTime(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			t, err := scanTask(rows.Scan)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, t)
		}
		rows.Close()
		until := now.Add(lease)
		for i := range out {
			if _, err := tx.q.ExecContext(ctx, `UPDATE tasks SET lease_owner = ?, lease_until = ? WHERE id = ?`, owner, fmtTime(until), out[i].ID); err != nil {
				return err
			}
			out[i].LeaseOwner, out[i].LeaseUntil = owner, until
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim tasks: %w", err)
	}
	return out, nil
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
func (s *SQLite) ExtendLease(ctx context.Context, id, owner string, until time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE tasks SET lease_until = ? WHERE id = ? AND lease_owner = ?`, fmtTime(until), id, owner)
	if err != nil {
		return fmt.Errorf("extend lease %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ReleaseLeases frees leases held by owners with the prefix.
func (s *SQLite) ReleaseLeases(ctx context.Context, ownerPrefix string) (int, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE tasks SET lease_owner = '', lease_until = '' WHERE lease_owner LIKE ? ESCAPE '\'`, likeEscape(ownerPrefix)+"%")
	if err != nil {
		return 0, fmt.Errorf("release leases: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
