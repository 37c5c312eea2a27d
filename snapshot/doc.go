// Package snapshot is Safehold's disk-snapshot engine: crash-consistent,
// incremental, deduplicated point-in-time copies of block devices, stored in
// a chunk store on any blob backend.
//
// # Model
//
// A disk is cut into fixed, offset-aligned blocks of BlockSize (64 KiB). A
// snapshot's Manifest is a full index of its disk: block offset -> chunk ID
// (the BLAKE3 hash of the block's content), built from its parent's index
// plus the blocks that changed. The index is split into segments of
// SegmentBlocks IDs (64 MiB of disk each) that are themselves stored as
// chunks, so an incremental writes only the segments it touched and
// identical segments are shared between snapshots. All-zero blocks and
// all-zero segments have the zero ID and are never stored; identical blocks
// across disks and snapshots are stored once.
//
// Because every manifest is a full index, restoring any snapshot reads one
// index (no chain walk) and deleting any snapshot never breaks another:
// chunks are freed only by GC, when no snapshot references them.
//
// # API
//
//	repo, err := snapshot.Open(ctx, backend, localDir, snapshot.Options{})
//	defer repo.Close()
//
//	src, _ := snapshot.FileSource(f)           // or any Source (volume layer)
//	m, stats, err := repo.Capture(ctx, src, snapshot.CaptureOptions{
//		Parent:   prev.ID,                      // incremental
//		Changed:  ranges,                       // from change tracking; nil = ask src or scan
//		Progress: func(p snapshot.Progress) {...},
//	})
//	_, err = repo.Restore(ctx, m.ID, "/data/disk2.raw", snapshot.RestoreOptions{}) // sparse
//	rd, err := repo.OpenReader(ctx, m.ID)      // io.ReaderAt + Size, for SAS reads; rd.Close() when done
//	ms, err := repo.List(ctx); m, err = repo.Get(ctx, id); err = repo.Delete(ctx, id)
//	report, err := repo.Verify(ctx, snapshot.VerifyOptions{Sample: 0.05})
//	gcStats, err := repo.GC(ctx, snapshot.GCOptions{Grace: time.Hour, Repack: 0.1})
//	_, err = repo.CopyTo(ctx, m.ID, vaultRepo)  // vault tier: only missing chunks move
//
// # Change information
//
// Capture reads only the blocks that may have changed: the ranges in
// CaptureOptions.Changed, or those a source implementing ChangeTracker
// reports. Without either (or with Scan), it reads the whole disk and
// compares each block's hash with the parent's index; sources implementing
// DataRanger (File does, with SEEK_DATA/SEEK_HOLE) let it skip holes
// without reading them.
//
// # Durability
//
// Chunks are written in pack objects that carry their own index; a pack is
// put atomically. The manifest is put last, atomically, and only after every
// chunk it references is durable, so after a crash (kill -9 included) a
// snapshot is either fully recorded or absent, and a half-written pack or
// manifest is never visible. Orphaned packs from interrupted captures are
// reclaimed by GC after its grace window.
//
// # Garbage collection
//
// GC marks every chunk the snapshots (and the captures, restores and
// readers in flight) reference, then deletes packs holding only garbage
// and rewrites packs whose garbage reaches GCOptions.Repack of their size.
// The zero value (Repack 0) frees exactly the unreferenced chunks, which
// after deleting an old snapshot can mean rewriting most packs, since the
// blocks it alone held are scattered thinly; routine runs can use 0.1 and
// leave sparse garbage for a later pass.
//
// # Concurrency
//
// A Repository is safe for concurrent use: several captures (of different
// disks), restores, readers, deletes and one GC at a time can run together.
// GC never removes a chunk a running capture in this process stored or
// deduplicated against, nor the index of its parent, nor a snapshot being
// restored or read (even if it is deleted meanwhile); the grace window
// protects captures running in other processes.
//
// The engine never prints: progress goes to a callback and each operation
// returns stats.
package snapshot
