package rbac

// Permission is one permissions block of a role definition.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// RoleDefinition is a built-in or custom role.
type RoleDefinition struct {
	ID               string       `json:"id"` // the role definition GUID
	RoleName         string       `json:"roleName"`
	Description      string       `json:"description"`
	RoleType         string       `json:"type"` // BuiltInRole or CustomRole
	AssignableScopes []string     `json:"assignableScopes"`
	Permissions      []Permission `json:"permissions"`
}

// Built-in role ids (Azure's real role definition GUIDs).
const (
	Owner                     = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	Contributor               = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	Reader                    = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	UserAccessAdministrator   = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	BackupContributor         = "5e467623-bb1f-42f4-a55d-6e525e11384b"
	BackupOperator            = "00c29273-979b-4161-815c-10b084fb9324"
	BackupReader              = "a795c7a0-d4a2-40c1-ae25-d81f01202912"
	DiskBackupReader          = "3e5e47e6-65f7-47ef-90b5-e5dd4d455f24"
	DiskSnapshotContributor   = "7efff54f-a5b4-42b5-a1c5-5411624893ce"
	DiskRestoreOperator       = "b50d9833-a0cb-478e-945f-707fcc997c13"
	VirtualMachineContributor = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"
	NetworkContributor        = "4d97b98b-1d4f-4787-a291-c67834d212e7"
	StorageAccountContributor = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
)

func perm(actions []string, notActions ...string) []Permission {
	if notActions == nil {
		notActions = []string{} // Azure answers [] for none, not null
	}
	return []Permission{{Actions: actions, NotActions: notActions, DataActions: []string{}, NotDataActions: []string{}}}
}

