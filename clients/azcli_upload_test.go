package clients_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// fixedVHDFooter is the 512-byte footer of a fixed VHD of size bytes of
// data (the VHD specification's hard disk footer: cookie "conectix", disk
// type 2, one's complement checksum), as qemu-img, Hyper-V and azcopy's
// users make them.
func fixedVHDFooter(size int64) []byte {
	f := make([]byte, 512)
	be := binary.BigEndian
	copy(f, "conectix")
	be.PutUint32(f[8:], 2)           // features: reserved
	be.PutUint32(f[12:], 0x00010000) // file format version
	be.PutUint64(f[16:], ^uint64(0)) // data offset: none (fixed)
	copy(f[28:], "qemu")
	be.PutUint64(f[40:], uint64(size)) // original size
	be.PutUint64(f[48:], uint64(size)) // current size
	be.PutUint16(f[56:], 65535)        // geometry: the largest, as for any disk past 127 GiB of CHS
	f[58], f[59] = 16, 255
	be.PutUint32(f[60:], 2) // disk type: fixed
	var sum uint32
	for _, b := range f {
		sum += uint32(b)
	}
	be.PutUint32(f[64:], ^sum)
	return f
}

// TestAzCLIUploadedVHDIsItsData: Azure's upload of a VHD (az disk create
// --upload-type Upload --upload-size-bytes of the .vhd file, az disk
// grant-access --access-level Write, the file written through the SAS as
// azcopy does, az disk revoke-access) leaves a disk of the VHD's data, its
// 512-byte footer dropped: a 1 GiB image uploaded as 1 GiB + 512 bytes is
// a 1 GiB disk (az disk show: diskSizeGb 1, diskSizeBytes 1073741824) whose
// last sector is data. The disk kept the footer: it was 2 GiB by
// diskSizeGb, 1073742336 bytes, and its readers saw the footer as data.
func TestAzCLIUploadedVHDIsItsData(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "uprg", "-l", "westus", "-o", "none")
	const size = 1 << 30
	d := []string{"-g", "uprg", "-n", "up1"}
	if out := az.tsv(append([]string{"disk", "create", "--upload-type", "Upload", "--upload-size-bytes", "1073742336", "--os-type", "Linux", "--query", "diskState"}, d...)...); out != "ReadyToUpload" {
		t.Fatalf("az disk create --upload-type Upload: %q", out)
	}
	sas := az.tsv(append([]string{"disk", "grant-access", "--access-level", "Write", "--duration-in-seconds", "3600", "--query", "accessSas"}, d...)...)
	hc, _ := e.Conn.HTTPClient()
	pc, err := pageblob.NewClientWithNoCredential(sas, &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := pc.GetProperties(context.Background(), nil); err != nil || *p.ContentLength != size+512 {
		t.Fatalf("the upload SAS's page blob: %v %v, want %d bytes", p.ContentLength, err, size+512)
	}
	head, tail := make([]byte, 1<<20), make([]byte, 4096)
	rand.Read(head)
	rand.Read(tail)
	for _, w := range []struct {
		off  int64
		data []byte
	}{{0, head}, {size - int64(len(tail)), tail}, {size, fixedVHDFooter(size)}} {
		if err := fixture.WritePages(pc, w.off, w.data); err != nil {
			t.Fatalf("upload at %d: %v", w.off, err)
		}
	}
	az.run(append([]string{"disk", "revoke-access", "-o", "none"}, d...)...)
	if out := az.tsv(append([]string{"disk", "show", "--query", "[diskState,to_string(diskSizeGb),to_string(diskSizeBytes)]"}, d...)...); strings.Join(strings.Fields(out), " ") != "Unattached 1 1073741824" {
		t.Fatalf("the uploaded disk (state, GiB, bytes): %q, want Unattached 1 1073741824", out)
	}

	// Its content is the VHD's data, ending where the footer began.
	sas = az.tsv(append([]string{"disk", "grant-access", "--duration-in-seconds", "3600", "--query", "accessSas"}, d...)...)
	rc, err := pageblob.NewClientWithNoCredential(sas, &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := rc.GetProperties(context.Background(), nil); err != nil || *p.ContentLength != size {
		t.Fatalf("the uploaded disk's page blob: %v %v, want %d bytes", p.ContentLength, err, size)
	}
	if got := fixture.ReadPages(t, rc, 0, int64(len(head))); !bytes.Equal(got, head) {
		t.Fatal("the uploaded disk's first MiB differs from the image's")
	}
	if got := fixture.ReadPages(t, rc, size-int64(len(tail)), int64(len(tail))); !bytes.Equal(got, tail) {
		t.Fatal("the uploaded disk's last 4 KiB differ from the image's")
	}
	az.run(append([]string{"disk", "revoke-access", "-o", "none"}, d...)...)
	// A snapshot of it is the same size.
	if out := az.tsv("snapshot", "create", "-g", "uprg", "-n", "up1snap", "--source", "up1", "--query", "to_string(diskSizeBytes)"); out != "1073741824" {
		t.Fatalf("snapshot of the uploaded disk: %q bytes", out)
	}
}
