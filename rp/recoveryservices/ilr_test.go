package recoveryservices_test

import (
	"bytes"
	"encoding/base64"
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
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
)

// TestFileRecoveryNeedsNBD: file recovery (`az backup restore files
// mount-rp`, the SDK's ItemLevelRecoveryConnections) exports the point's
// disks over NBD; on a server without an NBD listener provisioning is a
// 400 that says so and what to do instead, not a 404 claiming the
// api-version lacks the resource type. Revoking a point with no session
// is accepted (nothing to end). An unknown point is 404.
func TestFileRecoveryNeedsNBD(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 0)
	ilr := bf.NewItemLevelRecoveryConnectionsClient()
	_, err := ilr.Provision(e.Ctx(), "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.ILRRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMILRRegistrationRequest{ObjectType: to.Ptr("IaasVMILRRegistrationRequest"), RecoveryPointID: to.Ptr(rp), VirtualMachineID: to.Ptr(vm1ID(e))}}, nil)
	if !testserver.HasError(err, 400, "OperationNotSupported") || !strings.Contains(err.Error(), "--nbd-addr") {
		t.Fatalf("provision file recovery without an NBD listener: %v", err)
	}
	if _, err := ilr.Revoke(e.Ctx(), "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, nil); err != nil {
		t.Fatalf("revoke file recovery of a point without a session: %v", err)
	}
	resp, m := e.Do("POST", vm1PointID(e, "nosuch")+"/provisionInstantItemRecovery?api-version=2023-04-01", `{"properties":{"objectType":"IaasVMILRRegistrationRequest"}}`)
	if resp.StatusCode != 404 || testserver.ErrorCode(m) != "BMSUserErrorRecoveryPointNotFound" {
		t.Fatalf("file recovery of an unknown point: %d %v", resp.StatusCode, m)
	}
}

