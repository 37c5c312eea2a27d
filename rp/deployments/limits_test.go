package deployments_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestHostileTemplatesEndWithAnError: template expressions are user
// input. An expression nested 700,000 deep (the stack of its evaluation
// overflowed: a fatal error, the process gone, and again at each restart
// as the operation ran again), substring with a length that overflows
// (a panic in a resource's goroutine: the process gone), padLeft to
// 10^8 characters (quadratic: the deployment never ended), variables
// doubling a string to 2^30 KB (the server's memory exhausted) and
// copy loops nested to 640,000 resources (compile never ended in the
// request) and a variable copy loop whose input names its own variable
// (endless recursion: the stack overflowed in the PUT) are each a 400 InvalidTemplate at the PUT or a deployment that
// ends Failed saying which limit, and the server deploys a plain template
// afterwards.
func TestHostileTemplatesEndWithAnError(t *testing.T) {
	e := testserver.StartWithGroups(t, "hostile-rg")
	dep := "/subscriptions/" + e.Sub + "/resourceGroups/hostile-rg/providers/Microsoft.Resources/deployments/"
	const v = "?api-version=2022-09-01"
	disk := func(name string, tags map[string]any) map[string]any {
		return map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": name, "location": "westus", "tags": tags,
			"sku": map[string]any{"name": "Standard_LRS"}, "properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}
	}
	body := func(vars map[string]any, res ...any) map[string]any {
		return map[string]any{"properties": map[string]any{"mode": "Incremental", "template": map[string]any{
			"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
			"variables": vars, "resources": res}}}
	}
	const deep = 700000
	doubling := map[string]any{"v0": "[padLeft('', 1000, 'x')]"}
	for i := 1; i <= 30; i++ {
		doubling[fmt.Sprintf("v%d", i)] = fmt.Sprintf("[concat(variables('v%d'), variables('v%d'))]", i-1, i-1)
	}
	nested := map[string]any{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "[concat('a', copyIndex())]", "copy": map[string]any{"name": "o", "count": 800},
		"resources": []any{map[string]any{"type": "blobServices", "apiVersion": "2023-01-01", "name": "[concat('b', copyIndex('i'))]", "copy": map[string]any{"name": "i", "count": 800}}}}
	for _, c := range []struct {
		what string
		body map[string]any
		want string // in the error, at the PUT or in the failed deployment's
	}{
		{"deep", body(nil, disk("deep", map[string]any{"a": "[" + strings.Repeat("not(", deep) + "true()" + strings.Repeat(")", deep) + "]"})), "24576"},
		{"substring", body(nil, disk("sub", map[string]any{"a": "[substring('abc', 1, 9223372036854775807)]"})), "substring"},
		{"padleft", body(nil, disk("pad", map[string]any{"a": "[padLeft('', 100000000, 'x')]"})), "padLeft"},
		{"doubling", body(doubling, disk("dbl", map[string]any{"a": "[variables('v30')]"})), "concat"},
		{"nested", body(nil, nested), "800"},
		{"varcopy", body(map[string]any{"copy": []any{map[string]any{"name": "x", "count": 2, "input": "[variables('x')]"}}}, disk("[concat('v', length(variables('x')))]", nil)), "circular"},
	} {
		resp, m := e.Do("PUT", dep+c.what+v, c.body, testserver.AnyStatus())
		var msg string
		switch resp.StatusCode {
		case http.StatusBadRequest:
			if testserver.ErrorCode(m) != "InvalidTemplate" {
				t.Errorf("%s: %v", c.what, m)
			}
			msg = fmt.Sprint(m)
		case http.StatusCreated:
			st := e.Poll(resp.Header.Get("Azure-AsyncOperation"))
			_, d := e.Do("GET", dep+c.what+v, nil)
			if st["status"] != "Failed" || testserver.Field(d, "properties.provisioningState") != "Failed" {
				t.Errorf("%s: the operation %v, the deployment %v", c.what, st, testserver.Field(d, "properties"))
			}
			msg = fmt.Sprint(testserver.Field(d, "properties.error"))
		default:
			t.Fatalf("%s: %d %v", c.what, resp.StatusCode, m)
		}
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: the error does not say %q: %.2000s", c.what, c.want, msg)
		}
	}
	resp, m := e.Do("PUT", dep+"plain"+v, body(map[string]any{"n": "[padLeft(string(7), 3, '0')]"}, disk("[concat('d', variables('n'))]", map[string]any{"u": "[string(union(createArray(1, 2), createArray(2, 3)))]"})))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("a plain deployment: %d %v", resp.StatusCode, m)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("a plain deployment: %v", st)
	}
	if resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/hostile-rg/providers/Microsoft.Compute/disks/d007?api-version=2023-04-02", nil, testserver.AnyStatus()); resp.StatusCode != 200 ||
		testserver.Field(m, "tags.u") != "[1,2,3]" {
		t.Errorf("the plain deployment's disk: %d %v", resp.StatusCode, m)
	}
}
