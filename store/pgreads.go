package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
)

// pgReads shares round trips among the batches of reads that requests make
// at the same moment (ReadBatch: every request's checks, a list's first
// page). At most pipes round trips of reads are in flight; a batch that
// comes while they all are waits and goes with the next one, together with
// every batch waiting then, each distinct read (the role assignments'
// generation, a vault's policies: the same for most requests of a moment)
// made once for all of them. A batch that finds a round trip free goes at
// once: nothing waits longer than the round trips before it, and when
// none of those has ended for pgReadStuck (long lists: a vault's every
// job), it goes at once on a round trip of its own, with those waiting.
//
// Each read of a shared round trip is made after every batch it answers
// was asked for, as its own round trip would have made it: a write
// committed before a request asked (by any replica) is in its answer.
// The answers share their documents' values, which nobody modifies (see
// ListView and View; the remembered lists and reads share theirs too).
//
// On PostgreSQL each round trip costs both sides more than most of its
// statements (the server's write to the socket and pgx's batch, the
// database's wake-up, protocol messages and implicit transaction), and
// statements that read the same rows cost each their own: under the mixed
// load of bench/mixed.sh most requests of a moment ask for the same two or
// three reads.
type pgReads struct {
	pipes    int // round trips of reads in flight at most
	mu       sync.Mutex
	queue    []*pgReadReq
	inflight int
	moved    time.Time        // when a round trip last began or ended
	watching bool             // a timer watches for round trips that do not end (watchStuck)
	now      func() time.Time // the clock of moved (tests); nil: time.Now
	shared   atomic.Int64     // batches answered by a round trip shared with others (tests)
}

func (rs *pgReads) clock() time.Time {
	if rs.now != nil {
		return rs.now()
	}
	return time.Now()
}

// pgReadStuck is how long the round trips in flight may all go on before a
// batch that comes goes without waiting for them.
const pgReadStuck = 5 * time.Millisecond

// A pgReadReq is a batch of reads waiting for its round trip.
type pgReadReq struct {
	ctx   context.Context
	reads []Read
	out   []ReadResult
	done  chan struct{}
}

// pgReadGroupMax bounds the distinct reads of one shared round trip.
const pgReadGroupMax = 256

func pgReadPipes() int { return max(2, runtime.GOMAXPROCS(0)) }

// ReadBatch makes the reads in one round trip on a pooled connection
// (BatchReader), each as Get or List makes it, shared with the batches of
// other requests of the same moment (see pgReads).
func (p *Postgres) ReadBatch(ctx context.Context, reads []Read) []ReadResult {
	if len(reads) == 0 {
		return nil
	}
	if !pgSharable(reads) {
		return p.readBatch(ctx, reads)
	}
	if err := ctx.Err(); err != nil {
		return pgReadErrs(len(reads), err)
	}
	r := &pgReadReq{ctx: ctx, reads: reads}
	rs := &p.reads
	rs.mu.Lock()
	if rs.inflight < rs.pipes {
		// (Nothing waits while a round trip is free.)
		rs.inflight++
		rs.moved = rs.clock()
		rs.mu.Unlock()
		defer p.readsNext() // (a panic frees the place too)
		return p.readBatch(ctx, reads)
	}
	r.done = make(chan struct{})
	rs.queue = append(rs.queue, r)
	p.readsStuck()
	p.watchStuck()
	rs.mu.Unlock()
	select {
	case <-r.done:
		return r.out
	case <-ctx.Done():
		return pgReadErrs(len(reads), ctx.Err())
	}
}

// watchStuck has a timer call readsStuck, again and again while batches
// wait, until none does (rs.mu held). It belongs to no batch: one that
// watched and gave up (its ctx done) left those behind it waiting for the
// round trips in flight to end, however long they took.
func (p *Postgres) watchStuck() {
	rs := &p.reads
	if rs.watching || len(rs.queue) == 0 {
		return
	}
	rs.watching = true
	time.AfterFunc(max(pgReadStuck-rs.clock().Sub(rs.moved), time.Millisecond), func() {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		rs.watching = false
		p.readsStuck()
		p.watchStuck()
	})
}

// readsStuck sends the batches waiting on a round trip of their own when
// none of those in flight has begun or ended for pgReadStuck, and reports
// whether it did (rs.mu held).
func (p *Postgres) readsStuck() bool {
	rs := &p.reads
	now := rs.clock()
	if len(rs.queue) == 0 || now.Sub(rs.moved) < pgReadStuck {
		return false
	}
	rs.inflight++
	rs.moved = now
	go p.readTrip(rs.take())
	return true
}

// readsNext sends the batches waiting, if any, in the round trip that just
// ended's place (in a goroutine of its own: its caller has its answer),
// else frees that place.
func (p *Postgres) readsNext() {
	rs := &p.reads
	rs.mu.Lock()
	rs.moved = rs.clock()
	if len(rs.queue) == 0 {
		rs.inflight--
		rs.mu.Unlock()
		return
	}
	group := rs.take()
	p.watchStuck() // (more than a round trip's reads waited)
	rs.mu.Unlock()
	go p.readTrip(group)
}

// readTrip answers group in a round trip, then sends the batches waiting
// then, if any, in its place.
func (p *Postgres) readTrip(group []*pgReadReq) {
	p.readShared(group)
	p.readsNext()
}

