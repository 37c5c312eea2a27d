package chunk

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"github.com/safehold/safehold/blob"
)

// A pack can disappear or be cut short outside Safehold's control (a disk
// error, an operator's rm). Its chunks then leave the index, and a reader
// would see only "chunk not found". The local cache of pack headers still
// names the chunks such a pack held, so the store remembers them as lost
// with the pack's name: Lost answers which pack a missing chunk was in and
// what happened to it. Only chunks that something still references matter
// (a pack holding only garbage may have been deleted by a GC elsewhere), so
// callers ask about the chunks they miss.

type lostChunk struct {
	pack string
	err  error
}

// Lost reports, for a chunk the store does not hold, the pack that held it
// and what happened to that pack (deleted, truncated, unreadable), when the
// store knows.
func (s *Store) Lost(id ID) (pack string, err error, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, held, _ := s.lookupLocked(id); held {
		return "", nil, false
	}
	l, ok := s.lost[id]
	return l.pack, l.err, ok
}

// loseLocked records the chunks of a pack that is gone or unreadable.
func (s *Store) loseLocked(key string, es []entry, err error) {
	for _, e := range es {
		// Held elsewhere (another copy) is not lost; the pack being lost
		// may still be indexed itself.
		if l, held, _ := s.lookupLocked(e.id); !held || s.packs[l.pack].key == key {
			s.lost[e.id] = lostChunk{pack: key, err: err}
		}
	}
}

// cachedEntries reads a pack's entries from the header cache alone,
// whatever the pack's current size (nil if the cache has none).
func (s *Store) cachedEntries(key string) []entry {
	t := s.readCachedTail(key)
	if len(t) < trailerSize || string(t[len(t)-8:]) != packMagic {
		return nil
	}
	hl := int64(binary.LittleEndian.Uint32(t[len(t)-trailerSize:]))
	if hl+trailerSize != int64(len(t)) {
		return nil
	}
	es, err := s.c.parseHeader(t[:hl], binary.LittleEndian.Uint32(t[len(t)-trailerSize+4:]), 1<<40)
	if err != nil {
		return nil
	}
	return es
}

// loseUnlistedLocked records the chunks of packs that have a cached header
// but no object in the backend (deleted while no store had them open).
func (s *Store) loseUnlistedLocked(listed map[string]blob.Info) {
	ents, err := os.ReadDir(s.cacheDir + "/packs")
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			continue
		}
		key := packPrefix + name
		if _, ok := listed[key]; ok {
			continue
		}
		if _, ok := s.byKey[key]; ok {
			continue
		}
		if es := s.cachedEntries(key); es != nil {
			s.loseLocked(key, es, fmt.Errorf("pack %s is missing from the store: %w", key, ErrCorrupt))
		}
	}
}
