package dataprotection

import (
	"encoding/json"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
)

// Wire models: JSON keys exactly as armdataprotection v3 emits and reads
// them. Input keys match case-insensitively (encoding/json), so the seed's
// "dataSourceInfo" and the SDK's "datasourceInfo" land in the same field.

// Resource types.
const (
	typeVault    = "Microsoft.DataProtection/backupVaults"
	typePolicy   = "Microsoft.DataProtection/backupVaults/backupPolicies"
	typeInstance = "Microsoft.DataProtection/backupVaults/backupInstances"
	typeRP       = "Microsoft.DataProtection/backupVaults/backupInstances/recoveryPoints"
	typeJob      = "Microsoft.DataProtection/backupVaults/backupJobs"
	typeDisk     = "Microsoft.Compute/disks"
)

type vaultResource struct {
	arm.TrackedResource
	Identity   *identityDetails `json:"identity,omitempty"`
	ETag       string           `json:"eTag,omitempty"`
	Properties *vaultProperties `json:"properties"`
	SystemData *arm.SystemData  `json:"systemData,omitempty"`
}

// identityDetails is a vault's managed identity (resource.SetIdentity has
// the rules both vault kinds share).
type identityDetails = resource.Identity

type storageSetting struct {
	DatastoreType string `json:"datastoreType"`
	Type          string `json:"type"`
}

type vaultProperties struct {
	StorageSettings                 []storageSetting `json:"storageSettings"`
	SecuritySettings                json.RawMessage  `json:"securitySettings,omitempty"`
	FeatureSettings                 json.RawMessage  `json:"featureSettings,omitempty"`
	MonitoringSettings              json.RawMessage  `json:"monitoringSettings,omitempty"`
	ReplicatedRegions               []string         `json:"replicatedRegions,omitempty"`
	ResourceGuardOperationRequests  []string         `json:"resourceGuardOperationRequests,omitempty"`
	ProvisioningState               string           `json:"provisioningState,omitempty"`
	ResourceMoveState               string           `json:"resourceMoveState,omitempty"`
	SecureScore                     string           `json:"secureScore,omitempty"`
	BcdrSecurityLevel               string           `json:"bcdrSecurityLevel,omitempty"`
	IsVaultProtectedByResourceGuard *bool            `json:"isVaultProtectedByResourceGuard,omitempty"`
}

// vaultPatch is PatchResourceRequestInput.
type vaultPatch struct {
	Identity   *identityDetails  `json:"identity"`
	Tags       map[string]string `json:"tags"`
	Properties *struct {
		SecuritySettings               json.RawMessage `json:"securitySettings"`
		FeatureSettings                json.RawMessage `json:"featureSettings"`
		MonitoringSettings             json.RawMessage `json:"monitoringSettings"`
		ResourceGuardOperationRequests []string        `json:"resourceGuardOperationRequests"`
	} `json:"properties"`
}

// --- policies ---

type policyResource struct {
	arm.ProxyResource
	Properties *backupPolicy   `json:"properties"`
	SystemData *arm.SystemData `json:"systemData,omitempty"`
}

type backupPolicy struct {
	ObjectType      string       `json:"objectType"`
	DatasourceTypes []string     `json:"datasourceTypes"`
	PolicyRules     []policyRule `json:"policyRules"`
}

// policyRule is the union of AzureBackupRule and AzureRetentionRule.
type policyRule struct {
	ObjectType string `json:"objectType"`
	Name       string `json:"name"`
	// AzureBackupRule
	BackupParameters *backupParams  `json:"backupParameters,omitempty"`
	DataStore        *dataStoreInfo `json:"dataStore,omitempty"`
	Trigger          *triggerCtx    `json:"trigger,omitempty"`
	// AzureRetentionRule
	IsDefault  *bool             `json:"isDefault,omitempty"`
	Lifecycles []sourceLifeCycle `json:"lifecycles,omitempty"`
}

