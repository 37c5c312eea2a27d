package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// wrongValueCase is one write whose valid body TestWrongValuesAnswer4xx
// mutates one field at a time.
type wrongValueCase struct {
	name, method, path string // path with its api-version
	body               string
	// noMissing: ids the body names that may legitimately not exist yet
	// (a restore's targets); a missing one there is not an error.
	noMissing []string
	// unlinked: ids Azure does not check the caller's access to (a disk
	// encryption set's key vault: the set's identity reads the key).
	unlinked []string
	// unserved: ids of resources Safehold does not serve (Key Vault,
	// networks, managed identities): any
	// well-formed one is taken as it is.
	unserved []string
	// fresh: a name in the path and body that each mutated request
	// replaces by a new one (a write that creates something: a second
	// one would otherwise only meet the first).
	fresh string
}

// mutation is one wrong value put in place of a field (nil value with
// drop: the field removed).
type mutation struct {
	what  string
	value any
	drop  bool
	// foreign: the value names a resource the caller may not reach (another
	// resource group or subscription): the write must be refused.
	foreign bool
	// region: another region than the resource's (eastus): a PUT that
	// accepts it must put the resource there.
	region bool
	// missing: the value names a resource of the same type that does not
	// exist: the write must be refused unless the field names a target.
	missing bool
}

var rgSegment = regexp.MustCompile(`(?i)/resourceGroups/[^/]+`)
var subSegment = regexp.MustCompile(`(?i)^/subscriptions/[^/]+`)

// mutationsOf lists the wrong values tried for v, the value of the field
// at path.
func mutationsOf(path []any, v any, sub string) []mutation {
	long := strings.Repeat("x", 10<<10)
	ms := []mutation{{what: "removed", drop: true}, {what: "null", value: nil}}
	if len(path) == 1 && path[0] == "location" {
		ms = append(ms, mutation{what: "another region", value: "eastus", region: true})
	}
	switch x := v.(type) {
	case string:
		ms = append(ms, mutation{what: "number", value: 42}, mutation{what: "empty", value: ""}, mutation{what: "10 kB", value: long},
			mutation{what: "unknown enum", value: "NoSuchValue"}, mutation{what: "object", value: map[string]any{"id": x}})
		if strings.HasPrefix(strings.ToLower(x), "/subscriptions/") {
			ms = append(ms,
				mutation{what: "id of another type", value: subSegment.FindString(x) + rgSegment.FindString(x) + "/providers/Microsoft.Web/sites/w1"},
				mutation{what: "id of another group", value: rgSegment.ReplaceAllString(x, "/resourceGroups/rgb"), foreign: rgSegment.MatchString(x)},
				mutation{what: "id in another subscription", value: subSegment.ReplaceAllString(x, "/subscriptions/"+uuid.NewString()), foreign: true},
				mutation{what: "malformed id", value: "/subscriptions/" + sub + "/resourceGroups//providers/"},
				mutation{what: "id of a missing resource", value: x + "zz9", missing: true},
				mutation{what: "id with a trailing slash", value: x + "/"})
			if i := strings.LastIndex(x, "/"); i > 0 {
				ms = append(ms, mutation{what: "id of a parent", value: x[:i]})
			}
		}
	case float64:
		ms = append(ms, mutation{what: "string", value: "7"}, mutation{what: "huge", value: json.RawMessage("1e300")},
			mutation{what: "huge integer", value: json.RawMessage("9223372036854775808")}, mutation{what: "negative", value: -1},
			mutation{what: "fraction", value: 0.5}, mutation{what: "zero", value: 0})
	case bool:
		ms = append(ms, mutation{what: "string", value: "true"}, mutation{what: "number", value: 1})
	case map[string]any:
		ms = append(ms, mutation{what: "string", value: "x"}, mutation{what: "array", value: []any{x}}, mutation{what: "empty object", value: map[string]any{}})
	case []any:
		ms = append(ms, mutation{what: "object", value: map[string]any{"a": 1}}, mutation{what: "empty array", value: []any{}})
		if len(x) > 0 {
			ms = append(ms, mutation{what: "duplicated element", value: append(append([]any{}, x...), x[0])},
				mutation{what: "element of the wrong type", value: []any{true}})
		}
	}
	return ms
}

// fieldPaths lists the paths (map keys and array indexes) of every value
// in v below the root.
func fieldPaths(v any, prefix []any) [][]any {
	var out [][]any
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := append(append([]any{}, prefix...), k)
			out = append(out, p)
			out = append(out, fieldPaths(x[k], p)...)
		}
	case []any:
		for i, e := range x {
			p := append(append([]any{}, prefix...), i)
			out = append(out, p)
			out = append(out, fieldPaths(e, p)...)
		}
	}
	return out
}

// withField is a deep copy of body with the field at path replaced by m.
func withField(body any, path []any, m mutation) any {
	var cp any
	b, _ := json.Marshal(body)
	json.Unmarshal(b, &cp)
	parent := cp
	for _, k := range path[:len(path)-1] {
		switch p := parent.(type) {
		case map[string]any:
			parent = p[k.(string)]
		case []any:
			parent = p[k.(int)]
		}
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		if m.drop {
			delete(p, last.(string))
		} else {
			p[last.(string)] = m.value
		}
	case []any:
		if m.drop {
			// the containing array loses the element: set it via its parent
			return withField(cp, path[:len(path)-1], mutation{value: append(append([]any{}, p[:last.(int)]...), p[last.(int)+1:]...)})
		}
		p[last.(int)] = m.value
	}
	return cp
}

func valueAt(body any, path []any) any {
	v := body
	for _, k := range path {
		switch p := v.(type) {
		case map[string]any:
			v = p[k.(string)]
		case []any:
			v = p[k.(int)]
		}
	}
	return v
}

func pathString(path []any) string {
	var sb strings.Builder
	for i, k := range path {
		switch k := k.(type) {
		case string:
			if i > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(k)
		case int:
			fmt.Fprintf(&sb, "[%d]", k)
		}
	}
	return sb.String()
}

// wvAnswer is one answer of the server as the test sees it.
type wvAnswer struct {
	status int
	header http.Header
	body   []byte
	m      map[string]any
}

// send sends one request with token and returns the answer without
// judging it (5xx and non-JSON answers included).
func wvSend(t *testing.T, e *testserver.Env, hc *http.Client, method, path, token string, body []byte) wvAnswer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.Conn.ARMEndpoint+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	a := wvAnswer{status: resp.StatusCode, header: resp.Header, body: b}
	json.Unmarshal(b, &a.m)
	return a
}

