package snapshot_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/safehold/safehold/snapshot"
)

// Restores written with O_DIRECT (the default, where the file system takes
// it) and through the page cache only give the same bytes and keep holes,
// for sizes that end mid-page.
func TestRestoreDirectAndBuffered(t *testing.T) {
	r := openRepo(t, mustLocal(t), snapshot.Options{})
	const mib = 1 << 20
	size := int64(9*mib + 1234)
	path := filepath.Join(t.TempDir(), "disk.img")
	want := writeDisk(t, path, size, extent{0, 3 * mib, 'r', 11}, extent{5 * mib, 4*mib + 1234, 't', 12})
	m, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
	for _, buffered := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "restored.img")
		if _, err := r.Restore(context.Background(), m.ID, out, snapshot.RestoreOptions{Buffered: buffered, Sync: true}); err != nil {
			t.Fatalf("buffered=%v: %v", buffered, err)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("buffered=%v: restored bytes differ", buffered)
		}
		if a := allocated(t, out); a > size-2*mib+64<<10 {
			t.Fatalf("buffered=%v: %d bytes allocated: the 2 MiB hole was filled", buffered, a)
		}
	}
	checkRestore(t, r, m.ID, want)
}
