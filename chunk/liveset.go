package chunk

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"fmt"
	"github.com/safehold/safehold/internal/datafile"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// LiveSet is the set of chunk IDs a garbage collection found referenced
// (its mark), bounded in memory whatever the repository's size: IDs are
// buffered up to a limit, then sorted and spilled to a file in the cache
// directory; Finish merges the spills into one sorted, deduplicated file
// of which memory keeps only a Bloom filter (10 bits per ID) and one
// fence per block of liveBlock IDs, about 1.5 bytes per live chunk (~24
// MiB at 16 million). Has answers an absent ID from the filter and a
// present one with one 4 KiB pread. A set that never spilled stays a
// sorted slice in memory.
//
// Add and Finish are for one goroutine; after Finish, Has is safe for
// concurrent use. Close removes the files.
type LiveSet struct {
	dir    string // spill directory, created at the first spill
	max    int
	buf    []ID
	spills []string // sorted, deduplicated spill files
	nspill int64    // IDs in the spills (duplicates across spills counted)
	files  int      // spill files written
	done   bool
	closed bool
	// keepSpills leaves the spill files in place after Finish (a merge of
	// a Writer's runs, whose files their own sets still read).
	keepSpills bool

	mem    []ID // sorted, when nothing spilled
	f      *os.File
	n      int64
	fences []ID
	bcrc   []uint32
	bloom  []uint64
	mu     sync.Mutex // guards blk
	blk    []byte
}

const (
	liveBlock   = 128     // IDs per block of the merged file (4 KiB)
	liveMemIDs  = 1 << 19 // IDs buffered before a spill by default (16 MiB)
	liveDirName = "gc"
)

// NewLiveSet starts an empty set that keeps at most memIDs IDs in memory
// before spilling to the cache directory (0: 512 Ki, 16 MiB).
func (s *Store) NewLiveSet(memIDs int) *LiveSet {
	if memIDs <= 0 {
		memIDs = liveMemIDs
	}
	return &LiveSet{dir: filepath.Join(s.cacheDir, liveDirName), max: memIDs}
}

// Spilled reports how many spill files the set wrote (for tests and
// figures).
func (l *LiveSet) Spilled() int { return l.files }

// Len is the number of distinct IDs (after Finish).
func (l *LiveSet) Len() int64 { return l.n }

// Add adds an ID.
func (l *LiveSet) Add(id ID) error {
	if l.done {
		return fmt.Errorf("live set: add after finish")
	}
	l.buf = append(l.buf, id)
	if len(l.buf) >= l.max {
		return l.spill()
	}
	return nil
}

func cmpID(a, b ID) int { return bytes.Compare(a[:], b[:]) }

// sortUnique sorts ids and drops duplicates, in place.
func sortUnique(ids []ID) []ID {
	slices.SortFunc(ids, cmpID)
	return slices.Compact(ids)
}

func (l *LiveSet) spill() error {
	if len(l.buf) == 0 {
		return nil
	}
	if len(l.spills) == 0 {
		if err := datafile.MkdirAll(l.dir); err != nil {
			return fmt.Errorf("live set: %w", err)
		}
	}
	ids := sortUnique(l.buf)
	f, err := os.CreateTemp(l.dir, "spill-*")
	if err != nil {
		return fmt.Errorf("live set: %w", err)
	}
	l.spills = append(l.spills, f.Name())
	l.files++
	w := bufio.NewWriterSize(f, 256<<10)
	for i := range ids {
		w.Write(ids[i][:])
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("live set: spill: %w", err)
	}
	l.nspill += int64(len(ids))
	l.buf = l.buf[:0]
	return nil
}

type idCursor struct {
	br  *bufio.Reader
	f   *os.File
	cur ID
}

func (c *idCursor) before(o *idCursor) bool { return cmpID(c.cur, o.cur) < 0 }

