// Package blob defines the storage contract every Safehold backend implements:
// a flat namespace of immutable objects addressed by key.
//
// The contract (every implementation runs blobtest.Run to prove it):
//
//   - Keys are non-empty, slash-separated paths of the characters [a-z0-9._-]
//     ("pack/3f2a…", "snapshot/20261122T0400Z-1a2b"). No element is empty,
//     "." or "..". Implementations may lay keys out however they like
//     (local shards them into sub-folders); List always returns the key.
//   - Put is atomic: a concurrent or later Get, Stat or List sees either no
//     object or the whole object, never a prefix, even if the process is
//     killed or the machine loses power during the Put. When Put returns nil
//     the object is durable.
//   - Put is immutable: putting a key that already exists fails with an error
//     wrapping ErrExist and leaves the stored object unchanged. Objects are
//     never modified, only deleted.
//   - Reads after a successful Put or Delete see its effect (read-after-write),
//     in the same process and in others.
//   - Get returns length bytes from offset off, or the rest of the object when
//     length < 0. A range that extends past the end fails with an error
//     wrapping ErrRange; a missing key fails with an error wrapping
//     ErrNotExist.
//   - List calls fn for every completed object whose key starts with prefix,
//     in no particular order; objects being written are never listed. If fn
//     returns an error, List stops and returns it.
//   - Delete of a missing key returns an error wrapping ErrNotExist.
//   - All methods are safe for concurrent use and honour ctx cancellation.
//
// Backends in this tree: local (a directory, the default), mem (in memory,
// for tests and dry runs) and blobtest.Faulty (fault injection). Object
// stores (Azure Blob, S3) map onto the same contract: conditional create
// (If-None-Match: *) gives ErrExist, range GETs give Get.
//
// The layers above keep request counts low on object stores: chunk packs many
// small chunks into larger pack objects and keeps a local index, so neither
// reads nor existence checks pay one request per chunk.
package blob

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Implementations wrap them; callers test with errors.Is.
var (
	ErrNotExist = errors.New("object does not exist")
	ErrExist    = errors.New("object already exists")
	ErrRange    = errors.New("range outside object")
)

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time // when the object was written; GC grace windows use it
}

// Backend is the storage contract; see the package documentation for the
// guarantees every implementation gives.
type Backend interface {
	// Put stores data under key atomically and durably. It fails with
	// ErrExist if the key exists. The backend does not retain data.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns length bytes of the object from offset off (the rest of
	// the object if length < 0).
	Get(ctx context.Context, key string, off, length int64) ([]byte, error)
	// Stat returns the object's size and modification time.
	Stat(ctx context.Context, key string) (Info, error)
	// List calls fn for each object whose key has the given prefix.
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// Delete removes the object.
	Delete(ctx context.Context, key string) error
	// Close releases resources; the backend is unusable afterwards.
	Close() error
}

// GroupSyncer is implemented by a backend that can store an object at
// once and make it durable later together with others: the local
// backend's Put fsyncs the object's directory after linking it, a device
// cache flush per object that a pack upload held its slot (and its 8 MiB
// buffer) for; with GroupSyncer a full backup's packs share one directory
// fsync per shard directory, at the writer's flush.
type GroupSyncer interface {
	// PutUnsynced is Put, atomic and immutable as Put and visible to
	// Get, Stat and List when it returns, but not yet durable: after a
	// power loss the object may be absent (never partial) until a
	// SyncPuts that began after PutUnsynced returned has returned nil.
	PutUnsynced(ctx context.Context, key string, data []byte) error
	// SyncPuts makes durable every object whose PutUnsynced returned
	// before SyncPuts was called.
	SyncPuts(ctx context.Context) error
}

// ValidKey reports whether key follows the key rules of the contract.
func ValidKey(key string) error {
	if key == "" {
		return fmt.Errorf("invalid key %q: empty", key)
	}
	for _, el := range strings.Split(key, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("invalid key %q: bad path element", key)
		}
		for i := 0; i < len(el); i++ {
			c := el[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("invalid key %q: character %q", key, c)
			}
		}
	}
	return nil
}

// CheckRange validates a Get range against an object of the given size and
// returns the absolute end offset.
func CheckRange(key string, size, off, length int64) (int64, error) {
	if off < 0 || off > size {
		return 0, fmt.Errorf("get %s [%d,+%d) of %d bytes: %w", key, off, length, size, ErrRange)
	}
	if length < 0 {
		return size, nil
	}
	if off+length > size {
		return 0, fmt.Errorf("get %s [%d,+%d) of %d bytes: %w", key, off, length, size, ErrRange)
	}
	return off + length, nil
}
