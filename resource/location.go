package resource

import (
	"slices"
	"strings"

	"github.com/safehold/safehold/failure"
)

// Locations are the regions Safehold reports; resources may use any of them.
var Locations = []string{"eastus", "eastus2", "southcentralus", "westus2", "westus3", "australiaeast", "southeastasia", "northeurope",
	"swedencentral", "uksouth", "westeurope", "centralus", "southafricanorth", "centralindia", "eastasia", "japaneast", "koreacentral",
	"newzealandnorth", "canadacentral", "francecentral", "germanywestcentral", "italynorth", "norwayeast", "polandcentral", "spaincentral",
	"switzerlandnorth", "mexicocentral", "uaenorth", "brazilsouth", "chilecentral", "indonesiacentral", "israelcentral", "malaysiawest",
	"qatarcentral", "austriaeast", "belgiumcentral", "denmarkeast", "northcentralus", "westus", "japanwest", "jioindiawest", "westcentralus",
	"southafricawest", "australiacentral", "australiacentral2", "australiasoutheast", "jioindiacentral", "koreasouth", "southindia",
	"westindia", "canadaeast", "francesouth", "germanynorth", "norwaywest", "switzerlandwest", "ukwest", "uaecentral", "brazilsoutheast",
	"swedensouth", "centraluseuap", "eastus2euap", "eastusstg", "southcentralusstg"}

// KnownLocation reports whether l (in any spelling NormLocation
// accepts) is one of Locations.
func KnownLocation(l string) bool { return slices.Contains(Locations, NormLocation(l)) }

// CheckLocation is ARM's check of a new resource's location: a 400
// LocationNotAvailableForResourceType naming the type when it is not one of
// Locations (an empty location is the caller's LocationRequired).
func CheckLocation(l, typ string) error {
	if KnownLocation(l) {
		return nil
	}
	return failure.Invalidf("LocationNotAvailableForResourceType", "The provided location '%s' is not available for resource type '%s'. List of available regions for the resource type is '%s'.", l, typ, strings.Join(Locations, ","))
}
