package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/chunk"
	"github.com/safehold/safehold/snapshot"
)

// TestSnapshotAfterDamageIsIntact: once a verify or a read found a chunk's
// stored copy damaged, the next snapshot of the same bytes (incremental to
// the damaged one, nothing changed since) stores the chunk again instead of
// referencing the damage, restores bit-exact, and heals the older snapshot
// too (the index points to the new copy); the damaged copy, garbage now,
// fails verify no more. A restart in between (the same cache directory)
// remembers the damage, and so does another store of the bucket (a
// replica) when it was that one's verify that found it. Before, the new snapshot reused the parent's
// segments and deduplicated against the damaged copy: as damaged as the
// one it was meant to replace.
func TestSnapshotAfterDamageIsIntact(t *testing.T) {
	for _, found := range []string{"verify", "restore", "verify, restart", "verify by another replica"} {
		t.Run(found, func(t *testing.T) {
			ctx := context.Background()
			cache := t.TempDir()
			be, r, path, want, a := capturedInMemory(t, cache, 16*bs, extent{0, 8 * bs, 'r', 1})
			var packs []string
			be.List(ctx, "pack/", func(in blob.Info) error { packs = append(packs, in.Key); return nil })
			if len(packs) != 1 || !be.Corrupt(packs[0], 10) {
				t.Fatalf("packs %v: corrupt the data pack failed", packs)
			}
			switch found {
			case "verify by another replica":
				// Another store of the bucket (a replica with its own cache) finds it.
				other := openRepo(t, be, snapshot.Options{})
				if rep, err := other.Verify(ctx, snapshot.VerifyOptions{}); err != nil || rep.OK || len(rep.BadSnapshots) != 1 {
					t.Fatalf("verify of the damaged snapshot by another store: %+v, %v", rep, err)
				}
				other.Close() // its mark is in the bucket by then
			case "verify", "verify, restart":
				if rep, err := r.Verify(ctx, snapshot.VerifyOptions{}); err != nil || rep.OK || len(rep.BadSnapshots) != 1 {
					t.Fatalf("verify of the damaged snapshot: %+v, %v", rep, err)
				}
			case "restore":
				if _, err := r.Restore(ctx, a.ID, filepath.Join(t.TempDir(), "x.img"), snapshot.RestoreOptions{}); !errors.Is(err, chunk.ErrCorrupt) {
					t.Fatalf("restore of the damaged snapshot: %v", err)
				}
			}
			if found == "verify, restart" {
				// A new process on the same cache directory remembers the damage.
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
				r = openRepoIn(t, be, cache, snapshot.Options{})
			}
			b, _ := captureFile(t, r, path, snapshot.CaptureOptions{Parent: a.ID, Changed: []snapshot.Range{}})
			checkRestore(t, r, b.ID, want)
			checkRestore(t, r, a.ID, want)
			if rep, err := r.Verify(ctx, snapshot.VerifyOptions{}); err != nil || !rep.OK {
				t.Fatalf("verify after the new snapshot: %+v, %v", rep, err)
			}
		})
	}
}

// TestReplicaReadsTheChunkAnotherStoredAgain: two stores of one bucket
// (replicas): the one that backs up the disk stores a damaged chunk
// again; the other, whose index still points to the damaged copy,
// restores the new snapshot bit-exact (a damaged read lists the packs
// again and takes the new copy) and verifies it intact. Before, its
// restore failed on the damaged copy until it happened to refresh.
func TestReplicaReadsTheChunkAnotherStoredAgain(t *testing.T) {
	ctx := context.Background()
	be, owner, path, want, a := capturedInMemory(t, t.TempDir(), 16*bs, extent{0, 8 * bs, 'r', 1})
	other := openRepo(t, be, snapshot.Options{}) // indexes the first pack now
	checkRestore(t, other, a.ID, want)
	var packs []string
	be.List(ctx, "pack/", func(in blob.Info) error { packs = append(packs, in.Key); return nil })
	if len(packs) != 1 || !be.Corrupt(packs[0], 10) {
		t.Fatalf("packs %v: corrupt the data pack failed", packs)
	}
	if rep, err := owner.Verify(ctx, snapshot.VerifyOptions{}); err != nil || rep.OK {
		t.Fatalf("verify of the damaged snapshot: %+v, %v", rep, err)
	}
	b, _ := captureFile(t, owner, path, snapshot.CaptureOptions{Parent: a.ID, Changed: []snapshot.Range{}})
	checkRestore(t, other, b.ID, want)
	checkRestore(t, other, a.ID, want)
	if rep, err := other.Verify(ctx, snapshot.VerifyOptions{}); err != nil || !rep.OK {
		t.Fatalf("verify by the other store after the new snapshot: %+v, %v", rep, err)
	}
}

