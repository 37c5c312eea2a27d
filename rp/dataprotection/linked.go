package dataprotection

import (
	"encoding/json"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
)

// Linked access (ARM's linked authorization check, arm.Request.CheckLinked)
// for what Data Protection requests name besides the vault: a backup
// instance's disk, policy, snapshot resource group and user-assigned
// identity; a restore's target disk; a vault's user-assigned identities.

const assignIdentity = resource.AssignIdentity

// link is the link to id when it is of the type the action is on, or a
// resource group for creating snapshots in it (arm.LinkTo).
func link(action, id string) arm.Link { return arm.LinkTo(action, id, snapshotsWrite) }

const snapshotsWrite = "Microsoft.Compute/snapshots/write"

func identityLinks(raw json.RawMessage) []arm.Link {
	ii := parseInstanceIdentity(raw)
	return []arm.Link{link(assignIdentity, ii.UserAssignedIdentityArmURL)}
}

// instanceLinks are the links of a backup instance body.
func instanceLinks(bi *backupInstance) []arm.Link {
	if bi == nil {
		return nil
	}
	var links []arm.Link
	if bi.DataSourceInfo != nil {
		links = append(links, link("Microsoft.Compute/disks/read", bi.DataSourceInfo.ResourceID))
	}
	if bi.DataSourceSetInfo != nil {
		links = append(links, link("Microsoft.Compute/disks/read", bi.DataSourceSetInfo.ResourceID))
	}
	if bi.PolicyInfo != nil {
		links = append(links, link("Microsoft.DataProtection/backupVaults/backupPolicies/read", bi.PolicyInfo.PolicyID))
		if pp := bi.PolicyInfo.PolicyParameters; pp != nil {
			for _, p := range pp.DataStoreParametersList {
				links = append(links, link(snapshotsWrite, p.ResourceGroupID))
			}
		}
	}
	return append(links, identityLinks(bi.IdentityDetails)...)
}

// restoreLinks are the links of a restore request: the disk it creates.
func restoreLinks(req *restoreRequest) []arm.Link {
	if req == nil || req.RestoreTargetInfo == nil || req.RestoreTargetInfo.DatasourceInfo == nil {
		return nil
	}
	return append([]arm.Link{link("Microsoft.Compute/disks/write", req.RestoreTargetInfo.DatasourceInfo.ResourceID)}, identityLinks(req.IdentityDetails)...)
}
