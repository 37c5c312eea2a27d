package chunk

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/safehold/safehold/blob"
)

// SweepOptions tune garbage collection.
type SweepOptions struct {
	// Grace protects packs younger than this from deletion and repacking, so
	// captures running in other processes, whose manifests are not yet
	// written, keep their new chunks. Captures in this process are protected
	// exactly, whatever the grace, through their Writers.
	Grace time.Duration
	// Repack is the fraction of a pack's bytes that must be garbage before
	// the pack is rewritten without it. 0 rewrites every pack that holds
	// any garbage (frees exactly the unreferenced chunks); 1 only deletes
	// packs that are entirely garbage.
	Repack float64
	// Batch is how many pack entries a sweep plans before it acts on them
	// and forgets the plan (default 64 Ki), bounding its memory.
	Batch int
	// Fence, if set, is asked before each pack is deleted; an error stops
	// the sweep. A collection run under a lease (lease.Gate) passes its
	// validity, so a collector that stalled past its lease, while writers
	// it no longer excludes started, deletes nothing more.
	Fence func() error
}

// SweepStats reports what a sweep did.
type SweepStats struct {
	PacksDeleted   int
	PacksRepacked  int
	PacksKept      int   // holding garbage below the Repack threshold, or too young
	ChunksFreed    int   // garbage chunks removed
	BytesFreed     int64 // backend bytes released (old packs minus new packs)
	BytesRewritten int64 // live bytes copied into new packs
	GarbageKept    int64 // stored bytes of garbage left in kept packs
	// YoungDueIn is how long until the first pack kept only for its age
	// (younger than the grace, and garbage enough to delete or repack) is
	// old enough: a collection then frees it (0: no such pack). Nothing
	// else may start that collection.
	YoungDueIn time.Duration
}

// tempCleaner is implemented by backends that leave temporary files behind
// when a put is interrupted (local).
type tempCleaner interface {
	CleanTemp(age time.Duration, now time.Time) error
}

// GC is a garbage collection in progress. Start it with BeginGC before
// reading the roots (snapshot manifests), then call Sweep with the mark.
type GC struct {
	s    *Store
	done bool
}

// BeginGC starts a collection: from now until Sweep returns, chunks
// referenced by writers are protected even if their writer closes, so a
// manifest written after the roots were read never loses a chunk. Only one
// GC runs at a time; BeginGC waits for the previous one.
func (s *Store) BeginGC() *GC {
	s.gcMu.Lock()
	s.mu.Lock()
	s.marking++
	if s.held == nil {
		s.held = make(map[ID]struct{})
	}
	s.mu.Unlock()
	return &GC{s: s}
}

// Abort ends a GC without sweeping.
func (g *GC) Abort() {
	if g.done {
		return
	}
	g.done = true
	s := g.s
	s.mu.Lock()
	s.marking--
	if s.marking == 0 {
		s.held = nil
		for _, run := range s.heldRuns {
			run.Close()
		}
		s.heldRuns = nil
	}
	s.mu.Unlock()
	s.gcMu.Unlock()
}

