package compute_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/server"
)

const gib = int64(1) << 30

type env struct {
	*testserver.Env
	t     testing.TB
	disks *armcompute.DisksClient
	snaps *armcompute.SnapshotsClient
	vms   *armcompute.VirtualMachinesClient
	rg    string
}

func withNBD() testserver.Option {
	return func(c *server.Config) { c.Compute.NBDAddr = "127.0.0.1:0" }
}

// start starts a server with the resource groups rg1 (the env's) and rg2
// and the compute clients; it returns it with a context for the test's
// calls (e.Ctx(), a budget of its own: a long test takes one per call).
func start(t testing.TB, opts ...testserver.Option) (*env, context.Context) {
	t.Helper()
	e := &env{Env: testserver.Start(t, opts...), t: t, rg: "rg1"}
	e.clients()
	e.ResourceGroups("rg1", "rg2")
	return e, e.Ctx()
}

func (e *env) clients() {
	f, err := armcompute.NewClientFactory(e.Sub, e.Cred, e.Opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.disks, e.snaps, e.vms = f.NewDisksClient(), f.NewSnapshotsClient(), f.NewVirtualMachinesClient()
}

func (e *env) restart() {
	e.Restart()
	e.clients()
}

func (e *env) diskID(name string) string {
	return "/subscriptions/" + e.Sub + "/resourceGroups/" + e.rg + "/providers/Microsoft.Compute/disks/" + name
}

func (e *env) snapID(name string) string {
	return "/subscriptions/" + e.Sub + "/resourceGroups/" + e.rg + "/providers/Microsoft.Compute/snapshots/" + name
}

func (e *env) emptyDisk(name string, sizeGB int32) armcompute.Disk {
	e.t.Helper()
	return e.putDisk(name, fixture.EmptyDisk("westus", sizeGB))
}

func (e *env) putDisk(name string, d armcompute.Disk) armcompute.Disk {
	e.t.Helper()
	res, err := fixture.Wait(e.disks.BeginCreateOrUpdate(e.Ctx(), e.rg, name, d, nil))
	if err != nil {
		e.t.Fatalf("create disk %s: %v", name, err)
	}
	return res.Disk
}

func (e *env) snapshot(name, disk string, incremental bool) armcompute.Snapshot {
	e.t.Helper()
	res, err := fixture.Wait(e.snaps.BeginCreateOrUpdate(e.Ctx(), e.rg, name, armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID(disk))},
		Incremental:  to.Ptr(incremental)}}, nil))
	if err != nil {
		e.t.Fatalf("snapshot %s: %v", name, err)
	}
	return res.Snapshot
}

func (e *env) diskFromSnapshot(name, snap string) armcompute.Disk {
	e.t.Helper()
	return e.putDisk(name, armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.snapID(snap))}}})
}

func (e *env) grantDisk(name string, access armcompute.AccessLevel) string {
	e.t.Helper()
	res, err := fixture.Wait(e.disks.BeginGrantAccess(e.Ctx(), e.rg, name, armcompute.GrantAccessData{Access: to.Ptr(access), DurationInSeconds: to.Ptr[int32](3600)}, nil))
	if err != nil {
		e.t.Fatalf("grant %s: %v", name, err)
	}
	if res.AccessSAS == nil || *res.AccessSAS == "" {
		e.t.Fatalf("grant %s: no accessSAS", name)
	}
	return *res.AccessSAS
}

