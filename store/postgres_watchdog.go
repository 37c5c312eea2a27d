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
func pgWatchdog(cfg *pgxpool.Config, limit *atomic.Int64, connect time.Duration) {
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &pgWatchdogConn{Conn: c, limit: limit}, nil
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connect
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
	limit *atomic.Int64
	off   atomic.Bool // unwatched
	pgx   atomic.Bool // pgx set a deadline of its own
}

func (c *pgWatchdogConn) Write(b []byte) (int, error) {
	if d := c.limit.Load(); d > 0 && !c.off.Load() && !c.pgx.Load() {
		c.Conn.SetDeadline(time.Now().Add(time.Duration(d)))
	}
	return c.Conn.Write(b)
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
