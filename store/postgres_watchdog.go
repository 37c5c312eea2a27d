package store

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgWatchdog makes every connection of the pool a pgWatchdogConn bounded
// by limit (nanoseconds, read at each round trip; 0: no bound), and bounds
// connecting by it too unless the URL's connect_timeout does.
//
// The pool pings a connection that idled over a second before handing it
// out, and tries the next one when the ping fails: on a database that
// stopped answering, each idle connection's ping would wait out limit in
// turn, so that one request waited limit times the idle connections (a
// pool of 32 at the default limit: 19 minutes). Within limit of a round
// trip that timed out (timedOut, Unix nanoseconds), connections are handed
// out unpinged: the request's own round trip fails after limit (a read on
// a connection the database dropped runs again on another: see onConn).
func pgWatchdog(cfg *pgxpool.Config, limit, timedOut, writes *atomic.Int64, connect time.Duration) {
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &pgWatchdogConn{Conn: c, limit: limit, timedOut: timedOut, writes: writes}, nil
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connect
	}
	cfg.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
		return p.IdleDuration > time.Second && time.Now().UnixNano()-timedOut.Load() > limit.Load()
	}
}

// pgWatchdogConn is a connection to the database on which every round
// trip must be answered within limit: each write (a round trip begins with
// one: pgx sends a statement, a batch or a COMMIT in one write) sets the
// connection's deadline that far ahead, so a read that waits longer for
// the answer fails with a timeout, pgx closes the connection and the
// statement fails (ErrUnavailable, see pgTimedOut). This catches what
// TCP does not: a frozen server (SIGSTOP, a hung host) whose kernel still
// acknowledges every packet, and a network partition (no reset), long
// before TCP's own retries give up. It costs one deadline update per
// round trip, no goroutine, timer or context of its own (a
// context.WithTimeout per statement halved the writer's throughput).
//
// A deadline pgx sets itself (a canceled context, a close) is left alone
// until pgx clears it. The listener's connection, which waits for
// notifications without writing, is unwatched (see pgUnwatch).
type pgWatchdogConn struct {
	net.Conn
	limit    *atomic.Int64
	timedOut *atomic.Int64 // when a round trip last timed out (see pgWatchdog)
	writes   *atomic.Int64 // the writes of every connection: round trips, for tests
	off      atomic.Bool   // unwatched
	pgx      atomic.Bool   // pgx set a deadline of its own
}

func (c *pgWatchdogConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	if d := c.limit.Load(); d > 0 && !c.off.Load() && !c.pgx.Load() {
		c.Conn.SetDeadline(time.Now().Add(time.Duration(d)))
	}
	return c.Conn.Write(b)
}

func (c *pgWatchdogConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && pgTimedOut(err) && !c.off.Load() && !c.pgx.Load() {
		c.timedOut.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *pgWatchdogConn) SetDeadline(t time.Time) error {
	c.pgx.Store(!t.IsZero())
	return c.Conn.SetDeadline(t)
}

func (c *pgWatchdogConn) SetReadDeadline(t time.Time) error {
	c.pgx.Store(!t.IsZero())
	return c.Conn.SetReadDeadline(t)
}

func (c *pgWatchdogConn) SetWriteDeadline(t time.Time) error {
	c.pgx.Store(!t.IsZero())
	return c.Conn.SetWriteDeadline(t)
}

// pgUnwatch lifts the bound of c's round trips (a connection that waits
// for notifications, which may not come for hours).
func pgUnwatch(c *pgx.Conn) {
	nc := c.PgConn().Conn()
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	if w, ok := nc.(*pgWatchdogConn); ok {
		w.off.Store(true)
		w.Conn.SetDeadline(time.Time{})
	}
}

// pgTimedOut reports whether err is a round trip that the database did not
// answer in time (the watchdog's deadline, or connecting past its timeout).
func pgTimedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
