package dataprotection

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/rp/vaultface"
)

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

// softDeleteDefault is the retention in days of soft-deleted instances when
// the settings do not give one; sdField names the settings in errors.
const softDeleteDefault = 14

const sdField = "properties.securitySettings.softDeleteSettings"

// softDelete is a vault's effective soft-delete setting.
type softDelete struct {
	State string // Off, On, AlwaysOn
	Days  int
}

func (s softDelete) enabled() bool { return s.State == "On" || s.State == "AlwaysOn" }

// deletion is what soft delete records of a backup instance the operation
// activity deletes at now (which ends its billing), and when it is purged:
// the retention's days later.
func (s softDelete) deletion(now time.Time, activity string) (*deletionInfo, time.Time) {
	purge := now.Add(time.Duration(s.Days) * 24 * time.Hour)
	return &deletionInfo{DeletionTime: now.Format(time.RFC3339Nano), BillingEndDate: now.Format(time.RFC3339Nano),
		ScheduledPurgeTime: purge.Format(time.RFC3339Nano), DeleteActivityID: activity}, purge
}

// getCI returns the value of the key of m equal to k ignoring case.
func getCI(m map[string]json.RawMessage, k string) (string, json.RawMessage) {
	for x, v := range m {
		if strings.EqualFold(x, k) {
			return x, v
		}
	}
	return "", nil
}

func vaultSoftDelete(v *vaultResource) softDelete {
	if v.Properties == nil {
		return softDelete{State: "Off"}
	}
	return parseSoftDelete(v.Properties.SecuritySettings)
}

// securityLevels is the vault's secure score and BCDR security level as
// Azure computes them (Business Continuity center's security levels):
// Maximum/Excellent when deletion protection is irreversible (soft delete
// always-on or immutability locked) and multi-user authorization guards
// the vault; Adequate/Good with soft delete on or immutability locked;
// Minimum/Fair with multi-user authorization alone; None/Poor otherwise.
func securityLevels(v *vaultResource) (secureScore, bcdr string) {
	sd := vaultSoftDelete(v)
	immutability := ""
	mua := false
	if v.Properties != nil {
		var ss struct {
			ImmutabilitySettings struct {
				State string `json:"state"`
			} `json:"immutabilitySettings"`
		}
		if json.Unmarshal(v.Properties.SecuritySettings, &ss) == nil {
			immutability = strings.ToLower(ss.ImmutabilitySettings.State)
		}
		mua = v.Properties.IsVaultProtectedByResourceGuard != nil && *v.Properties.IsVaultProtectedByResourceGuard
	}
	irreversible := sd.State == "AlwaysOn" || immutability == "locked"
	switch {
	case irreversible && mua:
		return "Maximum", "Excellent"
	case sd.State != "Off" || immutability == "locked":
		return "Adequate", "Good"
	case mua:
		return "Minimum", "Fair"
	}
	return "None", "Poor"
}

// parseSoftDelete reads stored (already checked) security settings.
func parseSoftDelete(raw json.RawMessage) softDelete {
	out := softDelete{State: "Off", Days: softDeleteDefault}
	var ss map[string]json.RawMessage
	if json.Unmarshal(raw, &ss) != nil {
		return out
	}
	_, sdRaw := getCI(ss, "softDeleteSettings")
	var sd map[string]json.RawMessage
	if json.Unmarshal(sdRaw, &sd) != nil {
		return out
	}
	if _, st := getCI(sd, "state"); st != nil {
		var s string
		json.Unmarshal(st, &s)
		if c, ok := canonicalSoftDeleteState(s); ok {
			out.State = c
		}
	}
	if _, d := getCI(sd, "retentionDurationInDays"); d != nil {
		var f float64
		if json.Unmarshal(d, &f) == nil && f >= 1 {
			out.Days = int(math.Ceil(f))
		}
	}
	return out
}

func canonicalSoftDeleteState(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "disabled":
		return "Off", true
	case "on", "enabled":
		return "On", true
	case "alwayson":
		return "AlwaysOn", true
	}
	return "", false
}

// defaultSoftDelete is what Azure gives a new Backup vault whose request
// leaves softDeleteSettings out: soft delete On, 14 days.
var defaultSoftDelete = json.RawMessage(`{"state":"On","retentionDurationInDays":14}`)

