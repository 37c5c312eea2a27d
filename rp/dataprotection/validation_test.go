package dataprotection_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestPolicyValidationNamesFields sends bad disk policies and checks each
// 400 names the field, the value given and the values allowed.
func TestPolicyValidationNamesFields(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/vault1"
	const v = "?api-version=2023-11-01"
	if resp, m := e.Do("PUT", vault+v, `{"location":"westus","properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`); resp.StatusCode != 201 {
		t.Fatalf("vault: %d %v", resp.StatusCode, m)
	}
	good := fmt.Sprintf(diskPolicyJSON, "PT4H", "P7D", "P30D")
	for _, c := range []struct {
		name     string
		from, to string
		want     []string
	}{
		{"period", "/PT4H", "/PT3H", []string{"policyRules[0].trigger.schedule.repeatingTimeIntervals[0]", "'PT3H'", "'PT1H', 'PT2H', 'PT4H', 'PT6H', 'PT8H', 'PT12H', 'P1D'"}},
		{"interval shape", "R/2021-05-19T06:00:00+00:00/PT4H", "2021-05-19T06:00:00+00:00/PT4H", []string{"repeatingTimeIntervals[0]", "R/<start date-time>/<period>"}},
		{"start time", "2021-05-19T06:00:00+00:00", "06:00:00", []string{"repeatingTimeIntervals[0]", "06:00:00", "date-time"}},
		{"time zone", `"timeZone": "UTC"`, `"timeZone": "Mars/Olympus"`, []string{"trigger.schedule.timeZone", "Mars/Olympus"}},
		{"tag", `"tagName": "Daily"`, `"tagName": "Monthly"`, []string{"taggingCriteria[1].tagInfo.tagName", "'Monthly'", "'Default', 'Daily', 'Weekly'"}},
		{"criteria", `"FirstOfDay"`, `"FirstOfWeek"`, []string{"criteria[0].absoluteCriteria[0]", "'FirstOfWeek'", "'FirstOfDay'"}},
		{"duration syntax", `"duration": "P30D"`, `"duration": "P30X"`, []string{"policyRules[2].lifecycles[0].deleteAfter.duration", "'P30X'"}},
		{"duration case", `"duration": "P30D"`, `"duration": "p30d"`, []string{"policyRules[2].lifecycles[0].deleteAfter.duration", "'p30d'", "upper case ('P30D')"}},
		{"duration designator case", `"duration": "P30D"`, `"duration": "P30d"`, []string{"policyRules[2].lifecycles[0].deleteAfter.duration", "'P30d'", "'P30D'"}},
		{"duration range", `"duration": "P30D"`, `"duration": "P2Y"`, []string{"policyRules[2].lifecycles[0].deleteAfter.duration", "'P2Y'", "one year"}},
		{"snapshot limit", `"duration": "P7D"`, `"duration": "P90D"`, []string{"policyRules[1].lifecycles[0].deleteAfter.duration", "limit is 450"}},
		{"datasource", `[ "Microsoft.Compute/disks" ]`, `[ "Microsoft.Storage/storageAccounts/blobServices" ]`, []string{"datasourceTypes[0]", "Microsoft.Storage/storageAccounts/blobServices", "'Microsoft.Compute/disks'"}},
		{"data store", `"dataStore": { "objectType": "DataStoreInfoBase", "dataStoreType": "OperationalStore" }`, `"dataStore": { "objectType": "DataStoreInfoBase", "dataStoreType": "VaultStore" }`, []string{"policyRules[0].dataStore.dataStoreType", "'VaultStore'", "'OperationalStore'"}},
		{"backup type", `"backupType": "Incremental"`, `"backupType": "Full"`, []string{"backupParameters.backupType", "'Full'", "'Incremental'"}},
		{"retention rule name", `"name": "Daily"`, `"name": "Hourly"`, []string{"policyRules[2].name", "'Hourly'", "'Default', 'Daily', 'Weekly'"}},
		{"missing default", `"isDefault": true,  "taggingPriority": 99, "tagInfo": { "tagName": "Default" }`, `"isDefault": false,  "taggingPriority": 99, "tagInfo": { "tagName": "Default" }`, []string{"taggingCriteria[0].isDefault", "'Default'"}},
		{"rule type", `"objectType": "AzureRetentionRule", "name": "Daily"`, `"objectType": "AzureArchiveRule", "name": "Daily"`, []string{"policyRules[2].objectType", "'AzureArchiveRule'", "'AzureBackupRule', 'AzureRetentionRule'"}},
		{"copy settings", `"targetDataStoreCopySettings": []`, `"targetDataStoreCopySettings": [{"dataStore":{"objectType":"DataStoreInfoBase","dataStoreType":"VaultStore"},"copyAfter":{"objectType":"ImmediateCopyOption"}}]`, []string{"targetDataStoreCopySettings", "not supported for disks"}},
	} {
		body := strings.Replace(good, c.from, c.to, 1)
		if body == good {
			t.Fatalf("%s: replacement did not apply", c.name)
		}
		resp, m := e.Do("PUT", vault+"/backupPolicies/bad"+v, body)
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d %v", c.name, resp.StatusCode, m)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q lacks %q", c.name, msg, w)
			}
		}
		if target, _ := testserver.Field(m, "error.target").(string); target == "" {
			t.Errorf("%s: no error target", c.name)
		}
	}
	// A duration with white space around it is stored without it, as
	// Azure's parser reads it (it was stored as written).
	spaced := strings.Replace(good, `"duration": "P30D"`, `"duration": " P30D\t"`, 1)
	if resp, m := e.Do("PUT", vault+"/backupPolicies/spaced"+v, spaced); resp.StatusCode != 200 {
		t.Fatalf("policy with ' P30D\\t': %d %v", resp.StatusCode, m)
	}
	_, sm := e.Do("GET", vault+"/backupPolicies/spaced"+v, nil)
	rules, _ := testserver.Field(sm, "properties.policyRules").([]any)
	var d any
	if len(rules) == 3 {
		rule, _ := rules[2].(map[string]any)
		lcs, _ := rule["lifecycles"].([]any)
		if len(lcs) == 1 {
			lc, _ := lcs[0].(map[string]any)
			d = testserver.Field(lc, "deleteAfter.duration")
		}
	}
	if d != "P30D" {
		t.Errorf("stored duration %q, want P30D: %v", d, sm)
	}
	// Weekly tags and P1D schedules are accepted; the echo fills tag ids.
	weekly := strings.Replace(strings.Replace(good, "/PT4H", "/P1D", 1), `"criteria": [ { "objectType": "ScheduleBasedBackupCriteria", "absoluteCriteria": [ "FirstOfDay" ] } ] } ] } },`,
		`"criteria": [ { "objectType": "ScheduleBasedBackupCriteria", "absoluteCriteria": [ "FirstOfDay" ] } ] },
		  { "isDefault": false, "taggingPriority": 20, "tagInfo": { "tagName": "Weekly" }, "criteria": [ { "objectType": "ScheduleBasedBackupCriteria", "absoluteCriteria": [ "FirstOfWeek" ] } ] } ] } },
		{ "objectType": "AzureRetentionRule", "name": "Weekly", "isDefault": false, "lifecycles": [ { "sourceDataStore": { "objectType": "DataStoreInfoBase", "dataStoreType": "OperationalStore" }, "deleteAfter": { "objectType": "AbsoluteDeleteOption", "duration": "P12W" } } ] },`, 1)
	resp, m := e.Do("PUT", vault+"/backupPolicies/weekly"+v, weekly)
	if resp.StatusCode != 200 || !strings.Contains(fmt.Sprint(m), "Weekly_") {
		t.Fatalf("weekly policy: %d %v", resp.StatusCode, m)
	}
}

