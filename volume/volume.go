// Package volume holds Safehold's live managed disks: each disk is a sparse
// raw file in the data dir, written only through a Volume (the SAS page
// API, the NBD export, imports), so every write is seen.
//
// # Change tracking
//
// Every write marks its BlockSize blocks in the volume's change map: the
// set of blocks written since the volume's base (the last snapshot taken
// of it). The map lives in memory and is saved at a clean Close; an "open"
// marker file exists while the volume is open, so after an unclean stop
// (crash, kill -9) the next Open finds the marker and reports the map as
// untrusted: the next snapshot must then compare every block (a full
// scan), never trust a map that may have missed writes.
//
// # Freeze
//
// Freeze fixes one or more volumes at one instant in O(1): it swaps in an
// empty change map and installs a copy-before-write hook. From then on a
// write to a block not yet saved first copies the block's old content to
// the freeze's side file (one block copy, under the volume's lock), so a
// Freeze reads the volume exactly as it was at the freeze instant while
// writers go on. Commit (after the snapshot is durable) makes the frozen
// instant the volume's new base; Abort merges the frozen change map back.
package volume

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/safehold/safehold/internal/datafile"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safehold/safehold/internal/directio"
	"github.com/safehold/safehold/sparse"
	"golang.org/x/sys/unix"
)

// memSaveLimit is how much old content one freeze keeps in memory before
// it spills to its side file.
const memSaveLimit = 32 << 20

// BlockSize is the granularity of change tracking and copy-before-write.
// It equals the snapshot engine's block size.
const BlockSize = 64 << 10

// Range is a byte range of a volume.
type Range struct {
	Off, Len int64
}

// Errors.
var (
	ErrNotFound   = errors.New("volume not found")
	ErrExists     = errors.New("volume already exists")
	ErrOutOfRange = errors.New("range beyond the end of the volume")
	ErrShrink     = errors.New("a volume can only grow")
	ErrBusy       = errors.New("volume is frozen by a running snapshot")
	ErrClosed     = errors.New("volume is closed")
)

