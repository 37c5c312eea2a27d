package local_test

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/local"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Backend { return openTemp(t) })
}

// openTemp opens a backend on a fresh temporary directory.
func openTemp(t *testing.T) *local.Backend {
	t.Helper()
	b, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Large objects read back exactly, whole and in unaligned ranges, through
// Get and through GetInto with a scratch buffer too small (a new buffer) or
// large enough (read into it), and a range past the end is refused.
func TestLargeObjects(t *testing.T) {
	ctx := context.Background()
	b := openTemp(t)
	rng := rand.New(rand.NewPCG(3, 4))
	big := blob.AlignedBuf(9<<20 + 4096 + 123) // aligned: written with O_DIRECT
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	objs := map[string][]byte{
		"pack/aligned0001":   big[:8<<20],                // a whole number of pages
		"pack/unaligned0002": big[:9<<20+123],            // a short last page
		"pack/offset0003":    big[4096+7 : 4096+7+3<<20], // a buffer off the page boundary
	}
	for k, v := range objs {
		if err := b.Put(ctx, k, v); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	for k, v := range objs {
		n := int64(len(v))
		for _, r := range [][2]int64{{0, -1}, {0, n}, {1, n - 1}, {4095, 1<<20 + 2}, {n - (1<<20 + 5), 1<<20 + 5}, {12345, 2<<20 - 1}, {n - 1, 1}} {
			got, err := b.Get(ctx, k, r[0], r[1])
			if err != nil {
				t.Fatalf("get %s [%d, +%d): %v", k, r[0], r[1], err)
			}
			want := v[r[0]:]
			if r[1] >= 0 {
				want = v[r[0] : r[0]+r[1]]
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("get %s [%d, +%d): %d bytes differ from what was put", k, r[0], r[1], len(got))
			}
			for _, scratch := range [][]byte{make([]byte, 10), make([]byte, len(big)), blob.AlignedBuf(len(big) + 2*blob.Align)} {
				got, err := b.GetInto(ctx, k, r[0], r[1], scratch)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("get %s [%d, +%d) into %d bytes: %d bytes (%v) differ from what was put", k, r[0], r[1], len(scratch), len(got), err)
				}
				if into := len(scratch) >= len(want); into != (len(got) == 0 || within(got, scratch)) {
					t.Fatalf("get %s [%d, +%d) into %d bytes: read into the scratch buffer: %v, want %v", k, r[0], r[1], len(scratch), !into, into)
				}
			}
		}
		if _, err := b.Get(ctx, k, n-10, 2<<20); err == nil {
			t.Fatalf("get %s past its end: no error", k)
		}
	}
}

// within reports whether p lies in the memory of buf.
func within(p, buf []byte) bool {
	start := uintptr(unsafe.Pointer(&buf[0]))
	at := uintptr(unsafe.Pointer(&p[0]))
	return at >= start && at+uintptr(len(p)) <= start+uintptr(len(buf))
}

// A large object put from an aligned buffer goes to the file system with
// O_DIRECT: its whole pages are not left in the page cache (only the short
// last page, written buffered), so a backup's packs cost no copy into the
// cache and evict nothing. Skipped where the file system refuses direct I/O.
func TestLargePutSkipsPageCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A file system may refuse O_DIRECT, or accept it and cache anyway
	// (tmpfs): probe with one page.
	probe := filepath.Join(dir, "probe")
	fd, err := unix.Open(probe, unix.O_CREAT|unix.O_WRONLY|unix.O_DIRECT, 0o600)
	if err != nil {
		t.Skipf("no direct I/O in %s: %v", dir, err)
	}
	_, err = unix.Pwrite(fd, blob.AlignedBuf(blob.Align), 0)
	unix.Close(fd)
	if err != nil || residentPages(t, probe) != 0 {
		t.Skipf("direct writes in %s are cached (or fail: %v)", dir, err)
	}
	b, err := local.Open(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	data := blob.AlignedBuf(4<<20 + 100)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for name, p := range map[string][]byte{"aligned": data, "unaligned": data[1:]} {
		key := "pack/" + name + "0001"
		if err := b.Put(ctx, key, p); err != nil {
			t.Fatal(err)
		}
		var path string
		filepath.WalkDir(filepath.Join(dir, "objects", "pack"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == name+"0001" {
				path = p
			}
			return nil
		})
		cached := residentPages(t, path)
		pages := (len(p) + blob.Align - 1) / blob.Align
		if name == "aligned" && cached > 1 {
			t.Errorf("aligned put: %d of %d pages in the page cache, want at most the last one", cached, pages)
		}
		if name == "unaligned" && cached < pages-1 {
			t.Errorf("unaligned put (buffered): %d of %d pages in the page cache, want all", cached, pages)
		}
		got, err := b.Get(ctx, key, 0, -1)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("%s: read back %d bytes (%v), differ from what was put", key, len(got), err)
		}
	}
}

// residentPages counts the pages of the file at path in the page cache.
func residentPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestPutAfterItsDirectoryWasRemoved: the backend remembers which shard
// directories it has made durable, and a directory removed from under it
// since (by hand, or another process) is made again, so the next put into
// it succeeds and reads back.
func TestPutAfterItsDirectoryWasRemoved(t *testing.T) {
	ctx := context.Background()
	b := openTemp(t)
	if err := b.Put(ctx, "pack/ab/one", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(b.Root(), "pack")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "pack/ab/two", []byte("two")); err != nil {
		t.Fatalf("put after the directory was removed: %v", err)
	}
	got, err := b.Get(ctx, "pack/ab/two", 0, -1)
	if err != nil || string(got) != "two" {
		t.Fatalf("read back %q, %v", got, err)
	}
}
