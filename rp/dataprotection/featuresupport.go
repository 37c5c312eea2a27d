package dataprotection

import (
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
)

// azureDatasourceTypes are the datasource types Azure's Backup vaults
// know; Safehold's Backup vaults protect managed disks only, so
// checkFeatureSupport answers the others NotSupported.
var azureDatasourceTypes = []string{
	typeDisk,
	"Microsoft.Storage/storageAccounts/blobServices",
	"Microsoft.DBforPostgreSQL/servers/databases",
	"Microsoft.DBforPostgreSQL/flexibleServers",
	"Microsoft.DBforMySQL/flexibleServers",
	"Microsoft.ContainerService/managedClusters",
}

// checkFeatureSupport answers POST locations/{location}/checkFeatureSupport
// (FeatureValidationRequest, featureType DataSourceType): whether each
// datasource type (or the one named by featureName) can be protected by a
// Backup vault here. Managed disks are GenerallyAvailable; every other type
// is NotSupported, which is what Safehold does with them.
func (pr *Provider) checkFeatureSupport(r *arm.Request) (*arm.Response, error) {
	var in struct {
		ObjectType  string `json:"objectType"`
		FeatureType string `json:"featureType"`
		FeatureName string `json:"featureName"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if !strings.EqualFold(in.ObjectType, "FeatureValidationRequest") {
		return nil, arm.BadRequest("InvalidInput", "objectType '%s' is not supported: use 'FeatureValidationRequest'.", in.ObjectType)
	}
	if !strings.EqualFold(in.FeatureType, "DataSourceType") {
		return nil, arm.BadRequest("InvalidInput", "featureType '%s' is not supported: use 'DataSourceType'.", in.FeatureType)
	}
	if err := resource.CheckLocation(r.Param("location"), namespace+"/locations"); err != nil {
		return nil, err
	}
	names := azureDatasourceTypes
	if in.FeatureName != "" {
		names = []string{in.FeatureName}
	}
	features := make([]any, 0, len(names))
	for _, n := range names {
		status := "NotSupported"
		if strings.EqualFold(n, typeDisk) {
			n, status = typeDisk, "GenerallyAvailable"
		}
		features = append(features, map[string]any{"featureName": n, "supportStatus": status, "exposureControlledFeatures": []string{}})
	}
	return arm.OK(map[string]any{"objectType": "FeatureValidationResponse", "featureType": "DataSourceType", "features": features}), nil
}
