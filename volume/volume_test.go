package volume

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"
)

func fill(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func readAll(t *testing.T, r io.ReaderAt, size int64) []byte {
	t.Helper()
	p := make([]byte, size)
	if n, err := r.ReadAt(p, 0); err != nil && !(err == io.EOF && int64(n) == size) {
		t.Fatal(err)
	}
	return p
}

// readAligned reads r in runs of 5 blocks and a bit into a buffer aligned
// for direct I/O (as the snapshot engine's capture reads), so the runs'
// aligned middles are read with O_DIRECT while writers go on.
func readAligned(t *testing.T, r io.ReaderAt, size int64) []byte {
	t.Helper()
	b := make([]byte, size+4096)
	a := (4096 - int(uintptr(unsafe.Pointer(&b[0]))%4096)) % 4096
	p := b[a : a+int(size)]
	const run = 5*BlockSize + 4096
	for off := int64(0); off < size; off += run {
		q := p[off:min(off+run, size)]
		if n, err := r.ReadAt(q, off); err != nil && !(err == io.EOF && n == len(q)) {
			t.Fatal(err)
		}
	}
	return p
}

func TestFreezeCopiesBeforeWrite(t *testing.T) {
	m, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.memLimit = BlockSize // the second saved block spills to the side file
	const size = 16 * BlockSize
	v, err := m.Create("v1", size)
	if err != nil {
		t.Fatal(err)
	}
	v.WriteAt(fill(1, 3*BlockSize), 0)
	v.WriteAt(fill(2, 100), 10*BlockSize+7)
	want := readAll(t, v, size)

	fzs, err := m.Freeze(v)
	if err != nil {
		t.Fatal(err)
	}
	fz := fzs[0]
	if _, err := m.Freeze(v); !errors.Is(err, ErrBusy) {
		t.Fatalf("second freeze: %v", err)
	}
	// Overwrite, clear and write into holes while frozen.
	v.WriteAt(fill(9, BlockSize+5), BlockSize-2)
	v.Zero(0, 1000)
	v.WriteAt(fill(7, BlockSize), 12*BlockSize)
	v.Zero(10*BlockSize, BlockSize)
	if got := readAll(t, fz, size); !bytes.Equal(got, want) {
		t.Fatal("frozen content changed by later writes")
	}
	if got := readAligned(t, fz, size); !bytes.Equal(got, want) {
		t.Fatal("frozen content changed by later writes (aligned reads)")
	}
	// The data ranges of the frozen content cover every non-zero byte.
	rs, err := fz.DataRanges(0, size)
	if err != nil {
		t.Fatal(err)
	}
	covered := make([]bool, size)
	for _, r := range rs {
		for i := r.Off; i < r.Off+r.Len; i++ {
			covered[i] = true
		}
	}
	for i, b := range want {
		if b != 0 && !covered[i] {
			t.Fatalf("byte %d holds data outside the frozen data ranges %v", i, rs)
		}
	}
	base, changed, ok := fz.Changes()
	if !ok || base != "" || len(changed) != 2 || changed[0] != (Range{0, 3 * BlockSize}) || changed[1] != (Range{10 * BlockSize, BlockSize}) {
		t.Fatalf("frozen changes: %q %v %v", base, changed, ok)
	}
	fz.Commit("snap1")
	base, changed, ok = v.Changes()
	if !ok || base != "snap1" || len(changed) != 3 {
		t.Fatalf("changes after commit: %q %v %v", base, changed, ok)
	}
	if _, err := fz.ReadAt(make([]byte, 1), 0); err == nil {
		t.Fatal("read of a released freeze succeeded")
	}
}

func TestAbortMergesChanges(t *testing.T) {
	m, _ := Open(t.TempDir())
	defer m.Close()
	v, _ := m.Create("v1", 8*BlockSize)
	v.SetBase("s0")
	v.WriteAt([]byte{1}, 0)
	fzs, _ := m.Freeze(v)
	v.WriteAt([]byte{1}, 5*BlockSize)
	fzs[0].Abort()
	base, changed, ok := v.Changes()
	if !ok || base != "s0" || len(changed) != 2 {
		t.Fatalf("after abort: %q %v %v", base, changed, ok)
	}
}

func TestOutOfRangeChangesNothing(t *testing.T) {
	m, _ := Open(t.TempDir())
	defer m.Close()
	v, _ := m.Create("v1", 4*BlockSize)
	for _, c := range []struct{ off, n int64 }{{-1, 10}, {4 * BlockSize, 1}, {4*BlockSize - 1, 2}} {
		if _, err := v.WriteAt(make([]byte, c.n), c.off); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("write %v: %v", c, err)
		}
		if err := v.Zero(c.off, c.n); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("zero %v: %v", c, err)
		}
	}
	if _, ch, _ := v.Changes(); len(ch) != 0 {
		t.Fatalf("rejected writes marked changes: %v", ch)
	}
	if err := v.Resize(BlockSize); !errors.Is(err, ErrShrink) {
		t.Fatalf("shrink: %v", err)
	}
}

