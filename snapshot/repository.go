package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/chunk"
)

// BlockSize is the fixed, offset-aligned block size of every snapshot: the
// unit of change tracking, deduplication and restore. The volume layer
// tracks changed blocks at this granularity. 64 KiB keeps a scattered 1 %
// rewrite at about 1x repository growth (see the chunk-size sweep of
// bench/peers.sh, borg-fixed@64K) while an index stays small.
const BlockSize = 64 << 10

// SegmentBlocks is the number of block IDs in one index segment (64 MiB of
// disk per segment at 64 KiB blocks).
const SegmentBlocks = 1024

const (
	manifestPrefix = "snapshot/"
	idSize         = len(chunk.ID{})
)

// ID names a snapshot. IDs sort by creation time.
type ID string

// Range is a byte range of a disk.
type Range struct {
	Off, Len int64
}

// Manifest records one snapshot: the disk's size and its full index as a
// list of segment chunk IDs (each segment lists SegmentBlocks block chunk
// IDs; the zero ID stands for an all-zero block or segment).
type Manifest struct {
	ID        ID                `json:"id"`
	Parent    ID                `json:"parent,omitempty"`
	Created   time.Time         `json:"created"`
	Size      int64             `json:"size"`
	BlockSize int               `json:"blockSize"`
	Segments  []chunk.ID        `json:"segments"`
	Tags      map[string]string `json:"tags,omitempty"`
	Stats     Stats             `json:"stats"`
}

// Options configure a Repository. The zero value is usable.
type Options struct {
	// Key enables encryption of chunks and manifests (32 bytes).
	Key []byte
	// PackSize is the target pack object size (default 8 MiB).
	PackSize int
	// Uploads bounds concurrent pack uploads (default 4).
	Uploads int
	// Compression of new chunks: chunk.CompressionMinLZ (default),
	// chunk.CompressionS2, chunk.CompressionZstd or chunk.CompressionNone.
	Compression string
	// OlderReaders is chunk.Options.OlderReaders: whether a repository
	// created by this Open must stay readable by binaries that read only
	// format 1.
	OlderReaders func(ctx context.Context) (bool, error)
	// Workers is the default parallelism of captures, restores and verifies
	// (default GOMAXPROCS, at least 2).
	Workers int
	// Now reads the clock (default time.Now).
	Now func() time.Time
	// WriterMemory is how many chunk references a capture or copy keeps in
	// memory before spilling them to the cache directory
	// (chunk.Options.WriterMemory; default 64 Ki).
	WriterMemory int
}

// Repository is a set of disk snapshots stored in a chunk store. It is safe
// for concurrent use: several captures, restores, deletes and a GC may run at
// once. Only one Repository per backend may write at a time, unless GC's
// grace window exceeds the longest capture.
type Repository struct {
	chunks  *chunk.Store
	workers int
	now     func() time.Time
	zero    []byte // BlockSize zero bytes, never written

	mu       sync.Mutex
	inflight map[*Manifest]int // manifests in use: parents of captures, restores, readers
	gcs      int               // GCs marking
	held     []*Manifest       // manifests released during a GC

	logical sync.Map // ID -> int64: a snapshot's non-zero bytes (manifests never change)
	whole   sync.Map // ID -> true: snapshots captured here, or checked whole as a parent (knownWhole)

	syncMu      sync.Mutex // serializes Collected
	synced      bool
	collections int64 // collections the index has seen the end of (Collected)
}

// Collected tells the repository that collections of it (in any process
// sharing its backend) have started and ended, counted by the caller (a
// lease.Gate writer's Collections): when the count is new, the chunk index
// lists the packs again before it returns, so no capture or copy that
// starts afterwards deduplicates against a chunk one of them deleted (the
// index drops packs that are gone). Call it after entering the gate and
// before the first lookup; an error means the view could not be renewed and
// the writer must not run.
func (r *Repository) Collected(ctx context.Context, collections int64) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if r.synced && r.collections >= collections {
		return nil
	}
	if err := r.chunks.Refresh(ctx); err != nil {
		return fmt.Errorf("list the packs after a collection: %w", err)
	}
	r.synced, r.collections = true, collections
	return nil
}

// MaxFormat is the newest repository (chunk store) format this binary
// opens: replicas advertise it to each other (Options.OlderReaders).
const MaxFormat = chunk.MaxFormat

