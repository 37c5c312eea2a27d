package chunk

import (
	"context"
	"fmt"
	"slices"
	"unsafe"

	"github.com/safehold/safehold/blob"
)

// A Tail is a writer's exclusive use of the end of an open pack's buffer:
// a capture reads a run of blocks straight into it (Buf) and PutTail
// stores the new ones where they lie, so an incompressible block (most of
// what a full backup stores raw) is never copied into the pack: the read
// that filled Buf put it there. Without tails every stored byte was copied
// once more from the capture's read buffer into the pack (the copy and
// the CRC pass over it were 8-10 % of a full backup's CPU).
//
// The pack is in no open list while a Tail owns it: other writers fill
// another open pack, and nothing seals or uploads it. A Tail may be filled
// and stored in parts (a part the size of the CPU's cache is still there
// when it is hashed, compressed and checksummed). Every Tail must end with
// Release.
type Tail struct {
	w     *Writer
	p     *pack
	full  []byte // p.buf up to its capacity
	start int    // offset of Buf in the pack, on a blob.Align boundary
	unit  int
	n     int // units in Buf
	done  bool
}

// Tail reserves room for up to n units of unit bytes (at least one) at the
// end of an open pack, on a blob.Align boundary, as Buf. It returns nil
// when the store does not place records in place (an encrypted store seals
// every record into new bytes) or is closed.
func (w *Writer) Tail(unit, n int) *Tail {
	s := w.s
	if s.c.aead != nil || n <= 0 || unit <= 0 || unit+s.c.tailLen(1) > s.packCap() {
		return nil
	}
	var full []*pack
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	var p *pack
	m := 0
	// The fullest open pack with room for a unit: packs fill up as with
	// addRun, and a pack without that room is sealed.
	for _, q := range s.open {
		if k := s.tailRoom(q, unit); k > 0 && (p == nil || len(q.buf) > len(p.buf)) {
			p, m = q, k
		} else if k == 0 && len(q.entries) > 0 {
			full = append(full, q)
		}
	}
	for _, q := range full {
		s.sealLocked(q)
	}
	if p == nil {
		p = s.newOpenLocked()
		m = s.tailRoom(p, unit)
	} else {
		s.unlistLocked(p)
	}
	p.owned = true
	t := &Tail{w: w, p: p, full: p.buf[:cap(p.buf)], unit: unit, n: min(m, n)}
	t.start = (len(p.buf) + blob.Align - 1) &^ (blob.Align - 1)
	s.mu.Unlock()
	for _, q := range full {
		s.startUpload(q)
	}
	return t
}

// tailRoom is how many units of unit bytes (each a record with its header
// entry) fit in open pack p past its end's next blob.Align boundary, and
// are needed to reach the pack size (as with addRun, the last record may
// cross it); 0 once it holds the pack size.
func (s *Store) tailRoom(p *pack, unit int) int {
	at := (len(p.buf) + blob.Align - 1) &^ (blob.Align - 1)
	if at >= s.packSize {
		return 0
	}
	free := cap(p.buf) - at - s.c.tailLen(len(p.entries))
	return max(0, min(free/(unit+entrySize), (s.packSize-at+unit-1)/unit))
}

// Units is how many units Buf holds.
func (t *Tail) Units() int { return t.n }

// Buf is the reserved room, Units() units, aligned on blob.Align.
func (t *Tail) Buf() []byte { return t.full[t.start : t.start+t.n*t.unit] }

