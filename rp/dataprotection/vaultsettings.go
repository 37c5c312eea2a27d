package dataprotection

import "encoding/json"

// fillVaultSettings completes a Backup vault's properties with what Azure
// returns for settings the caller left out, from the vault's real state:
// securitySettings.softDeleteSettings (the state soft delete is in: On for
// 14 days unless set otherwise when the vault was created; Off for a vault
// stored without settings), featureSettings.crossRegionRestoreSettings
// (Disabled: Safehold has no secondary region) and monitoringSettings.
// azureMonitorAlertSettings (alerts for job failures Enabled, Azure's
// default). secureScore and bcdrSecurityLevel come from securityLevels.
func fillVaultSettings(p *vaultProperties) {
	if p == nil {
		return
	}
	sd := parseSoftDelete(p.SecuritySettings)
	p.SecuritySettings = withDefault(p.SecuritySettings, "softDeleteSettings", map[string]any{"state": sd.State, "retentionDurationInDays": float64(sd.Days)})
	p.FeatureSettings = withDefault(p.FeatureSettings, "crossRegionRestoreSettings", map[string]any{"state": "Disabled"})
	p.MonitoringSettings = withDefault(p.MonitoringSettings, "azureMonitorAlertSettings", map[string]any{"alertsForAllJobFailures": "Enabled"})
}

// withDefault adds key (matched ignoring case) with value def to the JSON
// object raw when it has none.
func withDefault(raw json.RawMessage, key string, def any) json.RawMessage {
	m := map[string]json.RawMessage{}
	if len(raw) > 0 && string(raw) != "null" {
		if json.Unmarshal(raw, &m) != nil {
			return raw
		}
	}
	if _, v := getCI(m, key); v != nil && string(v) != "null" {
		return raw
	}
	b, err := json.Marshal(def)
	if err != nil {
		return raw
	}
	m[key] = b
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}