func (s *Store) protectedLocked(id ID) bool {
	if _, ok := s.held[id]; ok {
		return true
	}
	for _, run := range s.heldRuns {
		if ok, err := run.Has(id); ok || err != nil {
			return true
		}
	}
	for w := range s.writers {
		w.mu.Lock()
		ok := w.refs.has(id)
		w.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// sweepBatch bounds the entries of packs a sweep plans before it acts on
// them (deletes and repacks, then forgets the plan), so a sweep's memory
// does not grow with the garbage.
const sweepBatch = 1 << 16

// Sweep deletes every chunk for which live reports false and no writer
// holds a reference, in packs older than the grace window: packs that are
// all garbage are deleted, packs with garbage over the threshold are
// rewritten with their live chunks only. A pack with a corrupt live chunk is
// left in place (verify reports it). Sweep ends the GC.
//
// live is called without the store's lock and must not change during the
// sweep (a LiveSet after Finish). Packs are planned and swept in batches
// (SweepOptions.Batch), so the sweep's memory is bounded.
func (g *GC) Sweep(ctx context.Context, live func(ID) bool, opts SweepOptions) (SweepStats, error) {
	defer g.Abort()
	s := g.s
	var st SweepStats
	if err := s.Refresh(ctx); err != nil {
		return st, fmt.Errorf("sweep: %w", err)
	}
	cutoff := s.now().Add(-opts.Grace)
	s.mu.Lock()
	var packs []*pack
	for _, p := range s.packs {
		if p != nil && p.state == packDurable {
			packs = append(packs, p)
		}
	}
	s.mu.Unlock()
	var errs []error
	var batch []sweepPlan
	nplan := 0
	batchMax := opts.Batch
	if batchMax <= 0 {
		batchMax = sweepBatch
	}
	for _, p := range packs {
		pl, ok, err := g.plan(ctx, p, live, cutoff, opts, &st)
		if err != nil {
			s.undoom(batch) // planned, never acted on
			return st, err
		}
		if !ok {
			continue
		}
		batch = append(batch, pl)
		nplan += len(pl.all)
		if nplan >= batchMax {
			if err := g.execute(ctx, batch, opts.Fence, &st, &errs); err != nil {
				return st, err
			}
			batch, nplan = nil, 0
		}
	}
	if err := g.execute(ctx, batch, opts.Fence, &st, &errs); err != nil {
		return st, err
	}
	st.BytesFreed -= st.BytesRewritten // new packs hold the live bytes
	if tc, ok := s.be.(tempCleaner); ok {
		// Temporary files of puts interrupted by a crash.
		tc.CleanTemp(max(opts.Grace, time.Hour), s.now())
	}
	if len(errs) > 0 {
		return st, fmt.Errorf("sweep: %w", errors.Join(errs...))
	}
	return st, nil
}

// sweepPlan is what a sweep does to one pack: delete it (keep empty) or
// rewrite it with keep only.
type sweepPlan struct {
	p    *pack
	all  []entry
	keep []entry
}

// plan decides a pack's fate. A pack to delete or repack has its garbage
// taken out of the index (doomed) before plan returns, so no writer can
// deduplicate against a chunk that is about to go.
func (g *GC) plan(ctx context.Context, p *pack, live func(ID) bool, cutoff time.Time, opts SweepOptions, st *SweepStats) (sweepPlan, bool, error) {
	s := g.s
	es, err := s.packEntries(ctx, p)
	if err != nil {
		if ctx.Err() != nil {
			return sweepPlan{}, false, fmt.Errorf("sweep: %w", ctx.Err())
		}
		st.PacksKept++ // unreadable header: verify reports it
		return sweepPlan{}, false, nil
	}
	// The mark is fixed: ask it before taking the lock (it may read a file).
	marked := make([]bool, len(es))
	for i, e := range es {
		marked[i] = live(e.id)
	}
	for checked := false; ; checked = true {
		pl, ok, others, err := g.planLocked(p, es, marked, cutoff, opts, st, checked)
		if err != nil || len(others) == 0 {
			return pl, ok, err
		}
		if !s.checkOthers(ctx, p, others) {
			st.PacksKept++ // not known whether it holds the only good copies: kept
			return sweepPlan{}, false, nil
		}
	}
}

// otherCopy is a live chunk of a pack GC would free because the index
// points to another copy: e in the pack, at the other copy.
type otherCopy struct {
	e  entry
	at copyOf
}

// checkOthers reads the copies the index holds of live chunks whose copy
// in p a sweep would free (others), and where one is damaged while p's
// copy is intact, marks it and points the index to p's copy. It reports
// false when a copy could not be read (p is then kept).
func (s *Store) checkOthers(ctx context.Context, p *pack, others []otherCopy) bool {
	var buf []byte
	for _, o := range others {
		err := s.checkCopy(ctx, o.at, &buf)
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			return false
		}
		here := copyOf{key: p.key, mod: p.modTime, r: rec{id: o.e.id, kind: o.e.kind, off: o.e.off, slen: o.e.slen, plen: o.e.plen, crc: o.e.crc}}
		if s.checkCopy(ctx, here, &buf) != nil {
			continue // damaged too (verify reports it)
		}
		s.mu.Lock()
		if q := s.byKey[o.at.key]; q != nil {
			s.markDamagedLocked(o.e.id, q.idx)
		}
		if l, held, _ := s.lookupLocked(o.e.id); p.state == packDurable && (!held || l.pack != p.idx) {
			s.mem[o.e.id] = loc{pack: p.idx, kind: o.e.kind, off: o.e.off, slen: o.e.slen, plen: o.e.plen, crc: o.e.crc}
		}
		s.mu.Unlock()
	}
	return true
}

// planLocked is plan's decision under the store's lock. Unless checked, a
// pack it would delete or repack while the index points elsewhere for
// some of its live chunks is not planned: those are returned (others),
// for checkOthers to read first. GC must not delete the one good copy of
// a chunk because the index kept a damaged one (see copies.go).
func (g *GC) planLocked(p *pack, es []entry, marked []bool, cutoff time.Time, opts SweepOptions, st *SweepStats, checked bool) (sweepPlan, bool, []otherCopy, error) {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.state != packDurable {
		return sweepPlan{}, false, nil, nil
	}
	var garbage int64
	var keep []entry
	ngarbage := 0
	current := make([]bool, len(es))
	var others []otherCopy
	for i, e := range es {
		l, indexed, err := s.lookupLocked(e.id)
		if err != nil {
			return sweepPlan{}, false, nil, fmt.Errorf("sweep: %w", err)
		}
		current[i] = indexed && l.pack == p.idx
		if indexed && !current[i] && marked[i] && !checked {
			q := s.packs[l.pack]
			if q.state == packDurable {
				others = append(others, otherCopy{e, copyOf{key: q.key, mod: q.modTime, r: rec{id: e.id, kind: l.kind, off: l.off, slen: l.slen, plen: l.plen, crc: l.crc}}})
			}
		}
		// A writer's reference is checked here, under the lock: a writer
		// that deduplicates against this chunk later finds it doomed (below)
		// and stores it again.
		if current[i] && (marked[i] || s.protectedLocked(e.id)) {
			keep = append(keep, e)
			continue
		}
		garbage += int64(e.slen)
		ngarbage++
	}
	if garbage == 0 && len(keep) == len(es) {
		return sweepPlan{}, false, nil, nil
	}
	var pl sweepPlan
	switch {
	case len(keep) == 0:
		pl = sweepPlan{p: p, all: es}
	case float64(garbage) >= opts.Repack*float64(p.size) && (opts.Repack < 1 || len(keep) == 0):
		pl = sweepPlan{p: p, all: es, keep: keep}
	default:
		st.PacksKept++
		st.GarbageKept += garbage
		return sweepPlan{}, false, nil, nil
	}
	if !p.modTime.Before(cutoff) {
		// Young: a collection after the grace deletes or repacks it.
		st.PacksKept++
		st.GarbageKept += garbage
		if due := max(p.modTime.Sub(cutoff), time.Millisecond); st.YoungDueIn == 0 || due < st.YoungDueIn {
			st.YoungDueIn = due
		}
		return sweepPlan{}, false, nil, nil
	}
	if len(others) > 0 {
		return sweepPlan{}, false, others, nil
	}
	for i, e := range es {
		if current[i] && !containsID(keep, e.id) {
			s.doomed[e.id] = p.idx
		}
	}
	st.ChunksFreed += ngarbage
	return pl, true, nil, nil
}

// execute repacks and deletes a batch of planned packs. Failures to delete
// are collected in errs; only a cancelled context or a failed flush of the
// repacked chunks stops the sweep.
func (g *GC) execute(ctx context.Context, batch []sweepPlan, fence func() error, st *SweepStats, errs *[]error) error {
	s := g.s
	var del, repack []sweepPlan
	for _, pl := range batch {
		if len(pl.keep) == 0 {
			del = append(del, pl)
		} else {
			repack = append(repack, pl)
		}
	}
	// Repack: copy live records as stored (no re-encoding) into new packs.
	if len(repack) > 0 {
		w := s.NewWriter()
		var done []sweepPlan
		var failed []sweepPlan
		var scratch []byte
		for _, pl := range repack {
			if err := w.copyLive(ctx, pl.p, pl.keep, &scratch); err != nil {
				if ctx.Err() != nil {
					w.Close()
					s.undoom(batch) // nothing of the batch deleted yet
					return fmt.Errorf("sweep: %w", ctx.Err())
				}
				*errs = append(*errs, err)
				failed = append(failed, pl)
				continue
			}
			done = append(done, pl)
		}
		s.undoom(failed) // left in place: their garbage is findable again
		if err := w.Flush(ctx); err != nil {
			w.Close()
			s.undoom(batch) // nothing of the batch deleted yet
			return fmt.Errorf("sweep: %w", err)
		}
		w.Close()
		for _, pl := range done {
			st.PacksRepacked++
			for _, e := range pl.keep {
				st.BytesRewritten += int64(e.slen)
			}
		}
		del = append(del, done...)
	}
	for i, pl := range del {
		if fence != nil {
			if err := fence(); err != nil {
				s.undoom(del[i:])
				return fmt.Errorf("sweep: %w", err)
			}
		}
		if err := s.be.Delete(ctx, pl.p.key); err != nil && !errors.Is(err, blob.ErrNotExist) {
			*errs = append(*errs, err)
			continue
		}
		// Under idxMu: a flush of the memory table that took the pack
		// while durable caches its header before letting go of it, so
		// the name is removed after that link (or the flush skips it).
		s.disk.idxMu.Lock()
		os.Remove(s.cachePath(pl.p.key))
		s.mu.Lock()
		s.undoomLocked(pl)
		s.dropPackLocked(pl.p)
		s.mu.Unlock()
		s.disk.idxMu.Unlock()
		st.BytesFreed += pl.p.size
		if len(pl.keep) == 0 {
			st.PacksDeleted++
		}
	}
	return nil
}

func (s *Store) undoom(pls []sweepPlan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pl := range pls {
		s.undoomLocked(pl)
	}
}

func (s *Store) undoomLocked(pl sweepPlan) {
	for _, e := range pl.all {
		if d, ok := s.doomed[e.id]; ok && d == pl.p.idx {
			delete(s.doomed, e.id)
		}
	}
}

// knownEntriesLocked returns a pack's entries from memory or the header
// cache (nil if neither has them), without reading the backend.
func (s *Store) knownEntriesLocked(p *pack) []entry {
	if p.entries != nil {
		return p.entries
	}
	return s.cachedEntries(p.key)
}

func containsID(es []entry, id ID) bool {
	for _, e := range es {
		if e.id == id {
			return true
		}
	}
	return false
}

// copyLive reads a pack (into *scratch if it can) and re-adds its live
// records to the writer.
func (w *Writer) copyLive(ctx context.Context, p *pack, keep []entry, scratch *[]byte) error {
	s := w.s
	data, err := s.readPack(ctx, p, scratch)
	if err != nil {
		return fmt.Errorf("repack %s: %w", p.key, err)
	}
	for _, e := range keep {
		if int64(e.off)+int64(e.slen) > int64(len(data)) {
			return fmt.Errorf("repack %s: chunk %s outside the pack: %w", p.key, e.id.Short(), ErrCorrupt)
		}
		rec := data[e.off : e.off+e.slen]
		if crc(rec) != e.crc {
			return fmt.Errorf("repack %s: chunk %s: checksum mismatch: %w", p.key, e.id.Short(), ErrCorrupt)
		}
	}
	for _, e := range keep {
		s.mu.Lock()
		l, ok, _ := s.lookupLocked(e.id)
		stillHere := ok && l.pack == p.idx
		s.mu.Unlock()
		if !stillHere {
			continue
		}
		if _, err := w.add(e.id, e.kind, e.plen, data[e.off:e.off+e.slen], true); err != nil {
			return err
		}
	}
	return nil
}

// BadChunk names a damaged or unreadable chunk.
type BadChunk struct {
	ID   ID
	Pack string
	Err  error
}

// VerifyOptions select how much a verify reads.
type VerifyOptions struct {
	// Sample is the fraction of packs to read (chosen at random); 0 or >= 1
	// reads all of them.
	Sample float64
	// Workers reading packs in parallel (default 2).
	Workers int
	// NoData reads no pack data: only that every pack exists with its
	// size is checked (from one listing of the backend).
	NoData bool
	// OnPack, if set, is called (from one goroutine at a time) with the
	// bytes of each pack read, for progress.
	OnPack func(bytes int64)
}

// VerifyStats counts what a verify read.
type VerifyStats struct {
	Packs     int
	Chunks    int
	BytesRead int64
	Bad       int
}

// Verify reads packs, re-checks every record's CRC, decrypts, decompresses
// and re-hashes every chunk, and calls bad (from one goroutine at a time)
// for each chunk that fails. Unreadable pack headers found when the index
// was loaded are reported too, with a zero ID.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions, bad func(BadChunk)) (VerifyStats, error) {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	var st VerifyStats
	// One listing finds packs that are gone or changed size, read or not.
	s.mu.Lock()
	seq := s.seq // packs made durable after this may be missing from the listing
	s.mu.Unlock()
	listed := make(map[string]int64)
	if err := s.be.List(ctx, packPrefix, func(in blob.Info) error {
		listed[in.Key] = in.Size
		return nil
	}); err != nil {
		return st, fmt.Errorf("verify: list packs: %w", err)
	}
	s.mu.Lock()
	var packs []*pack
	for _, p := range s.packs {
		if p == nil || p.state != packDurable {
			continue
		}
		size, ok := listed[p.key]
		switch {
		case !ok && p.seq <= seq:
			st.Bad++
			bad(BadChunk{Pack: p.key, Err: fmt.Errorf("pack %s is missing from the store: %w", p.key, ErrCorrupt)})
			for _, e := range s.knownEntriesLocked(p) {
				st.Bad++
				s.markDamagedLocked(e.id, p.idx)
				bad(BadChunk{ID: e.id, Pack: p.key, Err: fmt.Errorf("chunk %s: pack %s is missing from the store: %w", e.id.Short(), p.key, ErrCorrupt)})
			}
			continue
		case ok && size != p.size && (opts.NoData || opts.Sample > 0 && opts.Sample < 1):
			// Not necessarily read below: report the damage the size shows.
			st.Bad++
			bad(BadChunk{Pack: p.key, Err: fmt.Errorf("pack %s is %d bytes, was %d (truncated or overwritten): %w", p.key, size, p.size, ErrCorrupt)})
			for _, e := range s.knownEntriesLocked(p) {
				if int64(e.off)+int64(e.slen) > size-trailerSize {
					st.Bad++
					s.markDamagedLocked(e.id, p.idx)
					bad(BadChunk{ID: e.id, Pack: p.key, Err: fmt.Errorf("chunk %s: outside the truncated pack %s: %w", e.id.Short(), p.key, ErrCorrupt)})
				}
			}
			continue
		}
		if opts.NoData || opts.Sample > 0 && opts.Sample < 1 && rand.Float64() >= opts.Sample {
			continue
		}
		packs = append(packs, p)
	}
	for key, err := range s.badPacks {
		st.Bad++
		bad(BadChunk{Pack: key, Err: err})
	}
	s.mu.Unlock()

	var mu sync.Mutex // serializes bad and st
	report := func(b BadChunk) {
		if !b.ID.IsZero() && s.supersededDamage(b) {
			return
		}
		mu.Lock()
		st.Bad++
		bad(b)
		mu.Unlock()
	}
	// Each worker reads its next pack while it checks one (two buffers):
	// the workers read, then checked, each pack in turn, and they kept
	// in step, both reading (the disk busy, the CPU idle), then both
	// checking (the reverse), so that a verify took about as long as
	// its reads and its checks one after the other.
	ch := make(chan *pack)
	var wg sync.WaitGroup
	for i := 0; i < opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			var scratch [2][]byte
			load := func(p *pack, scratch *[]byte) chan loadedPack {
				c := make(chan loadedPack, 1)
				go func() { c <- s.loadPack(ctx, p, scratch, report) }()
				return c
			}
			k := 0
			var next chan loadedPack
			if p, ok := <-ch; ok {
				next = load(p, &scratch[k])
			}
			for next != nil {
				cur := <-next
				next = nil
				if p, ok := <-ch; ok {
					k ^= 1
					next = load(p, &scratch[k])
				}
				n := 0
				if cur.data != nil {
					n = s.checkPack(ctx, cur.p, cur.es, cur.data, &buf, report)
				}
				read := int64(len(cur.data))
				mu.Lock()
				if opts.OnPack != nil {
					opts.OnPack(read)
				}
				st.Packs++
				st.Chunks += n
				st.BytesRead += read
				mu.Unlock()
			}
		}()
	}
	for _, p := range packs {
		if ctx.Err() != nil {
			break
		}
		ch <- p
	}
	close(ch)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return st, fmt.Errorf("verify: %w", err)
	}
	return st, nil
}

