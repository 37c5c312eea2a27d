package chunk_test

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/huff0"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/minio/minlz"
	"github.com/safehold/safehold/chunk"
)

// zipfText is n bytes of log-like text as the peers' benchmark image holds
// in its text regions: words of 2-10 letters, numbers and a few log tokens
// from a 6,000-token vocabulary drawn with weights 1/(rank+1), a newline
// about every twelve tokens.
func zipfText(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 5))
	var vocab []string
	for range 4000 {
		w := make([]byte, 2+r.IntN(9))
		for i := range w {
			w[i] = byte('a' + r.IntN(26))
		}
		vocab = append(vocab, string(w))
	}
	vocab = append(vocab, "\n")
	for range 2000 {
		vocab = append(vocab, strconv.Itoa(r.IntN(100000)))
	}
	vocab = append(vocab, "INFO", "WARN", "ERROR", "DEBUG", "=", ":", "/", "{", "}")
	cum := make([]float64, len(vocab))
	total := 0.0
	for i := range vocab {
		w := 1.0 / float64(i+1)
		if i == 4000 {
			w = 0.9
		}
		total += w
		cum[i] = total
	}
	var b bytes.Buffer
	for b.Len() < n {
		i := sort.SearchFloat64s(cum, r.Float64()*total)
		b.WriteString(vocab[min(i, len(vocab)-1)])
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

// BenchmarkCompressText compresses 64 KiB blocks of zipfText with the
// store's codec (MinLZ's fastest level: minlz's own encoder and the store's,
// minlz-chunk), S2 (the default before session
// 24) and the other codecs of the same module, for the engine's CPU
// budget: the ratio metric is the stored share of the input. The decode
// cases time what a restore does with each record.
// A pure-Go LZ4 (pierrec/lz4 v4.1.33, measured outside the repository on
// the same text) compressed at 0.58x S2's speed.
func BenchmarkCompressText(b *testing.B) {
	const block = 64 << 10
	text := zipfText(8<<20, 1)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	var scratch huff0.Scratch
	dst := make([]byte, 0, s2.MaxEncodedLen(block))
	for _, c := range []struct {
		name string
		enc  func(p []byte) int
	}{
		{"minlz", func(p []byte) int { out, _ := minlz.Encode(dst[:cap(dst)], p, minlz.LevelFastest); return len(out) }},
		{"minlz-chunk", func(p []byte) int { out, _ := chunk.EncodeMinLZ(dst[:cap(dst)], p); return len(out) }},
		{"s2", func(p []byte) int { return len(s2.Encode(dst[:cap(dst)], p)) }},
		{"huff0-4x", func(p []byte) int { out, _, _ := huff0.Compress4X(p, &scratch); return len(out) }},
		{"zstd-fastest", func(p []byte) int { return len(enc.EncodeAll(p, dst[:0])) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			stored := 0
			for b.Loop() {
				stored = 0
				for off := 0; off < len(text); off += block {
					stored += c.enc(text[off : off+block])
				}
			}
			b.ReportMetric(float64(stored)/float64(len(text)), "ratio")
		})
	}
}

// BenchmarkDecodeText decodes the 64 KiB blocks of BenchmarkCompressText,
// MinLZ against S2.
func BenchmarkDecodeText(b *testing.B) {
	const block = 64 << 10
	text := zipfText(8<<20, 1)
	out := make([]byte, block)
	for _, c := range []struct {
		name string
		enc  func(p []byte) []byte
		dec  func(rec []byte) error
	}{
		{"minlz", func(p []byte) []byte { r, _ := minlz.Encode(nil, p, minlz.LevelFastest); return r },
			func(rec []byte) error { _, err := minlz.Decode(out, rec); return err }},
		{"s2", func(p []byte) []byte { return s2.Encode(nil, p) },
			func(rec []byte) error { _, err := s2.Decode(out, rec); return err }},
	} {
		var recs [][]byte
		for off := 0; off < len(text); off += block {
			recs = append(recs, c.enc(text[off:off+block]))
		}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				for _, r := range recs {
					if err := c.dec(r); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkCompressGoSource compresses this repository's Go source in
// 64 KiB blocks with minlz's fastest level and with the store's encoder
// (chunk's copy of minlz's assembly, which writes the same bytes: the same
// ratio metric, a different speed).
func BenchmarkCompressGoSource(b *testing.B) {
	const block = 64 << 10
	var src []byte
	filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") {
			if p, err := os.ReadFile(path); err == nil {
				src = append(src, p...)
			}
		}
		return nil
	})
	src = src[:len(src)/block*block]
	if len(src) == 0 {
		b.Skip("no Go source found")
	}
	dst := make([]byte, minlz.MaxEncodedLen(block))
	for _, c := range []struct {
		name string
		enc  func(p []byte) int
	}{
		{"minlz", func(p []byte) int { out, _ := minlz.Encode(dst, p, minlz.LevelFastest); return len(out) }},
		{"minlz-chunk", func(p []byte) int { out, _ := chunk.EncodeMinLZ(dst, p); return len(out) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			stored := 0
			for b.Loop() {
				stored = 0
				for off := 0; off < len(src); off += block {
					stored += c.enc(src[off : off+block])
				}
			}
			b.ReportMetric(float64(stored)/float64(len(src)), "ratio")
		})
	}
}
