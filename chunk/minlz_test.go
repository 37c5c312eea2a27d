package chunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/minio/minlz"
	"github.com/safehold/safehold/blob/mem"
)

// logText is n bytes of log-like lines (words of a small vocabulary,
// numbers): compressible, as the text share of the benchmark image.
func logText(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 11))
	words := []string{"INFO", "WARN", "disk", "write", "backup", "vault", "snapshot", "ok", "=", "job", "started", "done"}
	var b bytes.Buffer
	for b.Len() < n {
		switch r.IntN(10) {
		case 0:
			fmt.Fprintf(&b, "%d ", r.IntN(100000))
		case 1:
			b.WriteString("\n")
		default:
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

func randData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 12))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// kindOf is the encoding the store's index records for id.
func kindOf(t *testing.T, s *Store, id ID) byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok, err := s.lookupLocked(id)
	if err != nil || !ok {
		t.Fatalf("chunk %s not in the index (%v)", id.Short(), err)
	}
	return l.kind
}

// configVersion is the format the store's config object records.
func configVersion(t *testing.T, s *Store) int {
	t.Helper()
	b, err := s.be.Get(context.Background(), configKey, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	js, err := s.c.openObject(configKey, b)
	if err != nil {
		t.Fatal(err)
	}
	var c storeConfig
	if err := json.Unmarshal(js, &c); err != nil {
		t.Fatal(err)
	}
	return c.Version
}

// TestOlderEncodingsReadAfterMinLZDefault: a repository whose chunks were
// written by stores of every other encoding (S2, the default before
// session 24, zstd and raw; plain and encrypted) is opened with the
// default: its old chunks read back and verify, a chunk already stored as
// S2 is deduplicated, not stored again, and reopened without the header
// cache everything still reads. A new text chunk is MinLZ (kindMinLZ)
// where the default created the store (format 2), and S2 where a store
// from before MinLZ did (format 1, which stays format 1: a binary from
// before MinLZ still reads every record; before, the default wrote MinLZ
// records into it, which such a binary took for damage).
func TestOlderEncodingsReadAfterMinLZDefault(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		key     []byte
		created string // compression of the store that created the repository
	}{{nil, CompressionS2}, {bytes.Repeat([]byte{9}, 32), CompressionS2}, {nil, ""}, {bytes.Repeat([]byte{9}, 32), ""}} {
		key := tc.key
		be := mem.New(nil)
		wantVersion, wantNew := formatV1, byte(kindS2)
		if tc.created == "" {
			wantVersion, wantNew = formatMinLZ, kindMinLZ
		}
		s0, err := Open(ctx, be, t.TempDir(), Options{Key: key, PackSize: 256 << 10, Compression: tc.created})
		if err != nil {
			t.Fatal(err)
		}
		if v := configVersion(t, s0); v != wantVersion {
			t.Fatalf("store created with compression %q: format %d, want %d", tc.created, v, wantVersion)
		}
		s0.Close()
		datas := map[ID][]byte{}
		wantKind := map[ID]byte{}
		for i, comp := range []string{CompressionS2, CompressionZstd, CompressionNone} {
			s, err := Open(ctx, be, t.TempDir(), Options{Key: key, PackSize: 256 << 10, Compression: comp})
			if err != nil {
				t.Fatal(err)
			}
			w := s.NewWriter()
			for j, d := range [][]byte{logText(64<<10, uint64(10*i+1)), randData(64<<10, uint64(10*i+2)), logText(5000, uint64(10*i+3))} {
				id, _, err := w.Put(ctx, d)
				if err != nil {
					t.Fatal(err)
				}
				datas[id] = d
				if j != 1 {
					wantKind[id] = map[string]byte{CompressionS2: kindS2, CompressionZstd: kindZstd, CompressionNone: kindRaw}[comp]
				}
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			for id, k := range wantKind {
				if _, ok := datas[id]; ok && s.Has(id) {
					if got := kindOf(t, s, id); got != k {
						t.Fatalf("%s store wrote chunk %s as kind %d, want %d", comp, id.Short(), got, k)
					}
				}
			}
			w.Close()
			s.Close()
		}
		s, err := Open(ctx, be, t.TempDir(), Options{Key: key, PackSize: 256 << 10})
		if err != nil {
			t.Fatal(err)
		}
		for id, d := range datas {
			got, err := s.Get(ctx, id, nil)
			if err != nil || !bytes.Equal(got, d) {
				t.Fatalf("key=%v: old chunk %s: %v", key != nil, id.Short(), err)
			}
		}
		w := s.NewWriter()
		text := logText(64<<10, 99)
		id, n, err := w.Put(ctx, text)
		if err != nil || n == 0 || n >= len(text)*3/4 {
			t.Fatalf("new text chunk stored as %d of %d bytes (%v)", n, len(text), err)
		}
		if k := kindOf(t, s, id); k != wantNew {
			t.Fatalf("key=%v, created by %q: default store wrote a text chunk as kind %d, want %d", key != nil, tc.created, k, wantNew)
		}
		if v := configVersion(t, s); v != wantVersion {
			t.Fatalf("key=%v, created by %q: format %d after the default wrote, want %d", key != nil, tc.created, v, wantVersion)
		}
		datas[id] = text
		if _, n, err := w.Put(ctx, logText(64<<10, 1)); err != nil || n != 0 {
			t.Fatalf("chunk stored as S2 before stored again (%d bytes, %v)", n, err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		w.Close()
		var bad []BadChunk
		st, err := s.Verify(ctx, VerifyOptions{}, func(b BadChunk) { bad = append(bad, b) })
		if err != nil || len(bad) != 0 || st.Chunks != len(datas) {
			t.Fatalf("key=%v: verify: %d chunks of %d, bad %v, err %v", key != nil, st.Chunks, len(datas), bad, err)
		}
		s.Close()
		s, err = Open(ctx, be, t.TempDir(), Options{Key: key, PackSize: 256 << 10})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]ID, 0, len(datas))
		for id := range datas {
			ids = append(ids, id)
		}
		got, err := s.GetMany(ctx, ids, make([][]byte, len(ids)))
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if !bytes.Equal(got[i], datas[id]) {
				t.Fatalf("reopened: chunk %s differs", id.Short())
			}
		}
		s.Close()
	}
}