// checkSecuritySettings validates and normalises a request's
// securitySettings given the vault's current ones (created: a new vault;
// merge: a PATCH); a request that leaves softDeleteSettings out keeps the
// current ones (a new vault gets Azure's default, On for 14 days), and so
// for the immutability and key settings (keepEncryption; the caller
// checks the key settings sent with checkEncryption).
func checkSecuritySettings(raw, old json.RawMessage, created, merge bool) (json.RawMessage, error) {
	out, err := checkSoftDeleteSettings(raw, old, created)
	if err != nil {
		return nil, err
	}
	if out, err = checkImmutability(raw, old, out); err != nil {
		return nil, err
	}
	out, _, err = keepEncryption(raw, old, out, merge)
	return out, err
}

// imField names the immutability settings in errors.
const imField = "properties.securitySettings.immutabilitySettings"

// checkImmutability checks the immutabilitySettings a request's
// securitySettings (raw) give against the vault's current ones (old) and
// returns the settings to store (out, the request's as checked so far): a
// state is one of Azure's; a Locked one cannot change, as in Azure
// (immutability locked is irreversible); a request that leaves them out
// keeps the current ones.
func checkImmutability(raw, old, out json.RawMessage) (json.RawMessage, error) {
	state := func(settings json.RawMessage) (string, json.RawMessage, error) {
		_, im := getCI(parseRaw(settings), "immutabilitySettings")
		if im == nil || string(im) == "null" {
			return "", nil, nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(im, &m); err != nil {
			return "", nil, fieldError(imField, "must be an object: {\"state\":\"Locked\"}")
		}
		_, st := getCI(m, "state")
		if st == nil || string(st) == "null" {
			return "", im, nil
		}
		var s string
		if err := json.Unmarshal(st, &s); err != nil {
			return "", nil, fieldError(imField+".state", "must be a string; allowed values: 'Disabled', 'Unlocked', 'Locked'")
		}
		return s, im, nil
	}
	oldState, oldIm, _ := state(old)
	newState, newIm, err := state(raw)
	if err != nil {
		return nil, err
	}
	if newIm == nil {
		if oldIm == nil {
			return out, nil
		}
		m := parseRaw(out)
		if m == nil {
			m = map[string]json.RawMessage{}
		}
		m["immutabilitySettings"] = oldIm
		return json.Marshal(m)
	}
	if newState != "" && !slices.ContainsFunc([]string{"Disabled", "Unlocked", "Locked"}, func(v string) bool { return strings.EqualFold(v, newState) }) {
		return nil, fieldError(imField+".state", "'%s' is not supported; allowed values: 'Disabled', 'Unlocked', 'Locked'", newState)
	}
	if strings.EqualFold(oldState, "Locked") && !strings.EqualFold(newState, "Locked") {
		return nil, arm.BadRequestAt(imField+".state", "UserErrorImmutabilityStateLocked",
			"The vault's immutability is Locked, which cannot be changed to '%s': a locked vault stays immutable. Leave immutabilitySettings.state Locked (or out of the request).", newState)
	}
	return out, nil
}

// immutabilityState is the immutability state of stored (already checked)
// security settings, lower-case ("" when they have none).
func immutabilityState(raw json.RawMessage) string {
	return settingState(raw, "immutabilitySettings")
}

// settingState is the state of the setting key of a settings object raw
// (securitySettings, featureSettings), lower-case ("" when it has none).
func settingState(raw json.RawMessage, key string) string {
	_, set := getCI(parseRaw(raw), key)
	_, st := getCI(parseRaw(set), "state")
	var s string
	if st == nil || json.Unmarshal(st, &s) != nil {
		return ""
	}
	return strings.ToLower(s)
}

// checkSoftDeleteSettings is checkSecuritySettings' check of the soft
// delete settings.
func checkSoftDeleteSettings(raw, old json.RawMessage, created bool) (json.RawMessage, error) {
	if created {
		old = json.RawMessage(`{"softDeleteSettings":` + string(defaultSoftDelete) + `}`)
	}
	oldSD := parseSoftDelete(old)
	var oldSDRaw json.RawMessage
	if len(old) > 0 {
		var m map[string]json.RawMessage
		if json.Unmarshal(old, &m) == nil {
			_, oldSDRaw = getCI(m, "softDeleteSettings")
		}
	}
	keepOld := oldSDRaw != nil
	if len(raw) == 0 || string(raw) == "null" {
		if keepOld {
			return json.Marshal(map[string]json.RawMessage{"softDeleteSettings": oldSDRaw})
		}
		return raw, nil
	}
	var ss map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, fieldError("properties.securitySettings", "must be a JSON object")
	}
	k, sdRaw := getCI(ss, "softDeleteSettings")
	if sdRaw == nil || string(sdRaw) == "null" {
		if keepOld {
			delete(ss, k)
			ss["softDeleteSettings"] = oldSDRaw
			return json.Marshal(ss)
		}
		return raw, nil
	}
	var sd map[string]json.RawMessage
	if err := json.Unmarshal(sdRaw, &sd); err != nil {
		return nil, fieldError(sdField, "must be an object: {\"state\":\"On\",\"retentionDurationInDays\":14}")
	}
	state, spelled := "", "" // canonical, and as the caller spelled it (Azure echoes "Enabled")
	if sk, st := getCI(sd, "state"); st != nil && string(st) != "null" {
		var s string
		if err := json.Unmarshal(st, &s); err != nil {
			return nil, fieldError(sdField+".state", "must be a string; allowed values: 'Off', 'On', 'AlwaysOn'")
		}
		c, ok := canonicalSoftDeleteState(s)
		if !ok {
			return nil, fieldError(sdField+".state", "'%s' is not supported; allowed values: 'Off', 'On', 'AlwaysOn'", s)
		}
		delete(sd, sk)
		state, spelled = c, s
	} else if oldSDRaw != nil {
		state = oldSD.State
	}
	if oldSD.State == "AlwaysOn" && state != "AlwaysOn" {
		return nil, fieldError(sdField+".state", "cannot change from 'AlwaysOn' to '%s': always-on soft delete is irreversible", state)
	}
	var days *float64
	if dk, d := getCI(sd, "retentionDurationInDays"); d != nil && string(d) != "null" {
		var f float64
		if err := json.Unmarshal(d, &f); err != nil {
			return nil, fieldError(sdField+".retentionDurationInDays", "must be a number of days from 14 to 180")
		}
		delete(sd, dk)
		days = &f
	}
	if state == "On" || state == "AlwaysOn" {
		if days == nil {
			f := float64(softDeleteDefault)
			if oldSDRaw != nil {
				f = float64(oldSD.Days)
			}
			days = &f
		}
		if *days < 14 || *days > 180 {
			return nil, fieldError(sdField+".retentionDurationInDays", "%v is out of range: give 14 to 180 days", *days)
		}
	}
	if spelled != "" {
		sd["state"], _ = json.Marshal(spelled)
	} else if state != "" {
		if _, st := getCI(parseRaw(oldSDRaw), "state"); st != nil {
			sd["state"] = st
		} else {
			sd["state"], _ = json.Marshal(state)
		}
	}
	if days != nil {
		sd["retentionDurationInDays"], _ = json.Marshal(*days)
	}
	delete(ss, k)
	ss["softDeleteSettings"], _ = json.Marshal(sd)
	return json.Marshal(ss)
}

