package recoveryservices_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/testserver"
)

// raw sends an HTTP request with the admin's token.
func raw(t *testing.T, e *testserver.Env, method, path string, body any) (*http.Response, map[string]any) {
	t.Helper()
	return rawAs(t, e, e.Cred, method, path, body)
}

// rawAs sends an HTTP request with cred's token.
func rawAs(t *testing.T, e *testserver.Env, cred azcore.TokenCredential, method, path string, body any) (*http.Response, map[string]any) {
	t.Helper()
	hc, _ := e.Conn.HTTPClient()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = e.Conn.ARMEndpoint + path
	}
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			b, _ = json.Marshal(body)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{e.Conn.ARMEndpoint + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tk.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: non-JSON body: %q", method, path, b)
		}
	}
	return resp, m
}

// must checks a status code.
func must(t *testing.T, what string, resp *http.Response, m map[string]any, codes ...int) {
	t.Helper()
	for _, c := range codes {
		if resp.StatusCode == c {
			return
		}
	}
	t.Fatalf("%s: status %d, want %v: %v", what, resp.StatusCode, codes, m)
}

// get walks a JSON path like "properties.extendedInfo.recoveryPointCount".
func get(m map[string]any, path string) any {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func str(m map[string]any, path string) string {
	v := get(m, path)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// mkRG creates a resource group.
func mkRG(t *testing.T, e *testserver.Env, name string) {
	t.Helper()
	resp, m := raw(t, e, "PUT", "/subscriptions/"+e.Sub+"/resourcegroups/"+name+"?api-version=2021-04-01", map[string]any{"location": "westus"})
	must(t, "create rg "+name, resp, m, 200, 201)
}

// mkVM creates a VM with an OS disk and nData data disks of size bytes each.
func mkVM(t *testing.T, e *testserver.Env, rg, name string, nData int, size int64) *compute.VM {
	t.Helper()
	ctx := context.Background()
	cs := e.Server.Compute
	base := "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/"
	os, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: base + name + "-os", Location: "westus", CreateOption: "Empty", SizeBytes: size, OSType: "Linux"})
	if err != nil {
		t.Fatal(err)
	}
	spec := compute.VMSpec{ID: "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/" + name,
		Location: "westus", OSDiskID: os.ID, OSType: "Linux", VMSize: "Standard_D2s_v3", HardwareProfile: map[string]any{"vmSize": "Standard_D2s_v3"}}
	for i := 0; i < nData; i++ {
		d, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: fmt.Sprintf("%s%s-data%d", base, name, i), Location: "westus", CreateOption: "Empty", SizeBytes: size})
		if err != nil {
			t.Fatal(err)
		}
		spec.DataDisks = append(spec.DataDisks, compute.VMDataDisk{Lun: int32(i), DiskID: d.ID, Name: d.Name})
	}
	vm, err := cs.CreateVM(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// waitFor polls fn until it reports done (or fails after a generous bound).
func waitFor(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var waitLimit = 2 * time.Minute