// TestRequestValidationNamesFields covers vault, instance and action errors.
func TestRequestValidationNamesFields(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg", "snapshot-rg")
	diskID := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
	newDisk(t, e, diskID, 4<<20, 1)
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/vault1"
	const v = "?api-version=2024-04-01"
	check := func(name, method, path, body string, status int, want ...string) {
		t.Helper()
		resp, m := e.Do(method, path, body)
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d: %v", name, resp.StatusCode, status, m)
			return
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q lacks %q", name, msg, w)
			}
		}
		// A 400 about a field names it as the error's target.
		if status == 400 && len(want) > 0 && strings.Contains(want[0], ".") {
			if target, _ := testserver.Field(m, "error.target").(string); !strings.HasSuffix(target, want[0]) {
				t.Errorf("%s: error target %q, want %q", name, target, want[0])
			}
		}
	}
	check("no storage settings", "PUT", vault+v, `{"location":"westus","properties":{}}`, 400, "properties.storageSettings")
	check("bad redundancy", "PUT", vault+v, `{"location":"westus","properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"Triple"}]}}`, 400, "storageSettings[0].type", "'Triple'", "'LocallyRedundant'")
	check("identity", "PUT", vault+v, `{"location":"westus","identity":{"type":"Magic"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`, 400, "identity.type", "'Magic'", "'SystemAssigned'")
	check("no location", "PUT", vault+v, `{"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`, 400, "location")
	check("vault", "PUT", vault+v, `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`, 201)
	check("policy", "PUT", vault+"/backupPolicies/p1"+v, fmt.Sprintf(diskPolicyJSON, "PT4H", "P7D", "P30D"), 200)
	bi := func(resourceID, policy, rg string) string {
		return `{"properties":{"objectType":"BackupInstance","dataSourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":"` + resourceID + `"},
			"policyInfo":{"policyId":"` + policy + `","policyParameters":{"dataStoreParametersList":[{"objectType":"AzureOperationalStoreParameters","dataStoreType":"OperationalStore","resourceGroupId":"` + rg + `"}]}}}}`
	}
	pol, snapRG := vault+"/backupPolicies/p1", "/subscriptions/"+e.Sub+"/resourceGroups/snapshot-rg"
	check("not a disk", "PUT", vault+"/backupInstances/b1"+v, bi("/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s", pol, snapRG), 400, "properties.dataSourceInfo.resourceID")
	check("no such disk", "PUT", vault+"/backupInstances/b1"+v, bi(diskID+"x", pol, snapRG), 404, "properties.dataSourceInfo.resourceID")
	check("no such policy", "PUT", vault+"/backupInstances/b1"+v, bi(diskID, pol+"x", snapRG), 404, "properties.policyInfo.policyId")
	check("no snapshot RG", "PUT", vault+"/backupInstances/b1"+v, bi(diskID, pol, snapRG+"x"), 400, "dataStoreParametersList[0].resourceGroupId", "does not exist")
	check("bad snapshot RG", "PUT", vault+"/backupInstances/b1"+v, bi(diskID, pol, "snapshot-rg"), 400, "dataStoreParametersList[0].resourceGroupId", "'snapshot-rg'")
	check("no body", "POST", vault+"/validateForBackup"+v, `{}`, 400, "backupInstance")
	// Configure (no RBAC roles: the operation fails, the instance records the error).
	resp, _ := e.Do("PUT", vault+"/backupInstances/b1"+v, bi(diskID, pol, snapRG))
	if resp.StatusCode != 201 {
		t.Fatalf("instance: %d", resp.StatusCode)
	}
	st := e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	if st["status"] != "Failed" || testserver.Field(st, "error.code") != "UserErrorMissingRequiredPermissions" {
		t.Fatalf("configure without roles: %v", st)
	}
	_, m := e.Do("GET", vault+"/backupInstances/b1"+v, nil)
	if testserver.Field(m, "properties.currentProtectionState") != "ConfiguringProtectionFailed" || testserver.Field(m, "properties.protectionErrorDetails.code") != "UserErrorMissingRequiredPermissions" {
		t.Fatalf("failed instance: %v", m)
	}
	check("ad-hoc in failed state", "POST", vault+"/backupInstances/b1/backup"+v, `{"backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`, 400, "ConfiguringProtectionFailed")
	check("ad-hoc rule", "POST", vault+"/backupInstances/b1/backup"+v, `{"backupRuleOptions":{"ruleName":"Nope"}}`, 400, "backupRuleOptions.ruleName", "'Nope'", "'BackupHourly'")
	check("restore point", "POST", vault+"/backupInstances/b1/restore"+v, `{"objectType":"AzureBackupRecoveryPointBasedRestoreRequest","recoveryPointId":"nope","sourceDataStoreType":"OperationalStore","restoreTargetInfo":{"objectType":"restoreTargetInfo","recoveryOption":"FailIfExists"}}`, 400, "recoveryPointId", "nope")
	check("restore type", "POST", vault+"/backupInstances/b1/restore"+v, `{"objectType":"AzureBackupRecoveryTimeBasedRestoreRequest"}`, 400, "objectType", "AzureBackupRecoveryTimeBasedRestoreRequest", "'AzureBackupRecoveryPointBasedRestoreRequest'")
	check("recovery point filter", "GET", vault+"/backupInstances/b1/recoveryPoints"+v+"&$filter=startDate%20eq%20'yesterday'", "", 400, "yesterday")
	check("unknown job", "GET", vault+"/backupJobs/00000000-0000-0000-0000-000000000000"+v, "", 404, "00000000-0000-0000-0000-000000000000")
	// Granting the roles and calling sync configures the instance.
	_, vm := e.Do("GET", vault+v, nil)
	principal := testserver.Field(vm, "identity.principalId").(string)
	assign(t, e, diskID, roleDiskBackupReader, principal)
	assign(t, e, snapRG, roleDiskSnapshotContributor, principal)
	resp, m = e.Do("POST", vault+"/backupInstances/b1/sync"+v, `{"syncType":"Default"}`)
	if resp.StatusCode != 202 {
		t.Fatalf("sync: %d %v", resp.StatusCode, m)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("sync status: %v", st)
	}
	if _, m = e.Do("GET", vault+"/backupInstances/b1"+v, nil); testserver.Field(m, "properties.currentProtectionState") != "ProtectionConfigured" || testserver.Field(m, "properties.protectionErrorDetails") != nil {
		t.Fatalf("instance after sync: %v", m)
	}
	check("policy in use", "DELETE", vault+"/backupPolicies/p1"+v, "", 400, "b1")
	check("vault with instances", "DELETE", vault+v, "", 400, "b1")
	check("api-version", "GET", vault+"?api-version=2019-01-01", "", 400, "2019-01-01")
}

