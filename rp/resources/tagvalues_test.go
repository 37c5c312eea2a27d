package resources_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestNullTagValueAndPropertiesNotAnObject: a tag whose value is null (what
// the Go SDK sends for a nil *string in Tags) is 400 InvalidRequestContent
// naming the tag, on a resource group's PUT and PATCH, a disk's PATCH, a
// Backup vault's PATCH and the Tags API's Merge and Replace, and the tags
// stored stay as they were; it was stored as "" (a Tags API Delete's null
// still means the tag whatever its value). A resource group PUT or PATCH
// whose properties is not an object ({"properties":"x"}, raw HTTP: no SDK
// sends one) is 400 InvalidRequestContent naming 'properties', and was
// accepted.
func TestNullTagValueAndPropertiesNotAnObject(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	f := testserver.Factory(e, armresources.NewClientFactory)
	gc, tc := f.NewResourceGroupsClient(), f.NewTagsClient()
	keep := map[string]*string{"keep": to.Ptr("1")}
	null := map[string]*string{"keep": to.Ptr("1"), "gone": nil}
	wantNull := func(what string, err error) {
		t.Helper()
		re := testserver.WantError(t, what, err, 400, "InvalidRequestContent")
		if !strings.Contains(re.Error(), "the value of tag 'gone' must be a string, not null") {
			t.Errorf("%s: the refusal does not name the tag and its null: %v", what, re)
		}
	}
	wantKept := func(what string, got map[string]*string) {
		t.Helper()
		if len(got) != 1 || got["keep"] == nil || *got["keep"] != "1" {
			t.Errorf("%s: tags after the refused request %v, want keep=1 alone", what, got)
		}
	}

	if _, err := gc.CreateOrUpdate(ctx, "tagged", armresources.ResourceGroup{Location: to.Ptr("westus"), Tags: keep}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := gc.CreateOrUpdate(ctx, "tagged", armresources.ResourceGroup{Location: to.Ptr("westus"), Tags: null}, nil)
	wantNull("group PUT", err)
	_, err = gc.Update(ctx, "tagged", armresources.ResourceGroupPatchable{Tags: null}, nil)
	wantNull("group PATCH", err)
	groupID := "/subscriptions/" + e.Sub + "/resourceGroups/tagged"
	for _, op := range []armresources.TagsPatchOperation{armresources.TagsPatchOperationMerge, armresources.TagsPatchOperationReplace} {
		_, err = tc.UpdateAtScope(ctx, groupID, armresources.TagsPatchResource{Operation: to.Ptr(op), Properties: &armresources.Tags{Tags: null}}, nil)
		wantNull("Tags API "+string(op), err)
	}
	_, err = tc.CreateOrUpdateAtScope(ctx, groupID, armresources.TagsResource{Properties: &armresources.Tags{Tags: null}}, nil)
	wantNull("Tags API PUT", err)
	g, err := gc.Get(ctx, "tagged", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantKept("group", g.Tags)

	for _, m := range []string{"PUT", "PATCH"} {
		resp, body := e.Do(m, groupID+"?api-version=2021-04-01", []byte(`{"location":"westus","properties":"x","tags":{"other":"2"}}`))
		if resp.StatusCode != 400 || testserver.Field(body, "error.code") != "InvalidRequestContent" || !strings.Contains(testserver.Field(body, "error.message").(string), "'properties' must be an object, not a string") {
			t.Errorf("group %s with properties \"x\": %d %v, want 400 InvalidRequestContent naming properties", m, resp.StatusCode, body)
		}
	}
	g, err = gc.Get(ctx, "tagged", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantKept("group after properties \"x\"", g.Tags)

	// A Delete's null names the tag whatever its value.
	if _, err := tc.UpdateAtScope(ctx, groupID, armresources.TagsPatchResource{Operation: to.Ptr(armresources.TagsPatchOperationDelete), Properties: &armresources.Tags{Tags: map[string]*string{"keep": nil}}}, nil); err != nil {
		t.Fatalf("Tags API Delete of keep with a null value: %v", err)
	}
	if g, err = gc.Get(ctx, "tagged", nil); err != nil || len(g.Tags) != 0 {
		t.Fatalf("group tags after the Delete: %v %v, want none", g.Tags, err)
	}

	// The resources that take tags.
	fixture.Disk(t, e, "tagged", "d1", 1)
	dc, err := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := dc.BeginUpdate(ctx, "tagged", "d1", armcompute.DiskUpdate{Tags: keep}, nil)
	fixture.Done(t, dp, err)
	_, err = dc.BeginUpdate(ctx, "tagged", "d1", armcompute.DiskUpdate{Tags: null}, nil)
	wantNull("disk PATCH", err)
	d, err := dc.Get(ctx, "tagged", "d1", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantKept("disk", d.Tags)

	fixture.BackupVault(t, e, "tagged", "v1")
	vc := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupVaultsClient()
	vp, err := vc.BeginUpdate(ctx, "tagged", "v1", armdataprotection.PatchResourceRequestInput{Tags: keep}, nil)
	fixture.Done(t, vp, err)
	_, err = vc.BeginUpdate(ctx, "tagged", "v1", armdataprotection.PatchResourceRequestInput{Tags: null}, nil)
	wantNull("Backup vault PATCH", err)
	v, err := vc.Get(ctx, "tagged", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantKept("Backup vault", v.Tags)
}
