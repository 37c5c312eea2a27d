package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/chunk"
)

// CaptureOptions tune a capture.
type CaptureOptions struct {
	// Parent is the snapshot this one is incremental to. Without one, every
	// block is read (holes skipped) and stored unless already present.
	Parent ID
	// Changed lists the byte ranges written since Parent. nil asks the
	// source (ChangeTracker) and falls back to a hash-compare scan of the
	// whole disk; non-nil (even empty) is trusted: only those blocks are
	// read, the rest of the index is copied from the parent.
	Changed []Range
	// Scan ignores all change information and hash-compares every block.
	Scan bool
	// ZeroTail says that the content past the parent's size is zeros (a
	// snapshot grown by a resize): with known changes, those blocks are
	// recorded as zero without being read (only a partial last block of
	// the parent is read again, since it grows to a whole block).
	ZeroTail bool
	// Tags are recorded in the manifest.
	Tags map[string]string
	// Progress, if set, receives progress reports.
	Progress func(Progress)
	// Workers reading and hashing blocks (default the repository's).
	Workers int
}

// refreshAge is how stale the chunk index's view of the bucket may be when
// a capture starts (listing the packs costs one List of pack/).
const refreshAge = time.Minute

// batchBlocks is how many consecutive blocks a worker reads at once: 4 MiB,
// one read per data range of the batch (O_DIRECT for the sources that
// support it, File and volume freezes).
const batchBlocks = 64

type capJob struct {
	seg, first, n int
	entries       []chunk.ID // the segment being built
	parent        []chunk.ID // the parent's segment (nil without parent)
	scan          bool       // may skip holes
	wg            *sync.WaitGroup
}