type backupParams struct {
	ObjectType string `json:"objectType"`
	BackupType string `json:"backupType"`
}

type dataStoreInfo struct {
	DataStoreType string `json:"dataStoreType"`
	ObjectType    string `json:"objectType"`
}

type triggerCtx struct {
	ObjectType      string            `json:"objectType"`
	Schedule        *backupSchedule   `json:"schedule,omitempty"`
	TaggingCriteria []taggingCriteria `json:"taggingCriteria,omitempty"`
}

type backupSchedule struct {
	RepeatingTimeIntervals []string `json:"repeatingTimeIntervals"`
	TimeZone               string   `json:"timeZone,omitempty"`
}

type taggingCriteria struct {
	IsDefault       bool             `json:"isDefault"`
	TaggingPriority int64            `json:"taggingPriority"`
	TagInfo         retentionTag     `json:"tagInfo"`
	Criteria        []backupCriteria `json:"criteria,omitempty"`
}

type retentionTag struct {
	TagName string `json:"tagName"`
	ID      string `json:"id,omitempty"`
	ETag    string `json:"eTag,omitempty"`
}

type backupCriteria struct {
	ObjectType       string            `json:"objectType"`
	AbsoluteCriteria []string          `json:"absoluteCriteria,omitempty"`
	DaysOfTheWeek    []string          `json:"daysOfTheWeek,omitempty"`
	DaysOfMonth      []json.RawMessage `json:"daysOfMonth,omitempty"`
	WeeksOfTheMonth  []string          `json:"weeksOfTheMonth,omitempty"`
	MonthsOfYear     []string          `json:"monthsOfYear,omitempty"`
	ScheduleTimes    []string          `json:"scheduleTimes,omitempty"`
}

type sourceLifeCycle struct {
	SourceDataStore             *dataStoreInfo    `json:"sourceDataStore"`
	DeleteAfter                 *deleteOption     `json:"deleteAfter"`
	TargetDataStoreCopySettings []json.RawMessage `json:"targetDataStoreCopySettings"`
}

type deleteOption struct {
	ObjectType string `json:"objectType"`
	Duration   string `json:"duration"`
}

// --- backup instances ---

type instanceResource struct {
	arm.ProxyResource
	Tags       map[string]string `json:"tags,omitempty"`
	Properties *backupInstance   `json:"properties"`
	SystemData *arm.SystemData   `json:"systemData,omitempty"`
}

type backupInstance struct {
	ObjectType                     string            `json:"objectType"`
	FriendlyName                   string            `json:"friendlyName,omitempty"`
	DataSourceInfo                 *datasource       `json:"dataSourceInfo"`
	DataSourceSetInfo              *datasource       `json:"dataSourceSetInfo,omitempty"`
	PolicyInfo                     *policyInfo       `json:"policyInfo"`
	DatasourceAuthCredentials      json.RawMessage   `json:"datasourceAuthCredentials,omitempty"`
	IdentityDetails                json.RawMessage   `json:"identityDetails,omitempty"`
	ValidationType                 string            `json:"validationType,omitempty"`
	ProtectionStatus               *protectionStatus `json:"protectionStatus,omitempty"`
	CurrentProtectionState         string            `json:"currentProtectionState,omitempty"`
	ProtectionErrorDetails         *userFacingError  `json:"protectionErrorDetails,omitempty"`
	ProvisioningState              string            `json:"provisioningState,omitempty"`
	ResourceGuardOperationRequests []string          `json:"resourceGuardOperationRequests,omitempty"`
}

type datasource struct {
	ObjectType         string          `json:"objectType,omitempty"`
	DatasourceType     string          `json:"datasourceType,omitempty"`
	ResourceID         string          `json:"resourceID"`
	ResourceLocation   string          `json:"resourceLocation,omitempty"`
	ResourceName       string          `json:"resourceName,omitempty"`
	ResourceType       string          `json:"resourceType,omitempty"`
	ResourceURI        string          `json:"resourceUri"`
	ResourceProperties json.RawMessage `json:"resourceProperties,omitempty"`
}

