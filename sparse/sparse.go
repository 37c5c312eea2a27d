// Package sparse asks the file system where a sparse file's data is
// (SEEK_DATA, SEEK_HOLE), so that readers skip its holes. volume (a live
// disk's file), snapshot (capturing from a file) and the CLI (uploading an
// image) use it. It imports nothing of Safehold.
package sparse

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// DataRanges lists, in order, the ranges of [off, off+n) of f that may hold
// data, as values of the caller's range type (a struct{ Off, Len int64 }),
// one seek pair at a time (no unbounded extent maps). A file system without
// hole support reports the whole of [off, off+n) as one range.
func DataRanges[R ~struct{ Off, Len int64 }](f *os.File, off, n int64) ([]R, error) {
	if n <= 0 {
		return nil, nil
	}
	end := off + n
	fd := int(f.Fd())
	var out []R
	for pos := off; pos < end; {
		d, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole up to EOF
		}
		if err != nil {
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
				return []R{{off, n}}, nil
			}
			return nil, fmt.Errorf("seek data: %w", err)
		}
		if d >= end {
			break
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("seek hole: %w", err)
		}
		h = min(h, end)
		out = append(out, R{d, h - d})
		pos = h
	}
	return out, nil
}