// TestNothingAnswers500 sends malformed bodies to every write endpoint.
func TestNothingAnswers500(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/vault1"
	const v = "?api-version=2021-01-01"
	e.Do("PUT", vault+v, `{"location":"westus","properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`)
	paths := []struct{ method, path string }{
		{"PUT", vault}, {"PATCH", vault}, {"PUT", vault + "/backupPolicies/p"}, {"POST", vault + "/validateForBackup"},
		{"PUT", vault + "/backupInstances/b"}, {"POST", vault + "/backupInstances/b/backup"}, {"POST", vault + "/backupInstances/b/restore"},
		{"POST", vault + "/backupInstances/b/validateRestore"}, {"POST", vault + "/backupInstances/b/stopProtection"}, {"POST", vault + "/backupInstances/b/sync"},
		{"POST", "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.DataProtection/locations/westus/checkNameAvailability"},
	}
	bodies := []string{"", "{", "null", "[]", `{"properties":[]}`, `{"properties":{"policyRules":[{"objectType":5}]}}`, `{"properties":{"policyRules":[{}]}}`,
		`{"properties":{"objectType":"BackupPolicy","datasourceTypes":["Microsoft.Compute/disks"],"policyRules":[{"objectType":"AzureBackupRule","name":"x"}]}}`,
		`{"backupInstance":{}}`, `{"backupInstance":{"dataSourceInfo":{}}}`, `{"properties":{"dataSourceInfo":{"resourceID":"x"}}}`, `{"restoreTargetInfo":{}}`,
		`{"restoreRequestObject":{}}`, `{"backupRuleOptions":{}}`, `{"identity":{"type":"None"}}`, `{"location":"westus","properties":{"storageSettings":[{}]}}`}
	for _, p := range paths {
		for _, b := range bodies {
			resp, m := e.Do(p.method, p.path+v, b)
			if resp.StatusCode >= 500 {
				t.Errorf("%s %s %q: %d %v", p.method, p.path, b, resp.StatusCode, m)
			}
		}
	}
	for _, p := range []string{vault + "/backupJobs/x", vault + "/backupInstances/b/recoveryPoints", vault + "/backupInstances/b/recoveryPoints/x",
		vault + "/operationStatus/x", "/subscriptions/" + e.Sub + "/providers/Microsoft.DataProtection/locations/westus/operationResults/x"} {
		if resp, m := e.Do("GET", p+v, nil); resp.StatusCode >= 500 || resp.StatusCode == 200 {
			t.Errorf("GET %s: %d %v", p, resp.StatusCode, m)
		}
	}
}

