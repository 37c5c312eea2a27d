package sparse_test

import (
	"syscall"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/sparse"
)

type rng struct{ Off, Len int64 }

// Data written at 1 MiB and 5 MiB of a 8 MiB sparse file is found, in
// order and within the asked range; where the file system keeps holes, the
// holes are not reported.
func TestDataRanges(t *testing.T) {
	f := testsvc.SizedFile(t, 8<<20)
	for _, off := range []int64{1 << 20, 5 << 20} {
		if _, err := f.WriteAt(make([]byte, 64<<10), off); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{1}, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	rs, err := sparse.DataRanges[rng](f, 0, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	covers := func(off int64) bool {
		for _, r := range rs {
			if r.Off <= off && off < r.Off+r.Len {
				return true
			}
		}
		return false
	}
	var total, last int64
	for _, r := range rs {
		if r.Off < last || r.Len <= 0 || r.Off+r.Len > 8<<20 {
			t.Fatalf("ranges out of order or bounds: %v", rs)
		}
		last, total = r.Off+r.Len, total+r.Len
	}
	if !covers(1<<20) || !covers(5<<20) || !covers(5<<20+64<<10-1) {
		t.Fatalf("data not covered: %v", rs)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err == nil && st.Blocks*512 < 1<<20 && total == 8<<20 {
		t.Fatalf("the file system keeps holes (%d bytes allocated) but the whole file was reported", st.Blocks*512)
	}
	// A range inside the hole before the first data holds nothing.
	if rs, err := sparse.DataRanges[rng](f, 0, 512<<10); err != nil || (st.Blocks*512 < 1<<20 && len(rs) != 0) {
		t.Fatalf("hole: %v %v", rs, err)
	}
	if rs, err := sparse.DataRanges[rng](f, 0, 0); err != nil || rs != nil {
		t.Fatalf("empty range: %v %v", rs, err)
	}
}