// Manager owns the volumes of one directory. It is safe for concurrent use.
type Manager struct {
	dir      string
	memLimit int64 // old content one freeze keeps in memory

	mu     sync.Mutex
	vols   map[string]*Volume
	closed bool
}

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Open opens (creating) the volume directory and removes leftovers of
// interrupted creations.
func Open(dir string) (*Manager, error) {
	if err := datafile.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("create volume dir: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read volume dir: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &Manager{dir: dir, memLimit: memSaveLimit, vols: map[string]*Volume{}}, nil
}

// Dir is the volume directory.
func (m *Manager) Dir() string { return m.dir }

func (m *Manager) rawPath(id string) string    { return filepath.Join(m.dir, id+".raw") }
func (m *Manager) mapPath(id string) string    { return filepath.Join(m.dir, id+".cmap") }
func (m *Manager) markerPath(id string) string { return filepath.Join(m.dir, id+".open") }

// Create makes a new empty (sparse) volume of size bytes.
func (m *Manager) Create(id string, size int64) (*Volume, error) {
	return m.CreateWith(id, size, nil)
}

// CreateWith makes a new volume of size bytes whose initial content fill
// writes into the (sparse, zero) file. The volume appears atomically: a
// crash during fill leaves no volume. Its change map starts empty with no
// base (a first snapshot reads everything anyway).
func (m *Manager) CreateWith(id string, size int64, fill func(f *os.File) error) (*Volume, error) {
	if !validID.MatchString(id) {
		return nil, fmt.Errorf("create volume: invalid id %q", id)
	}
	if size < 0 {
		return nil, fmt.Errorf("create volume %s: negative size", id)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if _, ok := m.vols[id]; ok {
		m.mu.Unlock()
		return nil, ErrExists
	}
	m.mu.Unlock()
	if _, err := os.Stat(m.rawPath(id)); err == nil {
		return nil, ErrExists
	}
	tmp := m.rawPath(id) + "." + randSuffix() + ".tmp"
	f, err := datafile.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, fmt.Errorf("create volume %s: %w", id, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Truncate(size); err != nil {
		return nil, fmt.Errorf("create volume %s: %w", id, err)
	}
	if fill != nil {
		if err := fill(f); err != nil {
			return nil, fmt.Errorf("fill volume %s: %w", id, err)
		}
		if fi, err := f.Stat(); err != nil || fi.Size() != size {
			return nil, fmt.Errorf("fill volume %s: size changed", id)
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync volume %s: %w", id, err)
	}
	f.Close()
	os.Remove(m.mapPath(id))
	os.Remove(m.markerPath(id))
	if err := os.Link(tmp, m.rawPath(id)); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, ErrExists
		}
		return nil, fmt.Errorf("create volume %s: %w", id, err)
	}
	os.Remove(tmp)
	ok = true
	if err := syncDir(m.dir); err != nil {
		return nil, err
	}
	return m.Get(id)
}

// Get opens a volume (once; later calls share it).
func (m *Manager) Get(id string) (*Volume, error) {
	if !validID.MatchString(id) {
		return nil, ErrNotFound
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if v, ok := m.vols[id]; ok {
		return v, nil
	}
	v, err := m.open(id)
	if err != nil {
		return nil, err
	}
	m.vols[id] = v
	return v, nil
}

func (m *Manager) open(id string) (*Volume, error) {
	f, err := os.OpenFile(m.rawPath(id), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("open volume %s: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open volume %s: %w", id, err)
	}
	v := &Volume{m: m, id: id, f: f, dirty: &bitmap{}, trusted: true}
	v.size.Store(fi.Size())
	_, mErr := os.Stat(m.markerPath(id))
	unclean := mErr == nil
	if b, err := os.ReadFile(m.mapPath(id)); err == nil {
		base, trusted, bm, ok := decodeMap(b)
		v.base, v.trusted = base, trusted && ok && !unclean
		if ok {
			v.dirty = bm
		}
	} else if unclean {
		v.trusted = false
	}
	if err := writeFileSync(m.markerPath(id), []byte("open\n")); err != nil {
		f.Close()
		return nil, fmt.Errorf("open volume %s: %w", id, err)
	}
	if err := syncDir(m.dir); err != nil {
		f.Close()
		return nil, err
	}
	return v, nil
}

// Remove closes and deletes a volume; ErrBusy while it is frozen.
func (m *Manager) Remove(id string) error {
	m.mu.Lock()
	v := m.vols[id]
	if v != nil {
		v.mu.Lock()
		if v.freeze != nil {
			v.mu.Unlock()
			m.mu.Unlock()
			return ErrBusy
		}
		v.closed = true
		v.f.Close()
		v.mu.Unlock()
		delete(m.vols, id)
	}
	m.mu.Unlock()
	if !validID.MatchString(id) {
		return ErrNotFound
	}
	err := os.Remove(m.rawPath(id))
	os.Remove(m.mapPath(id))
	os.Remove(m.markerPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("remove volume %s: %w", id, err)
	}
	return syncDir(m.dir)
}

// Close saves every open volume's change map and closes it (a clean stop).
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var first error
	for id, v := range m.vols {
		if err := v.close(); err != nil && first == nil {
			first = err
		}
		delete(m.vols, id)
	}
	return first
}

// Volume is one live disk. Reads and writes may run concurrently.
type Volume struct {
	m    *Manager
	id   string
	f    *os.File
	size atomic.Int64

	mu      sync.Mutex // serializes writes with copy-before-write and freeze reads
	dirty   *bitmap    // blocks written since base
	trusted bool       // dirty is complete since base
	base    string     // the snapshot dirty is relative to ("" none)
	freeze  *Freeze
	closed  bool
	cowBuf  []byte
}

// ID is the volume's id.
func (v *Volume) ID() string { return v.id }

// Size is the volume's current size in bytes.
func (v *Volume) Size() int64 { return v.size.Load() }

// ReadAt reads the live content; reads past the end fail with ErrOutOfRange.
func (v *Volume) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > v.Size() {
		return 0, ErrOutOfRange
	}
	n, err := v.f.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	if err != nil && errors.Is(err, os.ErrClosed) {
		err = ErrClosed
	}
	return n, err
}

// WriteAt writes p at off, marking the blocks changed and preserving their
// old content for a running freeze first.
func (v *Volume) WriteAt(p []byte, off int64) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.beforeWrite(off, int64(len(p))); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	return v.f.WriteAt(p, off)
}

