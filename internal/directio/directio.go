// Package directio reads and writes whole 4 KiB-aligned runs of a file
// with O_DIRECT through a second descriptor, so large transfers skip the
// copy through the page cache (most of a restore's system time, a seventh
// of a full backup's CPU).
//
// Writer: a nil *Writer, or one whose file system refused a direct write,
// writes nothing and the caller writes buffered; callers always write the
// remainder (the unaligned tail) through their own descriptor, and
// durability is unchanged: an fsync of the file covers both descriptors.
//
// Reader: reads the aligned middle of a range directly and its unaligned
// head and tail (or everything, where the file system refuses direct I/O)
// through the file's own descriptor. A direct read first writes back the
// range's dirty pages, so it sees every write made through the buffered
// descriptor before it started.
package directio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
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
	if fd, ok := reopen(f, unix.O_WRONLY); ok {
		return &Writer{fd: fd}
	}
	return nil
}

// reopen opens f again with O_DIRECT and the given access mode.
func reopen(f *os.File, mode int) (int, bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, false
	}
	nfd, ok := -1, false
	rc.Control(func(fd uintptr) {
		n, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), mode|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		if err == nil {
			nfd, ok = n, true
		}
	})
	return nfd, ok
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
		w, err := Pwrite(d.fd, p[done:n], off+int64(done))
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

// Reader reads one file, the aligned middle of each range with O_DIRECT.
// It is safe for concurrent use; Close may race with reads (they then fail
// with os.ErrClosed, never read another file).
type Reader struct {
	f     *os.File // the file's own (buffered) descriptor
	d     *os.File // the direct descriptor; nil: everything buffered
	limit int64    // direct reads stay below this (whole pages of the known size)
	off   atomic.Bool
	// noCache: no reads from the page cache (no cachestat here, or closed)
	noCache atomic.Bool
}

// NewReader returns a Reader of f, which holds at least size bytes: direct
// reads cover only whole pages below size (a direct read of the partial
// last page would come back short), the rest goes through f. Without a
// direct descriptor (no /proc, or the open refused) every read goes
// through f.
func NewReader(f *os.File, size int64) *Reader {
	r := &Reader{f: f, limit: size &^ (Align - 1)}
	if fd, ok := reopen(f, unix.O_RDONLY); ok {
		r.d = os.NewFile(uintptr(fd), f.Name()+" (direct)")
	}
	return r
}

// readCached reads p at off from the page cache when it holds every page
// of the range (cachestat, which reads nothing), and reports whether it
// did: such a range is copied from the cache rather than read from the
// disk, where it would compete with the pack writes for the device (a full
// backup of an image just written read it all from the disk again, and its
// reads and the packs' fsyncs waited on each other). A range the cache
// holds only in part is left to the caller, which reads it direct.
//
// The copy is a raw pread (RawSyscall: the goroutine keeps its P), as a
// copy from memory does not wait on the device. Through os.File's ReadAt
// each 1 MiB read (~0.1 ms) was an ordinary system call long enough for
// the runtime's monitor to take the worker's P from it and wake another
// thread to run it, then put the worker to sleep when the read came back
// to no P: a full backup of the bench image made ~9,600 context switches
// in 1.5 s of CPU, and the monitor, finding a P to take every few ticks,
// woke every 20 us instead of backing off (bench/engine-measured.md,
// session 31).
func (r *Reader) readCached(p []byte, off int64) (n int, err error, ok bool) {
	if r.noCache.Load() {
		return 0, nil, false
	}
	rc, cerr := r.f.SyscallConn()
	if cerr != nil {
		return 0, nil, false
	}
	rc.Control(func(fd uintptr) {
		rg := unix.CachestatRange{Off: uint64(off), Len: uint64(len(p))}
		var st unix.Cachestat_t
		if err := unix.Cachestat(uint(fd), &rg, &st, 0); err != nil {
			r.noCache.Store(true) // no cachestat (before Linux 6.5): read direct
			return
		}
		pages := (off+int64(len(p))+Align-1)/Align - off/Align
		if st.Cache < uint64(pages) {
			return
		}
		ok = true
		for n < len(p) {
			k, _, e := syscall.RawSyscall6(syscall.SYS_PREAD64, fd, uintptr(unsafe.Pointer(&p[n])),
				uintptr(len(p)-n), uintptr(off+int64(n)), 0, 0)
			switch {
			case e == syscall.EINTR:
				continue
			case e != 0:
				err = &os.PathError{Op: "read", Path: r.f.Name(), Err: e}
				return
			case k == 0:
				err = io.EOF
				return
			}
			n += int(k)
		}
	})
	runtime.KeepAlive(p)
	return n, err, ok
}

// Close closes the direct descriptor (not the file).
func (r *Reader) Close() error {
	if r == nil || r.d == nil {
		return nil
	}
	r.noCache.Store(true) // later reads fail on the closed descriptor, as before
	return r.d.Close()
}

// ReadAt reads len(p) bytes at off, as os.File's ReadAt (io.EOF past the
// end). The Align-multiple middle of the range is read directly when p is
// aligned to off modulo Align (a buffer from an aligned allocation, read at
// an aligned offset), with one pread for the whole middle.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	head := int((Align - off%Align) % Align)
	mid := 0
	if r.d != nil && !r.off.Load() && len(p) >= head+Align && off+int64(head) < r.limit &&
		uintptr(unsafe.Pointer(&p[head]))%Align == 0 {
		mid = int(min(int64(len(p)-head), r.limit-off-int64(head))) &^ (Align - 1)
	}
	if mid == 0 {
		return r.f.ReadAt(p, off)
	}
	if n, err, ok := r.readCached(p, off); ok {
		return n, err
	}
	n := 0
	if head > 0 {
		k, err := r.f.ReadAt(p[:head], off)
		if err != nil {
			return k, err
		}
		n = k
	}
	k, err := r.readDirect(p[head:head+mid], off+int64(head))
	n += k
	if err != nil && !errors.Is(err, io.EOF) {
		if k == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
			r.off.Store(true) // this file system takes no direct I/O
		} else {
			return n, err
		}
	}
	if n < len(p) {
		k, err := r.f.ReadAt(p[n:], off+int64(n))
		return n + k, err
	}
	return n, nil
}

// readDirect is r.d.ReadAt through Pread: a read the page cache does not
// hold waits on the device.
func (r *Reader) readDirect(p []byte, off int64) (n int, err error) {
	rc, err := r.d.SyscallConn()
	if err != nil {
		return 0, err
	}
	cerr := rc.Read(func(fd uintptr) bool {
		for n < len(p) && err == nil {
			var k int
			if k, err = Pread(int(fd), p[n:], off+int64(n)); err == nil && k == 0 {
				err = io.EOF
			}
			n += k
		}
		return true
	})
	if cerr != nil { // closed
		return 0, &os.PathError{Op: "read", Path: r.d.Name(), Err: os.ErrClosed}
	}
	if err != nil && err != io.EOF {
		err = &os.PathError{Op: "read", Path: r.d.Name(), Err: err}
	}
	return n, err
}