// Open opens the repository stored in be; localDir holds the local index
// cache. The repository is created on first use.
func Open(ctx context.Context, be blob.Backend, localDir string, opts Options) (*Repository, error) {
	if opts.Workers <= 0 {
		opts.Workers = max(2, runtime.GOMAXPROCS(0))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Uploads <= 0 {
		opts.Uploads = 4
	}
	cs, err := chunk.Open(ctx, be, localDir, chunk.Options{
		Key: opts.Key, PackSize: opts.PackSize, Workers: opts.Workers, Now: opts.Now,
		Compression: opts.Compression, Uploads: opts.Uploads, WriterMemory: opts.WriterMemory, OlderReaders: opts.OlderReaders,
	})
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	return &Repository{
		chunks: cs, workers: opts.Workers, now: opts.Now,
		zero: make([]byte, BlockSize), inflight: make(map[*Manifest]int),
	}, nil
}

// Close waits for background uploads and releases resources.
func (r *Repository) Close() error { return r.chunks.Close() }

// Chunks returns the underlying chunk store.
func (r *Repository) Chunks() *chunk.Store { return r.chunks }

// Size returns the repository's chunk count and pack bytes.
func (r *Repository) Size() (chunks int, bytes int64) { return r.chunks.Size() }

func (r *Repository) newID() ID {
	var b [4]byte
	rand.Read(b[:])
	return ID(strings.ToLower(r.now().UTC().Format("20060102t150405.000z")) + "-" + hex.EncodeToString(b[:]))
}

func manifestKey(id ID) string { return manifestPrefix + string(id) }

func validID(id ID) error {
	if id == "" || strings.Contains(string(id), "/") || blob.ValidKey(manifestKey(id)) != nil {
		return fmt.Errorf("invalid snapshot id %q", id)
	}
	return nil
}

// ErrNotFound is wrapped when a snapshot does not exist.
var ErrNotFound = errors.New("snapshot not found")

// Get reads a snapshot's manifest.
func (r *Repository) Get(ctx context.Context, id ID) (*Manifest, error) {
	if err := validID(id); err != nil {
		return nil, fmt.Errorf("get snapshot: %w", err)
	}
	b, err := r.chunks.GetObject(ctx, manifestKey(id))
	if err != nil {
		if errors.Is(err, blob.ErrNotExist) {
			return nil, fmt.Errorf("get snapshot %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("get snapshot %s: %w", id, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("get snapshot %s: decode manifest: %v: %w", id, err, chunk.ErrCorrupt)
	}
	if m.ID != id || m.BlockSize != BlockSize || len(m.Segments) != segmentsFor(m.Size) {
		return nil, fmt.Errorf("get snapshot %s: inconsistent manifest: %w", id, chunk.ErrCorrupt)
	}
	return &m, nil
}

// List returns all snapshots, oldest first. A damaged manifest fails it
// (ListReadable goes on over those).
func (r *Repository) List(ctx context.Context) ([]*Manifest, error) {
	ms, damaged, err := r.list(ctx, false)
	if err != nil {
		return nil, err
	}
	if len(damaged) > 0 {
		return nil, fmt.Errorf("list snapshots: %w", damaged[slices.Sorted(maps.Keys(damaged))[0]])
	}
	return ms, nil
}

// ListReadable is List that does not stop at a snapshot whose manifest is
// damaged (its object cut short or altered: chunk.ErrCorrupt): those are
// returned in damaged with what is wrong with them, the others read. What
// must go on over a damaged snapshot uses it: verify (which names it), a
// start's sweep, a reset, a collection (List failed them, so one damaged
// manifest kept the server from starting, a reset from running and every
// collection from freeing anything).
func (r *Repository) ListReadable(ctx context.Context) (ms []*Manifest, damaged map[ID]error, err error) {
	return r.list(ctx, false)
}

// list is ListReadable. A snapshot listed whose manifest is then not found
// was deleted meanwhile, and is left out; when sure (a collection's mark,
// which frees whatever no snapshot listed names), only once a second
// listing no longer has it: an object store answering 404 for an object
// it holds (a proxy, a misrouted request) made a collection free every
// chunk of a snapshot that was there.
func (r *Repository) list(ctx context.Context, sure bool) (ms []*Manifest, damaged map[ID]error, err error) {
	ids, err := r.listIDs(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list snapshots: %w", err)
	}
	ms = make([]*Manifest, 0, len(ids))
	var gone []ID
	for _, id := range ids {
		m, err := r.Get(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			gone = append(gone, id) // deleted meanwhile
			continue
		case errors.Is(err, chunk.ErrCorrupt):
			if damaged == nil {
				damaged = map[ID]error{}
			}
			damaged[id] = err
			continue
		case err != nil:
			return nil, nil, fmt.Errorf("list snapshots: %w", err)
		}
		ms = append(ms, m)
	}
	if sure && len(gone) > 0 {
		again, err := r.listIDs(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list snapshots: %w", err)
		}
		for _, id := range gone {
			if _, listed := slices.BinarySearch(again, id); listed {
				return nil, nil, fmt.Errorf("list snapshots: snapshot %s is listed but its manifest answers not found: %w", id, ErrUnreadable)
			}
		}
	}
	return ms, damaged, nil
}

// ManifestObject is the object a snapshot's manifest is stored as, for
// messages ("snapshot/{id}").
func ManifestObject(id ID) string { return manifestKey(id) }

// ErrUnreadable is wrapped when a snapshot the store lists cannot be read.
var ErrUnreadable = errors.New("snapshot listed but unreadable")

// listIDs lists the snapshots' ids, in order.
func (r *Repository) listIDs(ctx context.Context) ([]ID, error) {
	var ids []ID
	err := r.chunks.ListObjects(ctx, manifestPrefix, func(in blob.Info) error {
		ids = append(ids, ID(strings.TrimPrefix(in.Key, manifestPrefix)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// Delete removes a snapshot. Other snapshots never depend on it: each holds
// a full index. Its chunks are freed by the next GC.
func (r *Repository) Delete(ctx context.Context, id ID) error {
	if err := validID(id); err != nil {
		return fmt.Errorf("delete snapshot: %w", err)
	}
	if err := r.chunks.DeleteObject(ctx, manifestKey(id)); err != nil {
		if errors.Is(err, blob.ErrNotExist) {
			return fmt.Errorf("delete snapshot %s: %w", id, ErrNotFound)
		}
		return fmt.Errorf("delete snapshot %s: %w", id, err)
	}
	return nil
}

func (r *Repository) putManifest(ctx context.Context, m *Manifest) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return r.chunks.PutObject(ctx, manifestKey(m.ID), b)
}

func segmentsFor(size int64) int {
	blocks := (size + BlockSize - 1) / BlockSize
	return int((blocks + SegmentBlocks - 1) / SegmentBlocks)
}

// blocksIn returns the number of blocks segment i covers for a disk size.
func blocksIn(size int64, i int) int {
	blocks := (size + BlockSize - 1) / BlockSize
	n := blocks - int64(i)*SegmentBlocks
	return int(min(n, SegmentBlocks))
}

// loadSegment returns the block IDs of a segment (all zero for the zero
// segment), sized for n blocks.
func (r *Repository) loadSegment(ctx context.Context, id chunk.ID, n int) ([]chunk.ID, error) {
	ids := make([]chunk.ID, n)
	if id.IsZero() {
		return ids, nil
	}
	b, err := r.chunks.Get(ctx, id, nil)
	if err != nil {
		return nil, fmt.Errorf("load segment: %w", err)
	}
	if len(b)%idSize != 0 {
		return nil, fmt.Errorf("load segment %s: length %d: %w", id.Short(), len(b), chunk.ErrCorrupt)
	}
	for i := 0; i < len(b)/idSize && i < n; i++ {
		copy(ids[i][:], b[i*idSize:])
	}
	return ids, nil
}

func encodeSegment(ids []chunk.ID) ([]byte, bool) {
	b := make([]byte, 0, len(ids)*idSize)
	allZero := true
	for _, id := range ids {
		if !id.IsZero() {
			allZero = false
		}
		b = append(b, id[:]...)
	}
	return b, allZero
}

func isZero(p, zero []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(zero))
		if !bytes.Equal(p[:n], zero[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

// protect keeps a snapshot's chunks alive for GC while a capture uses it as
// its parent, or a restore or reader reads it, even if it is deleted.
func (r *Repository) protect(m *Manifest) func() {
	if m == nil {
		return func() {}
	}
	r.mu.Lock()
	r.inflight[m]++
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		if r.inflight[m]--; r.inflight[m] == 0 {
			delete(r.inflight, m)
		}
		if r.gcs > 0 {
			r.held = append(r.held, m)
		}
		r.mu.Unlock()
	}
}

// IsDamaged reports whether err says that stored data is damaged: a chunk
// or pack is missing, truncated or fails its checksum.
func IsDamaged(err error) bool {
	return errors.Is(err, chunk.ErrCorrupt) || errors.Is(err, chunk.ErrNotFound) || errors.Is(err, blob.ErrNotExist)
}