func (e *env) revokeDisk(name string) {
	e.t.Helper()
	if _, err := fixture.Wait(e.disks.BeginRevokeAccess(e.Ctx(), e.rg, name, nil)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) pageClient(sas string) *pageblob.Client {
	e.t.Helper()
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := pageblob.NewClientWithNoCredential(sas, &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc,
		Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// writeSAS writes p at off through the page-blob URL sas and returns the
// service's error.
func (e *env) writeSAS(sas string, off int64, p []byte) error {
	return fixture.WritePages(e.pageClient(sas), off, p)
}

// model is the expected content of a disk, kept in a sparse file.
type model struct {
	f    *os.File
	size int64
}

func newModel(t *testing.T, size int64) *model {
	f, err := os.CreateTemp(t.TempDir(), "model")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	f.Truncate(size)
	return &model{f: f, size: size}
}

func (m *model) write(p []byte, off int64) { m.f.WriteAt(p, off) }

func (m *model) zero(off, n int64) { m.f.WriteAt(make([]byte, n), off) }

func (m *model) clone(t *testing.T) *model {
	c := newModel(t, m.size)
	if out, err := exec.Command("cp", "--sparse=always", m.f.Name(), c.f.Name()).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return c
}

// compareSAS downloads a disk through its SAS in 64 MiB ranges and
// compares it with the model.
func compareSAS(t *testing.T, e *env, sas string, m *model) {
	t.Helper()
	pc := e.pageClient(sas)
	props, err := pc.GetProperties(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if *props.ContentLength != m.size {
		t.Fatalf("size %d, want %d", *props.ContentLength, m.size)
	}
	const step = 64 << 20
	want := make([]byte, step)
	for off := int64(0); off < m.size; off += step {
		n := min(step, m.size-off)
		got := fixture.ReadPages(t, pc, off, n)
		m.f.ReadAt(want[:n], off)
		if !bytes.Equal(got, want[:n]) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("content differs at byte %d (got %#x, want %#x)", off+int64(i), got[i], want[i])
				}
			}
			t.Fatalf("content differs at %d: got %d bytes, want %d", off, len(got), n)
		}
	}
}

// needTool skips an NBD client test (or fails it under CI=true) when one of
// the programs it drives is missing.
func needTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		testsvc.Tool(t, n, "apt-get install -y qemu-utils libnbd-bin; bash .ci/run does it")
	}
}

func sum(p []byte) [32]byte { return sha256.Sum256(p) }

// rg2Contributor is a principal with Contributor on rg2 only: its compute
// clients, once its role is in force (allowed, a call it may make in rg2,
// succeeds).
func (e *env) rg2Contributor(t *testing.T, allowed func(*armcompute.ClientFactory) error) *armcompute.ClientFactory {
	t.Helper()
	objectID, cred := fixture.Principal(t, e.Env, "rg2-contributor")
	fixture.Assign(t, e.Env, "/subscriptions/"+e.Sub+"/resourceGroups/rg2", rbac.Contributor, objectID)
	f, err := armcompute.NewClientFactory(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	e.WaitFor("the contributor's role", func() bool { return allowed(f) == nil })
	return f
}

// wantGalleryReadRefused checks err is the 403 of a caller who may not
// read the gallery image version it names.
func wantGalleryReadRefused(t *testing.T, what string, err error) {
	t.Helper()
	re := testserver.WantError(t, what, err, 403, "LinkedAuthorizationFailed")
	if !strings.Contains(re.Error(), "galleries/images/versions/read") {
		t.Fatalf("%s: the refusal does not name the gallery read: %v", what, re)
	}
}

// communityGallery creates gallery1 in the env's group, shared with the
// community (public name prefix contoso), and its image definition ubuntu
// (Linux, generalized).
func (e *env) communityGallery(t *testing.T, f *armcompute.ClientFactory) (armcompute.Gallery, armcompute.GalleryImage) {
	t.Helper()
	gp, err := f.NewGalleriesClient().BeginCreateOrUpdate(e.Ctx(), e.rg, "gallery1", armcompute.Gallery{Location: to.Ptr("westus"), Properties: &armcompute.GalleryProperties{
		SharingProfile: &armcompute.SharingProfile{Permissions: to.Ptr(armcompute.GallerySharingPermissionTypesCommunity), CommunityGalleryInfo: &armcompute.CommunityGalleryInfo{
			PublicNamePrefix: to.Ptr("contoso"), Eula: to.Ptr("eula"), PublisherContact: to.Ptr("a@b.c"), PublisherURI: to.Ptr("https://contoso.example")}}}}, nil)
	g := fixture.Done(t, gp, err)
	ip, err := f.NewGalleryImagesClient().BeginCreateOrUpdate(e.Ctx(), e.rg, "gallery1", "ubuntu", armcompute.GalleryImage{Location: to.Ptr("westus"), Properties: &armcompute.GalleryImageProperties{
		OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
		Identifier: &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("contoso"), Offer: to.Ptr("ubuntu"), SKU: to.Ptr("22")}}}, nil)
	return g.Gallery, fixture.Done(t, ip, err).GalleryImage
}
