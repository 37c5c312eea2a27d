// Package directio writes whole 4 KiB-aligned runs of a file with O_DIRECT
// through a second descriptor, so large writes skip the copy into the page
// cache (most of a restore's system time). A nil *Writer, or one whose file
// system refused a direct write, writes nothing and the caller writes
// buffered; callers always write the remainder (the unaligned tail) through
// their own descriptor, and durability is unchanged: an fsync of the file
// covers both descriptors.
package directio

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Align is the alignment of offsets, lengths and buffers of direct writes.
const Align = 4096

// Writer writes to one file with O_DIRECT.
type Writer struct {
	fd  int
	off atomic.Bool // direct I/O refused: everything goes buffered
}

// Open opens a direct descriptor of f (via /proc/self/fd), or returns nil
// when that is not possible (the caller then writes buffered).
func Open(f *os.File) *Writer {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	var d *Writer
	rc.Control(func(fd uintptr) {
		nfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		if err == nil {
			d = &Writer{fd: nfd}
		}
	})
	return d
}

// Close closes the direct descriptor (not the file).
func (d *Writer) Close() {
	if d != nil {
		unix.Close(d.fd)
	}
}

// WriteAt writes the longest Align-multiple prefix of p at off directly,
// when off and p's address are aligned, and returns its length; the caller
// writes p[n:] buffered at off+n.
func (d *Writer) WriteAt(p []byte, off int64) (int, error) {
	if d == nil || d.off.Load() || off%Align != 0 || len(p) < Align ||
		uintptr(unsafe.Pointer(&p[0]))%Align != 0 {
		return 0, nil
	}
	n := len(p) &^ (Align - 1)
	done := 0
	for done < n {
		w, err := unix.Pwrite(d.fd, p[done:n], off+int64(done))
		if err != nil {
			if done == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
				d.off.Store(true) // this file system takes no direct I/O
				return 0, nil
			}
			return done, err
		}
		if w == 0 {
			return done, fmt.Errorf("direct write at %d: wrote nothing", off+int64(done))
		}
		done += w
	}
	return done, nil
}
