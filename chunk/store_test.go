package chunk_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lukechampine.com/blake3"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/azure"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/blob/s3"
	"github.com/safehold/safehold/chunk"
	"github.com/safehold/safehold/internal/testsvc"
)

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func textBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	words := []string{"INFO ", "disk ", "write ", "backup ", "ok\n", "42 ", "snapshot "}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

// randChunks is n chunks of size random bytes (randBytes with seeds 0 to n-1).
func randChunks(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = randBytes(size, uint64(i))
	}
	return out
}

// putFlushed stores datas through w and flushes it; the chunks' ids, in order.
func putFlushed(t *testing.T, w *chunk.Writer, datas ...[]byte) []chunk.ID {
	t.Helper()
	ctx := context.Background()
	ids := make([]chunk.ID, len(datas))
	for i, d := range datas {
		id, _, err := w.Put(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return ids
}

func open(t *testing.T, be blob.Backend, cache string, key []byte, comp ...string) *chunk.Store {
	t.Helper()
	c := ""
	if len(comp) > 0 {
		c = comp[0]
	}
	s, err := chunk.Open(context.Background(), be, cache, chunk.Options{Key: key, PackSize: 256 << 10, Compression: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRoundTripDedupReopen(t *testing.T) {
	for _, c := range []struct {
		key  []byte
		comp string
	}{{nil, ""}, {nil, chunk.CompressionS2}, {nil, chunk.CompressionZstd}, {nil, chunk.CompressionNone}, {bytes.Repeat([]byte{7}, 32), ""},
		{bytes.Repeat([]byte{7}, 32), chunk.CompressionS2}, {bytes.Repeat([]byte{7}, 32), chunk.CompressionZstd}} {
		key := c.key
		name := "plain-" + c.comp
		if key != nil {
			name = "encrypted-" + c.comp
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			be := mem.New(nil)
			cache := t.TempDir()
			s := open(t, be, cache, key, c.comp)
			w := s.NewWriter()
			var ids []chunk.ID
			var datas [][]byte
			for i := 0; i < 40; i++ {
				d := randBytes(10000+i, uint64(i))
				if i%2 == 1 {
					d = textBytes(65536, uint64(i))
				}
				id, n, err := w.Put(ctx, d)
				if err != nil || n == 0 {
					t.Fatalf("put %d: n=%d err=%v", i, n, err)
				}
				if i%2 == 1 && n >= len(d)/2 && c.comp != chunk.CompressionNone {
					t.Fatalf("text chunk not compressed: %d -> %d", len(d), n)
				}
				ids, datas = append(ids, id), append(datas, d)
			}
			// Reads before the flush are served from the open pack.
			got, err := s.Get(ctx, ids[3], nil)
			if err != nil || !bytes.Equal(got, datas[3]) {
				t.Fatalf("get before flush: %v", err)
			}
			if _, n, _ := w.Put(ctx, datas[5]); n != 0 {
				t.Fatalf("duplicate stored %d bytes", n)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			w.Close()
			s.Close()
			// Reopen with the header cache, then without it.
			for _, c := range []string{cache, t.TempDir()} {
				s2 := open(t, be, c, key)
				for i, id := range ids {
					got, err := s2.Get(ctx, id, nil)
					if err != nil || !bytes.Equal(got, datas[i]) {
						t.Fatalf("reopen get %d: %v", i, err)
					}
				}
			}
			if key != nil {
				if _, err := chunk.Open(ctx, be, t.TempDir(), chunk.Options{Key: bytes.Repeat([]byte{8}, 32)}); err == nil {
					t.Fatal("open with wrong key succeeded")
				}
				if _, err := chunk.Open(ctx, be, t.TempDir(), chunk.Options{}); err == nil {
					t.Fatal("open without key succeeded")
				}
			}
		})
	}
}

func TestCorruptionNamed(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	s := open(t, be, t.TempDir(), nil)
	w := s.NewWriter()
	id, _, _ := w.Put(ctx, randBytes(5000, 1))
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var key string
	be.List(ctx, "pack/", func(in blob.Info) error { key = in.Key; return nil })
	be.Corrupt(key, 100)
	_, err := s.Get(ctx, id, nil)
	if !errors.Is(err, chunk.ErrCorrupt) || !strings.Contains(err.Error(), id.Short()) {
		t.Fatalf("get corrupt chunk = %v", err)
	}
	var bad []chunk.BadChunk
	if _, err := s.Verify(ctx, chunk.VerifyOptions{}, func(b chunk.BadChunk) { bad = append(bad, b) }); err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0].ID != id || bad[0].Pack != key {
		t.Fatalf("verify reported %+v", bad)
	}
}

func TestFailedUploadFailsFlush(t *testing.T) {
	ctx := context.Background()
	f := blobtest.NewFaulty(mem.New(nil))
	s := open(t, f, t.TempDir(), nil)
	f.SetFail(func(op blobtest.Op, key string, n int) error {
		if op == blobtest.OpPut && strings.HasPrefix(key, "pack/") {
			return blobtest.ErrInjected
		}
		return nil
	})
	w := s.NewWriter()
	id, _, _ := w.Put(ctx, randBytes(5000, 1))
	if err := w.Flush(ctx); !errors.Is(err, blobtest.ErrInjected) {
		t.Fatalf("flush = %v", err)
	}
	if s.Has(id) {
		t.Fatal("chunk of a failed pack still indexed")
	}
	f.SetFail(nil)
	if _, n, err := w.Put(ctx, randBytes(5000, 1)); err != nil || n == 0 {
		t.Fatalf("re-put after failure: n=%d err=%v", n, err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// When every pack upload of a flush fails (the object store is down), the
// error names the first failure and counts the others: a backup's job
// error is read by people, and one outage failed each pack in flight alike
// (a backup killed with its S3 server showed some seventy copies of the same
// "connection refused", 25 KB). errors.Is still sees every failure.
func TestFailedUploadsFlushSaysItOnce(t *testing.T) {
	ctx := context.Background()
	f := blobtest.NewFaulty(mem.New(nil))
	s := open(t, f, t.TempDir(), nil)
	f.SetFail(func(op blobtest.Op, key string, n int) error {
		if op == blobtest.OpPut && strings.HasPrefix(key, "pack/") {
			return fmt.Errorf("put %s: %w", key, blobtest.ErrInjected)
		}
		return nil
	})
	w := s.NewWriter()
	for i := range 40 {
		w.Put(ctx, randBytes(60000, uint64(i)))
	}
	err := w.Flush(ctx)
	if !errors.Is(err, blobtest.ErrInjected) {
		t.Fatalf("flush = %v", err)
	}
	msg := err.Error()
	if n := strings.Count(msg, blobtest.ErrInjected.Error()); n != 1 || !regexp.MustCompile(`\(and [1-9][0-9]* more pack uploads failed\)$`).MatchString(msg) {
		t.Fatalf("flush error names %d failures, want the first and a count of the others: %q", n, msg)
	}
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	s := open(t, be, t.TempDir(), nil)
	w := s.NewWriter()
	live := map[chunk.ID]bool{}
	var all []chunk.ID
	for i := 0; i < 100; i++ {
		id, _, err := w.Put(ctx, randBytes(20000, uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, id)
		if (i < 25 && i%3 == 0) || i >= 60 {
			live[id] = true
		}
	}
	w.Flush(ctx)
	w.Close()
	gc := s.BeginGC()
	st, err := gc.Sweep(ctx, func(id chunk.ID) bool { return live[id] }, chunk.SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ChunksFreed != 100-len(live) || st.PacksDeleted == 0 || st.PacksRepacked == 0 {
		t.Fatalf("sweep stats %+v, live %d", st, len(live))
	}
	for _, id := range all {
		_, err := s.Get(ctx, id, nil)
		if live[id] != (err == nil) {
			t.Fatalf("chunk %s live=%v get err=%v", id.Short(), live[id], err)
		}
	}
	// Everything left is live: the store holds no garbage.
	n, _ := s.Size()
	if n != len(live) {
		t.Fatalf("%d chunks indexed, want %d", n, len(live))
	}
	s2 := open(t, be, t.TempDir(), nil)
	if n, _ := s2.Size(); n != len(live) {
		t.Fatalf("reopened: %d chunks, want %d", n, len(live))
	}
}

func TestSweepKeepsWriterRefs(t *testing.T) {
	ctx := context.Background()
	s := open(t, mem.New(nil), t.TempDir(), nil)
	w := s.NewWriter()
	id, _, _ := w.Put(ctx, randBytes(3000, 9))
	w.Flush(ctx)
	w.Close()
	w2 := s.NewWriter() // an in-flight capture deduplicates against it
	if _, n, _ := w2.Put(ctx, randBytes(3000, 9)); n != 0 {
		t.Fatal("not deduplicated")
	}
	gc := s.BeginGC()
	w2.Close() // its manifest was written after GC read the roots
	if _, err := gc.Sweep(ctx, func(chunk.ID) bool { return false }, chunk.SweepOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, id, nil); err != nil {
		t.Fatalf("chunk referenced by a writer was collected: %v", err)
	}
}

var benchBuf = randBytes(64<<10, 5)

// BenchmarkHash compares the candidate chunk-ID hashes on 64 KiB blocks.
// On the bench machine (Xeon, 1 core): SHA-256 ~1090 MB/s, BLAKE3 ~2430
// MB/s, so chunk IDs use BLAKE3. "store" is the store's own Sum (in place
// with AVX-512 where that is the faster).
func BenchmarkHash(b *testing.B) {
	b.Run("store", func(b *testing.B) {
		s, err := chunk.Open(context.Background(), mem.New(nil), b.TempDir(), chunk.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.SetBytes(int64(len(benchBuf)))
		for i := 0; i < b.N; i++ {
			s.Sum(benchBuf)
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(int64(len(benchBuf)))
		for i := 0; i < b.N; i++ {
			sha256.Sum256(benchBuf)
		}
	})
	b.Run("blake3", func(b *testing.B) {
		b.SetBytes(int64(len(benchBuf)))
		for i := 0; i < b.N; i++ {
			blake3.Sum256(benchBuf)
		}
	})
}

func BenchmarkPut(b *testing.B) {
	for _, kind := range []string{"random", "text"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			s, err := chunk.Open(ctx, mem.New(nil), b.TempDir(), chunk.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			w := s.NewWriter()
			defer w.Close()
			src := randBytes(64<<10, 1)
			if kind == "text" {
				src = textBytes(64<<10, 1)
			}
			b.SetBytes(int64(len(src)))
			for i := 0; i < b.N; i++ {
				src[0], src[1], src[2] = byte(i), byte(i>>8), byte(i>>16)
				if _, _, err := w.Put(ctx, src); err != nil {
					b.Fatal(err)
				}
			}
			w.Flush(ctx)
		})
	}
}

// lostAnswer stores every pack, then answers as a client whose first
// attempt timed out and whose retry found the object: ErrExist.
type lostAnswer struct{ blob.Backend }

func (b lostAnswer) Put(ctx context.Context, key string, data []byte) error {
	if err := b.Backend.Put(ctx, key, data); err != nil || !strings.HasPrefix(key, "pack/") {
		return err
	}
	return blob.ErrExist
}

// A pack put whose answer was lost (the retry saw the object the first
// attempt wrote) is a stored pack, not a failed capture.
func TestPackPutWithLostAnswer(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	s := open(t, lostAnswer{be}, t.TempDir(), nil)
	w := s.NewWriter()
	defer w.Close()
	data := randBytes(1<<20, 9)
	id := putFlushed(t, w, data)[0]
	s2 := open(t, be, t.TempDir(), nil)
	got, err := s2.Get(ctx, id, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back from a fresh store: %v", err)
	}
}

// lateCommit answers a pack put "exists" at once and commits the object
// only after the answer: a retry refused while the first attempt, whose
// answer was lost, is still being committed by a busy server.
type lateCommit struct {
	blob.Backend
	committed chan struct{}
}

func (b lateCommit) Put(ctx context.Context, key string, data []byte) error {
	if !strings.HasPrefix(key, "pack/") {
		return b.Backend.Put(ctx, key, data)
	}
	go func() {
		time.Sleep(300 * time.Millisecond) // the first attempt lands later
		b.Backend.Put(context.Background(), key, data)
		b.committed <- struct{}{}
	}()
	return blob.ErrExist
}

// A pack put refused as existing while the first attempt is still being
// committed waits for the object instead of failing the capture.
func TestPackPutCommittedAfterTheRetry(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	lc := lateCommit{be, make(chan struct{}, 16)}
	s := open(t, lc, t.TempDir(), nil)
	w := s.NewWriter()
	defer w.Close()
	data := randBytes(1<<20, 10)
	id := putFlushed(t, w, data)[0]
	<-lc.committed
	s2 := open(t, be, t.TempDir(), nil)
	got, err := s2.Get(ctx, id, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back from a fresh store: %v", err)
	}
}

// Another replica stored a chunk a moment after this store listed the
// packs: a Get of it lists again instead of answering not found.
func TestGetSeesAnotherWritersFreshChunk(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	reader := open(t, be, t.TempDir(), nil) // lists the (empty) packs now
	writer := open(t, be, t.TempDir(), nil)
	w := writer.NewWriter()
	defer w.Close()
	data := randBytes(256<<10, 11)
	id := putFlushed(t, w, data)[0]
	got, err := reader.Get(ctx, id, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get a chunk another writer just stored: %v", err)
	}
	if _, err := reader.Get(ctx, chunk.ID{1}, nil); !errors.Is(err, chunk.ErrNotFound) {
		t.Fatalf("get of an absent chunk: %v", err)
	}
}

// PutObject is idempotent for the same contents (a lost answer, a resumed
// job writing its manifest again) and refuses different contents.
func TestPutObjectAgain(t *testing.T) {
	ctx := context.Background()
	s := open(t, mem.New(nil), t.TempDir(), nil)
	if err := s.PutObject(ctx, "snapshots/a", []byte("manifest")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutObject(ctx, "snapshots/a", []byte("manifest")); err != nil {
		t.Fatalf("the same object again: %v", err)
	}
	if err := s.PutObject(ctx, "snapshots/a", []byte("another")); !errors.Is(err, blob.ErrExist) {
		t.Fatalf("different contents under an existing key: %v", err)
	}
	got, err := s.GetObject(ctx, "snapshots/a")
	if err != nil || string(got) != "manifest" {
		t.Fatalf("object now: %q %v", got, err)
	}
}

// TestPutObjectCommittedAfterTheRetry: Azurite behind a proxy that loses
// an upload's answer and commits its object seconds later, refusing the
// client's retry meanwhile as existing (as a busy store does while the
// first attempt commits): PutObject (a backup's manifest) waits for the
// object to show up and succeeds, its contents read back. It failed at
// once: the object was not there yet to compare, and the put answered
// blob.ErrExist, failing the backup. A put of other contents under the key
// is still refused.
func TestPutObjectCommittedAfterTheRetry(t *testing.T) {
	ctx := context.Background()
	f := testsvc.NewFaultyStore(t, testsvc.AzuriteEndpoint(t))
	be, err := azure.Open(ctx, azure.Config{Endpoint: f.URL, Account: testsvc.AzuriteAccount,
		Key: testsvc.AzuriteKey, Container: testsvc.RandomName("c"), Prefix: ""})
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, be, t.TempDir(), bytes.Repeat([]byte{7}, 32))
	f.Set(testsvc.StoreCommitsLate)
	manifest := textBytes(64<<10, 12)
	if err := s.PutObject(ctx, "snapshots/a", manifest); err != nil {
		t.Fatalf("a put whose answer was lost, committed after the retry: %v", err)
	}
	if f.Failed() < 2 {
		t.Fatalf("%d uploads answered by the proxy: the put was not retried while its first attempt committed", f.Failed())
	}
	f.Set(testsvc.StoreUp)
	if got, err := s.GetObject(ctx, "snapshots/a"); err != nil || !bytes.Equal(got, manifest) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	if err := s.PutObject(ctx, "snapshots/a", []byte("another")); !errors.Is(err, blob.ErrExist) {
		t.Fatalf("different contents under an existing key: %v", err)
	}
}

// A writer's references beyond Options.WriterMemory are spilled to runs in
// the cache directory, and a collection keeps every one of them: those of
// a writer still running and those of a writer closed during the mark.
// Once no writer holds them, the next collection frees them and the runs'
// files are gone.
func TestSweepKeepsSpilledWriterRefs(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	s, err := chunk.Open(ctx, mem.New(nil), cache, chunk.Options{PackSize: 64 << 10, WriterMemory: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w0 := s.NewWriter()
	old := putFlushed(t, w0, randChunks(200, 1000)...)
	w0.Close()
	// running deduplicates against the even chunks and stores 100 new
	// ones; closing, against the odd chunks.
	running, closing := s.NewWriter(), s.NewWriter()
	keep := map[chunk.ID]bool{}
	for i, id := range old {
		w := running
		if i%2 == 1 {
			w = closing
		}
		if !w.Ref(id) {
			t.Fatalf("chunk %d not found", i)
		}
		keep[id] = true
	}
	var fresh []chunk.ID
	for i := 0; i < 100; i++ {
		id, n, err := running.Put(ctx, randBytes(1000, uint64(1000+i)))
		if err != nil || n == 0 {
			t.Fatalf("put %d: %d bytes, %v", i, n, err)
		}
		fresh = append(fresh, id)
		keep[id] = true
	}
	if err := running.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*chunk.Writer{running, closing} {
		st := w.Stats()
		if st.Spills == 0 || st.MemIDs >= 2*16 || st.Runs >= st.Spills {
			t.Fatalf("writer refs not bounded: %+v", st)
		}
	}
	gc := s.BeginGC()
	closing.Close() // its manifest was written after the collection read the roots
	st, err := gc.Sweep(ctx, func(chunk.ID) bool { return false }, chunk.SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ChunksFreed != 0 {
		t.Fatalf("sweep freed %d chunks that writers hold: %+v", st.ChunksFreed, st)
	}
	for id := range keep {
		if _, err := s.Get(ctx, id, nil); err != nil {
			t.Fatalf("chunk %s referenced by a writer was collected: %v", id.Short(), err)
		}
	}
	// closing's references ended with that collection: the next one frees
	// the odd chunks and keeps running's.
	gc = s.BeginGC()
	st, err = gc.Sweep(ctx, func(chunk.ID) bool { return false }, chunk.SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ChunksFreed != 100 {
		t.Fatalf("second sweep freed %d chunks, want the 100 only the closed writer held: %+v", st.ChunksFreed, st)
	}
	for i, id := range old {
		if _, err := s.Get(ctx, id, nil); (err == nil) != (i%2 == 0) {
			t.Fatalf("old chunk %d: get err %v", i, err)
		}
	}
	for _, id := range fresh {
		if _, err := s.Get(ctx, id, nil); err != nil {
			t.Fatalf("fresh chunk %s: %v", id.Short(), err)
		}
	}
	running.Close()
	left, _ := filepath.Glob(filepath.Join(cache, "gc", "*"))
	if len(left) != 0 {
		t.Fatalf("writers' runs left behind: %v", left)
	}
}

// TestDamagedRecordFailsGet flips single bytes of a stored record (raw,
// MinLZ, S2 and zstd, plain and encrypted) and reads it back through Get and
// GetMany, which skip the CRC where the plaintext hash covers it: every
// damage must still fail the read with ErrCorrupt naming the chunk, and
// undoing it must read the chunk back intact.
func TestDamagedRecordFailsGet(t *testing.T) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{7}, 32)
	for _, tc := range []struct {
		comp string
		key  []byte
	}{{"minlz", nil}, {"s2", nil}, {"zstd", nil}, {"none", nil}, {"minlz", key}, {"s2", key}} {
		for _, data := range [][]byte{randBytes(64<<10, 9), textBytes(64<<10, 9)} {
			be := mem.New(nil)
			s := open(t, be, t.TempDir(), tc.key, tc.comp)
			ids := putFlushed(t, s.NewWriter(), data)
			var pk string
			be.List(ctx, "pack/", func(in blob.Info) error { pk = in.Key; return nil })
			for _, off := range []int64{0, 1, 2, 3, 17, 600, 1000, 4095} {
				if !be.Corrupt(pk, off) {
					t.Fatalf("%s: no byte %d in pack %s", tc.comp, off, pk)
				}
				_, err := s.Get(ctx, ids[0], nil)
				if !errors.Is(err, chunk.ErrCorrupt) || !strings.Contains(err.Error(), ids[0].Short()) {
					t.Errorf("%s key=%v, byte %d flipped: Get = %v", tc.comp, tc.key != nil, off, err)
				}
				_, err = s.GetMany(ctx, ids, make([][]byte, 1))
				if !errors.Is(err, chunk.ErrCorrupt) || !strings.Contains(err.Error(), ids[0].Short()) {
					t.Errorf("%s key=%v, byte %d flipped: GetMany = %v", tc.comp, tc.key != nil, off, err)
				}
				be.Corrupt(pk, off) // flip it back
				if got, err := s.Get(ctx, ids[0], nil); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: byte %d restored: Get = %v", tc.comp, off, err)
				}
			}
		}
	}
}

// A store's new pack keys come in runs sharing their first byte, the
// shard directory of the local backend: the first backup into a new
// repository created a directory (an inode and two fsyncs) for nearly
// every pack. Keys stay distinct.
func TestNewPackKeysShareFewShards(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	s, err := chunk.Open(ctx, be, t.TempDir(), chunk.Options{PackSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.NewWriter()
	for i := 0; i < 260; i++ { // random 60 KiB chunks: two per pack
		if _, _, err := w.Put(ctx, randBytes(60<<10, uint64(1000+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	keys := map[string]bool{}
	shards := map[string]bool{}
	be.List(ctx, "pack/", func(in blob.Info) error {
		keys[in.Key] = true
		shards[in.Key[len("pack/"):][:2]] = true
		return nil
	})
	if len(keys) < 100 {
		t.Fatalf("%d packs, want one per two chunks", len(keys))
	}
	if want := (len(keys) + 63) / 64; len(shards) > want {
		t.Fatalf("%d packs in %d shards, want runs of 64 sharing one (at most %d)", len(keys), len(shards), want)
	}
}

// The headers of the packs a store wrote are cached, when its memory table
// is flushed, in a few files shared by up to 64 packs each (a name per
// pack, links to one file): a file per pack cost a new inode each. A
// cached header cut short (a crash while writing it) is read from the
// pack instead and cached again in a file of its own, without writing
// through the shared file's other names.
func TestTornHeaderCacheIsReadAgain(t *testing.T) {
	be := mem.New(nil)
	cache := t.TempDir()
	s := open(t, be, cache, nil)
	var datas [][]byte
	for i := range 60 {
		datas = append(datas, randBytes(65536, uint64(500+i)))
	}
	w := s.NewWriter()
	ids := putFlushed(t, w, datas...)
	w.Close()
	s.Close()
	files, _ := filepath.Glob(filepath.Join(cache, "packs", "*"))
	inodes := map[uint64]bool{}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		inodes[st.Sys().(*syscall.Stat_t).Ino] = true
	}
	if len(files) < 10 || len(inodes) > (len(files)+63)/64 {
		t.Fatalf("%d cached headers in %d files, want one name per pack and a file per 64", len(files), len(inodes))
	}
	check := func(s *chunk.Store) { t.Helper(); checkGets(t, s, ids, datas) }
	// Cut the shared file short through one of its names; without the
	// index runs, opening loads every pack's header.
	if err := os.Truncate(files[0], 100); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(cache, "index")); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, be, cache, nil)
	check(s2)
	s2.Close()
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(f)
		if n := st.Sys().(*syscall.Stat_t).Nlink; n != 1 || !bytes.HasSuffix(b, []byte("SHPACK01")) {
			t.Fatalf("cached header %s: %d links, %d bytes; want a whole header of its own", filepath.Base(f), n, len(b))
		}
	}
	os.RemoveAll(filepath.Join(cache, "index"))
	s3 := open(t, be, cache, nil)
	check(s3)
}

// checkGets fails t unless s reads each of ids back as datas.
func checkGets(t *testing.T, s *chunk.Store, ids []chunk.ID, datas [][]byte) {
	t.Helper()
	for i, id := range ids {
		got, err := s.Get(context.Background(), id, nil)
		if err != nil || !bytes.Equal(got, datas[i]) {
			t.Fatalf("chunk %d reads back wrong: %v", i, err)
		}
	}
}

// A pack is a whole number of blob.Align pages (zero bytes no entry points
// to before its header), so the local backend writes all of it with
// O_DIRECT from its buffer; its chunks read back, with the header cache and
// from the packs alone.
func TestPacksAreWholePages(t *testing.T) {
	ctx := context.Background()
	for _, key := range [][]byte{nil, bytes.Repeat([]byte{9}, 32)} {
		lb, err := local.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s := open(t, lb, t.TempDir(), key)
		var datas [][]byte
		for i := range 40 {
			d := randBytes(10000+i*997, uint64(700+i))
			if i%3 == 0 {
				d = textBytes(65536, uint64(i))
			}
			datas = append(datas, d)
		}
		w := s.NewWriter()
		ids := putFlushed(t, w, datas...)
		w.Close()
		n := 0
		lb.List(ctx, "pack/", func(in blob.Info) error {
			n++
			if in.Size%blob.Align != 0 {
				t.Errorf("pack %s holds %d bytes, not whole pages", in.Key, in.Size)
			}
			return nil
		})
		if n < 2 {
			t.Fatalf("%d packs, want several", n)
		}
		checkGets(t, s, ids, datas)
		s.Close()
		checkGets(t, open(t, lb, t.TempDir(), key), ids, datas)
	}
}

// A pack the collector deletes while the memory table that holds it is
// being flushed leaves no header cache behind: the flush caches the
// headers of the packs it took (de34e9d) after letting go of the store's
// lock, and a collection that deleted one of them meanwhile (a lone
// server collects without grace, 6eb0350) removed its cache name before
// the flush linked it. The name stayed for good, and every later listing
// named the pack's chunks lost ("missing from the store").
func TestCollectedPackLeavesNoHeaderCache(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	cache := t.TempDir()
	s, err := chunk.Open(ctx, be, cache, chunk.Options{PackSize: 64 << 10, IndexMemory: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 300; i++ {
		w := s.NewWriter()
		putFlushed(t, w, randBytes(8<<10, uint64(5000+i))) // its pack's entries go to a run in the background
		w.Close()
		if _, err := s.BeginGC().Sweep(ctx, func(chunk.ID) bool { return false }, chunk.SweepOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	be.List(ctx, "pack/", func(in blob.Info) error { listed[strings.TrimPrefix(in.Key, "pack/")] = true; return nil })
	ents, err := os.ReadDir(filepath.Join(cache, "packs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !listed[e.Name()] {
			t.Errorf("header cache %s of a pack the collector deleted (%d packs left)", e.Name(), len(listed))
		}
	}
}

// TestFailedRepackKeepsItsSources sweeps with repacks whose new packs cannot
// be put (a full disk: ENOSPC), then frees the space. The sweep fails and
// deletes nothing; every live chunk still reads, from the pack it was to be
// copied out of; a second sweep, once puts work, keeps every live chunk,
// and a store reopened on the backend alone (a fresh cache) reads them
// all. Before, a failed repack pack took its chunks out of the index for
// good (their memory-table entries pointed at the failed pack), so reads
// said 'chunk not found' and the next sweep deleted their packs as garbage.
// Twice: with the sources in the memory table, and with the memory table
// flushed to a run while the repack's last pack is in flight (started by
// the repack's first pack, which the put lets through).
func TestFailedRepackKeepsItsSources(t *testing.T) {
	for _, flushed := range []bool{false, true} {
		t.Run(fmt.Sprintf("flushed=%v", flushed), func(t *testing.T) {
			ctx := context.Background()
			be := blobtest.NewFaulty(mem.New(nil))
			cache := t.TempDir()
			// 100 chunks fill the memory table but for one entry: the
			// repack's first pack, once durable, starts its flush.
			s, err := chunk.Open(ctx, be, cache, chunk.Options{PackSize: 256 << 10, IndexMemory: 101})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			live := map[chunk.ID]bool{}
			datas := randChunks(100, 20000)
			w := s.NewWriter()
			ids := putFlushed(t, w, datas...)
			w.Close()
			for i, id := range ids {
				if i%3 == 0 {
					live[id] = true // in every pack: each is repacked
				}
			}
			full := &os.PathError{Op: "write", Err: syscall.ENOSPC}
			runs := filepath.Join(cache, "index", "runs.json")
			before, _ := os.ReadFile(runs)
			runWritten := func() bool {
				b, _ := os.ReadFile(runs)
				return len(b) > 0 && !bytes.Equal(b, before)
			}
			puts := 0 // the rule runs under the backend's lock
			be.SetFail(func(op blobtest.Op, key string, n int) error {
				if op != blobtest.OpPut || !strings.HasPrefix(key, "pack/") {
					return nil
				}
				if puts++; !flushed {
					return full
				}
				if puts == 1 {
					return nil // durable, it starts the memory table's flush
				}
				// The others fail once that flush wrote its run (a guard
				// against a hang, not a timing: the flush is asynchronous).
				for deadline := time.Now().Add(testsvc.WaitLimit); !runWritten(); time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Errorf("no run written within %v of the repack's first pack", testsvc.WaitLimit)
						break
					}
				}
				return full
			})
			st, err := s.BeginGC().Sweep(ctx, func(id chunk.ID) bool { return live[id] }, chunk.SweepOptions{})
			if !errors.Is(err, syscall.ENOSPC) || st.PacksDeleted != 0 {
				t.Fatalf("sweep on a full disk: %+v, %v; want ENOSPC and nothing deleted", st, err)
			}
			if flushed && (puts < 2 || !runWritten()) {
				t.Fatalf("%d repack packs put, run written %v: the memory table's flush did not come between them", puts, runWritten())
			}
			be.SetFail(nil)
			readAll := func(s *chunk.Store, when string) {
				t.Helper()
				for i, id := range ids {
					if !live[id] {
						continue
					}
					got, err := s.Get(ctx, id, nil)
					if err != nil || !bytes.Equal(got, datas[i]) {
						t.Fatalf("%s: live chunk %d (%s): %v", when, i, id.Short(), err)
					}
				}
			}
			readAll(s, "after the failed sweep")
			if _, err := s.BeginGC().Sweep(ctx, func(id chunk.ID) bool { return live[id] }, chunk.SweepOptions{}); err != nil {
				t.Fatalf("sweep with space: %v", err)
			}
			readAll(s, "after a sweep with space")
			readAll(open(t, be, t.TempDir(), nil), "reopened")
		})
	}
}

// syncRecorder is the local backend, counting the pack puts that
// returned and, of them, those a SyncPuts that returned nil began after.
type syncRecorder struct {
	*local.Backend
	mu           sync.Mutex
	puts, synced int
	plainPacks   int // packs put with Put (synced one by one)
}

func (r *syncRecorder) Put(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, "pack/") {
		r.mu.Lock()
		r.plainPacks++
		r.mu.Unlock()
	}
	return r.Backend.Put(ctx, key, data)
}

func (r *syncRecorder) PutUnsynced(ctx context.Context, key string, data []byte) error {
	err := r.Backend.PutUnsynced(ctx, key, data)
	if err == nil {
		r.mu.Lock()
		r.puts++
		r.mu.Unlock()
	}
	return err
}

func (r *syncRecorder) SyncPuts(ctx context.Context) error {
	r.mu.Lock()
	n := r.puts
	r.mu.Unlock()
	err := r.Backend.SyncPuts(ctx)
	if err == nil {
		r.mu.Lock()
		r.synced = max(r.synced, n)
		r.mu.Unlock()
	}
	return err
}

func (r *syncRecorder) counts() (puts, synced, plain int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.puts, r.synced, r.plainPacks
}

// On a backend that syncs puts in groups (the local one: a pack's
// directory entry is fsynced once per flush, not after each pack), a
// writer's Flush returns only after a SyncPuts that covers every pack it
// put, and every pack it deduplicated against, put by another writer
// that has not flushed; Close covers the rest.
func TestFlushSyncsGroupedPuts(t *testing.T) {
	ctx := context.Background()
	lb, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	be := &syncRecorder{Backend: lb}
	cache := t.TempDir()
	s := open(t, be, cache, nil)
	datas := randChunks(12, 100<<10)
	w := s.NewWriter()
	ids := putFlushed(t, w, datas...)
	w.Close()
	puts, synced, plain := be.counts()
	if puts < 4 || synced != puts || plain != 0 {
		t.Fatalf("after a flush: %d packs put unsynced, %d of them synced, %d put one by one; want several, all synced, none", puts, synced, plain)
	}

	// Writer a fills a pack and leaves it (and its open one) unflushed;
	// writer b stores only a chunk of that pack (deduplicated) and flushes.
	more := randChunks(15, 100<<10)[12:]
	a := s.NewWriter()
	defer a.Close()
	for _, d := range more {
		if _, _, err := a.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if p, _, _ := be.counts(); p > puts {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writer a's full pack was not put within a minute")
		}
	}
	b := s.NewWriter()
	id, n, err := b.Put(ctx, more[0])
	if err != nil || n != 0 {
		t.Fatalf("put of a chunk writer a stored: %d bytes stored (%v), want it deduplicated", n, err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, synced, _ := be.counts(); synced <= puts {
		t.Fatalf("after b's flush %d packs synced, want writer a's pack (put number %d) too", synced, puts+1)
	}
	s.Close()
	if puts, synced, plain := be.counts(); synced != puts || plain != 0 {
		t.Fatalf("after Close: %d packs put, %d synced, %d put one by one", puts, synced, plain)
	}
	s2 := open(t, lb, t.TempDir(), nil)
	checkGets(t, s2, append(ids, id), append(datas, more[0]))
}

func TestMain(m *testing.M) { os.Exit(testsvc.Main(m)) }

// TestPutObjectCommittedAfterTheRetryOnS3 is
// TestPutObjectCommittedAfterTheRetry on the S3 server: its conditional
// create's retry is answered 409 (a create of the key in flight) until the
// first try commits, seconds later. PutObject succeeds, its contents read
// back. It failed after ten tries in about a second with "409 Conflict",
// and the backup whose manifest it was failed with it (found by the
// chaos26 fault campaign on three replicas with packs on S3).
func TestPutObjectCommittedAfterTheRetryOnS3(t *testing.T) {
	ctx := context.Background()
	ep, access, secret := testsvc.S3Endpoint(t)
	f := testsvc.NewFaultyStore(t, ep)
	be, err := s3.Open(ctx, s3.Config{Endpoint: f.URL, Region: "us-east-1", AccessKey: access, SecretKey: secret, Bucket: testsvc.RandomName("b")})
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, be, t.TempDir(), bytes.Repeat([]byte{7}, 32))
	f.Set(testsvc.StoreCommitsLate)
	manifest := textBytes(64<<10, 13)
	if err := s.PutObject(ctx, "snapshots/a", manifest); err != nil {
		t.Fatalf("a put whose answer was lost, committed after the retries: %v", err)
	}
	if f.Failed() < 2 {
		t.Fatalf("%d uploads answered by the proxy: the put was not retried while its first attempt committed", f.Failed())
	}
	f.Set(testsvc.StoreUp)
	if got, err := s.GetObject(ctx, "snapshots/a"); err != nil || !bytes.Equal(got, manifest) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	if err := s.PutObject(ctx, "snapshots/a", []byte("another")); !errors.Is(err, blob.ErrExist) {
		t.Fatalf("different contents under an existing key: %v", err)
	}
}
