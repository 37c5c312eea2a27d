package store

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockFile takes an exclusive lock on f without waiting (flock: held by
// this open of the file, across processes); false when another holds it.
func lockFile(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// freeSpace is the space left to an unprivileged writer on the file system
// of path's directory (0 when it cannot be read).
func freeSpace(path string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return 0
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
