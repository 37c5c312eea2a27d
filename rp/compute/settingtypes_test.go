package compute_test

import (
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// A setting Safehold models given a value of another type (encryption as a
// number, publicNetworkAccess as a number) is a 400 InvalidParameter naming
// it, on a create and on an update, and nothing is written (it was a 500,
// the create's or the update's decode failing after the checks).
func TestSettingOfAnotherTypeIsBadRequest(t *testing.T) {
	e, _ := start(t)
	e.putDisk("d1", e.emptyDisk("d1", 1))
	e.snapshot("s1", "d1", true)
	const v = "?api-version=2024-03-02"
	newDisk := e.diskID("d2") + v
	for _, c := range []struct {
		method, path, body, target string
	}{
		{"PUT", newDisk, `{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"publicNetworkAccess":-1}}`, "properties.publicNetworkAccess"},
		{"PUT", newDisk, `{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"encryption":"x"}}`, "properties.encryption"},
		{"PATCH", e.diskID("d1") + v, `{"properties":{"encryption":42}}`, "properties.encryption"},
		{"PATCH", e.diskID("d1") + v, `{"properties":{"networkAccessPolicy":[]}}`, "properties.networkAccessPolicy"},
		{"PATCH", e.snapID("s1") + v, `{"properties":{"encryption":true}}`, "properties.encryption"},
		{"PUT", e.snapID("s2") + v, `{"location":"westus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"` + e.diskID("d1") + `"},"networkAccessPolicy":{}}}`, "properties.networkAccessPolicy"},
	} {
		resp, m := e.Do(c.method, c.path, c.body, testserver.AnyStatus())
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidParameter" || testserver.Field(m, "error.target") != c.target {
			t.Errorf("%s %s: %d %v, want 400 InvalidParameter about %s", c.method, c.body, resp.StatusCode, m, c.target)
		}
	}
	for _, path := range []string{newDisk, e.snapID("s2") + v} {
		if resp, _ := e.Do("GET", path, nil, testserver.AnyStatus()); resp.StatusCode != 404 {
			t.Errorf("%s after a refused create: %d, want 404", path, resp.StatusCode)
		}
	}
	resp, m := e.Do("GET", e.diskID("d1")+v, nil)
	if resp.StatusCode != 200 || testserver.Field(m, "properties.encryption.type") != "EncryptionAtRestWithPlatformKey" || testserver.Field(m, "properties.networkAccessPolicy") != "AllowAll" {
		t.Errorf("disk after refused updates: %d %v", resp.StatusCode, m["properties"])
	}
}
