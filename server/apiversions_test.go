package server_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/testserver"
)

// Every api-version Azure published for a resource type is accepted, and
// the provider listing shows them per resource type as clients read it.
func TestEveryPublishedAPIVersion(t *testing.T) {
	e := testserver.Start(t)
	cases := []struct {
		path, ns, typ string
	}{
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.DataProtection/backupVaults", "Microsoft.DataProtection", "backupVaults"},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.DataProtection/resourceGuards", "Microsoft.DataProtection", "resourceGuards"},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/vaults", "Microsoft.RecoveryServices", "vaults"},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.Compute/disks", "Microsoft.Compute", "disks"},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.Compute/snapshots", "Microsoft.Compute", "snapshots"},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.Compute/virtualMachines", "Microsoft.Compute", "virtualMachines"},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.Compute/diskEncryptionSets", "Microsoft.Compute", "diskEncryptionSets"},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.Compute/diskAccesses", "Microsoft.Compute", "diskAccesses"},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.Authorization/roleDefinitions", "Microsoft.Authorization", "roleDefinitions"},
		{"/subscriptions/" + e.Sub + "/providers/Microsoft.Authorization/locks", "Microsoft.Authorization", "locks"},
		{"/subscriptions/" + e.Sub + "/resourcegroups", "Microsoft.Resources", ""},
	}
	for _, c := range cases {
		versions := e.Server.Router.NamespaceVersions(c.ns)
		if _, vs, ok := arm.TypeVersions(c.ns, c.typ); ok {
			versions = vs
		}
		for _, v := range versions {
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
		"Microsoft.Compute":          {"disks", "snapshots", "virtualMachines", "disks/beginGetAccess", "diskEncryptionSets"},
		"Microsoft.Authorization":    {"locks", "roleAssignments"},
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
			want := arm.UnionVersions(e.Server.Router.NamespaceVersions(ns))
			if _, vs, ok := arm.TypeVersions(ns, typ); ok {
				want = vs
			}
			if !slices.Equal(got, want) || !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b[:10], a[:10]) }) {
				t.Errorf("%s/%s: api-versions %v (want the type's %v, newest first)", ns, typ, got, want)
			}
			if rt.DefaultAPIVersion == nil || arm.IsPreviewVersion(*rt.DefaultAPIVersion) || *rt.DefaultAPIVersion != got[0] && !arm.IsPreviewVersion(got[0]) {
				t.Errorf("%s/%s: default api-version %v", ns, typ, rt.DefaultAPIVersion)
			}
		}
	}
}

