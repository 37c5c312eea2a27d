package resources_test

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestMoveAndExportAreRefusedClearly drives armresources' MoveResources,
// ValidateMoveResources and ExportTemplate on a resource group: Safehold
// moves nothing between groups and serves no templates, and says so (400
// ResourceMoveNotSupported, 400 OperationNotSupported, each saying what to
// do instead) to a caller allowed to ask, after 404 ResourceGroupNotFound
// for a group that does not exist and 403 to a Reader; nothing moves. Each
// was 404 (NotFound 'No HTTP resource'), as if the action did not exist.
func TestMoveAndExportAreRefusedClearly(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	e.ResourceGroups("src", "dst")
	diskID, _ := fixture.Disk(t, e, "src", "d1", 1, 0, 0)
	f := testserver.Factory(e, armresources.NewClientFactory)
	move := armresources.MoveInfo{Resources: []*string{to.Ptr(diskID)}, TargetResourceGroup: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/dst")}
	rc, gc := f.NewClient(), f.NewResourceGroupsClient()
	calls := func(rc *armresources.Client, gc *armresources.ResourceGroupsClient, group string) map[string]func() error {
		return map[string]func() error{
			"MoveResources": func() error {
				p, err := rc.BeginMoveResources(ctx, group, move, nil)
				if err == nil {
					_, err = p.PollUntilDone(ctx, nil)
				}
				return err
			},
			"ValidateMoveResources": func() error {
				p, err := rc.BeginValidateMoveResources(ctx, group, move, nil)
				if err == nil {
					_, err = p.PollUntilDone(ctx, nil)
				}
				return err
			},
			"ExportTemplate": func() error {
				p, err := gc.BeginExportTemplate(ctx, group, armresources.ExportTemplateRequest{Resources: []*string{to.Ptr("*")}}, nil)
				if err == nil {
					_, err = p.PollUntilDone(ctx, nil)
				}
				return err
			},
		}
	}
	want := map[string]string{"MoveResources": "ResourceMoveNotSupported", "ValidateMoveResources": "ResourceMoveNotSupported", "ExportTemplate": "OperationNotSupported"}
	for what, call := range calls(rc, gc, "src") {
		testserver.WantError(t, what, call(), http.StatusBadRequest, want[what])
	}
	for what, call := range calls(rc, gc, "nosuchgroup") {
		testserver.WantError(t, what+" of a group that does not exist", call(), http.StatusNotFound, "ResourceGroupNotFound")
	}
	readerID, reader := fixture.Principal(t, e, "reader")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub, rbac.Reader, readerID)
	rf, err := armresources.NewClientFactory(e.Sub, reader, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	for what, call := range calls(rf.NewClient(), rf.NewResourceGroupsClient(), "src") {
		testserver.WantError(t, "a Reader's "+what, call(), http.StatusForbidden, "AuthorizationFailed")
	}
	if _, err := rc.GetByID(ctx, diskID, "2024-03-02", nil); err != nil {
		t.Fatalf("the disk after the refused move: %v", err)
	}
}