// Capture records a snapshot of src. It reads the blocks that may have
// changed, stores the new ones, writes the segments that changed and finally
// the manifest. Only after every chunk it references is durable is the
// manifest written, in one atomic put: a crash or error at any point leaves
// either the complete snapshot or none. The engine never prints; progress
// goes to opts.Progress.
func (r *Repository) Capture(ctx context.Context, src Source, opts CaptureOptions) (*Manifest, Stats, error) {
	start := r.now()
	size := src.Size()
	if size < 0 {
		return nil, Stats{}, fmt.Errorf("capture: negative size %d", size)
	}
	var parent *Manifest
	if opts.Parent != "" {
		var err error
		if parent, err = r.Get(ctx, opts.Parent); err != nil {
			return nil, Stats{}, fmt.Errorf("capture: %w", err)
		}
	}
	defer r.protect(parent)()
	if parent != nil {
		// The parent may have been deleted (and collected) between reading it
		// and protecting it; once protected, a present parent stays intact.
		if _, err := r.Get(ctx, parent.ID); err != nil {
			return nil, Stats{}, fmt.Errorf("capture: %w", err)
		}
		// A parent using damaged or lost chunks is no base: its unchanged
		// segments would carry the damage into this snapshot. Without it
		// every block is read and the damaged chunks are stored again.
		// (Damage other stores of the bucket found counts too: a refresh
		// of the index takes it, else its listing alone; a failed listing
		// leaves what this store knows.)
		if listed, _ := r.chunks.RefreshIfOlder(ctx, refreshAge); !listed {
			r.chunks.TakeSharedDamage(ctx)
		}
		// A chunk in no pack the store knows (lost before this store
		// read its header: a restart with a new cache directory, another
		// replica) is marked nothing: a parent this repository has not
		// captured or checked before has its segments read (32 KiB per
		// 64 MiB of disk) and each chunk looked up, once (checking the
		// segments alone let a lost pack of data into the next snapshot).
		// One it has had every chunk in the index, and a pack of them
		// deleted since marks them lost (Refresh), so damage is checked
		// for, and its segments looked up, as before.
		switch {
		case r.knownWhole(parent.ID):
			if r.chunks.AnyDamaged() && r.usesDamage(ctx, parent) || r.lacksSegments(parent) {
				parent = nil
			}
		case r.usesDamage(ctx, parent):
			parent = nil
		default:
			r.whole.Store(parent.ID, true)
		}
	}

	changed, known := opts.Changed, opts.Changed != nil
	if !known && !opts.Scan {
		if ct, ok := src.(ChangeTracker); ok {
			changed, known = ct.ChangedBlocks()
		}
	}
	if parent == nil || opts.Scan {
		known = false
	}
	nseg := segmentsFor(size)
	var dirty map[int][]int // segment -> sorted block indexes within it
	total := size
	if known {
		dirty = dirtyBlocks(changed, size, parent.Size, opts.ZeroTail)
		total = 0
		for seg, bs := range dirty {
			for _, b := range bs {
				off := (int64(seg)*SegmentBlocks + int64(b)) * BlockSize
				total += min(BlockSize, size-off)
			}
		}
	}

	workers := opts.Workers
	if workers <= 0 {
		workers = r.workers
	}
	var c counters
	rp := startReporter("capture", total, &c, opts.Progress, r.now)
	defer rp.stop()

	// Other writers (replicas sharing the bucket) may have stored chunks
	// since the index last listed the packs: dedupe against them too. A
	// failed listing only costs deduplication.
	r.chunks.RefreshIfOlder(ctx, refreshAge)
	w := r.chunks.NewWriter()
	defer w.Close()

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var errMu sync.Mutex
	var firstErr error
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel()
	}
	// A job waits for each worker: a worker that finished one takes the
	// next at once. Unbuffered, it waited for this goroutine to run again
	// and send it (in a runtime trace of a full backup, 0.25 s of the two
	// workers' 2.1 s, while this goroutine waited for a P).
	jobs := make(chan capJob, workers)
	var pool sync.WaitGroup
	ranger, _ := src.(DataRanger)
	for range workers {
		pool.Add(1)
		go func() {
			defer pool.Done()
			var buf []byte // for a store without tails (Writer.Tail)
			var st runScratch
			for j := range jobs {
				if wctx.Err() == nil {
					if err := r.captureRun(wctx, src, ranger, size, w, j, &buf, &st, &c); err != nil {
						fail(err)
					}
				}
				j.wg.Done()
			}
		}()
	}
	segs := make([]chunk.ID, nseg)
	// A finisher stores each segment once its blocks are done, so the
	// workers move on to the next segment without waiting.
	type pending struct {
		i       int
		entries []chunk.ID
		wg      *sync.WaitGroup
	}
	finish := make(chan pending, 2)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for p := range finish {
			p.wg.Wait()
			if wctx.Err() != nil {
				continue
			}
			data, allZero := encodeSegment(p.entries)
			if allZero {
				continue
			}
			id, n, err := w.Put(wctx, data)
			if err != nil {
				fail(fmt.Errorf("put segment %d: %w", p.i, err))
				continue
			}
			segs[p.i] = id
			c.stored.Add(int64(n))
		}
	}()
	err := func() error {
		defer func() {
			close(finish)
			<-finished
			close(jobs)
			pool.Wait()
		}()
		for i := 0; i < nseg; i++ {
			nb := blocksIn(size, i)
			if known && len(dirty[i]) == 0 && i < len(parent.Segments) && blocksIn(parent.Size, i) == nb {
				segs[i] = parent.Segments[i]
				continue
			}
			if known && len(dirty[i]) == 0 && opts.ZeroTail && int64(i)*SegmentBlocks*BlockSize >= parent.Size {
				continue // wholly past the parent's end: a zero segment
			}
			var pent []chunk.ID
			if parent != nil && i < len(parent.Segments) {
				var err error
				if pent, err = r.loadSegment(wctx, parent.Segments[i], nb); err != nil {
					return fmt.Errorf("parent %s: %w", parent.ID, err)
				}
			}
			if !known && ranger != nil {
				hole, err := holeSegment(ranger, size, i, pent, &c)
				if err != nil {
					return err
				}
				if hole {
					continue // a zero segment, recorded as none
				}
			}
			entries := make([]chunk.ID, nb)
			copy(entries, pent)
			wg := new(sync.WaitGroup)
			send := func(first, n int) bool {
				wg.Add(1)
				select {
				case jobs <- capJob{seg: i, first: first, n: n, entries: entries, parent: pent, scan: !known, wg: wg}:
					return true
				case <-wctx.Done():
					wg.Done()
					return false
				}
			}
			if known {
				bs := dirty[i]
				for k := 0; k < len(bs); {
					n := 1
					for k+n < len(bs) && n < batchBlocks && bs[k+n] == bs[k]+n {
						n++
					}
					if !send(bs[k], n) {
						break
					}
					k += n
				}
			} else {
				for b := 0; b < nb; b += batchBlocks {
					if !send(b, min(batchBlocks, nb-b)) {
						break
					}
				}
			}
			select {
			case finish <- pending{i: i, entries: entries, wg: wg}:
			case <-wctx.Done():
				wg.Wait()
				return nil // the worker's error (or ctx) is reported below
			}
		}
		return nil
	}()
	if err == nil {
		errMu.Lock()
		err = firstErr
		errMu.Unlock()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, Stats{}, fmt.Errorf("capture: %w", err)
	}
	if err := w.Flush(ctx); err != nil {
		return nil, Stats{}, fmt.Errorf("capture: %w", err)
	}
	m := &Manifest{
		ID: r.newID(), Created: r.now().UTC(), Size: size, BlockSize: BlockSize,
		Segments: segs, Tags: opts.Tags,
	}
	if parent != nil {
		m.Parent = parent.ID
	}
	m.Stats = Stats{
		Size: size, BytesScanned: c.scanned.Load(), BytesChanged: c.changed.Load(),
		BytesNew: c.newb.Load(), BytesStored: c.stored.Load(), BytesDeduped: c.deduped.Load(),
		BytesZero: c.zero.Load(), Duration: r.now().Sub(start),
	}
	if err := r.putManifest(ctx, m); err != nil {
		return nil, Stats{}, fmt.Errorf("capture: put manifest: %w", err)
	}
	r.whole.Store(m.ID, true) // each chunk stored here or found in the index
	return m, m.Stats, nil
}