// BuiltInRoles are the built-in role definitions Safehold serves. The disk
// and general roles carry Azure's exact actions; the backup roles are
// Azure's, condensed to wildcards over the two backup namespaces.
var BuiltInRoles = []RoleDefinition{
	{ID: Owner, RoleName: "Owner", Description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		Permissions: perm([]string{"*"})},
	{ID: Contributor, RoleName: "Contributor", Description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
		Permissions: perm([]string{"*"}, "Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action",
			"Microsoft.Blueprint/blueprintAssignments/write", "Microsoft.Blueprint/blueprintAssignments/delete", "Microsoft.Compute/galleries/share/action",
			"Microsoft.Purview/consents/write", "Microsoft.Purview/consents/delete", "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
			"Microsoft.Subscription/cancel/action", "Microsoft.Subscription/enable/action")},
	{ID: Reader, RoleName: "Reader", Description: "View all resources, but does not allow you to make any changes.",
		Permissions: perm([]string{"*/read"})},
	{ID: UserAccessAdministrator, RoleName: "User Access Administrator", Description: "Lets you manage user access to Azure resources.",
		Permissions: perm([]string{"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"})},
	{ID: BackupContributor, RoleName: "Backup Contributor", Description: "Lets you manage backup service, but can't create vaults and give access to others",
		Permissions: perm([]string{"Microsoft.Authorization/*/read", "Microsoft.Network/virtualNetworks/read", "Microsoft.Compute/virtualMachines/read",
			"Microsoft.RecoveryServices/*", "Microsoft.DataProtection/*", "Microsoft.Resources/deployments/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Storage/storageAccounts/read", "Microsoft.Support/*"},
			"Microsoft.RecoveryServices/Vaults/delete", "Microsoft.DataProtection/backupVaults/delete")},
	{ID: BackupOperator, RoleName: "Backup Operator", Description: "Lets you manage backup services, except removal of backup, vault creation and giving access to others",
		Permissions: perm([]string{"Microsoft.Authorization/*/read", "Microsoft.Network/virtualNetworks/read", "Microsoft.Compute/virtualMachines/read",
			"Microsoft.RecoveryServices/*", "Microsoft.DataProtection/*", "Microsoft.Resources/deployments/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Storage/storageAccounts/read", "Microsoft.Support/*"},
			"Microsoft.RecoveryServices/Vaults/write", "Microsoft.RecoveryServices/Vaults/delete",
			"Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/delete",
			"Microsoft.RecoveryServices/Vaults/backupPolicies/write", "Microsoft.RecoveryServices/Vaults/backupPolicies/delete",
			"Microsoft.DataProtection/backupVaults/write", "Microsoft.DataProtection/backupVaults/delete",
			"Microsoft.DataProtection/backupVaults/backupInstances/delete",
			"Microsoft.DataProtection/backupVaults/backupPolicies/write", "Microsoft.DataProtection/backupVaults/backupPolicies/delete")},
	{ID: BackupReader, RoleName: "Backup Reader", Description: "Can view backup services, but can't make changes",
		Permissions: perm([]string{"Microsoft.Authorization/*/read", "Microsoft.RecoveryServices/*/read", "Microsoft.DataProtection/*/read",
			"Microsoft.RecoveryServices/locations/backupStatus/action", "Microsoft.DataProtection/locations/getBackupStatus/action",
			"Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Storage/storageAccounts/read"})},
	{ID: DiskBackupReader, RoleName: "Disk Backup Reader", Description: "Provides permission to backup vault to perform disk backup.",
		Permissions: perm([]string{"Microsoft.Authorization/*/read", "Microsoft.Compute/disks/read", "Microsoft.Compute/disks/beginGetAccess/action"})},
	{ID: DiskSnapshotContributor, RoleName: "Disk Snapshot Contributor", Description: "Provides permission to backup vault to manage disk snapshots.",
		Permissions: perm([]string{"Microsoft.Authorization/*/read", "Microsoft.Compute/snapshots/delete", "Microsoft.Compute/snapshots/write",
			"Microsoft.Compute/snapshots/read", "Microsoft.Compute/snapshots/beginGetAccess/action", "Microsoft.Compute/snapshots/endGetAccess/action",
			"Microsoft.Compute/disks/beginGetAccess/action", "Microsoft.Storage/storageAccounts/listkeys/action", "Microsoft.Storage/storageAccounts/write",
			"Microsoft.Storage/storageAccounts/read", "Microsoft.Storage/storageAccounts/delete"})},
	{ID: DiskRestoreOperator, RoleName: "Disk Restore Operator", Description: "Provides permission to backup vault to perform disk restore.",
		Permissions: perm([]string{"Microsoft.Authorization/*/read", "Microsoft.Compute/disks/write", "Microsoft.Compute/disks/read",
			"Microsoft.Resources/subscriptions/resourceGroups/read"})},
	{ID: VirtualMachineContributor, RoleName: "Virtual Machine Contributor", Description: "Create and manage virtual machines, manage disks, install and run software, reset password of the root user of the virtual machine using VM extensions, and connect to Linux virtual machine using SSH public key authentication.",
		Permissions: perm([]string{"Microsoft.Authorization/*/read", "Microsoft.Compute/availabilitySets/*", "Microsoft.Compute/locations/*",
			"Microsoft.Compute/virtualMachines/*", "Microsoft.Compute/virtualMachineScaleSets/*", "Microsoft.Compute/cloudServices/*",
			"Microsoft.Compute/disks/write", "Microsoft.Compute/disks/read", "Microsoft.Compute/disks/delete",
			"Microsoft.DevTestLab/schedules/*", "Microsoft.Insights/alertRules/*", "Microsoft.Network/*/read",
			"Microsoft.RecoveryServices/locations/*", "Microsoft.RecoveryServices/Vaults/backupFabrics/backupProtectionIntent/write",
			"Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/*/read",
			"Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
			"Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write",
			"Microsoft.RecoveryServices/Vaults/backupPolicies/read", "Microsoft.RecoveryServices/Vaults/backupPolicies/write",
			"Microsoft.RecoveryServices/Vaults/read", "Microsoft.RecoveryServices/Vaults/usages/read",
			"Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.SqlVirtualMachine/*", "Microsoft.Storage/storageAccounts/listKeys/action", "Microsoft.Storage/storageAccounts/read", "Microsoft.Support/*"})},
	{ID: NetworkContributor, RoleName: "Network Contributor", Description: "Lets you manage networks, but not access to them.",
		Permissions: perm([]string{"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Network/*",
			"Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Support/*"})},
	{ID: StorageAccountContributor, RoleName: "Storage Account Contributor", Description: "Permits management of storage accounts. Provides access to the account key, which can be used to access data via Shared Key authorization.",
		Permissions: perm([]string{"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Insights/diagnosticSettings/*",
			"Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action", "Microsoft.ResourceHealth/availabilityStatuses/read",
			"Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Storage/storageAccounts/*",
			"Microsoft.Support/*"})},
}
