package job

import (
	"context"
	"time"

	"github.com/safehold/safehold/store"
)

// absentClaim is what ReleaseAbsent knows of a claim whose node was found
// not running: since when (real time) it has been found so without a sign
// of life, and the lease ends of its tasks when last seen.
type absentClaim struct {
	since  time.Time
	leases map[string]time.Time // task id → lease end (server clock)
}

// ReleaseAbsent frees the task leases of every claim ("node/boot") whose
// node alive reports not running (its presence lapsed) for a Lease of real
// time, during which the claim showed no sign of life: its tasks are then
// claimed by the runners left, whatever their kind (a job's run, an
// operation's, a schedule's). A task lease is an instant of the server
// clock, which a dead holder's lease never reaches while the clock stands
// still (a clock advance leaves it so) or before the time it was set back
// by: a kill -9 of a replica left its tasks leased, their jobs and
// operations InProgress, until it ran again or the clock moved.
//
// A sign of life resets the wait: the claim renewed a lease (its end
// moved) or claimed a task since the last call; a claim whose presence
// lapsed while it still renews its leases (the presence's writes failing
// alone) keeps its tasks. While the clock stands still, a renewal moves no
// lease end and shows nothing. A replica that runs again after its claim's
// leases were freed finds them lost (its writes fenced) and stops those
// runs, as after a lapse.
//
// The leader calls it every few seconds (with PostgreSQL; a store that
// lists no leases releases nothing). It answers how many leases it freed.
func (r *Runner) ReleaseAbsent(ctx context.Context, alive func(ctx context.Context, node string) (running bool, err error)) (int, error) {
	ll, ok := r.Store.(store.LeaseLister)
	if !ok {
		return 0, nil
	}
	leased, err := ll.Leases(ctx)
	if err != nil {
		return 0, err
	}
	byOwner := map[string]map[string]time.Time{}
	for _, t := range leased {
		if t.LeaseOwner == r.owner {
			continue // this runner's own: it runs
		}
		if byOwner[t.LeaseOwner] == nil {
			byOwner[t.LeaseOwner] = map[string]time.Time{}
		}
		byOwner[t.LeaseOwner][t.ID] = t.LeaseUntil
	}
	ttl := r.Lease
	if ttl <= 0 {
		ttl = 60 * time.Second // Start's default
	}
	running := map[string]bool{}
	now := time.Now()
	var due []string // owners absent a lease long
	r.mu.Lock()
	prev := r.absent
	r.mu.Unlock()
	next := map[string]*absentClaim{}
	for owner, leases := range byOwner {
		node := store.OwnerNode(owner)
		up, seen := running[node]
		if !seen {
			if up, err = alive(ctx, node); err != nil {
				return 0, err
			}
			running[node] = up
		}
		if up {
			continue
		}
		c := prev[owner]
		if c == nil || livedSince(c.leases, leases) {
			c = &absentClaim{since: now}
		}
		c.leases = leases
		next[owner] = c
		if now.Sub(c.since) >= ttl {
			due = append(due, owner)
		}
	}
	r.mu.Lock()
	r.absent = next
	r.mu.Unlock()
	freed := 0
	for _, owner := range due {
		n, err := r.Store.ReleaseLeases(ctx, owner)
		if err != nil {
			return freed, err
		}
		freed += n
		r.mu.Lock()
		since := r.absent[owner].since
		delete(r.absent, owner)
		r.mu.Unlock()
		r.Logger.Warn("released the task leases of a replica that stopped running a lease ago", "owner", owner, "tasks", n, "since", since)
	}
	if freed > 0 {
		r.Notify()
	}
	return freed, nil
}

// livedSince reports whether a claim whose tasks' lease ends were before
// and are now shows a sign of life: a lease end moved (a renewal) or a
// task leased anew (a claim).
func livedSince(before, now map[string]time.Time) bool {
	for id, until := range now {
		if was, ok := before[id]; !ok || !was.Equal(until) {
			return true
		}
	}
	return false // only tasks gone (ended, or taken by others)
}
