package compute_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/volume"
)

const sub = "00000000-0000-0000-0000-000000000001"

// newService builds a compute service on a bare platform (store, clock, data dir).
func newService(tb testing.TB) *compute.Service { return newServiceOpts(tb, compute.Options{}) }

func newServiceOpts(tb testing.TB, opts compute.Options) *compute.Service {
	tb.Helper()
	s, closeAll := openServiceOpts(tb, tb.TempDir(), opts)
	tb.Cleanup(closeAll)
	return s
}

func diskID(name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/" + name
}

func snapID(name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Compute/snapshots/" + name
}

// BenchmarkFreezePause measures how long writers are held up when a
// sparse disk is frozen for a snapshot (Freeze installs copy-before-write
// and swaps the change map under the write lock; it never touches the
// disk's data), with a tenth of a percent of its blocks marked changed.
// ns/op is the whole Freeze call (side-file creation included, outside
// the lock); pause-ns is the time the write lock was held.
func BenchmarkFreezePause(b *testing.B) {
	for _, gb := range []int64{1, 16, 64} {
		b.Run(fmt.Sprintf("%dGiB", gb), func(b *testing.B) {
			m, err := volume.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			size := gb << 30
			v, err := m.Create("v", size)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			p := make([]byte, 4096)
			nblocks := size / volume.BlockSize
			for i := int64(0); i < nblocks/1000; i++ {
				v.WriteAt(p, rng.Int64N(nblocks)*volume.BlockSize)
			}
			var worst, total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fzs, err := m.Freeze(v)
				if err != nil {
					b.Fatal(err)
				}
				worst = max(worst, fzs[0].Pause())
				total += fzs[0].Pause()
				b.StopTimer()
				fzs[0].Abort() // keep the change map for the next round
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "pause-ns")
			b.ReportMetric(float64(worst.Nanoseconds()), "worst-pause-ns")
		})
	}
}

// BenchmarkWriterPauseDuringFreeze measures the write latency a writer
// sees (4 KiB writes) while a 64 GiB sparse disk is frozen for 1 ms and
// released, over and over; "baseline" is the same writer without freezes.
// Most writes during a freeze copy a 64 KiB block aside first.
func BenchmarkWriterPauseDuringFreeze(b *testing.B) {
	for _, freeze := range []bool{false, true} {
		name := "baseline"
		if freeze {
			name = "freezing"
		}
		b.Run(name, func(b *testing.B) {
			m, _ := volume.Open(b.TempDir())
			defer m.Close()
			v, _ := m.Create("v", 64<<30)
			p := make([]byte, 4096)
			done := make(chan []time.Duration)
			stop := make(chan struct{})
			go func() {
				var lat []time.Duration
				for i := int64(0); ; i++ {
					select {
					case <-stop:
						done <- lat
						return
					default:
					}
					t0 := time.Now()
					v.WriteAt(p, (i%4096)*volume.BlockSize)
					lat = append(lat, time.Since(t0))
				}
			}()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !freeze {
					time.Sleep(time.Millisecond)
					continue
				}
				fzs, err := m.Freeze(v)
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(time.Millisecond)
				fzs[0].Commit("x")
			}
			b.StopTimer()
			close(stop)
			lat := <-done
			slices.Sort(lat)
			q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) }
			b.ReportMetric(q(0.5), "p50-write-µs")
			b.ReportMetric(q(0.99), "p99-write-µs")
			b.ReportMetric(q(1), "max-write-µs")
		})
	}
}

// BenchmarkIncrementalSnapshot changes N MiB of a 1 GiB disk (random data,
// so nothing dedups or compresses away) and takes an incremental snapshot:
// time and stored bytes should follow the changed bytes, not the disk size.
func BenchmarkIncrementalSnapshot(b *testing.B) {
	for _, mib := range []int64{1, 16, 64} {
		b.Run(fmt.Sprintf("changed=%dMiB", mib), func(b *testing.B) {
			s := newService(b)
			ctx := context.Background()
			if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("d"), Location: "westus", CreateOption: "Empty", SizeBytes: 1 << 30}); err != nil {
				b.Fatal(err)
			}
			v, _ := s.Volume(ctx, diskID("d"))
			rng := rand.New(rand.NewPCG(2, 2))
			p := make([]byte, 1<<20)
			write := func(n int64) {
				for i := int64(0); i < n; i++ {
					for j := range p {
						p[j] = byte(rng.Uint32())
					}
					v.WriteAt(p, rng.Int64N(1024)<<20)
				}
			}
			write(256) // a quarter of the disk holds data
			if _, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID("d"), SnapshotID: snapID("base"), Incremental: true}}, nil); err != nil {
				b.Fatal(err)
			}
			var stored, changed, took int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				write(mib)
				_, before := s.Repository().Size()
				b.StartTimer()
				t0 := time.Now()
				sns, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID("d"), SnapshotID: snapID(fmt.Sprint("s", i)), Incremental: true}}, nil)
				took += int64(time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_, after := s.Repository().Size()
				stored += after - before
				changed += sns[0].Stats.BytesChanged
				b.StartTimer()
			}
			b.ReportMetric(float64(changed)/float64(b.N)/(1<<20), "changed-MiB/op")
			b.ReportMetric(float64(stored)/float64(b.N)/(1<<20), "stored-MiB/op")
			b.ReportMetric(float64(stored)/float64(max(changed, 1)), "stored/changed")
			b.ReportMetric(float64(took)/float64(b.N)/1e6, "ms/snapshot")
		})
	}
}

// BenchmarkSparseSnapshot64GiB takes a first (full) and then an
// incremental snapshot of a 64 GiB sparse disk holding 64 MiB of data: the
// first skips the holes, the second reads only the changed block.
func BenchmarkSparseSnapshot64GiB(b *testing.B) {
	s := newService(b)
	ctx := context.Background()
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("big"), Location: "westus", CreateOption: "Empty", SizeBytes: 64 << 30}); err != nil {
		b.Fatal(err)
	}
	v, _ := s.Volume(ctx, diskID("big"))
	p := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(4, 4))
	for i := 0; i < 64; i++ {
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		v.WriteAt(p, rng.Int64N(64<<10)<<20)
	}
	var full, incr time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID("big"), SnapshotID: snapID(fmt.Sprint("f", i)), Incremental: false}}, nil); err != nil {
			b.Fatal(err)
		}
		full += time.Since(t0)
		v.WriteAt(p[:4096], rng.Int64N(64<<10)<<20)
		t0 = time.Now()
		if _, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID("big"), SnapshotID: snapID(fmt.Sprint("i", i)), Incremental: true}}, nil); err != nil {
			b.Fatal(err)
		}
		incr += time.Since(t0)
	}
	b.ReportMetric(float64(full.Milliseconds())/float64(b.N), "full-ms")
	b.ReportMetric(float64(incr.Milliseconds())/float64(b.N), "incremental-ms")
}