type policyInfo struct {
	PolicyID         string            `json:"policyId"`
	PolicyVersion    string            `json:"policyVersion"` // Azure answers "" for a disk policy
	PolicyParameters *policyParameters `json:"policyParameters,omitempty"`
}

type policyParameters struct {
	DataStoreParametersList        []dataStoreParameters `json:"dataStoreParametersList,omitempty"`
	BackupDatasourceParametersList []json.RawMessage     `json:"backupDatasourceParametersList,omitempty"`
}

type dataStoreParameters struct {
	ObjectType      string `json:"objectType"`
	DataStoreType   string `json:"dataStoreType"`
	ResourceGroupID string `json:"resourceGroupId,omitempty"`
}

type protectionStatus struct {
	Status       string           `json:"status"`
	ErrorDetails *userFacingError `json:"errorDetails,omitempty"`
}

// userFacingError is Data Protection's UserFacingError (inside CloudError
// additionalInfo, job errorDetails and protection status).
type userFacingError struct {
	Code              string            `json:"code"`
	Message           string            `json:"message"`
	RecommendedAction []string          `json:"recommendedAction,omitempty"`
	Details           any               `json:"details"`
	Target            string            `json:"target"`
	InnerError        *innerError       `json:"innerError"`
	IsRetryable       bool              `json:"isRetryable"`
	IsUserError       bool              `json:"isUserError"`
	Properties        map[string]string `json:"properties,omitempty"`
}

type innerError struct {
	Code           string            `json:"code,omitempty"`
	AdditionalInfo map[string]string `json:"additionalInfo,omitempty"`
}

// --- actions ---

type validateForBackupRequest struct {
	BackupInstance *backupInstance `json:"backupInstance"`
}

type triggerBackupRequest struct {
	BackupRuleOptions *struct {
		RuleName      string `json:"ruleName"`
		TriggerOption *struct {
			RetentionTagOverride string `json:"retentionTagOverride"`
		} `json:"triggerOption"`
	} `json:"backupRuleOptions"`
}

type restoreRequest struct {
	ObjectType          string             `json:"objectType"`
	RecoveryPointID     string             `json:"recoveryPointId"`
	RecoveryPointInTime string             `json:"recoveryPointInTime"`
	SourceDataStoreType string             `json:"sourceDataStoreType"`
	SourceResourceID    string             `json:"sourceResourceId"`
	RestoreTargetInfo   *restoreTargetInfo `json:"restoreTargetInfo"`
	IdentityDetails     json.RawMessage    `json:"identityDetails"`
}

type restoreTargetInfo struct {
	ObjectType      string      `json:"objectType"`
	RecoveryOption  string      `json:"recoveryOption"`
	RestoreLocation string      `json:"restoreLocation"`
	DatasourceInfo  *datasource `json:"datasourceInfo"`
}

// validateRestoreRequest accepts both the 2024 shape
// {"restoreRequestObject": {...}} and the 2021 seed's flattened one.
type validateRestoreRequest struct {
	ObjectType           string          `json:"objectType"`
	RestoreRequestObject *restoreRequest `json:"restoreRequestObject"`
	restoreRequest
}

// --- outputs ---

type operationJobExtendedInfo struct {
	ObjectType string `json:"objectType"`
	JobID      string `json:"jobId,omitempty"`
}

type rpResource struct {
	arm.ProxyResource
	Properties *discreteRP `json:"properties"`
}