// holeSegment reports whether segment i of a scanned source lies wholly in
// a hole (no data range), and then counts its blocks as storeRun counts
// zero blocks, changed where the parent's entries pent were not zero: the
// segment is all zeros and no worker need read it. A 4 TiB disk with
// 4 MiB written has 65,536 segments of 64 MiB, nearly all holes, and each
// was sent through the workers in 1 MiB runs (4 million: a seek for data,
// a batch of 16 zero blocks and a yield each).
func holeSegment(ranger DataRanger, size int64, i int, pent []chunk.ID, c *counters) (bool, error) {
	off := int64(i) * SegmentBlocks * BlockSize
	n := min(SegmentBlocks*BlockSize, size-off)
	rs, err := ranger.DataRanges(off, n)
	if err != nil {
		return false, fmt.Errorf("find data at %d: %w", off, err)
	}
	if len(rs) > 0 {
		return false, nil
	}
	for k, id := range pent {
		if !id.IsZero() {
			c.changed.Add(min(BlockSize, size-off-int64(k)*BlockSize))
		}
	}
	c.zero.Add(n)
	c.done.Add(n)
	return true, nil
}

// hotBlocks is how many blocks a worker reads, hashes and stores at a
// time: 1 MiB, in the core's L2 cache from the read through hashing,
// compressing and checksumming on the machine it was tuned on (2 MiB of
// L2). With 512 KiB of L2, hashing, compressing and checksumming 4 or 1
// blocks at a time cost no less (bench/engine-measured.md, session 20).
const hotBlocks = 16

// captureRun reads a job's blocks and stores the new ones. The blocks are
// read straight into the end of an open pack (chunk.Writer.Tail), in as
// many runs as packs it takes, so the raw ones are stored where the read
// put them; a store without tails gets them read into *buf. A tail is read
// and stored in parts of hotBlocks.
func (r *Repository) captureRun(ctx context.Context, src Source, ranger DataRanger, size int64, w *chunk.Writer,
	j capJob, buf *[]byte, st *runScratch, c *counters) error {
	for done := 0; done < j.n; {
		t := w.Tail(BlockSize, j.n-done)
		n, room, step := j.n-done, []byte(nil), j.n-done
		if t != nil {
			n, room, step = t.Units(), t.Buf(), hotBlocks
		} else {
			if *buf == nil {
				*buf = blob.HugeBuf(batchBlocks * BlockSize) // aligned: direct reads land in it
			}
			room = *buf
		}
		var err error
		for k := 0; k < n && err == nil; k += step {
			b := capBatch{capJob: j}
			b.first += done + k
			b.n = min(step, n-k)
			b.buf = room[k*BlockSize : (k+b.n)*BlockSize]
			if err = readRun(src, ranger, size, &b); err == nil {
				err = r.storeRun(ctx, w, t, &b, st, c)
			}
			// Let a goroutine waiting for a P run now (a pack's upload back
			// from its write or fsync needs one for microseconds), not
			// when sysmon preempts this worker after 10 ms: in a runtime
			// trace of a full backup (load 12-14) the uploads waited 3.7 s
			// in all for a P and the workers 0.28 s for a free upload;
			// with a yield per part, 1.1 s and 0.10 s.
			runtime.Gosched()
		}
		t.Release()
		if err != nil {
			return err
		}
		done += n
	}
	return nil
}

