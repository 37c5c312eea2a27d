package deployments_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestWhatIfPredictsTheChanges: the Go SDK's BeginWhatIf of a template of
// three disks, one existing as the template sets it, one of another size
// and one new, answers NoChange, Modify (properties.diskSizeGB from 1 to
// 2) and Create, and the group's disk the template leaves out Ignore;
// nothing is written. In Complete mode that disk is Delete, as it is
// (before), and still there after. Before, what-if was 400
// OperationNotSupported; then the left-out disk was not listed.
func TestWhatIfPredictsTheChanges(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("wi")
	fixture.Disk(t, e, "wi", "same", 1)
	fixture.Disk(t, e, "wi", "grown", 1)
	fixture.Disk(t, e, "wi", "leftout", 1)
	disk := func(name string, gb int) map[string]any {
		return map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": name, "location": "westus",
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": gb}}
	}
	tmpl := map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
		"resources": []any{disk("same", 1), disk("grown", 2), disk("new", 1)}}
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	p, err := dc.BeginWhatIf(e.Ctx(), "wi", "wi1", armresources.DeploymentWhatIf{Properties: &armresources.DeploymentWhatIfProperties{
		Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: tmpl}}, nil)
	res := fixture.Done(t, p, err)
	if res.Status == nil || *res.Status != "Succeeded" || res.Properties == nil || len(res.Properties.Changes) != 4 {
		t.Fatalf("what-if: %+v", res)
	}
	got := map[string]*armresources.WhatIfChange{}
	for _, c := range res.Properties.Changes {
		got[(*c.ResourceID)[len(*c.ResourceID)-len("grown"):]] = c
	}
	want := map[string]armresources.ChangeType{"/same": armresources.ChangeTypeNoChange, "grown": armresources.ChangeTypeModify, "s/new": armresources.ChangeTypeCreate, "ftout": armresources.ChangeTypeIgnore}
	for k, ct := range want {
		if c := got[k]; c == nil || *c.ChangeType != ct {
			t.Errorf("%s: %+v, want %s", k, c, ct)
		}
	}
	if c := got["grown"]; c != nil && (len(c.Delta) != 1 || *c.Delta[0].Path != "properties.diskSizeGB" || *c.Delta[0].PropertyChangeType != armresources.PropertyChangeTypeModify ||
		c.Delta[0].Before != float64(1) || c.Delta[0].After != float64(2)) {
		t.Errorf("grown's delta: %s", mustJSON(c.Delta))
	}
	if resp, _ := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/wi/providers/Microsoft.Compute/disks/new?api-version=2023-04-02", nil, testserver.AnyStatus()); resp.StatusCode != 404 {
		t.Errorf("what-if made the disk: %d", resp.StatusCode)
	}
	if _, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/wi/providers/Microsoft.Compute/disks/grown?api-version=2023-04-02", nil); testserver.Field(m, "properties.diskSizeGB") != float64(1) {
		t.Errorf("what-if grew the disk: %v", m)
	}
	p, err = dc.BeginWhatIf(e.Ctx(), "wi", "wi2", armresources.DeploymentWhatIf{Properties: &armresources.DeploymentWhatIfProperties{
		Mode: to.Ptr(armresources.DeploymentModeComplete), Template: tmpl}}, nil)
	res = fixture.Done(t, p, err)
	var deletes []string
	for _, c := range res.Properties.Changes {
		if *c.ChangeType == armresources.ChangeTypeDelete {
			deletes = append(deletes, *c.ResourceID)
			if b, _ := c.Before.(map[string]any); b == nil || b["name"] != "leftout" {
				t.Errorf("the Delete's before: %v", c.Before)
			}
		}
	}
	if len(res.Properties.Changes) != 4 || len(deletes) != 1 || !strings.HasSuffix(deletes[0], "/disks/leftout") {
		t.Errorf("what-if in Complete mode: deletes %v of %s", deletes, mustJSON(res.Properties.Changes))
	}
	if resp, _ := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/wi/providers/Microsoft.Compute/disks/leftout?api-version=2023-04-02", nil, testserver.AnyStatus()); resp.StatusCode != 200 {
		t.Errorf("what-if deleted the disk: %d", resp.StatusCode)
	}
}
