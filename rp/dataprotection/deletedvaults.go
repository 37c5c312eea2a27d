package dataprotection

import (
	"net/http"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
)

// Deleted Backup vaults (api-versions since 2025-09-01: DeletedBackupVaults
// and a vault PUT with x-ms-deleted-vault-id, which restores one). Safehold
// deletes a Backup vault at once, so it has none: the lists are empty, a
// deleted vault's GET and undelete are 404, and a PUT asking to restore one
// is 404 rather than a new, empty vault made in its place.

const deletedVaultHeader = "x-ms-deleted-vault-id"

func (pr *Provider) registerDeletedVaults(rt *arm.Router, sub string) {
	loc := sub + "/providers/Microsoft.DataProtection/locations/{location}/deletedBackupVaults"
	empty := func(r *arm.Request) (*arm.Response, error) {
		if l := r.Param("location"); l != "" {
			if err := resource.CheckLocation(l, namespace+"/locations/deletedBackupVaults"); err != nil {
				return nil, err
			}
		}
		return arm.PageOK(r, []any{}, 100)
	}
	rt.Handle("GET", sub+"/providers/Microsoft.DataProtection/deletedBackupVaults", empty)
	rt.Handle("GET", loc, empty)
	rt.Handle("GET", loc+"/{deletedVaultName}", deletedVaultNotFound)
	rt.Handle("POST", loc+"/{deletedVaultName}/undelete", deletedVaultNotFound)
}

// deletedVaultNotFound answers a deleted vault's GET and undelete.
func deletedVaultNotFound(r *arm.Request) (*arm.Response, error) {
	return nil, noDeletedVault(r.Param("deletedVaultName"))
}

func noDeletedVault(name string) *arm.Error {
	return arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The deleted Backup vault '%s' was not found: Safehold deletes a Backup vault at once and keeps no deleted vaults to restore.", name)
}

// checkNoUndelete refuses a vault PUT that asks to restore a deleted vault
// (x-ms-deleted-vault-id): there is none to restore.
func checkNoUndelete(r *arm.Request) error {
	if id := r.HTTP.Header.Get(deletedVaultHeader); id != "" {
		e := noDeletedVault(id)
		e.Message += " Leave out " + deletedVaultHeader + " to create a new vault."
		return e
	}
	return nil
}