// Release ends the tail without storing anything (again: no-op).
func (t *Tail) Release() {
	if t == nil || t.done {
		return
	}
	t.done = true
	s := t.w.s
	p := t.p
	s.mu.Lock()
	p.owned = false
	var seal *pack
	// After Close nothing starts an upload (nor does addRun add anything);
	// a Flush waiting for this pack is answered that it never will be.
	if s.closed && p.sealReq {
		p.err = fmt.Errorf("put pack %s: store closed before its chunks were stored", p.key[len(packPrefix):][:12])
		s.dropPackLocked(p)
		s.mu.Unlock()
		close(p.done)
		return
	}
	if !s.closed && (p.sealReq || (len(p.entries) > 0 && s.sealDue(p, t.unit+blob.Align))) {
		seal = s.sealLocked(p)
	} else {
		s.open = append(s.open, p)
	}
	s.mu.Unlock()
	if seal != nil {
		s.startUpload(seal)
	}
}

// PutTail is PutRun for chunks read into t.Buf(): data[i] (ids[i] =
// Sum(data[i])) lie in it in increasing order, each ending at or before
// the next one starts, and after the chunks of the tail's earlier
// PutTails. The new chunks are placed after those, each at or before
// where it was read: a raw record stays where it lies (or moves down over
// skipped blocks), an encoded one is written from the encoding. data's
// bytes are overwritten. A chunk that may be stored raw and is at least
// 32 KiB starts on a blob.Align boundary of the tail (a capture's blocks
// do): such a record is padded to one, and one that is not is refused.
// The tail stays the caller's (Release ends it).
func (w *Writer) PutTail(ctx context.Context, t *Tail, ids []ID, data [][]byte, stored []int, scratch *[]byte) error {
	if t.w != w || t.done {
		return fmt.Errorf("put chunks: tail of another writer or ended")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := w.s
	have := make([]bool, len(ids))
	w.dedupRun(ids, have)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(t.full)))
	p := t.p
	pos := len(p.buf) // the next record goes here (or past its padding)
	recs := make([]record, 0, len(ids))
	offs := make([]int, 0, len(ids))
	idx := make([]int, 0, len(ids))
	for i, id := range ids {
		stored[i] = 0
		if have[i] || slices.ContainsFunc(recs, func(r record) bool { return r.id == id }) {
			continue // stored, or a repeat of a block of this run: no room taken
		}
		src := int(uintptr(unsafe.Pointer(unsafe.SliceData(data[i]))) - base)
		if len(data[i]) == 0 || src < pos || src < t.start || src+len(data[i]) > t.start+t.n*t.unit {
			return fmt.Errorf("put chunk %s: data not in order in the tail", id.Short())
		}
		var rec []byte
		var kind byte
		*scratch, rec, kind = s.c.encode((*scratch)[:0], id, data[i])
		r := record{id: id, kind: kind, plen: uint32(len(data[i])), enc: rec}
		if pad := s.padFor(pos, r); pad > 0 {
			if pos+pad > src {
				// Padded, the record would start inside its own bytes.
				return fmt.Errorf("put chunk %s: raw chunk not on a %d-byte boundary in the tail", id.Short(), blob.Align)
			}
			clear(t.full[pos : pos+pad])
			pos += pad
		}
		// pos <= src: the padding ends at an Align boundary no later than
		// src. The record ends before the next chunk's bytes start (it is
		// at most as long as data[i]); copy moves overlapping bytes
		// correctly.
		if kind != kindRaw || src != pos {
			copy(t.full[pos:], rec)
		}
		r.enc = t.full[pos : pos+len(rec)]
		r.crc = crc(r.enc)
		recs = append(recs, r)
		offs = append(offs, pos)
		idx = append(idx, i)
		pos += len(rec)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("put chunks: store closed")
	}
	due := false
	for k, r := range recs {
		if l, ok, _ := s.dedupLookupLocked(r.id); ok {
			// Stored by another writer since dedupRun: its bytes here are
			// a gap no entry points to.
			due = w.refLocked(r.id, s.packs[l.pack]) || due
			continue
		}
		due = w.indexLocked(p, r, offs[k]) || due
		stored[idx[k]] = len(r.enc)
	}
	p.buf = t.full[:pos]
	s.mu.Unlock()
	if due {
		w.spill()
	}
	return nil
}