// Zero sets a range to zeros, deallocating it where possible (TRIM,
// WRITE_ZEROES, page clear).
func (v *Volume) Zero(off, n int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.beforeWrite(off, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	err := unix.Fallocate(int(v.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil {
		return nil
	}
	zero := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(zero)))
		if _, err := v.f.WriteAt(zero[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// beforeWrite checks a write of n bytes at off, saves the blocks it
// touches for a running freeze and marks them changed. v.mu is held.
func (v *Volume) beforeWrite(off, n int64) error {
	if v.closed {
		return ErrClosed
	}
	if off < 0 || n < 0 || off+n > v.Size() {
		return ErrOutOfRange
	}
	if n == 0 {
		return nil
	}
	first, last := off/BlockSize, (off+n-1)/BlockSize
	if fz := v.freeze; fz != nil {
		for b := first; b <= last && b*BlockSize < fz.size; b++ {
			if _, ok := fz.saved[b]; ok {
				continue
			}
			if err := v.saveBlock(fz, b); err != nil {
				return fmt.Errorf("copy block %d before write: %w", b, err)
			}
		}
	}
	for b := first; b <= last; b++ {
		v.dirty.set(b)
	}
	return nil
}

func (v *Volume) saveBlock(fz *Freeze, b int64) error {
	if v.cowBuf == nil {
		v.cowBuf = make([]byte, BlockSize)
	}
	n := min(int64(BlockSize), fz.size-b*BlockSize)
	buf := v.cowBuf[:n]
	if _, err := io.ReadFull(io.NewSectionReader(v.f, b*BlockSize, n), buf); err != nil {
		return err
	}
	if allZero(buf) {
		fz.saved[b] = -1
		return nil
	}
	if fz.memBytes+n <= v.m.memLimit {
		// Kept in memory: no page-cache writeback to throttle the writer.
		fz.mem[b] = append([]byte(nil), buf...)
		fz.memBytes += n
		fz.saved[b] = -2
		fz.savedBytes += n
		return nil
	}
	if fz.side == nil {
		f, err := os.CreateTemp(v.m.dir, v.id+".*.cow")
		if err != nil {
			return err
		}
		os.Remove(f.Name()) // lives while open; nothing to clean after a crash
		fz.side = f
	}
	if _, err := fz.side.WriteAt(buf, fz.sideOff); err != nil {
		return err
	}
	fz.saved[b] = fz.sideOff
	fz.sideOff += n
	fz.savedBytes += n
	return nil
}

// Flush makes written data durable.
func (v *Volume) Flush() error {
	if err := v.f.Sync(); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return ErrClosed
		}
		return err
	}
	return nil
}

// Resize grows the volume to size bytes.
func (v *Volume) Resize(size int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if size < v.Size() {
		return ErrShrink
	}
	if err := v.f.Truncate(size); err != nil {
		return fmt.Errorf("resize volume %s: %w", v.id, err)
	}
	v.size.Store(size)
	return v.f.Sync()
}

// DropTail shrinks the volume by n bytes, which are lost: what ends an
// upload whose last 512 bytes are a VHD footer (the disk is the VHD's
// data). It is refused while the volume is frozen.
func (v *Volume) DropTail(n int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if v.freeze != nil {
		return ErrBusy
	}
	size := v.Size() - n
	if n < 0 || size < 0 {
		return ErrOutOfRange
	}
	if err := v.f.Truncate(size); err != nil {
		return fmt.Errorf("shrink volume %s: %w", v.id, err)
	}
	v.size.Store(size)
	return v.f.Sync()
}

// DataRanges returns the ranges within [off, off+n) that may hold data;
// everything else reads as zeros.
func (v *Volume) DataRanges(off, n int64) ([]Range, error) {
	return dataRanges(v.f, off, min(off+n, v.Size())-off)
}

// Changes reports the blocks written since the volume's base snapshot, as
// byte ranges; ok is false when the map is not trustworthy (after an
// unclean stop), in which case the caller must compare content.
func (v *Volume) Changes() (base string, ranges []Range, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.base, v.dirty.ranges(v.Size()), v.trusted
}

// ChangedBytes is how many bytes of blocks are marked changed.
func (v *Volume) ChangedBytes() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.dirty.count() * BlockSize
}

// SetBase declares the volume's content equal to snapshot base, with no
// changes since (e.g. a disk just restored from that snapshot).
func (v *Volume) SetBase(base string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.freeze == nil {
		v.base, v.dirty, v.trusted = base, &bitmap{}, true
	}
}

func (v *Volume) close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	base, trusted, dirty := v.base, v.trusted, v.dirty
	if fz := v.freeze; fz != nil {
		// The capture did not finish: fall back to the frozen base and
		// everything written since it.
		merged := &bitmap{}
		merged.or(fz.changed)
		merged.or(dirty)
		base, trusted, dirty = fz.base, fz.trusted, merged
		fz.dr.Close() // its reads fail with ErrClosed from now on
	}
	err := v.f.Sync()
	v.f.Close()
	if err != nil {
		return fmt.Errorf("sync volume %s: %w", v.id, err)
	}
	if err := writeFileAtomic(v.m.mapPath(v.id), encodeMap(base, trusted, dirty)); err != nil {
		return fmt.Errorf("save change map of %s: %w", v.id, err)
	}
	if err := os.Remove(v.m.markerPath(v.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(v.m.dir)
}

// Freeze is one volume fixed at a freeze instant. It implements the
// snapshot engine's Source (Size, ReadAt) and DataRanger shapes.
type Freeze struct {
	v       *Volume
	size    int64
	changed *bitmap
	trusted bool
	base    string

	// guarded by v.mu
	dr *directio.Reader // reads the live file (its own descriptor, closed on release)

	saved      map[int64]int64 // block -> offset in side (-1: zeros, -2: in mem)
	mem        map[int64][]byte
	memBytes   int64
	side       *os.File
	sideOff    int64
	savedBytes int64
	done       bool
	pause      time.Duration
}

// Pause is how long the freeze held the volumes' write locks: the longest
// any writer waited for the freeze itself.
func (fz *Freeze) Pause() time.Duration { return fz.pause }

// Freeze fixes the volumes at one instant: they are all locked together,
// so no write lands in one and not in another. It fails with ErrBusy if a
// volume is already frozen. The pause writers see is O(1) in disk size.
func (m *Manager) Freeze(vols ...*Volume) ([]*Freeze, error) {
	sorted := append([]*Volume(nil), vols...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].id < sorted[j].id })
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return nil, fmt.Errorf("freeze: volume %s listed twice", sorted[i].id)
		}
	}
	// The direct readers are opened before the volumes are locked (an open
	// is no O(1) pause); a volume only grows, so its size now is a lower
	// bound of its frozen size.
	readers := make([]*directio.Reader, len(vols))
	for i, v := range vols {
		readers[i] = directio.NewReader(v.f, v.Size())
	}
	var locked time.Time // writers of the first volume wait from here
	for i, v := range sorted {
		v.mu.Lock()
		if i == 0 {
			locked = time.Now()
		}
	}
	var err error
	for _, v := range sorted {
		if v.closed {
			err = ErrClosed
		} else if v.freeze != nil {
			err = ErrBusy
		}
	}
	out := make([]*Freeze, len(vols))
	if err == nil {
		for i, v := range vols {
			fz := &Freeze{v: v, size: v.Size(), changed: v.dirty, trusted: v.trusted, base: v.base,
				dr: readers[i], saved: map[int64]int64{}, mem: map[int64][]byte{}}
			v.dirty, v.trusted, v.base, v.freeze = &bitmap{}, true, "", fz
			out[i] = fz
		}
	}
	pause := time.Since(locked)
	for _, v := range sorted {
		v.mu.Unlock()
	}
	for _, fz := range out {
		if fz != nil {
			fz.pause = pause
		}
	}
	if err != nil {
		for _, r := range readers {
			r.Close()
		}
		return nil, err
	}
	return out, nil
}

