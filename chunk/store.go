package chunk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/safehold/safehold/internal/datafile"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/safehold/safehold/blob"
)

// ErrNotFound is wrapped when a chunk is not in the store.
var ErrNotFound = errors.New("chunk not found")

// Options configure a Store. The zero value is usable.
type Options struct {
	// Key enables authenticated encryption (XChaCha20-Poly1305) of chunks,
	// pack headers and objects, and keys the chunk-ID hash. 32 bytes; nil
	// stores plaintext. A store created with a key can only be opened with
	// the same key.
	Key []byte
	// PackSize is the target size of pack objects (default 8 MiB).
	PackSize int
	// Uploads bounds concurrent pack uploads (default 2). Each in-flight
	// pack holds up to PackSize bytes of memory.
	Uploads int
	// Workers sizes the compressor pools (default GOMAXPROCS).
	Workers int
	// Compression is CompressionMinLZ (default), CompressionS2,
	// CompressionZstd or CompressionNone. Chunks stay readable whatever a
	// later Open chooses. MinLZ is written only to a store whose config
	// is format 2 (created by a MinLZ store): a store created in format 1
	// (before MinLZ, or with another compression) keeps being written
	// with S2 in its place, so that a Safehold binary from before MinLZ,
	// which refuses format 2, still reads every record of a format-1
	// store instead of taking MinLZ records for damage.
	Compression string
	// OlderReaders, when set, is asked when the store has no config yet
	// (this Open creates it): true when a process that reads only format
	// 1 may open the store too (a replica of a version before MinLZ
	// sharing the object storage, during a rolling upgrade), and the
	// store is then created in format 1 (S2 in MinLZ's place), which it
	// reads; false, or nil: the compression's format.
	OlderReaders func(ctx context.Context) (bool, error)
	// Now stamps pack times for grace windows (default time.Now).
	Now func() time.Time
	// IndexMemory is how many index entries of durable packs stay in
	// memory before they are written to the on-disk index (default 65536,
	// ~6 MiB). The rest of the index lives in the cache directory; see
	// index.go.
	IndexMemory int
	// WriterMemory is how many chunk references a Writer keeps in memory
	// before it writes them, sorted, to a run in the cache directory
	// (default 65536, ~4 MiB); see refset.go.
	WriterMemory int
}

const configKey = "config"

// Store formats: format 1 stores hold raw, zstd and S2 records; format 2
// stores may hold MinLZ records too. Binaries that read only format 1
// refuse to open a format-2 store ("unsupported store format 2/blake3").
const (
	formatV1    = 1
	formatMinLZ = 2
)

// MaxFormat is the newest store format this binary opens (replicas
// advertise it to each other: Options.OlderReaders).
const MaxFormat = formatMinLZ

type storeConfig struct {
	Version   int    `json:"version"`
	Hash      string `json:"hash"`
	Encrypted bool   `json:"encrypted"`
	KeyCheck  string `json:"keyCheck,omitempty"`
}

type packState int

const (
	packOpen      packState = iota // being filled
	packUploading                  // sealed, put in flight
	packDurable                    // stored and indexed
	packFailed                     // put failed; its chunks left the index
	packGone                       // deleted (by GC here or elsewhere)
)

type pack struct {
	key     string
	idx     int32
	state   packState
	size    int64
	modTime time.Time
	seq     uint64 // s.seq when it became durable in this process
	n       int32  // entries in the pack
	inRun   bool   // its entries are in a run of the disk index
	// uncached: put by this store, its header not in the header cache yet
	// (flushMem writes it there; hdrcache.go)
	uncached bool
	entries  []entry // while open, uploading or in the memory table (nil afterwards: see packEntries)
	buf      []byte  // records while not durable
	// owned: a Tail writes past len(buf) (the pack is in no open list);
	// sealReq: a Flush waits for it, so its owner seals it when done.
	owned, sealReq bool
	done           chan struct{}
	err            error
	// replaced: the memory table's earlier locations of chunks this pack
	// indexed over another copy (a repack's), put back if its put fails.
	replaced []idLoc
}

type idLoc struct {
	id ID
	l  loc
}

type loc struct {
	pack int32
	kind byte
	off  uint32
	slen uint32
	plen uint32
	crc  uint32
}

// Store is a content-addressed chunk store on a blob.Backend. Chunks are
// compressed (zstd, raw when incompressible), optionally encrypted, and
// packed into pack objects; a local index bounded in memory (index.go),
// kept in the cache directory and completed from pack headers at Open and
// Refresh, answers existence checks without a round trip.
//
// A Store is safe for concurrent use. Only one Store (in one process) may
// write to a backend at a time unless the grace window of GC exceeds the
// longest capture; see Sweep.
type Store struct {
	format   int // the store's format (its config's version)
	be       blob.Backend
	cacheDir string
	c        *codec
	packSize int
	now      func() time.Time
	memMax   int
	bg       context.Context // for uploads shared by several writers
	sem      chan struct{}
	uploads  sync.WaitGroup
	gcMu     sync.Mutex
	encBufs  sync.Pool
	readBufs sync.Pool // GetMany's range buffers

	mu        sync.Mutex
	mem       map[ID]loc // memory table of the index (see index.go)
	disk      diskIndex
	unflushed []*pack // durable packs whose entries are only in mem
	memDur    int     // entries of unflushed packs
	flushing  bool
	flushWG   sync.WaitGroup
	doomed    map[ID]int32 // garbage being swept: id -> pack idx it must not be found in
	damaged   map[ID]int32 // copies found damaged (verify, a read): id -> pack idx of the copy (see damaged.go)
	nchunks   int
	listedAt  time.Time // last Refresh's listing
	// Listings are numbered as they start; listDone is the number of the
	// latest one completed (a Get that misses lists again unless a listing
	// that started after the Get began has completed).
	listStarts, listDone uint64
	// A read that finds a damaged copy lists the packs again (another
	// store may have stored the chunk since) at most once per
	// damageRelist: damageListedAt is when the last such listing started,
	// damageListing is closed when the one in flight ends.
	damageListedAt time.Time
	damageListing  chan struct{}
	// ageListing is RefreshIfOlder's listing in flight, which callers
	// arriving meanwhile wait for instead of listing the bucket again.
	ageListing    *pendingListing
	damageLines   []string // marks to append to damagedFile (see keepDamaged)
	damageWriting bool
	packs         []*pack
	byKey         map[string]*pack
	open          []*pack // open packs no Tail owns; addRun fills the last
	free          [][]byte
	writers       map[*Writer]struct{}
	marking       int
	held          map[ID]struct{} // refs of writers closed during a GC mark
	heldRuns      []*LiveSet      // and their runs (refset.go)
	writerMem     int
	badPacks      map[string]error
	lost          map[ID]lostChunk // chunks of deleted or unreadable packs, known from header caches (see Lost)
	seq           uint64           // counts packs made durable here
	keyByte       byte             // first byte of new pack keys (newPackKeyLocked)
	keyRun        int              // keys made with it, modulo packKeyRun
	closed        bool
}

