package store

import "time"

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
