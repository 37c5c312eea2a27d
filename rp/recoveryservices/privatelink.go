package recoveryservices

import (
	"strings"

	"github.com/safehold/safehold/arm"
)

// Private link resources (vaults/{vault}/privateLinkResources): Azure's
// fixed catalog of what a private endpoint of a Recovery Services vault can
// connect to, one group per service of the vault (AzureBackup and
// AzureSiteRecovery), with the members and the private DNS zones each
// needs. The zone of the service itself is named for the vault's region
// by its geo code (privatelink.<code>.backup.windowsazure.com); the rest
// is the same for every vault. Safehold lists the catalog as Azure does;
// it has no private endpoints to connect to it.

// privateLinkGroup is one group of the catalog.
type privateLinkGroup struct {
	name, typ, groupID, zone string
	members                  []string
}

// privateLinkGroups are Azure's groups. (Azure spells the backup group's
// type with a capital V, the site recovery group's without, in one list.)
var privateLinkGroups = []privateLinkGroup{
	{"backupResource", "Microsoft.RecoveryServices/Vaults/privateLinkResources", "AzureBackup", "backup",
		[]string{"backup-fab1", "backup-rec2", "backup-prot1", "backup-ecs1", "backup-tel1", "backup-wbcm1", "backup-fc1", "backup-id1"}},
	{"siteRecoveryResource", "Microsoft.RecoveryServices/vaults/privateLinkResources", "AzureSiteRecovery", "siterecovery",
		[]string{"siteRecovery-rcm1", "siteRecovery-prot2", "siteRecovery-tel1", "siteRecovery-srs1", "siteRecovery-prot2b", "siteRecovery-id1"}},
}

// geoCodes are the region codes of Azure Backup's private DNS zones
// (Azure's geo-code list); a region without one is named in full.
var geoCodes = map[string]string{
	"australiacentral": "acl", "australiacentral2": "acl2", "australiaeast": "ae", "australiasoutheast": "ase", "brazilsouth": "brs",
	"brazilsoutheast": "bse", "canadacentral": "cnc", "canadaeast": "cne", "centralindia": "inc", "centralus": "cus", "centraluseuap": "ccy",
	"chilecentral": "clc", "eastasia": "ea", "eastus": "eus", "eastus2": "eus2", "eastus2euap": "ecy", "francecentral": "frc",
	"francesouth": "frs", "germanynorth": "gn", "germanywestcentral": "gwc", "israelcentral": "ilc", "italynorth": "itn", "japaneast": "jpe",
	"japanwest": "jpw", "jioindiacentral": "jic", "jioindiawest": "jiw", "koreacentral": "krc", "koreasouth": "krs", "malaysiawest": "myw",
	"mexicocentral": "mxc", "newzealandnorth": "nzn", "northcentralus": "ncus", "northeurope": "ne", "norwayeast": "nwe", "norwaywest": "nww",
	"polandcentral": "plc", "qatarcentral": "qac", "southafricanorth": "san", "southafricawest": "saw", "southcentralus": "scus",
	"southeastasia": "sea", "southindia": "ins", "spaincentral": "spc", "swedencentral": "sdc", "swedensouth": "sds", "switzerlandnorth": "szn",
	"switzerlandwest": "szw", "uaecentral": "uac", "uaenorth": "uan", "uksouth": "uks", "ukwest": "ukw", "westcentralus": "wcus",
	"westeurope": "we", "westindia": "inw", "westus": "wus", "westus2": "wus2", "westus3": "wus3",
}

func (g privateLinkGroup) body(vaultID, location string) map[string]any {
	code := geoCodes[location]
	if code == "" {
		code = location
	}
	return map[string]any{"id": vaultID + "/privateLinkResources/" + g.name, "name": g.name, "type": g.typ,
		"properties": map[string]any{"groupId": g.groupID, "requiredMembers": g.members,
			"requiredZoneNames": []string{"privatelink." + code + "." + g.zone + ".windowsazure.com", "privatelink.queue.core.windows.net", "privatelink.blob.core.windows.net"}}}
}

func (pr *Provider) listPrivateLinkResources(r *arm.Request) (*arm.Response, error) {
	v, err := pr.loadVault(r.HTTP.Context(), pr.p.Store, pr.vaultIDOf(r))
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(privateLinkGroups))
	for _, g := range privateLinkGroups {
		out = append(out, g.body(v.ID, v.Location))
	}
	return arm.PageOK(r, out, 200)
}

func (pr *Provider) getPrivateLinkResource(r *arm.Request) (*arm.Response, error) {
	vid := pr.vaultIDOf(r)
	v, err := pr.loadVault(r.HTTP.Context(), pr.p.Store, vid)
	if err != nil {
		return nil, err
	}
	name := r.Param("privateLinkResourceName")
	for _, g := range privateLinkGroups {
		if strings.EqualFold(g.name, name) {
			return arm.OK(g.body(v.ID, v.Location)), nil
		}
	}
	return nil, arm.NotFoundID(vid.Child("privateLinkResources", name))
}

// Private endpoint connections (vaults/{vault}/privateEndpointConnections):
// a vault has none in Safehold (no private endpoint can be made to it), so
// a connection's read and its approval or rejection (PUT) are 404 naming
// it, its delete finds nothing to delete (204), and the status of one of
// its operations is an operation that was never started (404
// OperationNotFound). These were 404 InvalidResourceType, as if Azure had
// no such type.

func (pr *Provider) privateEndpointConnectionOf(r *arm.Request) (string, error) {
	return pr.vaultIDOf(r).Child("privateEndpointConnections", r.Param("privateEndpointConnectionName")).String(), nil
}

func (pr *Provider) getPrivateEndpointConnection(r *arm.Request) (*arm.Response, error) {
	vid := pr.vaultIDOf(r)
	if _, err := pr.loadVault(r.HTTP.Context(), pr.p.Store, vid); err != nil {
		return nil, err
	}
	e := arm.NotFoundID(vid.Child("privateEndpointConnections", r.Param("privateEndpointConnectionName")))
	e.Message += " Safehold's vaults have no private endpoint connections."
	return nil, e
}

func (pr *Provider) deletePrivateEndpointConnection(r *arm.Request) (*arm.Response, error) {
	if _, err := pr.loadVault(r.HTTP.Context(), pr.p.Store, pr.vaultIDOf(r)); err != nil {
		return nil, err
	}
	return arm.NoContent(), nil
}

// backupStorageConfigOf is the id of a vault's storage configuration,
// under which a data move's operations are (none is ever started).
func (pr *Provider) backupStorageConfigOf(r *arm.Request) (string, error) {
	return pr.vaultIDOf(r).Child("backupstorageconfig", "vaultstorageconfig").String(), nil
}