// Volume is the frozen volume.
func (fz *Freeze) Volume() *Volume { return fz.v }

// Size is the volume's size at the freeze instant.
func (fz *Freeze) Size() int64 { return fz.size }

// ReadAt reads the volume as it was at the freeze instant. The live file
// is read first, without the volume's lock, in large reads (directio.Reader:
// O_DIRECT for the aligned middle); then, under the lock once, every block
// of the range that writers saved is overwritten with its saved content. A
// block not saved by then was not written since the freeze (writers save a
// block under the lock before writing it), so what was read of it is the
// frozen content; a block saved by then may have been read torn, and its
// saved copy replaces it.
func (fz *Freeze) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ErrOutOfRange
	}
	if off >= fz.size {
		return 0, io.EOF
	}
	var eof error
	if off+int64(len(p)) > fz.size {
		p, eof = p[:fz.size-off], io.EOF
	}
	if len(p) == 0 {
		return 0, eof
	}
	k, rerr := fz.dr.ReadAt(p, off)
	if rerr == io.EOF {
		clear(p[k:]) // the live file is never shorter than the frozen size; as zeros if it were
		rerr = nil
	}
	v := fz.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if fz.done {
		return 0, errors.New("read frozen volume: freeze released")
	}
	if v.closed {
		return 0, ErrClosed
	}
	if rerr != nil {
		if errors.Is(rerr, os.ErrClosed) {
			rerr = ErrClosed
		}
		return 0, rerr
	}
	if len(fz.saved) == 0 {
		return len(p), eof
	}
	end := off + int64(len(p))
	for b := off / BlockSize; b*BlockSize < end; b++ {
		so, ok := fz.saved[b]
		if !ok {
			continue
		}
		s, e := max(b*BlockSize, off), min((b+1)*BlockSize, end)
		part := p[s-off : e-off]
		switch {
		case so == -2:
			copy(part, fz.mem[b][s-b*BlockSize:])
		case so < 0:
			clear(part)
		default:
			if _, err := fz.side.ReadAt(part, so+s-b*BlockSize); err != nil {
				return 0, fmt.Errorf("read saved block %d: %w", b, err)
			}
		}
	}
	return len(p), eof
}

