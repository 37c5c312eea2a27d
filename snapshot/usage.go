package snapshot

import (
	"context"
	"fmt"
)

// Usage is what the repository holds: its snapshots' logical content
// against the bytes it stores.
type Usage struct {
	Snapshots    int   // manifests in the repository
	LogicalBytes int64 // the snapshots' non-zero blocks, each snapshot counted as a full copy
	StoredBytes  int64 // durable pack bytes (after dedup, compression and encryption)
	Chunks       int
}

// Usage measures the repository. A snapshot's logical size is read from its
// segments once and cached (manifests are immutable); the stored bytes are
// the chunk index's, whose view of the packs is at most a minute old.
func (r *Repository) Usage(ctx context.Context) (Usage, error) {
	ms, err := r.List(ctx)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	u.Snapshots = len(ms)
	for _, m := range ms {
		n, err := r.logicalBytes(ctx, m)
		if err != nil {
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
	for i, seg := range m.Segments {
		if seg.IsZero() {
			continue
		}
		ids, err := r.loadSegment(ctx, seg, blocksIn(m.Size, i))
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
	r.logical.Store(m.ID, n)
	return n, nil
}
