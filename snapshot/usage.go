package snapshot

import (
	"context"
	"errors"
	"fmt"

	"github.com/safehold/safehold/chunk"
)

// Usage is what the repository holds: its snapshots' logical content
// against the bytes it stores.
type Usage struct {
	Snapshots    int   // manifests in the repository
	LogicalBytes int64 // the snapshots' non-zero blocks, each snapshot counted as a full copy
	StoredBytes  int64 // durable pack bytes (after dedup, compression and encryption)
	Chunks       int
	// Damaged is how many snapshots have a segment that cannot be read (its
	// chunk damaged or lost: verify names them); LogicalBytes counts what
	// their other segments hold.
	Damaged int
}

// Usage measures the repository. A snapshot's logical size is read from its
// segments once and cached (manifests are immutable); the stored bytes are
// the chunk index's, whose view of the packs is at most a minute old.
func (r *Repository) Usage(ctx context.Context) (Usage, error) {
	// The snapshots' names only: a manifest is read (a GET from the object
	// store, a decode) only when its logical size is not known yet.
	ids, err := r.listIDs(ctx)
	if err != nil {
		return Usage{}, fmt.Errorf("list snapshots: %w", err)
	}
	// Forget the sizes of snapshots deleted since (each kept for good, a
	// year of hourly backups of many disks held them by the hundred thousand).
	listed := make(map[ID]bool, len(ids))
	for _, id := range ids {
		listed[id] = true
	}
	r.logical.Range(func(k, _ any) bool {
		if !listed[k.(ID)] {
			r.logical.Delete(k)
		}
		return true
	})
	var u Usage
	for _, id := range ids {
		if v, ok := r.logical.Load(id); ok {
			u.Snapshots++
			u.LogicalBytes += v.(int64)
			continue
		}
		m, err := r.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if errors.Is(err, chunk.ErrCorrupt) {
			u.Snapshots++ // its manifest is damaged: nothing of it can be counted
			u.Damaged++
			continue
		}
		if err != nil {
			return Usage{}, fmt.Errorf("list snapshots: %w", err)
		}
		u.Snapshots++
		n, err := r.logicalBytes(ctx, m)
		if errors.Is(err, chunk.ErrCorrupt) || errors.Is(err, chunk.ErrNotFound) {
			// A damaged repository is measured too (a status read is what an
			// operator asks first); it answered the damage as an error.
			u.Damaged++
		} else if err != nil {
			return Usage{}, err
		}
		u.LogicalBytes += n
	}
	// Packs another replica stored or collected: its view of the bucket is
	// listed again when over a minute old, as a capture's is.
	if _, err := r.chunks.RefreshIfOlder(ctx, refreshAge); err != nil {
		return Usage{}, err
	}
	u.Chunks, u.StoredBytes = r.chunks.Size()
	return u, nil
}

func (r *Repository) logicalBytes(ctx context.Context, m *Manifest) (int64, error) {
	if v, ok := r.logical.Load(m.ID); ok {
		return v.(int64), nil
	}
	var n int64
	var damaged error
	for i, seg := range m.Segments {
		if seg.IsZero() {
			continue
		}
		ids, err := r.loadSegment(ctx, seg, blocksIn(m.Size, i))
		if err != nil && damaged == nil && (errors.Is(err, chunk.ErrCorrupt) || errors.Is(err, chunk.ErrNotFound)) {
			damaged = fmt.Errorf("usage of snapshot %s: %w", m.ID, err)
			continue // the others are counted; the total is not kept
		}
		if err != nil {
			return 0, fmt.Errorf("usage of snapshot %s: %w", m.ID, err)
		}
		for b, id := range ids {
			if !id.IsZero() {
				off := (int64(i)*SegmentBlocks + int64(b)) * BlockSize
				n += min(BlockSize, m.Size-off)
			}
		}
	}
	if damaged != nil {
		return n, damaged
	}
	r.logical.Store(m.ID, n)
	return n, nil
}