// TestResourceGroupDeleteCascades deletes the vault's resource group:
// refused while the vault holds an instance, it goes once the instance is
// deleted (its snapshots with it), and the disk is free to protect again.
func TestResourceGroupDeleteCascades(t *testing.T) {
	e := testserver.Start(t)
	biPath, _, diskID := protectDisk(t, e, "PT4H", "P7D", "P30D")
	const v = "?api-version=2024-04-01"
	resp, _ := e.Do("POST", biPath+"/backup"+v, `{"backupRuleOptions":{"ruleName":"BackupHourly"}}`)
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("backup: %v", st)
	}
	snapRG := "/subscriptions/" + e.Sub + "/resourceGroups/snapshot-rg"
	if snaps, _ := e.Server.Compute.ListSnapshots(e.Ctx(), snapRG); len(snaps) != 1 {
		t.Fatalf("snapshots: %d", len(snaps))
	}
	check := "/subscriptions/" + e.Sub + "/resourceGroups/vault-rg/providers/Microsoft.DataProtection/locations/westus/checkNameAvailability" + v
	if _, m := e.Do("POST", check, `{"name":"v1","type":"Microsoft.DataProtection/BackupVaults"}`); m["nameAvailable"] != false || m["reason"] != "AlreadyExists" {
		t.Fatalf("checkNameAvailability: %v", m)
	}
	// While the vault holds the instance the group's delete fails and
	// deletes nothing (as the vault's own delete is refused).
	if st, m := e.DeleteGroup("vault-rg"); st != 409 || testserver.ErrorCode(m) != "ResourceGroupDeletionBlocked" || !strings.Contains(testserver.Field(m, "error.message").(string), "UserErrorVaultHasBackupInstances") {
		t.Fatalf("delete the group of a vault with an instance: %d %v", st, m)
	}
	if snaps, _ := e.Server.Compute.ListSnapshots(e.Ctx(), snapRG); len(snaps) != 1 {
		t.Fatalf("snapshots after the refused group delete: %d", len(snaps))
	}
	// Soft delete off and the instance deleted, the group goes.
	patchVault(t, e, v1Path(e)+v, `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"Off"}}}}`)
	resp, m := e.Do("DELETE", biPath+v, nil)
	if resp.StatusCode != 202 {
		t.Fatalf("delete the instance: %d %v", resp.StatusCode, m)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("delete the instance: %v", st)
	}
	if st, m := e.DeleteGroup("vault-rg"); st != 200 {
		t.Fatalf("delete the group of an empty vault: %d %v", st, m)
	}
	if snaps, _ := e.Server.Compute.ListSnapshots(e.Ctx(), snapRG); len(snaps) != 0 {
		t.Fatalf("snapshots after group delete: %d", len(snaps))
	}
	if r, _ := e.Do("GET", diskID+"/providers/Microsoft.DataProtection/backupInstances"+v, nil); r.StatusCode != 200 {
		t.Fatalf("extension list: %d", r.StatusCode)
	} else if _, m := e.Do("GET", diskID+"/providers/Microsoft.DataProtection/backupInstances"+v, nil); len(m["value"].([]any)) != 0 {
		t.Fatalf("disk still protected: %v", m)
	}
	// The name check needs its group (ARM's 404 for a group that is gone);
	// made again, the group has the vault's name free.
	if r, m := e.Do("POST", check, `{"name":"v1","type":"Microsoft.DataProtection/BackupVaults"}`); r.StatusCode != 404 || testserver.ErrorCode(m) != "ResourceGroupNotFound" {
		t.Fatalf("checkNameAvailability in the deleted group: %d %v", r.StatusCode, m)
	}
	e.ResourceGroups("vault-rg")
	if _, m := e.Do("POST", check, `{"name":"v1","type":"Microsoft.DataProtection/BackupVaults"}`); m["nameAvailable"] != true {
		t.Fatalf("checkNameAvailability after delete: %v", m)
	}
}