// DataRanges returns the ranges of the frozen content within [off,
// off+n) that may hold data.
func (fz *Freeze) DataRanges(off, n int64) ([]Range, error) {
	n = min(off+n, fz.size) - off
	if n <= 0 {
		return nil, nil
	}
	// Live ranges first, saved blocks after: a block changed before the
	// live scan was saved before it changed, so it is in the saved set.
	live, err := dataRanges(fz.v.f, off, n)
	if err != nil {
		return nil, err
	}
	fz.v.mu.Lock()
	var saved []Range
	for b, so := range fz.saved {
		if so == -1 {
			continue
		}
		s, e := max(b*BlockSize, off), min((b+1)*BlockSize, off+n, fz.size)
		if s < e {
			saved = append(saved, Range{s, e - s})
		}
	}
	fz.v.mu.Unlock()
	return union(live, saved), nil
}

// Changes reports the blocks changed between the volume's previous base
// and the freeze instant; ok is false when that is unknown.
func (fz *Freeze) Changes() (base string, ranges []Range, ok bool) {
	return fz.base, fz.changed.ranges(fz.size), fz.trusted
}

// SavedBytes is how much old content writers copied aside so far.
func (fz *Freeze) SavedBytes() int64 {
	fz.v.mu.Lock()
	defer fz.v.mu.Unlock()
	return fz.savedBytes
}

