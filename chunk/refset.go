package chunk

import (
	"github.com/safehold/safehold/internal/datafile"
	"path/filepath"
)

// writerMemIDs is how many references a Writer keeps in memory before it
// writes them to a run (default of Options.WriterMemory): 64 Ki IDs, ~4
// MiB of map, 4 GiB of 64 KiB blocks between spills.
const writerMemIDs = 1 << 16

// refSet is the set of chunk IDs a Writer put or deduplicated against,
// which a garbage collection must keep. It is bounded in memory whatever
// the job's size: up to max IDs in a map; then the map is frozen (still
// answered from memory) and written, sorted, as a run: a finished LiveSet,
// a file in the cache directory of which memory keeps the Bloom filter and
// the fences, ~1.5 bytes per ID. Runs of about equal size are merged, so a
// writer of n references keeps about log2(n/max) runs (a backup of 1 TiB
// of unique 64 KiB blocks: 16 Mi refs, ~24 MiB, 9 runs at most).
//
// Its fields are guarded by the Writer's mu; spills and merges run under
// the Writer's spillMu, with mu taken only to swap maps and runs, so a
// collection's sweep (which asks has under the store's lock) never waits
// for the disk.
type refSet struct {
	dir    string
	max    int
	mem    map[ID]struct{}
	frozen map[ID]struct{} // being written as a run
	runs   []*LiveSet
	failed bool // a run could not be written: keep every ID in memory
	spills int  // runs written (figures and tests)
}

func newRefSet(dir string, max int) refSet {
	return refSet{dir: dir, max: max, mem: make(map[ID]struct{})}
}

// add records id; it reports whether mem is due to be written as a run.
func (r *refSet) add(id ID) bool {
	r.mem[id] = struct{}{}
	return len(r.mem) >= r.max && r.frozen == nil && !r.failed
}

// has reports whether id was recorded. A run that cannot be read answers
// true: keeping garbage is safe, losing a referenced chunk is not.
func (r *refSet) has(id ID) bool {
	if _, ok := r.mem[id]; ok {
		return true
	}
	if _, ok := r.frozen[id]; ok {
		return true
	}
	for _, run := range r.runs {
		if ok, err := run.Has(id); ok || err != nil {
			return true
		}
	}
	return false
}

// drain moves every ID into held (a map) and the runs into runs, leaving r
// empty; a writer closed during a collection's mark hands them over.
func (r *refSet) drain(held map[ID]struct{}, runs *[]*LiveSet) {
	for id := range r.mem {
		held[id] = struct{}{}
	}
	for id := range r.frozen {
		held[id] = struct{}{}
	}
	*runs = append(*runs, r.runs...)
	r.mem, r.frozen, r.runs = make(map[ID]struct{}), nil, nil
}

// release closes r's runs (removing their files) and empties it.
func (r *refSet) release() {
	for _, run := range r.runs {
		run.Close()
	}
	r.mem, r.frozen, r.runs = make(map[ID]struct{}), nil, nil
}

// writeRefRun writes ids as a finished, spilled LiveSet.
func writeRefRun(dir string, ids map[ID]struct{}) (*LiveSet, error) {
	if err := datafile.MkdirAll(dir); err != nil {
		return nil, err
	}
	l := &LiveSet{dir: dir, max: len(ids) + 1, buf: make([]ID, 0, len(ids))}
	for id := range ids {
		l.buf = append(l.buf, id)
	}
	if err := l.spill(); err != nil {
		l.Close() // the spill file it may have created
		return nil, err
	}
	if err := l.Finish(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// mergeRefRuns merges two runs into a new one; a and b are left as they are
// (still answering) for the caller to close once the new run replaces them.
func mergeRefRuns(dir string, a, b *LiveSet) (*LiveSet, error) {
	l := &LiveSet{dir: dir, max: 1, keepSpills: true,
		spills: []string{a.f.Name(), b.f.Name()}, nspill: a.n + b.n}
	if err := l.Finish(); err != nil {
		l.spills = nil // a's and b's files
		l.Close()
		return nil, err
	}
	return l, nil
}

// spill writes the writer's in-memory references as a run, then merges
// trailing runs of about equal size. Called without the store's lock.
func (w *Writer) spill() {
	w.spillMu.Lock()
	defer w.spillMu.Unlock()
	w.mu.Lock()
	r := &w.refs
	if w.closed || r.frozen != nil || r.failed || len(r.mem) < r.max {
		w.mu.Unlock()
		return
	}
	fz := r.mem
	r.frozen, r.mem = fz, make(map[ID]struct{}, r.max)
	w.mu.Unlock()

	run, err := writeRefRun(r.dir, fz)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		// No room in the cache directory: stay correct, unbounded.
		for id := range fz {
			r.mem[id] = struct{}{}
		}
		r.frozen, r.failed = nil, true
		return
	}
	r.runs = append(r.runs, run)
	r.frozen = nil
	r.spills++
	for {
		n := len(r.runs)
		if n < 2 {
			return
		}
		a, b := r.runs[n-2], r.runs[n-1]
		if a.Len() > b.Len()+b.Len()/4 {
			return
		}
		w.mu.Unlock()
		m, err := mergeRefRuns(r.dir, a, b)
		w.mu.Lock()
		if err != nil {
			return // both runs stay; the next spill tries again
		}
		r.runs = append(r.runs[:n-2], m)
		a.Close()
		b.Close()
	}
}

// WriterStats describe a Writer's record of its references.
type WriterStats struct {
	MemIDs int // references held in memory
	Runs   int // runs in the cache directory
	Spills int // runs written (before merges)
}

// Stats reports how the writer keeps its references.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WriterStats{MemIDs: len(w.refs.mem) + len(w.refs.frozen), Runs: len(w.refs.runs), Spills: w.refs.spills}
}

// refsDir is where writers' runs live: beside the collections' live sets,
// so the directory Open clears holds them too.
func (s *Store) refsDir() string { return filepath.Join(s.cacheDir, liveDirName) }
