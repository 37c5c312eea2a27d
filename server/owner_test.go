package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/connect"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/server"
)

// TestDiskOwnedByOneReplica: a disk's live bytes live on the replica that
// created it, which holds the disk's lease. A SAS obtained from the other
// replica works (the request is forwarded to the owner), and once the
// owner is gone the disk answers DiskOwnerUnavailable there.
func TestDiskOwnedByOneReplica(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	var srv [2]*server.Server
	var cancels [2]context.CancelFunc
	var wgs [2]sync.WaitGroup
	for i := range srv {
		s, err := server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Store: url,
			Compute: compute.Options{NBDAddr: "127.0.0.1:0"}, // its listener reports the port (Compute.NBDAddr)
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		srv[i] = s
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		wgs[i].Add(1)
		go func() { defer wgs[i].Done(); s.Serve(ctx) }()
	}
	stopped := [2]bool{}
	stop := func(i int) {
		if !stopped[i] {
			stopped[i] = true
			cancels[i]()
			wgs[i].Wait()
			srv[i].Close()
		}
	}
	defer func() { stop(0); stop(1) }()
	conns := make([]*connect.Connection, 2)
	for i, s := range srv {
		c, err := connect.Load(filepath.Join(s.Config.DataDir, "connection.json"))
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	cred, err := conns[0].Credential()
	if err != nil {
		t.Fatal(err)
	}
	opts := func(i int) *arm.ClientOptions {
		o := conns[i].ARMOptions()
		o.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: conns[0].AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: conns[i].ARMEndpoint, Audience: conns[0].ARMEndpoint}}}
		return o
	}
	ctx := context.Background()
	sub := conns[0].SubscriptionID
	rg, _ := armresources.NewResourceGroupsClient(sub, cred, opts(0))
	if _, err := rg.CreateOrUpdate(ctx, "disks", armresources.ResourceGroup{Location: to.Ptr("westus")}, nil); err != nil {
		t.Fatal(err)
	}
	dc0, _ := armcompute.NewDisksClient(sub, cred, opts(0))
	d, err := fixture.Wait(dc0.BeginCreateOrUpdate(ctx, "disks", "d1", fixture.EmptyDisk("westus", 1), nil))
	if err != nil {
		t.Fatal(err)
	}
	row, err := lease.Get(ctx, srv[0].Store, "disk:"+*d.Properties.UniqueID)
	if err != nil {
		t.Fatalf("the new disk has no owner lease: %v", err)
	}
	owner, other := 0, 1
	if row.Holder == srv[1].NodeID {
		owner, other = 1, 0
	} else if row.Holder != srv[0].NodeID {
		t.Fatalf("disk owned by %q, not a replica (%s, %s)", row.Holder, srv[0].NodeID, srv[1].NodeID)
	}
	// A write SAS from the replica that does not own the disk.
	dc, _ := armcompute.NewDisksClient(sub, cred, opts(other))
	gp, err := dc.BeginGrantAccess(ctx, "disks", "d1", armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelWrite), DurationInSeconds: to.Ptr[int32](3600)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var gresp *http.Response
	g, err := gp.PollUntilDone(runtime.WithCaptureResponse(ctx, &gresp), nil)
	if err != nil {
		t.Fatal(err)
	}
	// NBD is not proxied: the grant, though answered by the replica that
	// does not own the disk, names the owner's NBD listener, which serves
	// the export; the non-owner's listener refuses it and names the
	// owner's.
	gb, _ := io.ReadAll(gresp.Body)
	var gbody struct {
		NBDURI string `json:"nbdUri"`
	}
	if err := json.Unmarshal(gb, &gbody); err != nil || gbody.NBDURI == "" {
		t.Fatalf("grant: no nbdUri in %s", gb)
	}
	ownerNBD := "nbd://" + srv[owner].Compute.NBDAddr() + "/"
	if !strings.HasPrefix(gbody.NBDURI, ownerNBD) || srv[owner].Compute.NBDAddr() == srv[other].Compute.NBDAddr() {
		t.Fatalf("grant answered by replica %d: nbdUri %s, want the owner's listener %s", other, gbody.NBDURI, ownerNBD)
	}
	export := strings.TrimPrefix(gbody.NBDURI, ownerNBD)
	if msg, ok := nbdGo(t, srv[owner].Compute.NBDAddr(), export); !ok {
		t.Fatalf("NBD at the grant's nbdUri %s: %q", gbody.NBDURI, msg)
	}
	if msg, ok := nbdGo(t, srv[other].Compute.NBDAddr(), export); ok || !strings.Contains(msg, srv[owner].NodeID) || !strings.Contains(msg, gbody.NBDURI) {
		t.Fatalf("NBD on the non-owner: ok=%v %q, want a refusal naming %s", ok, msg, gbody.NBDURI)
	}
	sas := *g.AccessSAS
	otherHost := strings.TrimPrefix(conns[other].ARMEndpoint, "https://")
	sas = "https://" + otherHost + sas[strings.Index(sas, "/sas/"):] // the non-owner's endpoint, whatever grant answered
	hc, _ := conns[0].HTTPClient()
	pc, err := pageblob.NewClientWithNoCredential(sas, &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("owned by one replica "), 50000)[:1<<20]
	if err := fixture.WritePages(pc, 4<<20, data); err != nil {
		t.Fatalf("upload through the non-owner: %v", err)
	}
	got, err := pc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 4 << 20, Count: 1 << 20}})
	if err != nil {
		t.Fatalf("download through the non-owner: %v", err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(b, data) {
		t.Fatal("pages read back through the non-owner differ")
	}
	// A snapshot asked of a replica that does not own its source disk is
	// taken by the owner (the operation's task is handed to it).
	d2, err := fixture.Wait(dc0.BeginCreateOrUpdate(ctx, "disks", "d2", fixture.EmptyDisk("westus", 1), nil))
	if err != nil {
		t.Fatal(err)
	}
	row2, err := lease.Get(ctx, srv[0].Store, "disk:"+*d2.Properties.UniqueID)
	if err != nil {
		t.Fatal(err)
	}
	notOwner2 := 0
	if row2.Holder == srv[0].NodeID {
		notOwner2 = 1
	}
	sc, _ := armcompute.NewSnapshotsClient(sub, cred, opts(notOwner2))
	sp, err := sc.BeginCreateOrUpdate(ctx, "disks", "s2", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: d2.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := sp.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatalf("snapshot through the replica that does not own the disk: %v", err)
	}
	if s2.Properties == nil || s2.Properties.ProvisioningState == nil || *s2.Properties.ProvisioningState != "Succeeded" || *s2.Properties.DiskSizeGB != 1 {
		t.Fatalf("snapshot: %+v", s2.Properties)
	}

	// The owner stops: its disk answers a clear error on the other replica.
	stop(owner)
	_, err = pc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 0, Count: 512}})
	if !testserver.HasError(err, 503, "DiskOwnerUnavailable") {
		t.Fatalf("download after the owner stopped: %v", err)
	}
	// After its lease expired too, with the owner named in the message.
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := lease.Get(ctx, srv[other].Store, "disk:"+*d.Properties.UniqueID)
		if err == nil && !r.Alive(time.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stopped owner's lease never expired")
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err = pc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 0, Count: 512}})
	if !testserver.HasError(err, 0, "DiskOwnerUnavailable") || !strings.Contains(err.Error(), srv[owner].NodeID) {
		t.Fatalf("download after the owner's lease expired: %v", err)
	}
}