// TestWrongValuesAnswer4xx starts from a valid body of each write route
// Safehold serves (disks at 2016-04-30-preview and 2024-03-02, snapshots,
// grants, disk encryption sets and accesses, galleries, VMs, storage
// accounts at 2015-06-15 and later, resource groups, both vault kinds with
// their policies, config resources, resource guards and proxies, backup
// instances, Backup-vault backup, restore and validation requests,
// Recovery Services protection, intents, VM checks, backup, restore and
// restore validation requests, role definitions and assignments) and sends it with one field at a time
// replaced by a wrong value: another JSON type, null, an empty or 10 kB
// string, an unknown enum value, huge, negative and fractional numbers,
// ARM ids of another type, group or subscription, malformed or of a
// missing resource, duplicated array elements, the field removed. Sent by
// a principal that is Contributor and User Access Administrator on the
// groups the bodies name but not on rgb, each answer must be below 500 and
// JSON, an error must carry a code and a message, an id in rgb or another
// subscription must be refused (the admin sends each body too: no 403
// hides what follows), an id of a missing resource refused unless
// it names a target to create, a refused write must leave its target as
// it was, an accepted operation and every job must end (after each route,
// and after a day of schedules over what the writes left), and the
// resources the test made before must read back the same. A Reader of
// every group gets 403 for each valid body; each valid body is sent at
// every sixth api-version of its namespace too.
func TestWrongValuesAnswer4xx(t *testing.T) {
	if testing.Short() {
		t.Skip("many requests and backups")
	}
	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Sub
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	vv := fixture.ProtectVM(t, e)
	vv.Backup(t, e)
	e.ResourceGroups("rgb", "fz")
	fixture.Disk(t, e, "rgb", "d1", 1)
	fixture.StorageAccount(t, e, "target-rg", "stagingfz")
	acct := sub + "/resourceGroups/target-rg/providers/Microsoft.Storage/storageAccounts/stagingfz"
	// The network a restore to a new VM joins (its subnet must exist).
	if resp, m := e.Do("PUT", sub+"/resourceGroups/target-rg/providers/Microsoft.Network/virtualNetworks/vnet1?api-version=2022-01-01", map[string]any{"location": "westus", "properties": map[string]any{
		"addressSpace": map[string]any{"addressPrefixes": []string{"10.0.0.0/16"}},
		"subnets":      []any{map[string]any{"name": "default", "properties": map[string]any{"addressPrefix": "10.0.0.0/24"}}}}}); resp.StatusCode >= 300 {
		t.Fatalf("create vnet1: %d %v", resp.StatusCode, m)
	}

	objID, cred := fixture.Principal(t, e, "fuzzer")
	for _, rg := range []string{"vault-rg", "disk-rg", "snapshot-rg", "target-rg", "vm-rg", "rs-rg", "fz"} {
		for _, role := range []string{rbac.Contributor, rbac.UserAccessAdministrator} {
			fixture.Assign(t, e, sub+"/resourceGroups/"+rg, role, objID)
		}
	}
	// The subscription's location-wide checks (name availability, feature
	// support, a VM's backup status) need their actions at the
	// subscription: a custom role with those only.
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	locRole := uuid.NewString()
	if a := wvSend(t, e, hc, "PUT", sub+"/providers/Microsoft.Authorization/roleDefinitions/"+locRole+"?api-version=2022-04-01", e.Token(nil),
		[]byte(fmt.Sprintf(`{"properties":{"roleName":"location checks","type":"CustomRole","permissions":[{"actions":["Microsoft.RecoveryServices/locations/*","Microsoft.DataProtection/locations/*","Microsoft.Storage/checkNameAvailability/read"]}],"assignableScopes":[%q]}}`, sub))); a.status != 201 {
		t.Fatalf("custom role: %d %s", a.status, a.body)
	}
	fixture.Assign(t, e, sub, locRole, objID)
	tok := e.Token(cred)
	admin := e.Token(nil)
	get := func(path string) wvAnswer { return wvSend(t, e, hc, "GET", path, admin, nil) }

	const cv, pv = "?api-version=2024-03-02", "?api-version=2024-04-01"
	dpVault := sub + "/resourceGroups/vault-rg/providers/Microsoft.DataProtection/backupVaults/vault1"
	bi := dpVault + "/backupInstances/" + dv.Instance
	dpPoint := ""
	if a := get(bi + "/recoveryPoints?api-version=2024-04-01"); a.status == 200 {
		if vs, _ := a.m["value"].([]any); len(vs) > 0 {
			dpPoint, _ = vs[0].(map[string]any)["name"].(string)
		}
	}
	rsVault := sub + "/resourceGroups/rs-rg/providers/Microsoft.RecoveryServices/vaults/rsvault1"
	item := rsVault + "/backupFabrics/Azure/protectionContainers/" + vv.Container + "/protectedItems/" + vv.Item
	var rsPoint string
	e.WaitFor("the VM's recovery point", func() bool {
		a := get(item + "/recoveryPoints?api-version=2024-04-01")
		if vs, _ := a.m["value"].([]any); len(vs) > 0 {
			rsPoint, _ = vs[0].(map[string]any)["name"].(string)
		}
		return rsPoint != ""
	})
	if dpPoint == "" {
		t.Fatal("no recovery point of the disk")
	}
	fixture.Disk(t, e, "fz", "vmdisk", 1)
	fixture.Disk(t, e, "fz", "vmdisk2", 1)
	fixture.Disk(t, e, "fz", "vmdata2", 1)
	// The network the VM's interface is in.
	for _, put := range [][2]string{
		{"Microsoft.Network/virtualNetworks/vnet1", `{"location":"westus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"default","properties":{"addressPrefix":"10.0.0.0/24"}}]}}`},
		{"Microsoft.Network/networkInterfaces/nic1", `{"location":"westus","properties":{"ipConfigurations":[{"name":"ipconfig1","properties":{"subnet":{"id":"` + sub + `/resourceGroups/fz/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default"}}}]}}`},
		{"Microsoft.Network/networkSecurityGroups/nsg1", `{"location":"westus"}`},
		{"Microsoft.Network/publicIPAddresses/pip1", `{"location":"westus","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`},
	} {
		if a := wvSend(t, e, hc, "PUT", sub+"/resourceGroups/fz/providers/"+put[0]+"?api-version=2022-01-01", admin, []byte(put[1])); a.status >= 300 {
			t.Fatalf("create %s: %d %s", put[0], a.status, a.body)
		}
	}
	// A second disk the Backup vault may back up (validateForBackup).
	data2, _ := fixture.Disk(t, e, "disk-rg", "data2", 1)
	vaultPrincipal, _ := testserver.Field(get(dpVault+pv).m, "identity.principalId").(string)
	fixture.Assign(t, e, data2, fixture.RoleDiskBackupReader, vaultPrincipal)
	kv := sub + "/resourceGroups/fz/providers/Microsoft.KeyVault/vaults/kv1"
	rsPolicy := rsVault + "/backupPolicies/DefaultPolicy"
	dpPolicy := dpVault + "/backupPolicies/" + dv.Policy
	roleID := sub + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Reader
	fz := sub + "/resourceGroups/fz/providers/"
	target := dv.TargetRG + "/providers/Microsoft.Compute/disks/fzrestored"
	target2 := dv.TargetRG + "/providers/Microsoft.Compute/disks/fzrestored2"
	dpRestore := func(target string) string {
		return fmt.Sprintf(`{"objectType":"AzureBackupRecoveryPointBasedRestoreRequest","recoveryPointId":%q,"sourceDataStoreType":"OperationalStore",
		"restoreTargetInfo":{"objectType":"RestoreTargetInfo","recoveryOption":"FailIfExists","restoreLocation":"westus",
		"datasourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":%q,"resourceLocation":"westus","resourceName":"fzrestored","resourceType":"Microsoft.Compute/disks","resourceUri":%q}}}`,
			dpPoint, target, target)
	}
	biBody := func(name, disk string) string {
		return fmt.Sprintf(`{"properties":{"objectType":"BackupInstance","friendlyName":%q,"dataSourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":%q,"resourceLocation":"westus","resourceName":"data1","resourceType":"Microsoft.Compute/disks","resourceUri":%q},
			"policyInfo":{"policyId":%q,"policyParameters":{"dataStoreParametersList":[{"objectType":"AzureOperationalStoreParameters","dataStoreType":"OperationalStore","resourceGroupId":%q}]}}}}`,
			name, disk, disk, dpPolicy, dv.SnapshotRG)
	}
	nic := fz + "Microsoft.Network/networkInterfaces/nic1"
	uami := fz + "Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	guard := fz + "Microsoft.DataProtection/resourceGuards/fzguard"
	altVM := dv.TargetRG + "/providers/Microsoft.Compute/virtualMachines/fzalt"
	vnet := dv.TargetRG + "/providers/Microsoft.Network/virtualNetworks/vnet1"
	cases := []wrongValueCase{
		{name: "disk", method: "PUT", path: fz + "Microsoft.Compute/disks/fzd1" + cv,
			body: fmt.Sprintf(`{"location":"westus","sku":{"name":"Premium_LRS"},"tags":{"a":"b"},"properties":{"creationData":{"createOption":"Copy","sourceResourceId":%q},"diskSizeGB":1,"networkAccessPolicy":"AllowAll","publicNetworkAccess":"Enabled","encryption":{"type":"EncryptionAtRestWithPlatformKey"}}}`, dv.DiskID), fresh: "fzd1"},
		{name: "disk 2016-04-30-preview", method: "PUT", path: fz + "Microsoft.Compute/disks/fzd2?api-version=2016-04-30-preview",
			body: `{"location":"westus","properties":{"accountType":"Standard_LRS","creationData":{"createOption":"Empty"},"diskSizeGB":1,"osType":"Linux"}}`},
		{name: "disk PATCH", method: "PATCH", path: fz + "Microsoft.Compute/disks/fzd2" + cv,
			body: `{"tags":{"a":"b"},"sku":{"name":"StandardSSD_LRS"},"properties":{"diskSizeGB":2,"networkAccessPolicy":"DenyAll"}}`},
		{name: "snapshot", method: "PUT", path: fz + "Microsoft.Compute/snapshots/fzs1" + cv,
			body: fmt.Sprintf(`{"location":"westus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":%q},"incremental":true}}`, dv.DiskID), fresh: "fzs1"},
		{name: "disk encryption set", method: "PUT", path: fz + "Microsoft.Compute/diskEncryptionSets/des1" + cv,
			body: fmt.Sprintf(`{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"encryptionType":"EncryptionAtRestWithCustomerKey","activeKey":{"keyUrl":"https://kv1.vault.azure.net/keys/k1/0123456789abcdef","sourceVault":{"id":%q}},"rotationToLatestKeyVersionEnabled":false}}`, kv), unserved: []string{kv}, unlinked: []string{kv}},
		{name: "disk access", method: "PUT", path: fz + "Microsoft.Compute/diskAccesses/da1" + cv, body: `{"location":"westus","tags":{"a":"b"}}`},
		{name: "VM", method: "PUT", path: fz + "Microsoft.Compute/virtualMachines/fzvm?api-version=2024-11-01",
			body: fmt.Sprintf(`{"location":"westus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},"storageProfile":{"osDisk":{"createOption":"Attach","osType":"Linux","managedDisk":{"id":%q}}},"diagnosticsProfile":{"bootDiagnostics":{"enabled":false}}}}`, fz+"Microsoft.Compute/disks/vmdisk")},
		{name: "virtual network", method: "PUT", path: fz + "Microsoft.Network/virtualNetworks/fzvnet?api-version=2022-01-01",
			body: fmt.Sprintf(`{"location":"westus","tags":{"a":"b"},"properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},"dhcpOptions":{"dnsServers":["10.1.0.10"]},"subnets":[{"name":"s1","properties":{"addressPrefix":"10.1.0.0/24","networkSecurityGroup":{"id":%q}}}]}}`, fz+"Microsoft.Network/networkSecurityGroups/nsg1")},
		{name: "subnet", method: "PUT", path: fz + "Microsoft.Network/virtualNetworks/vnet1/subnets/fzsub?api-version=2022-01-01",
			body: fmt.Sprintf(`{"properties":{"addressPrefix":"10.0.5.0/24","networkSecurityGroup":{"id":%q}}}`, fz+"Microsoft.Network/networkSecurityGroups/nsg1")},
		{name: "network security group", method: "PUT", path: fz + "Microsoft.Network/networkSecurityGroups/fznsg?api-version=2022-01-01",
			body: `{"location":"westus","properties":{"securityRules":[{"name":"ssh","properties":{"protocol":"Tcp","sourcePortRange":"*","destinationPortRange":"22","sourceAddressPrefix":"*","destinationAddressPrefix":"*","access":"Allow","priority":1000,"direction":"Inbound"}}]}}`},
		{name: "security rule", method: "PUT", path: fz + "Microsoft.Network/networkSecurityGroups/nsg1/securityRules/fzrule?api-version=2022-01-01",
			body: `{"properties":{"protocol":"*","sourcePortRanges":["80","443"],"destinationPortRange":"*","sourceAddressPrefixes":["10.0.0.0/8"],"destinationAddressPrefix":"*","access":"Deny","priority":200,"direction":"Outbound"}}`},
		{name: "public IP address", method: "PUT", path: fz + "Microsoft.Network/publicIPAddresses/fzpip?api-version=2022-01-01",
			body: `{"location":"westus","sku":{"name":"Basic"},"properties":{"publicIPAllocationMethod":"Dynamic","idleTimeoutInMinutes":10,"dnsSettings":{"domainNameLabel":"fzlabel"}}}`},
		{name: "network interface", method: "PUT", path: fz + "Microsoft.Network/networkInterfaces/fznic?api-version=2022-01-01",
			body: fmt.Sprintf(`{"location":"westus","properties":{"networkSecurityGroup":{"id":%q},"ipConfigurations":[{"name":"ipconfig1","properties":{"privateIPAllocationMethod":"Static","privateIPAddress":"10.0.0.77","subnet":{"id":%q},"publicIPAddress":{"id":%q}}}]}}`,
				fz+"Microsoft.Network/networkSecurityGroups/nsg1", fz+"Microsoft.Network/virtualNetworks/vnet1/subnets/default", fz+"Microsoft.Network/publicIPAddresses/pip1")},
		{name: "network interface PATCH", method: "PATCH", path: fz + "Microsoft.Network/networkInterfaces/nic1?api-version=2022-01-01", body: `{"tags":{"a":"b"}}`},
		{name: "storage account 2015-06-15", method: "PUT", path: fz + "Microsoft.Storage/storageAccounts/fzacct1?api-version=2015-06-15",
			body: `{"location":"westus","tags":{"a":"b"},"properties":{"accountType":"Standard_GRS"}}`},
		{name: "storage account", method: "PUT", path: fz + "Microsoft.Storage/storageAccounts/fzacct2?api-version=2023-01-01",
			body: `{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"},"properties":{"accessTier":"Hot","minimumTlsVersion":"TLS1_2","allowBlobPublicAccess":false,"supportsHttpsTrafficOnly":true}}`},
		{name: "Recovery Services vault", method: "PUT", path: fz + "Microsoft.RecoveryServices/vaults/fzrv?api-version=2023-04-01",
			body: `{"location":"westus","sku":{"name":"Standard"},"identity":{"type":"SystemAssigned"},"properties":{"publicNetworkAccess":"Enabled","securitySettings":{"immutabilitySettings":{"state":"Disabled"}}}}`},
		{name: "Backup vault", method: "PUT", path: fz + "Microsoft.DataProtection/backupVaults/fzbv" + pv,
			body: `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}],"securitySettings":{"softDeleteSettings":{"state":"On","retentionDurationInDays":14}}}}`},
		{name: "vault storage config", method: "PUT", path: rsVault + "/backupstorageconfig/vaultstorageconfig?api-version=2023-04-01",
			body: `{"properties":{"storageModelType":"GeoRedundant","crossRegionRestoreFlag":false}}`},
		{name: "vault config", method: "PUT", path: rsVault + "/backupconfig/vaultconfig?api-version=2023-04-01",
			body: `{"properties":{"softDeleteFeatureState":"Enabled","enhancedSecurityState":"Enabled"}}`},
		{name: "vault encryption config", method: "PUT", path: rsVault + "/backupEncryptionConfigs/backupResourceEncryptionConfig?api-version=2023-04-01",
			body: `{"properties":{"encryptionAtRestType":"MicrosoftManaged"}}`},
		{name: "Recovery Services policy", method: "PUT", path: rsVault + "/backupPolicies/fzpolicy?api-version=2023-04-01",
			body: `{"properties":{"backupManagementType":"AzureIaasVM","instantRpRetentionRangeInDays":2,"timeZone":"UTC","schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicy","scheduleRunFrequency":"Daily","scheduleRunTimes":["2021-01-01T08:00:00Z"]},"retentionPolicy":{"retentionPolicyType":"LongTermRetentionPolicy","dailySchedule":{"retentionTimes":["2021-01-01T08:00:00Z"],"retentionDuration":{"count":7,"durationType":"Days"}}}}}`},
		{name: "Backup vault policy", method: "PUT", path: dpVault + "/backupPolicies/fzpolicy" + pv,
			body: `{"properties":{"objectType":"BackupPolicy","datasourceTypes":["Microsoft.Compute/disks"],"policyRules":[{"name":"BackupHourly","objectType":"AzureBackupRule","dataStore":{"dataStoreType":"OperationalStore","objectType":"DataStoreInfoBase"},"backupParameters":{"objectType":"AzureBackupParams","backupType":"Incremental"},"trigger":{"objectType":"ScheduleBasedTriggerContext","schedule":{"repeatingTimeIntervals":["R/2021-01-01T08:00:00+00:00/PT4H"],"timeZone":"UTC"},"taggingCriteria":[{"isDefault":true,"taggingPriority":99,"tagInfo":{"tagName":"Default"}}]}},{"name":"Default","objectType":"AzureRetentionRule","isDefault":true,"lifecycles":[{"sourceDataStore":{"dataStoreType":"OperationalStore","objectType":"DataStoreInfoBase"},"deleteAfter":{"objectType":"AbsoluteDeleteOption","duration":"P7D"}}]}]}}`},
		{name: "backup instance", method: "PUT", path: bi + pv, body: biBody("data1", dv.DiskID)},
		{name: "validate for backup", method: "POST", path: dpVault + "/validateForBackup" + pv,
			body: `{"backupInstance":` + strings.TrimSuffix(strings.TrimPrefix(biBody("data2", data2), `{"properties":`), "}") + `}`},
		{name: "Backup vault backup", method: "POST", path: bi + "/backup" + pv,
			body: `{"backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`},
		{name: "Backup vault restore", method: "POST", path: bi + "/restore" + pv, body: dpRestore(target), noMissing: []string{target}, fresh: "fzrestored"},
		{name: "Backup vault validate restore", method: "POST", path: bi + "/validateRestore" + pv,
			body: `{"objectType":"ValidateRestoreRequestObject","restoreRequestObject":` + dpRestore(target2) + `}`, noMissing: []string{target2}},
		{name: "protected item", method: "PUT", path: item + "?api-version=2023-04-01",
			body: fmt.Sprintf(`{"properties":{"protectedItemType":"Microsoft.Compute/virtualMachines","sourceResourceId":%q,"policyId":%q}}`, vv.VMID, rsPolicy)},
		{name: "Recovery Services backup", method: "POST", path: item + "/backup?api-version=2023-04-01",
			body: `{"properties":{"objectType":"IaasVMBackupRequest","recoveryPointExpiryTimeInUTC":"2099-01-01T00:00:00Z"}}`},
		{name: "Recovery Services restore disks", method: "POST", path: item + "/recoveryPoints/" + rsPoint + "/restore?api-version=2023-04-01",
			body: fmt.Sprintf(`{"properties":{"objectType":"IaasVMRestoreRequest","recoveryPointId":%q,"recoveryType":"RestoreDisks","sourceResourceId":%q,"storageAccountId":%q,"targetResourceGroupId":%q,"region":"westus","restoreDiskLunList":[0],"originalStorageAccountOption":false,"encryptionDetails":{"encryptionEnabled":false}}}`,
				rsPoint, vv.VMID, acct, dv.TargetRG)},
		{name: "disk with its access and encryption set", method: "PUT", path: fz + "Microsoft.Compute/disks/fzd3" + cv, fresh: "fzd3",
			body: fmt.Sprintf(`{"location":"westus","sku":{"name":"Premium_LRS"},"properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"networkAccessPolicy":"AllowPrivate","diskAccessId":%q,"dataAccessAuthMode":"None","encryption":{"type":"EncryptionAtRestWithCustomerKey","diskEncryptionSetId":%q},"osType":"Linux","hyperVGeneration":"V2"}}`,
				fz+"Microsoft.Compute/diskAccesses/da1", fz+"Microsoft.Compute/diskEncryptionSets/des1")},
		{name: "VM with a data disk, a network interface and secrets", method: "PUT", path: fz + "Microsoft.Compute/virtualMachines/fzvm2?api-version=2024-11-01",
			unserved: []string{kv},
			body: fmt.Sprintf(`{"location":"westus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},"storageProfile":{"osDisk":{"createOption":"Attach","osType":"Linux","managedDisk":{"id":%q}},"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":%q}},{"lun":1,"createOption":"Empty","diskSizeGB":1}]},"networkProfile":{"networkInterfaces":[{"id":%q,"properties":{"primary":true}}]},"osProfile":{"computerName":"fz","adminUsername":"u","secrets":[{"sourceVault":{"id":%q},"vaultCertificates":[{"certificateUrl":"https://kv1.vault.azure.net/secrets/c/1"}]}]}}}`,
				fz+"Microsoft.Compute/disks/vmdisk2", fz+"Microsoft.Compute/disks/vmdata2", nic, kv)},
		{name: "storage account with network rules and a customer-managed key", method: "PUT", path: fz + "Microsoft.Storage/storageAccounts/fzacct3?api-version=2023-01-01",
			unserved: []string{vnet + "/subnets/default", uami},
			body: fmt.Sprintf(`{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"},"properties":{"networkAcls":{"defaultAction":"Deny","bypass":"AzureServices","virtualNetworkRules":[{"id":%q,"action":"Allow"}],"ipRules":[{"value":"10.0.0.0/24","action":"Allow"}]},"encryption":{"keySource":"Microsoft.Keyvault","identity":{"userAssignedIdentity":%q},"keyvaultproperties":{"keyname":"k","keyvaulturi":"https://kv1.vault.azure.net"}}}}`,
				vnet+"/subnets/default", uami)},
		{name: "Recovery Services vault with a customer-managed key", method: "PUT", path: fz + "Microsoft.RecoveryServices/vaults/fzrv2?api-version=2023-04-01",
			unserved: []string{uami},
			body:     fmt.Sprintf(`{"location":"westus","sku":{"name":"Standard"},"identity":{"type":"UserAssigned","userAssignedIdentities":{%q:{}}},"properties":{"publicNetworkAccess":"Enabled","encryption":{"keyVaultProperties":{"keyUri":"https://kv1.vault.azure.net/keys/k/1"},"kekIdentity":{"userAssignedIdentity":%q},"infrastructureEncryption":"Disabled"}}}`, uami, uami)},
		{name: "Backup vault with a customer-managed key", method: "PUT", path: fz + "Microsoft.DataProtection/backupVaults/fzbv2" + pv,
			unserved: []string{uami},
			body:     fmt.Sprintf(`{"location":"westus","identity":{"type":"UserAssigned","userAssignedIdentities":{%q:{}}},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}],"securitySettings":{"encryptionSettings":{"state":"Enabled","keyVaultProperties":{"keyUri":"https://kv1.vault.azure.net/keys/k/1"},"kekIdentity":{"identityType":"UserAssigned","identityId":%q},"infrastructureEncryption":"Disabled"}}}}`, uami, uami)},
		{name: "vault customer-managed encryption config", method: "PUT", path: fz + "Microsoft.RecoveryServices/vaults/fzrv2/backupEncryptionConfigs/backupResourceEncryptionConfig?api-version=2023-04-01",
			unserved: []string{uami},
			body:     fmt.Sprintf(`{"properties":{"encryptionAtRestType":"CustomerManaged","keyUri":"https://kv1.vault.azure.net/keys/k/2","userAssignedIdentity":%q,"infrastructureEncryptionState":"Disabled"}}`, uami)},
		{name: "VM PATCH", method: "PATCH", path: fz + "Microsoft.Compute/virtualMachines/fzvm?api-version=2024-11-01",
			body: `{"tags":{"a":"b"},"properties":{"hardwareProfile":{"vmSize":"Standard_B2s"}}}`},
		{name: "snapshot PATCH", method: "PATCH", path: fz + "Microsoft.Compute/snapshots/fzs1" + cv,
			body: `{"tags":{"a":"b"},"properties":{"networkAccessPolicy":"AllowAll","publicNetworkAccess":"Enabled"}}`},
		{name: "disk encryption set PATCH", method: "PATCH", path: fz + "Microsoft.Compute/diskEncryptionSets/des1" + cv,
			body: `{"tags":{"a":"b"},"properties":{"activeKey":{"keyUrl":"https://kv1.vault.azure.net/keys/k1/fedcba9876543210"},"rotationToLatestKeyVersionEnabled":true}}`},
		{name: "disk grant", method: "POST", path: fz + "Microsoft.Compute/disks/fzd2/beginGetAccess" + cv, body: `{"access":"Read","durationInSeconds":60}`},
		{name: "gallery", method: "PUT", path: fz + "Microsoft.Compute/galleries/fzg?api-version=2023-07-03", body: `{"location":"westus","tags":{"a":"b"},"properties":{"description":"d"}}`},
		{name: "gallery image", method: "PUT", path: fz + "Microsoft.Compute/galleries/fzg/images/img?api-version=2023-07-03",
			body: `{"location":"westus","properties":{"osType":"Linux","osState":"Generalized","hyperVGeneration":"V2","identifier":{"publisher":"p","offer":"o","sku":"s"}}}`},
		{name: "gallery image version", method: "PUT", path: fz + "Microsoft.Compute/galleries/fzg/images/img/versions/1.0.0?api-version=2023-07-03", fresh: "1.0.0",
			body: fmt.Sprintf(`{"location":"westus","properties":{"publishingProfile":{"excludeFromLatest":false,"replicaCount":1},"storageProfile":{"osDiskImage":{"source":{"id":%q}}}}}`, fz+"Microsoft.Compute/snapshots/fzs1")},
		{name: "storage account PATCH", method: "PATCH", path: fz + "Microsoft.Storage/storageAccounts/fzacct2?api-version=2023-01-01",
			body: `{"tags":{"a":"b"},"properties":{"minimumTlsVersion":"TLS1_2","accessTier":"Cool"}}`},
		{name: "storage account keys", method: "POST", path: fz + "Microsoft.Storage/storageAccounts/fzacct2/regenerateKey?api-version=2023-01-01", body: `{"keyName":"key2"}`},
		{name: "storage name check", method: "POST", path: sub + "/providers/Microsoft.Storage/checkNameAvailability?api-version=2023-01-01",
			body: `{"name":"fzacct9","type":"Microsoft.Storage/storageAccounts"}`},
		{name: "resource group PATCH", method: "PATCH", path: sub + "/resourceGroups/fz?api-version=2021-04-01", body: `{"tags":{"a":"b"}}`},
		{name: "Recovery Services vault PATCH", method: "PATCH", path: fz + "Microsoft.RecoveryServices/vaults/fzrv?api-version=2023-04-01",
			body: `{"tags":{"a":"b"},"properties":{"publicNetworkAccess":"Disabled"}}`},
		{name: "Backup vault PATCH", method: "PATCH", path: fz + "Microsoft.DataProtection/backupVaults/fzbv" + pv,
			body: `{"tags":{"a":"b"},"properties":{"monitoringSettings":{"azureMonitorAlertSettings":{"alertsForAllJobFailures":"Enabled"}}}}`},
		{name: "resource guard", method: "PUT", path: guard + pv, body: `{"location":"westus","tags":{"a":"b"},"properties":{"vaultCriticalOperationExclusionList":[]}}`},
		{name: "Backup vault guard proxy", method: "PUT", path: fz + "Microsoft.DataProtection/backupVaults/fzbv/backupResourceGuardProxies/DppResourceGuardProxy" + pv,
			body: fmt.Sprintf(`{"properties":{"resourceGuardResourceId":%q}}`, guard)},
		{name: "Recovery Services guard proxy", method: "PUT", path: fz + "Microsoft.RecoveryServices/vaults/fzrv/backupResourceGuardProxies/VaultProxy?api-version=2023-04-01",
			body: fmt.Sprintf(`{"properties":{"resourceGuardResourceId":%q}}`, guard)},
		{name: "Backup vault feature support", method: "POST", path: sub + "/providers/Microsoft.DataProtection/locations/westus/checkFeatureSupport" + pv,
			body: `{"objectType":"FeatureValidationRequest","featureType":"DataSourceType","featureName":"Microsoft.Compute/disks"}`},
		{name: "backup status", method: "POST", path: sub + "/providers/Microsoft.RecoveryServices/locations/westus/backupStatus?api-version=2023-04-01",
			body: fmt.Sprintf(`{"resourceType":"VM","resourceId":%q}`, vv.VMID)},
		{name: "pre-validate protection", method: "POST", path: sub + "/providers/Microsoft.RecoveryServices/locations/westus/backupPreValidateProtection?api-version=2023-04-01",
			body: fmt.Sprintf(`{"resourceType":"VM","resourceId":%q,"vaultId":%q,"properties":""}`, vv.VMID, rsVault)},
		{name: "protection intent", method: "PUT", path: rsVault + "/backupFabrics/Azure/backupProtectionIntent/vm;iaasvmcontainerv2;fz;fzvm?api-version=2023-04-01",
			body: fmt.Sprintf(`{"properties":{"protectionIntentItemType":"AzureResourceItem","sourceResourceId":%q,"policyId":%q}}`, fz+"Microsoft.Compute/virtualMachines/fzvm", rsPolicy)},
		{name: "Recovery Services restore to a new VM", method: "POST", path: item + "/recoveryPoints/" + rsPoint + "/restore?api-version=2023-04-01", fresh: "fzalt",
			noMissing: []string{altVM},
			body: fmt.Sprintf(`{"properties":{"objectType":"IaasVMRestoreRequest","recoveryPointId":%q,"recoveryType":"AlternateLocation","sourceResourceId":%q,"storageAccountId":%q,"targetResourceGroupId":%q,"targetVirtualMachineId":%q,"virtualNetworkId":%q,"subnetId":%q,"region":"westus"}}`,
				rsPoint, vv.VMID, acct, dv.TargetRG, altVM, vnet, vnet+"/subnets/default")},
		{name: "Recovery Services restore validation", method: "POST", path: rsVault + "/backupValidateOperation?api-version=2023-04-01",
			body: fmt.Sprintf(`{"properties":{"objectType":"ValidateIaasVMRestoreOperationRequest","restoreRequest":{"objectType":"IaasVMRestoreRequest","recoveryPointId":%q,"recoveryType":"RestoreDisks","sourceResourceId":%q,"storageAccountId":%q,"targetResourceGroupId":%q,"region":"westus"}}}`,
				rsPoint, vv.VMID, acct, dv.TargetRG)},
		{name: "tiering cost", method: "POST", path: rsVault + "/backupTieringCost/default/fetchTieringCost?api-version=2023-04-01",
			body: fmt.Sprintf(`{"objectType":"FetchTieringCostSavingsInfoForProtectedItemRequest","sourceTierType":"HardenedRP","targetTierType":"ArchivedRP","containerName":%q,"protectedItemName":%q}`, vv.Container, vv.Item)},
		{name: "points recommended for move", method: "POST", path: item + "/recoveryPointsRecommendedForMove?api-version=2023-04-01",
			body: fmt.Sprintf(`{"objectType":"ListRecoveryPointsRecommendedForMoveRequest","excludedRPList":[%q]}`, rsPoint)},
		{name: "security PIN", method: "POST", path: rsVault + "/backupSecurityPIN?api-version=2023-04-01", body: `{"resourceGuardOperationRequests":[]}`},
		{name: "Recovery Services vault name check", method: "POST", path: sub + "/resourceGroups/fz/providers/Microsoft.RecoveryServices/locations/westus/checkNameAvailability?api-version=2023-04-01",
			body: `{"type":"Microsoft.RecoveryServices/Vaults","name":"fzfree"}`},
		{name: "Backup vault name check", method: "POST", path: sub + "/resourceGroups/fz/providers/Microsoft.DataProtection/locations/westus/checkNameAvailability" + pv,
			body: `{"type":"Microsoft.DataProtection/BackupVaults","name":"fzfree"}`},
		{name: "vault extended info", method: "PUT", path: rsVault + "/extendedInformation/vaultExtendedInfo?api-version=2023-04-01",
			body: `{"properties":{"integrityKey":"J99wzS27fmJ+Wjot7xO5wA==","algorithm":"None"}}`},
		{name: "Backup vault sync", method: "POST", path: bi + "/sync" + pv, body: `{"syncType":"Default"}`},
		{name: "Backup vault suspend", method: "POST", path: bi + "/suspendBackups" + pv, body: `{"resourceGuardOperationRequests":[]}`},
		{name: "Backup vault resume", method: "POST", path: bi + "/resumeBackups" + pv, body: `{}`},
		{name: "role definition", method: "PUT", path: sub + "/resourceGroups/fz/providers/Microsoft.Authorization/roleDefinitions/" + uuid.NewString() + "?api-version=2022-04-01",
			body: fmt.Sprintf(`{"properties":{"roleName":"fzrole","type":"CustomRole","description":"d","permissions":[{"actions":["Microsoft.Compute/disks/read"],"notActions":[],"dataActions":[],"notDataActions":[]}],"assignableScopes":[%q]}}`, sub+"/resourceGroups/fz")},
		{name: "role assignment", method: "PUT", path: sub + "/resourceGroups/fz/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString() + "?api-version=2022-04-01",
			body: fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q,"principalType":"ServicePrincipal","description":"d"}}`, roleID, objID)},
	}

	// Older api-versions of the same writes (their shapes differ here
	// and there).
	older := map[string]string{"disk": "2017-03-30", "snapshot": "2017-03-30", "VM": "2017-03-30", "storage account": "2016-01-01",
		"Recovery Services vault": "2016-06-01", "Recovery Services policy": "2016-12-01", "Backup vault": "2021-01-01", "backup instance": "2021-01-01",
		"protected item": "2016-12-01", "Recovery Services restore disks": "2016-12-01", "role definition": "2015-07-01", "role assignment": "2015-07-01"}
	for _, c := range cases {
		if v := older[c.name]; v != "" {
			base, _, _ := strings.Cut(c.path, "?")
			c.name, c.path = c.name+" at "+v, base+"?api-version="+v
			cases = append(cases, c)
		}
	}

	// A Reader of every group writes nothing: each valid body is 403 (a
	// read-only check, storage name availability, excepted).
	readerID, readerCred := fixture.Principal(t, e, "reader")
	for _, rg := range []string{"vault-rg", "disk-rg", "snapshot-rg", "target-rg", "vm-rg", "rs-rg", "fz", "rgb"} {
		fixture.Assign(t, e, sub+"/resourceGroups/"+rg, rbac.Reader, readerID)
	}
	readerTok := e.Token(readerCred)
	for _, c := range cases {
		a := wvSend(t, e, hc, c.method, c.path, readerTok, []byte(c.body))
		if c.name == "storage name check" {
			continue
		}
		if a.status != http.StatusForbidden || !strings.HasSuffix(fmt.Sprint(testserver.Field(a.m, "error.code")), "AuthorizationFailed") {
			t.Errorf("%s by a Reader: want 403, got %d %.300s", c.name, a.status, a.body)
		}
	}

	// What the test made before: each must read back the same (the cases'
	// own targets excepted).
	witnesses := []string{dv.DiskID + cv, sub + "/resourceGroups/rgb/providers/Microsoft.Compute/disks/d1" + cv, vv.VMID + "?api-version=2024-11-01",
		dpVault + pv, rsVault + "?api-version=2023-04-01", dpPolicy + pv, rsPolicy + "?api-version=2023-04-01", acct + "?api-version=2023-01-01",
		sub + "/resourceGroups/vm-rg/providers/Microsoft.Compute/disks/app1-os" + cv}
	before := map[string]string{}
	read := func(path string) string {
		a := get(path)
		delete(a.m, "etag")
		if p, ok := a.m["properties"].(map[string]any); ok {
			for _, k := range []string{"lastModifiedAt", "timeCreated", "diskState", "lastOwnershipUpdateTime", "instanceView", "provisioningState", "protectedItemsCount"} {
				delete(p, k)
			}
		}
		b, _ := json.Marshal(a.m)
		return fmt.Sprintf("%d %s", a.status, b)
	}
	for _, w := range witnesses {
		before[w] = read(w)
	}

	for _, c := range cases {
		var body any
		if err := json.Unmarshal([]byte(c.body), &body); err != nil {
			t.Fatalf("%s: test body: %v", c.name, err)
		}
		ok := wvSend(t, e, hc, c.method, c.path, tok, []byte(c.body))
		if ok.status >= 300 {
			t.Errorf("%s: the valid body: %d %s", c.name, ok.status, ok.body)
			continue
		}
		wvSettle(t, e, hc, tok, c.name+" (valid)", ok)
		n := 0
		// The principal first, then the admin, whom no 403 stops before
		// the checks of what the ids name.
		for _, caller := range []string{tok, admin} {
			for _, p := range fieldPaths(body, nil) {
				orig := valueAt(body, p)
				for _, m := range mutationsOf(p, orig, e.Sub) {
					b, _ := json.Marshal(withField(body, p, m))
					path := c.path
					if c.fresh != "" {
						name := fmt.Sprintf("%s%d", c.fresh, n)
						b, path = bytes.ReplaceAll(b, []byte(c.fresh), []byte(name)), strings.ReplaceAll(path, c.fresh, name)
					}
					// A refused write of an existing resource changes nothing.
					var was string
					if c.method != "POST" && c.fresh == "" {
						was = read(path)
					}
					a := wvSend(t, e, hc, c.method, path, caller, b)
					n++
					what := fmt.Sprintf("%s: %s %s", c.name, pathString(p), m.what)
					if caller == admin {
						what += " (admin)"
					}
					switch {
					case a.status >= 500 || a.m == nil && len(a.body) > 0:
						t.Errorf("%s: %d %.300s", what, a.status, a.body)
					case a.status >= 400:
						if was != "" {
							if now := read(path); now != was {
								t.Errorf("%s: refused (%d), and the resource changed:\n was %s\n now %s", what, a.status, was, now)
							}
						}
						if code, _ := testserver.Field(a.m, "error.code").(string); code == "" {
							t.Errorf("%s: %d without an error code: %.300s", what, a.status, a.body)
						} else if msg, _ := testserver.Field(a.m, "error.message").(string); msg == "" {
							t.Errorf("%s: %d %s without a message", what, a.status, code)
						}
					case wvRefused(a.m):
						// a validation's answer: 200 with what is wrong
					default:
						if m.foreign && caller == tok && !containsFold(c.unlinked, orig.(string)) {
							t.Errorf("%s: accepted (%d) naming %v: %.300s", what, a.status, m.value, a.body)
						}
						if (m.missing || m.what == "id of another type") && !containsFold(c.noMissing, orig.(string)) && !containsFold(c.unserved, orig.(string)) {
							t.Errorf("%s: accepted (%d) naming %v", what, a.status, m.value)
						}
						wvSettle(t, e, hc, tok, what, a)
						// What an accepted write stored reads back, alone and listed.
						if c.method != "POST" {
							base, q, _ := strings.Cut(path, "?")
							for _, u := range []string{path, base[:strings.LastIndex(base, "/")] + "?" + q} {
								if g := get(u); g.status >= 500 || g.m == nil {
									t.Errorf("%s: accepted (%d), then GET %s: %d %.300s", what, a.status, u, g.status, g.body)
								}
							}
						}
						if m.region && c.method == "PUT" {
							if g := get(path); !strings.EqualFold(fmt.Sprint(g.m["location"]), "eastus") {
								t.Errorf("%s: accepted (%d), and the resource is in %v", what, a.status, g.m["location"])
							}
						}
					}
				}
			}
		}
		t.Logf("%s: %d requests", c.name, n)
		// The valid body at every sixth api-version of its namespace
		// (shapes differ; a version without the type is a 400).
		base, _, _ := strings.Cut(c.path, "?")
		for i, v := range wvVersions(base) {
			if i%6 != 0 {
				continue
			}
			a := wvSend(t, e, hc, c.method, base+"?api-version="+v, admin, []byte(c.body))
			what := fmt.Sprintf("%s at %s", c.name, v)
			switch {
			case a.status >= 500 || a.m == nil && len(a.body) > 0:
				t.Errorf("%s: %d %.300s", what, a.status, a.body)
			case a.status >= 400:
				if code, _ := testserver.Field(a.m, "error.code").(string); code == "" {
					t.Errorf("%s: %d without an error code: %.300s", what, a.status, a.body)
				}
			default:
				wvSettle(t, e, hc, admin, what, a)
			}
		}
		wvJobsEnd(t, e, hc, admin, dpVault, rsVault)
		for _, w := range witnesses {
			// The case's target and its parents (a config resource shows
			// in its vault) may change.
			wp, cp := strings.ToLower(strings.SplitN(w, "?", 2)[0]), strings.ToLower(strings.SplitN(c.path, "?", 2)[0])
			if strings.HasPrefix(wp, cp) || strings.HasPrefix(cp, wp) {
				before[w] = read(w)
				continue
			}
			if now := read(w); now != before[w] {
				t.Errorf("after %s: %s\n was %s\n now %s", c.name, w, before[w], now)
				before[w] = now
			}
		}
	}
	// A day of schedules over what the writes left (policies, items,
	// instances): every job they start ends, and the server still answers.
	if a := wvSend(t, e, hc, "POST", "/providers/Safehold.Admin/clock/advance?api-version=2024-01-01", admin, []byte(`{"duration":"P1D"}`)); a.status != 200 {
		t.Fatalf("advance the clock: %d %.300s", a.status, a.body)
	}
	wvJobsEnd(t, e, hc, admin, dpVault, rsVault, fz+"Microsoft.DataProtection/backupVaults/fzbv", fz+"Microsoft.RecoveryServices/vaults/fzrv")
	for _, w := range witnesses {
		if g := get(w); g.status != 200 {
			t.Errorf("%s after a day: %d %.300s", w, g.status, g.body)
		}
	}
}

// wvJobsEnd waits until none of the jobs of vaults (Backup and Recovery
// Services vault ids) is in progress, and fails the test if one still is
// after three minutes.
func wvJobsEnd(t *testing.T, e *testserver.Env, hc *http.Client, token string, vaults ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for _, v := range vaults {
		av := "?api-version=2023-04-01"
		if strings.Contains(strings.ToLower(v), "microsoft.dataprotection") {
			av = "?api-version=2024-04-01"
		}
		for {
			a := wvSend(t, e, hc, "GET", v+"/backupJobs"+av, token, nil)
			if a.status != 200 {
				t.Fatalf("jobs of %s: %d %.300s", v, a.status, a.body)
			}
			running := ""
			jobs, _ := a.m["value"].([]any)
			for _, j := range jobs {
				j, _ := j.(map[string]any)
				if st, _ := testserver.Field(j, "properties.status").(string); st == "InProgress" || st == "Cancelling" {
					running = fmt.Sprint(j["id"])
				}
			}
			if running == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s still running after three minutes", running)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// wvVersions are the api-versions of the namespace path's provider.
func wvVersions(path string) []string {
	p := strings.ToLower(path)
	switch {
	case strings.Contains(p, "/microsoft.dataprotection/"):
		return arm.APIVersionsDataProtection
	case strings.Contains(p, "/microsoft.recoveryservices/"):
		return arm.APIVersionsRecoveryServices
	case strings.Contains(p, "/microsoft.compute/"):
		return arm.APIVersionsCompute
	case strings.Contains(p, "/microsoft.storage/"):
		return arm.APIVersionsStorage
	case strings.Contains(p, "/microsoft.authorization/"):
		return arm.APIVersionsAuthorization
	}
	return arm.APIVersionsResources
}

// wvRefused reports whether a 200 answer of a validation
// (backupValidateOperation) lists what is wrong with the request.
func wvRefused(m map[string]any) bool {
	rs, _ := testserver.Field(m, "validateOperationResponse.validationResults").([]any)
	return len(rs) > 0
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// wvSettle waits for an accepted operation to end (its
// Azure-AsyncOperation status no longer InProgress), and fails the test if
// it has not after two minutes.
func wvSettle(t *testing.T, e *testserver.Env, hc *http.Client, tok, what string, a wvAnswer) {
	t.Helper()
	u := a.header.Get("Azure-AsyncOperation")
	if u == "" || a.status != http.StatusAccepted && a.status != http.StatusCreated && a.status != http.StatusOK {
		return
	}
	path := strings.TrimPrefix(u, e.Conn.ARMEndpoint)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s := wvSend(t, e, hc, "GET", path, tok, nil)
		st, _ := s.m["status"].(string)
		if s.status != 200 {
			t.Errorf("%s: its operation %s: %d %.300s", what, path, s.status, s.body)
			return
		}
		if st != "" && st != "InProgress" && st != "Running" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: its operation has not ended after two minutes: %.300s", what, s.body)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLocationDoesNotMove: a PUT of an existing resource naming another
// region is refused (4xx naming its region or the new one) and the resource
// stays where it is, whatever its provider (a snapshot answered 200 and
// stayed in its region).
func TestLocationDoesNotMove(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	p := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/"
	disk := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
	for _, c := range []struct{ path, body string }{
		{"Microsoft.Compute/disks/d1?api-version=2024-03-02", `{"location":"%s","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}`},
		{"Microsoft.Compute/snapshots/s1?api-version=2024-03-02", `{"location":"%s","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"` + disk + `"}}}`},
		{"Microsoft.Compute/diskAccesses/a1?api-version=2024-03-02", `{"location":"%s"}`},
		{"Microsoft.Compute/galleries/g1?api-version=2023-07-03", `{"location":"%s"}`},
		{"Microsoft.Compute/virtualMachines/v1?api-version=2024-11-01", `{"location":"%s","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},"storageProfile":{"osDisk":{"createOption":"Attach","osType":"Linux","managedDisk":{"id":"` + disk + `"}}}}}`},
		{"Microsoft.Storage/storageAccounts/sa1move?api-version=2023-01-01", `{"location":"%s","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`},
		{"Microsoft.RecoveryServices/vaults/rv?api-version=2023-04-01", `{"location":"%s","sku":{"name":"Standard"}}`},
		{"Microsoft.DataProtection/backupVaults/bv?api-version=2024-04-01", `{"location":"%s","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`},
		{"Microsoft.DataProtection/resourceGuards/g?api-version=2024-04-01", `{"location":"%s","properties":{}}`},
	} {
		resp, m := e.Do("PUT", p+c.path, fmt.Sprintf(c.body, "westus"))
		if resp.StatusCode >= 300 {
			t.Fatalf("PUT %s: %d %v", c.path, resp.StatusCode, m)
		}
		if u := resp.Header.Get("Azure-AsyncOperation"); u != "" {
			e.Poll(u)
		}
		resp, m = e.Do("PUT", p+c.path, fmt.Sprintf(c.body, "East US"))
		msg := strings.ToLower(fmt.Sprint(testserver.Field(m, "error.message")))
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || testserver.ErrorCode(m) == "" || !strings.Contains(msg, "east us") && !strings.Contains(msg, "westus") {
			t.Errorf("PUT %s in East US: want a 4xx naming a region, got %d %v", c.path, resp.StatusCode, m)
		}
		if _, g := e.Do("GET", p+c.path, nil); g["location"] != "westus" {
			t.Errorf("%s after the PUT in East US: location %v", c.path, g["location"])
		}
	}
}
