package compute

import "testing"

// Size names map to their vCPUs and to the quota family Azure names.
func TestParseVMSize(t *testing.T) {
	for _, c := range []struct {
		name   string
		vcpus  int64
		family string
	}{
		{"Standard_D2s_v3", 2, "standardDSv3Family"},
		{"Standard_D2_v3", 2, "standardDv3Family"},
		{"Standard_DS1_v2", 1, "standardDSv2Family"},
		{"Standard_D1", 1, "standardDFamily"},
		{"Standard_B1s", 1, "standardBSFamily"},
		{"Standard_B2ms", 2, "standardBSFamily"},
		{"Standard_D8-2s_v3", 8, "standardDSv3Family"},
		{"Standard_E4ds_v5", 4, "standardEDSv5Family"},
		{"Standard_M8ms", 8, "standardMSFamily"},
		{"Standard_NC6s_v3", 6, "standardNCSv3Family"},
		{"standard_f2s_v2", 2, "standardFSv2Family"},
	} {
		got, err := ParseVMSize(c.name)
		if err != nil || got.VCPUs != c.vcpus || got.Family != c.family {
			t.Errorf("%s: %+v %v, want %d %s", c.name, got, err, c.vcpus, c.family)
		}
	}
	for _, bad := range []string{"", "Huge", "Standard_", "Standard_D0s_v3", "D2s_v3"} {
		if _, err := ParseVMSize(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
