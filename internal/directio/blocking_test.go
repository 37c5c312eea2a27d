package directio

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestBlockingCalls: Pwrite, Pread and Fsync do what unix's do, direct and
// buffered, and return its errors (EBADF on a closed descriptor).
func TestBlockingCalls(t *testing.T) {
	dir := t.TempDir()
	want := bytes.Repeat([]byte("safehold"), 4<<20/8)
	for _, direct := range []bool{true, false} {
		name := filepath.Join(dir, map[bool]string{true: "direct", false: "buffered"}[direct])
		flags := unix.O_RDWR | unix.O_CREAT | unix.O_CLOEXEC
		if direct {
			flags |= unix.O_DIRECT
		}
		fd, err := unix.Open(name, flags, 0o600)
		if err != nil && direct {
			t.Logf("no O_DIRECT here (%v)", err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		buf := alignedBuf(len(want))
		copy(buf, want)
		if n, err := Pwrite(fd, buf, 4096); err != nil || n != len(buf) {
			t.Fatalf("direct=%v: Pwrite = %d, %v", direct, n, err)
		}
		if err := Fsync(fd); err != nil {
			t.Fatalf("direct=%v: Fsync: %v", direct, err)
		}
		got := alignedBuf(len(want) + 4096)
		if n, err := Pread(fd, got, 0); err != nil || n != len(got) {
			t.Fatalf("direct=%v: Pread = %d, %v", direct, n, err)
		}
		if !bytes.Equal(got[4096:], want) || !bytes.Equal(got[:4096], make([]byte, 4096)) {
			t.Fatalf("direct=%v: read back other bytes than written", direct)
		}
		if n, err := Pread(fd, got, int64(len(want))+4096); err != nil || n != 0 {
			t.Fatalf("direct=%v: Pread at the end = %d, %v; want 0, nil", direct, n, err)
		}
		unix.Close(fd)
		if _, err := Pwrite(fd, buf, 0); !errors.Is(err, unix.EBADF) {
			t.Fatalf("Pwrite on a closed descriptor: %v, want EBADF", err)
		}
		if err := Fsync(fd); !errors.Is(err, unix.EBADF) {
			t.Fatalf("Fsync on a closed descriptor: %v, want EBADF", err)
		}
		if st, err := os.Stat(name); err != nil || st.Size() != int64(len(want))+4096 {
			t.Fatalf("direct=%v: file is %v (%v)", direct, st.Size(), err)
		}
	}
}

// TestBlockingCallLetsOthersRun: with one P and three goroutines blocked in
// such a call (reads of an empty pipe, which wait until the test writes),
// the test itself runs on and writes to the pipe, and each blocked
// goroutine takes a P again and returns what was written: the way out of
// entersyscallblock works (that the P goes at once, not at sysmon's next
// look, is the runtime's; a trace shows it, see Pwrite).
func TestBlockingCallLetsOthersRun(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	type result struct {
		b   []byte
		err syscall.Errno
	}
	done := make(chan result)
	for range 3 {
		go func() {
			b := make([]byte, 16)
			n, e := blocking(syscall.SYS_READ, uintptr(p[0]), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0)
			runtime.KeepAlive(b)
			done <- result{b[:n], e}
		}()
	}
	for i := range 3 {
		// Each reader gets its own write: a pipe write of at most
		// PIPE_BUF bytes is one read's.
		msg := []byte{'a' + byte(i)}
		if _, err := unix.Write(p[1], msg); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != 0 || !bytes.Equal(r.b, msg) {
			t.Fatalf("blocked read returned %q, %v; want %q", r.b, r.err, msg)
		}
	}
}
