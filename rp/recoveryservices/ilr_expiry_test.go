package recoveryservices_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/nbd/nbdtest"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
)

// TestFileRecoveryExpires: a file recovery session ends by itself after
// its 12 hours, without a revoke: the open connection's reads fail, the
// export no longer opens, the point no longer shows
// isInstantIlrSessionActive; provisioning again starts a new session.
// Deleting the protected item with its data ends that session too (its
// snapshots are gone) and leaves no session record behind.
func TestFileRecoveryExpires(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))
	e := testserver.Start(t, testserver.WithClock(clk), func(c *server.Config) { c.Compute.NBDAddr = "127.0.0.1:0" })
	e.ResourceGroups("vaultrg", "vmrg")
	fixture.RSVault(t, e, "vaultrg", "v1", fixture.StandardVault())
	mkVM(t, e, "vmrg", "vm1", 0, 1<<20)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	rp := protectAndBackUp(t, e, bf)
	ilr := bf.NewItemLevelRecoveryConnectionsClient()
	provision := func() (host, export string) {
		t.Helper()
		var raw *http.Response
		if _, err := ilr.Provision(runtime.WithCaptureResponse(e.Ctx(), &raw), "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.ILRRequestResource{
			Properties: &armrecoveryservicesbackup.IaasVMILRRegistrationRequest{ObjectType: to.Ptr("IaasVMILRRegistrationRequest")}}, nil); err != nil {
			t.Fatalf("provision file recovery: %v", err)
		}
		st := e.Poll(raw.Header.Get("Azure-AsyncOperation"))
		scripts, _ := testserver.Field(st, "properties.recoveryTarget.clientScripts").([]any)
		if len(scripts) != 1 {
			t.Fatalf("provision status: %v", st)
		}
		content, _ := scripts[0].(map[string]any)["scriptContent"].(string)
		u := regexp.MustCompile(`'nbd://([^/']+)/([^']+)'`).FindStringSubmatch(content)
		if u == nil {
			t.Fatalf("no NBD export in the script:\n%s", content)
		}
		return u[1], u[2]
	}
	read := func(cl *nbdtest.Client) uint32 {
		cl.Send(0, 1, 0, 4096, nil) // NBD_CMD_READ
		cl.W.Flush()
		errno, _ := cl.SimpleReply(t)
		if errno == 0 {
			io.CopyN(io.Discard, cl.R, 4096)
		}
		return errno
	}
	active := func() bool {
		t.Helper()
		p, err := bf.NewRecoveryPointsClient().Get(e.Ctx(), "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, nil)
		if err != nil {
			t.Fatal(err)
		}
		return *p.Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint).IsInstantIlrSessionActive
	}

	host, export := provision()
	cl := nbdtest.MustDial(t, host, export, false)
	defer cl.Close()
	if errno := read(cl); errno != 0 || !active() {
		t.Fatalf("during the session: read errno %d, session active %v", errno, active())
	}
	clk.Advance(11 * time.Hour)
	if errno := read(cl); errno != 0 || !active() {
		t.Fatalf("11 hours in: read errno %d, session active %v", errno, active())
	}
	clk.Advance(time.Hour + time.Minute)
	if errno := read(cl); errno == 0 {
		t.Fatal("the open connection still reads after the session's 12 hours")
	}
	if c, _ := nbdtest.Dial(t, host, export, false); c != nil {
		c.Close()
		t.Fatal("the export opens after the session's 12 hours")
	}
	if active() {
		t.Fatal("the point shows an active file recovery session after its 12 hours")
	}
	host, export2 := provision()
	if export2 == export {
		t.Fatal("a new session reuses the expired export name")
	}
	cl2 := nbdtest.MustDial(t, host, export2, false)
	defer cl2.Close()
	if errno := read(cl2); errno != 0 || !active() {
		t.Fatalf("a new session: read errno %d, session active %v", errno, active())
	}

	item := strings.TrimSuffix(vm1PointID(e, rp), "/recoveryPoints/"+rp) + "?api-version=2023-04-01"
	resp, m := e.Do("DELETE", item, nil)
	must(t, "delete the item with its data", resp, m, 202)
	e.WaitFor("the item deleted", func() bool { resp, _ := e.Do("GET", item, nil); return resp.StatusCode == 404 })
	if errno := read(cl2); errno == 0 {
		t.Fatal("the open connection still reads after the item and its snapshots were deleted")
	}
	if docs, err := e.Server.Store.List(e.Ctx(), "recoveryservices.ilr", store.ListQuery{}); err != nil || len(docs) != 0 {
		t.Fatalf("file recovery sessions stored after their item was deleted: %d (%v)", len(docs), err)
	}
}
