package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/lease"
)

// TestDeploymentDisksLiveOnTheLeader: two replicas on one PostgreSQL
// store. The disks a template deployment run by the replica that does not
// lead creates live on the leader, as a client's PUT of a disk there does
// (server.placeDisks): so the disks of one VM, deployed together or not,
// share one owner, which a backup of the VM needs. Before, the
// deployment's own requests skipped the placement and the disks were
// owned by the replica that ran the deployment. The leader's task runner
// is stopped, so the other replica runs every deployment (the replicas'
// task queue is one: a deployment ran on either, and the test passed
// before its fix whenever the leader ran all three).
func TestDeploymentDisksLiveOnTheLeader(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a := testserver.Start(t, testserver.WithStore(url))
	b := testserver.Start(t, testserver.WithStore(url))
	a.ResourceGroups("dep")
	leader, other := leaderOf(a, b)
	leader.Server.Jobs.Stop()
	dc := testserver.Factory(other, armresources.NewClientFactory).NewDeploymentsClient()
	for i := range 2 {
		name := fmt.Sprintf("disk%d", i)
		tmpl := map[string]any{
			"$schema":        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
			"contentVersion": "1.0.0.0",
			"resources": []any{map[string]any{
				"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": name, "location": "westus",
				"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1},
			}},
		}
		res, err := fixture.Wait(dc.BeginCreateOrUpdate(other.Ctx(), "dep", name, armresources.Deployment{Properties: &armresources.DeploymentProperties{
			Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: tmpl}}, nil))
		if err != nil || *res.Properties.ProvisioningState != armresources.ProvisioningStateSucceeded {
			t.Fatalf("the deployment through the replica that does not lead: %v %+v", err, res.Properties)
		}
		_, m := other.Do("GET", "/subscriptions/"+other.Sub+"/resourceGroups/dep/providers/Microsoft.Compute/disks/"+name+"?api-version=2023-04-02", nil)
		uid := str(m, "properties.uniqueId")
		row, err := lease.Get(other.Ctx(), other.Server.Store, "disk:"+strings.ToLower(uid))
		if err != nil {
			t.Fatalf("%s's ownership (%s): %v", name, uid, err)
		}
		if row.Holder != leader.Server.NodeID {
			t.Errorf("%s is owned by %s (the leader is %s, the other replica %s)", name, row.Holder, leader.Server.NodeID, other.Server.NodeID)
		}
	}
}