// A loadedPack is a pack read for Verify: its entries and its bytes (nil
// when it could not be read, reported).
type loadedPack struct {
	p    *pack
	es   []entry
	data []byte
}

// loadPack reads p's entries and its bytes (into *scratch, see readPack),
// reporting what fails.
func (s *Store) loadPack(ctx context.Context, p *pack, scratch *[]byte, report func(BadChunk)) loadedPack {
	es, err := s.packEntries(ctx, p)
	if err != nil {
		if ctx.Err() == nil {
			report(BadChunk{Pack: p.key, Err: err})
		}
		return loadedPack{p: p}
	}
	data, err := s.readPack(ctx, p, scratch)
	if err != nil {
		if ctx.Err() != nil {
			return loadedPack{p: p}
		}
		for _, e := range es {
			report(BadChunk{ID: e.id, Pack: p.key, Err: fmt.Errorf("read pack: %w", err)})
		}
		return loadedPack{p: p}
	}
	if data == nil {
		data = []byte{} // (read, empty)
	}
	return loadedPack{p: p, es: es, data: data}
}

// checkPack checks the bytes of p read by loadPack against its entries
// es: its header, every record's CRC, every chunk's decoding and hash.
// It returns how many chunks it checked.
func (s *Store) checkPack(ctx context.Context, p *pack, es []entry, data []byte, buf *[]byte, report func(BadChunk)) int {
	// The pack's own header must agree with the index we use.
	tailOK := false
	if int64(len(data)) == p.size && len(data) >= trailerSize {
		if hl, hc, err := parseTrailer(data[len(data)-trailerSize:], p.size); err == nil {
			hdrStart := int64(len(data)) - trailerSize - hl
			if hes, err := s.c.parseHeader(data[hdrStart:len(data)-trailerSize], hc, hdrStart); err == nil && slices.Equal(hes, es) {
				tailOK = true
			}
		}
	}
	if !tailOK {
		if int64(len(data)) != p.size {
			report(BadChunk{Pack: p.key, Err: fmt.Errorf("pack %s is %d bytes, was %d (truncated or overwritten): %w", p.key, len(data), p.size, ErrCorrupt)})
		} else {
			report(BadChunk{Pack: p.key, Err: fmt.Errorf("pack %s: header damaged: %w", p.key, ErrCorrupt)})
		}
	}
	n := 0
	for _, e := range es {
		if ctx.Err() != nil {
			break
		}
		n++
		if int64(e.off)+int64(e.slen) > int64(len(data)) {
			report(BadChunk{ID: e.id, Pack: p.key, Err: fmt.Errorf("outside the pack: %w", ErrCorrupt)})
			continue
		}
		rec := data[e.off : e.off+e.slen]
		if crc(rec) != e.crc {
			report(BadChunk{ID: e.id, Pack: p.key, Err: fmt.Errorf("offset %d: checksum mismatch: %w", e.off, ErrCorrupt)})
			continue
		}
		if e.kind == kindRaw && s.c.aead == nil {
			// Stored as is: hash the record in place, no copy.
			if int(e.plen) != len(rec) || s.c.sum(rec) != e.id {
				report(BadChunk{ID: e.id, Pack: p.key, Err: fmt.Errorf("chunk %s: content hash mismatch: %w", e.id.Short(), ErrCorrupt)})
			}
			continue
		}
		out, err := s.c.decode(*buf, e.id, e.kind, int(e.plen), rec, true)
		if err != nil {
			report(BadChunk{ID: e.id, Pack: p.key, Err: err})
			continue
		}
		*buf = out
	}
	return n
}

// readPack reads the whole pack p as stored now (whatever its size), into
// *scratch when the backend reads into buffers (blob/local): a verify or a
// repack reads pack after pack, and a fresh pack-sized buffer for each
// would be allocated and zeroed each time. The result aliases *scratch
// until the next call.
func (s *Store) readPack(ctx context.Context, p *pack, scratch *[]byte) ([]byte, error) {
	into, ok := s.be.(rangeGetter)
	if !ok {
		return s.be.Get(ctx, p.key, 0, -1)
	}
	if need := p.size + 2*blob.Align; int64(cap(*scratch)) < need {
		*scratch = blob.HugeBuf(int(need)) // a page to spare on each side
	}
	return into.GetInto(ctx, p.key, 0, -1, *scratch)
}
