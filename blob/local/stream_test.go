package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/safehold/safehold/blob"
)

// An object written in pieces (Stream), both ways (an unnamed file, a
// named temporary one where there is no O_TMPFILE): pieces written out of
// order and at once, aligned ones (direct) and one that is not (the file
// goes buffered), read back while it is written; nothing is listed, and
// the key is free, until Commit; Commit puts exactly the bytes written,
// refuses an existing key without touching it, leaves its directory to
// SyncPuts and ends the stream; Abort leaves nothing in the temporary
// directory. A stream given a size reserves it and Commit cuts the object
// to what was written.
func TestStream(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	data := blob.AlignedBuf(5<<20 + 300)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	// Pieces of 1 MiB (the last ends unaligned), written last first.
	type piece struct{ off, end int }
	var pieces []piece
	for off := 0; off < len(data); off += 1 << 20 {
		pieces = append([]piece{{off, min(off+1<<20, len(data))}}, pieces...)
	}
	for _, tc := range []struct {
		named bool
		size  int64
	}{{false, 0}, {true, 0}, {false, 8 << 20}, {true, 8 << 20}} {
		named := tc.named
		t.Run(fmt.Sprintf("%s/size=%d", map[bool]string{false: "unnamed", true: "named"}[named], tc.size), func(t *testing.T) {
			b, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			b.named = named
			tmpEntries := func() int {
				ents, err := os.ReadDir(filepath.Join(b.root, tmpDir))
				if err != nil {
					t.Fatal(err)
				}
				return len(ents)
			}
			st, err := b.Stream(ctx, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tmpEntries(), map[bool]int{false: 0, true: 1}[named]; got != want {
				t.Fatalf("temporary directory holds %d entries while streaming, want %d", got, want)
			}
			var wg sync.WaitGroup
			errs := make([]error, len(pieces))
			for i, pc := range pieces {
				wg.Go(func() { errs[i] = st.WriteAt(data[pc.off:pc.end], int64(pc.off)) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			for _, r := range [][2]int{{0, 10}, {4095, 4097}, {1<<20 - 5, 1<<20 + 70000}, {len(data) - 300, len(data)}} {
				got := make([]byte, r[1]-r[0])
				if err := st.ReadAt(got, int64(r[0])); err != nil || !bytes.Equal(got, data[r[0]:r[1]]) {
					t.Fatalf("ReadAt [%d,%d) while streaming: %v, or not what was written", r[0], r[1], err)
				}
			}
			if err := st.ReadAt(make([]byte, 10), int64(len(data))); err == nil {
				t.Fatal("ReadAt past what was written: no error")
			}
			var listed []string
			b.List(ctx, "", func(in blob.Info) error { listed = append(listed, in.Key); return nil })
			if len(listed) != 0 {
				t.Fatalf("listed while streaming: %q", listed)
			}
			if _, err := b.Stat(ctx, "pack/5a0001"); !errors.Is(err, blob.ErrNotExist) {
				t.Fatalf("stat of the key before Commit: %v, want ErrNotExist", err)
			}
			if err := st.Commit(ctx, "pack/5a0001"); err != nil {
				t.Fatal(err)
			}
			if got, err := b.Get(ctx, "pack/5a0001", 0, -1); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get after Commit: %d bytes (%v), not what was written", len(got), err)
			}
			var fst unix.Stat_t
			if err := unix.Stat(filepath.Join(b.root, "pack", "5a", "5a0001"), &fst); err != nil {
				t.Fatal(err)
			}
			if fst.Blocks*512 > int64(len(data))+64<<10 {
				t.Fatalf("the object of %d bytes allocates %d: the reserved room was kept", len(data), fst.Blocks*512)
			}
			b.dirMu.Lock()
			_, pending := b.unsynced[filepath.Join(b.root, "pack", "5a")]
			b.dirMu.Unlock()
			if !pending {
				t.Fatal("Commit left no directory to SyncPuts")
			}
			if err := b.SyncPuts(ctx); err != nil {
				t.Fatal(err)
			}
			if err := st.WriteAt(data[:4096], 0); !errors.Is(err, blob.ErrEnded) {
				t.Fatalf("WriteAt after Commit: %v, want ErrEnded", err)
			}
			if err := st.ReadAt(make([]byte, 10), 0); !errors.Is(err, blob.ErrEnded) {
				t.Fatalf("ReadAt after Commit: %v, want ErrEnded", err)
			}
			if err := st.Commit(ctx, "pack/5a0002"); !errors.Is(err, blob.ErrEnded) {
				t.Fatalf("Commit again: %v, want ErrEnded", err)
			}

			// A key that exists is refused and keeps its object.
			st2, err := b.Stream(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := st2.WriteAt([]byte("other"), 0); err != nil {
				t.Fatal(err)
			}
			if err := st2.Commit(ctx, "pack/5a0001"); !errors.Is(err, blob.ErrExist) {
				t.Fatalf("Commit to an existing key: %v, want ErrExist", err)
			}
			if got, err := b.Get(ctx, "pack/5a0001", 0, -1); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("existing object after a refused Commit: %d bytes (%v), changed", len(got), err)
			}
			// An aborted stream leaves nothing.
			st3, err := b.Stream(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := st3.WriteAt(data[:1<<20], 0); err != nil {
				t.Fatal(err)
			}
			st3.Abort()
			st3.Abort()
			if err := st3.Commit(ctx, "pack/5a0003"); !errors.Is(err, blob.ErrEnded) {
				t.Fatalf("Commit after Abort: %v, want ErrEnded", err)
			}
			if _, err := b.Stat(ctx, "pack/5a0003"); !errors.Is(err, blob.ErrNotExist) {
				t.Fatalf("stat after Abort: %v, want ErrNotExist", err)
			}
			if n := tmpEntries(); n != 0 {
				t.Fatalf("temporary directory holds %d entries after Commit and Abort, want none", n)
			}
			if n := openTemp(t, b); n != 0 {
				t.Fatalf("%d descriptors of temporary files still open", n)
			}
		})
	}
}

// openTemp counts this process's descriptors of files in b's temporary
// directory (an unnamed one reads "tmp~/#123 (deleted)").
func openTemp(t *testing.T, b *Backend) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	n := 0
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(l, filepath.Join(b.root, tmpDir)+"/") {
			n++
		}
	}
	return n
}

// A piece the file system cannot take fails with its error, and a
// stream whose temporary directory is gone cannot start: the error says
// so (the chunk store fails the pack, and the job's flush with it).
func TestStreamFailures(t *testing.T) {
	ctx := context.Background()
	b, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Stream(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Abort()
	if err := st.WriteAt([]byte("x"), 1<<62); !errors.Is(err, unix.EFBIG) && !errors.Is(err, unix.EINVAL) {
		t.Fatalf("WriteAt past the largest file: %v, want EFBIG", err)
	}
	if err := os.RemoveAll(filepath.Join(b.root, tmpDir)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stream(ctx, 0); err == nil || !strings.Contains(err.Error(), tmpDir) {
		t.Fatalf("Stream without a temporary directory: %v, want an error naming it", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Stream(cctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stream with a canceled context: %v", err)
	}
}
