package snapshot

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

const directAlign = 4096

// directWriter writes to a file with O_DIRECT through a second descriptor
// (opened via /proc/self/fd). A nil *directWriter, or one whose file system
// refused a direct write, writes nothing and the caller writes buffered.
type directWriter struct {
	fd  int
	off atomic.Bool // direct I/O refused: everything goes buffered
}

func openDirect(f *os.File) *directWriter {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	var d *directWriter
	rc.Control(func(fd uintptr) {
		nfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		if err == nil {
			d = &directWriter{fd: nfd}
		}
	})
	return d
}

func (d *directWriter) close() {
	if d != nil {
		unix.Close(d.fd)
	}
}

// write writes the longest 4 KiB-aligned prefix of p at off directly and
// returns its length; the caller writes the rest buffered.
func (d *directWriter) write(p []byte, off int64) (int, error) {
	if d == nil || d.off.Load() || off%directAlign != 0 || len(p) < directAlign ||
		uintptr(unsafe.Pointer(&p[0]))%directAlign != 0 {
		return 0, nil
	}
	n := len(p) &^ (directAlign - 1)
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

// alignedBuf returns n bytes starting on a directAlign boundary.
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	a := int(uintptr(unsafe.Pointer(&b[0])) % directAlign)
	if a != 0 {
		a = directAlign - a
	}
	return b[a : a+n : a+n]
}
