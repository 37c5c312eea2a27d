package snapshot

import "context"

// PointBytes is what one snapshot holds: Full, its non-zero blocks (the
// size of a full copy of it), and Changed, the blocks its capture found
// different from its parent (the size of its increment; Full without a
// parent).
func (r *Repository) PointBytes(ctx context.Context, id ID) (full, changed int64, err error) {
	m, err := r.Get(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	if full, err = r.logicalBytes(ctx, m); err != nil {
		return 0, 0, err
	}
	changed = min(m.Stats.BytesChanged, full)
	if m.Parent == "" {
		changed = full
	}
	return full, changed, nil
}