// Open opens the store on be, creating its configuration on first use.
// cacheDir keeps copies of pack headers so opening does not read every pack
// from the backend.
func Open(ctx context.Context, be blob.Backend, cacheDir string, opts Options) (*Store, error) {
	if opts.PackSize <= 0 {
		opts.PackSize = 8 << 20
	}
	if opts.Uploads <= 0 {
		opts.Uploads = 2
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.IndexMemory <= 0 {
		opts.IndexMemory = memTableMax
	}
	if opts.WriterMemory <= 0 {
		opts.WriterMemory = writerMemIDs
	}
	level := zstd.SpeedFastest
	c, err := newCodec(opts.Key, level, opts.Workers)
	if err != nil {
		return nil, fmt.Errorf("open chunk store: %w", err)
	}
	switch opts.Compression {
	case "", CompressionMinLZ:
		c.comp = kindMinLZ
	case CompressionS2:
		c.comp = kindS2
	case CompressionZstd:
		c.comp = kindZstd
	case CompressionNone:
		c.comp = kindRaw
	default:
		c.close()
		return nil, fmt.Errorf("open chunk store: unknown compression %q", opts.Compression)
	}
	os.RemoveAll(filepath.Join(cacheDir, liveDirName)) // live sets of a GC that was interrupted
	if err := datafile.MkdirAll(filepath.Join(cacheDir, "packs")); err != nil {
		return nil, fmt.Errorf("open chunk store: %w", err)
	}
	s := &Store{
		be: be, cacheDir: cacheDir, c: c, packSize: opts.PackSize, now: opts.Now, memMax: opts.IndexMemory,
		writerMem: opts.WriterMemory,
		bg:        context.WithoutCancel(ctx),
		sem:       make(chan struct{}, opts.Uploads),
		mem:       make(map[ID]loc),
		doomed:    make(map[ID]int32),
		damaged:   make(map[ID]int32),
		disk:      diskIndex{dir: filepath.Join(cacheDir, "index")},
		byKey:     make(map[string]*pack),
		writers:   make(map[*Writer]struct{}),
		badPacks:  make(map[string]error),
		lost:      make(map[ID]lostChunk),
	}
	if err := s.loadConfig(ctx, opts.Key != nil, opts.OlderReaders); err != nil {
		c.close()
		return nil, fmt.Errorf("open chunk store: %w", err)
	}
	s.disk.load()
	if err := s.Refresh(ctx); err != nil {
		s.disk.close()
		c.close()
		return nil, fmt.Errorf("open chunk store: %w", err)
	}
	s.loadDamaged()
	return s, nil
}

func (s *Store) loadConfig(ctx context.Context, encrypted bool, olderReaders func(context.Context) (bool, error)) error {
	want := storeConfig{Version: formatV1, Hash: "blake3", Encrypted: encrypted}
	if s.c.comp == kindMinLZ {
		want.Version = formatMinLZ
	}
	if encrypted {
		want.KeyCheck = s.c.sum([]byte("safehold key check")).String()
	}
	for attempt := 0; attempt < 2; attempt++ {
		b, err := s.be.Get(ctx, configKey, 0, -1)
		if errors.Is(err, blob.ErrNotExist) {
			if want.Version == formatMinLZ && olderReaders != nil {
				older, err := olderReaders(ctx)
				if err != nil {
					return fmt.Errorf("create config: %w", err)
				}
				if older {
					want.Version = formatV1
				}
			}
			js, _ := json.Marshal(want)
			err = s.be.Put(ctx, configKey, s.c.sealObject(configKey, js))
			if errors.Is(err, blob.ErrExist) {
				continue // another process created it: read theirs
			}
			if err == nil && want.Version == formatV1 && s.c.comp == kindMinLZ {
				s.c.comp = kindS2 // as in a format-1 store found (below)
			}
			s.format = want.Version
			return err
		}
		if err != nil {
			return err
		}
		// The config is sealed only by the outer frame when unencrypted; an
		// encrypted store's config is encrypted, so try the frame first.
		js, err := s.c.openObject(configKey, b)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		var got storeConfig
		if err := json.Unmarshal(js, &got); err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		if (got.Version != formatV1 && got.Version != formatMinLZ) || got.Hash != "blake3" {
			return fmt.Errorf("unsupported store format %d/%s", got.Version, got.Hash)
		}
		if got.Encrypted && got.KeyCheck != want.KeyCheck {
			return fmt.Errorf("wrong store key")
		}
		if got.Version == formatV1 && s.c.comp == kindMinLZ {
			// Older binaries read this store: write S2 records, which
			// they read, instead of MinLZ ones, which they would take
			// for damage.
			s.c.comp = kindS2
		}
		s.format = got.Version
		return nil
	}
	return fmt.Errorf("create config: lost a race twice")
}

// Format is the store's format: 1 (raw, zstd and S2 records, which every
// version reads) or 2 (MinLZ records too).
func (s *Store) Format() int { return s.format }

// Close waits for in-flight uploads and releases resources. Chunks of
// writers that were never flushed are dropped.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.uploads.Wait()
	s.syncPuts(s.bg) // packs no writer flushed are garbage, but durable as ever before
	s.flushWG.Wait()
	s.flushMem() // so the next Open need not read these packs' headers
	s.disk.close()
	s.c.close()
	return nil
}

// Sum returns the ID data would be stored under.
func (s *Store) Sum(data []byte) ID { return s.c.sum(data) }

// Has reports whether the chunk is in the index (stored or being stored).
func (s *Store) Has(id ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok, _ := s.lookupLocked(id)
	return ok
}

// SameIDs reports whether two stores name identical content with identical
// IDs (both unencrypted, or with the same key), so IDs can be copied.
func (s *Store) SameIDs(o *Store) bool {
	probe := []byte("safehold id probe")
	return s.c.sum(probe) == o.c.sum(probe)
}

// Size returns the number of chunks and the bytes of durable packs.
func (s *Store) Size() (chunks int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.packs {
		if p != nil && p.state == packDurable {
			bytes += p.size
		}
	}
	return s.nchunks, bytes
}

// packKeyRun is how many consecutive pack keys of a store share their
// first byte (see newPackKeyLocked).
const packKeyRun = 64

// newPackKeyLocked returns a new pack key: 128 random bits, except that
// runs of packKeyRun consecutive keys share their first byte, itself
// random. The local backend shards packs by that byte (pack/3f/3fa2…):
// with every byte random, the first backup into a new repository (130
// packs of the bench image) created ~100 shard directories, each a new
// inode and two fsyncs (1.3 % of its CPU); now a few. Over many runs the
// packs still spread over all 256 shards, and 120 random bits keep keys
// unique.
func (s *Store) newPackKeyLocked() string {
	var b [16]byte
	rand.Read(b[:])
	if s.keyRun == 0 {
		s.keyByte = b[0]
	}
	s.keyRun = (s.keyRun + 1) % packKeyRun
	b[0] = s.keyByte
	return packPrefix + hex.EncodeToString(b[:])
}

func (s *Store) cachePath(key string) string {
	return filepath.Join(s.cacheDir, "packs", strings.TrimPrefix(key, packPrefix))
}

