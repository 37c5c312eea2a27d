package chunk

import (
	"bufio"
	"context"
	"errors"
	"github.com/safehold/safehold/internal/datafile"
	"os"
	"path/filepath"
	"strings"

	"github.com/safehold/safehold/blob"
)

// A chunk whose stored copy is damaged (a flipped byte, a cut pack) stays
// in the index: reads of it fail naming the pack, and verify names every
// snapshot using it. But a writer must not deduplicate against that copy,
// or every later backup of the same bytes would reference the damage too
// (and a new backup, the advice for a damaged point, would be as damaged
// as the old one). So the store remembers the copies it found damaged,
// by a verify or by a read, and dedupLookupLocked does not find them: the
// next writer of those bytes stores them again, the index points to the
// new copy, and every snapshot referencing the chunk reads it from there.
// The damaged copy is then garbage, collected by the next GC of its pack.
// The marks are kept in the cache directory too (damagedFile: one line
// "{id} {pack key}" per mark), so a restart remembers them: the first
// backup after it does not read the damaged chunks, so nothing else would
// find the damage again before it references it. And each is an empty
// object in the backend (damagedPrefix + "{pack name}/{id}"), so the
// other stores of the bucket (replicas: a verify runs on the leader, a
// backup on the disk's owner) take it at their next Refresh; a mark whose
// pack is gone is deleted there.

// markDamaged records that the copy of id in pack idx is damaged, unless
// the index already points elsewhere.
func (s *Store) markDamaged(id ID, idx int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markDamagedLocked(id, idx)
}

func (s *Store) markDamagedLocked(id ID, idx int32) {
	if l, ok, _ := s.lookupLocked(id); ok && l.pack == idx {
		if d, had := s.damaged[id]; had && d == idx {
			return
		}
		s.damaged[id] = idx
		if s.closed {
			return
		}
		// Best effort: a mark not kept is found again by the next verify.
		// The file and the backend are written off the store's mutex
		// (a verify marks every chunk of a missing pack under it).
		key := s.packs[idx].key
		s.damageLines = append(s.damageLines, id.String()+" "+key+"\n")
		if !s.damageWriting {
			s.damageWriting = true
			s.uploads.Add(1) // Close waits for it
			go s.keepDamaged()
		}
		s.uploads.Add(1)
		go func() {
			defer s.uploads.Done()
			s.be.Put(s.bg, damagedObject(key, id), nil) // ErrExist: another store marked it
		}()
	}
}

