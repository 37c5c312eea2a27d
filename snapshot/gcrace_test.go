package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/azure"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/blob/s3"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(testsvc.Main(m)) }

// The chunk-level race between garbage collection and deduplication: a GC
// deleting chunks while a backup deduplicates against them must never
// leave a snapshot naming a deleted chunk. Each interleaving is forced, not
// hoped for: a backend wrapper stops one side at a chosen operation (the
// capture's manifest put, the collection's first pack delete) until the
// test has run the other side. Run on every blob backend (the local
// directory, Azurite, the S3 server) and, across two repositories on one
// bucket coordinated by lease.Gate (two replicas), on SQLite and
// PostgreSQL.
func TestGCRaceWithDedup(t *testing.T) {
	for _, bk := range raceBackends {
		t.Run(bk.name, func(t *testing.T) {
			// WriterMemory 4: the capture's references are spilled to runs
			// in the cache directory (chunk/refset.go) before the race.
			for _, wm := range []int{0, 4} {
				sfx := ""
				if wm > 0 {
					sfx = ", its references spilled"
				}
				t.Run("one process: capture deduplicated, then GC, then its manifest"+sfx, func(t *testing.T) {
					raceDedupThenGC(t, bk.open(t), wm)
				})
				t.Run("one process: GC planned, then a capture deduplicates"+sfx, func(t *testing.T) {
					raceGCThenDedup(t, bk.open(t), wm)
				})
			}
			storetest.Replicas(t, func(t *testing.T, sa, sb store.Store) {
				t.Run("replicas: collection waits for a writer inside the gate", func(t *testing.T) {
					raceReplicaWriterInside(t, bk.open(t), sa, sb)
				})
				t.Run("replicas: writer after a collection lists the packs again", func(t *testing.T) {
					raceReplicaWriterAfter(t, bk.open(t), sa, sb)
				})
			})
		})
	}
}

