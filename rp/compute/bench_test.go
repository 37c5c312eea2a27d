package compute_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
)

// BenchmarkSASWrite measures 4 MiB page uploads through the azblob
// pageblob client over HTTPS into a 1 GiB disk (one request at a time).
func BenchmarkSASWrite(b *testing.B) {
	e, _ := start(b)
	e.emptyDisk("d", 1)
	pc := e.pageClient(e.grantDisk("d", armcompute.AccessLevelWrite))
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 13)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := int64(i%256) << 22
		if err := fixture.WritePages(pc, off, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNBDQemuImgConvert measures qemu-img convert writing a 256 MiB
// random image into a disk's NBD export (a real client end to end).
func BenchmarkNBDQemuImgConvert(b *testing.B) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		b.Skip("qemu-img is not installed (apt-get install -y qemu-utils)")
	}
	e, _ := start(b, withNBD())
	ctx := context.Background()
	const size = 256 << 20
	d, err := e.Server.Compute.CreateDisk(ctx, compute.DiskSpec{ID: e.diskID("d"),
		Location: "westus", CreateOption: "Empty", SizeBytes: size})
	if err != nil {
		b.Fatal(err)
	}
	img := filepath.Join(b.TempDir(), "img.raw")
	p := make([]byte, size)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], rng.Uint64())
	}
	os.WriteFile(img, p, 0o600)
	g, err := e.Server.Compute.GrantAccess(ctx, d.ID, "Write", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	url, err := e.Server.Compute.NBDURI(ctx, g)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out, err := exec.Command("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", img, url).CombinedOutput(); err != nil {
			b.Fatalf("qemu-img convert: %v\n%s", err, out)
		}
	}
}
