package recoveryservices

// azureOperations (name, resource, operation, description) is Microsoft.RecoveryServices's operations catalog as
// Azure publishes it (the ListOperations examples of the vaults and the
// backup specs, 2023-04-01 and 2024-04-01, which list the same entries):
// its RBAC actions in Azure's own wording, names and display provider
// ("microsoft.recoveryservices") as published. It names actions of
// features Safehold does not serve (security PINs, instant item recovery,
// protection intents): the catalog describes the provider's actions, and
// clients build role definitions from it, so it is served whole; the
// actions of Safehold's routes it does not name follow it (see
// arm.Router.PublishedCatalog).
var azureOperations = [][4]string{
	{"microsoft.recoveryservices/vaults/usages/read", "Vault Usage", "Recovery Services Vault usage details.", "Returns usage details for a Recovery Services Vault."},
	{"microsoft.recoveryservices/vaults/backupUsageSummaries/read", "Backup Usages Summaries", "Recovery Services Protected Items and Protected Servers usage summaries details.", "Returns summaries for Protected Items and Protected Servers for a Recovery Services ."},
	{"microsoft.recoveryservices/vaults/storageConfig/read", "Vault Storage Config", "Get Resource Storage Config", "Returns Storage Configuration for Recovery Services Vault."},
	{"microsoft.recoveryservices/vaults/storageConfig/write", "Vault Storage Config", "Write Resource Storage Config", "Updates Storage Configuration for Recovery Services Vault."},
	{"microsoft.recoveryservices/vaults/backupconfig/vaultconfig/read", "Vault Config", "Get Resource Config", "Returns Configuration for Recovery Services Vault."},
	{"microsoft.recoveryservices/vaults/backupconfig/vaultconfig/write", "Vault Config", "Update Resource Config", "Updates Configuration for Recovery Services Vault."},
	{"microsoft.recoveryservices/vaults/tokenInfo/read", "Token Info", "Get Vault Token Info", "Returns token information for Recovery Services Vault."},
	{"microsoft.recoveryservices/vaults/backupSecurityPIN/read", "SecurityPINInfo", "Get Security PIN Info", "Returns Security PIN Information for Recovery Services Vault."},
	{"microsoft.recoveryservices/vaults/backupManagementMetaData/read", "Backup Management Metadata", "Get Backup Management Metadata", "Returns Backup Management Metadata for Recovery Services Vault."},
	{"microsoft.recoveryservices/vaults/backupOperationResults/read", "Backup Operation Results", "Get Backup Operation Result", "Returns Backup Operation Result for Recovery Services Vault."},
	{"microsoft.recoveryservices/vaults/backupOperations/read", "Backup Operation Status", "Get Backup Operation Status", "Returns Backup Operation Status for Recovery Services Vault."},
	{"microsoft.recoveryservices/vaults/backupJobs/read", "Backup Jobs", "Get Jobs", "Returns all Job Objects"},
	{"microsoft.recoveryservices/vaults/backupJobs/cancel/action", "Backup Jobs", "Cancel Jobs", "Cancel the Job"},
	{"microsoft.recoveryservices/vaults/backupJobsExport/action", "Export Backup Jobs", "Export Jobs", "Export Jobs"},
	{"microsoft.recoveryservices/vaults/backupJobs/operationResults/read", "Backup Jobs Operation Results", "Get Job Operation Result", "Returns the Result of Job Operation."},
	{"microsoft.recoveryservices/vaults/backupJobsExport/operationResults/read", "Export Backup Jobs Operation Results", "Get Export Job Operation Result", "Returns the Result of Export Job Operation."},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/read", "Recovery Points", "Get Recovery Points", "Get Recovery Points for Protected Items."},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/restore/action", "Recovery Points", "Restore Recovery Points", "Restore Recovery Points for Protected Items."},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/provisionInstantItemRecovery/action", "Recovery Points", "Provision Instant Item Recovery for Protected Item", "Provision Instant Item Recovery for Protected Item"},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/revokeInstantItemRecovery/action", "Recovery Points", "Revoke Instant Item Recovery for Protected Item", "Revoke Instant Item Recovery for Protected Item"},
	{"microsoft.recoveryservices/vaults/backupPolicies/read", "Backup Policies", "Get Protection Policy", "Returns all Protection Policies"},
	{"microsoft.recoveryservices/vaults/backupPolicies/write", "Backup Policies", "Create Protection Policy", "Creates Protection Policy"},
	{"microsoft.recoveryservices/vaults/backupPolicies/delete", "Backup Policies", "Delete Protection Policy", "Delete a Protection Policy"},
	{"microsoft.recoveryservices/vaults/backupPolicies/operationResults/read", "Backup Policy Operation Results", "Get Policy Operation Results", "Get Results of Policy Operation."},
	{"microsoft.recoveryservices/vaults/backupPolicies/operationsStatus/read", "Backup Policy Operation Status", "Get Policy Operation Status", "Get Status of Policy Operation."},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/protectedItems/read", "Protected Items", "Get Protected Item Details", "Returns object details of the Protected Item"},
	{"microsoft.recoveryservices/vaults/backupProtectedItems/read", "Protected Items", "Get All Protected Items", "Returns the list of all Protected Items."},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/protectedItems/write", "Protected Items", "Create Backup Protected Item", "Create a backup Protected Item"},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/protectedItems/delete", "Protected Items", "Delete Protected Items", "Deletes Protected Item"},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/protectedItems/operationResults/read", "Protected Item Operation Results", "Get Protected Items Operation Results", "Gets Result of Operation Performed on Protected Items."},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/protectedItems/operationsStatus/read", "Protected Item Operation Status", "Get Protected Items operation status", "Returns the status of Operation performed on Protected Items."},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/protectedItems/backup/action", "Protected Items", "Backup Protected Item", "Performs Backup for Protected Item."},
	{"microsoft.recoveryservices/vaults/backupProtectableItems/read", "Backup Protectable Items", "Get Protectable Items", "Returns list of all Protectable Items."},
	{"microsoft.recoveryservices/vaults/refreshContainers/read", "Refresh Containers", "Refresh container", "Refreshes the container list"},
	{"microsoft.recoveryservices/vaults/backupFabrics/operationResults/read", "Refresh Containers Operation Results", "Get Operation Results", "Returns status of the operation"},
	{"microsoft.recoveryservices/vaults/backupProtectionContainers/read", "Backup Protection Containers", "Get Containers In Subscription", "Returns all containers belonging to the subscription"},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/read", "Protection Containers", "Get Registered Container", "Returns all registered containers"},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/operationResults/read", "Protection Containers Operation Results", "Get Container Operation Results", "Gets result of Operation performed on Protection Container."},
	{"microsoft.recoveryservices/vaults/backupEngines", "Backup Engines", "List of backup management servers.", "Returns all the backup management servers registered with vault."},
	{"microsoft.recoveryservices/vaults/backupStatus", "Backup Status", "Check Backup Status for Vault", "Check Backup Status for Recovery Services Vaults"},
	{"microsoft.recoveryservices/vaults/backupPreValidateProtection", "PreValidate Protection", "Pre Validate Enable Protection", ""},
	{"microsoft.recoveryservices/vaults/backupValidateFeatures", "Validate Features", "Validate Features", "Validate Features"},
	{"microsoft.recoveryservices/vaults/backupFabrics/backupProtectionIntent/write", "Protection Intent", "Create backup Protection Intent", "Create a backup Protection Intent"},
	{"microsoft.recoveryservices/vaults/backupProtectionIntents/read", "Protection Intent", "List all backup Protection Intents", "List all backup Protection Intents"},
	{"microsoft.recoveryservices/vaults/backupFabrics/{fabricName}/protectionContainers/{containerName}/items/read", "Workload Items", "Get all items in a container", "Get all items in a container"},
	{"microsoft.recoveryservices/vaults/backupFabrics/protectionContainers/inquire/action", "Protection Containers Inquire", "Get all items in a container", "Get all items in a container"},
}
