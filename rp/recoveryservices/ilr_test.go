package recoveryservices_test

import (
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"

	"github.com/safehold/safehold/internal/testserver"
)

// TestFileRecoveryIsRefusedClearly: file recovery (`az backup restore files
// mount-rp`, the SDK's ItemLevelRecoveryConnections) is not something
// Safehold has; provisioning or revoking it on a point is a 400 that says
// so and what to do instead, not a 404 claiming the api-version lacks the
// resource type. An unknown point is still 404.
func TestFileRecoveryIsRefusedClearly(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 0)
	ilr := bf.NewItemLevelRecoveryConnectionsClient()
	var re *azcore.ResponseError
	_, err := ilr.Provision(e.Ctx(), "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.ILRRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMILRRegistrationRequest{ObjectType: to.Ptr("IaasVMILRRegistrationRequest"), RecoveryPointID: to.Ptr(rp), VirtualMachineID: to.Ptr(vm1ID(e))}}, nil)
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "OperationNotSupported" {
		t.Fatalf("provision file recovery: %v", err)
	}
	_, err = ilr.Revoke(e.Ctx(), "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, nil)
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "OperationNotSupported" {
		t.Fatalf("revoke file recovery: %v", err)
	}
	resp, m := e.Do("POST", vm1PointID(e, "nosuch")+"/provisionInstantItemRecovery?api-version=2023-04-01", `{"properties":{"objectType":"IaasVMILRRegistrationRequest"}}`)
	if resp.StatusCode != 404 || testserver.ErrorCode(m) != "BMSUserErrorRecoveryPointNotFound" {
		t.Fatalf("file recovery of an unknown point: %d %v", resp.StatusCode, m)
	}
}
