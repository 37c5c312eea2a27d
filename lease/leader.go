package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/store"
)

// DefaultTTL is the leader lease's time-to-live: renewed every TTL/3, so a
// dead leader is replaced within a TTL (River's elector uses 5 s + 10 s).
const DefaultTTL = 15 * time.Second

// Leader campaigns for one named lease and tells whether this process
// holds it. Start it once; every replica runs one per singleton name (or
// one for all singletons, as the server does: "leader").
type Leader struct {
	Store  store.Store
	Name   string        // the lease's name, e.g. "leader"
	Holder string        // this process: node id and boot id
	Data   string        // stored with the lease while this process leads (its endpoint)
	TTL    time.Duration // default DefaultTTL
	Clock  clock.Clock   // real time by default (tests may inject one)
	Logger *slog.Logger

	mu       sync.Mutex
	epoch    int64     // 0: not leading
	failedAt time.Time // the last campaign that could not reach the store
	backAt   time.Time // the first that could after it
	lost     chan struct{}
	changed  chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
}

// Start campaigns in the background until Stop.
func (l *Leader) Start(ctx context.Context) {
	if l.TTL == 0 {
		l.TTL = DefaultTTL
	}
	l.Clock = realClock(l.Clock)
	if l.Logger == nil {
		l.Logger = slog.Default()
	}
	l.mu.Lock()
	l.changed = make(chan struct{})
	l.mu.Unlock()
	ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	l.done = make(chan struct{})
	l.campaign(ctx) // synchronously once, so a lone replica leads at once
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				l.campaign(ctx)
			}
		}
	}()
}

func (l *Leader) campaign(ctx context.Context) {
	row, ok, err := Try(ctx, l.Store, l.Name, l.Holder, l.Data, l.Clock.Now(), l.TTL)
	if err != nil {
		if ctx.Err() == nil {
			l.Logger.Warn("leader lease", "name", l.Name, "err", err)
			l.mu.Lock()
			l.failedAt = l.Clock.Now()
			l.mu.Unlock()
		}
		// Unknown: keep leading only while the last renewal's TTL holds.
		return
	}
	l.mu.Lock()
	if !l.failedAt.IsZero() && !l.backAt.After(l.failedAt) {
		l.backAt = l.Clock.Now()
	}
	l.mu.Unlock()
	l.set(row.Epoch, ok)
}

func (l *Leader) set(epoch int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case ok && l.epoch != epoch:
		if l.epoch != 0 && l.lost != nil {
			close(l.lost)
		}
		l.epoch, l.lost = epoch, make(chan struct{})
		l.Logger.Info("leading", "lease", l.Name, "epoch", epoch)
	case !ok && l.epoch != 0:
		close(l.lost)
		l.epoch, l.lost = 0, nil
		l.Logger.Info("no longer leading", "lease", l.Name)
	default:
		return
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// Leading returns the epoch of this process's tenure and whether it leads.
func (l *Leader) Leading() (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, l.epoch != 0
}

// Check fails with ErrLost unless this process leads under epoch now; call
// it inside the transaction that commits a singleton's work.
func (l *Leader) Check(ctx context.Context, r store.Reader, epoch int64) error {
	return Check(ctx, r, l.Name, l.Holder, epoch, l.Clock.Now())
}

// Do runs fn if this process leads, with a context cancelled when the
// leadership is lost, and reports whether it ran.
func (l *Leader) Do(ctx context.Context, fn func(ctx context.Context, epoch int64) error) (bool, error) {
	l.mu.Lock()
	epoch, lost := l.epoch, l.lost
	l.mu.Unlock()
	if epoch == 0 {
		return false, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	return true, fn(ctx, epoch)
}

// OutageEnd is when this process last found the store back after its
// campaigns could not reach it (the first campaign that could), or, while
// they still cannot, when the last one failed; zero if none has failed. In
// real time. Every replica's leases lapse while the store is out of reach,
// as none can renew them: a lease another replica let lapse then says
// nothing about whether that replica runs until it had the time to renew
// it after the outage.
func (l *Leader) OutageEnd() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.backAt.After(l.failedAt) {
		return l.backAt
	}
	return l.failedAt
}

// Changed returns a channel closed at the next change of leadership.
func (l *Leader) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Stop ends the campaign and resigns, so another replica leads at once.
func (l *Leader) Stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	<-l.done
	l.mu.Lock()
	epoch := l.epoch
	l.mu.Unlock()
	if epoch != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		Release(ctx, l.Store, l.Name, l.Holder, epoch)
		l.set(0, false)
	}
}

// Held is a lease taken for one piece of work (Acquire) and renewed in the
// background until Release.
type Held struct {
	Row
	// Collections is, for a gate's writer, how many collections of the
	// repository had started when it entered (see Gate.Write).
	Collections int64
	s           store.Store
	clk         clock.Clock
	ttl         time.Duration
	lost        chan struct{}
	stop        chan struct{}
	done        chan struct{}
	mu          sync.Mutex
	renew       time.Time // last successful renewal
	delete      bool
}

// Acquire waits until holder takes the named lease, then renews it every
// ttl/3 until Release. poll is how often it retries while another holder
// has it.
func Acquire(ctx context.Context, s store.Store, clk clock.Clock, name, holder, data string, ttl, poll time.Duration) (*Held, error) {
	clk = realClock(clk)
	for {
		now := clk.Now()
		row, ok, err := Try(ctx, s, name, holder, data, now, ttl)
		if err != nil {
			return nil, err
		}
		if ok {
			h := &Held{Row: row, s: s, clk: clk, ttl: ttl, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}), renew: now}
			go h.keep()
			return h, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

func (h *Held) keep() {
	defer close(h.done)
	t := time.NewTicker(h.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			now := h.clk.Now()
			err := Renew(context.Background(), h.s, h.Name, h.Holder, h.Epoch, now, h.ttl)
			if errors.Is(err, ErrLost) {
				close(h.lost)
				return
			}
			if err == nil {
				h.mu.Lock()
				h.renew = now
				h.mu.Unlock()
			}
		}
	}
}

// Lost is closed when a renewal finds the lease taken over.
func (h *Held) Lost() <-chan struct{} { return h.lost }

// Valid reports whether the lease is certainly still held: the last
// renewal's TTL, less a margin of a third, has not passed (a writer checks
// it right before committing, so one stalled past its TTL fails instead).
func (h *Held) Valid() bool {
	select {
	case <-h.lost:
		return false
	default:
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clk.Now().Before(h.renew.Add(h.ttl * 2 / 3))
}

// Fence is Valid as an error (ErrLost) for work that asks before each
// irreversible step (a collection's deletions: snapshot.GCOptions.Fence).
func (h *Held) Fence() error {
	if !h.Valid() {
		return fmt.Errorf("%s (epoch %d) may have lapsed: %w", h.Name, h.Epoch, ErrLost)
	}
	return nil
}

// Release stops renewing and gives the lease up.
func (h *Held) Release(ctx context.Context) error {
	close(h.stop)
	<-h.done
	ctx = context.WithoutCancel(ctx)
	if h.delete {
		return Delete(ctx, h.s, h.Name, h.Holder)
	}
	return Release(ctx, h.s, h.Name, h.Holder, h.Epoch)
}
