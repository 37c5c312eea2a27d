package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/testserver"
)

// TestLinkedAccessNamedResources walks the resources request bodies name
// besides those TestLinkedAccessIsChecked and TestLinkedAccessBackup walk
// (disk encryption sets, network interfaces, subnets, the identities of
// customer-managed keys, a restored VM's network, a custom role's
// assignable scopes) with the principal that may write only in rga, each
// naming one in rgb: 403 in Azure's words, and the same body naming rga's
// counterpart works where Safehold can run it.
func TestLinkedAccessNamedResources(t *testing.T) {
	e := startScoped(t)
	const cv, vv, sv = "?api-version=2024-03-02", "?api-version=2024-11-01", "?api-version=2023-05-01"
	in := func(rg, typ, name string) string {
		return "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/" + typ + "/" + name
	}
	des := func(rg string) string { return in(rg, "Microsoft.Compute/diskEncryptionSets", "des1") }
	access := func(rg string) string { return in(rg, "Microsoft.Compute/diskAccesses", "da1") }
	diskAccess := func(id string) string { return fmt.Sprintf(`"diskAccessId":%q`, id) }
	nic := func(rg string) string { return in(rg, "Microsoft.Network/networkInterfaces", "nic1") }
	subnet := func(rg string) string { return in(rg, "Microsoft.Network/virtualNetworks", "vnet1/subnets/default") }
	uami := func(rg string) string { return in(rg, "Microsoft.ManagedIdentity/userAssignedIdentities", "id1") }
	diskBody := func(enc string) string {
		return `{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,` + enc + `}}`
	}
	encryption := func(set string) string {
		return fmt.Sprintf(`"encryption":{"type":"EncryptionAtRestWithCustomerKey","diskEncryptionSetId":%q}`, set)
	}
	secure := func(set string) string {
		return fmt.Sprintf(`"securityProfile":{"securityType":"ConfidentialVM_DiskEncryptedWithCustomerKey","secureVMDiskEncryptionSetId":%q}`, set)
	}
	snapBody := func(prop string) string {
		return fmt.Sprintf(`{"location":"westus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":%q},%s}}`, e.diskA, prop)
	}
	vmWith := func(profiles string) string {
		return fmt.Sprintf(`{"location":"westus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},"storageProfile":{"osDisk":{"createOption":"Attach","osType":"Linux","managedDisk":{"id":%q}}},%s}}`, e.diskA, profiles)
	}
	vmBody := func(nic string) string {
		return vmWith(fmt.Sprintf(`"networkProfile":{"networkInterfaces":[{"id":%q}]}`, nic))
	}
	vmNICConfig := func(subnet string) string {
		return vmWith(fmt.Sprintf(`"networkProfile":{"networkApiVersion":"2020-11-01","networkInterfaceConfigurations":[{"name":"nic","properties":{"primary":true,"ipConfigurations":[{"name":"ip","properties":{"subnet":{"id":%q}}}]}}]}`, subnet))
	}
	vmSecrets := func(vault string) string {
		return vmWith(fmt.Sprintf(`"osProfile":{"computerName":"n3","adminUsername":"u","secrets":[{"sourceVault":{"id":%q},"vaultCertificates":[{"certificateUrl":"https://kv.vault.azure.net/secrets/c/1"}]}]}`, vault))
	}
	kv := func(rg string) string { return in(rg, "Microsoft.KeyVault/vaults", "kv1") }
	nicBody := func(subnet, more string) string {
		return fmt.Sprintf(`{"location":"westus","properties":{"ipConfigurations":[{"name":"ipconfig1","properties":{"subnet":{"id":%q}%s}}]}}`, subnet, more)
	}
	pip := func(rg string) string { return in(rg, "Microsoft.Network/publicIPAddresses", "pip1") }
	nsg := func(rg string) string { return in(rg, "Microsoft.Network/networkSecurityGroups", "nsg1") }
	acctBody := func(props string) string {
		return `{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"},"properties":{` + props + `}}`
	}
	vnetRule := func(subnet string) string {
		return fmt.Sprintf(`"networkAcls":{"defaultAction":"Deny","virtualNetworkRules":[{"id":%q,"action":"Allow"}]}`, subnet)
	}
	acctKEK := func(id string) string {
		return fmt.Sprintf(`"encryption":{"keySource":"Microsoft.Keyvault","identity":{"userAssignedIdentity":%q},"keyvaultproperties":{"keyname":"k","keyvaulturi":"https://kv.vault.azure.net"}}`, id)
	}
	dvault := e.rga + "/providers/Microsoft.DataProtection/backupVaults/dvk"
	rvault := e.rga + "/providers/Microsoft.RecoveryServices/vaults/rvk"
	vmA := e.rga + "/providers/Microsoft.Compute/virtualMachines/vm1"
	if resp, m := raw(t, e.Env, "PUT", e.rga+"/providers/Microsoft.RecoveryServices/vaults/rv?api-version=2023-04-01", e.tok, []byte(`{"location":"westus","sku":{"name":"Standard"},"properties":{}}`)); resp.StatusCode >= 300 {
		t.Fatalf("create vault: %s", lkJSON(t, resp, m))
	}
	rsRestore := e.rga + "/providers/Microsoft.RecoveryServices/vaults/rv/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rga;vm1/protectedItems/VM;iaasvmcontainerv2;rga;vm1/recoveryPoints/1/restore?api-version=2024-04-01"
	restoreBody := func(rg string) string {
		return fmt.Sprintf(`{"properties":{"objectType":"IaasVMRestoreRequest","recoveryType":"AlternateLocation","sourceResourceId":%q,"region":"westus","targetVirtualMachineId":%q,"virtualNetworkId":%q,"subnetId":%q}}`,
			vmA, e.rga+"/providers/Microsoft.Compute/virtualMachines/vm9", in(rg, "Microsoft.Network/virtualNetworks", "vnet1"), subnet(rg))
	}
	const desRead = "Microsoft.Compute/diskEncryptionSets/read"
	const assign = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
	cases := []linkedCase{
		{name: "disk encryption set", method: "PUT", path: e.rga + "/providers/Microsoft.Compute/disks/e1" + cv, body: diskBody(encryption(des("rgb"))),
			action: "Microsoft.Compute/disks/write", scope: e.rga + "/providers/Microsoft.Compute/disks/e1", linkedAction: desRead, linkedScope: des("rgb")},
		{name: "disk confidential VM encryption set", method: "PUT", path: e.rga + "/providers/Microsoft.Compute/disks/e2" + cv, body: diskBody(secure(des("rgb"))),
			linkedAction: desRead, linkedScope: des("rgb")},
		{name: "disk PATCH encryption set", method: "PATCH", path: e.diskA + cv, body: `{"properties":{` + encryption(des("rgb")) + `}}`,
			linkedAction: desRead, linkedScope: des("rgb")},
		{name: "snapshot encryption set", method: "PUT", path: e.rga + "/providers/Microsoft.Compute/snapshots/e3" + cv, body: snapBody(encryption(des("rgb"))),
			linkedAction: desRead, linkedScope: des("rgb")},
		{name: "disk access", method: "PUT", path: e.rga + "/providers/Microsoft.Compute/disks/e4" + cv, body: diskBody(diskAccess(access("rgb"))),
			linkedAction: "Microsoft.Compute/diskAccesses/read", linkedScope: access("rgb")},
		{name: "snapshot PATCH disk access", method: "PATCH", path: e.rga + "/providers/Microsoft.Compute/snapshots/e3" + cv, body: `{"properties":{` + diskAccess(access("rgb")) + `}}`,
			linkedAction: "Microsoft.Compute/diskAccesses/read", linkedScope: access("rgb")},
		{name: "snapshot PATCH encryption set", method: "PATCH", path: e.rga + "/providers/Microsoft.Compute/snapshots/e3" + cv, body: `{"properties":{` + secure(des("rgb")) + `}}`,
			linkedAction: desRead, linkedScope: des("rgb")},
		{name: "VM network interface", method: "PUT", path: e.rga + "/providers/Microsoft.Compute/virtualMachines/n1" + vv, body: vmBody(nic("rgb")),
			action: "Microsoft.Compute/virtualMachines/write", scope: e.rga + "/providers/Microsoft.Compute/virtualMachines/n1",
			linkedAction: "Microsoft.Network/networkInterfaces/join/action", linkedScope: nic("rgb"),
			okPath: e.rga + "/providers/Microsoft.Compute/virtualMachines/n1" + vv, okBody: vmBody(nic("rga"))},
		{name: "VM network interface configuration subnet", method: "PUT", path: e.rga + "/providers/Microsoft.Compute/virtualMachines/n2" + vv, body: vmNICConfig(subnet("rgb")),
			linkedAction: "Microsoft.Network/virtualNetworks/subnets/join/action", linkedScope: subnet("rgb"),
			okPath: e.rga + "/providers/Microsoft.Compute/virtualMachines/n2" + vv, okBody: vmNICConfig(subnet("rga"))},
		{name: "network interface subnet", method: "PUT", path: in("rga", "Microsoft.Network/networkInterfaces", "nic2") + "?api-version=2022-01-01", body: nicBody(subnet("rgb"), ""),
			action: "Microsoft.Network/networkInterfaces/write", scope: in("rga", "Microsoft.Network/networkInterfaces", "nic2"),
			linkedAction: "Microsoft.Network/virtualNetworks/subnets/join/action", linkedScope: subnet("rgb"),
			okPath: in("rga", "Microsoft.Network/networkInterfaces", "nic2") + "?api-version=2022-01-01", okBody: nicBody(subnet("rga"), "")},
		{name: "network interface public address", method: "PUT", path: in("rga", "Microsoft.Network/networkInterfaces", "nic3") + "?api-version=2022-01-01",
			body:         nicBody(subnet("rga"), fmt.Sprintf(`,"publicIPAddress":{"id":%q}`, pip("rgb"))),
			linkedAction: "Microsoft.Network/publicIPAddresses/join/action", linkedScope: pip("rgb")},
		{name: "network interface security group", method: "PUT", path: in("rga", "Microsoft.Network/networkInterfaces", "nic3") + "?api-version=2022-01-01",
			body:         strings.Replace(nicBody(subnet("rga"), ""), `"properties":{`, fmt.Sprintf(`"properties":{"networkSecurityGroup":{"id":%q},`, nsg("rgb")), 1),
			linkedAction: "Microsoft.Network/networkSecurityGroups/join/action", linkedScope: nsg("rgb")},
		{name: "subnet security group", method: "PUT", path: in("rga", "Microsoft.Network/virtualNetworks", "vnet1/subnets/s2") + "?api-version=2022-01-01",
			body:         fmt.Sprintf(`{"properties":{"addressPrefix":"10.0.2.0/24","networkSecurityGroup":{"id":%q}}}`, nsg("rgb")),
			linkedAction: "Microsoft.Network/networkSecurityGroups/join/action", linkedScope: nsg("rgb")},
		{name: "VM secrets key vault", method: "PUT", path: e.rga + "/providers/Microsoft.Compute/virtualMachines/n3" + vv, body: vmSecrets(kv("rgb")),
			linkedAction: "Microsoft.KeyVault/vaults/deploy/action", linkedScope: kv("rgb")},
		{name: "Recovery Services backup encryption identity", method: "PUT", path: e.rga + "/providers/Microsoft.RecoveryServices/vaults/rv/backupEncryptionConfigs/backupResourceEncryptionConfig?api-version=2023-04-01",
			body:         fmt.Sprintf(`{"properties":{"encryptionAtRestType":"CustomerManaged","keyUri":"https://kv.vault.azure.net/keys/k/1","userAssignedIdentity":%q}}`, uami("rgb")),
			linkedAction: assign, linkedScope: uami("rgb")},
		{name: "storage account network rule", method: "PUT", path: e.rga + "/providers/Microsoft.Storage/storageAccounts/acctvnet" + sv, body: acctBody(vnetRule(subnet("rgb"))),
			linkedAction: "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action", linkedScope: subnet("rgb"),
			okPath: e.rga + "/providers/Microsoft.Storage/storageAccounts/acctvnet" + sv, okBody: acctBody(vnetRule(subnet("rga")))},
		{name: "storage account PATCH network rule", method: "PATCH", path: e.rga + "/providers/Microsoft.Storage/storageAccounts/acctvnet" + sv, body: `{"properties":{` + vnetRule(subnet("rgb")) + `}}`,
			linkedAction: "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action", linkedScope: subnet("rgb")},
		{name: "storage account encryption identity", method: "PUT", path: e.rga + "/providers/Microsoft.Storage/storageAccounts/acctkek" + sv, body: acctBody(acctKEK(uami("rgb"))),
			linkedAction: assign, linkedScope: uami("rgb"),
			okPath: e.rga + "/providers/Microsoft.Storage/storageAccounts/acctkek" + sv, okBody: acctBody(acctKEK(uami("rga")))},
		{name: "Backup vault customer-managed key identity", method: "PUT", path: dvault + "?api-version=2024-04-01",
			body:         fmt.Sprintf(`{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}],"securitySettings":{"encryptionSettings":{"state":"Enabled","keyVaultProperties":{"keyUri":"https://kv.vault.azure.net/keys/k/1"},"kekIdentity":{"identityType":"UserAssigned","identityId":%q}}}}}`, uami("rgb")),
			linkedAction: assign, linkedScope: uami("rgb")},
		{name: "Recovery Services vault customer-managed key identity", method: "PUT", path: rvault + "?api-version=2023-04-01",
			body:         fmt.Sprintf(`{"location":"westus","sku":{"name":"Standard"},"properties":{"encryption":{"keyVaultProperties":{"keyUri":"https://kv.vault.azure.net/keys/k/1"},"kekIdentity":{"userAssignedIdentity":%q}}}}`, uami("rgb")),
			linkedAction: assign, linkedScope: uami("rgb")},
		{name: "Recovery Services restore to a new VM in another group's network", method: "POST", path: rsRestore, body: restoreBody("rgb"),
			linkedAction: "Microsoft.Network/virtualNetworks/read,Microsoft.Network/virtualNetworks/subnets/join/action",
			linkedScope:  in("rgb", "Microsoft.Network/virtualNetworks", "vnet1") + "," + subnet("rgb")},
	}
	// The network the VM and interface cases name inside rga.
	const nv = "?api-version=2022-01-01"
	if resp, m := raw(t, e.Env, "PUT", in("rga", "Microsoft.Network/virtualNetworks", "vnet1")+nv, e.tok, []byte(`{"location":"westus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"default","properties":{"addressPrefix":"10.0.0.0/24"}}]}}`)); resp.StatusCode >= 300 {
		t.Fatalf("create vnet1: %s", lkJSON(t, resp, m))
	}
	if resp, m := raw(t, e.Env, "PUT", nic("rga")+nv, e.tok, []byte(nicBody(subnet("rga"), ""))); resp.StatusCode >= 300 {
		t.Fatalf("create nic1: %s", lkJSON(t, resp, m))
	}
	// The snapshot the PATCH cases name.
	if resp, m := raw(t, e.Env, "PUT", e.rga+"/providers/Microsoft.Compute/snapshots/e3"+cv, e.tok, []byte(snapBody(`"incremental":false`))); resp.StatusCode >= 300 {
		t.Fatalf("create snapshot e3: %s", lkJSON(t, resp, m))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.checkLinked(t, c) })
	}

	// Where the principal may read them, the disk encryption sets and disk
	// accesses a disk or snapshot names must exist: Safehold serves none,
	// so naming one is a 400 naming it (Azure's answer for one that does
	// not exist), and nothing is created or changed.
	t.Run("named sets and accesses exist", func(t *testing.T) {
		for _, c := range []struct{ what, method, path, body, target, id string }{
			{"disk encryption set", "PUT", e.rga + "/providers/Microsoft.Compute/disks/e5" + cv, diskBody(encryption(des("rga"))), "properties.encryption.diskEncryptionSetId", des("rga")},
			{"confidential VM encryption set", "PUT", e.rga + "/providers/Microsoft.Compute/disks/e5" + cv, diskBody(secure(des("rga"))), "properties.securityProfile.secureVMDiskEncryptionSetId", des("rga")},
			{"disk access", "PUT", e.rga + "/providers/Microsoft.Compute/disks/e5" + cv, diskBody(diskAccess(access("rga"))), "properties.diskAccessId", access("rga")},
			{"disk PATCH encryption set", "PATCH", e.diskA + cv, `{"properties":{` + encryption(des("rga")) + `}}`, "properties.encryption.diskEncryptionSetId", des("rga")},
			{"snapshot encryption set", "PUT", e.rga + "/providers/Microsoft.Compute/snapshots/e6" + cv, snapBody(encryption(des("rga"))), "properties.encryption.diskEncryptionSetId", des("rga")},
			{"snapshot PATCH disk access", "PATCH", e.rga + "/providers/Microsoft.Compute/snapshots/e3" + cv, `{"properties":{` + diskAccess(access("rga")) + `}}`, "properties.diskAccessId", access("rga")},
			{"not an id", "PUT", e.rga + "/providers/Microsoft.Compute/disks/e5" + cv, diskBody(diskAccess("da1")), "properties.diskAccessId", "da1"},
			{"not a string", "PUT", e.rga + "/providers/Microsoft.Compute/disks/e5" + cv, diskBody(`"encryption":{"diskEncryptionSetId":42}`), "properties.encryption.diskEncryptionSetId", "number"},
		} {
			resp, m := raw(t, e.Env, c.method, c.path, e.tok, []byte(c.body))
			if resp.StatusCode != http.StatusBadRequest || testserver.Field(m, "error.target") != c.target || !strings.Contains(fmt.Sprint(testserver.Field(m, "error.message")), c.id) {
				t.Errorf("%s: want 400 about %s naming %s, got %s", c.what, c.target, c.id, lkJSON(t, resp, m))
			}
		}
		for _, path := range []string{e.rga + "/providers/Microsoft.Compute/disks/e5" + cv, e.rga + "/providers/Microsoft.Compute/snapshots/e6" + cv} {
			if resp, m := raw(t, e.Env, "GET", path, e.tok, nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s after a refused PUT: %s", path, lkJSON(t, resp, m))
			}
		}
		for _, path := range []string{e.diskA + cv, e.rga + "/providers/Microsoft.Compute/snapshots/e3" + cv} {
			// (The fields, not the body's text: a uniqueId may hold "da1".)
			if resp, m := raw(t, e.Env, "GET", path, e.tok, nil); resp.StatusCode != http.StatusOK || testserver.Field(m, "properties.encryption.diskEncryptionSetId") != nil || testserver.Field(m, "properties.diskAccessId") != nil {
				t.Errorf("%s after a refused PATCH: %s", path, lkJSON(t, resp, m))
			}
		}
	})

	// A custom role is written at each of its assignable scopes: the
	// principal may write roles in rga only.
	t.Run("custom role assignable scope", func(t *testing.T) {
		role := func(scopes ...string) string {
			return fmt.Sprintf(`{"properties":{"roleName":"r-%s","type":"CustomRole","permissions":[{"actions":["Microsoft.Compute/disks/read"]}],"assignableScopes":["%s"]}}`,
				uuid.NewString(), strings.Join(scopes, `","`))
		}
		path := e.rga + "/providers/Microsoft.Authorization/roleDefinitions/" + uuid.NewString() + "?api-version=2022-04-01"
		resp, m := raw(t, e.Env, "PUT", path, e.tok, []byte(role(e.rga, e.rgb)))
		if resp.StatusCode != http.StatusForbidden || testserver.ErrorCode(m) != "AuthorizationFailed" {
			t.Fatalf("role assignable at rgb: want 403 AuthorizationFailed, got %s", lkJSON(t, resp, m))
		}
		if msg := m["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "Microsoft.Authorization/roleDefinitions/write") || !strings.Contains(strings.ToLower(msg), strings.ToLower(e.rgb)) {
			t.Fatalf("message names neither the action nor rgb: %s", msg)
		}
		// Authorized before the scopes' existence is checked: a group the
		// principal may not write to answers 403 whether or not it
		// exists, so the answer does not tell which exist; one inside
		// rga that does not exist is a 400 naming it.
		gone := "/subscriptions/" + e.Sub + "/resourceGroups/nosuchgroup"
		resp, m = raw(t, e.Env, "PUT", path, e.tok, []byte(role(e.rga, gone)))
		if resp.StatusCode != http.StatusForbidden || testserver.ErrorCode(m) != "AuthorizationFailed" {
			t.Fatalf("role assignable at a group that does not exist, outside the principal's: want 403 AuthorizationFailed, got %s", lkJSON(t, resp, m))
		}
		missing := e.rga + "/providers/Microsoft.Compute/disks/nosuchdisk"
		resp, m = raw(t, e.Env, "PUT", path, e.tok, []byte(role(missing)))
		if resp.StatusCode != http.StatusBadRequest || testserver.ErrorCode(m) != "InvalidAssignableScope" || !strings.Contains(fmt.Sprint(m), "nosuchdisk") {
			t.Fatalf("role assignable at a disk in rga that does not exist: want 400 InvalidAssignableScope naming it, got %s", lkJSON(t, resp, m))
		}
		if resp, m := raw(t, e.Env, "PUT", path, e.tok, []byte(role(e.rga))); resp.StatusCode != http.StatusCreated {
			t.Fatalf("role assignable at rga: %s", lkJSON(t, resp, m))
		}

		// A role assignable at rgb too (made by the administrator) is
		// neither rewritten to rga alone (its assignments in rgb would get
		// the new permissions) nor deleted by the principal.
		both := e.rga + "/providers/Microsoft.Authorization/roleDefinitions/" + uuid.NewString() + "?api-version=2022-04-01"
		if resp, m := raw(t, e.Env, "PUT", both, "", []byte(role(e.rga, e.rgb))); resp.StatusCode != http.StatusCreated {
			t.Fatalf("administrator's role assignable at rga and rgb: %s", lkJSON(t, resp, m))
		}
		for _, method := range []string{"PUT", "DELETE"} {
			resp, m := raw(t, e.Env, method, both, e.tok, []byte(role(e.rga)))
			if resp.StatusCode != http.StatusForbidden || testserver.ErrorCode(m) != "AuthorizationFailed" || !strings.Contains(strings.ToLower(fmt.Sprint(m)), strings.ToLower(e.rgb)) {
				t.Errorf("%s of a role assignable at rgb too: want 403 AuthorizationFailed naming rgb, got %s", method, lkJSON(t, resp, m))
			}
		}
		if resp, m := raw(t, e.Env, "GET", both, "", nil); resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(fmt.Sprint(m)), strings.ToLower(e.rgb)) {
			t.Fatalf("the role after the refused writes: %s", lkJSON(t, resp, m))
		}
	})
}
