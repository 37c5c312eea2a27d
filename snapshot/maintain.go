package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/safehold/safehold/chunk"
)

// VerifyOptions select how much Verify reads.
type VerifyOptions struct {
	// Sample is the fraction of pack objects to re-read and re-hash (chosen
	// at random); 0 or >= 1 reads everything. Every snapshot's index is
	// always checked, and every chunk it names must exist.
	Sample float64
	// Workers reading packs in parallel (default the repository's).
	Workers int
	// Progress, if set, receives progress reports.
	Progress func(Progress)
	// NoData reads no chunk data: every pack must exist with its size, and
	// every snapshot's index is walked (the chunks it names must exist).
	NoData bool
}

// BadChunk is a chunk that is damaged or missing, with the snapshots that
// need it.
type BadChunk struct {
	ID        chunk.ID
	Pack      string // pack object holding it ("" if missing)
	Err       error
	Snapshots []ID
}

// VerifyReport is the outcome of Verify. OK is true when nothing is wrong.
type VerifyReport struct {
	OK           bool
	Snapshots    int
	Packs        int
	Chunks       int
	BytesRead    int64
	Bad          []BadChunk  // damaged or missing chunks; damaged pack headers and snapshot manifests (zero ID, Pack naming the object)
	BadSnapshots []ID        // snapshots that cannot be restored bit-exactly
	Listed       map[ID]bool // every snapshot the repository holds (readable or not), so a caller finds those it expects and that are gone
	Duration     time.Duration
}

// Verify re-reads the repository: every pack (or a sample) is read, every
// record's checksum checked and every chunk decrypted, decompressed and
// re-hashed; then every snapshot's index is walked, checking that each chunk
// it names exists and is not among the damaged ones. The report names each
// bad chunk and the snapshots it affects. An error is returned only when
// verification itself could not run.
func (r *Repository) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	start := r.now()
	var rep VerifyReport
	workers := opts.Workers
	if workers <= 0 {
		workers = r.workers
	}
	_, total := r.chunks.Size()
	var c counters
	rp := startReporter("verify", total, &c, opts.Progress, r.now)
	bad := make(map[chunk.ID]*BadChunk)
	st, err := r.chunks.Verify(ctx, chunk.VerifyOptions{Sample: opts.Sample, Workers: workers, NoData: opts.NoData, OnPack: func(n int64) { c.done.Add(n) }}, func(b chunk.BadChunk) {
		if b.ID.IsZero() {
			rep.Bad = append(rep.Bad, BadChunk{Pack: b.Pack, Err: b.Err})
			return
		}
		bad[b.ID] = &BadChunk{ID: b.ID, Pack: b.Pack, Err: b.Err}
	})
	c.done.Store(st.BytesRead)
	rp.stop()
	if err != nil {
		return rep, err
	}
	rep.Packs, rep.Chunks, rep.BytesRead = st.Packs, st.Chunks, st.BytesRead

	// The manifests one by one: one that cannot be read (its object
	// damaged: a flipped byte, cut short) is a snapshot that cannot be
	// restored, named with its object, and the others are still checked.
	ms, damaged, err := r.ListReadable(ctx)
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	badSnaps := make(map[ID]bool)
	for id, err := range damaged {
		rep.Bad = append(rep.Bad, BadChunk{Pack: manifestKey(id), Err: err, Snapshots: []ID{id}})
		badSnaps[id] = true
	}
	rep.Snapshots = len(ms) + len(damaged)
	rep.Listed = make(map[ID]bool, rep.Snapshots)
	for id := range damaged {
		rep.Listed[id] = true
	}
	for _, m := range ms {
		rep.Listed[m.ID] = true
	}
	note := func(id chunk.ID, snap ID, err error) {
		b, ok := bad[id]
		if !ok {
			b = &BadChunk{ID: id, Err: err}
			if pack, lerr, lost := r.chunks.Lost(id); lost {
				b.Pack, b.Err = pack, lerr // not just "not found": which pack, and what happened to it
			}
			bad[id] = b
		}
		if len(b.Snapshots) == 0 || b.Snapshots[len(b.Snapshots)-1] != snap {
			b.Snapshots = append(b.Snapshots, snap)
		}
		badSnaps[snap] = true
	}
	for _, m := range ms {
		for i, sid := range m.Segments {
			if sid.IsZero() {
				continue
			}
			if _, isBad := bad[sid]; isBad {
				note(sid, m.ID, nil)
				continue
			}
			ids, err := r.loadSegment(ctx, sid, blocksIn(m.Size, i))
			if err != nil {
				if ctx.Err() != nil {
					return rep, fmt.Errorf("verify: %w", ctx.Err())
				}
				note(sid, m.ID, err)
				continue
			}
			for _, id := range ids {
				if id.IsZero() {
					continue
				}
				if _, isBad := bad[id]; isBad {
					note(id, m.ID, nil)
				} else if !r.chunks.Has(id) {
					note(id, m.ID, fmt.Errorf("chunk %s: %w", id.Short(), chunk.ErrNotFound))
				}
			}
		}
	}
	for _, b := range bad {
		rep.Bad = append(rep.Bad, *b)
	}
	sort.Slice(rep.Bad, func(i, j int) bool {
		return rep.Bad[i].Pack+rep.Bad[i].ID.String() < rep.Bad[j].Pack+rep.Bad[j].ID.String()
	})
	for id := range badSnaps {
		rep.BadSnapshots = append(rep.BadSnapshots, id)
	}
	sort.Slice(rep.BadSnapshots, func(i, j int) bool { return rep.BadSnapshots[i] < rep.BadSnapshots[j] })
	rep.OK = len(rep.Bad) == 0
	rep.Duration = r.now().Sub(start)
	return rep, nil
}

