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

// LocationInfo is what ARM's location list says of a region beyond its
// name: its display name (what the portal and az account list-locations
// show, and what scripts map back to a name), and its geography.
type LocationInfo struct {
	DisplayName, GeographyGroup, Geography string
	Recommended                            bool // regionCategory Recommended (else Other)
}

// RegionalDisplayName is "(group) display name", as ARM's list answers it.
func (i LocationInfo) RegionalDisplayName() string {
	return "(" + i.GeographyGroup + ") " + i.DisplayName
}

// LocationInfos are the LocationInfo of each of Locations, as Azure's
// location list has them (each display name is its region's name in
// another spelling NormLocation accepts).
var LocationInfos = map[string]LocationInfo{
	"eastus": {"East US", "US", "United States", true}, "eastus2": {"East US 2", "US", "United States", true},
	"southcentralus": {"South Central US", "US", "United States", true}, "westus2": {"West US 2", "US", "United States", true},
	"westus3": {"West US 3", "US", "United States", true}, "australiaeast": {"Australia East", "Asia Pacific", "Australia", true},
	"southeastasia": {"Southeast Asia", "Asia Pacific", "Asia Pacific", true}, "northeurope": {"North Europe", "Europe", "Europe", true},
	"swedencentral": {"Sweden Central", "Europe", "Sweden", true}, "uksouth": {"UK South", "Europe", "United Kingdom", true},
	"westeurope": {"West Europe", "Europe", "Europe", true}, "centralus": {"Central US", "US", "United States", true},
	"southafricanorth": {"South Africa North", "Africa", "South Africa", true}, "centralindia": {"Central India", "Asia Pacific", "India", true},
	"eastasia": {"East Asia", "Asia Pacific", "Asia Pacific", true}, "japaneast": {"Japan East", "Asia Pacific", "Japan", true},
	"koreacentral": {"Korea Central", "Asia Pacific", "Korea", true}, "newzealandnorth": {"New Zealand North", "Asia Pacific", "New Zealand", true},
	"canadacentral": {"Canada Central", "Canada", "Canada", true}, "francecentral": {"France Central", "Europe", "France", true},
	"germanywestcentral": {"Germany West Central", "Europe", "Germany", true}, "italynorth": {"Italy North", "Europe", "Italy", true},
	"norwayeast": {"Norway East", "Europe", "Norway", true}, "polandcentral": {"Poland Central", "Europe", "Poland", true},
	"spaincentral": {"Spain Central", "Europe", "Spain", true}, "switzerlandnorth": {"Switzerland North", "Europe", "Switzerland", true},
	"mexicocentral": {"Mexico Central", "Mexico", "Mexico", true}, "uaenorth": {"UAE North", "Middle East", "UAE", true},
	"brazilsouth": {"Brazil South", "South America", "Brazil", true}, "chilecentral": {"Chile Central", "South America", "Chile", true},
	"indonesiacentral": {"Indonesia Central", "Asia Pacific", "Indonesia", true}, "israelcentral": {"Israel Central", "Middle East", "Israel", true},
	"malaysiawest": {"Malaysia West", "Asia Pacific", "Malaysia", true}, "qatarcentral": {"Qatar Central", "Middle East", "Qatar", true},
	"austriaeast": {"Austria East", "Europe", "Austria", true}, "belgiumcentral": {"Belgium Central", "Europe", "Belgium", true},
	"denmarkeast": {"Denmark East", "Europe", "Denmark", true}, "northcentralus": {"North Central US", "US", "United States", false},
	"westus": {"West US", "US", "United States", false}, "japanwest": {"Japan West", "Asia Pacific", "Japan", false},
	"jioindiawest": {"Jio India West", "Asia Pacific", "India", false}, "westcentralus": {"West Central US", "US", "United States", false},
	"southafricawest": {"South Africa West", "Africa", "South Africa", false}, "australiacentral": {"Australia Central", "Asia Pacific", "Australia", false},
	"australiacentral2": {"Australia Central 2", "Asia Pacific", "Australia", false}, "australiasoutheast": {"Australia Southeast", "Asia Pacific", "Australia", false},
	"jioindiacentral": {"Jio India Central", "Asia Pacific", "India", false}, "koreasouth": {"Korea South", "Asia Pacific", "Korea", false},
	"southindia": {"South India", "Asia Pacific", "India", false}, "westindia": {"West India", "Asia Pacific", "India", false},
	"canadaeast": {"Canada East", "Canada", "Canada", false}, "francesouth": {"France South", "Europe", "France", false},
	"germanynorth": {"Germany North", "Europe", "Germany", false}, "norwaywest": {"Norway West", "Europe", "Norway", false},
	"switzerlandwest": {"Switzerland West", "Europe", "Switzerland", false}, "ukwest": {"UK West", "Europe", "United Kingdom", false},
	"uaecentral": {"UAE Central", "Middle East", "UAE", false}, "brazilsoutheast": {"Brazil Southeast", "South America", "Brazil", false},
	"swedensouth": {"Sweden South", "Europe", "Sweden", false}, "centraluseuap": {"Central US EUAP", "US", "Canary (US)", false},
	"eastus2euap": {"East US 2 EUAP", "US", "Canary (US)", false}, "eastusstg": {"East US STG", "US", "Stage (US)", false},
	"southcentralusstg": {"South Central US STG", "US", "Stage (US)", false},
}
