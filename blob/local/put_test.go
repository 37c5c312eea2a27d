package local

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
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
