package snapshot

import (
	"sync/atomic"
	"time"
)

// Progress is reported periodically (about 4 times a second) and once at
// the end of a capture, restore or verify. Callbacks run on one goroutine
// at a time and must not block for long.
type Progress struct {
	Op      string        // "capture", "restore" or "verify"
	Total   int64         // bytes to process (source bytes to scan, snapshot bytes to restore, pack bytes to verify)
	Done    int64         // bytes processed so far
	Stored  int64         // bytes added to the repository (after compression)
	Deduped int64         // changed bytes found already stored
	Changed int64         // capture: bytes found changed (Stats.BytesChanged so far)
	Elapsed time.Duration // since the start
	Rate    float64       // Done per second
	ETA     time.Duration // at the current rate; 0 when unknown
}

// Stats describe a finished capture or restore.
type Stats struct {
	Size         int64         `json:"size"`         // logical disk size
	BytesScanned int64         `json:"bytesScanned"` // read from the source (capture) or written to the target (restore)
	BytesChanged int64         `json:"bytesChanged"` // blocks whose content differs from the parent (all non-zero blocks without one)
	BytesNew     int64         `json:"bytesNew"`     // plaintext of chunks added to the repository
	BytesStored  int64         `json:"bytesStored"`  // repository bytes added, after compression and encryption
	BytesDeduped int64         `json:"bytesDeduped"` // changed bytes already in the repository
	BytesZero    int64         `json:"bytesZero"`    // all-zero blocks and holes (never stored or written)
	Duration     time.Duration `json:"duration"`
}

type counters struct {
	done, stored, deduped, changed, newb, zero, scanned atomic.Int64
}

// reporter calls fn periodically until stop.
type reporter struct {
	op    string
	total int64
	c     *counters
	fn    func(Progress)
	now   func() time.Time
	start time.Time
	quit  chan struct{}
	done  chan struct{}
}

func startReporter(op string, total int64, c *counters, fn func(Progress), now func() time.Time) *reporter {
	rp := &reporter{op: op, total: total, c: c, fn: fn, now: now, start: now(), quit: make(chan struct{}), done: make(chan struct{})}
	if fn == nil {
		close(rp.done)
		return rp
	}
	go func() {
		defer close(rp.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				rp.fn(rp.snapshot())
			case <-rp.quit:
				return
			}
		}
	}()
	return rp
}

func (rp *reporter) snapshot() Progress {
	p := Progress{Op: rp.op, Total: rp.total, Done: rp.c.done.Load(), Stored: rp.c.stored.Load(),
		Deduped: rp.c.deduped.Load(), Changed: rp.c.changed.Load(), Elapsed: rp.now().Sub(rp.start)}
	if s := p.Elapsed.Seconds(); s > 0 {
		p.Rate = float64(p.Done) / s
		if p.Rate > 0 && p.Total > p.Done {
			p.ETA = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second))
		}
	}
	return p
}

// stop ends the reports with a final one.
func (rp *reporter) stop() {
	if rp.fn == nil {
		return
	}
	close(rp.quit)
	<-rp.done
	rp.fn(rp.snapshot())
}