// capBatch is a capture job with its blocks read into buf.
type capBatch struct {
	capJob
	buf  []byte
	off  int64 // disk offset of buf[0]
	data []byte
	// hole[k]: block k lies in no data range, so it reads as zeros and is
	// neither read nor checked.
	hole [batchBlocks]bool
}

// readRun reads a job's blocks into b.buf (in a scan, only the data ranges
// of a source that knows them).
func readRun(src Source, ranger DataRanger, size int64, b *capBatch) error {
	off := (int64(b.seg)*SegmentBlocks + int64(b.first)) * BlockSize
	length := min(int64(b.n)*BlockSize, size-off)
	p := b.buf[:length]
	b.off, b.data = off, p
	if !b.scan || ranger == nil {
		return readFull(src, p, off)
	}
	rs, err := ranger.DataRanges(off, length)
	if err != nil {
		return fmt.Errorf("find data at %d: %w", off, err)
	}
	for k := range b.n {
		b.hole[k] = true
	}
	pos := off // read up to here; the gaps between data ranges are zeros
	for _, rg := range rs {
		s, e := max(rg.Off, pos), min(rg.Off+rg.Len, off+length)
		if s >= e {
			continue
		}
		clearGap(p, pos-off, s-off)
		if err := readFull(src, p[s-off:e-off], s); err != nil {
			return err
		}
		for k := (s - off) / BlockSize; k*BlockSize < e-off; k++ {
			b.hole[k] = false
		}
		pos = e
	}
	clearGap(p, pos-off, length)
	return nil
}

// runScratch is a capture worker's reusable memory for storeRun.
type runScratch struct {
	ids    []chunk.ID
	blocks [][]byte
	at     []int // block index in the batch of ids[i]
	stored []int
	enc    []byte // the encoded records (chunk.Writer.PutRun)
}

// storeRun hashes a batch's blocks and stores the new ones as one run (in
// place when t, the tail they were read into, is not nil).
func (r *Repository) storeRun(ctx context.Context, w *chunk.Writer, t *chunk.Tail, b *capBatch, st *runScratch, c *counters) error {
	zeroBlock := func(k int, n int64) {
		old := b.entries[b.first+k]
		if !old.IsZero() && b.parent != nil {
			c.changed.Add(n)
		}
		b.entries[b.first+k] = chunk.ID{}
		c.zero.Add(n)
		c.done.Add(n)
	}
	st.ids, st.blocks, st.at = st.ids[:0], st.blocks[:0], st.at[:0]
	length := int64(len(b.data))
	for k := 0; k < b.n; k++ {
		blk := b.data[int64(k)*BlockSize : min(int64(k+1)*BlockSize, length)]
		bl := int64(len(blk))
		if b.hole[k] {
			zeroBlock(k, bl)
			continue
		}
		c.scanned.Add(bl)
		if isZero(blk, r.zero) {
			zeroBlock(k, bl)
			continue
		}
		st.ids = append(st.ids, r.chunks.Sum(blk))
		st.blocks = append(st.blocks, blk)
		st.at = append(st.at, k)
	}
	st.stored = slices.Grow(st.stored[:0], len(st.ids))[:len(st.ids)]
	put := w.PutRun
	if t != nil {
		put = func(ctx context.Context, ids []chunk.ID, data [][]byte, stored []int, scratch *[]byte) error {
			return w.PutTail(ctx, t, ids, data, stored, scratch)
		}
	}
	if err := put(ctx, st.ids, st.blocks, st.stored, &st.enc); err != nil {
		return fmt.Errorf("put chunks at %d: %w", b.off, err)
	}
	for i, id := range st.ids {
		k := st.at[i]
		bl := int64(len(st.blocks[i]))
		same := b.parent != nil && b.entries[b.first+k] == id
		if !same {
			c.changed.Add(bl)
		}
		if st.stored[i] > 0 {
			c.newb.Add(bl)
			c.stored.Add(int64(st.stored[i]))
		} else if !same {
			c.deduped.Add(bl)
		}
		b.entries[b.first+k] = id
		c.done.Add(bl)
	}
	return nil
}