// nbdGo opens an export with the fixed-newstyle handshake and NBD_OPT_GO,
// and reports whether the server accepted it, or its error message.
func nbdGo(t *testing.T, addr, name string) (string, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	hello := make([]byte, 18)
	if _, err := io.ReadFull(c, hello); err != nil || string(hello[:16]) != "NBDMAGICIHAVEOPT" {
		t.Fatalf("NBD hello %q: %v", hello, err)
	}
	req := binary.BigEndian.AppendUint32(nil, 1|2) // fixed newstyle, no zeroes
	req = append(req, "IHAVEOPT"...)
	req = binary.BigEndian.AppendUint32(req, 7) // NBD_OPT_GO
	req = binary.BigEndian.AppendUint32(req, uint32(4+len(name)+2))
	req = binary.BigEndian.AppendUint32(req, uint32(len(name)))
	req = append(req, name...)
	req = binary.BigEndian.AppendUint16(req, 0)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	for {
		h := make([]byte, 20)
		if _, err := io.ReadFull(c, h); err != nil {
			t.Fatalf("NBD reply: %v", err)
		}
		typ, n := binary.BigEndian.Uint32(h[12:]), binary.BigEndian.Uint32(h[16:])
		data := make([]byte, n)
		if _, err := io.ReadFull(c, data); err != nil {
			t.Fatalf("NBD reply data: %v", err)
		}
		switch {
		case typ == 1: // NBD_REP_ACK
			return "", true
		case typ&(1<<31) != 0:
			return string(data), false
		}
	}
}

