package volume

import (
	"encoding/binary"
	"math/bits"
	"sort"
)

// pageBits is how many blocks one bitmap page covers (65536 blocks = 4 GiB
// of disk at 64 KiB blocks).
const pageBits = 1 << 16

// bitmap is a sparse set of block numbers. The zero value is empty and
// costs nothing, so swapping in a fresh one is O(1) whatever the disk size.
type bitmap struct {
	pages map[int64]*[pageBits / 64]uint64
	n     int64 // bits set
}

func (b *bitmap) set(i int64) {
	if b.pages == nil {
		b.pages = map[int64]*[pageBits / 64]uint64{}
	}
	p := b.pages[i/pageBits]
	if p == nil {
		p = new([pageBits / 64]uint64)
		b.pages[i/pageBits] = p
	}
	w, m := (i%pageBits)/64, uint64(1)<<(uint(i)%64)
	if p[w]&m == 0 {
		p[w] |= m
		b.n++
	}
}

func (b *bitmap) has(i int64) bool {
	p := b.pages[i/pageBits]
	return p != nil && p[(i%pageBits)/64]&(uint64(1)<<(uint(i)%64)) != 0
}

func (b *bitmap) count() int64 { return b.n }

// or adds every bit of o.
func (b *bitmap) or(o *bitmap) {
	for _, i := range o.list() {
		b.set(i)
	}
}

// list returns the set blocks in ascending order.
func (b *bitmap) list() []int64 {
	keys := make([]int64, 0, len(b.pages))
	for k := range b.pages {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := make([]int64, 0, b.n)
	for _, k := range keys {
		p := b.pages[k]
		for w, word := range p {
			for word != 0 {
				t := bits.TrailingZeros64(word)
				out = append(out, k*pageBits+int64(w)*64+int64(t))
				word &^= 1 << uint(t)
			}
		}
	}
	return out
}

// ranges returns the set blocks as coalesced byte ranges, clipped to size.
func (b *bitmap) ranges(size int64) []Range {
	var out []Range
	for _, i := range b.list() {
		off := i * BlockSize
		if off >= size {
			break
		}
		n := min(int64(BlockSize), size-off)
		if k := len(out); k > 0 && out[k-1].Off+out[k-1].Len == off {
			out[k-1].Len += n
			continue
		}
		out = append(out, Range{Off: off, Len: n})
	}
	return out
}

// marshal encodes the set as a list of block numbers.
func (b *bitmap) marshal() []byte {
	l := b.list()
	out := make([]byte, 8, 8+8*len(l))
	binary.LittleEndian.PutUint64(out, uint64(len(l)))
	for _, i := range l {
		out = binary.LittleEndian.AppendUint64(out, uint64(i))
	}
	return out
}

func unmarshalBitmap(p []byte) (*bitmap, bool) {
	if len(p) < 8 {
		return nil, false
	}
	n := binary.LittleEndian.Uint64(p)
	if uint64(len(p)-8) != 8*n {
		return nil, false
	}
	b := &bitmap{}
	for i := uint64(0); i < n; i++ {
		b.set(int64(binary.LittleEndian.Uint64(p[8+8*i:])))
	}
	return b, true
}
