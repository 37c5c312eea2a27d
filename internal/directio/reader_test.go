package directio

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/safehold/safehold/internal/testsvc"
)

// alignedBuf returns n bytes starting on an Align boundary.
func alignedBuf(n int) []byte {
	b := make([]byte, n+Align)
	a := (Align - int(uintptr(unsafe.Pointer(&b[0]))%Align)) % Align
	return b[a : a+n]
}

// TestReaderReadsWhatTheFileHolds reads a file of unaligned size through a
// Reader at aligned and unaligned offsets, into aligned and unaligned
// buffers, across its end, and after buffered writes still in the page
// cache: every read returns what os.File's ReadAt returns.
func TestReaderReadsWhatTheFileHolds(t *testing.T) {
	const size = 3<<20 + 1234
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	r := NewReader(f, size)
	defer r.Close()
	if r.d == nil {
		t.Log("no direct descriptor here: every read goes buffered")
	}
	// The page cache holds the file now: reads copy from it. Drop the
	// cache of its second part (clean pages, after an fsync) and of all
	// of it, so reads also go direct, wholly and after a cached prefix.
	dropCache := func(off, n int64) {
		t.Helper()
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, p []byte, off int64) {
		t.Helper()
		clear(p)
		n, err := r.ReadAt(p, off)
		wn := min(int64(len(p)), max(size-off, 0))
		if int64(n) != wn || (wn < int64(len(p))) != (err == io.EOF) || (err != nil && err != io.EOF) {
			t.Fatalf("%s: read %d at %d: n=%d err=%v, want n=%d", name, len(p), off, n, err, wn)
		}
		if !bytes.Equal(p[:n], want[off:off+int64(n)]) {
			t.Fatalf("%s: read %d at %d returned other bytes than the file holds", name, len(p), off)
		}
	}
	big := alignedBuf(size + 2*Align)
	reads := func(cache string) {
		check("whole file, aligned, "+cache, big[:size], 0)
		check("past the end, aligned, "+cache, big[:2<<20], 2<<20)
		check("unaligned offset, "+cache, big[:1<<20], 1<<20+100)
		check("unaligned buffer, "+cache, big[7:7+1<<20], 4096)
		check("small, "+cache, big[:100], 5000)
		check("at the end, "+cache, big[:10], size)
	}
	// cachestat (Linux 6.5) decides which ranges come from the cache.
	cacheSays := func(off, n int64, want bool) {
		t.Helper()
		if _, _, got := r.readCached(make([]byte, n), off); got != want && !r.noCache.Load() {
			t.Fatalf("readCached(%d bytes at %d) read from the cache: %v, want %v", n, off, got, want)
		}
	}
	cacheSays(0, size, true)
	reads("cached")
	dropCache(2<<20, 0) // 2 MiB aligned: large folios go whole
	cacheSays(0, size, false)
	cacheSays(0, 2<<20, true)
	cacheSays(2<<20+5, 100, false)
	reads("from 2 MiB on not cached")
	dropCache(0, 0)
	cacheSays(0, 4096, false)
	reads("not cached")
	if r.noCache.Load() {
		t.Log("no cachestat here: every aligned read went direct")
	}
	// A buffered write is seen by the next read (the direct read writes
	// the dirty pages back first).
	for i := 0; i < 20; i++ {
		off := rng.Int64N(size - 5000)
		p := bytes.Repeat([]byte{byte(i + 1)}, 1+rng.IntN(5000))
		if _, err := f.WriteAt(p, off); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], p)
		check("after a buffered write", big[:size], 0)
	}
}

// TestReaderClosed: reads after Close fail, never read another file.
func TestReaderClosed(t *testing.T) {
	f := testsvc.SizedFile(t, 1<<20)
	r := NewReader(f, 1<<20)
	r.Close()
	if r.d == nil {
		t.Skip("no direct descriptor here")
	}
	if _, err := r.ReadAt(alignedBuf(1<<20), 0); err == nil {
		t.Fatal("read through a closed direct descriptor succeeded")
	}
}