// GCOptions tune garbage collection.
type GCOptions struct {
	// Grace protects pack objects younger than this, for captures running
	// in other processes (default 0: this process's captures are protected
	// exactly regardless).
	Grace time.Duration
	// Repack is the fraction of a pack that must be garbage before it is
	// rewritten; 0 rewrites every pack holding garbage, so GC frees exactly
	// the unreferenced chunks. See chunk.SweepOptions.
	Repack float64
	// LiveMemory is how many chunk IDs of the mark stay in memory before
	// they spill to the cache directory (0: 512 Ki, 16 MiB); see
	// chunk.LiveSet.
	LiveMemory int
	// SweepBatch is chunk.SweepOptions.Batch (0: its default).
	SweepBatch int
	// Fence is chunk.SweepOptions.Fence: asked before each deletion (a
	// collection under a lease passes the lease's validity).
	Fence func() error
}

// GCStats reports a collection.
type GCStats struct {
	chunk.SweepStats
	Snapshots  int
	LiveChunks int
	LiveSpills int // files the mark spilled to (0: it fit in memory)
	// Damaged are the snapshots whose manifests could not be read (what
	// is wrong with each): while there is one, the collection deletes
	// nothing (GC).
	Damaged  map[ID]error
	Duration time.Duration
}

// WarnDamaged logs, once per snapshot and repository (what names it in
// the log: "vault", key), that a collection deleted nothing because of a
// damaged manifest (GCStats.Damaged), and what to do about it.
func WarnDamaged(logger *slog.Logger, damaged map[ID]error, repo ...any) {
	if logger == nil {
		logger = slog.Default()
	}
	for _, id := range slices.Sorted(maps.Keys(damaged)) {
		if _, seen := warnedDamaged.LoadOrStore(fmt.Sprint(repo...)+"\x00"+string(id), true); seen {
			continue
		}
		logger.Warn("snapshot garbage collection deletes nothing while a snapshot's manifest is damaged (which chunks it names cannot be known): safehold verify names its recovery point; delete that point (or restore the manifest object) to collect again",
			append(repo, "snapshot", id, "object", manifestKey(id), "err", damaged[id])...)
	}
}

var warnedDamaged sync.Map

// GC deletes chunks no snapshot references (mark and sweep). Captures in
// flight keep everything they use: chunks they stored or deduplicated, and
// their parent's index. If any snapshot's index cannot be read, GC stops
// without deleting anything: with an error, or, when a manifest is
// damaged, with GCStats.Damaged naming it.
func (r *Repository) GC(ctx context.Context, opts GCOptions) (GCStats, error) {
	start := r.now()
	var st GCStats
	gc := r.chunks.BeginGC()
	r.mu.Lock()
	r.gcs++
	// Manifests released while an earlier collection ran were kept for
	// that one; that collection has swept (BeginGC waited for it), and a
	// manifest released before this mark is no longer needed by whoever
	// held it (a capture releases its parent after writing its manifest).
	r.held = nil
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.gcs--; r.gcs == 0 {
			r.held = nil
		}
		r.mu.Unlock()
	}()
	ms, damaged, err := r.list(ctx, true)
	if err != nil {
		gc.Abort()
		return st, fmt.Errorf("gc: %w", err)
	}
	if len(damaged) > 0 {
		// Which chunks a damaged manifest names cannot be read from it,
		// and any chunk may be one of them: the collection deletes nothing
		// while one is there (its point can come back: a manifest restored
		// from the store's versions, a store that answered a bad copy).
		// It is not an error (it failed every collection, retried in
		// vain): GCStats.Damaged names them; deleting their points (the
		// user, or retention) lets the next collection free everything.
		gc.Abort()
		st.Snapshots, st.Damaged = len(ms), damaged
		st.Duration = r.now().Sub(start)
		return st, nil
	}
	st.Snapshots = len(ms)
	r.mu.Lock()
	for m := range r.inflight {
		ms = append(ms, m)
	}
	ms = append(ms, r.held...)
	r.mu.Unlock()
	// The mark: every chunk a snapshot (or a capture in flight) names, in
	// a set bounded in memory (it spills to the cache directory).
	live := r.chunks.NewLiveSet(opts.LiveMemory)
	defer live.Close()
	seenSeg := make(map[chunk.ID]bool) // one per 64 MiB of distinct disk data
	for _, m := range ms {
		for i, sid := range m.Segments {
			if sid.IsZero() || seenSeg[sid] {
				continue
			}
			seenSeg[sid] = true
			if err := live.Add(sid); err != nil {
				gc.Abort()
				return st, fmt.Errorf("gc: %w", err)
			}
			ids, err := r.loadSegment(ctx, sid, blocksIn(m.Size, i))
			if err != nil {
				gc.Abort()
				return st, fmt.Errorf("gc: mark snapshot %s: %w", m.ID, err)
			}
			for _, id := range ids {
				if id.IsZero() {
					continue
				}
				if err := live.Add(id); err != nil {
					gc.Abort()
					return st, fmt.Errorf("gc: %w", err)
				}
			}
		}
	}
	seenSeg = nil
	if err := live.Finish(); err != nil {
		gc.Abort()
		return st, fmt.Errorf("gc: %w", err)
	}
	st.LiveChunks = int(live.Len())
	st.LiveSpills = live.Spilled()
	var liveErr error
	sw, err := gc.Sweep(ctx, func(id chunk.ID) bool {
		ok, err := live.Has(id)
		if err != nil {
			liveErr = err // keep what the mark cannot answer for
			return true
		}
		return ok
	}, chunk.SweepOptions{Grace: opts.Grace, Repack: opts.Repack, Batch: opts.SweepBatch, Fence: opts.Fence})
	if err == nil && liveErr != nil {
		err = liveErr
	}
	st.SweepStats = sw
	st.Duration = r.now().Sub(start)
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	return st, nil
}

