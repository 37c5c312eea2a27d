package compute

import "testing"

// Size names map to their vCPUs, to the quota family Azure names and to
// whether the size can have premium disks.
func TestParseVMSize(t *testing.T) {
	for _, c := range []struct {
		name    string
		vcpus   int64
		family  string
		premium bool
	}{
		{"Standard_D2s_v3", 2, "standardDSv3Family", true},
		{"Standard_D2_v3", 2, "standardDv3Family", false},
		{"Standard_DS1_v2", 1, "standardDSv2Family", true},
		{"Standard_D1", 1, "standardDFamily", false},
		{"Standard_B1s", 1, "standardBSFamily", true},
		{"Standard_B2ms", 2, "standardBSFamily", true},
		{"Standard_D8-2s_v3", 8, "standardDSv3Family", true},
		{"Standard_E4ds_v5", 4, "standardEDSv5Family", true},
		{"Standard_M8ms", 8, "standardMSFamily", true},
		{"Standard_NC6s_v3", 6, "standardNCSv3Family", true},
		{"standard_f2s_v2", 2, "standardFSv2Family", true},
		{"Basic_A0", 1, "basicAFamily", false},
		{"Standard_A1_v2", 1, "standardAv2Family", false},
	} {
		got, err := ParseVMSize(c.name)
		if err != nil || got.VCPUs != c.vcpus || got.Family != c.family || got.PremiumStorage != c.premium {
			t.Errorf("%s: %+v %v, want %d %s premium %v", c.name, got, err, c.vcpus, c.family, c.premium)
		}
	}
	for _, bad := range []string{"", "Huge", "Standard_", "Standard_D0s_v3", "D2s_v3"} {
		if _, err := ParseVMSize(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