// Refresh brings the index in line with the packs in the backend: packs
// written by others are added (from the local header cache when possible),
// packs deleted by others are dropped.
func (s *Store) Refresh(ctx context.Context) error {
	s.mu.Lock()
	seq := s.seq // packs made durable after this may be missing from the listing
	s.listStarts++
	gen := s.listStarts
	s.mu.Unlock()
	listed := make(map[string]blob.Info)
	err := s.be.List(ctx, packPrefix, func(in blob.Info) error {
		listed[in.Key] = in
		return nil
	})
	if err != nil {
		return fmt.Errorf("refresh index: %w", err)
	}
	s.mu.Lock()
	s.listedAt = s.now()
	s.listDone = max(s.listDone, gen)
	for key, p := range s.byKey {
		if _, ok := listed[key]; !ok && p.state == packDurable && p.seq <= seq {
			// Not deleted by this store's GC (that drops packs itself):
			// keep the cached header so a later open can still name the
			// pack the lost chunks were in.
			es := p.entries
			if es == nil { // in a run: the header cache still has them
				es = s.cachedEntries(key)
			}
			s.loseLocked(key, es, fmt.Errorf("pack %s was deleted: %w", key, ErrCorrupt))
			s.dropPackLocked(p)
		}
	}
	for key := range s.badPacks {
		if _, ok := listed[key]; !ok {
			delete(s.badPacks, key) // gone: nothing left to report
		}
	}
	// Packs the disk index covers need no header read.
	for _, r := range s.disk.runs {
		s.resolveLocked(r, listed)
	}
	s.loseUnlistedLocked(listed)
	var todo []blob.Info
	for key, in := range listed {
		if _, ok := s.byKey[key]; !ok {
			todo = append(todo, in)
		}
	}
	s.mu.Unlock()
	listed = nil // the bulk load below can be long: let the listing go
	// Oldest first (then by key): later batches become newer runs, which
	// lookups ask first, so where two copies of a chunk land in different
	// runs the newer pack's is found first, whatever the listing's order.
	slices.SortFunc(todo, func(a, b blob.Info) int {
		if c := a.ModTime.Compare(b.ModTime); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	// Load the headers of new packs in batches: each batch becomes a run
	// (or joins the memory table when small), so memory stays bounded
	// however many packs are new. A batch keeps its entries as index
	// records only (refs = positions in the batch), except while it is
	// small enough to join the memory table.
	batch := max(4*s.memMax, 1)
	small := s.memMax / 4
	var loaded []*pack
	var recs []rec
	nent := 0
	for i, in := range todo {
		// A bulk load (first open of a large repository) does not write the
		// header cache: one small file per pack would dominate start-up.
		// The index runs hold the entries; GC and verify read a pack's
		// header from the pack (and cache it) when they first need it.
		es, err := s.loadTail(ctx, in, len(todo) < 1024)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			err = fmt.Errorf("pack %s (%d bytes) is unreadable, truncated or damaged: %w", in.Key, in.Size, err)
			s.mu.Lock()
			s.badPacks[in.Key] = err
			if ces := s.cachedEntries(in.Key); ces != nil {
				s.loseLocked(in.Key, ces, err)
			}
			s.mu.Unlock()
		} else {
			ref := uint32(len(loaded))
			if recs == nil {
				// No regrowth (a batch ends a pack past batch entries);
				// a small refresh takes what its packs need.
				recs = make([]rec, 0, min(batch, (len(todo)-i)*len(es))+2*len(es))
			}
			for _, e := range es {
				recs = append(recs, rec{id: e.id, ref: ref, kind: e.kind, off: e.off, slen: e.slen, plen: e.plen, crc: e.crc})
			}
			n := int32(len(es))
			nent += len(es)
			if nent >= small {
				es = nil // this batch becomes a run: its records are enough
				for _, p := range loaded {
					p.entries = nil
				}
			}
			loaded = append(loaded, &pack{key: in.Key, state: packDurable, size: in.Size, modTime: in.ModTime, n: n, entries: es})
		}
		if nent >= batch || (i == len(todo)-1 && len(loaded) > 0) {
			if err := s.addLoaded(ctx, loaded, recs, nent); err != nil {
				return fmt.Errorf("refresh index: %w", err)
			}
			loaded, recs, nent = nil, nil, 0
		}
	}
	if len(todo) > 0 {
		s.disk.idxMu.Lock()
		s.compact()
		s.disk.idxMu.Unlock()
	}
	if err := s.TakeSharedDamage(ctx); err != nil {
		return fmt.Errorf("refresh index: list damage marks: %w", err)
	}
	return nil
}

// RefreshIfOlder refreshes the index unless a refresh (or Open) listed the
// packs less than age ago: a writer on a shared bucket calls it before a
// job so it deduplicates against what other replicas stored meanwhile.
// listed reports that it refreshed, without error. Callers that find a
// listing of another caller in flight wait for it and report listed false
// (the listing began before they asked): status, /metrics and dashboard
// reads arriving together once the view is stale list the bucket once.
func (s *Store) RefreshIfOlder(ctx context.Context, age time.Duration) (listed bool, err error) {
	s.mu.Lock()
	if !s.listedAt.IsZero() && s.now().Sub(s.listedAt) < age {
		s.mu.Unlock()
		return false, nil
	}
	if l := s.ageListing; l != nil {
		s.mu.Unlock()
		select {
		case <-l.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if l.err == nil || !isCanceled(l.err) || ctx.Err() != nil {
			return false, l.err
		}
		// The caller that listed went away; this one lists for itself.
		err = s.Refresh(ctx)
		return err == nil, err
	}
	l := &pendingListing{done: make(chan struct{})}
	s.ageListing = l
	s.mu.Unlock()
	l.err = s.Refresh(ctx)
	s.mu.Lock()
	s.ageListing = nil
	s.mu.Unlock()
	close(l.done)
	return l.err == nil, l.err
}

// pendingListing is a listing in flight; err is set before done closes.
type pendingListing struct {
	done chan struct{}
	err  error
}

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// resolveLocked points a run's pack refs at packs; listed packs the store
// does not know yet are added as durable packs whose entries are in the run.
func (s *Store) resolveLocked(r *run, listed map[string]blob.Info) {
	if r.keys == nil {
		return // resolved before: a pack missing then is gone for good
	}
	if r.packs == nil {
		r.packs = make([]*pack, len(r.keys))
	}
	defer func() { r.keys, r.sizes = nil, nil }()
	for i, k := range r.keys {
		if r.packs[i] != nil {
			continue
		}
		if p, ok := s.byKey[k]; ok {
			r.packs[i] = p
			continue
		}
		// A pack whose size changed (cut short, overwritten) is not trusted
		// from the run: Refresh reads its header again and reports it.
		if in, ok := listed[k]; ok && in.Size == r.sizes[i] {
			p := &pack{key: k, state: packDurable, size: in.Size, modTime: in.ModTime, n: int32(r.counts[i]), inRun: true}
			s.addPackLocked(p)
			delete(s.badPacks, k)
			r.packs[i] = p
		}
	}
}

// addLoaded indexes packs read from the listing (recs are their entries,
// refs indexing ps): a large batch is written as a run, a small one (whose
// packs still hold their entries) joins the memory table. Where a chunk
// is stored twice, the copy kept is pickCopies' (copies.go).
func (s *Store) addLoaded(ctx context.Context, ps []*pack, recs []rec, nent int) error {
	if nent < s.memMax/4 {
		chosen := s.pickLoaded(ctx, ps)
		s.mu.Lock()
		for _, p := range ps {
			if _, ok := s.byKey[p.key]; ok {
				continue
			}
			s.addPackLocked(p)
			delete(s.badPacks, p.key)
			for _, e := range p.entries {
				if c, met := chosen[e.id]; met {
					if c.key == p.key && c.r.off == e.off {
						s.mem[e.id] = loc{pack: p.idx, kind: e.kind, off: e.off, slen: e.slen, plen: e.plen, crc: e.crc}
					}
					continue
				}
				// A copy known damaged gives way to this one.
				if cur, ok := s.mem[e.id]; !ok || s.damaged[e.id] == cur.pack && s.isDamagedLocked(e.id) {
					s.mem[e.id] = loc{pack: p.idx, kind: e.kind, off: e.off, slen: e.slen, plen: e.plen, crc: e.crc}
				}
			}
			s.unflushed = append(s.unflushed, p)
			s.memDur += len(p.entries)
		}
		s.mu.Unlock()
		return nil
	}
	s.disk.idxMu.Lock()
	defer s.disk.idxMu.Unlock()
	path, name := s.disk.newName()
	r, err := writeRun(path, name, ps, recs, s.picker(ctx))
	if err != nil {
		os.Remove(path)
		return err
	}
	s.mu.Lock()
	for _, p := range ps {
		if _, ok := s.byKey[p.key]; !ok {
			p.entries, p.inRun = nil, true
			s.addPackLocked(p)
			delete(s.badPacks, p.key)
		}
	}
	s.resolveLocked(r, nil)
	s.disk.runs = append(s.disk.runs, r)
	runs := slices.Clone(s.disk.runs)
	s.mu.Unlock()
	return s.disk.saveList(runs)
}

// picker is pickCopies for writeRun and mergeRuns.
func (s *Store) picker(ctx context.Context) func([][]copyOf) []int {
	return func(groups [][]copyOf) []int { return s.pickCopies(ctx, groups) }
}

// pickLoaded chooses, for each chunk that the small batch of packs ps
// (read from the listing) holds a copy of while the index, or another of
// ps, holds another, the copy the index keeps.
func (s *Store) pickLoaded(ctx context.Context, ps []*pack) map[ID]copyOf {
	met := make(map[ID][]copyOf)
	s.mu.Lock()
	for _, p := range ps {
		if _, ok := s.byKey[p.key]; ok {
			continue
		}
		for _, e := range p.entries {
			c := copyOf{key: p.key, mod: p.modTime, r: rec{id: e.id, kind: e.kind, off: e.off, slen: e.slen, plen: e.plen, crc: e.crc}}
			if g, ok := met[e.id]; ok {
				met[e.id] = append(g, c)
				continue
			}
			l, held, _ := s.lookupLocked(e.id)
			if !held || s.packs[l.pack].state != packDurable {
				met[e.id] = []copyOf{c}
				continue
			}
			q := s.packs[l.pack]
			met[e.id] = []copyOf{{key: q.key, mod: q.modTime, r: rec{id: e.id, kind: l.kind, off: l.off, slen: l.slen, plen: l.plen, crc: l.crc}}, c}
		}
	}
	s.mu.Unlock()
	var groups [][]copyOf
	for id, g := range met {
		if len(g) < 2 {
			delete(met, id)
			continue
		}
		slices.SortFunc(g, byPreference)
		groups = append(groups, g)
	}
	chosen := make(map[ID]copyOf, len(groups))
	for i, k := range s.pickCopies(ctx, groups) {
		chosen[groups[i][k].r.id] = groups[i][k]
	}
	return chosen
}

// packEntries returns a durable pack's entries: kept in memory while in the
// memory table, else read from the header cache (or the pack).
func (s *Store) packEntries(ctx context.Context, p *pack) ([]entry, error) {
	s.mu.Lock()
	es, size, key := p.entries, p.size, p.key
	s.mu.Unlock()
	if es != nil {
		return es, nil
	}
	return s.loadTail(ctx, blob.Info{Key: key, Size: size}, true)
}

// lookupLocked finds the current location of id: the memory table first,
// then the runs, newest first. Entries in packs that are gone, or that a
// sweep is removing, are skipped.
func (s *Store) lookupLocked(id ID) (loc, bool, error) {
	// A copy known damaged is the answer only when no other copy is
	// indexed (another store of the bucket may have stored it again).
	d, hasDamaged := s.damaged[id]
	var damagedLoc loc
	var sawDamaged bool
	if l, ok := s.mem[id]; ok && s.usableLocked(id, l.pack) {
		if !hasDamaged || l.pack != d {
			return l, true, nil
		}
		damagedLoc, sawDamaged = l, true
	}
	for i := len(s.disk.runs) - 1; i >= 0; i-- {
		r := s.disk.runs[i]
		rc, ok, err := r.lookup(id, &s.disk)
		if err != nil {
			return loc{}, false, err
		}
		if !ok || int(rc.ref) >= len(r.packs) {
			continue
		}
		p := r.packs[rc.ref]
		if p == nil || p.state != packDurable || !s.usableLocked(id, p.idx) {
			continue
		}
		l := loc{pack: p.idx, kind: rc.kind, off: rc.off, slen: rc.slen, plen: rc.plen, crc: rc.crc}
		if hasDamaged && p.idx == d {
			damagedLoc, sawDamaged = l, true
			continue
		}
		return l, true, nil
	}
	if sawDamaged {
		return damagedLoc, true, nil
	}
	return loc{}, false, nil
}

func (s *Store) usableLocked(id ID, idx int32) bool {
	p := s.packs[idx]
	if p == nil || p.state == packFailed || p.state == packGone {
		return false
	}
	if d, ok := s.doomed[id]; ok && d == idx {
		return false
	}
	return true
}

// flushMem writes the memory table's entries of durable packs to a new
// run, then merges runs as pickMerge decides.
func (s *Store) flushMem() {
	s.disk.idxMu.Lock()
	defer s.disk.idxMu.Unlock()
	s.mu.Lock()
	if s.disk.closed {
		s.mu.Unlock()
		return
	}
	var ps []*pack
	for _, p := range s.unflushed {
		if p.state == packDurable {
			ps = append(ps, p)
		}
	}
	s.unflushed = nil
	// The current location of each ID (mem's view), so a run never prefers
	// a stale copy of a chunk GC repacked; while the repack's copy is not
	// durable yet, the run keeps this one too (the newer copy comes first
	// in lookups; if its put fails, the chunk is still indexed here).
	cur := func(id ID, p *pack) bool {
		l, ok := s.mem[id]
		if !ok {
			return false
		}
		q := s.packs[l.pack]
		return l.pack == p.idx || q != nil && (q.state == packOpen || q.state == packUploading)
	}
	var recs []rec
	var keys []string
	var ents [][]entry
	if len(ps) > 0 {
		recs = collectRecs(ps, cur)
		for _, p := range ps {
			if p.uncached {
				keys, ents = append(keys, p.key), append(ents, p.entries)
				p.uncached = false
			}
		}
	}
	s.mu.Unlock()
	if len(ps) > 0 {
		// The headers of the packs put here go to the header cache now
		// that their entries leave memory (before the run: a run's packs
		// have cached headers).
		tails := make([][]byte, len(keys))
		for i, es := range ents {
			tails[i] = s.c.packTail(es)
		}
		s.writeCachedTails(keys, tails)
		path, name := s.disk.newName()
		r, err := writeRun(path, name, ps, recs, s.picker(s.bg))
		s.mu.Lock()
		if err != nil {
			os.Remove(path)
			// Keep them in memory; try again at the next flush.
			s.unflushed = append(s.unflushed, ps...)
			s.mu.Unlock()
			return
		}
		for _, p := range ps {
			if p.state != packDurable {
				continue // dropped meanwhile (its accounting is done)
			}
			for _, e := range p.entries {
				if l, ok := s.mem[e.id]; ok && l.pack == p.idx {
					delete(s.mem, e.id)
				}
			}
			s.memDur -= len(p.entries)
			p.entries, p.inRun = nil, true
		}
		s.resolveLocked(r, nil)
		s.disk.runs = append(s.disk.runs, r)
		runs := slices.Clone(s.disk.runs)
		s.mu.Unlock()
		s.disk.saveList(runs)
	}
	s.compact()
}

// compact merges runs while pickMerge finds a window; idxMu is held.
func (s *Store) compact() {
	for {
		s.mu.Lock()
		if s.disk.closed {
			s.mu.Unlock()
			return
		}
		runs := slices.Clone(s.disk.runs)
		dead := func(r *run) int64 {
			var d int64
			for i, p := range r.packs {
				if p == nil || p.state == packGone || p.state == packFailed {
					d += int64(r.counts[i])
				}
			}
			return d
		}
		i := pickMerge(runs, dead)
		var sel []*run
		alive := make(map[*pack]bool)
		if i >= 0 {
			for k := len(runs) - 1; k >= i; k-- {
				sel = append(sel, runs[k]) // newest first
				for _, p := range runs[k].packs {
					if p != nil && p.state == packDurable {
						alive[p] = true
					}
				}
			}
		}
		s.mu.Unlock()
		if i < 0 {
			return
		}
		path, name := s.disk.newName()
		m, err := mergeRuns(path, name, sel, alive, s.picker(s.bg))
		if err != nil {
			os.Remove(path)
			return
		}
		s.mu.Lock()
		s.resolveLocked(m, nil)
		s.disk.runs = append(s.disk.runs[:i:i], m)
		s.disk.forget(sel)
		runs = slices.Clone(s.disk.runs)
		s.mu.Unlock()
		if s.disk.saveList(runs) == nil {
			for _, r := range sel {
				r.f.Close()
				os.Remove(filepath.Join(s.disk.dir, r.name))
			}
		}
	}
}

// loadTail reads a pack's entries from the cache or the backend.
func (s *Store) loadTail(ctx context.Context, in blob.Info, cache bool) ([]entry, error) {
	if t := s.readCachedTail(in.Key); len(t) >= trailerSize {
		if hl, hc, err := parseTrailer(t[len(t)-trailerSize:], in.Size); err == nil && hl+trailerSize == int64(len(t)) {
			if es, err := s.c.parseHeader(t[:hl], hc, in.Size-int64(len(t))); err == nil {
				return es, nil
			}
		}
	}
	if in.Size < trailerSize {
		return nil, fmt.Errorf("load pack %s: %d bytes: %w", in.Key, in.Size, ErrCorrupt)
	}
	t, err := s.be.Get(ctx, in.Key, in.Size-trailerSize, trailerSize)
	if err != nil {
		return nil, fmt.Errorf("load pack %s: %w", in.Key, err)
	}
	hl, hc, err := parseTrailer(t, in.Size)
	if err != nil {
		return nil, fmt.Errorf("load pack %s: %w", in.Key, err)
	}
	hdr, err := s.be.Get(ctx, in.Key, in.Size-trailerSize-hl, hl)
	if err != nil {
		return nil, fmt.Errorf("load pack %s: %w", in.Key, err)
	}
	es, err := s.c.parseHeader(hdr, hc, in.Size-trailerSize-hl)
	if err != nil {
		return nil, fmt.Errorf("load pack %s: %w", in.Key, err)
	}
	if cache {
		s.writeCache(in.Key, append(hdr, t...))
	}
	return es, nil
}

// writeCache stores a pack tail in the local cache, in a file of its own
// (see hdrcache.go). It is only a cache: a torn file (a crash, two writers
// at once) fails its checksum or length check and is read from the backend
// again, so it is written without a temporary file and a rename, and with
// raw descriptors. The name is removed first, never written through: it
// may be one of the names of a file shared with other packs' tails.
func (s *Store) writeCache(key string, tail []byte) {
	p := s.cachePath(key)
	unix.Unlink(p)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(datafile.Mode))
	if err != nil {
		return
	}
	for len(tail) > 0 {
		n, err := unix.Write(fd, tail)
		if err != nil && errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		tail = tail[n:]
	}
	unix.Close(fd)
}

func (s *Store) addPackLocked(p *pack) {
	p.idx = int32(len(s.packs))
	s.packs = append(s.packs, p)
	s.byKey[p.key] = p
	s.nchunks += int(p.n)
}

// dropPackLocked forgets a pack and the index entries that point into it
// (runs keep theirs until merged: lookups skip packs that are gone).
func (s *Store) dropPackLocked(p *pack) {
	for _, e := range p.entries {
		if l, ok := s.mem[e.id]; ok && l.pack == p.idx {
			delete(s.mem, e.id)
		}
	}
	if p.state == packDurable && !p.inRun {
		s.memDur -= len(p.entries)
	}
	s.nchunks -= int(p.n)
	p.state = packGone
	s.packs[p.idx] = nil
	delete(s.byKey, p.key)
}

// packCap is the capacity of pack buffers: the pack size, a chunk beyond
// it and room for the header of a pack of 64 KiB chunks. A pack of small
// chunks is sealed early when its header would not fit (sealDue), so the
// header never moves the records to a larger, unaligned buffer.
func (s *Store) packCap() int { return s.packSize + s.packSize/64 + 128<<10 }

// sealDue reports whether the open pack is full: it reached the pack size,
// or one more chunk of n bytes and its header entry might not fit.
func (s *Store) sealDue(p *pack, n int) bool {
	return len(p.buf) >= s.packSize || len(p.buf)+n+s.c.tailLen(len(p.entries)+1) > cap(p.buf)
}

func (s *Store) getBuf() []byte {
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free = s.free[:n-1]
		return b[:0]
	}
	// Aligned: the local backend writes it to disk without a copy. Huge
	// pages under its middle: a capture reads its source into pack buffers
	// and hashes and checksums them there; with 4 KiB pages each 8 MiB
	// buffer took 2,100 page faults on first use and a TLB entry per page
	// after. Alternating full backups of the bench image, system time 0.87
	// -> 0.79 s (mean of 4 at load 8-11). Starting on a 2 MiB boundary
	// (blob.HugeBuf), its first 8 MiB are four huge pages: on a 4 KiB
	// boundary they were three, and the other ~2.25 MiB of each buffer 4
	// KiB pages (a full backup of the bench image: 8,300-10,400 page
	// faults, 5,200-7,800 since; gup_fast_fallback, pinning those pages
	// for each pack's direct write, 0.9 % of its samples).
	return blob.HugeBuf(s.packCap())[:0]
}