type discreteRP struct {
	ObjectType                     string           `json:"objectType"`
	RecoveryPointID                string           `json:"recoveryPointId"`
	RecoveryPointTime              time.Time        `json:"recoveryPointTime"`
	RecoveryPointType              string           `json:"recoveryPointType"`
	FriendlyName                   string           `json:"friendlyName,omitempty"`
	RecoveryPointDataStoresDetails []rpStoreDetails `json:"recoveryPointDataStoresDetails"`
	RetentionTagName               string           `json:"retentionTagName,omitempty"`
	RetentionTagVersion            string           `json:"retentionTagVersion,omitempty"`
	PolicyName                     string           `json:"policyName,omitempty"`
	RecoveryPointState             string           `json:"recoveryPointState"`
	ExpiryTime                     *time.Time       `json:"expiryTime,omitempty"`
}

type rpStoreDetails struct {
	ID           string     `json:"id"`
	Type         string     `json:"type"`
	CreationTime time.Time  `json:"creationTime"`
	ExpiryTime   *time.Time `json:"expiryTime,omitempty"`
	MetaData     *string    `json:"metaData"`
	State        string     `json:"state"`
	Visible      bool       `json:"visible"`
}

type jobResource struct {
	arm.ProxyResource
	Properties *backupJob `json:"properties"`
}

type backupJob struct {
	ActivityID                 string            `json:"activityID"`
	BackupInstanceFriendlyName string            `json:"backupInstanceFriendlyName"`
	BackupInstanceID           string            `json:"backupInstanceId,omitempty"`
	DataSourceID               string            `json:"dataSourceId"`
	DataSourceLocation         string            `json:"dataSourceLocation"`
	DataSourceName             string            `json:"dataSourceName"`
	DataSourceSetName          string            `json:"dataSourceSetName,omitempty"`
	DataSourceType             string            `json:"dataSourceType"`
	DestinationDataStoreName   string            `json:"destinationDataStoreName,omitempty"`
	SourceDataStoreName        string            `json:"sourceDataStoreName,omitempty"`
	Duration                   string            `json:"duration,omitempty"`
	StartTime                  time.Time         `json:"startTime"`
	EndTime                    *time.Time        `json:"endTime,omitempty"`
	ErrorDetails               []userFacingError `json:"errorDetails,omitempty"`
	ExtendedInfo               *jobExtendedInfo  `json:"extendedInfo,omitempty"`
	IsUserTriggered            bool              `json:"isUserTriggered"`
	Operation                  string            `json:"operation"`
	OperationCategory          string            `json:"operationCategory"`
	PolicyID                   string            `json:"policyId,omitempty"`
	PolicyName                 string            `json:"policyName,omitempty"`
	ProgressEnabled            bool              `json:"progressEnabled"`
	RestoreType                string            `json:"restoreType,omitempty"`
	SourceResourceGroup        string            `json:"sourceResourceGroup"`
	SourceSubscriptionID       string            `json:"sourceSubscriptionID"`
	Status                     string            `json:"status"`
	SubscriptionID             string            `json:"subscriptionId"`
	SupportedActions           []string          `json:"supportedActions"`
	VaultName                  string            `json:"vaultName"`
	Etag                       string            `json:"etag,omitempty"`
}

type jobExtendedInfo struct {
	AdditionalDetails      map[string]string `json:"additionalDetails,omitempty"`
	BackupInstanceState    string            `json:"backupInstanceState,omitempty"`
	DataTransferredInBytes *float64          `json:"dataTransferredInBytes,omitempty"`
	RecoveryDestination    string            `json:"recoveryDestination,omitempty"`
	SourceRecoverPoint     *rpRef            `json:"sourceRecoverPoint,omitempty"`
	TargetRecoverPoint     *rpRef            `json:"targetRecoverPoint,omitempty"`
	SubTasks               []jobSubTask      `json:"subTasks,omitempty"`
}

type rpRef struct {
	RecoveryPointID   string     `json:"recoveryPointID,omitempty"`
	RecoveryPointTime *time.Time `json:"recoveryPointTime,omitempty"`
}

type jobSubTask struct {
	TaskID       int32  `json:"taskId"`
	TaskName     string `json:"taskName"`
	TaskStatus   string `json:"taskStatus"`
	TaskProgress string `json:"taskProgress,omitempty"`
}