// FuzzDecodeRecord: decode must refuse damaged S2 and MinLZ records with
// ErrCorrupt, never panic, write past the plaintext length or return
// other bytes than were encoded (reads of these kinds skip the CRC).
func FuzzDecodeRecord(f *testing.F) {
	for i, p := range [][]byte{logText(64<<10, 1), logText(3000, 2), randData(100, 3), bytes.Repeat([]byte("ab"), 5000)} {
		mz, err := minlz.Encode(nil, p, minlz.LevelFastest)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(mz, true, len(p), uint16(i*7919))
		f.Add(s2.Encode(nil, p), false, len(p), uint16(i*104729))
	}
	c, err := newCodec(nil, 1, 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rec []byte, isMinLZ bool, plen int, flip uint16) {
		if plen < 0 || plen > 1<<20 {
			return
		}
		kind := byte(kindS2)
		if isMinLZ {
			kind = kindMinLZ
		}
		// The record as stored, then with one byte flipped.
		for _, r := range [][]byte{rec, flipped(rec, int(flip))} {
			out, err := c.decode(make([]byte, 0, plen), ID{}, kind, plen, r, false)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("decode error %v is not ErrCorrupt", err)
				}
				continue
			}
			if len(out) != plen {
				t.Fatalf("decoded %d bytes, want %d", len(out), plen)
			}
		}
	})
}

func flipped(p []byte, at int) []byte {
	if len(p) == 0 {
		return p
	}
	q := bytes.Clone(p)
	q[at%len(q)] ^= 1 << (at % 8)
	return q
}

// TestStoreFormatsOpened: a store of a format this binary does not know
// (3) is refused with an error naming it, never read as format 1 or 2.
func TestStoreFormatsOpened(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	c, err := newCodec(nil, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(storeConfig{Version: 3, Hash: "blake3"})
	if err := be.Put(ctx, configKey, c.sealObject(configKey, js)); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, be, t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "unsupported store format 3/blake3") {
		t.Fatalf("format 3 store opened: %v", err)
	}
}

// TestStoreCreatedForOlderReadersIsFormat1: a store created while a
// process that reads only format 1 may open it (Options.OlderReaders, a
// replica not upgraded yet) is made in format 1 and written with S2 in
// MinLZ's place, and stays so when reopened without older readers; a
// store created without them is format 2. Before, every new store was
// format 2, which such a replica refuses ("unsupported store format 2").
func TestStoreCreatedForOlderReadersIsFormat1(t *testing.T) {
	ctx := context.Background()
	for _, older := range []bool{true, false} {
		be := mem.New(nil)
		asked := 0
		s, err := Open(ctx, be, t.TempDir(), Options{PackSize: 256 << 10, OlderReaders: func(context.Context) (bool, error) { asked++; return older, nil }})
		if err != nil {
			t.Fatal(err)
		}
		want, wantKind := formatMinLZ, byte(kindMinLZ)
		if older {
			want, wantKind = formatV1, kindS2
		}
		if v := configVersion(t, s); v != want || asked != 1 {
			t.Fatalf("older readers %v: format %d (asked %d times), want %d", older, v, asked, want)
		}
		w := s.NewWriter()
		id, _, err := w.Put(ctx, logText(64<<10, 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if k := kindOf(t, s, id); k != wantKind {
			t.Fatalf("older readers %v: a text chunk stored as kind %d, want %d", older, k, wantKind)
		}
		s.Close()
		// Reopened by a process that does not ask: the config stands.
		s, err = Open(ctx, be, t.TempDir(), Options{OlderReaders: func(context.Context) (bool, error) { t.Fatal("asked about an existing store"); return false, nil }})
		if err != nil {
			t.Fatal(err)
		}
		if v := configVersion(t, s); v != want {
			t.Fatalf("older readers %v: reopened as format %d, want %d", older, v, want)
		}
		s.Close()
	}
}
