package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/safehold/safehold/blob"
)

// WrapBlob instruments a blob backend's latencies and bytes moved. A
// backend that reads ranges into the caller's buffers (blob/local's
// GetInto, which a restore's and a verify's reads use) keeps doing so
// through the wrapper; one that does not is not made to look as if it did.
func (m *Metrics) WrapBlob(be blob.Backend) blob.Backend {
	b := &instBlob{Backend: be, m: m}
	if into, ok := be.(getInto); ok {
		return &instBlobInto{instBlob: b, into: into}
	}
	return b
}

// getInto is blob/local's GetInto (chunk.Store looks for it).
type getInto interface {
	GetInto(ctx context.Context, key string, off, length int64, scratch []byte) ([]byte, error)
}

type instBlobInto struct {
	*instBlob
	into getInto
}

func (b *instBlobInto) GetInto(ctx context.Context, key string, off, length int64, scratch []byte) ([]byte, error) {
	defer since(b.m.blobLat, "get", time.Now())
	d, err := b.into.GetInto(ctx, key, off, length, scratch)
	b.m.blobBytes.WithLabelValues("get").Add(float64(len(d)))
	return d, err
}

type instBlob struct {
	blob.Backend
	m *Metrics
}

func (b *instBlob) Put(ctx context.Context, key string, data []byte) error {
	defer since(b.m.blobLat, "put", time.Now())
	err := b.Backend.Put(ctx, key, data)
	if err == nil {
		b.m.blobBytes.WithLabelValues("put").Add(float64(len(data)))
	}
	return err
}

// PutUnsynced and SyncPuts pass a chunk store's grouped syncs through to
// a backend that has them (local: a pack's directory fsynced once per
// flush); on another, PutUnsynced is its Put, durable at once, which
// keeps blob.GroupSyncer's contract with a SyncPuts that does nothing.
func (b *instBlob) PutUnsynced(ctx context.Context, key string, data []byte) error {
	gs, ok := b.Backend.(blob.GroupSyncer)
	if !ok {
		return b.Put(ctx, key, data)
	}
	defer since(b.m.blobLat, "put", time.Now())
	err := gs.PutUnsynced(ctx, key, data)
	if err == nil {
		b.m.blobBytes.WithLabelValues("put").Add(float64(len(data)))
	}
	return err
}

func (b *instBlob) SyncPuts(ctx context.Context) error {
	if gs, ok := b.Backend.(blob.GroupSyncer); ok {
		return gs.SyncPuts(ctx)
	}
	return nil
}

func (b *instBlob) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	defer since(b.m.blobLat, "get", time.Now())
	d, err := b.Backend.Get(ctx, key, off, length)
	b.m.blobBytes.WithLabelValues("get").Add(float64(len(d)))
	return d, err
}

func (b *instBlob) Stat(ctx context.Context, key string) (blob.Info, error) {
	defer since(b.m.blobLat, "stat", time.Now())
	return b.Backend.Stat(ctx, key)
}

func (b *instBlob) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	defer since(b.m.blobLat, "list", time.Now())
	return b.Backend.List(ctx, prefix, fn)
}

func (b *instBlob) Delete(ctx context.Context, key string) error {
	defer since(b.m.blobLat, "delete", time.Now())
	return b.Backend.Delete(ctx, key)
}

// CleanTemp passes through to backends that leave temporary files behind
// (local), so wrapping keeps the GC's cleanup.
func (b *instBlob) CleanTemp(age time.Duration, now time.Time) error {
	if tc, ok := b.Backend.(interface {
		CleanTemp(time.Duration, time.Time) error
	}); ok {
		return tc.CleanTemp(age, now)
	}
	return nil
}

// Health checks the backend answers (a Stat of the repository's config
// object; a missing object still proves the backend is reachable).
func Health(ctx context.Context, be blob.Backend) error {
	_, err := be.Stat(ctx, "config")
	if err != nil && !errors.Is(err, blob.ErrNotExist) {
		return err
	}
	return nil
}