func parseRaw(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	return m
}

// mergeSettings is a vault's settings object old (as stored) with a
// PATCH's patch merged into it (vaultface.MergePatch); no patch keeps old.
func mergeSettings(old, patch json.RawMessage) (json.RawMessage, error) {
	if len(patch) == 0 || string(patch) == "null" {
		return old, nil
	}
	var o, p map[string]any
	_ = json.Unmarshal(old, &o)
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	return json.Marshal(vaultface.MergePatch(o, p))
}

// keepFinalSettings checks the feature settings a write would store (cur)
// against the vault's (old): cross-subscription restore PermanentlyDisabled
// is final, as in Azure ("cannot be re-enabled"), and so is cross-region
// restore Enabled (it "cannot be disabled"); a write that leaves either
// out keeps it. It returns the settings to store.
func keepFinalSettings(old, cur json.RawMessage) (json.RawMessage, error) {
	var o, c map[string]any
	_ = json.Unmarshal(old, &o)
	_ = json.Unmarshal(cur, &c)
	if c == nil {
		c = map[string]any{}
	}
	props := map[string]any{"featureSettings": c}
	for _, f := range []struct{ setting, final string }{{"crossSubscriptionRestoreSettings", "PermanentlyDisabled"}, {"crossRegionRestoreSettings", "Enabled"}} {
		if err := vaultface.KeepFinal("InvalidRequestContent", "properties", map[string]any{"featureSettings": o}, props, f.final,
			"featureSettings", f.setting, "state"); err != nil {
			return nil, err
		}
	}
	if len(c) == 0 {
		return cur, nil
	}
	return json.Marshal(c)
}
