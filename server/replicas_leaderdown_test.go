package server_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/store"
)

// TestDiskPutWhileTheLeaderIsDown: a replica that does not lead sends the
// creation of a disk to the leader (server.placeDisks). With the leader
// killed while its lease runs (a replica that died holding it: its
// endpoint refuses connections), a disk PUT, a client's or a deployment's,
// answers an ARM error: 503 ServiceUnavailable with Retry-After naming the
// leader, in JSON, as every ARM answer. Before, the forwarder answered
// Azure Storage's XML error body (a disk data plane's), which the SDKs and
// az cannot read, and a deployment's error said nothing of the leader.
func TestDiskPutWhileTheLeaderIsDown(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The dead leader's endpoint: a port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + l.Addr().String()
	l.Close()
	if _, ok, err := lease.Try(ctx, st, "leader", "dead-replica/boot", dead, time.Now(), time.Hour); err != nil || !ok {
		t.Fatalf("the dead leader's lease: %v %v", ok, err)
	}
	e := testserver.Start(t, testserver.WithStore(url))
	if _, leading := e.Server.Leader.Leading(); leading {
		t.Fatal("the replica leads though the dead one's lease runs")
	}
	e.ResourceGroups("rg")
	path := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d1?api-version=2023-04-02"
	resp, m := e.Do("PUT", path, map[string]any{"location": "westus", "properties": map[string]any{
		"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}, testserver.AnyStatus())
	msg, _ := testserver.Field(m, "error.message").(string)
	if resp.StatusCode != 503 || testserver.ErrorCode(m) != "ServiceUnavailable" || resp.Header.Get("Retry-After") == "" || !strings.Contains(msg, dead) {
		t.Fatalf("a disk PUT with the leader down: %d %v (Retry-After %q), want 503 ServiceUnavailable naming %s, with Retry-After", resp.StatusCode, m, resp.Header.Get("Retry-After"), dead)
	}

	// A deployment's disk: the deployment ends Failed saying why.
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	tmpl := map[string]any{
		"$schema":        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
		"contentVersion": "1.0.0.0",
		"resources": []any{map[string]any{
			"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "d2", "location": "westus",
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1},
		}},
	}
	_, err = fixture.Wait(dc.BeginCreateOrUpdate(e.Ctx(), "rg", "dep", armresources.Deployment{Properties: &armresources.DeploymentProperties{
		Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: tmpl}}, nil))
	if err == nil {
		t.Fatal("the deployment of a disk succeeded with the leader down")
	}
	d, err := dc.Get(e.Ctx(), "rg", "dep", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d.Properties.Error)
	if *d.Properties.ProvisioningState != armresources.ProvisioningStateFailed || !strings.Contains(string(b), `"ServiceUnavailable"`) || !strings.Contains(string(b), dead) {
		t.Fatalf("the deployment with the leader down: %s %s, want Failed with ServiceUnavailable naming %s", *d.Properties.ProvisioningState, b, dead)
	}
}
