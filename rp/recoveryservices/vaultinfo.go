package recoveryservices

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// registerVaultInfo adds the vault-level resources of the vaults spec
// (armrecoveryservices) around the vault itself: its extended info (the
// integrity key vault credentials are signed with), its usages, and the
// location's capabilities.
func (pr *Provider) registerVaultInfo(rt *arm.Router, sub, R string) {
	rt.Handle("GET", R+"/extendedInformation/vaultExtendedInfo", pr.getExtendedInfo)
	rt.Handle("PUT", R+"/extendedInformation/vaultExtendedInfo", pr.putExtendedInfo)
	rt.Handle("PATCH", R+"/extendedInformation/vaultExtendedInfo", pr.patchExtendedInfo)
	rt.Handle("GET", R+"/usages", pr.vaultUsages)
	rt.Handle("POST", sub+"/providers/Microsoft.RecoveryServices/locations/{location}/capabilities", pr.capabilities, arm.Action(namespace+"/locations/capabilities/action"))
}

// extendedInfo is a vault's extendedInformation/vaultExtendedInfo.
type extendedInfo struct {
	arm.ProxyResource
	Etag       string         `json:"etag"`
	Properties map[string]any `json:"properties"`
}

// extendedInfoProps are the fields a client may set.
var extendedInfoProps = []string{"integrityKey", "encryptionKey", "encryptionKeyThumbprint", "algorithm"}

// loadExtendedInfo reads the vault's extended info; a vault that has none
// yet gets one (Azure creates it with the vault): a random 128-bit
// integrity key, algorithm None.
func (pr *Provider) loadExtendedInfo(ctx context.Context, tx store.Tx, vid arm.ResourceID) (*extendedInfo, bool, error) {
	id := vid.Child("extendedInformation", "vaultExtendedInfo")
	var x extendedInfo
	err := resource.Get(ctx, tx, id, &x)
	if err == nil {
		return &x, false, nil
	}
	if !isNotFound(err) {
		return nil, false, err
	}
	x = extendedInfo{ProxyResource: arm.ProxyResource{ID: id.String(), Name: "vaultExtendedInfo", Type: "Microsoft.RecoveryServices/vaults/extendedInformation"},
		Properties: map[string]any{"integrityKey": randomKey(), "algorithm": "None"}}
	return &x, true, nil
}

