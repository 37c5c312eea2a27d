package recoveryservices

import "github.com/safehold/safehold/arm"

// listDeletedContainers answers GET vaults/{v}/backupDeletedProtectionContainers,
// the vault's soft-deleted containers ($filter on backupManagementType,
// friendlyName, status, fabricName). A soft-deleted item keeps its
// container registered until its purge (softdelete.go), and the purge
// removes both, so no container is ever soft-deleted and the list is
// empty: the truth, not a placeholder.
func (pr *Provider) listDeletedContainers(r *arm.Request) (*arm.Response, error) {
	if _, _, err := pr.vaultFilter(r, "backupManagementType", "friendlyName", "status", "fabricName"); err != nil {
		return nil, err
	}
	return arm.OK(arm.Values([]any{})), nil
}