// sealLocked closes open pack p for writing; the caller uploads it.
func (s *Store) sealLocked(p *pack) *pack {
	s.unlistLocked(p)
	p.state = packUploading
	return p
}

// unlistLocked takes p out of the open packs addRun and Tail pick from.
func (s *Store) unlistLocked(p *pack) {
	if i := slices.Index(s.open, p); i >= 0 {
		s.open = slices.Delete(s.open, i, i+1)
	}
}

// newOpenLocked starts an open pack (in no open list yet).
func (s *Store) newOpenLocked() *pack {
	p := &pack{key: s.newPackKeyLocked(), state: packOpen, buf: s.getBuf(), done: make(chan struct{})}
	s.addPackLocked(p)
	return p
}

// ownPut decides a pack put that answered "exists" (err): nil once the
// object is seen whole (its size is the pack's), else err. An object
// store commits an upload atomically, so a first attempt still in flight
// shows up whole or not at all; it is awaited (awaitCommit).
func (s *Store) ownPut(key string, size int64, err error) error {
	return awaitCommit(s.bg, func(last bool) (bool, error) {
		in, serr := s.be.Stat(s.bg, key)
		switch {
		case serr == nil && in.Size == size:
			return true, nil
		case serr == nil:
			return true, fmt.Errorf("%w (holding %d bytes, not the pack's %d)", err, in.Size, size)
		}
		return last, fmt.Errorf("%w (and the object is not there: %v)", err, serr)
	})
}

