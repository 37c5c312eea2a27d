package snapshot_test

import (
	"context"
	"os"
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/snapshot"
)

// BenchmarkCaptureImage captures the image named by SAFEHOLD_BENCH_IMAGE
// (for profiling with the peers' generator output).
func BenchmarkCaptureImage(b *testing.B) {
	img := os.Getenv("SAFEHOLD_BENCH_IMAGE")
	if img == "" {
		b.Skip("set SAFEHOLD_BENCH_IMAGE")
	}
	for i := 0; i < b.N; i++ {
		var be blob.Backend = mem.New(nil)
		if os.Getenv("SAFEHOLD_BENCH_LOCAL") != "" {
			be, _ = local.Open(b.TempDir())
		}
		r, err := snapshot.Open(context.Background(), be, b.TempDir(), snapshot.Options{})
		if err != nil {
			b.Fatal(err)
		}
		f, _ := os.Open(img)
		src, _ := snapshot.FileSource(f)
		b.SetBytes(src.Size())
		if _, _, err := r.Capture(context.Background(), src, snapshot.CaptureOptions{}); err != nil {
			b.Fatal(err)
		}
		f.Close()
		r.Close()
	}
}
