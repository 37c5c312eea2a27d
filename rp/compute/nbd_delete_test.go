package compute_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
)

// TestNBDExportEndsWithItsResource: a disk or snapshot deleted with its
// resource group (or by the engine: a recovery point's snapshots) while
// granted takes its grants with it, and the NBD connections opened through
// them end too, as at endGetAccess: the next read fails instead of serving
// a deleted resource's bytes until the grant would have expired.
func TestNBDExportEndsWithItsResource(t *testing.T) {
	e, _ := start(t, withNBD())
	e.emptyDisk("d1", 1)
	v, err := e.Server.Compute.Volume(e.Ctx(), e.diskID("d1"))
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{0x5a}, 4096)
	if _, err := v.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	e.snapshot("s1", "d1", false)

	sp, err := e.snaps.BeginGrantAccess(e.Ctx(), e.rg, "s1", armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelRead), DurationInSeconds: to.Ptr[int32](3600)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	snapURI := nbdURIOf(t, e, sp)
	diskURI := e.nbdURI("d1", armcompute.AccessLevelRead)

	addr := e.Server.Compute.NBDAddr()
	exports := map[string]string{"snapshot": snapURI[len("nbd://"+addr+"/"):], "disk": diskURI[len("nbd://"+addr+"/"):]}
	conns := map[string]*nbdConn{}
	for what, name := range exports {
		cl := dialNBD(t, addr, name)
		defer cl.Close()
		if errno := cl.cmd(t, 0, 0, 4096, nil); errno != 0 || !bytes.Equal(cl.last, want) {
			t.Fatalf("%s over NBD: errno %d", what, errno)
		}
		conns[what] = cl
	}
	rgs, err := armresources.NewResourceGroupsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(rgs.BeginDelete(e.Ctx(), e.rg, nil)); err != nil {
		t.Fatalf("delete the resource group: %v", err)
	}
	for what, cl := range conns {
		if errno := cl.cmd(t, 0, 0, 4096, nil); errno == 0 {
			t.Fatalf("an open NBD connection still reads the deleted %s", what)
		}
		if errno := dialNBDErr(t, addr, exports[what]); errno == 0 {
			t.Fatalf("the export of the deleted %s opens", what)
		}
	}
}

// nbdURIOf waits for a beginGetAccess and returns the nbdUri of its answer.
func nbdURIOf[T any](t testing.TB, e *env, p *runtime.Poller[T]) string {
	t.Helper()
	var resp *http.Response
	if _, err := p.PollUntilDone(runtime.WithCaptureResponse(e.Ctx(), &resp), fixture.Poll); err != nil {
		t.Fatalf("grant: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		NBDURI string `json:"nbdUri"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.NBDURI == "" {
		t.Fatalf("grant: no nbdUri in %s", b)
	}
	return body.NBDURI
}
