package compute

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
)

// Writable properties of Azure's Disk and Snapshot models that Safehold
// keeps as sent and returns (compute.Settings).
var (
	diskSettings = []string{"purchasePlan", "supportedCapabilities", "encryptionSettingsCollection", "diskIOPSReadWrite", "diskMBpsReadWrite",
		"diskIOPSReadOnly", "diskMBpsReadOnly", "maxShares", "encryption", "diskAccessId", "networkAccessPolicy", "tier", "burstingEnabled",
		"supportsHibernation", "securityProfile", "publicNetworkAccess", "dataAccessAuthMode", "optimizedForFrequentAttach", "availabilityPolicy",
		"osType", "hyperVGeneration"}
	snapshotSettings = []string{"purchasePlan", "supportedCapabilities", "encryptionSettingsCollection", "encryption", "diskAccessId",
		"networkAccessPolicy", "supportsHibernation", "securityProfile", "publicNetworkAccess", "dataAccessAuthMode", "osType", "hyperVGeneration"}
	creationSettings = []string{"logicalSectorSize", "performancePlus", "provisionedBandwidthCopySpeed", "instantAccessDurationMinutes"}
)

// settingsOf picks the allowed properties (and creationData settings) of a
// PUT or PATCH body, and its extendedLocation.
func settingsOf(body []byte, allowed []string) (compute.Settings, json.RawMessage) {
	var in struct {
		ExtendedLocation json.RawMessage            `json:"extendedLocation"`
		Properties       map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(body, &in) != nil {
		return nil, nil
	}
	out := compute.Settings{}
	for k, v := range in.Properties {
		for _, a := range allowed {
			if strings.EqualFold(k, a) {
				out[a] = v
			}
		}
	}
	var cd map[string]json.RawMessage
	if json.Unmarshal(in.Properties["creationData"], &cd) == nil {
		keep := map[string]json.RawMessage{}
		for k, v := range cd {
			for _, a := range creationSettings {
				if strings.EqualFold(k, a) {
					keep[a] = v
				}
			}
		}
		if len(keep) > 0 {
			out["creationData"], _ = json.Marshal(keep)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	return out, in.ExtendedLocation
}

// normSourceID gives a source resource id its leading slash (Azure's
// examples send "subscriptions/...").
func normSourceID(id string) string {
	if id != "" && !strings.HasPrefix(id, "/") && strings.HasPrefix(strings.ToLower(id), "subscriptions/") {
		return "/" + id
	}
	return id
}

// withSettings answers 200 with the resource written at id (body, or the
// service's error err) once the request's settings are stored on it (no
// settings: body unchanged).
func (pr *Provider) withSettings(r *arm.Request, id string, body any, err error, s compute.Settings, ext json.RawMessage) (*arm.Response, error) {
	if err != nil {
		return nil, err
	}
	if len(s) != 0 || len(ext) != 0 {
		if body, err = pr.svc.UpdateSettings(r.HTTP.Context(), id, s, ext); err != nil {
			return nil, err
		}
	}
	return arm.OK(body), nil
}

// performanceSettings are the disk properties that provision a disk's
// performance: only an UltraSSD_LRS or PremiumV2_LRS disk takes them
// (another disk's performance follows from its size and tier).
var performanceSettings = []string{"diskIOPSReadWrite", "diskMBpsReadWrite", "diskIOPSReadOnly", "diskMBpsReadOnly"}

// checkPerformance refuses, as Azure does (400 BadRequest), settings s
// that provision the performance of a disk whose sku (sku, or cur's when
// "") is neither UltraSSD_LRS nor PremiumV2_LRS. cur is the disk an update
// changes (nil: a new disk): a value it already has (a new disk: the one
// it will report, by its sku, size sizeBytes and the tier s asks) may be
// sent again, as clients that PUT back what they read do.
func checkPerformance(s compute.Settings, sku string, sizeBytes int64, cur *compute.DiskResource) error {
	if sku == "" && cur != nil && cur.SKU != nil {
		sku = cur.SKU.Name
	}
	if sku == "" {
		sku = "Standard_LRS"
	}
	sku, err := compute.CanonicalSKU(sku)
	if err != nil || sku == "UltraSSD_LRS" || sku == "PremiumV2_LRS" {
		return nil // a bad sku is the disk check's to answer
	}
	var tier string
	_ = json.Unmarshal(s["tier"], &tier)
	iops, mbps := compute.DiskPerformance(sku, sizeBytes, tier)
	had := map[string]json.RawMessage{"diskIOPSReadWrite": json.RawMessage(strconv.FormatInt(iops, 10)),
		"diskMBpsReadWrite": json.RawMessage(strconv.FormatInt(mbps, 10))}
	if cur != nil {
		had = nil
		if b, err := json.Marshal(cur.Properties); err == nil {
			_ = json.Unmarshal(b, &had)
		}
	}
	for _, k := range performanceSettings {
		v, ok := s[k]
		if !ok || string(v) == "null" {
			continue
		}
		var sent, old float64
		if json.Unmarshal(v, &sent) == nil && had[k] != nil && json.Unmarshal(had[k], &old) == nil && sent == old {
			continue
		}
		what := "the new disk"
		if cur != nil {
			what = "disk '" + cur.Name + "'"
		}
		return arm.BadRequestAt("properties."+k, "BadRequest", "The parameter disk.%s can only be set on an UltraSSD_LRS or PremiumV2_LRS disk, and %s is %s: its performance follows from its size and tier. Leave %s out, or use an UltraSSD_LRS or PremiumV2_LRS disk.", k, what, sku, k)
	}
	return nil
}
