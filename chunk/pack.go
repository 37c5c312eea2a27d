package chunk

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// A pack object ("pack/<32 hex>") holds many stored chunks followed by a
// header that indexes them and a fixed-size trailer:
//
//	record 0 | record 1 | … | header | trailer
//	header  = count u32 | count × entry          (sealed when encrypted)
//	entry   = id [32] | kind u8 | offset u32 | stored length u32 |
//	          plain length u32 | crc32c of the stored record u32
//	trailer = header length u32 | crc32c of header u32 | "SHPACK01"
//
// All integers are little-endian. The header makes a pack self-describing
// (the index is rebuilt from pack headers), the CRCs let anyone without the
// key detect corruption and name the damaged chunk, and because a pack is put
// atomically a chunk and its index entry become durable together.

const (
	packMagic    = "SHPACK01"
	trailerSize  = 16
	entrySize    = 32 + 1 + 4 + 4 + 4 + 4
	packPrefix   = "pack/"
	headerObject = "pack header"
)

type entry struct {
	id   ID
	kind byte
	off  uint32
	slen uint32
	plen uint32
	crc  uint32
}

func appendEntries(dst []byte, es []entry) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(es)))
	for _, e := range es {
		dst = append(dst, e.id[:]...)
		dst = append(dst, e.kind)
		dst = binary.LittleEndian.AppendUint32(dst, e.off)
		dst = binary.LittleEndian.AppendUint32(dst, e.slen)
		dst = binary.LittleEndian.AppendUint32(dst, e.plen)
		dst = binary.LittleEndian.AppendUint32(dst, e.crc)
	}
	return dst
}

func parseEntries(b []byte, recordsEnd int64) ([]entry, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("short header: %w", ErrCorrupt)
	}
	n := int(binary.LittleEndian.Uint32(b))
	b = b[4:]
	if len(b) != n*entrySize {
		return nil, fmt.Errorf("header holds %d bytes for %d entries: %w", len(b), n, ErrCorrupt)
	}
	es := make([]entry, n)
	for i := range es {
		e := &es[i]
		copy(e.id[:], b[:32])
		e.kind = b[32]
		e.off = binary.LittleEndian.Uint32(b[33:])
		e.slen = binary.LittleEndian.Uint32(b[37:])
		e.plen = binary.LittleEndian.Uint32(b[41:])
		e.crc = binary.LittleEndian.Uint32(b[45:])
		if int64(e.off)+int64(e.slen) > recordsEnd {
			return nil, fmt.Errorf("entry %d outside the pack: %w", i, ErrCorrupt)
		}
		b = b[entrySize:]
	}
	return es, nil
}

// packTail returns the sealed header plus trailer for the given entries.
func (c *codec) packTail(es []entry) []byte {
	hdr := appendEntries(nil, es)
	if c.aead != nil {
		hdr = c.sealObject(headerObject, hdr)
	}
	out := append(hdr, make([]byte, 0, trailerSize)...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(hdr)))
	out = binary.LittleEndian.AppendUint32(out, crc(hdr))
	return append(out, packMagic...)
}

// tailLen bounds the length of packTail for n entries.
func (c *codec) tailLen(n int) int {
	l := 4 + n*entrySize + trailerSize
	if c.aead != nil {
		l += len(objMagic) + 1 + chacha20poly1305.NonceSizeX + c.aead.Overhead() + 4
	}
	return l
}

// parseTrailer returns the header length from a pack's last trailerSize bytes.
func parseTrailer(t []byte, packSize int64) (hdrLen int64, hdrCRC uint32, err error) {
	if len(t) != trailerSize || string(t[8:]) != packMagic {
		return 0, 0, fmt.Errorf("bad trailer: %w", ErrCorrupt)
	}
	hdrLen = int64(binary.LittleEndian.Uint32(t))
	if hdrLen+trailerSize > packSize {
		return 0, 0, fmt.Errorf("header length %d too large: %w", hdrLen, ErrCorrupt)
	}
	return hdrLen, binary.LittleEndian.Uint32(t[4:]), nil
}

// parseHeader checks and decodes a header (as stored, sealed or not).
func (c *codec) parseHeader(hdr []byte, hdrCRC uint32, recordsEnd int64) ([]entry, error) {
	if crc(hdr) != hdrCRC {
		return nil, fmt.Errorf("header checksum mismatch: %w", ErrCorrupt)
	}
	if c.aead != nil {
		var err error
		if hdr, err = c.openObject(headerObject, hdr); err != nil {
			return nil, err
		}
	}
	return parseEntries(hdr, recordsEnd)
}
