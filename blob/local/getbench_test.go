package local

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
)

// BenchmarkGetInto reads ranges of 8 MiB packs into a reused aligned
// scratch buffer, as a restore's range reads do: 256 KiB ranges (O_DIRECT,
// the device's time mostly) and 4 KiB ones (through the page cache, where
// the file's open, stat and close are most of the cost). cpu-ns/op is the
// process's user and system time per read.
//
//	go test -run '^$' -bench BenchmarkGetInto ./blob/local/
func BenchmarkGetInto(b *testing.B) {
	const packs = 16
	ctx := context.Background()
	be, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := blob.AlignedBuf(8 << 20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	keys := make([]string, packs)
	for k := range keys {
		keys[k] = fmt.Sprintf("pack/%02x%030x", k%3, k)
		if err := be.Put(ctx, keys[k], data); err != nil {
			b.Fatal(err)
		}
	}
	for _, size := range []int64{256 << 10, 4 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			scratch := blob.AlignedBuf(int(size) + 2*blob.Align)
			b.SetBytes(size)
			cpu0 := processCPU()
			for n := 0; b.Loop(); n++ {
				off := int64(n*7919) % (int64(len(data)) - size)
				if _, err := be.GetInto(ctx, keys[n%packs], off, size, scratch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