// keepDamaged appends the marks queued by markDamagedLocked to
// damagedFile until none is left (one at a time: damageWriting).
func (s *Store) keepDamaged() {
	defer s.uploads.Done()
	for {
		s.mu.Lock()
		lines := s.damageLines
		s.damageLines = nil
		if len(lines) == 0 {
			s.damageWriting = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if f, err := datafile.OpenFile(filepath.Join(s.cacheDir, damagedFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY); err == nil {
			f.WriteString(strings.Join(lines, ""))
			f.Close()
		}
	}
}

// damagedPrefix holds the marks shared through the backend.
const damagedPrefix = "damaged/"

func damagedObject(packKey string, id ID) string {
	return damagedPrefix + strings.TrimPrefix(packKey, packPrefix) + "/" + id.String()
}

// TakeSharedDamage applies the marks other stores put in the backend
// (at Refresh, after the packs are loaded, and before a capture decides on
// its parent) and deletes those whose pack is gone.
func (s *Store) TakeSharedDamage(ctx context.Context) error {
	type mark struct {
		obj, pack string
		id        ID
	}
	var marks []mark
	err := s.be.List(ctx, damagedPrefix, func(in blob.Info) error {
		rest := strings.TrimPrefix(in.Key, damagedPrefix)
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			return nil
		}
		if id, err := ParseID(rest[i+1:]); err == nil {
			marks = append(marks, mark{in.Key, packPrefix + rest[:i], id})
		}
		return nil
	})
	if err != nil {
		return err
	}
	var gone []string
	s.mu.Lock()
	for _, m := range marks {
		p := s.byKey[m.pack]
		if p == nil {
			gone = append(gone, m.obj)
			continue
		}
		if l, held, _ := s.lookupLocked(m.id); held && l.pack == p.idx {
			s.damaged[m.id] = p.idx
		}
	}
	s.mu.Unlock()
	for _, k := range gone {
		s.be.Delete(ctx, k)
	}
	return nil
}

// damagedFile, in the cache directory, keeps the marks across restarts.
const damagedFile = "damaged"

// loadDamaged takes back the marks kept in damagedFile (at Open, after the
// index is loaded) and rewrites it with those that still apply: the copy
// is still the one the index points to.
func (s *Store) loadDamaged() {
	path := filepath.Join(s.cacheDir, damagedFile)
	f, err := os.Open(path)
	if err != nil {
		return
	}
	var keep []string
	sc := bufio.NewScanner(f)
	s.mu.Lock()
	for sc.Scan() {
		hexID, key, ok := strings.Cut(sc.Text(), " ")
		id, err := ParseID(hexID)
		p := s.byKey[key]
		if !ok || err != nil || p == nil {
			continue
		}
		if l, held, _ := s.lookupLocked(id); held && l.pack == p.idx {
			if _, dup := s.damaged[id]; !dup {
				keep = append(keep, sc.Text())
			}
			s.damaged[id] = p.idx
		}
	}
	s.mu.Unlock()
	f.Close()
	tmp := path + ".tmp"
	body := strings.Join(keep, "\n")
	if body != "" {
		body += "\n"
	}
	if datafile.WriteFile(tmp, []byte(body)) == nil {
		os.Rename(tmp, path)
	}
}

// markDamagedKey is markDamaged for a verify's report, which names the
// pack by key.
func (s *Store) markDamagedKey(id ID, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.byKey[key]; ok && p != nil {
		s.markDamagedLocked(id, p.idx)
	}
}

// dedupLookupLocked is lookupLocked for a writer deduplicating: a copy
// known damaged is not found.
func (s *Store) dedupLookupLocked(id ID) (loc, bool, error) {
	l, ok, err := s.lookupLocked(id)
	if ok {
		if d, bad := s.damaged[id]; bad && d == l.pack {
			return loc{}, false, nil
		}
	}
	return l, ok, err
}

// Damaged reports whether the store knows of a damaged copy of id that
// the index still points to (a writer would store id again).
func (s *Store) Damaged(id ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok, _ := s.lookupLocked(id)
	d, bad := s.damaged[id]
	return ok && bad && d == l.pack
}

// AnyDamaged reports whether the store knows of any damaged copy the
// index still points to, or of a chunk lost with its pack (Lost).
func (s *Store) AnyDamaged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, d := range s.damaged {
		if l, ok, _ := s.lookupLocked(id); ok && l.pack == d {
			return true
		}
	}
	for id := range s.lost {
		if _, held, _ := s.lookupLocked(id); !held {
			return true
		}
	}
	return false
}

// supersededDamage records the damage a verify found in a chunk's copy
// and reports whether that copy is garbage: the index points to another
// copy of the chunk (stored again since the damage was found), so no
// snapshot reads the damaged one and it is not reported.
func (s *Store) supersededDamage(b BadChunk) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byKey[b.Pack]
	if !ok || p == nil {
		return false
	}
	l, held, _ := s.lookupLocked(b.ID)
	if held && l.pack != p.idx {
		return true
	}
	if errors.Is(b.Err, ErrCorrupt) {
		s.markDamagedLocked(b.ID, p.idx)
		// Lookups skip the marked copy: another one indexed is read.
		if l, held, _ := s.lookupLocked(b.ID); held && l.pack != p.idx {
			return true
		}
	}
	return false
}

// isDamagedLocked reports whether the copy of id the damaged map names is
// still indexed (its pack alive).
func (s *Store) isDamagedLocked(id ID) bool {
	d, ok := s.damaged[id]
	return ok && s.usableLocked(id, d)
}