// TestChangeMapSurvivesCleanStopNotCrash: a clean Close keeps the change
// map; an unclean stop (the open marker left behind) makes it untrusted.
func TestChangeMapSurvivesCleanStopNotCrash(t *testing.T) {
	dir := t.TempDir()
	m, _ := Open(dir)
	v, _ := m.Create("v1", 8*BlockSize)
	v.SetBase("s1")
	v.WriteAt([]byte{1}, 3*BlockSize)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, _ = Open(dir)
	v, err := m.Get("v1")
	if err != nil {
		t.Fatal(err)
	}
	base, ch, ok := v.Changes()
	if !ok || base != "s1" || len(ch) != 1 || ch[0].Off != 3*BlockSize {
		t.Fatalf("after clean restart: %q %v %v", base, ch, ok)
	}
	v.WriteAt([]byte{1}, 5*BlockSize)
	// Simulate a crash: the process dies without Close (the marker stays).
	m2, _ := Open(dir)
	m2.vols = map[string]*Volume{}
	v2, err := m2.open("v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := v2.Changes(); ok {
		t.Fatal("change map trusted after an unclean stop")
	}
	// It stays untrusted across a later clean stop, until a snapshot commits.
	m2.vols["v1"] = v2
	m2.Close()
	m3, _ := Open(dir)
	defer m3.Close()
	v3, _ := m3.Get("v1")
	if _, _, ok := v3.Changes(); ok {
		t.Fatal("untrusted change map became trusted by a clean stop")
	}
	fzs, _ := m3.Freeze(v3)
	if _, _, ok := fzs[0].Changes(); ok {
		t.Fatal("freeze reports untrusted changes as trusted")
	}
	fzs[0].Commit("s2")
	if base, _, ok := v3.Changes(); !ok || base != "s2" {
		t.Fatal("change map not trusted after a committed snapshot")
	}
}

func TestCreateWithIsAtomic(t *testing.T) {
	dir := t.TempDir()
	m, _ := Open(dir)
	defer m.Close()
	_, err := m.CreateWith("v1", 1<<20, func(f *os.File) error { return errors.New("boom") })
	if err == nil {
		t.Fatal("failed fill succeeded")
	}
	if _, err := m.Get("v1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("half-created volume visible: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("leftovers: %v", ents)
	}
	if _, err := m.Create("v1", 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create("v1", 1<<20); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := m.Create("../x", 1); err == nil {
		t.Fatal("path in id accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "v1.raw")); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentWritersAndFreeze hammers a volume with writers while
// freezes come and go; each frozen image equals the content at its
// instant, which the writers log.
func TestConcurrentWritersAndFreeze(t *testing.T) {
	m, _ := Open(t.TempDir())
	defer m.Close()
	m.memLimit = 8 * BlockSize // exercise memory and side file
	const size = 64 * BlockSize
	v, _ := m.Create("v1", size)
	var mu sync.Mutex // guards shadow: the content writers produced
	shadow := make([]byte, size)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				off := rng.Int64N(size - 3*BlockSize)
				n := 1 + rng.Int64N(2*BlockSize)
				p := fill(byte(rng.Uint32()), int(n))
				mu.Lock() // writes and the shadow update happen as one step
				v.WriteAt(p, off)
				copy(shadow[off:], p)
				mu.Unlock()
			}
		}(uint64(w))
	}
	for i := 0; i < 20; i++ {
		mu.Lock()
		fzs, err := m.Freeze(v)
		want := append([]byte(nil), shadow...)
		mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, fzs[0], size)
		if i%2 == 1 {
			got = readAligned(t, fzs[0], size)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("freeze %d differs from the content at its instant", i)
		}
		fzs[0].Commit("x")
	}
	close(stop)
	wg.Wait()
}
