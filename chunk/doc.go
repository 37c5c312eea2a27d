// Package chunk is Safehold's content-addressed chunk store.
//
// A chunk is named by the BLAKE3-256 hash of its plaintext (keyed when the
// store is encrypted). BLAKE3 was chosen by benchmark (BenchmarkHash): on
// the bench machine it hashes 64 KiB blocks at ~2.3 GB/s per core against
// ~1.1 GB/s for SHA-256.
//
// Chunks are compressed with S2 by default, zstd (fastest level) on request
// (Options.Compression), and stored raw when compression saves less than
// 3 %. Every store reads every encoding. S2 is the default because on the
// bench machine zstd's fastest level compressed the text-like share of the
// peers' test image at ~70 MB/s per core against S2's ~215 MB/s (ratios
// 0.38 and 0.53), and compression is the largest CPU cost of a full
// backup; zstd suits a cold vault tier. With a store key, chunks are sealed
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
// The index (chunk ID -> pack, offset, length) lives in memory, rebuilt at
// Open from a local cache of pack headers (or from the packs' own headers
// when the cache misses), so existence checks never cost a round trip. It
// costs about 130 bytes per chunk (the map entry plus the pack's entry
// list): ~2.6 MiB for the 2 GiB bench image, ~2 GiB per TiB of unique data
// at 64 KiB chunks. Large repositories need an on-disk index; that is not
// built yet.
//
// Writers group a job's puts: Put deduplicates, Flush makes everything the
// job put or referenced durable, and until Close the writer's chunks are
// protected from GC. GC (BeginGC, Sweep) deletes packs that hold only
// garbage and rewrites packs whose garbage passes a threshold, so sparse
// garbage is reclaimed too; packs younger than the grace window are left
// alone for captures running in other processes.
package chunk
