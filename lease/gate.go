package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/store"
)

// Gate orders garbage collection of one repository (a bucket or prefix
// several replicas write) against its writers, in every replica: writers
// hold shared entries (gatew:{repo}:{id}) while they capture and until
// their manifest is written; a collection takes the exclusive entry
// (gategc:{repo}), after which no new writer enters, then waits until
// every writer entry is gone or expired, and only then reads the
// manifests and sweeps. So no capture anywhere can reference (deduplicate
// against) a chunk between a collection's mark and its sweep. Entries are
// leases: a replica that dies holding one blocks the other side for at
// most a TTL.
type Gate struct {
	Store  store.Store
	Clock  clock.Clock   // real time by default
	Repo   string        // the repository's name (its blob URL or key)
	Holder string        // this process (node id / boot id)
	TTL    time.Duration // default 60 s
	Poll   time.Duration // default 100 ms
}

func (g *Gate) ttl() time.Duration {
	if g.TTL == 0 {
		return time.Minute
	}
	return g.TTL
}

func (g *Gate) poll() time.Duration {
	if g.Poll == 0 {
		return 100 * time.Millisecond
	}
	return g.Poll
}

func (g *Gate) gcName() string       { return "gategc:" + g.Repo }
func (g *Gate) writerPrefix() string { return writerPrefix + g.Repo + ":" }

const writerPrefix = "gatew:"

// AbandonedAfter is how long past its expiry a writer's entry must be to
// count as abandoned (Abandoned): a writer merely late to renew (a stalled
// process under load) renews within it and its capture goes on, where a
// collection would have deleted its entry and failed it.
const AbandonedAfter = time.Minute

// Abandoned lists the repositories (Gate.Repo, lowercased) where a writer
// let its entry lapse AbandonedAfter ago or more: it died (a replica
// killed during a capture or a copy into a vault's tier), so the packs it
// wrote are referenced by no manifest and only a collection frees them. A
// collection of the repository deletes the entry (Collect), so each
// abandonment is reported until one has run.
func Abandoned(ctx context.Context, r store.Reader, now time.Time) ([]string, error) {
	rows, err := List(ctx, r, writerPrefix)
	if err != nil {
		return nil, err
	}
	var repos []string
	for _, row := range rows {
		if now.Before(row.Until.Add(AbandonedAfter)) {
			continue // alive, or a writer that may only be slow to renew
		}
		name := strings.TrimPrefix(strings.ToLower(row.Name), writerPrefix)
		if i := strings.LastIndexByte(name, ':'); i > 0 && !slices.Contains(repos, name[:i]) {
			repos = append(repos, name[:i])
		}
	}
	return repos, nil
}

// Write enters as a writer, waiting while a collection holds the gate.
// Release the returned lease after the capture's manifest is written;
// check Valid right before writing it. The lease's Collections counts the
// collections that started before the writer entered: a writer whose view
// of the repository's packs predates the latest of them must list the
// packs again before its first lookup (snapshot.Repository.Collected), or
// it could deduplicate against a chunk that collection deleted.
func (g *Gate) Write(ctx context.Context) (*Held, error) {
	clk := realClock(g.Clock)
	name := g.writerPrefix() + uuid.NewString()
	for {
		now := clk.Now()
		var row Row
		var ok bool
		var collections int64
		err := g.Store.Update(ctx, func(tx store.Tx) error {
			gc, err := Get(ctx, tx, g.gcName())
			if err == nil && gc.Alive(now) {
				return nil
			}
			collections = gc.Epoch // each collection takes the row as a new holder
			row, ok, err = TakeTx(ctx, tx, name, g.Holder, "", now, g.ttl())
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("enter gate %s: %w", g.Repo, err)
		}
		if ok {
			h := &Held{Row: row, Collections: collections, s: g.Store, clk: clk, ttl: g.ttl(), lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}), renew: now, delete: true}
			go h.keep()
			return h, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(g.poll()):
		}
	}
}

// Collect takes the gate exclusively: it waits for another collection to
// end, closes the gate to new writers, then waits until every writer entry
// is gone or expired (expired ones are deleted). Release the returned
// lease after the sweep.
func (g *Gate) Collect(ctx context.Context) (*Held, error) {
	clk := realClock(g.Clock)
	// A holder per collection: two collections of one process exclude
	// each other too.
	h, err := Acquire(ctx, g.Store, clk, g.gcName(), g.Holder+"/"+uuid.NewString(), "", g.ttl(), g.poll())
	if err != nil {
		return nil, fmt.Errorf("collect %s: %w", g.Repo, err)
	}
	for {
		rows, err := List(ctx, g.Store, g.writerPrefix())
		if err != nil {
			h.Release(ctx)
			return nil, fmt.Errorf("collect %s: %w", g.Repo, err)
		}
		now := clk.Now()
		busy := false
		for _, r := range rows {
			if r.Alive(now) {
				busy = true
				continue
			}
			// A writer that died (or stalled past its TTL: it fails its
			// Valid check and writes no manifest).
			g.Store.Update(ctx, func(tx store.Tx) error {
				cur, err := Get(ctx, tx, r.Name)
				if err == nil && !cur.Alive(now) {
					return tx.Delete(ctx, Kind, key(r.Name))
				}
				return nil
			})
		}
		if !busy {
			return h, nil
		}
		select {
		case <-ctx.Done():
			h.Release(ctx)
			return nil, ctx.Err()
		case <-h.Lost():
			return nil, fmt.Errorf("collect %s: %w", g.Repo, ErrLost)
		case <-time.After(g.poll()):
		}
	}
}

// InUse reports whether the gate has a writer's entry, live or lapsed (a
// collection then frees what it wrote), or a collection holds it at now.
func (g *Gate) InUse(ctx context.Context, now time.Time) (bool, error) {
	if rows, err := List(ctx, g.Store, g.writerPrefix()); err != nil || len(rows) > 0 {
		return len(rows) > 0, err
	}
	row, err := Get(ctx, g.Store, g.gcName())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && row.Alive(now), err
}

// ForgetTx deletes in tx the row a collection of the gate leaves (kept so
// that the next collection's epoch is higher) unless one holds it at now:
// for a repository gone for good, whose gate is used no more.
func (g *Gate) ForgetTx(ctx context.Context, tx store.Tx, now time.Time) error {
	row, err := Get(ctx, tx, g.gcName())
	if errors.Is(err, store.ErrNotFound) || err == nil && row.Alive(now) {
		return nil
	}
	if err != nil {
		return err
	}
	return tx.Delete(ctx, Kind, key(g.gcName()))
}
