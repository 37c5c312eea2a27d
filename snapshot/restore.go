package snapshot

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/chunk"
	"github.com/safehold/safehold/internal/directio"
)

// RestoreOptions tune a restore.
type RestoreOptions struct {
	// Workers fetching chunks in parallel (default twice the repository's
	// workers and two: fetches wait on storage, and while as many workers
	// as there are processors decode, the others keep reads and writes in
	// flight).
	Workers int
	// Sync fsyncs the target before returning.
	Sync bool
	// Progress, if set, receives progress reports.
	Progress func(Progress)
	// Buffered writes through the page cache only. By default whole
	// 4 KiB-aligned runs are written with O_DIRECT through a second
	// descriptor of the file when the file system allows it: no copy into
	// the page cache, which was most of a restore's CPU time.
	Buffered bool
}

// Restore writes snapshot id to a new sparse file at path (replacing any
// file there). See RestoreTo.
func (r *Repository) Restore(ctx context.Context, id ID, path string, opts RestoreOptions) (Stats, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return Stats{}, fmt.Errorf("restore %s: %w", id, err)
	}
	st, err := r.RestoreTo(ctx, id, f, opts)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("restore %s: %w", id, cerr)
	}
	return st, err
}

// RestoreTo writes snapshot id into f, which is truncated and resized to the
// snapshot's size first. Only non-zero blocks are written, so zero blocks
// and holes stay holes. Every chunk's hash is checked; a
// damaged chunk fails the restore with an error naming it.
func (r *Repository) RestoreTo(ctx context.Context, id ID, f *os.File, opts RestoreOptions) (Stats, error) {
	start := r.now()
	m, err := r.Get(ctx, id)
	if err != nil {
		return Stats{}, fmt.Errorf("restore: %w", err)
	}
	// A snapshot deleted while it is being restored stays intact until the
	// restore ends (GC keeps protected manifests' chunks).
	defer r.protect(m)()
	if _, err := r.Get(ctx, id); err != nil {
		return Stats{}, fmt.Errorf("restore: %w", err)
	}
	if err := f.Truncate(0); err != nil {
		return Stats{}, fmt.Errorf("restore %s: %w", id, err)
	}
	if err := f.Truncate(m.Size); err != nil {
		return Stats{}, fmt.Errorf("restore %s: %w", id, err)
	}
	workers := opts.Workers
	if workers <= 0 {
		// On the bench host (2 processors) 6 workers restored the bench's
		// image in 1.37-1.67 s where 4 took 1.62-2.35 s (six alternating
		// pairs, load 12-15, session 25): with both processors decoding,
		// two of four workers were all the disk had queued.
		workers = 2*r.workers + 2
	}
	var c counters
	rp := startReporter("restore", m.Size, &c, opts.Progress, r.now)
	defer rp.stop()
	var dw *directio.Writer
	if !opts.Buffered {
		dw = directio.Open(f)
		defer dw.Close()
	}
	err = r.forEachRun(ctx, m, workers, &c, func(off int64, data []byte) error {
		n, err := dw.WriteAt(data, off)
		if err == nil && n < len(data) {
			_, err = f.WriteAt(data[n:], off+int64(n))
		}
		if err != nil {
			return fmt.Errorf("write at %d: %w", off, err)
		}
		return nil
	})
	if err == nil && opts.Sync {
		err = f.Sync()
	}
	if err != nil {
		return Stats{}, fmt.Errorf("restore %s: %w", id, err)
	}
	return Stats{Size: m.Size, BytesScanned: c.scanned.Load(), BytesZero: c.zero.Load(), Duration: r.now().Sub(start)}, nil
}

// restoreBlocks is the longest run of blocks a restore worker fetches and
// writes at once (4 MiB: GetMany reads it with one range read when the
// capture stored it contiguously, and one write puts it on disk).
const restoreBlocks = 64

type runJob struct {
	off int64
	ids []chunk.ID
	end int64 // disk size, for the short last block
}

