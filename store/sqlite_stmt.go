package store

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared statements, cached per SQL text. modernc's driver keeps a
// prepared single statement's compiled program and only resets it between
// runs, so a cached statement is parsed once per connection instead of on
// every call (parsing was the larger part of a small write's CPU).

// maxStmts bounds a cache; texts beyond it run unprepared.
const maxStmts = 256

// preparer is where statements are prepared: the read pool (*sql.DB, which
// prepares a statement again on each connection it runs on, once) or the
// writer's connection (*sql.Conn).
type preparer interface {
	querier
	PrepareContext(ctx context.Context, q string) (*sql.Stmt, error)
}

// stmtCache runs queries through statements prepared once per text.
//
// detached (the writer's connection) runs every statement with a context
// that is never cancelled, after checking the caller's: the statements of
// many Updates share one SQLite transaction, and the driver answers a
// cancelled context by interrupting the connection, which would end the
// statement of whichever Update runs then (and, for some statements, roll
// back the whole transaction, other callers' savepoints included). An
// Update whose context ends still fails at its next statement.
type stmtCache struct {
	p        preparer
	detached bool

	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(p preparer, detached bool) *stmtCache {
	return &stmtCache{p: p, detached: detached, stmts: map[string]*sql.Stmt{}}
}

// stmt returns the prepared statement for q, or nil when q cannot be (or
// may no longer be) cached: the caller then runs q unprepared.
func (c *stmtCache) stmt(q string) *sql.Stmt {
	c.mu.RLock()
	st, ok := c.stmts[q]
	c.mu.RUnlock()
	if ok {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[q]; ok {
		return st
	}
	if len(c.stmts) >= maxStmts {
		return nil
	}
	st, err := c.p.PrepareContext(context.Background(), q)
	if err != nil {
		return nil // the unprepared run reports the error
	}
	c.stmts[q] = st
	return st
}

// run is the context a statement runs with, or false when the caller's has
// ended (the caller then runs q unprepared with it, which fails at once).
func (c *stmtCache) run(ctx context.Context) (context.Context, bool) {
	if !c.detached {
		return ctx, true
	}
	if ctx.Err() != nil {
		return ctx, false
	}
	return context.Background(), true
}

func (c *stmtCache) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rctx, ok := c.run(ctx)
	if st := c.stmt(q); ok && st != nil {
		return st.QueryContext(rctx, args...)
	}
	return c.p.QueryContext(rctx, q, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	rctx, ok := c.run(ctx)
	if st := c.stmt(q); ok && st != nil {
		return st.QueryRowContext(rctx, args...)
	}
	return c.p.QueryRowContext(rctx, q, args...)
}

func (c *stmtCache) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	rctx, ok := c.run(ctx)
	if st := c.stmt(q); ok && st != nil {
		return st.ExecContext(rctx, args...)
	}
	return c.p.ExecContext(rctx, q, args...)
}

// Close closes the cached statements.
func (c *stmtCache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}
