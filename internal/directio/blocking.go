package directio

import (
	"runtime"
	"syscall"
	"unsafe"
)

// Pwrite, Pread and Fsync are the system calls that wait on the device (a
// direct transfer, an fsync) made so that the calling goroutine's P is let
// go as the call starts. A P is the runtime's right to run Go code, one
// per core: a goroutine in an ordinary system call keeps its P until the
// runtime's monitor (sysmon) takes it back, which it does only after it
// has seen the call twice in a row, and which backs off to looking every
// 10 ms once it has found nothing to take for a millisecond. A full backup
// writes and fsyncs each 8 MiB pack (~20 ms on the bench host's disk)
// while its two workers compress: in a runtime trace of one (load 1.3),
// a P sat with a blocked upload 0.73 s of the 2.1 s while goroutines
// waited to run, a third of the second core. These calls hand the P to
// another thread at once (runtime.entersyscallblock, the runtime's own
// way into a call it knows blocks, as gVisor uses it); the goroutine takes
// a P again when the call returns. The hand-off costs a thread wake-up
// (microseconds): for calls that take milliseconds only.
//
// They retry EINTR and return unix's errors (syscall.Errno).
func Pwrite(fd int, p []byte, off int64) (int, error) {
	return rw(syscall.SYS_PWRITE64, fd, p, off)
}

// Pread: see Pwrite.
func Pread(fd int, p []byte, off int64) (int, error) {
	return rw(syscall.SYS_PREAD64, fd, p, off)
}

// Fsync: see Pwrite.
func Fsync(fd int) error {
	for {
		_, e := blocking(syscall.SYS_FSYNC, uintptr(fd), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

func rw(trap uintptr, fd int, p []byte, off int64) (int, error) {
	for {
		n, e := blocking(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), uintptr(off))
		runtime.KeepAlive(p)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// blocking is syscall.Syscall6 (the standard library's, for ordinary
// calls) with entersyscallblock in place of entersyscall. Nothing between
// the two runtime calls may grow the stack: nosplit, as Syscall6.
//
//go:nosplit
//go:norace
func blocking(trap, a1, a2, a3, a4 uintptr) (uintptr, syscall.Errno) {
	entersyscallblock()
	r1, _, e := syscall.RawSyscall6(trap, a1, a2, a3, a4, 0, 0)
	exitsyscall()
	return r1, e
}

// The runtime keeps both for packages outside it (go.dev/issue/67401:
// "Do not remove or change the type signature").
//
//go:linkname entersyscallblock runtime.entersyscallblock
func entersyscallblock()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()
