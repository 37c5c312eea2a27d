//go:build !linux

package testsvc

import "testing"

// SmallDisk skips the test: it mounts a tmpfs, which only Linux has here.
func SmallDisk(t testing.TB, mib int) string {
	t.Helper()
	t.Skip("a small file system to fill up is a tmpfs, mounted on Linux only")
	return ""
}

// FillUp is not reached (SmallDisk skipped the test).
func FillUp(t testing.TB, path string, slack int64) { t.Helper(); t.Fatal("FillUp needs SmallDisk") }
