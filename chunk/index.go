package chunk

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/safehold/safehold/internal/datafile"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// The chunk index (ID -> pack, offset, lengths, CRC, encoding) is kept in
// the local cache directory as a small log-structured merge tree, so the
// memory it takes does not grow with the repository:
//
//   - a memory table (a map) holds the entries of packs this process is
//     writing and of packs that became durable since the last flush; it is
//     flushed to a run when it holds memTableMax entries of durable packs;
//   - runs are immutable sorted files (index/run-N.idx) of fixed-size
//     records. Memory keeps, per run, the first ID of each block of
//     runBlock records (a fence), each block's CRC-32C and a Bloom filter
//     (10 bits per entry, 7 probes: ~1 % false positives). A lookup tests
//     the Bloom filters (no I/O for absent chunks: the common case of a
//     full backup), then reads one block (~3.4 KiB, pread, served by the
//     page cache, which RSS does not count) of the newest run whose filter
//     matches;
//   - runs of similar size are merged (a streaming k-way merge, newest
//     entry wins, entries of deleted packs dropped), so there are O(log n)
//     of them;
//   - index/runs.json names the current runs. Runs are only a cache of the
//     packs' own headers: a missing or damaged run is rebuilt from the
//     header cache (or the packs), and every pack the listing holds but no
//     run covers is added at Open, so a crash between a pack put and an
//     index flush loses nothing.
//
// At 16 million chunks (1 TiB of unique 64 KiB blocks, 128 Ki packs) the
// resident part is ~20 MiB of Bloom filters, ~9 MiB of fences and ~20 MiB of
// pack table; see bench/index.sh.
const (
	recSize     = 32 + 4 + 4 + 4 + 4 + 4 + 1 // id, pack ref, off, slen, plen, crc, kind
	runBlock    = 64                         // records per fence block
	memTableMax = 1 << 16                    // durable entries kept in the memory table
	bloomBits   = 10
	bloomK      = 7
	runMagic    = "SHIDXR02"
	footerSize  = 8*6 + 4 + 8
	packRefSize = 16 + 4 + 8 // pack key (binary), entry count, pack size
)

type run struct {
	f      *os.File
	name   string
	n      int64    // records
	keys   []string // pack table: pack keys (dropped once resolved)
	sizes  []int64  // pack sizes (dropped once resolved)
	counts []uint32 // entries in each pack
	packs  []*pack  // resolved pack per ref (nil: gone)
	fences []ID     // first ID of each block
	bcrc   []uint32 // CRC of each block's records
	bloom  []uint64
}

func (r *run) mayHave(id ID) bool { return bloomHas(r.bloom, id) }

func bloomAdd(bloom []uint64, id ID) {
	m := uint64(len(bloom)) * 64
	h1 := binary.LittleEndian.Uint64(id[0:])
	h2 := binary.LittleEndian.Uint64(id[8:]) | 1
	for i := uint64(0); i < bloomK; i++ {
		b := (h1 + i*h2) % m
		bloom[b/64] |= 1 << (b % 64)
	}
}

func bloomWords(n int64) int { return int(max(1, (n*bloomBits+63)/64)) }

