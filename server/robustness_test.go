package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
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
	tok, err := e.Cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{e.Conn.ARMEndpoint + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	hc, _ := e.Conn.HTTPClient()
	// A real resource group, so requests get past the first existence checks.
	put := func(path, body string) {
		req, _ := http.NewRequest("PUT", e.Conn.ARMEndpoint+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	put("/subscriptions/"+e.Sub+"/resourcegroups/rg?api-version=2021-04-01", `{"location":"westus"}`)

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
				req, _ := http.NewRequest(rt.Method, e.Conn.ARMEndpoint+path+q, bytes.NewReader([]byte(body)))
				req.Header.Set("Authorization", "Bearer "+tok.Token)
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", rt.Method, path, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				n++
				if resp.StatusCode >= 500 {
					t.Errorf("%s %s%s body %q: %d %s", rt.Method, path, q, body, resp.StatusCode, b)
					continue
				}
				if len(b) > 0 && rt.Method != "HEAD" && !json.Valid(b) {
					t.Errorf("%s %s: non-JSON answer %q", rt.Method, path, b)
				}
			}
		}
	}
	t.Logf("%d routes, %d requests", len(routes), n)
}
