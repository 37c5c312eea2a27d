package chunk

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/safehold/safehold/blob"
)

// A chunk can be stored more than once: the next backup after a verify
// or a read found a copy damaged stores it again (damaged.go), two
// replicas may store the same new chunk at once, a repack's source
// outlives it after a crash. The index keeps one entry per chunk in each
// of its tables (the memory table, a run), so where two copies meet (an
// index rebuilt from the packs, a merge of runs, packs another store
// wrote) one is dropped. Which one cannot be left to the order the packs
// were listed in, nor to the damage marks alone: marks are lost with the
// cache directory, and a new replica on the bucket starts without them;
// the damaged copy may be the newer one (clock skew, equal whole-second
// times on object storage). An index that kept the damaged copy failed
// restores of every point using the chunk (UserErrorRecoveryPointCorrupt)
// although a good copy was stored, and the next GC deleted the good copy
// as garbage. So where copies meet, the index reads them (pickCopies), in
// order of preference, and keeps the first that reads back intact; a
// damage found that way is recorded as a verify's is. Copies meet rarely
// (the index drops the other copy once it chose, and GC frees it), so the
// reads cost nothing to a backup or a restore.

// A copyOf is one stored copy of a chunk, a candidate for the index.
type copyOf struct {
	key string    // its pack
	mod time.Time // the pack's time
	r   rec       // its record (r.ref is the caller's)
}

// byPreference orders copies of one chunk newer pack first (then by key,
// so that every store of a bucket orders them alike).
func byPreference(a, b copyOf) int {
	if c := b.mod.Compare(a.mod); c != 0 {
		return c
	}
	return cmp.Compare(b.key, a.key)
}

// pickWorkers bounds the reads of pickCopies in flight.
const pickWorkers = 4

// pickCopies chooses the copy the index keeps of each group of copies of
// one chunk (each in order of preference): the first that reads back
// intact, skipping those known damaged; when none does, the first whose
// read failed for another reason than damage (the backend out of reach:
// not known bad), else the first. It returns the chosen index per group.
func (s *Store) pickCopies(ctx context.Context, groups [][]copyOf) []int {
	out := make([]int, len(groups))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(pickWorkers, len(groups)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for g := range next {
				out[g] = s.pickCopy(ctx, groups[g], &buf)
			}
		}()
	}
	for g := range groups {
		next <- g
	}
	close(next)
	wg.Wait()
	return out
}

func (s *Store) pickCopy(ctx context.Context, cs []copyOf, buf *[]byte) int {
	marked := make([]bool, len(cs))
	s.mu.Lock()
	for i, c := range cs {
		if p := s.byKey[c.key]; p != nil {
			d, ok := s.damaged[c.r.id]
			marked[i] = ok && d == p.idx
		}
	}
	s.mu.Unlock()
	unknown := -1
	for pass := 0; pass < 2; pass++ { // unmarked copies first
		for i, c := range cs {
			if marked[i] != (pass == 1) {
				continue
			}
			err := s.checkCopy(ctx, c, buf)
			switch {
			case err == nil:
				return i
			case errors.Is(err, ErrCorrupt):
				s.recordDamage(c)
			case !errors.Is(err, blob.ErrNotExist) && unknown < 0:
				unknown = i
			}
		}
	}
	return max(unknown, 0)
}

// checkCopy reads copy c back and checks it as Get does (CRC, decoding,
// the plaintext's hash): nil when intact, an error wrapping ErrCorrupt
// when damaged.
func (s *Store) checkCopy(ctx context.Context, c copyOf, buf *[]byte) error {
	stored, err := s.be.Get(ctx, c.key, int64(c.r.off), int64(c.r.slen))
	if err != nil {
		return err
	}
	if len(stored) != int(c.r.slen) {
		return fmt.Errorf("chunk %s: %s offset %d: short record: %w", c.r.id.Short(), c.key, c.r.off, ErrCorrupt)
	}
	if crc(stored) != c.r.crc {
		return fmt.Errorf("chunk %s: %s offset %d: checksum mismatch: %w", c.r.id.Short(), c.key, c.r.off, ErrCorrupt)
	}
	out, err := s.c.decode(*buf, c.r.id, c.r.kind, int(c.r.plen), stored, true)
	if err == nil {
		*buf = out
	}
	return err
}

// recordDamage records a damaged copy found by pickCopies, as a verify
// does: a mark in the backend for the other stores of the bucket, and
// one here while the chunk has no other (the index does not keep the
// copy; lookups skip it wherever a table still holds it).
func (s *Store) recordDamage(c copyOf) {
	s.mu.Lock()
	if p := s.byKey[c.key]; p != nil {
		if _, had := s.damaged[c.r.id]; !had {
			s.damaged[c.r.id] = p.idx
		}
	}
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		s.be.Put(s.bg, damagedObject(c.key, c.r.id), nil) // best effort, as markDamaged's
	}
}

// dupGroups finds the runs of equal IDs in recs (sorted by ID, each run
// in order of preference) and returns them as copies (copy makes one
// from a record) with the position of each group's first record.
func dupGroups(recs []rec, copy func(rec) copyOf) (groups [][]copyOf, at []int) {
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && recs[j].id == recs[i].id {
			j++
		}
		if j-i > 1 {
			g := make([]copyOf, 0, j-i)
			for k := i; k < j; k++ {
				c := copy(recs[k])
				if !slices.ContainsFunc(g, func(o copyOf) bool { return o.key == c.key && o.r.off == c.r.off }) {
					g = append(g, c)
				}
			}
			if len(g) > 1 {
				groups, at = append(groups, g), append(at, i)
			}
		}
		i = j
	}
	return groups, at
}