// take takes the batches waiting, up to pgReadGroupMax reads (rs.mu held).
func (rs *pgReads) take() []*pgReadReq {
	n, i := 0, 0
	for ; i < len(rs.queue); i++ {
		if n += len(rs.queue[i].reads); n > pgReadGroupMax && i > 0 {
			break
		}
	}
	group := rs.queue[:i:i]
	rs.queue = slices.Clone(rs.queue[i:])
	if len(rs.queue) == 0 {
		rs.queue = nil
	}
	return group
}

// readShared answers the batches of group in one round trip, each distinct
// read made once, and closes their done. A panic (of no request's
// goroutine: it would end the process) fails the group's reads.
func (p *Postgres) readShared(group []*pgReadReq) {
	defer func() {
		if v := recover(); v != nil {
			err := fmt.Errorf("%w: the store failed to read (panic: %v)", ErrUnavailable, v)
			for _, r := range group {
				r.out = pgReadErrs(len(r.reads), err)
			}
		}
		for _, r := range group {
			close(r.done)
		}
	}()
	if len(group) == 1 {
		group[0].out = p.readBatch(group[0].ctx, group[0].reads)
		return
	}
	p.reads.shared.Add(int64(len(group)))
	batches := make([][]Read, len(group))
	for g, r := range group {
		batches[g] = r.reads
	}
	uniq, pos := planShared(batches)
	// The round trip ends early only once every request of the group has
	// gone (its ctx done).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var live atomic.Int32
	live.Store(int32(len(group)))
	for _, r := range group {
		stop := context.AfterFunc(r.ctx, func() {
			if live.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	res, err := p.readBatchErr(ctx, uniq)
	if err != nil {
		p.readApart(ctx, group, err)
		return
	}
	used := make([]bool, len(uniq))
	for g, r := range group {
		r.out = make([]ReadResult, len(r.reads))
		for i, j := range pos[g] {
			r.out[i] = res[j]
			if used[j] && res[j].Docs != nil {
				r.out[i].Docs = slices.Clone(res[j].Docs) // (the values shared)
			}
			used[j] = true
		}
	}
}

// readApart answers the batches of a shared round trip that failed (with
// err) each on a round trip of its own, all at once, as each would have
// gone: the read that failed it (a statement the database refused, a list
// held up past round_trip_timeout) fails its own batch and no other, which
// it cannot tell (a statement refused fails those after it; a round trip
// that timed out may have done so preparing its statements). Unless the
// database is gone: when the round trip failed for want of it (out of
// reach, not answering in time) and it does not answer a probe either,
// every batch fails with err, instead of each waiting as long again; and
// when every request of the group has gone (ctx done).
func (p *Postgres) readApart(ctx context.Context, group []*pgReadReq, err error) {
	if ctx.Err() != nil || pgGone(err) && !p.answers(ctx) {
		for _, r := range group {
			r.out = pgReadErrs(len(r.reads), err)
		}
		return
	}
	var wg sync.WaitGroup
	for _, r := range group {
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil { // (see readShared)
					r.out = pgReadErrs(len(r.reads), fmt.Errorf("%w: the store failed to read (panic: %v)", ErrUnavailable, v))
				}
			}()
			r.out = p.readBatch(r.ctx, r.reads)
		})
	}
	wg.Wait()
}

// pgProbeMax bounds the probe of answers.
const pgProbeMax = time.Second

// answers reports whether the database answers a round trip within
// round_trip_timeout or pgProbeMax, whichever is shorter.
func (p *Postgres) answers(ctx context.Context) bool {
	d := pgProbeMax
	if l := time.Duration(p.roundTrip.Load()); l > 0 {
		d = min(d, l)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return p.onConn(ctx, func(c *pgxpool.Conn) error { return c.Ping(ctx) }) == nil
}

// planShared lays out the reads of several batches as one round trip's:
// each distinct read once, where that keeps every batch's own order (a
// read of a batch is made after the batch's earlier reads, as on its own:
// PrefetchRemembering reads its generation first so that every document
// it remembers is at least as new as that generation), and again at the
// end where it would not. pos[g][i] is the round trip's index of batch
// g's read i.
func planShared(batches [][]Read) (uniq []Read, pos [][]int) {
	at := map[Read]int{} // (the latest of a read's places)
	pos = make([][]int, len(batches))
	for g, reads := range batches {
		pos[g] = make([]int, len(reads))
		floor := -1
		for i, rd := range reads {
			n := normRead(rd)
			j, ok := at[n]
			if !ok || j < floor {
				j = len(uniq)
				at[n] = j
				uniq = append(uniq, rd)
			}
			pos[g][i], floor = j, j
		}
	}
	return uniq, pos
}

// pgGone reports whether err failed a round trip for want of the database
// (out of reach, too slow, the connection lost), not for one of its
// statements: the reads would fail as well on their own.
func pgGone(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// pgSharable reports whether the database takes every read's text as it
// is (valid UTF-8 without NUL, as pgPlainText): a read it refuses would
// fail the reads after it in a shared round trip.
func pgSharable(reads []Read) bool {
	for _, rd := range reads {
		for _, s := range [...]string{rd.Kind, rd.Key, rd.Q.ScopePrefix, rd.Q.Type, rd.Q.After} {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				return false
			}
		}
	}
	return true
}

func pgReadErrs(n int, err error) []ReadResult {
	out := make([]ReadResult, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}