// TestDamagedDownloadIsAborted: a ranged GET through a snapshot's SAS
// whose data turns out damaged once the headers went out (no
// x-ms-range-get-content-md5: the data is read as it is sent) is aborted
// there, so the client's read fails instead of ending a 206 cut short,
// and the server logs why: it logged nothing, and the transfer ended as
// though the handler had sent all it had.
func TestDamagedDownloadIsAborted(t *testing.T) {
	logs := &syncBuf{}
	e := testserver.Start(t, func(c *server.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	// The range's first MiB reads, a later one does not.
	resp, body, err := sasGet(t, e, damagedSnapshotSAS(t, e), 0)
	if resp.StatusCode != http.StatusPartialContent || err == nil {
		t.Fatalf("a ranged GET of the damaged snapshot: %s, %d bytes of %s, read error %v", resp.Status, len(body), resp.Header.Get("Content-Length"), err)
	}
	if !strings.Contains(logs.String(), `msg="response aborted after its headers"`) || !strings.Contains(logs.String(), "damaged") {
		t.Fatalf("the server did not log why the download was aborted:\n%s", logs.String())
	}
}

// TestDamagedFirstReadAnswersTheError: a ranged GET through a snapshot's
// SAS whose first read (its first MiB) is of damaged data answers the
// storage error whole, with its own length: the error went out with the
// download's headers (Content-Length the range's, Content-Range), so the
// client's read of the error's body failed short.
func TestDamagedFirstReadAnswersTheError(t *testing.T) {
	e := testserver.Start(t)
	sas := damagedSnapshotSAS(t, e)
	for mib := int64(0); mib < 8; mib++ {
		resp, body, err := sasGet(t, e, sas, mib<<20)
		if resp.StatusCode == http.StatusPartialContent && err != nil {
			continue // aborted: the damage is in a later MiB
		}
		if err != nil || resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "<Code>SnapshotDataDamaged</Code>") {
			t.Fatalf("a ranged GET from MiB %d of a damaged snapshot: %s, %d bytes (%.200q), read error %v; want the damage aborted or 409 SnapshotDataDamaged read whole", mib, resp.Status, len(body), body, err)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) || resp.Header.Get("Content-Range") != "" {
			t.Fatalf("the error answer says Content-Length %s (body %d bytes), Content-Range %q: the download's headers", cl, len(body), resp.Header.Get("Content-Range"))
		}
		return
	}
	t.Fatal("no range of the damaged snapshot starts in its damage: each read its first MiB")
}

// damagedSnapshotSAS makes a snapshot of a disk holding 8 MiB of random
// data (stored as it is: the pack holds it in order), flips a byte in the
// middle of its data pack and answers a read SAS of it.
func damagedSnapshotSAS(t *testing.T, e *testserver.Env) string {
	t.Helper()
	e.ResourceGroups("rg")
	diskID := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
	if _, err := e.Server.Compute.CreateDisk(e.Ctx(), compute.DiskSpec{ID: diskID, Location: "westus", CreateOption: "Empty", SizeBytes: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	v, err := e.Server.Compute.Volume(e.Ctx(), diskID)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8<<20)
	rand.Read(data)
	if _, err := v.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	sc := fixture.Snapshot(t, e, "rg", "s1", diskID)
	var pack string
	var size int64
	filepath.WalkDir(filepath.Join(e.DataDir, "snapshots", "repo", "pack"), func(p string, d fs.DirEntry, err error) error {
		if fi, ferr := os.Stat(p); err == nil && ferr == nil && !d.IsDir() && !strings.Contains(d.Name(), ".") && fi.Size() > size {
			pack, size = p, fi.Size()
		}
		return nil
	})
	if size < 4<<20 {
		t.Fatalf("no data pack (largest %s, %d bytes)", pack, size)
	}
	f, err := os.OpenFile(pack, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, size/2)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, size/2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	g, err := fixture.Wait(sc.BeginGrantAccess(e.Ctx(), "rg", "s1", armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelRead), DurationInSeconds: to.Ptr[int32](3600)}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return *g.AccessSAS
}

// sasGet GETs the snapshot's bytes from start to its 8 MiB's end through
// sas (Range, no x-ms-range-get-content-md5): the answer, its body as
// read and the read's error.
func sasGet(t *testing.T, e *testserver.Env, sas string, start int64) (*http.Response, []byte, error) {
	t.Helper()
	hc, _ := e.Conn.HTTPClient()
	req, _ := http.NewRequest("GET", sas, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-8388607", start))
	req.Header.Set("x-ms-version", "2021-08-06")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, err
}