func compareID(a, b *ID) int {
	for i := 0; i < len(a); i += 8 {
		x, y := binary.BigEndian.Uint64(a[i:]), binary.BigEndian.Uint64(b[i:])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// rec is one index record as stored in a run.
type rec struct {
	id   ID
	ref  uint32
	kind byte
	off  uint32
	slen uint32
	plen uint32
	crc  uint32
}

func putRec(b []byte, r *rec) {
	copy(b, r.id[:])
	binary.LittleEndian.PutUint32(b[32:], r.ref)
	binary.LittleEndian.PutUint32(b[36:], r.off)
	binary.LittleEndian.PutUint32(b[40:], r.slen)
	binary.LittleEndian.PutUint32(b[44:], r.plen)
	binary.LittleEndian.PutUint32(b[48:], r.crc)
	b[52] = r.kind
}

func getRec(b []byte, r *rec) {
	copy(r.id[:], b)
	r.ref = binary.LittleEndian.Uint32(b[32:])
	r.off = binary.LittleEndian.Uint32(b[36:])
	r.slen = binary.LittleEndian.Uint32(b[40:])
	r.plen = binary.LittleEndian.Uint32(b[44:])
	r.crc = binary.LittleEndian.Uint32(b[48:])
	r.kind = b[52]
}

// lookup finds id in the run, reading its block through d's cache of
// verified blocks (under Store.mu).
func (r *run) lookup(id ID, d *diskIndex) (rec, bool, error) {
	if !r.mayHave(id) {
		return rec{}, false, nil
	}
	// The last block whose first ID is <= id.
	b := sort_search(len(r.fences), func(i int) bool { return compareID(&r.fences[i], &id) > 0 }) - 1
	if b < 0 {
		return rec{}, false, nil
	}
	first := int64(b) * runBlock
	cnt := min(runBlock, r.n-first)
	key := blockKey{r, int32(b)}
	p, hit := d.blocks[key]
	if !hit {
		p = d.buf[:cnt*recSize]
		d.blockReads++
		if _, err := r.f.ReadAt(p, first*recSize); err != nil {
			return rec{}, false, fmt.Errorf("chunk index %s: read block %d: %w", r.name, b, err)
		}
		if crc(p) != r.bcrc[b] {
			return rec{}, false, fmt.Errorf("chunk index %s: block %d checksum mismatch (delete the cache directory to rebuild it): %w", r.name, b, ErrCorrupt)
		}
		p = d.keep(key, p)
	}
	i := sort_search(int(cnt), func(i int) bool { return compareID((*ID)(p[i*recSize:i*recSize+32]), &id) >= 0 })
	if i < int(cnt) && ID(p[i*recSize:i*recSize+32]) == id {
		var out rec
		getRec(p[i*recSize:], &out)
		return out, true, nil
	}
	return rec{}, false, nil
}

// sort_search is sort.Search without the interface conversion.
func sort_search(n int, f func(int) bool) int {
	i, j := 0, n
	for i < j {
		h := int(uint(i+j) >> 1)
		if !f(h) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// runWriter streams sorted records into a new run file.
type runWriter struct {
	f      *os.File
	w      *bufio.Writer
	n      int64
	blk    []byte
	fences []ID
	bcrc   []uint32
	bloom  []uint64
	last   ID
	err    error
}

func newRunWriter(path string, maxRecs int64) (*runWriter, error) {
	f, err := datafile.Create(path)
	if err != nil {
		return nil, err
	}
	nb := (maxRecs + runBlock - 1) / runBlock
	return &runWriter{f: f, w: bufio.NewWriterSize(f, 1<<20), blk: make([]byte, 0, runBlock*recSize),
		fences: make([]ID, 0, nb), bcrc: make([]uint32, 0, nb), bloom: make([]uint64, bloomWords(maxRecs))}, nil
}

func (rw *runWriter) add(r *rec) {
	if rw.n > 0 && compareID(&rw.last, &r.id) >= 0 {
		rw.err = fmt.Errorf("chunk index: records out of order")
		return
	}
	rw.last = r.id
	if len(rw.blk) == 0 {
		rw.fences = append(rw.fences, r.id)
	}
	var b [recSize]byte
	putRec(b[:], r)
	rw.blk = append(rw.blk, b[:]...)
	bloomAdd(rw.bloom, r.id)
	rw.n++
	if len(rw.blk) == runBlock*recSize {
		rw.endBlock()
	}
}

func (rw *runWriter) endBlock() {
	if len(rw.blk) == 0 {
		return
	}
	rw.bcrc = append(rw.bcrc, crc(rw.blk))
	if _, err := rw.w.Write(rw.blk); err != nil && rw.err == nil {
		rw.err = err
	}
	rw.blk = rw.blk[:0]
}

// finish writes the pack table, fences, Bloom filter and footer, and
// returns the open run (packs unresolved). The metadata is streamed (its
// checksum computed on the way), never assembled in memory: at 16 million
// entries it is ~30 MiB.
func (rw *runWriter) finish(name string, keys []string, sizes []int64, counts []uint32) (*run, error) {
	rw.endBlock()
	sum := crc32.New(castagnoli)
	mw := io.MultiWriter(rw.w, sum)
	var b [packRefSize]byte
	write := func(p []byte) {
		if rw.err == nil {
			_, rw.err = mw.Write(p)
		}
	}
	for i, k := range keys {
		hx := strings.TrimPrefix(k, packPrefix)
		if len(hx) != 32 {
			rw.f.Close()
			return nil, fmt.Errorf("chunk index: pack key %q", k)
		}
		if _, err := hex.Decode(b[:16], []byte(hx)); err != nil {
			rw.f.Close()
			return nil, fmt.Errorf("chunk index: pack key %q", k)
		}
		binary.LittleEndian.PutUint32(b[16:], counts[i])
		binary.LittleEndian.PutUint64(b[20:], uint64(sizes[i]))
		write(b[:packRefSize])
	}
	for i := range rw.fences {
		write(rw.fences[i][:])
		binary.LittleEndian.PutUint32(b[:4], rw.bcrc[i])
		write(b[:4])
	}
	for _, w := range rw.bloom {
		binary.LittleEndian.PutUint64(b[:8], w)
		write(b[:8])
	}
	foot := make([]byte, 0, footerSize)
	foot = binary.LittleEndian.AppendUint64(foot, uint64(rw.n))
	foot = binary.LittleEndian.AppendUint64(foot, uint64(len(keys)))
	foot = binary.LittleEndian.AppendUint64(foot, uint64(len(rw.fences)))
	foot = binary.LittleEndian.AppendUint64(foot, uint64(len(rw.bloom)))
	foot = binary.LittleEndian.AppendUint64(foot, 0)
	foot = binary.LittleEndian.AppendUint64(foot, 0)
	foot = binary.LittleEndian.AppendUint32(foot, sum.Sum32())
	foot = append(foot, runMagic...)
	if rw.err == nil {
		_, rw.err = rw.w.Write(foot)
	}
	if rw.err == nil {
		rw.err = rw.w.Flush()
	}
	if rw.err != nil {
		rw.f.Close()
		return nil, rw.err
	}
	return &run{f: rw.f, name: name, n: rw.n, keys: keys, sizes: sizes, counts: counts, fences: rw.fences, bcrc: rw.bcrc, bloom: rw.bloom}, nil
}

// openRun opens a run file and loads its resident parts.
func openRun(path string) (*run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := readRun(f, filepath.Base(path))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("chunk index %s: %w", filepath.Base(path), err)
	}
	return r, nil
}

func readRun(f *os.File, name string) (*run, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < footerSize {
		return nil, ErrCorrupt
	}
	foot := make([]byte, footerSize)
	if _, err := f.ReadAt(foot, fi.Size()-footerSize); err != nil {
		return nil, err
	}
	if string(foot[footerSize-8:]) != runMagic {
		return nil, fmt.Errorf("bad magic: %w", ErrCorrupt)
	}
	n := int64(binary.LittleEndian.Uint64(foot[0:]))
	np := int64(binary.LittleEndian.Uint64(foot[8:]))
	nf := int64(binary.LittleEndian.Uint64(foot[16:]))
	nb := int64(binary.LittleEndian.Uint64(foot[24:]))
	metaLen := np*packRefSize + nf*36 + nb*8
	if n < 0 || np < 0 || nf != (n+runBlock-1)/runBlock || nb <= 0 || n*recSize+metaLen+footerSize != fi.Size() {
		return nil, fmt.Errorf("bad sizes: %w", ErrCorrupt)
	}
	meta := make([]byte, metaLen)
	if _, err := f.ReadAt(meta, n*recSize); err != nil {
		return nil, err
	}
	if crc(meta) != binary.LittleEndian.Uint32(foot[48:]) {
		return nil, fmt.Errorf("checksum mismatch: %w", ErrCorrupt)
	}
	r := &run{f: f, name: name, n: n, keys: make([]string, np), sizes: make([]int64, np), counts: make([]uint32, np),
		fences: make([]ID, nf), bcrc: make([]uint32, nf), bloom: make([]uint64, nb)}
	for i := range r.keys {
		r.keys[i] = packPrefix + hex.EncodeToString(meta[:16])
		r.counts[i] = binary.LittleEndian.Uint32(meta[16:])
		r.sizes[i] = int64(binary.LittleEndian.Uint64(meta[20:]))
		meta = meta[packRefSize:]
	}
	for i := range r.fences {
		copy(r.fences[i][:], meta)
		r.bcrc[i] = binary.LittleEndian.Uint32(meta[32:])
		meta = meta[36:]
	}
	for i := range r.bloom {
		r.bloom[i] = binary.LittleEndian.Uint64(meta)
		meta = meta[8:]
	}
	return r, nil
}

// cursor reads a run's records in order.
type cursor struct {
	r    *run
	age  int // 0 = newest
	br   *bufio.Reader
	left int64
	cur  rec
	buf  [recSize]byte
}

func (c *cursor) next() (bool, error) {
	if c.left == 0 {
		return false, nil
	}
	if _, err := io.ReadFull(c.br, c.buf[:]); err != nil {
		return false, fmt.Errorf("chunk index %s: %w", c.r.name, err)
	}
	getRec(c.buf[:], &c.cur)
	c.left--
	return true, nil
}

// before orders a merge's cursors: by ID, then the newest run first.
func (c *cursor) before(o *cursor) bool {
	if d := compareID(&c.cur.id, &o.cur.id); d != 0 {
		return d < 0
	}
	return c.age < o.age
}

// mergeHeap is the heap of a k-way merge's cursors (index runs, live set
// spills), the one to read next first.
type mergeHeap[C interface{ before(C) bool }] []C

func (h mergeHeap[C]) Len() int           { return len(h) }
func (h mergeHeap[C]) Less(i, j int) bool { return h[i].before(h[j]) }
func (h mergeHeap[C]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap[C]) Push(x any)        { *h = append(*h, x.(C)) }
func (h *mergeHeap[C]) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// mergeRuns writes one run holding the entries of runs (newest first) whose
// pack is alive; for an ID present in several runs with a live pack (two
// copies of a chunk), the newest run's entry wins unless pick (see
// pickCopies) chooses another: then the merge is written again with the
// chosen ones. The runs' packs must be resolved.
func mergeRuns(path, name string, runs []*run, alive map[*pack]bool, pick func([][]copyOf) []int) (*run, error) {
	r, groups, err := mergeOnce(path, name, runs, alive, nil, pick != nil)
	if err != nil || len(groups) == 0 {
		return r, err
	}
	chosen := make(map[ID]copyOf)
	for g, k := range pick(groups) {
		if k != 0 {
			chosen[groups[g][k].r.id] = groups[g][k]
		}
	}
	if len(chosen) == 0 {
		return r, nil
	}
	r.f.Close()
	r, _, err = mergeOnce(path, name, runs, alive, chosen, false)
	return r, err
}

// mergeDupsMax bounds the groups of copies one merge collects for pick
// (beyond it the newest run's entry wins, as lookups would have it).
const mergeDupsMax = 1 << 16

// mergeOnce is mergeRuns with the copies chosen so far (by ID); with
// collect it returns the groups of copies it met, newest run first.
func mergeOnce(path, name string, runs []*run, alive map[*pack]bool, chosen map[ID]copyOf, collect bool) (*run, [][]copyOf, error) {
	var keys []string
	var sizes []int64
	var counts []uint32
	newRef := make([][]int32, len(runs))
	at := make(map[*pack]int32)
	var total int64
	for i, r := range runs {
		newRef[i] = make([]int32, len(r.packs))
		for j, p := range r.packs {
			newRef[i][j] = -1
			if p == nil || !alive[p] {
				continue
			}
			ref, ok := at[p]
			if !ok {
				ref = int32(len(keys))
				at[p] = ref
				keys = append(keys, p.key)
				sizes = append(sizes, p.size)
				counts = append(counts, r.counts[j])
			}
			newRef[i][j] = ref
		}
		total += r.n
	}
	rw, err := newRunWriter(path, total)
	if err != nil {
		return nil, nil, err
	}
	h := make(mergeHeap[*cursor], 0, len(runs))
	for i, r := range runs {
		c := &cursor{r: r, age: i, left: r.n, br: bufio.NewReaderSize(io.NewSectionReader(r.f, 0, r.n*recSize), mergeBuf(len(runs)))}
		ok, err := c.next()
		if err != nil {
			rw.f.Close()
			return nil, nil, err
		}
		if ok {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	var groups [][]copyOf
	var group []copyOf // the live copies of the current ID
	var recs []rec     // and their records, refs of the new run
	for len(h) > 0 {
		id := h[0].cur.id
		group, recs = group[:0], recs[:0]
		for len(h) > 0 && h[0].cur.id == id {
			c := h[0]
			rc := c.cur
			if ref := newRef[c.age][rc.ref]; ref >= 0 {
				p := c.r.packs[rc.ref]
				if !slices.ContainsFunc(group, func(o copyOf) bool { return o.key == p.key && o.r.off == rc.off }) {
					group = append(group, copyOf{key: p.key, mod: p.modTime, r: rc})
					rc.ref = uint32(ref)
					recs = append(recs, rc)
				}
			}
			ok, err := c.next()
			if err != nil {
				rw.f.Close()
				return nil, nil, err
			}
			if ok {
				heap.Fix(&h, 0)
			} else {
				heap.Pop(&h)
			}
		}
		if len(recs) == 0 {
			continue
		}
		k := 0
		if len(group) > 1 {
			if c, ok := chosen[id]; ok {
				k = max(0, slices.IndexFunc(group, func(o copyOf) bool { return o.key == c.key && o.r.off == c.r.off }))
			} else if collect && len(groups) < mergeDupsMax {
				groups = append(groups, slices.Clone(group))
			}
		}
		rw.add(&recs[k])
	}
	r, err := rw.finish(name, keys, sizes, counts)
	return r, groups, err
}

// mergeBuf sizes each input's read buffer of a k-way merge: 4 MiB in all,
// between 32 and 256 KiB each.
func mergeBuf(k int) int { return min(256<<10, max(32<<10, (4<<20)/max(k, 1))) }

// collectRecs lists the records of packs' entries for which keep holds.
func collectRecs(packs []*pack, keep func(ID, *pack) bool) []rec {
	var n int
	for _, p := range packs {
		n += len(p.entries)
	}
	recs := make([]rec, 0, n)
	for i, p := range packs {
		for _, e := range p.entries {
			if keep == nil || keep(e.id, p) {
				recs = append(recs, rec{id: e.id, ref: uint32(i), kind: e.kind, off: e.off, slen: e.slen, plen: e.plen, crc: e.crc})
			}
		}
	}
	return recs
}

// writeRun writes a run for packs from recs (refs index packs), or from
// all the packs' entries when recs is nil. Of the records of one ID (two
// copies of a chunk) it keeps the one pick chooses (see pickCopies; nil:
// the newer pack's).
func writeRun(path, name string, packs []*pack, recs []rec, pick func([][]copyOf) []int) (*run, error) {
	if recs == nil {
		recs = collectRecs(packs, nil)
	}
	keys := make([]string, len(packs))
	sizes := make([]int64, len(packs))
	counts := make([]uint32, len(packs))
	for i, p := range packs {
		keys[i], sizes[i], counts[i] = p.key, p.size, uint32(p.n)
	}
	copyIn := func(r rec) copyOf { return copyOf{key: packs[r.ref].key, mod: packs[r.ref].modTime, r: r} }
	slices.SortFunc(recs, func(a, b rec) int {
		if c := compareID(&a.id, &b.id); c != 0 {
			return c
		}
		if a.ref == b.ref {
			return 0
		}
		return byPreference(copyIn(a), copyIn(b))
	})
	// Copies that meet here: the chosen one goes first.
	if groups, at := dupGroups(recs, copyIn); len(groups) > 0 && pick != nil {
		for g, k := range pick(groups) {
			c := groups[g][k]
			for i := at[g]; i < len(recs) && recs[i].id == c.r.id; i++ {
				if packs[recs[i].ref].key == c.key && recs[i].off == c.r.off {
					recs[at[g]], recs[i] = recs[i], recs[at[g]]
					break
				}
			}
		}
	}
	rw, err := newRunWriter(path, int64(len(recs)))
	if err != nil {
		return nil, err
	}
	for i := range recs {
		if i > 0 && recs[i].id == recs[i-1].id {
			continue
		}
		rw.add(&recs[i])
	}
	return rw.finish(name, keys, sizes, counts)
}

// diskIndex is the persistent part of the index; the Store's mu guards its
// runs slice, idxMu serializes changes to the set of runs.
type diskIndex struct {
	dir    string
	idxMu  sync.Mutex
	seq    int
	runs   []*run // oldest first
	buf    []byte // lookup scratch (used under Store.mu)
	closed bool

	// Blocks of the runs read and verified, kept up to blockCacheMax
	// bytes (under Store.mu): a restore looks up every block of a run of
	// 64 under the store's mutex, and each lookup read a ~3.4 KiB block
	// with a pread and checked its CRC (~20,000 of them for the bench's
	// 2 GiB image, whose whole index is ~1 MiB); runs never change, so a
	// verified block stays good until its run is merged away.
	blocks     map[blockKey][]byte
	blockBytes int
	blockReads int // blocks read from the run files (for the tests)
}

type blockKey struct {
	r *run
	b int32
}

// blockCacheMax bounds the cache of verified index blocks (~1,200 blocks:
// the whole index of ~80,000 chunks, 5 GiB of unique 64 KiB blocks; a
// variable for the tests).
var blockCacheMax = 4 << 20

// keep caches a copy of a verified block p of key (making room by
// dropping others) and returns it.
func (d *diskIndex) keep(key blockKey, p []byte) []byte {
	if d.blocks == nil {
		d.blocks = make(map[blockKey][]byte)
	}
	for k, v := range d.blocks {
		if d.blockBytes+len(p) <= blockCacheMax {
			break
		}
		delete(d.blocks, k)
		d.blockBytes -= len(v)
	}
	c := slices.Clone(p)
	d.blocks[key] = c
	d.blockBytes += len(c)
	return c
}

// forget drops the cached blocks of runs (merged away).
func (d *diskIndex) forget(runs []*run) {
	for k, v := range d.blocks {
		if slices.Contains(runs, k.r) {
			delete(d.blocks, k)
			d.blockBytes -= len(v)
		}
	}
}

// close closes the run files (Store.mu or exclusive use).
func (d *diskIndex) close() {
	d.idxMu.Lock()
	defer d.idxMu.Unlock()
	d.closed = true
	for _, r := range d.runs {
		r.f.Close()
	}
	d.blocks, d.blockBytes = nil, 0
}

type runList struct {
	Seq  int      `json:"seq"`
	Runs []string `json:"runs"`
}

func (d *diskIndex) listPath() string { return filepath.Join(d.dir, "runs.json") }

// load opens the runs named in runs.json; on any damage it starts empty.
func (d *diskIndex) load() {
	d.buf = make([]byte, runBlock*recSize)
	datafile.MkdirAll(d.dir)
	b, err := os.ReadFile(d.listPath())
	var l runList
	if err == nil {
		err = json.Unmarshal(b, &l)
	}
	var runs []*run
	if err == nil {
		for _, name := range l.Runs {
			r, err2 := openRun(filepath.Join(d.dir, name))
			if err2 != nil {
				err = err2
				break
			}
			runs = append(runs, r)
		}
	}
	if err != nil {
		for _, r := range runs {
			r.f.Close()
		}
		runs = nil
	}
	d.seq = l.Seq
	d.runs = runs
	d.cleanup()
}

// cleanup removes run files not in the current list.
func (d *diskIndex) cleanup() {
	keep := make(map[string]bool)
	for _, r := range d.runs {
		keep[r.name] = true
	}
	ents, _ := os.ReadDir(d.dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "run-") && !keep[e.Name()] {
			os.Remove(filepath.Join(d.dir, e.Name()))
		}
	}
}

func (d *diskIndex) newName() (string, string) {
	d.seq++
	name := fmt.Sprintf("run-%08d.idx", d.seq)
	return filepath.Join(d.dir, name), name
}

// saveList records runs (atomically: write, fsync, rename).
func (d *diskIndex) saveList(runs []*run) error {
	l := runList{Seq: d.seq}
	for _, r := range runs {
		l.Runs = append(l.Runs, r.name)
	}
	b, _ := json.Marshal(l)
	tmp := d.listPath() + ".tmp"
	f, err := datafile.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, d.listPath())
	}
	return err
}

// pickMerge returns the index of the oldest run of the newest window worth
// merging (runs of similar size), or -1.
func pickMerge(runs []*run, dead func(*run) int64) int {
	n := len(runs)
	if n < 2 {
		if n == 1 && dead(runs[0])*2 > runs[0].n && runs[0].n > 0 {
			return 0 // mostly entries of deleted packs: rewrite
		}
		return -1
	}
	acc := runs[n-1].n
	i := n - 1
	for i > 0 && runs[i-1].n <= 2*acc {
		i--
		acc += runs[i].n
	}
	if i == n-1 {
		return -1
	}
	return i
}

var errIndexClosed = errors.New("chunk index closed")
