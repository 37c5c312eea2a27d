package store

import (
	"sync"
	"time"
)

// SetWriterHook makes p's writer call f at its stages: "commit" just
// before it sends a group's COMMIT, "committed" once that round trip
// ended. For tests that break the writer at those moments.
func SetWriterHook(p *Postgres, f func(stage string)) {
	p.hook.Store(&f)
}

// SetOutcomeWait sets how long the writer asks the database for the outcome
// of a COMMIT whose answer was lost, and returns what restores it.
func SetOutcomeWait(d time.Duration) (restore func()) {
	old := pgOutcomeWait
	pgOutcomeWait = d
	return func() { pgOutcomeWait = old }
}

// RoundTrips is how many times p wrote to its connections to the database
// (each round trip begins with one write).
func RoundTrips(p *Postgres) int64 { return p.sent.Load() }

// ListMemoHits is how many lists p's batches of reads answered from memory
// (writer_gen unmoved since they were read, or moved only by p's writer).
func ListMemoHits(p *Postgres) int64 { return p.lists.hits.Load() }

// DocRowsScannedSlowly is how many documents' rows were read through pgx's
// Scan rather than decoded as they came (see pgDocRow).
func DocRowsScannedSlowly() int64 { return pgDocSlow.Load() }

// SharedReads is how many batches of reads p answered in a round trip
// shared with others (see pgReads).
func SharedReads(p *Postgres) int64 { return p.reads.shared.Load() }

// ReadPipes is how many round trips of reads p has in flight at most
// before batches wait for one (see pgReads).
func ReadPipes(p *Postgres) int { return p.reads.pipes }

// SetReadsClock makes now p's batches of reads' clock (see pgReads.now),
// for a test that says when round trips in flight have gone on too long.
func SetReadsClock(p *Postgres, now func() time.Time) {
	p.reads.mu.Lock()
	defer p.reads.mu.Unlock()
	p.reads.now = now
	p.reads.moved = now()
}

// HoldReadPipes takes p's every place for a round trip of reads, as round
// trips that do not end would, until release.
func HoldReadPipes(p *Postgres) (release func()) {
	rs := &p.reads
	rs.mu.Lock()
	rs.inflight += rs.pipes
	rs.moved = rs.clock()
	n := rs.pipes
	rs.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			for range n {
				p.readsNext()
			}
		})
	}
}

// ReadsWaiting is how many batches of reads wait for a round trip.
func ReadsWaiting(p *Postgres) int {
	p.reads.mu.Lock()
	defer p.reads.mu.Unlock()
	return len(p.reads.queue)
}

// PlanShared is planShared, for tests.
func PlanShared(batches [][]Read) ([]Read, [][]int) { return planShared(batches) }
