// Package chunk is Safehold's content-addressed chunk store.
//
// A chunk is named by the BLAKE3-256 hash of its plaintext (keyed when the
// store is encrypted). BLAKE3 was chosen by benchmark (BenchmarkHash): on
// the bench machine it hashes 64 KiB blocks at ~2.3 GB/s per core against
// ~1.1 GB/s for SHA-256. On CPUs with AVX-512 where that is the faster
// (timed once per process: so on Intel's, not on AMD's Zen 4, whose
// gathers are slow) the store hashes a block's 16 KiB groups where they
// lie, 16 BLAKE3 chunks at once; elsewhere, with AVX-512VL (Zen 4), a
// block of 8-64 KiB is hashed eight chunks at a time by zeebo/blake3's AVX2
// code rewritten to AVX-512VL's rotations and registers (blake3_amd64.s,
// ~1.25x zeebo's rate there), and anything else by pooled zeebo/blake3
// hashers (AVX2).
//
// Chunks are compressed with MinLZ (fastest level) by default, S2 (the
// default until session 24) or zstd (fastest level) on request
// (Options.Compression), and stored raw when compression saves less than
// 3 %. Every store reads every encoding. Compression is the largest CPU
// cost of a full backup: zstd's fastest level compressed the text-like
// share of the peers' test image at ~70 MB/s per core against S2's ~215
// (ratios 0.38 and 0.53) on session 20's machine, and MinLZ runs ~1.1x
// S2's rate on it at about its ratio, ~1.05-1.1x on code, executables and
// JSON at a 2-6 % better ratio, and decodes ~1.1x faster
// (CompressionMinLZ); zstd suits a cold vault tier. MinLZ is written only
// to stores created in format 2 (by a MinLZ store); a format-1 store,
// created before MinLZ or with another compression, keeps taking S2 in
// its place, so binaries from before MinLZ (which refuse format 2) read
// every record of the stores they can open. With a store key, chunks are sealed
// with XChaCha20-Poly1305 (random 192-bit nonces, safe at any chunk count),
// the chunk ID as associated data.
//
// Chunks are appended to pack objects of about 8 MiB (pack.go documents
// the format): an object store pays one request per pack, not per chunk,
// and reads use byte ranges (GetMany merges adjacent records into one
// read). Every stored record carries a CRC-32C in its pack's header, so
// corruption is detected, even without the key, and reported with the chunk
// ID and pack; reads also re-hash the plaintext.
//
// # Index
//
// The index (chunk ID -> pack, offset, lengths, CRC) is bounded in memory
// whatever the repository's size (index.go): a memory table holds the
// entries of packs written since the last flush (IndexMemory, 64 Ki
// entries by default), and everything else lives in immutable sorted run
// files in the cache directory, merged by size like an LSM tree. Memory
// keeps per run a Bloom filter (10 bits per chunk, so absent chunks, the
// common case of a full backup, cost no I/O), one fence ID per 64
// records and the pack table: about 4 bytes per chunk in all, against
// ~130 with the former map. A present chunk costs one ~3.4 KiB pread from
// the page cache. bench/index.sh builds a 16-million-chunk repository
// synthetically and reports start-up, lookups/s and the peak RSS of a
// backup into it.
//
// Pack headers stay the source of truth, so the repository format is
// unchanged: runs are a cache, rebuilt from the header cache or the packs
// when missing or damaged, and every listed pack no run covers is indexed
// at Open (a crash between a pack put and an index flush loses nothing).
//
// # Several writers on one bucket
//
// Replicas sharing a bucket share chunks through the packs themselves:
// Refresh lists pack/ and indexes the packs others wrote (their headers
// are read once, then cached), and drops packs others deleted; a lookup
// never returns an entry whose pack is gone. Two replicas storing the
// same new chunk at once both store it (content addressing makes this
// harmless) and GC later frees the copy the index does not point to.
//
// GC must never delete a chunk another replica has just referenced. This
// process's writers are protected exactly (Writer refs, held while a GC
// marks; bounded in memory by spilling to sorted runs, refset.go). Across processes the protection today is the grace window: packs
// younger than SweepOptions.Grace are neither deleted nor repacked, which
// protects chunks other writers stored; it does not protect an old chunk
// another process deduplicated against after this GC read the manifests.
// Safehold's replicas close that gap with a gate in the metadata store
// they share (package lease, Gate; ARCHITECTURE.md "Replicas"): writers
// hold shared entries from before their first lookup until their manifest
// is written, a collection holds the exclusive entry and marks only once
// every writer entry is gone or expired, and GC is a singleton run by the
// leader. A protocol for processes that share only the bucket would use
// the blob contract (create-if-absent, list, delete), like kopia's and
// restic's:
//
//  1. A writer puts lease/<writer>-<n> before its first lookup and renews
//     it (a new object, then deleting the old) every TTL/3; it deletes it
//     after its manifest is put. Before putting its manifest, a writer
//     whose last renewal is older than TTL minus a margin fails (fencing:
//     a stalled writer cannot commit after GC stopped waiting for it).
//  2. GC puts gc/<id>, then lists lease/ (the writers that may hold
//     references it cannot see), then reads the manifests and plans the
//     sweep as now, then puts gc/<id>.plan, the chunk IDs it will free.
//  3. A writer that started after gc/<id> sees it (its lease was put
//     first, so either GC listed the lease or the writer lists gc/), loads
//     the plan and neither deduplicates against a planned chunk nor keeps
//     a reference to one: it stores those chunks again (new packs, younger
//     than the cutoff).
//  4. GC waits until each lease it listed is gone or expired, re-reads
//     the manifests written meanwhile and drops what they reference from
//     the plan, sweeps, and deletes gc/<id>.
//
// The alternative, an index table in the PostgreSQL metadata store with a
// row per chunk, would make every lookup a round trip (or a cache as
// large as this one) and put 16 million rows per TiB in the metadata
// database; the pack headers in the bucket already are a complete,
// crash-consistent index, so the database is left to what it does best:
// leases, the GC leader and fencing epochs.
//
// Writers group a job's puts: Put deduplicates, Flush makes everything the
// job put or referenced durable, and until Close the writer's chunks are
// protected from GC. GC (BeginGC, Sweep) deletes packs that hold only
// garbage and rewrites packs whose garbage passes a threshold, so sparse
// garbage is reclaimed too; packs younger than the grace window are left
// alone for captures running in other processes. The mark a caller builds
// is a LiveSet (liveset.go: sorted spills in the cache directory, a Bloom
// filter and fences in memory), and Sweep plans and acts on packs in
// batches, so a collection's memory does not grow with the repository
// either. (A Writer's own references are still a map: they grow with one
// job's size, not the repository's.)
package chunk
