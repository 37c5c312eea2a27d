package snapshot_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/safehold/safehold/blob"
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
