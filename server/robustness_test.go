package server_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

var paramRE = regexp.MustCompile(`\{\*?([^}]+)\}`)

// TestNoRouteAnswers5xxToBadInput sends every registered route bad and odd
// input — no body, malformed JSON, wrong JSON types, unknown names with
// ';', '%' and unicode, odd api-versions and query values — and requires a
// JSON answer below 500 for each: bad input gets an ARM error, never a
// panic or an internal error.
func TestNoRouteAnswers5xxToBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("sweeps every route")
	}
	e := testserver.Start(t)
	tok := testserver.Bearer(e.Token(nil))
	// A real resource group, so requests get past the first existence checks.
	e.Do("PUT", "/subscriptions/"+e.Sub+"/resourcegroups/rg?api-version=2021-04-01", `{"location":"westus"}`, tok)

	bodies := []string{"", "{", "[]", "null", "{}", `{"properties":7}`, `{"properties":{"objectType":"Nope"},"location":5}`,
		`{"location":"westus","properties":{"datasourceInfo":null,"policyInfo":{"policyId":""},"protectedItemType":"Microsoft.Compute/virtualMachines","policyId":"x"},"identity":{"type":"Bogus"}}`,
		`{"objectType":"AzureBackupRecoveryPointBasedRestoreRequest","restoreTargetInfo":{"objectType":"restoreTargetInfo"},"recoveryPointId":"x"}`,
		`{"properties":{"objectType":"IaasVMRestoreRequest","recoveryPointId":"x","recoveryType":"RestoreDisks"}}`,
		`{"properties":{"creationData":{"createOption":"Weird"},"diskSizeGB":-1},"location":"westus"}`}
	names := []string{"rg", "x", "a;b;c;d", "IaasVMContainer;iaasvmcontainerv2;rg;vm", "VM;iaasvmcontainerv2;rg;vm", "ünï", "%25", "00000000-0000-0000-0000-000000000000"}
	versions := []string{"", "2016-12-01", "2021-01-01", "2024-04-01", "bogus"}
	routes := e.Server.Router.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	n := 0
	for _, rt := range routes {
		for ni, name := range names {
			path := paramRE.ReplaceAllStringFunc(rt.Pattern, func(p string) string {
				k := strings.ToLower(paramRE.FindStringSubmatch(p)[1])
				switch {
				case strings.HasPrefix(p, "{*"):
					return "subscriptions/" + e.Sub + "/resourceGroups/rg"
				case strings.Contains(k, "subscription"):
					return e.Sub
				case strings.Contains(k, "resourcegroup"):
					return "rg"
				case strings.Contains(k, "location"):
					return "westus"
				case strings.Contains(k, "fabric"):
					return "Azure"
				}
				return strings.ReplaceAll(pathEscape(name), "/", "%2F")
			})
			path = strings.Replace(path, "//", "/", -1)
			for bi, body := range bodies {
				if rt.Method == "GET" || rt.Method == "HEAD" || rt.Method == "DELETE" {
					if bi > 0 {
						break
					}
				}
				v := versions[(ni+bi)%len(versions)]
				q := "?api-version=" + v + "&$filter=" + queryEscape("status eq 'x' and startTime eq 'notatime'") + "&$skipToken=zz&$top=-1"
				if v == "" {
					q = "?$filter=bad"
				}
				var b any
				if body != "" {
					b = body
				}
				e.Do(rt.Method, path+q, b, tok) // fails on a 5xx or a non-JSON answer
				n++
			}
		}
	}
	t.Logf("%d routes, %d requests", len(routes), n)
}