// CopyTo copies snapshot id, with every chunk it needs that dst lacks, to
// another repository (the vault tier). The copy keeps its ID. When both
// repositories name chunks alike (same key or both unencrypted) only
// missing chunks are transferred; otherwise chunks are re-encoded and the
// index rewritten for dst's IDs.
func (r *Repository) CopyTo(ctx context.Context, id ID, dst *Repository) (Stats, error) {
	return r.CopyToProgress(ctx, id, dst, nil)
}

// CopyToProgress is CopyTo reporting its progress to progress (when not
// nil) after each segment of the snapshot, on the calling goroutine: done
// is how far into the disk the copy got and total the disk's size (bytes),
// st what it copied so far (BytesNew: the plaintext of the chunks dst
// lacked). A snapshot dst holds already reports nothing.
func (r *Repository) CopyToProgress(ctx context.Context, id ID, dst *Repository, progress func(done, total int64, st Stats)) (Stats, error) {
	start := r.now()
	m, err := r.Get(ctx, id)
	if err != nil {
		return Stats{}, fmt.Errorf("copy: %w", err)
	}
	if _, err := dst.Get(ctx, id); err == nil {
		return Stats{Size: m.Size}, nil // already there
	} else if !errors.Is(err, ErrNotFound) {
		return Stats{}, fmt.Errorf("copy %s: %w", id, err)
	}
	same := r.chunks.SameIDs(dst.chunks)
	w := dst.chunks.NewWriter()
	defer w.Close()
	st := Stats{Size: m.Size}
	segs := make([]chunk.ID, len(m.Segments))
	var buf []byte
	report := func(i int) {
		if progress != nil {
			progress(min(m.Size, int64(i+1)*SegmentBlocks*BlockSize), m.Size, st)
		}
	}
	for i, sid := range m.Segments {
		if sid.IsZero() {
			report(i)
			continue
		}
		ids, err := r.loadSegment(ctx, sid, blocksIn(m.Size, i))
		if err != nil {
			return Stats{}, fmt.Errorf("copy %s: %w", id, err)
		}
		for k, cid := range ids {
			if cid.IsZero() {
				continue
			}
			if same && w.Ref(cid) { // dst has it: protected from its GC now
				st.BytesDeduped += BlockSize
				continue
			}
			if buf, err = r.chunks.Get(ctx, cid, buf); err != nil {
				return Stats{}, fmt.Errorf("copy %s: %w", id, err)
			}
			nid, n, err := w.Put(ctx, buf)
			if err != nil {
				return Stats{}, fmt.Errorf("copy %s: %w", id, err)
			}
			ids[k] = nid
			st.BytesScanned += int64(len(buf))
			if n > 0 {
				st.BytesNew += int64(len(buf))
				st.BytesStored += int64(n)
			}
		}
		data, _ := encodeSegment(ids)
		nid, n, err := w.Put(ctx, data)
		if err != nil {
			return Stats{}, fmt.Errorf("copy %s: %w", id, err)
		}
		segs[i] = nid
		st.BytesStored += int64(n)
		report(i)
	}
	if err := w.Flush(ctx); err != nil {
		return Stats{}, fmt.Errorf("copy %s: %w", id, err)
	}
	cm := *m
	cm.Segments = segs
	if err := dst.putManifest(ctx, &cm); err != nil {
		return Stats{}, fmt.Errorf("copy %s: put manifest: %w", id, err)
	}
	st.Duration = r.now().Sub(start)
	return st, nil
}