func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// writeExtendedInfo applies in (replace: PUT, merge: PATCH) and stores it.
func (pr *Provider) writeExtendedInfo(r *arm.Request, replace bool) (*arm.Response, error) {
	var in struct {
		Etag       string         `json:"etag"`
		Properties map[string]any `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	for k, v := range in.Properties {
		if _, ok := v.(string); !ok && v != nil {
			return nil, arm.BadRequest("BadRequest", "properties.%s must be a string.", k)
		}
	}
	if a, _ := in.Properties["algorithm"].(string); a != "" && !strings.EqualFold(a, "None") && !strings.EqualFold(a, "HMACSHA256") {
		return nil, arm.BadRequest("BadRequest", "properties.algorithm '%s' is invalid: use None or HMACSHA256.", a)
	}
	return pr.changeExtendedInfo(r, func(x *extendedInfo, _ bool) bool {
		if replace {
			x.Properties = map[string]any{}
		}
		for _, k := range extendedInfoProps {
			if v, ok := in.Properties[k].(string); ok {
				x.Properties[k] = v
			}
		}
		if s, _ := x.Properties["integrityKey"].(string); s == "" {
			x.Properties["integrityKey"] = randomKey()
		}
		if s, _ := x.Properties["algorithm"].(string); s == "" {
			x.Properties["algorithm"] = "None"
		}
		return true
	})
}

// changeExtendedInfo answers the extended info of the request's vault,
// read in a transaction: change edits it and reports whether to store it
// (with a new etag); created says it did not exist yet.
func (pr *Provider) changeExtendedInfo(r *arm.Request, change func(x *extendedInfo, created bool) bool) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var out *extendedInfo
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		_, vid, err := pr.vaultIn(ctx, tx, r)
		if err != nil {
			return err
		}
		x, created, err := pr.loadExtendedInfo(ctx, tx, vid)
		if err != nil {
			return err
		}
		out = x
		if !change(x, created) {
			return nil
		}
		x.Etag = uuid.NewString()
		id, _ := arm.ParseID(x.ID)
		return resource.Put(ctx, tx, id, x)
	})
	if err != nil {
		return nil, err
	}
	return arm.OK(out), nil
}

// vaultIn reads the vault a request addresses inside a transaction.
func (pr *Provider) vaultIn(ctx context.Context, tx store.Tx, r *arm.Request) (*vaultRecord, arm.ResourceID, error) {
	v, err := pr.loadVault(ctx, tx, pr.vaultIDOf(r))
	if err != nil {
		return nil, arm.ResourceID{}, err
	}
	return v, vaultID(r.Param("subscriptionId"), r.Param("resourceGroupName"), v.Name), nil
}

func (pr *Provider) putExtendedInfo(r *arm.Request) (*arm.Response, error) {
	return pr.writeExtendedInfo(r, true)
}

func (pr *Provider) patchExtendedInfo(r *arm.Request) (*arm.Response, error) {
	return pr.writeExtendedInfo(r, false)
}

// getExtendedInfo answers the vault's extended info, stored the first
// time it is read.
func (pr *Provider) getExtendedInfo(r *arm.Request) (*arm.Response, error) {
	return pr.changeExtendedInfo(r, func(_ *extendedInfo, created bool) bool { return created })
}

// vaultUsage is what a vault holds: its protected items, their containers
// and recovery points, the bytes those points cover (the disks' sizes at
// each point) and the jobs of the last day.
type vaultUsage struct {
	items, containers, points, bytes int64
	critical, warning                int64
	jobsInProgress, jobsFailed       int64
}

func (pr *Provider) usageOf(ctx context.Context, vid arm.ResourceID) (*vaultUsage, error) {
	items, err := resource.List[itemRecord](ctx, pr.p.Store, itemType, vid.String())
	if err != nil {
		return nil, err
	}
	u := &vaultUsage{items: int64(len(items))}
	containers := map[string]bool{}
	for _, it := range items {
		containers[strings.ToLower(it.ContainerID)] = true
		ps, err := protection.ListRecoveryPoints(ctx, pr.p.Store, it.ID)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			u.points++
			for _, d := range p.Snapshots {
				u.bytes += d.SizeBytes
			}
		}
	}
	u.containers = int64(len(containers))
	jobs, err := protection.ListJobs(ctx, pr.p.Store, vid.String(), protection.JobFilter{From: pr.p.Now().Add(-24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	failedItems := map[string]bool{}
	for _, j := range jobs {
		switch j.Status {
		case protection.JobInProgress:
			u.jobsInProgress++
		case protection.JobFailed:
			u.jobsFailed++
			if j.Operation == protection.OpBackup {
				failedItems[strings.ToLower(j.ItemID)] = true
			}
		}
	}
	// An item whose last day's backup failed is in warning (Azure's
	// "ActionRequired" health); Safehold has no critical state.
	u.warning = int64(len(failedItems))
	return u, nil
}

// vaultUsages answers GET vault/usages: the vault's real counts and bytes.
// Safehold serves Azure VM backup only, so the agent-based kinds (MAB,
// DPM, Azure Backup Server) and backup engines count zero, and the bytes
// are GRS or LRS after the vault's storage redundancy.
func (pr *Provider) vaultUsages(r *arm.Request) (*arm.Response, error) {
	v, vid, err := pr.vaultOf(r)
	if err != nil {
		return nil, err
	}
	u, err := pr.usageOf(r.HTTP.Context(), vid)
	if err != nil {
		return nil, err
	}
	grs, lrs := u.bytes, int64(0)
	if rs, ok := v.Properties["redundancySettings"].(map[string]any); ok {
		if s, _ := rs["standardTierStorageRedundancy"].(string); strings.EqualFold(s, "LocallyRedundant") {
			grs, lrs = 0, u.bytes
		}
	}
	usage := func(name, display, unit string, val int64, period string) map[string]any {
		m := map[string]any{"unit": unit, "currentValue": val, "limit": -1, "name": map[string]any{"value": name, "localizedValue": display}}
		if period != "" {
			m["quotaPeriod"] = period
		}
		return m
	}
	return arm.OK(arm.Values([]any{
		usage("MABContainersCount", "Backup management servers", "Count", 0, ""),
		usage("ProtectedItemCount", "Backup items/Azure virtual machine backup", "Count", u.items, ""),
		usage("ProtectedItemCriticalCount", "Critical", "Count", u.critical, ""),
		usage("ProtectedItemWarningCount", "Warning", "Count", u.warning, ""),
		usage("IaaSVMProtectedItemCount", "Azure Virtual Machines", "Count", u.items, ""),
		usage("IaaSVMProtectedItemCriticalCount", "Critical", "Count", u.critical, ""),
		usage("IaaSVMProtectedItemWarningCount", "Warning", "Count", u.warning, ""),
		usage("MABProtectedItemCount", "File-Folders", "Count", 0, ""),
		usage("DPMProtectedItemCount", "DPM Protected Items Count", "Count", 0, ""),
		usage("AzureBackupServerProtectedItemCount", "Azure Backup Server Protected Items Count", "Count", 0, ""),
		usage("InProgressJobsCount", "In progress", "Count", u.jobsInProgress, "P1D"),
		usage("FailedJobsCount", "Failed", "Count", u.jobsFailed, "P1D"),
		usage("GRSStorageUsage", "Cloud - GRS", "Bytes", grs, ""),
		usage("LRSStorageUsage", "Cloud - LRS", "Bytes", lrs, ""),
		usage("ManagedInstances", "Protected Instances", "Count", u.items, ""),
		usage("GRSDedupStorageUsage", "Dedup - GRS", "Bytes", 0, ""),
		usage("LRSDedupStorageUsage", "Dedup - LRS", "Bytes", 0, ""),
		usage("UsedDiskSize", "Backup Engines' Disk Used", "Bytes", 0, ""),
	})), nil
}

// backupGeoCodes are the short region codes of Azure Backup's private DNS
// zones (privatelink.{code}.backup.windowsazure.com).
var backupGeoCodes = map[string]string{
	"eastus": "eus", "eastus2": "eus2", "westus": "wus", "westus2": "wus2", "westus3": "wus3", "centralus": "cus",
	"northcentralus": "ncus", "southcentralus": "scus", "westcentralus": "wcus", "northeurope": "ne", "westeurope": "we",
	"southeastasia": "sea", "eastasia": "ea", "japaneast": "jpe", "japanwest": "jpw", "australiaeast": "ae",
	"australiasoutheast": "ase", "australiacentral": "acl", "australiacentral2": "acl2", "brazilsouth": "brs",
	"canadacentral": "cnc", "canadaeast": "cne", "centralindia": "inc", "southindia": "ins", "westindia": "inw",
	"uksouth": "uks", "ukwest": "ukw", "koreacentral": "krc", "koreasouth": "krs", "francecentral": "frc",
	"francesouth": "frs", "germanywestcentral": "gwc", "germanynorth": "gn", "switzerlandnorth": "szn",
	"switzerlandwest": "szw", "norwayeast": "nwe", "norwaywest": "nww", "uaenorth": "uaen", "uaecentral": "uaec",
	"southafricanorth": "san", "southafricawest": "saw", "swedencentral": "sdc",
}

// capabilities answers POST locations/{location}/capabilities: the private
// DNS zones a private endpoint of each vault sub-resource needs there.
func (pr *Provider) capabilities(r *arm.Request) (*arm.Response, error) {
	var in struct {
		Type       string `json:"type"`
		Properties struct {
			DNSZones []struct {
				SubResource string `json:"subResource"`
			} `json:"dnsZones"`
		} `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if !strings.EqualFold(in.Type, vaultType) {
		return nil, arm.BadRequest("InvalidResourceType", "type '%s' is not supported: use 'Microsoft.RecoveryServices/Vaults'.", in.Type)
	}
	loc := resource.NormLocation(r.Param("location"))
	geo, ok := backupGeoCodes[loc]
	if !ok {
		return nil, arm.BadRequest("LocationNotAvailableForResourceType", "The location '%s' is not available for resource type '%s'.", r.Param("location"), vaultType)
	}
	zones := []any{}
	for _, z := range in.Properties.DNSZones {
		var names []string
		switch strings.ToLower(z.SubResource) {
		case "azurebackup":
			names = []string{"privatelink." + geo + ".backup.windowsazure.com", "privatelink.queue.core.windows.net", "privatelink.blob.core.windows.net"}
		case "azurebackup_secondary":
			names = []string{"privatelink." + geo + ".backup.windowsazure.com"}
		case "azuresiterecovery":
			names = []string{"privatelink.siterecovery.windowsazure.com"}
		default:
			return nil, arm.BadRequest("BadRequest", "properties.dnsZones subResource '%s' is invalid: use AzureBackup, AzureBackup_secondary or AzureSiteRecovery.", z.SubResource)
		}
		zones = append(zones, map[string]any{"subResource": z.SubResource, "requiredZoneNames": names})
	}
	return &arm.Response{Status: http.StatusOK, Body: map[string]any{"type": in.Type, "properties": map[string]any{"dnsZones": zones}}}, nil
}
