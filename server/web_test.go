package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// The dashboard is served, and every ARM list it reads answers the admin.
func TestDashboard(t *testing.T) {
	e := testserver.Start(t)
	hc, _ := e.Conn.HTTPClient()
	get := func(path string) (*http.Response, []byte) {
		resp, err := hc.Get(e.Conn.ARMEndpoint + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, b := get("/dashboard/")
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<title>Safehold</title>") || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("index: %d %s", resp.StatusCode, b)
	}
	for _, asset := range []string{"/dashboard/app.js", "/dashboard/style.css"} {
		if resp, _ := get(asset); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", asset, resp.StatusCode)
		}
	}
	_, b = get("/dashboard/config.json")
	var cfg map[string]string
	json.Unmarshal(b, &cfg)
	if cfg["tenantId"] != e.Conn.TenantID || cfg["subscriptionId"] != e.Sub {
		t.Fatalf("config %v", cfg)
	}
	js := string(mustGet(t, hc, e.Conn.ARMEndpoint+"/dashboard/app.js"))
	sub := "/subscriptions/" + e.Sub
	for _, path := range []string{
		sub + "/providers/Microsoft.DataProtection/backupVaults?api-version=2024-04-01",
		sub + "/providers/Microsoft.RecoveryServices/vaults?api-version=2023-04-01",
		sub + "/providers/Microsoft.Compute/disks?api-version=2024-03-02",
		sub + "/providers/Microsoft.Compute/virtualMachines?api-version=2024-11-01",
		sub + "/providers/Microsoft.Compute/snapshots?api-version=2024-03-02",
	} {
		provider := strings.Split(strings.Split(path, "/providers/")[1], "?")[0]
		if !strings.Contains(js, strings.Split(provider, "/")[1]) {
			t.Fatalf("app.js no longer reads %s; update this test", provider)
		}
		resp, m := raw(t, e, "GET", path, "", nil)
		if resp.StatusCode != 200 || m["value"] == nil {
			t.Errorf("dashboard source %s: %d %v", path, resp.StatusCode, m)
		}
	}
}

func mustGet(t *testing.T, hc *http.Client, url string) []byte {
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}