// clearGap zeroes p[a:b], a gap between data ranges, where it shares a
// block with data: the blocks wholly inside it are holes, never looked at
// (clearing them cost ~3 % of a full backup of a half-sparse image).
func clearGap(p []byte, a, b int64) {
	lo := min(b, (a+BlockSize-1)/BlockSize*BlockSize) // end of a's block
	clear(p[a:lo])
	clear(p[max(lo, b/BlockSize*BlockSize):b]) // start of b's block
}

// readFull reads len(p) bytes at off; a source that ends early reads as
// zeros after its end.
func readFull(src Source, p []byte, off int64) error {
	n, err := src.ReadAt(p, off)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(p)) {
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("read at %d: %w", off, err)
		}
		clear(p[n:]) // short source: the rest reads as zeros
	}
	return nil
}

// dirtyBlocks maps changed byte ranges to block indexes per segment. When
// the size changed, every block not fully inside both sizes is dirty too,
// except, when the content grew by zeros (zeroTail), the blocks wholly past
// the parent's end: they stay zero entries, unread.
func dirtyBlocks(changed []Range, size, parentSize int64, zeroTail bool) map[int][]int {
	blocks := (size + BlockSize - 1) / BlockSize
	set := make(map[int64]struct{})
	for _, rg := range changed {
		if rg.Len <= 0 || rg.Off >= size {
			continue
		}
		first := max(rg.Off, 0) / BlockSize
		last := min((rg.Off+rg.Len-1)/BlockSize, blocks-1)
		for b := first; b <= last; b++ {
			set[b] = struct{}{}
		}
	}
	switch {
	case size > parentSize && zeroTail:
		if parentSize%BlockSize != 0 {
			set[parentSize/BlockSize] = struct{}{}
		}
	case size != parentSize:
		common := min(size, parentSize)
		for b := common / BlockSize; b < blocks; b++ {
			set[b] = struct{}{}
		}
	}
	out := make(map[int][]int)
	for b := range set {
		seg := int(b / SegmentBlocks)
		out[seg] = append(out[seg], int(b%SegmentBlocks))
	}
	for _, bs := range out {
		sort.Ints(bs)
	}
	return out
}

// lacksSegments reports whether a segment of snapshot m is in no pack the
// store knows: an index lookup per 64 MiB of the disk, where usesDamage
// reads segments.
func (r *Repository) lacksSegments(m *Manifest) bool {
	for _, sid := range m.Segments {
		if !sid.IsZero() && !r.chunks.Has(sid) {
			return true
		}
	}
	return false
}

// knownWhole reports whether this repository captured snapshot id or
// found every chunk of it in its index (usesDamage) before.
func (r *Repository) knownWhole(id ID) bool {
	_, ok := r.whole.Load(id)
	return ok
}

// usesDamage reports whether snapshot m references a chunk the store
// knows to be damaged or lost, or a segment that cannot be read. Segments
// are read by several goroutines at once (segmentReaders): a parent this
// process has not checked before is read whole, one segment per 64 MiB of
// its disk, and from an object store each read is a round trip.
func (r *Repository) usesDamage(ctx context.Context, m *Manifest) bool {
	var todo []int
	for i, sid := range m.Segments {
		if sid.IsZero() {
			continue
		}
		if r.chunks.Damaged(sid) || !r.chunks.Has(sid) {
			return true
		}
		todo = append(todo, i)
	}
	var (
		next    atomic.Int64
		damaged atomic.Bool
		wg      sync.WaitGroup
	)
	for range min(len(todo), max(r.workers, segmentReaders)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !damaged.Load() && ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= len(todo) {
					return
				}
				i := todo[k]
				ids, err := r.loadSegment(ctx, m.Segments[i], blocksIn(m.Size, i))
				if err != nil {
					damaged.Store(true)
					return
				}
				for _, id := range ids {
					if !id.IsZero() && (r.chunks.Damaged(id) || !r.chunks.Has(id)) {
						damaged.Store(true)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return damaged.Load() || ctx.Err() != nil
}

// segmentReaders is how many segments usesDamage reads at once (at least
// the repository's workers): enough to hide an object store's latency.
const segmentReaders = 8
