package testsvc

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// SmallDisk mounts a tmpfs of mib MiB (a file system to fill up) and
// returns its path; it is unmounted at cleanup. The test is skipped, saying
// why, where none can be mounted (mounting needs root): also under CI=true,
// which may not run as root.
func SmallDisk(t testing.TB, mib int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(mib)+"m"); err != nil {
		t.Skipf("cannot mount a %d MiB tmpfs to fill up (mounting needs root): %v", mib, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// FillUp appends to the file path until its file system is full (a write
// fails with ENOSPC), then gives slack bytes of it back. Removing the file
// frees the space.
func FillUp(t testing.TB, path string, slack int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	if slack > 0 {
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(max(0, fi.Size()-slack)); err != nil {
			t.Fatal(err)
		}
	}
}
