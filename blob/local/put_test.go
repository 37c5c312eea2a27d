package local

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
)

// Both ways of putting an object, an unnamed file (O_TMPFILE) linked to
// its name and the named temporary file used where the file system has
// no O_TMPFILE, keep the backend's contract, read back what was put
// (large aligned objects are written with O_DIRECT), refuse an existing
// key without changing the object, and leave nothing in the temporary
// directory.
func TestPutWays(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	big := blob.AlignedBuf(4<<20 + 4096 + 100)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	for _, named := range []bool{false, true} {
		t.Run(map[bool]string{false: "unnamed", true: "named"}[named], func(t *testing.T) {
			open := func(t *testing.T) *Backend {
				b, err := Open(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				b.named = named
				return b
			}
			if named { // TestConformance runs the suite on the default way
				blobtest.Run(t, func(t *testing.T) blob.Backend { return open(t) })
			}

			b := open(t)
			if !named {
				fd, err := unix.Open(filepath.Join(b.root, tmpDir), unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
				if err != nil {
					t.Skipf("no O_TMPFILE here: %v", err)
				}
				unix.Close(fd)
				if done, err := b.putUnnamed(filepath.Join(b.root, "probe"), []byte("probe")); !done || err != nil {
					t.Fatalf("put of an unnamed file: done %v, %v; want it done", done, err)
				}
			}
			objs := map[string][]byte{
				"pack/aligned0001":   big[:4<<20],
				"pack/unaligned0002": big[:4<<20+4096+100],
				"pack/offset0003":    big[7 : 7+1<<20],
				"config":             []byte("small"),
			}
			for k, v := range objs {
				if err := b.Put(ctx, k, v); err != nil {
					t.Fatalf("put %s: %v", k, err)
				}
			}
			for k, v := range objs {
				if err := b.Put(ctx, k, []byte("another object")); !errors.Is(err, blob.ErrExist) {
					t.Fatalf("put %s again: %v, want ErrExist", k, err)
				}
				got, err := b.Get(ctx, k, 0, -1)
				if err != nil || !bytes.Equal(got, v) {
					t.Fatalf("get %s: %d bytes (%v), differ from what was put first", k, len(got), err)
				}
			}
			ents, err := os.ReadDir(filepath.Join(b.root, tmpDir))
			if err != nil || len(ents) != 0 {
				t.Fatalf("temporary directory holds %d entries (%v), want none", len(ents), err)
			}
		})
	}
}

// unsyncedPuts is a backend whose Put is PutUnsynced alone.
type unsyncedPuts struct{ *Backend }

func (u unsyncedPuts) Put(ctx context.Context, key string, data []byte) error {
	return u.PutUnsynced(ctx, key, data)
}

// PutUnsynced keeps the backend's contract but durability (atomic,
// immutable, seen at once by Get, Stat and List), and leaves its
// objects' directories to SyncPuts: each directory is pending until a
// SyncPuts fsyncs it, one whose fsync fails stays pending for the next,
// and one that is gone is no error (nothing in it to make durable). A
// synced Put leaves nothing pending.
func TestPutUnsyncedThenSyncPuts(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Backend {
		b, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return unsyncedPuts{b}
	})

	ctx := context.Background()
	b, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pending := func() []string {
		b.dirMu.Lock()
		defer b.dirMu.Unlock()
		var out []string
		for d := range b.unsynced {
			rel, _ := filepath.Rel(b.root, d)
			out = append(out, rel)
		}
		slices.Sort(out)
		return out
	}
	big := blob.AlignedBuf(1 << 20)
	for i := range big {
		big[i] = byte(i * 13)
	}
	objs := map[string][]byte{"pack/aa01": big, "pack/aa02": []byte("small"), "pack/bb03": big[:8192]}
	for k, v := range objs {
		if err := b.PutUnsynced(ctx, k, v); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	for k, v := range objs {
		if got, err := b.Get(ctx, k, 0, -1); err != nil || !bytes.Equal(got, v) {
			t.Fatalf("get %s right after PutUnsynced: %d bytes (%v), not what was put", k, len(got), err)
		}
		if err := b.PutUnsynced(ctx, k, []byte("other")); !errors.Is(err, blob.ErrExist) {
			t.Fatalf("PutUnsynced %s again: %v, want ErrExist", k, err)
		}
	}
	if got, want := pending(), []string{"pack/aa", "pack/bb"}; !slices.Equal(got, want) {
		t.Fatalf("directories pending a sync: %q, want %q", got, want)
	}
	if err := b.SyncPuts(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("directories pending after SyncPuts: %q", got)
	}
	if err := b.Put(ctx, "pack/cc04", []byte("synced")); err != nil {
		t.Fatal(err)
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("directories pending after a synced Put: %q", got)
	}

	// A directory whose fsync fails (here it is no directory any more)
	// stays pending, and SyncPuts says so until it can be synced.
	if err := b.PutUnsynced(ctx, "pack/dd05", []byte("x")); err != nil {
		t.Fatal(err)
	}
	dd := filepath.Join(b.root, "pack", "dd")
	if err := os.Rename(dd, dd+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dd, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := b.SyncPuts(ctx); err == nil || !strings.Contains(err.Error(), "pack/dd") {
			t.Fatalf("SyncPuts with pack/dd a file: %v, want an error naming it", err)
		}
		if got := pending(); !slices.Equal(got, []string{"pack/dd"}) {
			t.Fatalf("directories pending after a failed sync: %q, want pack/dd", got)
		}
	}
	if err := os.Remove(dd); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dd+".moved", dd); err != nil {
		t.Fatal(err)
	}
	if err := b.SyncPuts(ctx); err != nil {
		t.Fatalf("SyncPuts once pack/dd is a directory again: %v", err)
	}
	// A directory removed with its objects holds nothing to make durable.
	if err := b.PutUnsynced(ctx, "pack/ee06", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(b.root, "pack", "ee")); err != nil {
		t.Fatal(err)
	}
	if err := b.SyncPuts(ctx); err != nil {
		t.Fatalf("SyncPuts after the directory was removed: %v", err)
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("directories pending: %q, want none", got)
	}
}
