package server_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/testserver"
)

// Every api-version Azure published for a namespace is accepted, and the
// provider listing shows them per resource type as clients read it.
func TestEveryPublishedAPIVersion(t *testing.T) {
	e := testserver.Start(t)
	cases := []struct {
		path     string
		versions []string
	}{
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.DataProtection/backupVaults", arm.APIVersionsDataProtection},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/vaults", arm.APIVersionsRecoveryServices},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.Compute/disks", arm.APIVersionsCompute},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.Authorization/roleDefinitions", arm.APIVersionsAuthorization},
		{"/subscriptions/" + e.Sub + "/resourcegroups", arm.APIVersionsResources},
	}
	for _, c := range cases {
		for _, v := range c.versions {
			resp, m := raw(t, e, "GET", c.path+"?api-version="+v, "", nil)
			if resp.StatusCode != 200 {
				t.Errorf("GET %s at %s: %d %v", c.path, v, resp.StatusCode, m)
			}
		}
	}
	// The versions clients are known to send: JS arm-recoveryservicesbackup 12
	// (2023-06-01), az CLI 2.45 (2022-09-01-preview), newer DP SDKs (2025-07-01).
	for _, p := range []string{
		"/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/vaults?api-version=2023-06-01",
		"/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/vaults?api-version=2022-09-01-preview",
		"/subscriptions/" + e.Sub + "/providers/Microsoft.DataProtection/backupVaults?api-version=2025-07-01",
	} {
		if resp, m := raw(t, e, "GET", p, "", nil); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %v", p, resp.StatusCode, m)
		}
	}
	// A version never published is still refused.
	if resp, m := raw(t, e, "GET", "/subscriptions/"+e.Sub+"/providers/Microsoft.RecoveryServices/vaults?api-version=2023-06-02", "", nil); resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidApiVersionParameter" {
		t.Errorf("unpublished version: %d %v", resp.StatusCode, m)
	}

	pc, err := armresources.NewProvidersClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"Microsoft.DataProtection":   {"backupVaults", "backupVaults/backupPolicies", "backupVaults/backupInstances", "locations/operationStatus"},
		"Microsoft.RecoveryServices": {"vaults", "vaults/backupPolicies", "vaults/backupFabrics/protectionContainers/protectedItems", "vaults/backupJobs"},
		"Microsoft.Compute":          {"disks", "snapshots", "virtualMachines"},
	}
	for ns, types := range want {
		p, err := pc.Get(e.Ctx(), ns, nil)
		if err != nil {
			t.Fatal(err)
		}
		byType := map[string]*armresources.ProviderResourceType{}
		for _, rt := range p.ResourceTypes {
			byType[strings.ToLower(*rt.ResourceType)] = rt
		}
		for _, typ := range types {
			rt := byType[strings.ToLower(typ)]
			if rt == nil {
				t.Errorf("%s: resource type %s not listed", ns, typ)
				continue
			}
			var got []string
			for _, v := range rt.APIVersions {
				got = append(got, *v)
			}
			if len(got) != len(arm.UnionVersions(e.Server.Router.NamespaceVersions(ns))) || !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b[:10], a[:10]) }) {
				t.Errorf("%s/%s: api-versions %v (want all, newest first)", ns, typ, got)
			}
			if rt.DefaultAPIVersion == nil || arm.IsPreviewVersion(*rt.DefaultAPIVersion) || *rt.DefaultAPIVersion != got[0] && !arm.IsPreviewVersion(got[0]) {
				t.Errorf("%s/%s: default api-version %v", ns, typ, rt.DefaultAPIVersion)
			}
		}
	}
}