// awaitCommit waits for an upload a put found committing (its own first
// attempt, whose answer was lost): it calls look until look has decided,
// backing off from 50 ms to 2 s, for up to a minute or until ctx ends,
// telling look when its call is the last, and returns look's error.
func awaitCommit(ctx context.Context, look func(last bool) (decided bool, err error)) error {
	delay := 50 * time.Millisecond
	for deadline := time.Now().Add(time.Minute); ; {
		last := time.Now().After(deadline) || ctx.Err() != nil
		if decided, err := look(last); decided || last {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func (s *Store) startUpload(p *pack) {
	s.sem <- struct{}{}
	s.uploads.Add(1)
	go s.upload(p)
}

func (s *Store) upload(p *pack) {
	defer s.uploads.Done()
	defer func() { <-s.sem }()
	tail := s.c.packTail(p.entries)
	// Zero bytes after the last record (a gap no entry points to) make the
	// pack a whole number of blob.Align pages when its buffer has room: the
	// local backend writes it all from the buffer with O_DIRECT. Its short
	// last page was written through the page cache (an fcntl to clear
	// O_DIRECT, a page-cache write, and the fsync writing that page back
	// by itself).
	//
	// (p.buf itself stays as it is: a Get reads it under s.mu.)
	buf := p.buf
	if pad := -(len(buf) + len(tail)) & (blob.Align - 1); pad > 0 && len(buf)+pad+len(tail) <= cap(buf) {
		buf = append(buf, zeroPage[:pad]...)
	}
	data := append(buf, tail...)
	var err error
	if gs, ok := s.be.(blob.GroupSyncer); ok {
		// Durable at the flush of every writer that needs it (syncPuts).
		err = gs.PutUnsynced(s.bg, p.key, data)
	} else {
		err = s.be.Put(s.bg, p.key, data)
	}
	if errors.Is(err, blob.ErrExist) {
		// Pack keys are random (128 bits): an existing one is this put's own
		// object, written by an attempt whose answer was lost (the object
		// store's client retried after a timeout). The whole pack is there
		// if its size is. The first attempt may still be committing when
		// the retry is refused (a busy server): look again for a while.
		err = s.ownPut(p.key, int64(len(data)), err)
	}
	s.mu.Lock()
	if err != nil {
		p.state = packFailed
		p.err = fmt.Errorf("put pack %s: %w", strings.TrimPrefix(p.key, packPrefix)[:12], err)
		s.dropPackLocked(p)
		// The copies this pack replaced in the memory table (a repack's
		// sources, which the collector keeps when its flush fails) are the
		// index's again. Without them those chunks were not found, and the
		// next collection deleted them with their packs as garbage. A
		// source already in a run is found there (flushMem keeps it).
		for _, r := range p.replaced {
			if q := s.packs[r.l.pack]; q != nil && q.state == packDurable && !q.inRun {
				if _, ok := s.mem[r.id]; !ok {
					s.mem[r.id] = r.l
				}
			}
		}
	} else {
		p.state = packDurable
		p.uncached = true
		s.seq++
		p.seq = s.seq
		p.size = int64(len(data))
		p.modTime = s.now()
		s.unflushed = append(s.unflushed, p)
		s.memDur += len(p.entries)
		if s.memDur >= s.memMax && !s.flushing && !s.closed {
			s.flushing = true
			s.flushWG.Add(1)
			go func() {
				defer s.flushWG.Done()
				s.flushMem()
				s.mu.Lock()
				s.flushing = false
				s.mu.Unlock()
			}()
		}
	}
	p.buf, p.replaced = nil, nil
	if len(s.free) < cap(s.sem)+1 && cap(data) == s.packCap() {
		s.free = append(s.free, data[:0])
	}
	s.mu.Unlock()
	close(p.done)
}

// Get returns the plaintext of a chunk, appended to buf[:0]. The plaintext
// hash is checked (and the stored record's CRC where decoding needs it
// first, see crcNeeded); damage is reported as an error wrapping
// ErrCorrupt that names the chunk and its pack.
func (s *Store) Get(ctx context.Context, id ID, buf []byte) ([]byte, error) {
	refreshed := false
	s.mu.Lock()
	began := s.listStarts // listings numbered above this started after this Get
	s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		l, ok, err := s.lookupLocked(id)
		if err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("get chunk %s: %w", id.Short(), err)
		}
		if !ok {
			s.mu.Unlock()
			if !refreshed {
				// Another replica may have stored it since the index last
				// listed the packs.
				refreshed = true
				s.mu.Lock()
				seen := s.listDone > began
				s.mu.Unlock()
				if seen {
					continue // a listing that started after this Get began: look again
				}
				if s.Refresh(ctx) == nil {
					continue
				}
			}
			return nil, fmt.Errorf("get chunk %s: %w", id.Short(), ErrNotFound)
		}
		p := s.packs[l.pack]
		key := p.key
		var stored []byte
		if p.buf != nil {
			stored = append([]byte(nil), p.buf[l.off:l.off+l.slen]...)
		}
		s.mu.Unlock()
		if stored == nil {
			var err error
			stored, err = s.be.Get(ctx, key, int64(l.off), int64(l.slen))
			if err != nil {
				if errors.Is(err, blob.ErrNotExist) && attempt == 0 {
					// Repacked by a GC meanwhile: this store's points the
					// index to the new copy; another replica's is found by
					// listing the packs again.
					s.mu.Lock()
					now, _, _ := s.lookupLocked(id)
					s.mu.Unlock()
					if now.pack == l.pack && now.off == l.off {
						refreshed = true
						if rerr := s.Refresh(ctx); rerr != nil {
							return nil, fmt.Errorf("get chunk %s: %w (listing the packs again: %v)", id.Short(), err, rerr)
						}
					}
					continue
				}
				return nil, fmt.Errorf("get chunk %s: %w", id.Short(), err)
			}
		}
		err = nil
		if crcNeeded(l.kind) && crc(stored) != l.crc {
			err = fmt.Errorf("get chunk %s: %s offset %d: checksum mismatch: %w", id.Short(), key, l.off, ErrCorrupt)
		}
		var out []byte
		if err == nil {
			if out, err = s.c.decode(buf, id, l.kind, int(l.plen), stored, true); err != nil {
				err = fmt.Errorf("get chunk %s: %s offset %d: %w", id.Short(), key, l.off, err)
			}
		}
		if errors.Is(err, ErrCorrupt) {
			s.markDamaged(id, l.pack)
			s.mu.Lock()
			now, ok, _ := s.lookupLocked(id)
			s.mu.Unlock()
			if ok && now.pack != l.pack && attempt < 4 {
				continue // another copy is indexed (lookups skip the marked one)
			}
			if !refreshed && s.relistForDamage(ctx, began) {
				// Another store of the bucket may hold a good copy.
				refreshed = true
				s.mu.Lock()
				now, ok, _ := s.lookupLocked(id)
				s.mu.Unlock()
				if ok && now.pack != l.pack {
					continue
				}
			}
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// damageRelist is how often reads that find damaged copies list the packs
// again: a restore or a download of a badly damaged point reads one
// damaged chunk after another, and a listing of a large bucket on object
// storage takes seconds.
const damageRelist = 10 * time.Second

// relistForDamage brings the index in line with the backend for a read
// (begun when listStarts was began) that found a damaged copy, and reports
// whether the index may now point elsewhere: a listing that started after
// the read began has completed, or one in flight for another damaged read
// ended (waited for), or this one listed. It lists at most once per
// damageRelist; within that the damage is reported at once.
func (s *Store) relistForDamage(ctx context.Context, began uint64) bool {
	s.mu.Lock()
	if s.listDone > began {
		s.mu.Unlock()
		return true
	}
	if ch := s.damageListing; ch != nil {
		s.mu.Unlock()
		select {
		case <-ch:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if now := s.now(); !s.damageListedAt.IsZero() && now.Sub(s.damageListedAt) < damageRelist && !now.Before(s.damageListedAt) {
		s.mu.Unlock()
		return false
	}
	ch := make(chan struct{})
	s.damageListing, s.damageListedAt = ch, s.now()
	s.mu.Unlock()
	err := s.Refresh(ctx)
	s.mu.Lock()
	s.damageListing = nil
	s.mu.Unlock()
	close(ch)
	return err == nil
}

// maxRead bounds one range read of GetMany.
const maxRead = 4 << 20

// rangeGetter is a backend that can read a range into the caller's buffer
// (blob/local's GetInto).
type rangeGetter interface {
	GetInto(ctx context.Context, key string, off, length int64, scratch []byte) ([]byte, error)
}

// GetMany is Get for several chunks: records that lie next to each other
// in the same pack are fetched with one range read (a restore reads runs of
// consecutive blocks, which a capture stored consecutively). Chunk i is
// decoded into bufs[i] when it fits its capacity; out[i] holds it.
func (s *Store) GetMany(ctx context.Context, ids []ID, bufs [][]byte) ([][]byte, error) {
	return s.getMany(ctx, ids, bufs, nil, 0)
}

// GetRun is GetMany for chunks that go one after another into dst: chunk i
// (at most stride bytes) is decoded into dst[i*stride:], and out[i] holds
// it there. A restore's run of blocks: with the local backend, a run of raw
// records stored next to each other (see alignRaw) is read with one direct
// read straight into dst and hashed there, no scratch buffer or copy. dst
// must hold len(ids)*stride bytes.
func (s *Store) GetRun(ctx context.Context, ids []ID, dst []byte, stride int) ([][]byte, error) {
	if stride <= 0 || len(dst) < len(ids)*stride { // (the in-place read indexes dst)
		return nil, fmt.Errorf("get run: %d chunks of up to %d bytes do not fit %d bytes", len(ids), stride, len(dst))
	}
	bufs := make([][]byte, len(ids))
	for i := range ids {
		o := i * stride
		bufs[i] = dst[o : o : o+stride]
	}
	return s.getMany(ctx, ids, bufs, dst, stride)
}

// readGap is the most bytes of other records a range read of GetMany reads
// through to take in the next wanted record of the same pack: a block an
// incremental replaced leaves its stale copy between the run's others, and
// reading past it (64 KiB at most for the engine's blocks) costs less than
// a second request: on the bench host's disk (session 25) a direct read of
// 64 KiB took 0.07-0.10 ms, one of 4 MiB 1.3 ms, and the bench's restore,
// whose incremental replaced blocks inside ~190 runs, made 470 read
// requests where it made 655. On object storage a request costs far more
// than 256 KiB.
const readGap = 256 << 10

// maxOthers bounds how many chunks of other groups in a row GetMany looks
// past for the next one of a group.
const maxOthers = 16

// rawIn reports whether the records members (positions in GetRun's layout,
// ascending, first i) of one pack hold their plaintext as stored (raw,
// unencrypted), each at its own place of a direct read of the pack from
// the first one's offset: member p at off + (p-i)*stride, each but the
// last exactly stride bytes, the last at most stride. n is the read's
// length, from the first member's start to the last one's end (the slots
// of the positions between that are not members get whatever the pack
// holds there: the caller fills them afterwards). The read must start and
// end on blob.Align boundaries (packs written before alignRaw hold raw
// records anywhere): a direct read then covers exactly them, while a
// buffered one would go through the page cache, dearer than the scratch
// buffer's copy.
func (s *Store) rawIn(locs []loc, members []int, stride int) (n int, ok bool) {
	i := members[0]
	off := int64(locs[i].off)
	if s.c.aead != nil || off%blob.Align != 0 {
		return 0, false
	}
	last := members[len(members)-1]
	for _, p := range members {
		l := locs[p]
		if l.kind != kindRaw || l.slen != l.plen || int(l.slen) > stride || (p != last && int(l.slen) != stride) ||
			int64(l.off) != off+int64(p-i)*int64(stride) {
			return 0, false
		}
	}
	n = (last-i)*stride + int(locs[last].slen)
	return n, n > 0 && n%blob.Align == 0
}

func (s *Store) getMany(ctx context.Context, ids []ID, bufs [][]byte, dst []byte, stride int) ([][]byte, error) {
	out := make([][]byte, len(ids))
	locs := make([]loc, len(ids))
	keys := make([]string, len(ids))
	ok := make([]bool, len(ids))
	s.mu.Lock()
	for i, id := range ids {
		l, found, _ := s.lookupLocked(id)
		if !found {
			continue // Get reports it
		}
		p := s.packs[l.pack]
		if p.buf != nil {
			continue // not durable yet: Get serves it from memory
		}
		locs[i], keys[i], ok[i] = l, p.key, true
	}
	s.mu.Unlock()
	// A backend that reads into a buffer (the local one) gets a pooled one:
	// the records are decoded into bufs, never left pointing into it.
	into, _ := s.be.(rangeGetter)
	var scratch []byte
	if into != nil {
		bp, _ := s.readBufs.Get().(*[]byte)
		if bp == nil {
			// Aligned, with a page to spare on each side: the local
			// backend reads whole pages into it without a copy (into
			// huge pages: see blob.HugeBuf).
			b := blob.HugeBuf(maxRead + 2*blob.Align)
			bp = &b
		}
		defer s.readBufs.Put(bp)
		scratch = *bp
	}
	// Groups of records of one pack, each read with one range read: from
	// the first chunk not yet fetched, the later ones of its pack that
	// follow it there within readGap bytes (a chunk of another pack
	// between them, one an incremental replaced, is fetched by its own
	// group afterwards).
	done := make([]bool, len(ids))
	var members []int
	for i := 0; i < len(ids); i++ {
		if done[i] {
			continue
		}
		if !ok[i] {
			var err error
			if out[i], err = s.Get(ctx, ids[i], bufs[i]); err != nil {
				return nil, err
			}
			done[i] = true
			continue
		}
		members = append(members[:0], i)
		start := int64(locs[i].off)
		end := start + int64(locs[i].slen)
		firstDone := len(ids) // the first chunk after i fetched already
		for p, other := i+1, 0; p < len(ids) && other < maxOthers; p++ {
			if done[p] || !ok[p] || keys[p] != keys[i] {
				if done[p] {
					firstDone = min(firstDone, p)
				}
				other++
				continue // another group's, fetched before or after
			}
			o := int64(locs[p].off)
			if o < end || o-end > readGap || o+int64(locs[p].slen)-start > maxRead {
				break
			}
			members = append(members, p)
			end = o + int64(locs[p].slen)
			other = 0
		}
		var data []byte
		var err error
		direct := false // data lies in dst, where the chunks go
		if into != nil && dst != nil && firstDone > members[len(members)-1] {
			// Straight into dst: the slots between the members get the
			// pack's bytes there until their own groups fill them.
			if n, ok := s.rawIn(locs, members, stride); ok {
				o := i * stride
				data, err = into.GetInto(ctx, keys[i], start, int64(n), dst[o:o:o+n])
				direct = err == nil && len(data) == n && &data[0] == &dst[o]
			}
		}
		switch {
		case direct || err != nil:
		case into != nil:
			data, err = into.GetInto(ctx, keys[i], start, end-start, scratch)
		default:
			data, err = s.be.Get(ctx, keys[i], start, end-start)
		}
		if err != nil {
			if errors.Is(err, blob.ErrNotExist) { // repacked meanwhile
				for _, k := range members {
					if out[k], err = s.Get(ctx, ids[k], bufs[k]); err != nil {
						return nil, err
					}
					done[k] = true
				}
				continue
			}
			return nil, fmt.Errorf("get chunk %s: %w", ids[i].Short(), err)
		}
		for _, k := range members {
			// Let a goroutine waiting for a processor run before each
			// chunk's decoding and hashing (64 KiB: ~0.05 ms). The Go
			// scheduler hands a goroutine leaving a system call a
			// processor only when one is idle: with every processor
			// decoding, a restore worker whose write returned waited for
			// a whole run to be decoded (~2.5 ms) before issuing its next
			// read, and the disk idled meanwhile. In runtime traces of
			// the bench's restore (session 25), goroutines back from
			// system calls waited 153 ms for a processor in all, 13 ms
			// with this; the time with no read or write in flight went
			// from 45-100 ms to 22-36 ms.
			runtime.Gosched()
			done[k] = true
			l := locs[k]
			rel := int64(l.off) - start
			stored := data[rel : rel+int64(l.slen)]
			if direct { // raw: stored is the plaintext, in place
				if s.c.sum(stored) != ids[k] {
					s.markDamaged(ids[k], l.pack)
					if out[k], err = s.Get(ctx, ids[k], bufs[k]); err != nil { // another copy, if any
						return nil, err
					}
					continue
				}
				out[k] = stored
				continue
			}
			if crcNeeded(l.kind) && crc(stored) != l.crc {
				s.markDamaged(ids[k], l.pack)
				if out[k], err = s.Get(ctx, ids[k], bufs[k]); err != nil { // another copy, if any
					return nil, err
				}
				continue
			}
			if out[k], err = s.c.decode(bufs[k], ids[k], l.kind, int(l.plen), stored, true); err != nil {
				if errors.Is(err, ErrCorrupt) {
					s.markDamaged(ids[k], l.pack)
					if out[k], err = s.Get(ctx, ids[k], bufs[k]); err == nil {
						continue
					}
					return nil, err
				}
				return nil, fmt.Errorf("get chunk %s: %s offset %d: %w", ids[k].Short(), keys[k], l.off, err)
			}
		}
	}
	return out, nil
}

// Writer adds chunks to a store on behalf of one job (a capture, a copy).
// Its chunks, and existing chunks it deduplicated against, are protected
// from GC until Close. Flush makes everything the writer put or referenced
// durable. A Writer is safe for concurrent use by the job's goroutines.
type Writer struct {
	s       *Store
	spillMu sync.Mutex // serializes spills and merges of refs
	mu      sync.Mutex
	closed  bool
	deps    map[*pack]struct{}
	prune   int // len(deps) at which durable packs are dropped from it
	refs    refSet
}

// NewWriter starts a writer. Call Close when its job is recorded or
// abandoned.
func (s *Store) NewWriter() *Writer {
	w := &Writer{s: s, deps: make(map[*pack]struct{}), prune: 64, refs: newRefSet(s.refsDir(), s.writerMem)}
	s.mu.Lock()
	s.writers[w] = struct{}{}
	s.mu.Unlock()
	return w
}

// Close ends the writer's GC protection. If a GC mark is under way, its
// references stay protected until that GC ends.
func (w *Writer) Close() {
	s := w.s
	w.spillMu.Lock() // no spill or merge in flight
	defer w.spillMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	delete(s.writers, w)
	if s.marking > 0 {
		w.refs.drain(s.held, &s.heldRuns)
	} else {
		w.refs.release()
	}
}

// refLocked records a reference; s.mu is held. It reports whether the
// writer's references are due to be spilled (w.spill, without s.mu).
func (w *Writer) refLocked(id ID, p *pack) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.state != packDurable {
		w.deps[p] = struct{}{}
		if len(w.deps) >= w.prune {
			// Durable packs need no wait: forget them, so a long job's
			// deps stay as small as its packs in flight.
			for d := range w.deps {
				if d.state == packDurable {
					delete(w.deps, d)
				}
			}
			w.prune = max(64, 2*len(w.deps))
		}
	}
	return !w.closed && w.refs.add(id)
}

// Put stores data unless a chunk with its ID exists. It returns the ID and
// the bytes added to the store (0 when deduplicated).
func (w *Writer) Put(ctx context.Context, data []byte) (ID, int, error) {
	id := w.s.c.sum(data)
	n, err := w.PutID(ctx, id, data)
	return id, n, err
}

// PutID is Put for a caller that already computed id = Sum(data).
func (w *Writer) PutID(ctx context.Context, id ID, data []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s := w.s
	if w.dedup(id) {
		return 0, nil
	}
	bp, _ := s.encBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	var rec []byte
	var kind byte
	*bp, rec, kind = s.c.encode((*bp)[:0], id, data)
	n, err := w.add(id, kind, uint32(len(data)), rec, false)
	s.encBufs.Put(bp)
	return n, err
}

// PutRun is PutID for a run of chunks (ids[i] = Sum(data[i])), such as a
// capture's batch of consecutive blocks: the new ones are appended to the
// open pack together, in order (a pack filling up in between splits the
// run once), so a restore reads the run back with one range read instead
// of one read per chunk. stored[i] receives the bytes chunk i added (0
// when deduplicated). scratch keeps the encoded records' buffer between
// calls.
func (w *Writer) PutRun(ctx context.Context, ids []ID, data [][]byte, stored []int, scratch *[]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := w.s
	buf := (*scratch)[:0]
	recs := make([]record, 0, len(ids))
	at := make([]int, 0, len(ids))  // recs[k].enc is buf[at[k]:...] (-1: data itself)
	idx := make([]int, 0, len(ids)) // recs[k] is chunk idx[k]
	have := make([]bool, len(ids))
	w.dedupRun(ids, have)
	for i, id := range ids {
		stored[i] = 0
		if have[i] {
			continue
		}
		start := len(buf)
		var rec []byte
		var kind byte
		buf, rec, kind = s.c.encode(buf, id, data[i])
		if len(buf) == start {
			start = -1
		}
		recs = append(recs, record{id: id, kind: kind, plen: uint32(len(data[i])), enc: rec})
		at = append(at, start)
		idx = append(idx, i)
	}
	*scratch = buf
	// buf may have moved while it grew: point the records at its final bytes.
	for k := range recs {
		if at[k] >= 0 {
			recs[k].enc = buf[at[k] : at[k]+len(recs[k].enc)]
		}
	}
	n := make([]int, len(recs))
	err := w.addRun(recs, n, false)
	for k, i := range idx {
		stored[i] = n[k]
	}
	return err
}

// Ref records a reference to a stored chunk without its data: the chunk is
// protected from GC until Close and Flush waits for it to be durable. It
// reports false if the store does not hold the chunk.
func (w *Writer) Ref(id ID) bool { return w.dedup(id) }

func (w *Writer) dedup(id ID) bool {
	var have [1]bool
	w.dedupRun([]ID{id}, have[:])
	return have[0]
}

// dedupRun is dedup for several chunks under one lock: have[i] reports
// whether ids[i] is stored (and now referenced).
func (w *Writer) dedupRun(ids []ID, have []bool) {
	s := w.s
	due := false
	s.mu.Lock()
	for i, id := range ids {
		l, ok, _ := s.dedupLookupLocked(id)
		// Not found also on a damaged local index, or when the copy found
		// is known damaged: the chunk is stored again.
		if have[i] = ok; ok {
			due = w.refLocked(id, s.packs[l.pack]) || due
		}
	}
	s.mu.Unlock()
	if due {
		w.spill()
	}
}

// record is an encoded chunk on its way into a pack.
type record struct {
	id   ID
	kind byte
	plen uint32
	enc  []byte
	crc  uint32
}

// add appends an encoded record to the open pack. With force it is added
// even if the ID exists, and the index points to the new copy (repacking).
func (w *Writer) add(id ID, kind byte, plen uint32, enc []byte, force bool) (int, error) {
	var n [1]int
	err := w.addRun([]record{{id: id, kind: kind, plen: plen, enc: enc}}, n[:], force)
	return n[0], err
}

// addRun appends records to the open pack in order, under one lock, so
// that they lie next to each other (a pack sealed in between splits them).
// n[i] receives the stored length of record i (0 when it was a duplicate).
func (w *Writer) addRun(recs []record, n []int, force bool) error {
	s := w.s
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		recs[i].crc = crc(recs[i].enc)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("put chunk %s: store closed", recs[0].id.Short())
	}
	due := false
	var full []*pack
	for i, r := range recs {
		n[i] = 0
		if !force {
			if l, ok, _ := s.dedupLookupLocked(r.id); ok {
				due = w.refLocked(r.id, s.packs[l.pack]) || due
				continue
			}
		}
		var p *pack
		if k := len(s.open); k > 0 {
			p = s.open[k-1]
		}
		if p != nil && len(p.entries) > 0 && s.sealDue(p, s.padFor(len(p.buf), r)+len(r.enc)) {
			full = append(full, s.sealLocked(p)) // r would not fit with the header
			p = nil
		}
		if p == nil {
			p = s.newOpenLocked()
			s.open = append(s.open, p)
		}
		if pad := s.padFor(len(p.buf), r); pad > 0 {
			p.buf = append(p.buf, make([]byte, pad)...)
		}
		off := len(p.buf)
		p.buf = append(p.buf, r.enc...)
		due = w.indexLocked(p, r, off) || due
		if len(p.buf) >= s.packSize {
			full = append(full, s.sealLocked(p))
		}
		n[i] = len(r.enc)
	}
	s.mu.Unlock()
	for _, p := range full {
		s.startUpload(p)
	}
	if due {
		w.spill()
	}
	return nil
}

// indexLocked enters record r, which lies at off in open pack p, in the
// pack's header and the index, and references it; s.mu is held. It
// reports whether the writer's references are due to be spilled.
func (w *Writer) indexLocked(p *pack, r record, off int) bool {
	s := w.s
	e := entry{id: r.id, kind: r.kind, off: uint32(off), slen: uint32(len(r.enc)), plen: r.plen, crc: r.crc}
	p.entries = append(p.entries, e)
	p.n++
	s.nchunks++
	if old, ok := s.mem[r.id]; ok && old.pack != p.idx {
		p.replaced = append(p.replaced, idLoc{r.id, old})
	}
	s.mem[r.id] = loc{pack: p.idx, kind: r.kind, off: e.off, slen: e.slen, plen: r.plen, crc: r.crc}
	delete(s.damaged, r.id) // the index now points to this new copy
	return w.refLocked(r.id, p)
}

var zeroPage [blob.Align]byte

// alignRaw is the size from which a raw record of an unencrypted store
// starts on a blob.Align boundary of its pack (the zero bytes before it
// belong to no record): a restore then reads a run of such records with
// one direct read straight into the target's buffer, where their stored
// form is their plaintext, instead of into a scratch buffer and copying
// them (GetRun). The pack format allows gaps between records; readers of
// every version find records by their header entries.
const alignRaw = 32 << 10

// padFor is the number of zero bytes to put at offset off of the open pack
// before record r.
func (s *Store) padFor(off int, r record) int {
	if r.kind != kindRaw || s.c.aead != nil || len(r.enc) < alignRaw || off%blob.Align == 0 {
		return 0
	}
	return blob.Align - off%blob.Align
}

// Flush makes every chunk the writer put or deduplicated against durable:
// it seals the open pack if the writer has chunks in it and waits for the
// uploads. An error means some chunk may be missing; the job must fail.
func (w *Writer) Flush(ctx context.Context) error {
	s := w.s
	s.mu.Lock()
	w.mu.Lock()
	deps := make([]*pack, 0, len(w.deps))
	for p := range w.deps {
		deps = append(deps, p)
	}
	w.deps = make(map[*pack]struct{})
	w.mu.Unlock()
	var seal []*pack
	for _, p := range deps {
		switch {
		case p.state != packOpen:
		case p.owned:
			p.sealReq = true // its Tail's owner seals it
		default:
			seal = append(seal, s.sealLocked(p))
		}
	}
	s.mu.Unlock()
	for _, p := range seal {
		s.startUpload(p)
	}
	var errs []error
	for _, p := range deps {
		select {
		case <-p.done:
			if p.err != nil {
				errs = append(errs, p.err)
			}
		case <-ctx.Done():
			return fmt.Errorf("flush: %w", ctx.Err())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("flush: %w", packErrors(errs))
	}
	// The packs it waited for and every pack it deduplicated against
	// were put before this (a chunk is found in a pack once its put
	// returned, or while it is in flight: then it is a dep).
	if err := s.syncPuts(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// syncPuts makes durable the packs put so far on a backend that syncs
// puts in groups (blob.GroupSyncer: the local backend fsyncs the
// directories of a flush's packs once, not each pack's after its link).
func (s *Store) syncPuts(ctx context.Context) error {
	if gs, ok := s.be.(blob.GroupSyncer); ok {
		return gs.SyncPuts(ctx)
	}
	return nil
}

// packErrors are the failed uploads of one flush. Its message is the first
// failure and a count of the others: one outage of the object store fails
// every pack in flight alike, and a job's error is read by people.
// errors.Is and errors.As see every failure.
type packErrors []error

func (e packErrors) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	return fmt.Sprintf("%v (and %d more pack uploads failed)", e[0], len(e)-1)
}

func (e packErrors) Unwrap() []error { return e }

// Objects outside packs (snapshot manifests, for one) are stored sealed
// with a checksum, and encrypted when the store is.

// PutObject stores data under key (immutably).
// An existing object of key holding the same data (a put whose answer
// was lost, or the same manifest written again by a resumed job) is
// success; other contents are blob.ErrExist. A put refused as existing
// while the first attempt, whose answer was lost, is still being committed
// (a busy object store refuses the client's retry then) waits for the
// object to show up, as a pack's put does (ownPut), for up to a minute.
func (s *Store) PutObject(ctx context.Context, key string, data []byte) error {
	err := s.be.Put(ctx, key, s.c.sealObject(key, data))
	if !errors.Is(err, blob.ErrExist) {
		return err
	}
	return awaitCommit(ctx, func(last bool) (bool, error) {
		if cerr := ctx.Err(); cerr != nil {
			return true, fmt.Errorf("%w (and the object is not there yet: %v)", err, cerr)
		}
		old, gerr := s.GetObject(ctx, key)
		switch {
		case gerr == nil && bytes.Equal(old, data):
			return true, nil
		case gerr == nil:
			return true, err
		}
		return last || !errors.Is(gerr, blob.ErrNotExist), fmt.Errorf("%w (and the object cannot be read: %v)", err, gerr)
	})
}

// GetObject reads an object written by PutObject, checking its checksum.
func (s *Store) GetObject(ctx context.Context, key string) ([]byte, error) {
	b, err := s.be.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	return s.c.openObject(key, b)
}

// DeleteObject removes an object.
func (s *Store) DeleteObject(ctx context.Context, key string) error {
	return s.be.Delete(ctx, key)
}

// ListObjects lists keys with the given prefix (which must not be "pack/").
func (s *Store) ListObjects(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	return s.be.List(ctx, prefix, fn)
}
