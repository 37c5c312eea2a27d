package recoveryservices

import "github.com/safehold/safehold/rp/vaultface"

// A vault's properties are checked as vaultface.CheckShape checks them
// (400 BMSUserErrorInvalidInput naming the property).

// vaultPropertyShapes is Azure's VaultProperties (Microsoft.RecoveryServices
// vaults, api-version 2024-10-01).
var vaultPropertyShapes = vaultface.Object(map[string]vaultface.Shape{
	"publicNetworkAccess": vaultface.OnOff,
	"redundancySettings": vaultface.Object(map[string]vaultface.Shape{
		"standardTierStorageRedundancy": vaultface.Enum("LocallyRedundant", "GeoRedundant", "ZoneRedundant", "ReadAccessGeoZoneRedundant"),
		"crossRegionRestore":            vaultface.OnOff,
	}),
	"restoreSettings": vaultface.Object(map[string]vaultface.Shape{
		"crossSubscriptionRestoreSettings": vaultface.Object(map[string]vaultface.Shape{
			"crossSubscriptionRestoreState": vaultface.Enum("Enabled", "Disabled", "PermanentlyDisabled"),
		}),
	}),
	"securitySettings": vaultface.Object(map[string]vaultface.Shape{
		"immutabilitySettings": vaultface.Object(map[string]vaultface.Shape{"state": vaultface.Enum("Disabled", "Unlocked", "Locked")}),
		"softDeleteSettings": vaultface.Fields(map[string]vaultface.Shape{ // checked as a backupconfig write is (softDeleteToConfig)
			"softDeleteState": vaultface.Any, "softDeleteRetentionPeriodInDays": vaultface.Any, "enhancedSecurityState": vaultface.Any}),
		"multiUserAuthorization": vaultface.String, // (the vault's own: markMUA)
	}),
	"monitoringSettings": vaultface.Object(map[string]vaultface.Shape{
		"azureMonitorAlertSettings": vaultface.Object(map[string]vaultface.Shape{
			"alertsForAllJobFailures": vaultface.OnOff, "alertsForAllReplicationIssues": vaultface.OnOff, "alertsForAllFailoverIssues": vaultface.OnOff,
		}),
		"classicAlertSettings": vaultface.Object(map[string]vaultface.Shape{
			"alertsForCriticalOperations": vaultface.OnOff, "emailNotificationsForSiteRecovery": vaultface.OnOff,
		}),
	}),
	"encryption": vaultface.Object(map[string]vaultface.Shape{
		"infrastructureEncryption": vaultface.OnOff,
		"keyVaultProperties":       vaultface.Object(map[string]vaultface.Shape{"keyUri": vaultface.String}),
		"kekIdentity":              vaultface.Object(map[string]vaultface.Shape{"userAssignedIdentity": vaultface.String, "useSystemAssignedIdentity": vaultface.Bool}),
	}),
	"resourceGuardOperationRequests": vaultface.StringArray,
	// Read-only in Azure: of the right type when sent.
	"backupStorageVersion": vaultface.String, "bcdrSecurityLevel": vaultface.String, "moveDetails": vaultface.AnyObject, "moveState": vaultface.String,
	"privateEndpointConnections": vaultface.ObjectArray, "privateEndpointStateForBackup": vaultface.String,
	"privateEndpointStateForSiteRecovery": vaultface.String, "provisioningState": vaultface.String, "secureScore": vaultface.String,
	"upgradeDetails": vaultface.AnyObject,
})

// checkVaultProperties checks the properties a vault PUT or PATCH sends
// against vaultPropertyShapes.
func checkVaultProperties(in map[string]any) error {
	return vaultface.CheckShape("BMSUserErrorInvalidInput", "properties", in, vaultPropertyShapes)
}