// TestFileRecoveryOverNBD: provisioning file recovery on a VM's recovery
// point exports its disks read-only over NBD for a limited time: the
// operation's status (OperationStatusProvisionILRExtendedInfo, as Azure's)
// carries a Linux script that connects each disk's nbd:// export with
// qemu-nbd; the exports serve the bytes the disks had at the backup (not
// what was written since) and refuse writes; the point shows
// isInstantIlrSessionActive; revoking ends the exports, open connections
// included. Another VM's id in the request is a 400, and so is a point
// whose snapshots are gone; a Backup Reader may not provision it.
func TestFileRecoveryOverNBD(t *testing.T) {
	e := testserver.Start(t, func(c *server.Config) { c.Compute.NBDAddr = "127.0.0.1:0" })
	e.ResourceGroups("vaultrg", "vmrg")
	fixture.RSVault(t, e, "vaultrg", "v1", fixture.StandardVault())
	mkVM(t, e, "vmrg", "vm1", 1, 1<<20)
	ctx := e.Ctx()
	disks := "/subscriptions/" + e.Sub + "/resourceGroups/vmrg/providers/Microsoft.Compute/disks/"
	fill := func(disk string, b byte) []byte {
		v, err := e.Server.Compute.Volume(ctx, disks+disk)
		if err != nil {
			t.Fatal(err)
		}
		p := bytes.Repeat([]byte{b}, 1<<20)
		p[0], p[len(p)-1] = b+1, b+2
		if _, err := v.WriteAt(p, 0); err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := [][]byte{fill("vm1-os", 0x10), fill("vm1-data0", 0x20)} // OS disk first, then LUN 0
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	rp := protectAndBackUp(t, e, bf)
	fill("vm1-os", 0x30) // after the backup: not in the point
	ilr := bf.NewItemLevelRecoveryConnectionsClient()

	_, err := ilr.Provision(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.ILRRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMILRRegistrationRequest{ObjectType: to.Ptr("IaasVMILRRegistrationRequest"),
			VirtualMachineID: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/vmrg/providers/Microsoft.Compute/virtualMachines/other")}}, nil)
	if !testserver.HasError(err, 400, "") || !strings.Contains(err.Error(), "virtualMachineId") {
		t.Fatalf("file recovery naming another VM: %v", err)
	}

	reader := newPrincipal(t, e, "reader", rbac.BackupReader, "/subscriptions/"+e.Sub+"/resourceGroups/vaultrg")
	resp, m := e.Do("POST", vm1PointID(e, rp)+"/provisionInstantItemRecovery?api-version=2023-04-01",
		map[string]any{"properties": map[string]any{"objectType": "IaasVMILRRegistrationRequest"}}, testserver.As(reader.cred))
	must(t, "a Backup Reader provisions file recovery", resp, m, 403)

	var raw *http.Response
	if _, err := ilr.Provision(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.ILRRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMILRRegistrationRequest{ObjectType: to.Ptr("IaasVMILRRegistrationRequest"), RecoveryPointID: to.Ptr(rp),
			VirtualMachineID: to.Ptr(vm1ID(e)), InitiatorName: to.Ptr("test")}}, nil); err != nil {
		t.Fatalf("provision file recovery: %v", err)
	}
	st := e.Poll(raw.Header.Get("Azure-AsyncOperation"))
	if testserver.Field(st, "status") != "Succeeded" || testserver.Field(st, "properties.objectType") != "OperationStatusProvisionILRExtendedInfo" {
		t.Fatalf("provision status: %v", st)
	}
	scripts, _ := testserver.Field(st, "properties.recoveryTarget.clientScripts").([]any)
	if len(scripts) != 1 {
		t.Fatalf("client scripts: %v", st)
	}
	sc, _ := scripts[0].(map[string]any)
	content := scriptText(t, sc)
	if sc["osType"] != "Linux" || sc["scriptExtension"] != ".sh" || !strings.Contains(content, "qemu-nbd --read-only") {
		t.Fatalf("client script: %v", sc)
	}
	uris := regexp.MustCompile(`'nbd://([^/']+)/([^']+)'`).FindAllStringSubmatch(content, -1)
	if len(uris) != 2 || uris[0][1] != e.Server.Compute.NBDAddr() {
		t.Fatalf("the script's NBD exports (want the OS disk and the data disk on %s):\n%s", e.Server.Compute.NBDAddr(), content)
	}
	read := func(cl *nbdtest.Client, n int) (uint32, []byte) {
		cl.Send(0, 7, 0, uint32(n), nil) // NBD_CMD_READ
		cl.W.Flush()
		errno, _ := cl.SimpleReply(t)
		if errno != 0 {
			return errno, nil
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(cl.R, b); err != nil {
			t.Fatal(err)
		}
		return errno, b
	}
	var conns []*nbdtest.Client
	for i, u := range uris {
		cl := nbdtest.MustDial(t, u[1], u[2], false)
		conns = append(conns, cl)
		if errno, b := read(cl, 1<<20); errno != 0 || !bytes.Equal(b, want[i]) {
			t.Fatalf("disk %d over NBD: errno %d, the bytes at the backup: %v", i, errno, b != nil && bytes.Equal(b, want[i]))
		}
		cl.Send(1, 8, 0, 512, make([]byte, 512)) // NBD_CMD_WRITE
		cl.W.Flush()
		if errno, _ := cl.SimpleReply(t); errno == 0 {
			t.Fatalf("disk %d: a write to the recovery point's export succeeded", i)
		}
	}
	p, err := bf.NewRecoveryPointsClient().Get(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, nil)
	if err != nil || !*p.Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint).IsInstantIlrSessionActive {
		t.Fatalf("the point during file recovery: %v (isInstantIlrSessionActive must be true)", err)
	}

	if _, err := ilr.Revoke(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, nil); err != nil {
		t.Fatalf("revoke file recovery: %v", err)
	}
	if st := e.Poll(raw.Header.Get("Azure-AsyncOperation")); testserver.Field(st, "status") != "Succeeded" {
		t.Fatalf("revoke status: %v", st)
	}
	for i, cl := range conns {
		if errno, _ := read(cl, 4096); errno == 0 {
			t.Fatalf("disk %d: an open connection still reads after the revoke", i)
		}
		cl.Close()
	}
	if cl, _ := nbdtest.Dial(t, uris[0][1], uris[0][2], false); cl != nil {
		cl.Close()
		t.Fatal("the export opens after the revoke")
	}
	p, err = bf.NewRecoveryPointsClient().Get(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, nil)
	if err != nil || *p.Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint).IsInstantIlrSessionActive {
		t.Fatalf("the point after the revoke: %v (isInstantIlrSessionActive must be false)", err)
	}

	// A point whose snapshots are gone has nothing to export: a 400 that
	// says to restore its disks instead.
	snaps, err := e.Server.Compute.ListSnapshots(ctx, "/subscriptions/"+e.Sub)
	if err != nil || len(snaps) == 0 {
		t.Fatalf("the point's snapshots: %v %d", err, len(snaps))
	}
	for _, sn := range snaps {
		if err := e.Server.Compute.DeleteSnapshot(ctx, sn.ID); err != nil {
			t.Fatal(err)
		}
	}
	_, err = ilr.Provision(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.ILRRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMILRRegistrationRequest{ObjectType: to.Ptr("IaasVMILRRegistrationRequest")}}, nil)
	if !testserver.HasError(err, 400, "UserErrorInstantRpNotAvailable") || !strings.Contains(err.Error(), "RestoreDisks") {
		t.Fatalf("file recovery of a point whose snapshots are gone: %v", err)
	}
}

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
		content := scriptText(t, scripts[0].(map[string]any))
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

// scriptText is a client script's content: base64 of the script, as Azure
// sends it (az backup restore files mount-rp decodes it before writing the
// file).
func scriptText(t *testing.T, sc map[string]any) string {
	t.Helper()
	enc, _ := sc["scriptContent"].(string)
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("scriptContent is not base64: %v\n%s", err, enc)
	}
	return string(b)
}