// Commit ends the freeze after its content was durably captured as
// snapshot base: later change maps are relative to it.
func (fz *Freeze) Commit(base string) {
	fz.release(func(v *Volume) { v.base = base })
}

// Abort ends the freeze without a snapshot: the frozen changes are merged
// back, still relative to the previous base.
func (fz *Freeze) Abort() {
	fz.release(func(v *Volume) {
		v.dirty.or(fz.changed)
		v.base, v.trusted = fz.base, fz.trusted
	})
}

func (fz *Freeze) release(fn func(v *Volume)) {
	v := fz.v
	v.mu.Lock()
	if fz.done {
		v.mu.Unlock()
		return
	}
	fz.done = true
	if v.freeze == fz {
		v.freeze = nil
		fn(v)
	}
	fz.saved, fz.mem = nil, nil
	side := fz.side
	fz.side = nil
	v.mu.Unlock()
	fz.dr.Close() // a read in flight fails with os.ErrClosed, then sees done
	if side != nil {
		side.Close() // freeing the saved blocks can take a while: not under the lock
	}
}

func dataRanges(f *os.File, off, n int64) ([]Range, error) {
	return sparse.DataRanges[Range](f, off, n)
}

// union merges two sorted-or-not range lists into sorted, coalesced ranges.
func union(a, b []Range) []Range {
	all := append(append([]Range(nil), a...), b...)
	sort.Slice(all, func(i, j int) bool { return all[i].Off < all[j].Off })
	var out []Range
	for _, r := range all {
		if k := len(out); k > 0 && r.Off <= out[k-1].Off+out[k-1].Len {
			out[k-1].Len = max(out[k-1].Off+out[k-1].Len, r.Off+r.Len) - out[k-1].Off
			continue
		}
		out = append(out, r)
	}
	return out
}

func allZero(p []byte) bool {
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p) != 0 {
			return false
		}
		p = p[8:]
	}
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

const mapMagic = "SHVOLCM1"

func encodeMap(base string, trusted bool, dirty *bitmap) []byte {
	var b bytes.Buffer
	b.WriteString(mapMagic)
	if trusted {
		b.WriteByte(1)
	} else {
		b.WriteByte(0)
	}
	binary.Write(&b, binary.LittleEndian, uint16(len(base)))
	b.WriteString(base)
	b.Write(dirty.marshal())
	return b.Bytes()
}

func decodeMap(p []byte) (base string, trusted bool, dirty *bitmap, ok bool) {
	if len(p) < len(mapMagic)+3 || string(p[:len(mapMagic)]) != mapMagic {
		return "", false, nil, false
	}
	p = p[len(mapMagic):]
	trusted = p[0] == 1
	l := int(binary.LittleEndian.Uint16(p[1:]))
	p = p[3:]
	if len(p) < l {
		return "", false, nil, false
	}
	base = string(p[:l])
	dirty, ok = unmarshalBitmap(p[l:])
	return base, trusted, dirty, ok
}

func writeFileSync(path string, data []byte) error {
	f, err := datafile.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + "." + randSuffix() + ".tmp"
	if err := writeFileSync(tmp, data); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func randSuffix() string { return rand.Text()[:12] }

// ModTime is when the volume's content last changed (for ETags).
func (v *Volume) ModTime() time.Time {
	fi, err := v.f.Stat()
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}
