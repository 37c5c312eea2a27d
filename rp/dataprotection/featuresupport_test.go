package dataprotection_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"

	"github.com/safehold/safehold/internal/testserver"
)

// TestCheckFeatureSupport: a Backup vault here protects managed disks
// (GenerallyAvailable) and no other datasource type (NotSupported), asked
// as a whole or for one type; a request that is not a datasource-type
// validation, or names an unknown region, is a 400 saying what to send, and
// a caller without a role is refused.
func TestCheckFeatureSupport(t *testing.T) {
	e := testserver.Start(t)
	c := testserver.Factory(e, armdataprotection.NewClientFactory).NewClient()
	support := func(loc, name string) (map[string]armdataprotection.FeatureSupportStatus, error) {
		req := &armdataprotection.FeatureValidationRequest{ObjectType: to.Ptr("FeatureValidationRequest"), FeatureType: to.Ptr(armdataprotection.FeatureTypeDataSourceType)}
		if name != "" {
			req.FeatureName = to.Ptr(name)
		}
		res, err := c.CheckFeatureSupport(e.Ctx(), loc, req, nil)
		if err != nil {
			return nil, err
		}
		r, ok := res.FeatureValidationResponseBaseClassification.(*armdataprotection.FeatureValidationResponse)
		if !ok || *r.FeatureType != armdataprotection.FeatureTypeDataSourceType {
			t.Fatalf("answer %T %+v", res.FeatureValidationResponseBaseClassification, res)
		}
		out := map[string]armdataprotection.FeatureSupportStatus{}
		for _, f := range r.Features {
			out[*f.FeatureName] = *f.SupportStatus
		}
		return out, nil
	}
	all, err := support("West US", "")
	if err != nil {
		t.Fatal(err)
	}
	if all["Microsoft.Compute/disks"] != armdataprotection.FeatureSupportStatusGenerallyAvailable ||
		all["Microsoft.Storage/storageAccounts/blobServices"] != armdataprotection.FeatureSupportStatusNotSupported ||
		all["Microsoft.ContainerService/managedClusters"] != armdataprotection.FeatureSupportStatusNotSupported {
		t.Fatalf("every datasource type: %v", all)
	}
	one, err := support("westus", "microsoft.compute/disks")
	if err != nil || len(one) != 1 || one["Microsoft.Compute/disks"] != armdataprotection.FeatureSupportStatusGenerallyAvailable {
		t.Fatalf("disks: %v %v", one, err)
	}
	if _, err := support("nowhere", ""); !testserver.HasError(err, 400, "LocationNotAvailableForResourceType") {
		t.Fatalf("unknown region: %v", err)
	}
	V := "/subscriptions/" + e.Sub + "/providers/Microsoft.DataProtection/locations/westus/checkFeatureSupport?api-version=2024-04-01"
	for _, body := range []string{`{"objectType":"FeatureValidationRequest","featureType":"Invalid"}`, `{"objectType":"Other","featureType":"DataSourceType"}`, `{}`} {
		resp, m := e.Do("POST", V, body)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidInput" {
			t.Fatalf("%s: %d %v", body, resp.StatusCode, m)
		}
	}
	resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": "outsider"})
	if resp.StatusCode != 201 {
		t.Fatalf("create sp: %d %v", resp.StatusCode, m)
	}
	cred, err := e.Conn.CredentialFor(m["appId"].(string), m["clientSecret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	resp, m = e.Do("POST", V, `{"objectType":"FeatureValidationRequest","featureType":"DataSourceType"}`, testserver.As(cred))
	if resp.StatusCode != 403 || testserver.ErrorCode(m) != "AuthorizationFailed" {
		t.Fatalf("without a role: %d %v", resp.StatusCode, m)
	}
}
