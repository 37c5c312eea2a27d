package dataprotection_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestValidateForModifyBackup: validateForModifyBackup (the api-versions
// since 2023-08-01-preview) checks a change of an existing backup instance
// as its PUT would and changes nothing: a new policy of the vault
// validates (202, the operation Succeeded, its result an
// OperationJobExtendedInfo) and the instance keeps its own; another disk
// or snapshot resource group is 400 naming the field, a missing instance
// 404, a missing body 400; without the vault identity's roles the
// operation ends Failed with UserErrorMissingRequiredPermissions. It
// answered 404 InvalidResourceType, so newer clients could not validate a
// change before making it.
func TestValidateForModifyBackup(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	const v = "?api-version=2025-07-01"
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	bi := vault + "/backupInstances/" + dv.Instance
	if resp, m := e.Do("PUT", vault+"/backupPolicies/other"+v, fmt.Sprintf(diskPolicyJSON, "PT8H", "P7D", "P30D")); resp.StatusCode != 200 {
		t.Fatalf("second policy: %d %v", resp.StatusCode, m)
	}
	resp, cur := e.Do("GET", bi+v, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("instance: %d %v", resp.StatusCode, cur)
	}
	props := cur["properties"].(map[string]any)
	oldPolicy := testserver.Field(props, "policyInfo.policyId").(string)
	with := func(change func(p map[string]any)) map[string]any {
		p := map[string]any{}
		for k, x := range props {
			p[k] = x
		}
		pi := map[string]any{}
		for k, x := range props["policyInfo"].(map[string]any) {
			pi[k] = x
		}
		p["policyInfo"] = pi
		change(p)
		return map[string]any{"backupInstance": p}
	}
	toOther := with(func(p map[string]any) { p["policyInfo"].(map[string]any)["policyId"] = vault + "/backupPolicies/other" })

	resp, m := e.Do("POST", bi+"/validateForModifyBackup"+v, toOther)
	if resp.StatusCode != 202 || resp.Header.Get("Azure-AsyncOperation") == "" || resp.Header.Get("Location") == "" {
		t.Fatalf("validateForModifyBackup: %d %v %v", resp.StatusCode, resp.Header, m)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("validateForModifyBackup's operation: %v", st)
	}
	if r, res := e.Do("GET", resp.Header.Get("Location"), nil); r.StatusCode != 200 || res["objectType"] != "OperationJobExtendedInfo" {
		t.Fatalf("validateForModifyBackup's result: %d %v", r.StatusCode, res)
	}
	if _, now := e.Do("GET", bi+v, nil); testserver.Field(now, "properties.policyInfo.policyId") != oldPolicy {
		t.Fatalf("the validation changed the instance: %v", now)
	}

	other, _ := fixture.Disk(t, e, "disk-rg", "data2", 1)
	for _, c := range []struct {
		name   string
		path   string
		body   any
		status int
		want   string
	}{
		{"another disk", bi, with(func(p map[string]any) {
			p["dataSourceInfo"] = map[string]any{"objectType": "Datasource", "datasourceType": "Microsoft.Compute/disks", "resourceID": other}
			delete(p, "dataSourceSetInfo")
		}), 400, "backupInstance.dataSourceInfo.resourceID"},
		{"another snapshot group", bi, with(func(p map[string]any) {
			p["policyInfo"].(map[string]any)["policyParameters"] = map[string]any{"dataStoreParametersList": []any{map[string]any{
				"objectType": "AzureOperationalStoreParameters", "dataStoreType": "OperationalStore", "resourceGroupId": dv.TargetRG}}}
		}), 400, "resourceGroupId"},
		{"a policy of no vault", bi, with(func(p map[string]any) { p["policyInfo"].(map[string]any)["policyId"] = vault + "/backupPolicies/nope" }), 404, "nope"},
		{"no body", bi, map[string]any{}, 400, "backupInstance"},
		{"no instance", vault + "/backupInstances/nope", toOther, 404, "nope"},
	} {
		resp, m := e.Do("POST", c.path+"/validateForModifyBackup"+v, c.body)
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %v, want %d naming %q", c.name, resp.StatusCode, m, c.status, c.want)
		}
	}

	_, vm := e.Do("GET", vault+v, nil)
	principal, _ := testserver.Field(vm, "identity.principalId").(string)
	if revokeAll(t, e, principal) == 0 {
		t.Fatal("the vault identity had no roles")
	}
	resp, m = e.Do("POST", bi+"/validateForModifyBackup"+v, toOther)
	if resp.StatusCode != 202 {
		t.Fatalf("validateForModifyBackup without roles: %d %v", resp.StatusCode, m)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Failed" || testserver.Field(st, "error.code") != "UserErrorMissingRequiredPermissions" {
		t.Fatalf("validateForModifyBackup without roles: %v", st)
	}
}
