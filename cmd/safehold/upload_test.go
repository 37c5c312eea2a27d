package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// An image uploaded onto an existing disk leaves the disk equal to it,
// zero-padded: what the disk held in the image's holes and past its end is
// cleared, and the image's holes are neither read nor sent (the disk's page
// ranges say what there is to clear). Before, every 4 MiB of the image was
// read and sent, holes included (a 40 GiB image with 12 MiB of data took a
// minute and 10,240 requests), and the disk kept its old data past the
// image's end.
func TestUploadOntoAnExistingDisk(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	// The disk's old data: in what will be the image's data, in its holes,
	// and past its end.
	_, old := fixture.Disk(t, e, "rg", "d1", 1, 0, 100<<20, 300<<20, 700<<20)
	if len(old) != 4 {
		t.Fatalf("old data: %d regions", len(old))
	}
	img := filepath.Join(t.TempDir(), "img.raw")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	model := map[int64][]byte{}
	for i, off := range []int64{100<<20 + 512<<10, 200 << 20} {
		b := make([]byte, 1<<20)
		for k := range b {
			b[k] = byte(k*7) ^ byte(i+3)
		}
		f.WriteAt(b, off)
		model[off] = b
	}
	// Zeros written (allocated, not a hole) over old data at 0.
	f.WriteAt(make([]byte, 2<<20), 0)
	model[0] = make([]byte, 2<<20)
	const size = 512<<20 - 1000 // not a whole page: the last one goes zero-padded
	f.WriteAt([]byte{9}, size-1)
	model[size-1] = []byte{9}
	f.Close()

	before := sasPuts(e)
	mustRun(t, e, "disk", "upload", img, "d1")
	// The two 1 MiB regions (one over two 4 MiB requests at most), the last
	// page, the zeros and the four old regions cleared: a few requests, not
	// one per 4 MiB of the image (128).
	if n := sasPuts(e) - before; n > 16 {
		t.Errorf("the upload sent %d page requests", n)
	}
	back := filepath.Join(t.TempDir(), "back.raw")
	mustRun(t, e, "disk", "download", "d1", back)
	checkImage(t, back, 1<<30, model)
}

// sasPuts is how many PUTs the disks' SAS data plane answered so far.
func sasPuts(e *testserver.Env) int {
	n := 0
	for k, v := range e.Metrics() {
		if strings.HasPrefix(k, "safehold_http_requests_total{") && strings.Contains(k, `method="PUT"`) && strings.Contains(k, `route="/sas/disks/*"`) {
			n += int(v)
		}
	}
	return n
}

// With the object storage out of reach, status still reports what it can
// read (health, the Blob check's error, counts) and then fails saying the
// storage figures are unavailable: it failed with nothing but a 500.
func TestStatusWithTheObjectStorageDown(t *testing.T) {
	e, down := testserver.StartOnS3(t)
	down()
	out, err := run(t, e, nil, "status")
	if err == nil || !strings.Contains(err.Error(), "object storage") {
		t.Errorf("status with the object storage down: err %v", err)
	}
	for _, want := range []string{"unhealthy", "Vaults", "Storage", "unavailable: "} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// A download into a target that is no regular file (a pipe here; a block
// device the same way) writes the whole disk front to back, zeros included:
// it truncated the target first, which a device or a pipe refuses
// (EINVAL), and wrote only the data at its offsets, which would have left a
// device's old bytes in the disk's holes and cannot be done on a pipe.
func TestDownloadIntoAPipe(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	_, model := fixture.Disk(t, e, "rg", "d1", 1, 0, 100<<20, 1<<30-1<<20)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	type read struct {
		b   []byte
		err error
	}
	got := make(chan read, 1)
	go func() {
		b, err := os.ReadFile(fifo) // opening blocks until the download opens it
		got <- read{b, err}
	}()
	mustRun(t, e, "disk", "download", "d1", fifo)
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := make([]byte, 1<<30)
	for off, p := range model {
		copy(want[off:], p)
	}
	if len(r.b) != len(want) || !bytes.Equal(r.b, want) {
		t.Fatalf("the pipe got %d bytes, not the disk's %d (or other bytes)", len(r.b), len(want))
	}
}
