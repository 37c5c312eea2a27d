package compute_test

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/nbd/nbdtest"
)

// diskDigest reads a whole disk through the volume layer.
func diskDigest(t *testing.T, e *env, name string) ([32]byte, int64) {
	t.Helper()
	v, err := e.Server.Compute.Volume(context.Background(), e.diskID(name))
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, v.Size())
	if _, err := v.ReadAt(p, 0); err != nil {
		t.Fatal(err)
	}
	return sum(p), v.ChangedBytes()
}

func TestBadInput(t *testing.T) {
	fake := clock.NewFake(time.Now())
	e, ctx := start(t, withNBD(), testserver.WithClock(fake))
	e.putDisk("up", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](64<<20 + 512)}}})
	d, _ := e.disks.Get(ctx, e.rg, "up", nil)
	if *d.Properties.DiskState != armcompute.DiskStateReadyToUpload || *d.Properties.DiskSizeBytes != 64<<20+512 {
		t.Fatalf("upload disk: %s %d", *d.Properties.DiskState, *d.Properties.DiskSizeBytes)
	}
	sas := e.grantDisk("up", armcompute.AccessLevelWrite)
	pc := e.pageClient(sas)
	if err := fixture.WritePages(pc, 0, bytes.Repeat([]byte{7}, 1<<20)); err != nil {
		t.Fatal(err)
	}
	before, changedBefore := diskDigest(t, e, "up")

	// Page writes: unaligned, beyond the end, too large, wrong mode.
	for _, c := range []struct {
		off  int64
		n    int
		code string
	}{
		{100, 512, "InvalidPageRange"},
		{0, 500, "InvalidPageRange"},
		{64 << 20, 1024, "InvalidPageRange"},
		{64<<20 + 512, 512, "InvalidPageRange"},
		{0, 8 << 20, "RequestBodyTooLarge"},
	} {
		err := fixture.WritePages(pc, c.off, bytes.Repeat([]byte{9}, c.n))
		if _, code := testserver.ErrorOf(err); code != c.code {
			t.Fatalf("page write %d+%d: %v, want %s", c.off, c.n, err, c.code)
		}
	}
	if _, err := pc.ClearPages(ctx, blob.HTTPRange{Offset: 64 << 20, Count: 4096}, nil); err == nil {
		t.Fatal("clear beyond the end succeeded")
	}
	// Tampered SAS: another signature, another permission, another grant.
	u, _ := url.Parse(sas)
	q := u.Query()
	tampered := []string{}
	for _, mod := range []func(url.Values){
		func(q url.Values) { q.Set("sig", "AAAA"+q.Get("sig")[4:]) },
		func(q url.Values) { q.Set("se", time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339)) },
		func(q url.Values) { q.Del("sig") },
	} {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = append([]string(nil), v...)
		}
		mod(q2)
		u2 := *u
		u2.RawQuery = q2.Encode()
		tampered = append(tampered, u2.String())
	}
	u3 := *u
	u3.Path = strings.Replace(u.Path, "/sas/disks/sas-", "/sas/disks/sas-x", 1)
	tampered = append(tampered, u3.String())
	for _, bad := range tampered {
		err := e.writeSAS(bad, 0, make([]byte, 512))
		if st, code := testserver.ErrorOf(err); st != 403 || code != "AuthenticationFailed" {
			t.Fatalf("tampered SAS %s: %v", bad, err)
		}
	}
	// Expired SAS.
	fake.Advance(2 * time.Hour)
	err := fixture.WritePages(pc, 0, make([]byte, 512))
	if st, code := testserver.ErrorOf(err); st != 403 || code != "AuthenticationFailed" {
		t.Fatalf("expired SAS: %v", err)
	}
	e.revokeDisk("up")
	// A read SAS cannot write.
	rsas := e.grantDisk("up", armcompute.AccessLevelRead)
	err = e.writeSAS(rsas, 0, make([]byte, 512))
	if st, code := testserver.ErrorOf(err); st != 403 || code != "AuthorizationPermissionMismatch" {
		t.Fatalf("write through a read SAS: %v", err)
	}
	// The read SAS with its permission raised fails the signature.
	ru, _ := url.Parse(rsas)
	rq := ru.Query()
	rq.Set("sp", "rw")
	ru.RawQuery = rq.Encode()
	err = e.writeSAS(ru.String(), 0, make([]byte, 512))
	if st, code := testserver.ErrorOf(err); st != 403 || code != "AuthenticationFailed" {
		t.Fatalf("raised permission: %v", err)
	}
	// Ranged read beyond the end.
	_, err = e.pageClient(rsas).DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 1 << 30, Count: 10}})
	if st, code := testserver.ErrorOf(err); st != 416 || code != "InvalidRange" {
		t.Fatalf("read beyond the end: %v", err)
	}

	// Out-of-range NBD requests fail cleanly; the connection stays usable.
	e.revokeDisk("up")
	nbdURL := e.nbdURI("up", armcompute.AccessLevelWrite)
	c := dialNBD(t, e.Server.Compute.NBDAddr(), nbdURL[strings.LastIndex(nbdURL, "/")+1:])
	size := int64(64<<20 + 512)
	if errno := c.cmd(t, 0, size-100, 512, nil); errno != 22 {
		t.Fatalf("NBD read beyond end: errno %d", errno)
	}
	if errno := c.cmd(t, 1, size, 512, make([]byte, 512)); errno != 28 {
		t.Fatalf("NBD write beyond end: errno %d", errno)
	}
	if errno := c.cmd(t, 6, size-512, 4096, nil); errno != 28 {
		t.Fatalf("NBD write zeroes beyond end: errno %d", errno)
	}
	if errno := c.cmd(t, 4, 1<<62, 1, nil); errno != 28 {
		t.Fatalf("NBD trim beyond end: errno %d", errno)
	}
	if errno := c.cmd(t, 0, 0, 512, nil); errno != 0 || c.last[0] != 7 {
		t.Fatalf("NBD read after errors: errno %d", errno)
	}
	c.Close()
	for _, name := range []string{"no-such-disk", e.diskID("up"), nbdURL[strings.LastIndex(nbdURL, "/")+1:] + "x"} {
		if errno := dialNBDErr(t, e.Server.Compute.NBDAddr(), name); errno != 1<<31+6 {
			t.Fatalf("unknown export %s: reply %#x", name, errno)
		}
	}
	e.revokeDisk("up")

	after, changedAfter := diskDigest(t, e, "up")
	if before != after || changedBefore != changedAfter {
		t.Fatal("rejected requests changed the disk or its change map")
	}

	// ARM-level bad input.
	for _, c := range []struct {
		body compute.DiskSpec
		code string
	}{
		{compute.DiskSpec{CreateOption: "FromImage"}, "InvalidParameter"},
		{compute.DiskSpec{CreateOption: "Empty"}, "InvalidParameter"},
		{compute.DiskSpec{CreateOption: "Copy", SourceID: e.diskID("nope")}, "ResourceNotFound"},
		{compute.DiskSpec{CreateOption: "Import", SourceURI: "file://" + filepath.Join(e.DataDir, "safehold.db")}, "InvalidParameter"},
		{compute.DiskSpec{CreateOption: "Import", SourceURI: "file:///no/such/file.raw"}, "InvalidParameter"},
		{compute.DiskSpec{CreateOption: "Upload", UploadSizeBytes: 1000}, "InvalidParameter"},
	} {
		body := map[string]any{"location": "westus", "properties": map[string]any{"creationData": map[string]any{
			"createOption": c.body.CreateOption, "sourceResourceId": c.body.SourceID, "sourceUri": c.body.SourceURI, "uploadSizeBytes": c.body.UploadSizeBytes}}}
		resp, m := e.Do("PUT", e.diskID("bad")+"?api-version=2024-03-02", body)
		if code := testserver.ErrorCode(m); resp.StatusCode/100 != 4 || code != c.code {
			t.Fatalf("create %+v: %d %v", c.body, resp.StatusCode, m)
		}
	}
	// Shrinking.
	e.emptyDisk("grow", 2)
	_, err = e.disks.BeginUpdate(ctx, e.rg, "grow", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{DiskSizeGB: to.Ptr[int32](1)}}, nil)
	if st, code := testserver.ErrorOf(err); st != 400 || code != "BadRequest" {
		t.Fatalf("shrink: %v", err)
	}
	p, err := e.disks.BeginUpdate(ctx, e.rg, "grow", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{DiskSizeGB: to.Ptr[int32](3)},
		Tags: map[string]*string{"k": to.Ptr("v")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.PollUntilDone(ctx, fixture.Poll)
	if err != nil || *res.Properties.DiskSizeGB != 3 || *res.Tags["k"] != "v" {
		t.Fatalf("grow: %v", err)
	}
	// Snapshot of a disk in another region than asked.
	_, err = e.snaps.BeginCreateOrUpdate(ctx, e.rg, "sx", armcompute.Snapshot{Location: to.Ptr("eastus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("grow"))}}}, nil)
	if st, _ := testserver.ErrorOf(err); st != 400 {
		t.Fatalf("snapshot in another region: %v", err)
	}
	// Listing by resource group and subscription.
	n := testserver.Count(t, ctx, e.disks.NewListByResourceGroupPager(e.rg, nil))
	m := testserver.Count(t, ctx, e.disks.NewListPager(nil))
	if n != 2 || m != 2 {
		t.Fatalf("listed %d in the group, %d in the subscription", n, m)
	}
}

// nbdConn is an NBD connection that numbers its requests and keeps the
// data of the last read.
type nbdConn struct {
	*nbdtest.Client
	last []byte
	h    uint64
}

func dialNBD(t *testing.T, addr, name string) *nbdConn {
	return &nbdConn{Client: nbdtest.MustDial(t, addr, name, false)}
}

func dialNBDErr(t *testing.T, addr, name string) uint32 {
	c, e := nbdtest.Dial(t, addr, name, false)
	if c != nil {
		c.Close()
	}
	return e
}

func (n *nbdConn) cmd(t *testing.T, typ uint16, off int64, length uint32, payload []byte) uint32 {
	t.Helper()
	n.h++
	n.Send(typ, n.h, off, length, payload)
	n.W.Flush()
	errno, h := n.SimpleReply(t)
	if h != n.h {
		t.Fatalf("bad reply handle %d, sent %d", h, n.h)
	}
	if typ == 0 && errno == 0 {
		n.last = make([]byte, length)
		io.ReadFull(n.R, n.last)
	}
	return errno
}