// The api-versions that the SDK versions driven through the seed flows send
// (/tmp scratch programs, not in the repo: each major of the Go modules and
// older and newer JS packages than the ones the repo pins) are accepted and
// listed for the resource type the client calls, so a client that reads the
// provider (as az and Terraform do) finds the version it speaks.
func TestAPIVersionsOfOtherSDKVersions(t *testing.T) {
	e := testserver.Start(t)
	sub := e.Conn.SubscriptionID
	cases := []struct {
		client, ns, typ, path, version string
	}{
		{"armdataprotection v1.0.0", "Microsoft.DataProtection", "backupVaults", "Microsoft.DataProtection/backupVaults", "2022-04-01"},
		{"armdataprotection/v3 v3.0.0", "Microsoft.DataProtection", "backupVaults", "Microsoft.DataProtection/backupVaults", "2023-11-01"},
		{"armdataprotection/v3 v3.1.0", "Microsoft.DataProtection", "backupVaults", "Microsoft.DataProtection/backupVaults", "2024-04-01"},
		{"armrecoveryservices v1.0.0", "Microsoft.RecoveryServices", "vaults", "Microsoft.RecoveryServices/vaults", "2022-03-01"},
		{"armrecoveryservices v1.3.0", "Microsoft.RecoveryServices", "vaults", "Microsoft.RecoveryServices/vaults", "2023-01-01"},
		{"armrecoveryservices v1.5.0, v1.6.0; @azure/arm-recoveryservices 5.4.0", "Microsoft.RecoveryServices", "vaults", "Microsoft.RecoveryServices/vaults", "2023-04-01"},
		{"@azure/arm-recoveryservices 7.2.0", "Microsoft.RecoveryServices", "vaults", "Microsoft.RecoveryServices/vaults", "2026-07-01"},
		{"armrecoveryservicesbackup v1.0.0", "Microsoft.RecoveryServices", "vaults/backupJobs", "Microsoft.RecoveryServices/vaults", "2022-02-01"},
		{"@azure/arm-recoveryservicesbackup 9.0.0", "Microsoft.RecoveryServices", "vaults/backupJobs", "Microsoft.RecoveryServices/vaults", "2022-03-01"},
		{"armrecoveryservicesbackup/v3 v3.0.0", "Microsoft.RecoveryServices", "vaults/backupJobs", "Microsoft.RecoveryServices/vaults", "2023-04-01"},
		{"armrecoveryservicesbackup/v4 v4.0.0; @azure/arm-recoveryservicesbackup 12.0.0", "Microsoft.RecoveryServices", "vaults/backupJobs", "Microsoft.RecoveryServices/vaults", "2023-06-01"},
		{"armrecoveryservicesbackup/v4 v4.1.0", "Microsoft.RecoveryServices", "vaults/backupJobs", "Microsoft.RecoveryServices/vaults", "2024-04-01"},
		{"armrecoveryservicesbackup/v4 v4.2.0", "Microsoft.RecoveryServices", "vaults/backupJobs", "Microsoft.RecoveryServices/vaults", "2025-02-01"},
		{"armcompute/v4 v4.2.1", "Microsoft.Compute", "disks", "Microsoft.Compute/disks", "2022-07-02"},
		{"armcompute/v4 v4.2.1", "Microsoft.Compute", "virtualMachines", "Microsoft.Compute/virtualMachines", "2022-11-01"},
		{"armcompute/v5 v5.7.0", "Microsoft.Compute", "disks", "Microsoft.Compute/disks", "2023-10-02"},
		{"armcompute/v5 v5.7.0", "Microsoft.Compute", "virtualMachines", "Microsoft.Compute/virtualMachines", "2024-03-01"},
		{"armcompute/v6 v6.4.0; @azure/arm-compute 22.4.0", "Microsoft.Compute", "disks", "Microsoft.Compute/disks", "2024-03-02"},
		{"armcompute/v6 v6.4.0; @azure/arm-compute 22.4.0", "Microsoft.Compute", "virtualMachines", "Microsoft.Compute/virtualMachines", "2024-11-01"},
		{"armcompute/v7 v7.3.0", "Microsoft.Compute", "disks", "Microsoft.Compute/disks", "2025-01-02"},
		{"armcompute/v7 v7.3.0", "Microsoft.Compute", "virtualMachines", "Microsoft.Compute/virtualMachines", "2025-04-01"},
		{"@azure/arm-compute 25.1.1", "Microsoft.Compute", "disks", "Microsoft.Compute/disks", "2026-03-02"},
		{"@azure/arm-compute 25.1.1", "Microsoft.Compute", "virtualMachines", "Microsoft.Compute/virtualMachines", "2026-04-01"},
		{"@azure/arm-storage 18.6.0", "Microsoft.Storage", "storageAccounts", "Microsoft.Storage/storageAccounts", "2024-01-01"},
		{"@azure/arm-storage 19.1.0", "Microsoft.Storage", "storageAccounts", "Microsoft.Storage/storageAccounts", "2025-06-01"},
		{"@azure/arm-storage 20.2.0", "Microsoft.Storage", "storageAccounts", "Microsoft.Storage/storageAccounts", "2026-06-01"},
		{"@azure/arm-storage 21.0.0", "Microsoft.Storage", "storageAccounts", "Microsoft.Storage/storageAccounts", "2026-09-01"},
		{"@azure/arm-authorization 8.4.1", "Microsoft.Authorization", "roleAssignments", "Microsoft.Authorization/roleAssignments", "2018-09-01-preview"},
	}
	pc, err := armresources.NewProvidersClient(sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string][]string{} // ns/type -> versions
	for _, c := range cases {
		key := strings.ToLower(c.ns + "/" + c.typ)
		if _, ok := listed[key]; !ok {
			p, err := pc.Get(e.Ctx(), c.ns, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, rt := range p.ResourceTypes {
				k := strings.ToLower(c.ns + "/" + *rt.ResourceType)
				for _, v := range rt.APIVersions {
					listed[k] = append(listed[k], *v)
				}
			}
		}
		if !slices.Contains(listed[key], c.version) {
			t.Errorf("%s sends %s for %s/%s: not listed by the provider (%v)", c.client, c.version, c.ns, c.typ, listed[key])
		}
		if resp, m := raw(t, e, "GET", "/subscriptions/"+sub+"/providers/"+c.path+"?api-version="+c.version, "", nil); resp.StatusCode != 200 {
			t.Errorf("%s: GET %s at %s: %d %v", c.client, c.path, c.version, resp.StatusCode, m)
		}
	}
}

// TestTwoAPIVersionsAreRefused: a request naming two different
// api-versions (?api-version=A&api-version=B, in either spelling of the
// name) is 400 InvalidApiVersionParameter naming both, as ARM answers it:
// the first was taken and the second ignored, so a client could not tell
// which contract its answer followed. The same version twice is still
// one version.
func TestTwoAPIVersionsAreRefused(t *testing.T) {
	e := testserver.Start(t)
	rgs := "/subscriptions/" + e.Sub + "/resourcegroups"
	for _, q := range []string{"?api-version=2021-04-01&api-version=2022-09-01", "?api-version=2021-04-01&API-VERSION=2022-09-01", "?Api-Version=2022-09-01&x=1&api-version=2021-04-01"} {
		resp, m := raw(t, e, "GET", rgs+q, "", nil)
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidApiVersionParameter" || !strings.Contains(msg, "2021-04-01") || !strings.Contains(msg, "2022-09-01") {
			t.Errorf("GET %s: %d %v, want 400 InvalidApiVersionParameter naming both", q, resp.StatusCode, m)
		}
	}
	if resp, m := raw(t, e, "GET", rgs+"?api-version=2021-04-01&api-version=2021-04-01", "", nil); resp.StatusCode != 200 {
		t.Errorf("the same api-version twice: %d %v", resp.StatusCode, m)
	}
}
