package dataprotection_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// sdkDisks drives disks through armcompute and their bytes through SAS
// page-blob access (azblob), as a customer would.
type sdkDisks struct {
	t     *testing.T
	e     *testserver.Env
	disks *armcompute.DisksClient
}

func newSDKDisks(t *testing.T, e *testserver.Env) *sdkDisks {
	c, err := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	return &sdkDisks{t: t, e: e, disks: c}
}

func (d *sdkDisks) create(rg, name string, sizeGB int32) string {
	d.t.Helper()
	res, err := fixture.Wait(d.disks.BeginCreateOrUpdate(d.e.Ctx(), rg, name, fixture.EmptyDisk("westus", sizeGB), nil))
	if err != nil {
		d.t.Fatalf("create disk %s: %v", name, err)
	}
	return *res.ID
}

func (d *sdkDisks) grant(rg, name string, access armcompute.AccessLevel) *pageblob.Client {
	d.t.Helper()
	p, err := d.disks.BeginGrantAccess(d.e.Ctx(), rg, name, armcompute.GrantAccessData{Access: to.Ptr(access), DurationInSeconds: to.Ptr[int32](3600)}, nil)
	if err != nil {
		d.t.Fatalf("grant %s: %v", name, err)
	}
	res, err := p.PollUntilDone(d.e.Ctx(), poll)
	if err != nil || res.AccessSAS == nil {
		d.t.Fatalf("grant %s: %v", name, err)
	}
	hc, _ := d.e.Conn.HTTPClient()
	pc, err := pageblob.NewClientWithNoCredential(*res.AccessSAS, &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc}})
	if err != nil {
		d.t.Fatal(err)
	}
	return pc
}

func (d *sdkDisks) revoke(rg, name string) {
	d.t.Helper()
	p, err := d.disks.BeginRevokeAccess(d.e.Ctx(), rg, name, nil)
	if err == nil {
		_, err = p.PollUntilDone(d.e.Ctx(), poll)
	}
	if err != nil {
		d.t.Fatalf("revoke %s: %v", name, err)
	}
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// write uploads pages (a write SAS must be granted) and records them in model.
func (d *sdkDisks) write(pc *pageblob.Client, model map[int64][]byte, off int64, seed byte, n int) {
	d.t.Helper()
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31) ^ seed ^ byte(off>>16)
	}
	if _, err := pc.UploadPages(context.Background(), nopCloser{bytes.NewReader(p)}, blob.HTTPRange{Offset: off, Count: int64(n)}, nil); err != nil {
		d.t.Fatalf("upload pages at %d: %v", off, err)
	}
	model[off] = p
}

// compare downloads the whole disk through a read SAS and checks it equals
// model (the written regions, zeros elsewhere).
func (d *sdkDisks) compare(pc *pageblob.Client, size int64, model map[int64][]byte) {
	d.t.Helper()
	const step = 64 << 20
	want := make([]byte, step)
	for off := int64(0); off < size; off += step {
		n := min(step, size-off)
		clear(want)
		for o, p := range model {
			for i := range p {
				if at := o + int64(i); at >= off && at < off+n {
					want[at-off] = p[i]
				}
			}
		}
		got := fixture.ReadPages(d.t, pc, off, n)
		if !bytes.Equal(got, want[:n]) {
			d.t.Fatalf("restored disk differs from the source at backup time in [%d, %d)", off, off+n)
		}
	}
}
