package accountblob

import (
	"os"
	"syscall"
)

// punchHole zeroes [off, off+n) of f, freeing its space.
func punchHole(f *os.File, off, n int64) error {
	const punch, keep = 0x02, 0x01 // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
	if err := syscall.Fallocate(int(f.Fd()), punch|keep, off, n); err == nil {
		return nil
	}
	return writeZeros(f, off, n)
}
