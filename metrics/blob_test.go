package metrics_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/metrics"
)

type getInto interface {
	GetInto(ctx context.Context, key string, off, length int64, scratch []byte) ([]byte, error)
}

// The instrumented backend keeps blob/local's reads into the caller's
// buffer (a restore's and a verify's reads go through it in the server),
// counts their bytes, and does not claim them for a backend without them.
func TestWrappedBlobKeepsGetInto(t *testing.T) {
	ctx := context.Background()
	be, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("safehold"), 1024)
	if err := be.Put(ctx, "k", data); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	w := m.WrapBlob(be)
	into, ok := w.(getInto)
	if !ok {
		t.Fatal("the instrumented local backend hides GetInto")
	}
	scratch := blob.HugeBuf(1 << 20)
	got, err := into.GetInto(ctx, "k", 8, 4096, scratch)
	if err != nil || !bytes.Equal(got, data[8:8+4096]) {
		t.Fatalf("GetInto: %v, %d bytes", err, len(got))
	}
	if n := series(t, m, "safehold_blob_bytes_total", "get").GetCounter().GetValue(); n != 4096 {
		t.Fatalf("safehold_blob_bytes_total{direction=get} = %v, want 4096", n)
	}
	if _, ok := m.WrapBlob(mem.New(time.Now)).(getInto); ok {
		t.Fatal("the instrumented memory backend claims a GetInto it does not have")
	}
}

// Through the instrumented backend a chunk store's pack puts keep the
// local backend's grouped syncs (PutUnsynced, then SyncPuts), counted as
// puts; on a backend without them PutUnsynced is its Put, durable at
// once, and SyncPuts has nothing to do.
func TestWrappedBlobKeepsGroupedSyncs(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("safehold"), 512)
	lb, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mb := mem.New(time.Now)
	for _, be := range []blob.Backend{lb, mb} {
		m := metrics.New()
		gs, ok := m.WrapBlob(be).(blob.GroupSyncer)
		if !ok {
			t.Fatal("the instrumented backend hides PutUnsynced and SyncPuts")
		}
		if err := gs.PutUnsynced(ctx, "pack/aa01", data); err != nil {
			t.Fatal(err)
		}
		if got, err := be.Get(ctx, "pack/aa01", 0, -1); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("the object put: %v, %d bytes", err, len(got))
		}
		if err := gs.SyncPuts(ctx); err != nil {
			t.Fatal(err)
		}
		if n := series(t, m, "safehold_blob_bytes_total", "put").GetCounter().GetValue(); n != float64(len(data)) {
			t.Fatalf("safehold_blob_bytes_total{direction=put} = %v, want %d", n, len(data))
		}
	}
}