var raceBackends = []struct {
	name string
	open func(t *testing.T) blob.Backend
}{
	{"local", func(t *testing.T) blob.Backend {
		b, err := local.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
	{"azurite", func(t *testing.T) blob.Backend {
		b, err := azure.Open(context.Background(), azure.Config{Endpoint: testsvc.AzuriteEndpoint(t), Account: testsvc.AzuriteAccount,
			Key: testsvc.AzuriteKey, Container: testsvc.RandomName("race")})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
	{"s3", func(t *testing.T) blob.Backend {
		ep, access, secret := testsvc.S3Endpoint(t)
		b, err := s3.Open(context.Background(), s3.Config{Endpoint: ep, Region: "us-east-1", AccessKey: access, SecretKey: secret,
			Bucket: testsvc.RandomName("race")})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
}

// pausing is a real backend that can stop at one chosen operation: the
// first call matching the armed rule reports its key and waits until the
// test releases it. It also counts the calls of each kind and prefix.
type pausing struct {
	blob.Backend
	mu      sync.Mutex
	op      blobtest.Op
	prefix  string
	reached chan string
	release chan struct{}
	counts  map[string]int
}

func newPausing(be blob.Backend) *pausing { return &pausing{Backend: be, counts: map[string]int{}} }

// pauseOn arms the rule: the next op on a key with prefix stops.
func (p *pausing) pauseOn(op blobtest.Op, prefix string) (reached <-chan string, release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.op, p.prefix = op, prefix
	p.reached = make(chan string, 1)
	p.release = make(chan struct{})
	rel := p.release
	return p.reached, sync.OnceFunc(func() { close(rel) })
}

func (p *pausing) hit(ctx context.Context, op blobtest.Op, key string) {
	p.mu.Lock()
	p.counts[string(op)+" "+strings.SplitAfter(key, "/")[0]]++
	var wait chan struct{}
	if p.reached != nil && op == p.op && strings.HasPrefix(key, p.prefix) {
		p.reached <- key
		wait = p.release
		p.reached = nil // once
	}
	p.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
		}
	}
}

func (p *pausing) count(op blobtest.Op, prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[string(op)+" "+prefix]
}

func (p *pausing) Put(ctx context.Context, key string, data []byte) error {
	p.hit(ctx, blobtest.OpPut, key)
	return p.Backend.Put(ctx, key, data)
}

func (p *pausing) Delete(ctx context.Context, key string) error {
	p.hit(ctx, blobtest.OpDelete, key)
	return p.Backend.Delete(ctx, key)
}

func (p *pausing) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	p.hit(ctx, blobtest.OpList, prefix)
	return p.Backend.List(ctx, prefix, fn)
}

// await waits for a paused operation (generously: a condition, not a
// timing margin).
func await(t *testing.T, ch <-chan string, what string) string {
	t.Helper()
	select {
	case k := <-ch:
		return k
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s never happened", what)
		return ""
	}
}

type captured struct {
	m   *snapshot.Manifest
	st  snapshot.Stats
	err error
}

func captureAsync(r *snapshot.Repository, path string) <-chan captured {
	ch := make(chan captured, 1)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			ch <- captured{err: err}
			return
		}
		defer f.Close()
		src, err := snapshot.FileSource(f)
		if err != nil {
			ch <- captured{err: err}
			return
		}
		m, st, err := r.Capture(context.Background(), src, snapshot.CaptureOptions{})
		ch <- captured{m, st, err}
	}()
	return ch
}

func awaitCapture(t *testing.T, ch <-chan captured) (*snapshot.Manifest, snapshot.Stats) {
	t.Helper()
	select {
	case c := <-ch:
		if c.err != nil {
			t.Fatalf("capture: %v", c.err)
		}
		return c.m, c.st
	case <-time.After(2 * time.Minute):
		t.Fatal("capture never ended")
		return nil, snapshot.Stats{}
	}
}

// mustVerify re-reads the whole repository: every chunk every snapshot
// names is present and intact.
func mustVerify(t *testing.T, r *snapshot.Repository) {
	t.Helper()
	rep, err := r.Verify(context.Background(), snapshot.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify: %d bad chunks (%v), snapshots %v", len(rep.Bad), rep.Bad[0].Err, rep.BadSnapshots)
	}
}

const raceBlocks = 16

// raceRepo opens the repository of a one-process race on be, paused where a
// test asks (pa), on a fake clock, with 256 KiB packs and writerMem (the
// WriterMemory option), and names a disk image file in a new directory.
func raceRepo(t *testing.T, be blob.Backend, writerMem int) (*fakeClock, *pausing, *snapshot.Repository, string) {
	clk := &fakeClock{now: time.Now()}
	pa := newPausing(be)
	a := openRepo(t, pa, snapshot.Options{Now: clk.Now, PackSize: 256 << 10, WriterMemory: writerMem})
	return clk, pa, a, filepath.Join(t.TempDir(), "disk.img")
}

// A capture has deduplicated against the chunks of S1 and stored its own;
// before its manifest is written, S1 is deleted and a collection runs to
// its end. The capture's references keep the chunks it deduplicated
// against (writer refs), so its snapshot restores.
func raceDedupThenGC(t *testing.T, be blob.Backend, writerMem int) {
	ctx := context.Background()
	clk, pa, a, path := raceRepo(t, be, writerMem)
	writeDisk(t, path, raceBlocks*bs, extent{0, raceBlocks * bs, 'r', 1})
	s1, _ := captureFile(t, a, path, snapshot.CaptureOptions{})
	want := writeDisk(t, path, raceBlocks*bs, extent{0, raceBlocks * bs / 2, 'r', 1}, extent{raceBlocks * bs / 2, raceBlocks * bs / 2, 'r', 2})

	reached, release := pa.pauseOn(blobtest.OpPut, "snapshot/")
	defer release()
	done := captureAsync(a, path)
	await(t, reached, "the capture's manifest put")
	if err := a.Delete(ctx, s1.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	st, err := a.GC(ctx, snapshot.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ChunksFreed == 0 {
		t.Fatalf("GC freed nothing of the deleted snapshot: %+v", st)
	}
	release()
	s2, st2 := awaitCapture(t, done)
	if st2.BytesDeduped != raceBlocks*bs/2 {
		t.Fatalf("the capture deduplicated %d bytes, want the first half: %+v", st2.BytesDeduped, st2)
	}
	checkRestore(t, a, s2.ID, want)
	mustVerify(t, a)
	clk.Add(time.Hour)
	if _, err := a.GC(ctx, snapshot.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	checkRestore(t, a, s2.ID, want)
	assertExactlyLive(t, a)
}

// A collection has planned its sweep (S1's chunks are garbage) and is
// about to delete the first pack; a capture of the same data then runs to
// its end. It must not deduplicate against chunks that are going (it
// stores them again), so its snapshot restores after the sweep.
func raceGCThenDedup(t *testing.T, be blob.Backend, writerMem int) {
	ctx := context.Background()
	clk, pa, a, path := raceRepo(t, be, writerMem)
	want := writeDisk(t, path, raceBlocks*bs, extent{0, raceBlocks * bs, 'r', 3})
	s1, _ := captureFile(t, a, path, snapshot.CaptureOptions{})
	if err := a.Delete(ctx, s1.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)

	reached, release := pa.pauseOn(blobtest.OpDelete, "pack/")
	defer release()
	gcDone := make(chan error, 1)
	go func() {
		_, err := a.GC(ctx, snapshot.GCOptions{})
		gcDone <- err
	}()
	await(t, reached, "the collection's first pack delete")
	s2, st2 := captureFile(t, a, path, snapshot.CaptureOptions{})
	if st2.BytesDeduped != 0 {
		t.Fatalf("the capture deduplicated %d bytes against chunks being deleted", st2.BytesDeduped)
	}
	release()
	testsvc.WaitDone(t, "the end of the GC", gcDone)
	checkRestore(t, a, s2.ID, want)
	mustVerify(t, a)
	assertExactlyLive(t, a)
}

// replicas are two repositories on one bucket, each with its own cache
// directory and clock, and their gates on the metadata stores.
type replicas struct {
	a, b   *snapshot.Repository
	pa, pb *pausing
	ca, cb *fakeClock
	ga, gb *lease.Gate
}

func newReplicas(t *testing.T, be blob.Backend, sa, sb store.Store) *replicas {
	now := time.Now()
	x := &replicas{pa: newPausing(be), pb: newPausing(be), ca: &fakeClock{now: now}, cb: &fakeClock{now: now}}
	x.a = openRepo(t, x.pa, snapshot.Options{Now: x.ca.Now, PackSize: 256 << 10})
	x.b = openRepo(t, x.pb, snapshot.Options{Now: x.cb.Now, PackSize: 256 << 10})
	repo := testsvc.RandomName("repo")
	x.ga = &lease.Gate{Store: sa, Repo: repo, Holder: "A", Poll: 10 * time.Millisecond}
	x.gb = &lease.Gate{Store: sb, Repo: repo, Holder: "B", Poll: 10 * time.Millisecond}
	return x
}

// enter enters g as a writer for r the way compute and protection do:
// the gate, then the index brought up to date with the collections.
func enter(t *testing.T, g *lease.Gate, r *snapshot.Repository) *lease.Held {
	t.Helper()
	h, err := g.Write(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Collected(context.Background(), h.Collections); err != nil {
		t.Fatal(err)
	}
	return h
}

func leave(t *testing.T, h *lease.Held) {
	t.Helper()
	if !h.Valid() {
		t.Fatal("writer entry lapsed")
	}
	if err := h.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

type collected struct {
	st  snapshot.GCStats
	err error
}

// collect runs a collection of r under g (Collect, GC fenced by the entry,
// Release) in the background.
func collect(g *lease.Gate, r *snapshot.Repository) <-chan collected {
	ch := make(chan collected, 1)
	go func() {
		ctx := context.Background()
		h, err := g.Collect(ctx)
		if err != nil {
			ch <- collected{err: err}
			return
		}
		defer h.Release(ctx)
		st, err := r.GC(ctx, snapshot.GCOptions{Fence: h.Fence})
		ch <- collected{st, err}
	}()
	return ch
}

func awaitCollect(t *testing.T, ch <-chan collected) snapshot.GCStats {
	t.Helper()
	select {
	case c := <-ch:
		if c.err != nil {
			t.Fatal(c.err)
		}
		return c.st
	case <-time.After(2 * time.Minute):
		t.Fatal("collection never ended")
		return snapshot.GCStats{}
	}
}

// Replica B has deduplicated against S1's chunks and waits at its manifest
// put; replica A deletes S1 and starts a collection. The collection takes
// the gate and waits for B's entry: it reads no manifest until B's is
// written, so S1's chunks B uses stay.
func raceReplicaWriterInside(t *testing.T, be blob.Backend, sa, sb store.Store) {
	ctx := context.Background()
	x := newReplicas(t, be, sa, sb)
	path := filepath.Join(t.TempDir(), "disk.img")
	writeDisk(t, path, raceBlocks*bs, extent{0, raceBlocks * bs, 'r', 4})
	h := enter(t, x.ga, x.a)
	s1, _ := captureFile(t, x.a, path, snapshot.CaptureOptions{})
	leave(t, h)
	want := writeDisk(t, path, raceBlocks*bs, extent{0, raceBlocks * bs / 2, 'r', 4}, extent{raceBlocks * bs / 2, raceBlocks * bs / 2, 'r', 5})

	hb := enter(t, x.gb, x.b)
	reached, release := x.pb.pauseOn(blobtest.OpPut, "snapshot/")
	defer release()
	done := captureAsync(x.b, path)
	await(t, reached, "replica B's manifest put")
	if err := x.a.Delete(ctx, s1.ID); err != nil {
		t.Fatal(err)
	}
	x.ca.Add(time.Hour)
	lists := x.pa.count(blobtest.OpList, "snapshot/")
	gc := collect(x.ga, x.a)
	// The collection holds the gate and waits for B: A has not read the
	// manifests (it would miss B's).
	testsvc.WaitFor(t, "the collection taking the gate", func() bool {
		r, err := lease.Get(ctx, sa, "gategc:"+x.ga.Repo)
		return err == nil && r.Alive(time.Now())
	})
	if n := x.pa.count(blobtest.OpList, "snapshot/"); n != lists {
		t.Fatalf("the collection listed the manifests while a writer was inside the gate")
	}
	release()
	s2, st2 := awaitCapture(t, done)
	if st2.BytesDeduped != raceBlocks*bs/2 {
		t.Fatalf("replica B deduplicated %d bytes, want the first half: %+v", st2.BytesDeduped, st2)
	}
	leave(t, hb)
	if st := awaitCollect(t, gc); st.ChunksFreed == 0 {
		t.Fatalf("the collection freed nothing of S1: %+v", st)
	}
	checkRestore(t, x.b, s2.ID, want)
	checkRestore(t, x.a, s2.ID, want)
	mustVerify(t, x.a)
}

// Replica B's index still lists S1's packs when replica A collects them
// (B listed the bucket seconds before). B's next capture of the same data
// enters the gate, learns that a collection ran and lists the packs again,
// so it stores the chunks anew instead of naming deleted ones.
func raceReplicaWriterAfter(t *testing.T, be blob.Backend, sa, sb store.Store) {
	ctx := context.Background()
	x := newReplicas(t, be, sa, sb)
	path := filepath.Join(t.TempDir(), "disk.img")
	want := writeDisk(t, path, raceBlocks*bs, extent{0, raceBlocks * bs, 'r', 6})
	h := enter(t, x.ga, x.a)
	s1, _ := captureFile(t, x.a, path, snapshot.CaptureOptions{})
	leave(t, h)
	other := filepath.Join(t.TempDir(), "other.img")
	writeDisk(t, other, 2*bs, extent{0, 2 * bs, 'r', 7})
	hb := enter(t, x.gb, x.b) // B's index lists S1's packs now
	captureFile(t, x.b, other, snapshot.CaptureOptions{})
	leave(t, hb)
	seg := s1.Segments[0]
	if !x.b.Chunks().Has(seg) {
		t.Fatal("replica B does not see S1's chunks")
	}

	if err := x.a.Delete(ctx, s1.ID); err != nil {
		t.Fatal(err)
	}
	x.ca.Add(time.Hour)
	if st := awaitCollect(t, collect(x.ga, x.a)); st.ChunksFreed < raceBlocks {
		t.Fatalf("the collection freed %d chunks, want S1's %d and more", st.ChunksFreed, raceBlocks)
	}
	// B's clock has not moved: its view is fresh by its own measure, and
	// still names the deleted chunks. This is the hazard.
	if !x.b.Chunks().Has(seg) {
		t.Fatal("replica B's index already dropped S1's packs (the test no longer shows the hazard)")
	}
	hb = enter(t, x.gb, x.b)
	if hb.Collections < 1 {
		t.Fatalf("the writer entered after %d collections", hb.Collections)
	}
	if x.b.Chunks().Has(seg) {
		t.Fatal("after entering the gate, replica B still names a chunk the collection deleted")
	}
	s2, st2 := captureFile(t, x.b, path, snapshot.CaptureOptions{})
	leave(t, hb)
	if st2.BytesDeduped != 0 {
		t.Fatalf("replica B deduplicated %d bytes against deleted chunks", st2.BytesDeduped)
	}
	checkRestore(t, x.b, s2.ID, want)
	checkRestore(t, x.a, s2.ID, want)
	mustVerify(t, x.b)
}

func (p *pausing) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	p.hit(ctx, blobtest.OpGet, key)
	return p.Backend.Get(ctx, key, off, n)
}