// forEachRun fetches the non-zero blocks of a snapshot with parallel
// workers and hands each run of consecutive blocks to fn (concurrently).
func (r *Repository) forEachRun(ctx context.Context, m *Manifest, workers int, c *counters, fn func(off int64, data []byte) error) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var errMu sync.Mutex
	var firstErr error
	jobs := make(chan runJob, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := blob.HugeBuf(restoreBlocks * BlockSize) // direct reads and writes: huge pages
			for j := range jobs {
				if wctx.Err() != nil {
					continue
				}
				n := int64(0)
				got, err := r.chunks.GetRun(wctx, j.ids, buf, BlockSize)
				for k := 0; err == nil && k < len(got); k++ {
					bl := min(BlockSize, j.end-(j.off+n))
					if int64(len(got[k])) != bl {
						err = fmt.Errorf("chunk %s: %d bytes, want %d: %w", j.ids[k].Short(), len(got[k]), bl, chunk.ErrCorrupt)
						break
					}
					if &got[k][0] != &buf[n] { // decoded elsewhere
						copy(buf[n:], got[k])
					}
					n += bl
				}
				if err == nil {
					err = fn(j.off, buf[:n])
				}
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					cancel()
					continue
				}
				c.scanned.Add(n)
				c.done.Add(n)
			}
		}()
	}
	loadErr := func() error {
		defer func() {
			close(jobs)
			wg.Wait()
		}()
		for i, sid := range m.Segments {
			nb := blocksIn(m.Size, i)
			ids, err := r.loadSegment(wctx, sid, nb)
			if err != nil {
				return fmt.Errorf("segment %d: %w", i, err)
			}
			base := int64(i) * SegmentBlocks * BlockSize
			for k := 0; k < nb; {
				if ids[k].IsZero() {
					z := min(BlockSize, m.Size-(base+int64(k)*BlockSize))
					c.zero.Add(z)
					c.done.Add(z)
					k++
					continue
				}
				n := 1
				for k+n < nb && n < restoreBlocks && !ids[k+n].IsZero() {
					n++
				}
				select {
				case jobs <- runJob{off: base + int64(k)*BlockSize, ids: ids[k : k+n], end: m.Size}:
				case <-wctx.Done():
					return nil
				}
				k += n
			}
		}
		return nil
	}()
	errMu.Lock()
	defer errMu.Unlock()
	if firstErr != nil {
		return firstErr
	}
	if loadErr != nil {
		return loadErr
	}
	return ctx.Err()
}

// Reader gives random read access to a snapshot (for serving snapshot
// reads and creating disks from snapshots). It is safe for concurrent use.
type Reader struct {
	r   *Repository
	m   *Manifest
	ctx context.Context

	release func()

	mu   sync.Mutex
	segs map[int][]chunk.ID // small cache of loaded segments
}

var _ io.ReaderAt = (*Reader)(nil)

// OpenReader opens snapshot id for reading. ctx bounds every read made
// through the reader. Until Close, GC keeps the snapshot's chunks even if
// the snapshot is deleted.
func (r *Repository) OpenReader(ctx context.Context, id ID) (*Reader, error) {
	m, err := r.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("open reader: %w", err)
	}
	release := sync.OnceFunc(r.protect(m))
	if _, err := r.Get(ctx, id); err != nil {
		release()
		return nil, fmt.Errorf("open reader: %w", err)
	}
	rd := &Reader{r: r, m: m, ctx: ctx, release: release, segs: make(map[int][]chunk.ID)}
	// A reader dropped without Close stops protecting its snapshot when it
	// is garbage collected.
	runtime.AddCleanup(rd, func(f func()) { f() }, release)
	return rd, nil
}

// Close ends the reader's protection of its snapshot (also done when an
// unclosed reader is garbage collected).
func (rd *Reader) Close() error {
	rd.release()
	return nil
}

// Size returns the snapshot's disk size.
func (rd *Reader) Size() int64 { return rd.m.Size }

// Manifest returns the snapshot's manifest.
func (rd *Reader) Manifest() *Manifest { return rd.m }

func (rd *Reader) segment(i int) ([]chunk.ID, error) {
	rd.mu.Lock()
	ids, ok := rd.segs[i]
	rd.mu.Unlock()
	if ok {
		return ids, nil
	}
	ids, err := rd.r.loadSegment(rd.ctx, rd.m.Segments[i], blocksIn(rd.m.Size, i))
	if err != nil {
		return nil, err
	}
	rd.mu.Lock()
	if len(rd.segs) >= 16 {
		for k := range rd.segs {
			delete(rd.segs, k)
			break
		}
	}
	rd.segs[i] = ids
	rd.mu.Unlock()
	return ids, nil
}

// ReadAt implements io.ReaderAt.
func (rd *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read snapshot %s: negative offset", rd.m.ID)
	}
	n := 0
	var buf []byte
	for n < len(p) && off < rd.m.Size {
		b := off / BlockSize
		seg, k := int(b/SegmentBlocks), int(b%SegmentBlocks)
		ids, err := rd.segment(seg)
		if err != nil {
			return n, fmt.Errorf("read snapshot %s at %d: %w", rd.m.ID, off, err)
		}
		in := off - b*BlockSize
		bl := min(BlockSize, rd.m.Size-b*BlockSize)
		want := min(int64(len(p)-n), bl-in)
		if ids[k].IsZero() {
			clear(p[n : n+int(want)])
		} else {
			buf, err = rd.r.chunks.Get(rd.ctx, ids[k], buf)
			if err != nil {
				return n, fmt.Errorf("read snapshot %s at %d: %w", rd.m.ID, off, err)
			}
			if int64(len(buf)) != bl {
				return n, fmt.Errorf("read snapshot %s at %d: block size %d: %w", rd.m.ID, off, len(buf), chunk.ErrCorrupt)
			}
			copy(p[n:], buf[in:in+want])
		}
		n += int(want)
		off += want
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