// TestDamagedReadsListThePacksOncePerInterval: reads that find damaged
// copies (a download of a badly damaged point through the reader, a
// restore of it) list the packs again at most once per interval, on a
// real backend (the local directory, Azurite, the S3 server): a damaged
// read lists them to find a copy another store may have written since,
// but the next damaged reads are told at once. Before, every damaged read
// listed the whole bucket again (on object storage seconds each), so
// such a restore or download took minutes to fail.
func TestDamagedReadsListThePacksOncePerInterval(t *testing.T) {
	for _, rb := range raceBackends {
		t.Run(rb.name, func(t *testing.T) {
			ctx := context.Background()
			be := newPausing(rb.open(t))
			clk := &fakeClock{now: time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)}
			r := openRepo(t, be, snapshot.Options{PackSize: 8 << 20, Now: clk.Now})
			const blocks = 32
			path := filepath.Join(t.TempDir(), "disk.img")
			want := writeDisk(t, path, blocks*bs, extent{0, blocks * bs, 'r', 7})
			m, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
			var packs []string
			be.List(ctx, "pack/", func(in blob.Info) error { packs = append(packs, in.Key); return nil })
			if len(packs) != 1 {
				t.Fatalf("packs %v, want one", packs)
			}
			// Damage the first half of the blocks' records (rewrite the pack
			// with a byte flipped in each: every backend can do that).
			data, err := be.Get(ctx, packs[0], 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < blocks/2; k++ {
				data[k*bs+bs/2] ^= 0xff
			}
			if err := be.Delete(ctx, packs[0]); err != nil {
				t.Fatal(err)
			}
			if err := be.Put(ctx, packs[0], data); err != nil {
				t.Fatal(err)
			}
			rd, err := r.OpenReader(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			before := be.count(blobtest.OpList, "pack/")
			bad := 0
			p := make([]byte, bs)
			for k := 0; k < blocks; k++ {
				_, err := rd.ReadAt(p, int64(k)*bs)
				switch {
				case errors.Is(err, chunk.ErrCorrupt):
					bad++
				case err != nil:
					t.Fatalf("read block %d: %v", k, err)
				case !bytes.Equal(p, want[k*bs:(k+1)*bs]):
					t.Fatalf("read block %d: content differs", k)
				}
			}
			if bad < blocks/4 {
				t.Fatalf("%d of %d blocks read damaged: the damage missed the records", bad, blocks)
			}
			if _, err := r.Restore(ctx, m.ID, filepath.Join(t.TempDir(), "x.img"), snapshot.RestoreOptions{}); !errors.Is(err, chunk.ErrCorrupt) {
				t.Fatalf("restore of the damaged point: %v", err)
			}
			if n := be.count(blobtest.OpList, "pack/") - before; n != 1 {
				t.Fatalf("%d damaged reads and a restore listed the packs %d times, want once", bad, n)
			}
			// A minute later the next damaged read lists them again.
			clk.Add(time.Minute)
			before = be.count(blobtest.OpList, "pack/")
			if _, err := rd.ReadAt(p, 0); !errors.Is(err, chunk.ErrCorrupt) {
				t.Fatalf("read of a damaged block a minute later: %v", err)
			}
			if n := be.count(blobtest.OpList, "pack/") - before; n != 1 {
				t.Fatalf("a damaged read a minute later listed the packs %d times, want once", n)
			}
		})
	}
}

// TestSnapshotAfterLostPacksIsIntact: the packs of a snapshot are gone (a
// deleted object, a bucket restored from an older copy) and the store that
// backs the disk up next has never seen them (a restart with a new cache
// directory, another replica): nothing marks them damaged or lost, as no
// header of theirs was ever read. A snapshot on it as parent, nothing
// changed, still reads the whole source and restores bit-exact. Before, it
// reused the parent's segments, which no pack holds: the backup completed
// and its point failed to restore ('chunk not found'), as its parent did.
func TestSnapshotAfterLostPacksIsIntact(t *testing.T) {
	ctx := context.Background()
	be, _, path, want, a := capturedInMemory(t, t.TempDir(), 16*bs, extent{0, 8 * bs, 'r', 1})
	var packs []string
	be.List(ctx, "pack/", func(in blob.Info) error { packs = append(packs, in.Key); return nil })
	for _, k := range packs {
		if err := be.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	r := openRepo(t, be, snapshot.Options{})
	b, _ := captureFile(t, r, path, snapshot.CaptureOptions{Parent: a.ID, Changed: []snapshot.Range{}})
	checkRestore(t, r, b.ID, want)
}

// TestSnapshotAfterLostDataPackIsIntact is TestSnapshotAfterLostPacksIsIntact
// with only a pack of data chunks gone, the parent's segments still in
// packs the store knows: the next snapshot, nothing changed, reads the
// whole source and restores bit-exact. Before, lacksSegments checked only
// the segments: the backup reused them, completed, and its point failed to
// restore ('chunk not found') as its parent did.
func TestSnapshotAfterLostDataPackIsIntact(t *testing.T) {
	lostDataPack(t, 64*bs, extent{0, 48 * bs, 'r', 1})
}

// TestSnapshotAfterLostDataPackIsIntactManySegments is the same over a
// parent of several segments, which usesDamage reads at once: data in each
// of five segments, one pack of it lost.
func TestSnapshotAfterLostDataPackIsIntactManySegments(t *testing.T) {
	const seg = snapshot.SegmentBlocks * bs
	var exts []extent
	for i := range int64(5) {
		exts = append(exts, extent{i*seg + 3*bs, 8 * bs, 'r', uint64(i + 1)})
	}
	lostDataPack(t, 5*seg, exts...)
}

func lostDataPack(t *testing.T, size int64, exts ...extent) {
	ctx := context.Background()
	be, _, path, want, a := capturedInMemory(t, t.TempDir(), size, exts...)
	var packs []string
	be.List(ctx, "pack/", func(in blob.Info) error { packs = append(packs, in.Key); return nil })
	if len(packs) < 2 {
		t.Fatalf("%d packs, want data in more than one", len(packs))
	}
	// Lose a pack without a segment of a's in it: one whose loss leaves a
	// store opened afresh with every segment.
	lost := ""
	for _, k := range packs {
		b, err := be.Get(ctx, k, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if err := be.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		r := openRepo(t, be, snapshot.Options{})
		whole := true
		for _, sid := range a.Segments {
			if !sid.IsZero() && !r.Chunks().Has(sid) {
				whole = false
			}
		}
		r.Close()
		if whole {
			lost = k
			break
		}
		if err := be.Put(ctx, k, b); err != nil {
			t.Fatal(err)
		}
	}
	if lost == "" {
		t.Fatal("every pack holds a segment")
	}
	r := openRepo(t, be, snapshot.Options{})
	b, _ := captureFile(t, r, path, snapshot.CaptureOptions{Parent: a.ID, Changed: []snapshot.Range{}})
	checkRestore(t, r, b.ID, want)
}

// TestHealedPointsStayIntactWhenTheIndexIsRebuilt, on the local directory,
// Azurite and the S3 server: a verify finds a point's pack damaged, the
// next backup stores the damaged chunks again, then the index cache and
// the damage marks are lost (the cache's index deleted, or a new replica
// with a cache of its own) and the index is rebuilt from the packs,
// several times over, with the damaged pack older or newer than the one
// that healed it. Both points restore bit-exact and verify intact every
// time, from the same cache and from a second replica alike, and a GC
// (both points kept) frees the damaged copy, not the good one. Before,
// about half the rebuilds kept the damaged copy: restores of both points
// failed "checksum mismatch" (UserErrorRecoveryPointCorrupt), and a GC
// then deleted the good copy.
func TestHealedPointsStayIntactWhenTheIndexIsRebuilt(t *testing.T) {
	for _, rb := range raceBackends {
		for _, order := range []string{"damaged pack older", "damaged pack newer"} {
			t.Run(rb.name+"/"+order, func(t *testing.T) {
				ctx := context.Background()
				be := rb.open(t)
				cache := t.TempDir()
				r := openRepoIn(t, be, cache, snapshot.Options{})
				path := filepath.Join(t.TempDir(), "disk.img")
				want := writeDisk(t, path, 16*bs, extent{0, 8 * bs, 'r', 1})
				a, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
				packs := packKeys(t, be)
				if len(packs) != 1 {
					t.Fatalf("packs %v", packs)
				}
				var damaged string
				for k := range packs {
					damaged = k
				}
				rewrite := func(flip bool) { // put the pack again (a new time), a byte flipped
					t.Helper()
					b, err := be.Get(ctx, damaged, 0, -1)
					if err != nil {
						t.Fatal(err)
					}
					if flip {
						b[10] ^= 0xff
					}
					if err := be.Delete(ctx, damaged); err != nil {
						t.Fatal(err)
					}
					if err := be.Put(ctx, damaged, b); err != nil {
						t.Fatal(err)
					}
				}
				rewrite(true)
				if rep, err := r.Verify(ctx, snapshot.VerifyOptions{}); err != nil || rep.OK || len(rep.BadSnapshots) != 1 {
					t.Fatalf("verify of the damaged point: %+v, %v", rep, err)
				}
				b, _ := captureFile(t, r, path, snapshot.CaptureOptions{Parent: a.ID, Changed: []snapshot.Range{}})
				checkRestore(t, r, b.ID, want)
				if len(packKeys(t, be)) != 2 {
					t.Fatalf("the healing backup stored no pack: %v", packKeys(t, be))
				}
				r.Close()
				if order == "damaged pack newer" {
					rewrite(false)
				}
				// Lose the index cache and the damage marks.
				rebuild := func(cache string) *snapshot.Repository {
					t.Helper()
					if err := os.RemoveAll(filepath.Join(cache, "index")); err != nil {
						t.Fatal(err)
					}
					os.Remove(filepath.Join(cache, "damaged"))
					var marks []string
					be.List(ctx, "damaged/", func(in blob.Info) error { marks = append(marks, in.Key); return nil })
					for _, k := range marks {
						be.Delete(ctx, k)
					}
					return openRepoIn(t, be, cache, snapshot.Options{})
				}
				check := func(r *snapshot.Repository, who string) {
					t.Helper()
					checkRestore(t, r, a.ID, want)
					checkRestore(t, r, b.ID, want)
					if rep, err := r.Verify(ctx, snapshot.VerifyOptions{}); err != nil || !rep.OK {
						t.Fatalf("%s: verify after the index was rebuilt: %+v, %v", who, rep, err)
					}
				}
				for i := 0; i < 4; i++ {
					r = rebuild(cache)
					check(r, "the same cache")
					r.Close()
					other := rebuild(t.TempDir()) // a second replica on the bucket
					check(other, "a second replica")
					other.Close()
				}
				r = rebuild(cache)
				if st, err := r.GC(ctx, snapshot.GCOptions{}); err != nil || st.ChunksFreed == 0 {
					t.Fatalf("gc: %+v, %v", st, err)
				}
				r.Close()
				r = rebuild(cache)
				check(r, "after a GC")
			})
		}
	}
}
