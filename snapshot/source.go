package snapshot

import (
	"fmt"
	"os"

	"github.com/safehold/safehold/internal/directio"
	"github.com/safehold/safehold/sparse"
)

// Source is a disk to capture: its size and random read access. Reads
// beyond what the source holds must return zeros or io.EOF after the data.
type Source interface {
	Size() int64
	ReadAt(p []byte, off int64) (int, error)
}

// ChangeTracker is implemented by sources that know which byte ranges
// changed since the parent snapshot (the volume layer's dirty-block
// tracking). ok=false means "unknown, scan".
type ChangeTracker interface {
	ChangedBlocks() (ranges []Range, ok bool)
}

// DataRanger is implemented by sources that know where their data is
// (sparse files): ranges outside the returned ones read as zeros, so a
// full scan skips them without reading.
type DataRanger interface {
	DataRanges(off, length int64) ([]Range, error)
}

// File is a Source over a regular (possibly sparse) file; it finds holes
// with SEEK_DATA/SEEK_HOLE and reads the aligned parts of large reads with
// O_DIRECT (directio.Reader, as volume freezes do), buffered where the file
// system refuses direct I/O.
type File struct {
	f    *os.File
	r    *directio.Reader
	size int64
}

var (
	_ Source     = (*File)(nil)
	_ DataRanger = (*File)(nil)
)

// FileSource returns a Source reading f. The size is taken now.
func FileSource(f *os.File) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	return &File{f: f, r: directio.NewReader(f, st.Size()), size: st.Size()}, nil
}

// Close releases the source's direct descriptor (not f).
func (s *File) Close() error { return s.r.Close() }

// Size implements Source.
func (s *File) Size() int64 { return s.size }

// ReadAt implements Source.
func (s *File) ReadAt(p []byte, off int64) (int, error) { return s.r.ReadAt(p, off) }

// DataRanges implements DataRanger with SEEK_DATA/SEEK_HOLE, one range at a
// time (no unbounded extent maps). File systems without hole support report
// one data range.
func (s *File) DataRanges(off, length int64) ([]Range, error) {
	return sparse.DataRanges[Range](s.f, off, length)
}
