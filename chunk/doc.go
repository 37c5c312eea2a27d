// Package chunk is Safehold's content-addressed chunk store.
//
// A chunk is named by the BLAKE3-256 hash of its plaintext (keyed when the
// store is encrypted). BLAKE3 was chosen by benchmark (BenchmarkHash): on
// the bench machine it hashes 64 KiB blocks at ~2.3 GB/s per core against
// ~1.1 GB/s for SHA-256. Chunks are compressed with zstd (fastest level) and
// stored raw when that saves less than 3 %; with a store key they are
// sealed with XChaCha20-Poly1305 (random 192-bit nonces, safe at any chunk
// count), the chunk ID as associated data.
//
// Chunks are appended to pack objects of about 8 MiB (pack.go documents
// the format): an object store pays one request per pack, not per chunk,
// and reads use byte ranges. Every stored record carries a CRC-32C in its
// pack's header, so corruption is detected, even without the key, and
// reported with the chunk ID and pack. Reads also re-hash the plaintext.
//
// The index (chunk ID -> pack, offset, length) lives in memory, rebuilt at
// Open from a local cache of pack headers (or from the packs' own headers
// when the cache misses), so existence checks never cost a round trip.
//
// Writers group a job's puts: Put deduplicates, Flush makes everything the
// job put or referenced durable, and until Close the writer's chunks are
// protected from GC. GC (BeginGC, Sweep) deletes packs that hold only
// garbage and rewrites packs whose garbage passes a threshold, so sparse
// garbage is reclaimed too.
package chunk