// Finish ends the adding: the set becomes a sorted slice, or, when it
// spilled, one merged file.
func (l *LiveSet) Finish() error {
	if l.done {
		return nil
	}
	l.done = true
	if len(l.spills) == 0 {
		l.mem = sortUnique(l.buf)
		l.buf = nil
		l.n = int64(len(l.mem))
		return nil
	}
	if err := l.spill(); err != nil {
		return err
	}
	l.buf = nil
	out, err := os.CreateTemp(l.dir, "live-*")
	if err != nil {
		return fmt.Errorf("live set: %w", err)
	}
	l.f = out
	var h mergeHeap[*idCursor]
	defer func() {
		for _, c := range h {
			c.f.Close()
		}
	}()
	for _, name := range l.spills {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("live set: %w", err)
		}
		c := &idCursor{f: f, br: bufio.NewReaderSize(f, 64<<10)}
		if _, err := io.ReadFull(c.br, c.cur[:]); err != nil {
			f.Close()
			if err == io.EOF {
				continue
			}
			return fmt.Errorf("live set: read spill: %w", err)
		}
		h = append(h, c)
	}
	heap.Init(&h)
	nblocks := (l.nspill + liveBlock - 1) / liveBlock
	l.fences = make([]ID, 0, nblocks)
	l.bcrc = make([]uint32, 0, nblocks)
	l.bloom = make([]uint64, bloomWords(l.nspill))
	w := bufio.NewWriterSize(out, 256<<10)
	blk := make([]byte, 0, liveBlock*32)
	endBlock := func() {
		if len(blk) > 0 {
			l.bcrc = append(l.bcrc, crc(blk))
			w.Write(blk)
			blk = blk[:0]
		}
	}
	var last ID
	for len(h) > 0 {
		c := h[0]
		id := c.cur
		if l.n == 0 || id != last {
			if len(blk) == 0 {
				l.fences = append(l.fences, id)
			}
			blk = append(blk, id[:]...)
			bloomAdd(l.bloom, id)
			last = id
			l.n++
			if len(blk) == cap(blk) {
				endBlock()
			}
		}
		if _, err := io.ReadFull(c.br, c.cur[:]); err != nil {
			if err != io.EOF {
				return fmt.Errorf("live set: read spill: %w", err)
			}
			c.f.Close()
			heap.Pop(&h)
			continue
		}
		heap.Fix(&h, 0)
	}
	endBlock()
	if err := w.Flush(); err != nil {
		return fmt.Errorf("live set: write: %w", err)
	}
	if !l.keepSpills {
		for _, name := range l.spills {
			os.Remove(name)
		}
	}
	l.spills = l.spills[:0]
	l.blk = make([]byte, liveBlock*32)
	return nil
}

// Has reports whether id is in the set (after Finish).
func (l *LiveSet) Has(id ID) (bool, error) {
	if !l.done || l.closed {
		return false, fmt.Errorf("live set: lookup before finish or after close")
	}
	if l.f == nil {
		_, ok := slices.BinarySearchFunc(l.mem, id, cmpID)
		return ok, nil
	}
	if !bloomHas(l.bloom, id) {
		return false, nil
	}
	b := sort_search(len(l.fences), func(i int) bool { return cmpID(l.fences[i], id) > 0 }) - 1
	if b < 0 {
		return false, nil
	}
	first := int64(b) * liveBlock
	cnt := min(liveBlock, l.n-first)
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.blk[:cnt*32]
	if _, err := l.f.ReadAt(p, first*32); err != nil {
		return false, fmt.Errorf("live set: read block %d: %w", b, err)
	}
	if crc(p) != l.bcrc[b] {
		return false, fmt.Errorf("live set: block %d checksum mismatch: %w", b, ErrCorrupt)
	}
	i := sort_search(int(cnt), func(i int) bool { return bytes.Compare(p[i*32:i*32+32], id[:]) >= 0 })
	return i < int(cnt) && ID(p[i*32:i*32+32]) == id, nil
}

// Close removes the set's files.
func (l *LiveSet) Close() {
	l.closed = true
	if l.f != nil {
		l.f.Close()
		os.Remove(l.f.Name())
		l.f = nil
	}
	for _, name := range l.spills {
		os.Remove(name)
	}
	l.spills = nil
	l.buf, l.mem, l.bloom, l.fences, l.bcrc = nil, nil, nil, nil, nil
}

// bloomHas tests a Bloom filter built with bloomAdd.
func bloomHas(bloom []uint64, id ID) bool {
	m := uint64(len(bloom)) * 64
	if m == 0 {
		return false
	}
	h1 := binary.LittleEndian.Uint64(id[0:])
	h2 := binary.LittleEndian.Uint64(id[8:]) | 1
	for i := uint64(0); i < bloomK; i++ {
		b := (h1 + i*h2) % m
		if bloom[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}
