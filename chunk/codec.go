package chunk

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/minio/minlz"
	zblake3 "github.com/zeebo/blake3"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"
	"lukechampine.com/blake3"
	"lukechampine.com/blake3/guts"
)

// Chunk encodings recorded in pack entries.
const (
	kindRaw  = 0 // stored as is (incompressible)
	kindZstd = 1 // zstd frame
	kindS2   = 2 // S2 block (klauspost/compress/s2)
	// kindMinLZ is a MinLZ block (github.com/minio/minlz, fastest level),
	// written since session 24; S2 records of older stores stay readable.
	kindMinLZ = 3
)

// Compression algorithms a store can write (it reads all of them).
const (
	// CompressionMinLZ is the default: MinLZ's fastest level, by S2's
	// author, the same class of byte-aligned LZ77 with a denser encoding.
	// On 64 KiB blocks (thread CPU time, the bench host of session 24) it
	// compressed the text of the peers' benchmark image at ~460 MiB/s per
	// core against S2's ~415 (ratio 0.573 against 0.560), Go source at 610
	// against 575 MiB/s (0.375 against 0.385), executables at 700 against
	// 640 (0.432 against 0.457) and JSON at 1,800 against 1,710 (0.134
	// against 0.143), and it decodes ~1.1x faster (BenchmarkCompressText).
	CompressionMinLZ = "minlz"
	// CompressionS2 (S2, a Snappy successor) was the default before
	// session 24: about 3x faster than zstd's fastest level, at a lower
	// ratio (0.56 vs 0.39 on the benchmark image's text).
	CompressionS2 = "s2"
	// CompressionZstd (fastest level) trades CPU for ~30 % smaller chunks
	// on text: a fit for a cold vault tier.
	CompressionZstd = "zstd"
	// CompressionNone stores every chunk raw.
	CompressionNone = "none"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error that reports damaged stored data
// (bad checksum, failed authentication, wrong hash, truncated pack).
var ErrCorrupt = errors.New("corrupt")

// codec hashes, compresses and seals chunks for one store. It is safe for
// concurrent use.
type codec struct {
	idKey []byte // nil: plain BLAKE3
	// idWords and idFlags are idKey as BLAKE3 key words and flags (the IV
	// and 0 for plain BLAKE3), for sumInPlace.
	idWords [8]uint32
	idFlags uint32
	aead    cipher.AEAD // nil: no encryption
	comp    byte        // kindRaw (none), kindZstd, kindS2 or kindMinLZ
	// hashers reuses BLAKE3 hashers (each holds a 16 KiB buffer).
	hashers sync.Pool
	enc     *zstd.Encoder
	dec     *zstd.Decoder
}

func newCodec(key []byte, level zstd.EncoderLevel, workers int) (*codec, error) {
	c := &codec{idWords: guts.IV}
	if key != nil {
		if len(key) != 32 {
			return nil, fmt.Errorf("store key is %d bytes, want 32", len(key))
		}
		c.idKey = make([]byte, 32)
		blake3.DeriveKey(c.idKey, "safehold 2026 chunk id", key)
		for i := range c.idWords {
			c.idWords[i] = binary.LittleEndian.Uint32(c.idKey[4*i:])
		}
		c.idFlags = guts.FlagKeyedHash
		sealKey := make([]byte, 32)
		blake3.DeriveKey(sealKey, "safehold 2026 chunk seal", key)
		aead, err := chacha20poly1305.NewX(sealKey)
		if err != nil {
			return nil, err
		}
		c.aead = aead
	}
	var err error
	c.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(workers),
		zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	c.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(workers), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *codec) close() {
	c.enc.Close()
	c.dec.Close()
}

// sum returns the ID of plaintext p.
//
// It hashes in place (sumInPlace) where that is the faster way on this CPU
// (hashInPlace); otherwise with sumHasher.
func (c *codec) sum(p []byte) ID {
	if hashInPlace() {
		return c.sumInPlace(p)
	}
	return c.sumHasher(p)
}

// sumHasher hashes p with sumTree where it takes p (AVX-512VL, a block of
// 8 to 64 KiB: the engine's blocks), otherwise with sumZeebo.
func (c *codec) sumHasher(p []byte) ID {
	if treeSized(len(p)) {
		return c.sumTree(p)
	}
	return c.sumZeebo(p)
}

// sumZeebo hashes p with zeebo/blake3's AVX2 code, which computes the same
// BLAKE3 about 1.5-2x faster per core than lukechampine.com/blake3's
// Hasher on 64 KiB blocks (chunk/sum_test.go checks they agree); its
// hashers are pooled (plain BLAKE3 too: Sum256 builds one per call).
func (c *codec) sumZeebo(p []byte) ID {
	h, _ := c.hashers.Get().(*zblake3.Hasher)
	if h == nil {
		if c.idKey == nil {
			h = zblake3.New()
		} else {
			var err error
			if h, err = zblake3.NewKeyed(c.idKey); err != nil {
				panic(err) // idKey is 32 bytes
			}
		}
	}
	h.Reset()
	h.Write(p)
	var id ID
	h.Sum(id[:0])
	c.hashers.Put(h)
	return id
}

// hashInPlace reports whether sum hashes in place: the CPU hashes 16 BLAKE3
// chunks at once (AVX-512), which sumInPlace does straight from the
// caller's bytes, and that took less CPU time here than zeebo/blake3's
// 8-way AVX2 code, measured once per process (inPlaceFaster). Which is
// faster depends on the CPU: lukechampine.com/blake3's AVX-512 code loads
// its 16 chunks with gathers (VPGATHERDD), cheap on the Intel cores it was
// chosen on (in place ~1.35x zeebo's rate) and slow on AMD's Zen 4 (the
// bench host of session 23: in place 0.70-0.90x zeebo's rate, thread CPU
// time over 64 KiB blocks, in cache and not).
var hashInPlace = sync.OnceValue(func() bool {
	return cpu.X86.HasAVX512F && inPlaceFaster()
})

// inPlaceFaster times sumInPlace and sumHasher over the same two 64 KiB
// blocks, alternately (which goes first alternates too), in the calling
// thread's CPU time (another thread running meanwhile does not count), and
// reports whether the best round in place took less than the best with the
// hashers: about 4 MiB hashed, ~1 ms. The same code's rounds run at two
// speeds ~1.3x apart (on the Xeon of session 30, four blocks took 43 or
// 57 us with the hashers, 54 or 67 us in place; why, not known), so six
// rounds, the first not counted, chose the slower way whenever none of
// the faster way's five fell at the fast speed: in 3 of 92 starts of a
// test binary (load 12-16) and in the first of seven profiled full
// backups, which spent ~3 % more CPU hashing (there, interleaved over 1
// MiB: in place 4,600 MB/s, hashF16's tree 5,800). calRounds rounds: 0 of
// 60 (bench/engine-measured.md, session 30).
func inPlaceFaster() bool {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := &codec{idWords: guts.IV}
	buf := make([]byte, 2*blockLen)
	for i := range buf {
		buf[i] = byte(i * 131 >> 3)
	}
	best := [2]time.Duration{time.Hour, time.Hour}
	sums := [2]func([]byte) ID{c.sumInPlace, c.sumHasher}
	for round := range calRounds {
		for i := range sums {
			k := (i + round) % 2
			sum := sums[k]
			t0, ok := threadCPU()
			for b := 0; b < len(buf); b += blockLen {
				sum(buf[b : b+blockLen])
			}
			t1, ok1 := threadCPU()
			if !ok || !ok1 {
				return true // no thread clock: keep the AVX-512 choice
			}
			if round > 0 { // the first warms the hashers' pool and the buffer's pages
				best[k] = min(best[k], t1-t0)
			}
		}
	}
	return best[0] < best[1]
}

// calRounds is how many rounds inPlaceFaster times (the first not counted).
const calRounds = 16

// blockLen is the snapshot engine's block size, what inPlaceFaster hashes.
const blockLen = 64 << 10

// threadCPU is the calling thread's CPU time.
func threadCPU() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// group8 is what hashF8 hashes in one call: 8 BLAKE3 chunks of 1 KiB.
const group8 = 8 * guts.ChunkSize

// treeSized reports whether sumTree hashes an input of n bytes: with
// hashF8 here, 1, 2, 4 or 8 whole groups of 8 KiB (the engine's 64 KiB
// blocks), whose BLAKE3 tree is a perfect binary one.
func treeSized(n int) bool {
	return hasTree8 && n >= group8 && n <= 8*group8 && n%group8 == 0 && bits.OnesCount(uint(n/group8)) == 1
}

// sumTree is BLAKE3 (keyed with idWords/idFlags) of p (treeSized) computed
// eight nodes at a time with hashF8 and hashP8, zeebo/blake3's AVX2 code
// rewritten for AVX-512VL's rotations and 32 registers (blake3_amd64.s):
// on the bench host (Zen 4) 1.23-1.27x zeebo's rate. With AVX-512F the
// chunks go sixteen at a time through hashF16 (blake3x16_amd64.s): a full
// backup of the bench image spent ~10 % fewer samples hashing (four
// alternating profiled pairs, load 15-24). Each group's chunk values come
// back word-major (word w of chunk i at 8*w+i); a level of the tree pairs
// nodes 2i and 2i+1, so the values are split into the even (left) and odd
// (right) ones before each hashP8 (hashF16 splits its own).
func (c *codec) sumTree(p []byte) ID {
	key, flags := &c.idWords, c.idFlags
	m := len(p) / group8
	var cvs [8][64]uint32
	var l, r [64]uint32
	if hasF16 && m >= 2 {
		// Sixteen chunks at a time, and at once their eight parents: the
		// eight-way arrays of the tree's first level of parents, as the
		// loop below makes them from hashF8's chunk values. hashF16 hands
		// the chunks' values over already split into the pairs' left and
		// right ones.
		for g := range m / 2 {
			hashF16((*[2 * group8]byte)(p[g*2*group8:]), uint64(g*16), flags, key, &l, &r)
			hashP8(&l, &r, flags|guts.FlagParent, key, &cvs[g], 8)
		}
		m /= 2
	} else {
		var chain [8]uint32
		for g := range m {
			hashF8((*[group8]byte)(p[g*group8:]), group8, uint64(g*8), flags, key, &cvs[g], &chain)
		}
	}
	for ; m > 1; m /= 2 { // two arrays of eight nodes -> one of their eight parents
		for g := 0; g < m; g += 2 {
			for w := range 8 {
				for i := range 4 {
					l[8*w+i], r[8*w+i] = cvs[g][8*w+2*i], cvs[g][8*w+2*i+1]
					l[8*w+4+i], r[8*w+4+i] = cvs[g+1][8*w+2*i], cvs[g+1][8*w+2*i+1]
				}
			}
			hashP8(&l, &r, flags|guts.FlagParent, key, &cvs[g/2], 8)
		}
	}
	for n := 4; n >= 1; n /= 2 { // eight nodes -> four -> two -> the root
		for w := range 8 {
			for i := range n {
				l[8*w+i], r[8*w+i] = cvs[0][8*w+2*i], cvs[0][8*w+2*i+1]
			}
		}
		f := flags | guts.FlagParent
		if n == 1 {
			f |= guts.FlagRoot
		}
		hashP8(&l, &r, f, key, &cvs[0], n)
	}
	var id ID
	for w := range 8 {
		binary.LittleEndian.PutUint32(id[4*w:], cvs[0][8*w])
	}
	return id
}

// group is what lukechampine.com/blake3's guts hash in one call: 16 chunks
// of 1 KiB, the width of an AVX-512 register in 32-bit words.
const group = guts.MaxSIMD * guts.ChunkSize

// groupBufs holds a partial last group (a 64 KiB block has none).
var groupBufs = sync.Pool{New: func() any { return new([group]byte) }}

// sumInPlace is BLAKE3 (keyed with idWords/idFlags) computed as
// lukechampine.com/blake3's Hasher does, but reading every whole 16 KiB
// group of p where it lies instead of copying it into the Hasher's buffer
// first: per thread about 1.35x faster than zeebo/blake3's AVX2 code on the
// benchmark image's 64 KiB blocks, and no pooled 16 KiB Hasher to copy.
func (c *codec) sumInPlace(p []byte) ID {
	key, flags := &c.idWords, c.idFlags
	var stack [64][8]uint32 // subtree chaining values, one per height
	var groups uint64       // groups hashed so far; bit i set = stack[i] used
	for len(p) > group {    // the last group (full or not) makes the root
		cv := guts.ChainingValue(guts.CompressBuffer((*[group]byte)(p), group, key, groups*guts.MaxSIMD, flags))
		i := 0
		for ; groups&(1<<i) != 0; i++ {
			cv = guts.ChainingValue(guts.ParentNode(stack[i], cv, key, flags))
		}
		stack[i] = cv
		groups++
		p = p[group:]
	}
	var n guts.Node
	if len(p) == group {
		n = guts.CompressBuffer((*[group]byte)(p), group, key, groups*guts.MaxSIMD, flags)
	} else {
		buf := groupBufs.Get().(*[group]byte)
		copy(buf[:], p)
		n = guts.CompressBuffer(buf, len(p), key, groups*guts.MaxSIMD, flags)
		groupBufs.Put(buf)
	}
	for i := 0; groups>>i != 0; i++ {
		if groups&(1<<i) != 0 {
			n = guts.ParentNode(stack[i], guts.ChainingValue(n), key, flags)
		}
	}
	n.Flags |= guts.FlagRoot
	out := guts.WordsToBytes(guts.CompressNode(n))
	var id ID
	copy(id[:], out[:])
	return id
}

// encode compresses (unless incompressible) and seals p, appending the
// stored form to dst. It returns the grown dst, the stored record and its
// kind. An incompressible chunk of an unencrypted store is stored as is: rec
// is p itself and dst comes back unchanged (the caller copies p into a pack,
// once).
func (c *codec) encode(dst []byte, id ID, p []byte) (out, rec []byte, kind byte) {
	start := len(dst)
	kind = c.comp
	if c.aead != nil {
		dst = append(dst, make([]byte, chacha20poly1305.NonceSizeX)...)
	}
	body := len(dst)
	switch kind {
	case kindZstd:
		dst = c.enc.EncodeAll(p, dst)
	case kindS2:
		if incompressible(p, kindS2) {
			kind = kindRaw
			break
		}
		n := s2.MaxEncodedLen(len(p))
		dst = slices.Grow(dst, n)
		enc := s2.Encode(dst[body:body+n], p)
		dst = dst[:body+len(enc)]
	case kindMinLZ:
		n := minlz.MaxEncodedLen(len(p))
		if n < 0 || incompressible(p, kindMinLZ) { // n < 0: over MinLZ's 8 MiB block limit
			kind = kindRaw
			break
		}
		dst = slices.Grow(dst, n)
		enc, err := encodeMinLZ(dst[body:body+n], p)
		if err != nil {
			kind = kindRaw
			break
		}
		dst = dst[:body+len(enc)]
	}
	if kind == kindRaw || len(dst)-body >= len(p)-len(p)/32 { // saves less than 3%: store raw
		kind = kindRaw
		if c.aead == nil {
			return dst[:start], p, kind
		}
		dst = append(dst[:body], p...)
	}
	if c.aead != nil {
		dst = slices.Grow(dst, c.aead.Overhead())
		nonce := dst[start:body]
		rand.Read(nonce)
		// Seal in place: the ciphertext overwrites the plaintext.
		sealed := c.aead.Seal(dst[body:body], nonce, dst[body:], id[:])
		dst = dst[:body+len(sealed)]
	}
	return dst, dst[start:], kind
}

// probeSize is the size of each sample incompressible compresses.
const probeSize = 4 << 10

// incompressible guesses from two samples whether kind's compressor (S2
// or MinLZ) would save less than 3 % of p, so random data (encrypted or
// already compressed guest blocks) costs two 4 KiB trial compressions
// instead of a full one: with MinLZ 1.1 us per random 64 KiB block on the
// bench host, with S2 2.1 us. A wrong guess only stores a compressible
// block raw. A block whose first bytes take few distinct values (text,
// tables) is compressed without the trials, which would only repeat part
// of the work.
func incompressible(p []byte, kind byte) bool {
	if len(p) < 4*probeSize || fewValues(p[:256]) {
		return false
	}
	var buf [2 * probeSize]byte // > s2.MaxEncodedLen(probeSize), minlz.MaxEncodedLen(probeSize)
	for _, off := range [2]int{0, len(p) / 2} {
		sample := p[off : off+probeSize]
		var out []byte
		if kind == kindMinLZ {
			out, _ = minlz.Encode(buf[:], sample, minlz.LevelFastest)
		} else {
			out = s2.Encode(buf[:], sample)
		}
		if len(out) < len(sample)-len(sample)/32 {
			return false
		}
	}
	return true
}

// fewValues reports whether p holds fewer than len(p)/2 distinct byte
// values: 256 random bytes hold ~162 (six standard deviations above 128),
// 256 bytes of text fewer than 60. It marks, then counts, without a
// branch on the data: on random bytes a branch per byte is mispredicted
// half the time (~2.5x the time per 256 bytes).
func fewValues(p []byte) bool {
	var seen [256]uint8
	for _, b := range p {
		seen[b] = 1
	}
	n := 0
	for _, s := range seen {
		n += int(s)
	}
	return n < len(p)/2
}

// crcNeeded reports whether a read that checks the plaintext hash must
// check a record's CRC too before decoding it. A raw, S2 or MinLZ record
// needs no CRC: decoding it is bounded by the recorded plaintext length
// (decode refuses a record whose decoded length differs, and both
// decoders cope with any damaged input: FuzzDecodeRecord), and the BLAKE3 of the plaintext then catches every
// damage the CRC would, so the restore path skips a pass over the stored
// bytes (~6 % of a restore's CPU). A zstd frame is checked first: a damaged
// frame header could make the decoder allocate up to its memory limit.
func crcNeeded(kind byte) bool { return kind != kindRaw && kind != kindS2 && kind != kindMinLZ }

// decode reverses encode, appending the plaintext to dst[:0]. It checks the
// plaintext length and, if verify is set, the hash.
func (c *codec) decode(dst []byte, id ID, kind byte, plen int, stored []byte, verify bool) ([]byte, error) {
	if c.aead != nil {
		ns := chacha20poly1305.NonceSizeX
		if len(stored) < ns+c.aead.Overhead() {
			return nil, fmt.Errorf("chunk %s: short sealed record: %w", id.Short(), ErrCorrupt)
		}
		pt, err := c.aead.Open(nil, stored[:ns], stored[ns:], id[:])
		if err != nil {
			return nil, fmt.Errorf("chunk %s: authentication failed: %w", id.Short(), ErrCorrupt)
		}
		stored = pt
	}
	var out []byte
	switch kind {
	case kindRaw:
		out = append(dst[:0], stored...)
	case kindZstd:
		var err error
		out, err = c.dec.DecodeAll(stored, dst[:0])
		if err != nil {
			return nil, fmt.Errorf("chunk %s: decompress: %v: %w", id.Short(), err, ErrCorrupt)
		}
	case kindS2:
		n, err := s2.DecodedLen(stored)
		if err != nil || n != plen {
			return nil, fmt.Errorf("chunk %s: bad s2 length: %w", id.Short(), ErrCorrupt)
		}
		if cap(dst) < n {
			dst = make([]byte, n)
		}
		out, err = s2.Decode(dst[:n], stored)
		if err != nil {
			return nil, fmt.Errorf("chunk %s: decompress: %v: %w", id.Short(), err, ErrCorrupt)
		}
	case kindMinLZ:
		// IsMinLZ: a record of this kind is a MinLZ block (minlz.Decode
		// would also take an S2 one).
		ok, n, err := minlz.IsMinLZ(stored)
		if err != nil || !ok || n != plen {
			return nil, fmt.Errorf("chunk %s: bad minlz length: %w", id.Short(), ErrCorrupt)
		}
		if cap(dst) < n {
			dst = make([]byte, n)
		}
		out, err = minlz.Decode(dst[:n], stored)
		if err != nil {
			return nil, fmt.Errorf("chunk %s: decompress: %v: %w", id.Short(), err, ErrCorrupt)
		}
	default:
		return nil, fmt.Errorf("chunk %s: unknown encoding %d: %w", id.Short(), kind, ErrCorrupt)
	}
	if len(out) != plen {
		return nil, fmt.Errorf("chunk %s: %d bytes, want %d: %w", id.Short(), len(out), plen, ErrCorrupt)
	}
	if verify && c.sum(out) != id {
		return nil, fmt.Errorf("chunk %s: content hash mismatch: %w", id.Short(), ErrCorrupt)
	}
	return out, nil
}

// Sealed objects (manifests, configuration) are framed as
//
//	magic "SHOB" | flags (bit 0: encrypted) | payload | crc32c of all before
//
// with payload = nonce | XChaCha20-Poly1305(data, aad=key name) when
// encrypted.
const objMagic = "SHOB"

func (c *codec) sealObject(name string, data []byte) []byte {
	out := append([]byte(nil), objMagic...)
	if c.aead != nil {
		out = append(out, 1)
		nonce := make([]byte, chacha20poly1305.NonceSizeX)
		rand.Read(nonce)
		out = append(out, nonce...)
		out = c.aead.Seal(out, nonce, data, []byte(name))
	} else {
		out = append(out, 0)
		out = append(out, data...)
	}
	return binary.LittleEndian.AppendUint32(out, crc(out))
}

func (c *codec) openObject(name string, b []byte) ([]byte, error) {
	if len(b) < len(objMagic)+5 || string(b[:4]) != objMagic {
		return nil, fmt.Errorf("object %s: bad header: %w", name, ErrCorrupt)
	}
	n := len(b) - 4
	if crc(b[:n]) != binary.LittleEndian.Uint32(b[n:]) {
		return nil, fmt.Errorf("object %s: checksum mismatch: %w", name, ErrCorrupt)
	}
	flags, payload := b[4], b[5:n]
	switch {
	case flags == 0 && c.aead == nil:
		return payload, nil
	case flags == 1 && c.aead != nil:
		ns := chacha20poly1305.NonceSizeX
		if len(payload) < ns {
			return nil, fmt.Errorf("object %s: short: %w", name, ErrCorrupt)
		}
		pt, err := c.aead.Open(nil, payload[:ns], payload[ns:], []byte(name))
		if err != nil {
			return nil, fmt.Errorf("object %s: authentication failed: %w", name, ErrCorrupt)
		}
		return pt, nil
	case flags == 1:
		return nil, fmt.Errorf("object %s: encrypted, but the store has no key", name)
	default:
		return nil, fmt.Errorf("object %s: not encrypted, but the store has a key", name)
	}
}
