package server_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

// TestPollerResumeTokensAcrossRestart: a Go SDK poller's resume token
// (azcore runtime.Poller.ResumeToken, taken before the first poll) resumes
// the operation after the server restarted on the same address, as a
// program that saved its token and was restarted with the service does:
// a Compute snapshot create, a Data Protection ad hoc backup held by a fault
// rule (its operation ends with the job), and a resource group delete,
// each ending with its result through the resumed poller.
func TestPollerResumeTokensAcrossRestart(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	e.ResourceGroups("doomed")
	ctx := e.Ctx()

	snaps := testserver.Factory(e, armcompute.NewClientFactory).NewSnapshotsClient()
	sp, err := snaps.BeginCreateOrUpdate(ctx, "snapshot-rg", "resumed", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(dv.DiskID)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	snapTok, err := sp.ResumeToken()
	if err != nil {
		t.Fatal(err)
	}
	addRule(t, e, map[string]any{"name": "hold", "operation": "backup", "latency": "10m"})
	bp, err := dv.StartBackup(t, e)
	if err != nil {
		t.Fatal(err)
	}
	backupTok, err := bp.ResumeToken()
	if err != nil {
		t.Fatal(err)
	}
	groups := testserver.Factory(e, armresources.NewClientFactory).NewResourceGroupsClient()
	gp, err := groups.BeginDelete(ctx, "doomed", nil)
	if err != nil {
		t.Fatal(err)
	}
	groupTok, err := gp.ResumeToken()
	if err != nil {
		t.Fatal(err)
	}

	addr := e.Server.Addr()
	e.RestartWith(func(c *server.Config) { c.Addr = addr }) // a restart clears the fault rule
	ctx = e.Ctx()

	snaps = testserver.Factory(e, armcompute.NewClientFactory).NewSnapshotsClient()
	sp, err = snaps.BeginCreateOrUpdate(ctx, "snapshot-rg", "resumed", armcompute.Snapshot{}, &armcompute.SnapshotsClientBeginCreateOrUpdateOptions{ResumeToken: snapTok})
	if s := fixture.Done(t, sp, err); s.Name == nil || *s.Name != "resumed" || *s.Properties.ProvisioningState != "Succeeded" || *s.Properties.DiskSizeGB != 1 {
		t.Fatalf("the resumed snapshot create answered %+v", s.Snapshot)
	}
	bis := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupInstancesClient()
	bp, err = bis.BeginAdhocBackup(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.TriggerBackupRequest{},
		&armdataprotection.BackupInstancesClientBeginAdhocBackupOptions{ResumeToken: backupTok})
	if r := fixture.Done(t, bp, err); r.JobID == nil || *r.JobID == "" {
		t.Fatalf("the resumed ad hoc backup answered no job: %+v", r)
	}
	groups = testserver.Factory(e, armresources.NewClientFactory).NewResourceGroupsClient()
	gp, err = groups.BeginDelete(ctx, "doomed", &armresources.ResourceGroupsClientBeginDeleteOptions{ResumeToken: groupTok})
	fixture.Done(t, gp, err)
	if r, err := groups.CheckExistence(ctx, "doomed", nil); err != nil || r.Success {
		t.Fatalf("the group is there after its resumed delete: %v %v", r.Success, err)
	}
}
