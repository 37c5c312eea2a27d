package resource

import (
	"cmp"
	"encoding/json"
	"hash/fnv"
	"slices"
	"strconv"
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

// LocationPlace is where a region is, as ARM's location list says it: its
// coordinates (strings, as ARM answers them), its physical location, and
// the region its data is paired with (none for the newer regions that
// have no pair).
type LocationPlace struct {
	Latitude, Longitude, PhysicalLocation, Paired string
}

// LocationPlaces are the LocationPlace of each of Locations, as Azure's
// location list (az account list-locations) has them.
var LocationPlaces = map[string]LocationPlace{
	"eastus": {"37.3719", "-79.8164", "Virginia", "westus"}, "eastus2": {"36.6681", "-78.3889", "Virginia", "centralus"},
	"southcentralus": {"29.4167", "-98.5", "Texas", "northcentralus"}, "westus2": {"47.233", "-119.852", "Washington", "westcentralus"},
	"westus3": {"33.448376", "-112.074036", "Phoenix", "eastus"}, "australiaeast": {"-33.86", "151.2094", "New South Wales", "australiasoutheast"},
	"southeastasia": {"1.283", "103.833", "Singapore", "eastasia"}, "northeurope": {"53.3478", "-6.2597", "Ireland", "westeurope"},
	"swedencentral": {"60.67488", "17.14127", "Gävle", "swedensouth"}, "uksouth": {"50.941", "-0.799", "London", "ukwest"},
	"westeurope": {"52.3667", "4.9", "Netherlands", "northeurope"}, "centralus": {"41.5908", "-93.6208", "Iowa", "eastus2"},
	"southafricanorth": {"-25.73134", "28.21837", "Johannesburg", "southafricawest"}, "centralindia": {"18.5822", "73.9197", "Pune", "southindia"},
	"eastasia": {"22.267", "114.188", "Hong Kong", "southeastasia"}, "japaneast": {"35.68", "139.77", "Tokyo, Saitama", "japanwest"},
	"koreacentral": {"37.5665", "126.978", "Seoul", "koreasouth"}, "newzealandnorth": {"-36.84853", "174.76349", "Auckland", ""},
	"canadacentral": {"43.653", "-79.383", "Toronto", "canadaeast"}, "francecentral": {"46.3772", "2.373", "Paris", "francesouth"},
	"germanywestcentral": {"50.110924", "8.682127", "Frankfurt", "germanynorth"}, "italynorth": {"45.46888", "9.18109", "Milan", ""},
	"norwayeast": {"59.913868", "10.752245", "Norway", "norwaywest"}, "polandcentral": {"52.23334", "21.01666", "Warsaw", ""},
	"spaincentral": {"40.4259", "-3.4209", "Madrid", ""}, "switzerlandnorth": {"47.451542", "8.564572", "Zurich", "switzerlandwest"},
	"mexicocentral": {"20.588818", "-100.389888", "Querétaro State", ""}, "uaenorth": {"25.266666", "55.316666", "Dubai", "uaecentral"},
	"brazilsouth": {"-23.55", "-46.633", "Sao Paulo State", "southcentralus"}, "chilecentral": {"-33.447487", "-70.673676", "Santiago", ""},
	"indonesiacentral": {"-6.2088", "106.8456", "Jakarta", ""}, "israelcentral": {"31.2655698", "33.4506633", "Israel", ""},
	"malaysiawest": {"3.139", "101.6869", "Kuala Lumpur", ""}, "qatarcentral": {"25.551462", "51.439327", "Doha", ""},
	"austriaeast": {"48.2082", "16.3738", "Vienna", ""}, "belgiumcentral": {"50.8503", "4.3517", "Brussels", ""},
	"denmarkeast": {"55.6761", "12.5683", "Copenhagen", ""}, "northcentralus": {"41.8819", "-87.6278", "Illinois", "southcentralus"},
	"westus": {"37.783", "-122.417", "California", "eastus"}, "japanwest": {"34.6939", "135.5022", "Osaka", "japaneast"},
	"jioindiawest": {"22.470701", "70.05773", "Jamnagar", "jioindiacentral"}, "westcentralus": {"40.89", "-110.234", "Wyoming", "westus2"},
	"southafricawest": {"-34.075691", "18.843266", "Cape Town", "southafricanorth"}, "australiacentral": {"-35.3075", "149.1244", "Canberra", "australiacentral2"},
	"australiacentral2": {"-35.3075", "149.1244", "Canberra", "australiacentral"}, "australiasoutheast": {"-37.8136", "144.9631", "Victoria", "australiaeast"},
	"jioindiacentral": {"21.146633", "79.08886", "Nagpur", "jioindiawest"}, "koreasouth": {"35.1796", "129.0756", "Busan", "koreacentral"},
	"southindia": {"12.9822", "80.1636", "Chennai", "centralindia"}, "westindia": {"19.088", "72.868", "Mumbai", "southindia"},
	"canadaeast": {"46.817", "-71.217", "Quebec", "canadacentral"}, "francesouth": {"43.8345", "2.1972", "Marseille", "francecentral"},
	"germanynorth": {"53.073635", "8.806422", "Berlin", "germanywestcentral"}, "norwaywest": {"58.969975", "5.733107", "Norway", "norwayeast"},
	"switzerlandwest": {"46.204391", "6.143158", "Geneva", "switzerlandnorth"}, "ukwest": {"53.427", "-3.084", "Cardiff", "uksouth"},
	"uaecentral": {"24.466667", "54.366669", "Abu Dhabi", "uaenorth"}, "brazilsoutheast": {"-22.90278", "-43.2075", "Rio", "brazilsouth"},
	"swedensouth": {"55.60587", "13.00073", "Malmo", "swedencentral"}, "centraluseuap": {"41.5908", "-93.6208", "Iowa", "eastus2euap"},
	"eastus2euap": {"36.6681", "-78.3889", "Virginia", "centraluseuap"}, "eastusstg": {"37.3719", "-79.8164", "Virginia", "southcentralusstg"},
	"southcentralusstg": {"29.4167", "-98.5", "Texas", "eastusstg"},
}

// zonalRegions are the regions of Locations with availability zones (three
// each), as Azure has them: its recommended regions, designed for zones,
// and the canary East US 2 EUAP. The others ("alternate" regions: West
// US, North Central US, UK West, ...) have none.
var zonalRegions = map[string]bool{}

func init() {
	for l, info := range LocationInfos {
		if info.Recommended {
			zonalRegions[l] = true
		}
	}
	zonalRegions["eastus2euap"] = true
}

// Zones are the logical availability zones of location ("1", "2", "3"),
// none (nil) in a region without zones.
func Zones(location string) []string {
	if !zonalRegions[NormLocation(location)] {
		return nil
	}
	return []string{"1", "2", "3"}
}

// ZoneMapping is which physical zone ("eastus-az2") a subscription's
// logical zone ("1") is in a region. As in Azure, the mapping is the
// subscription's own (two subscriptions' zone 1 need not be the same
// datacenter), and stable: a permutation of the region's three zones
// chosen by the subscription and region. A region without zones has none
// (nil).
func ZoneMapping(sub, location string) [][2]string {
	if Zones(location) == nil {
		return nil
	}
	perms := [6][3]int{{1, 2, 3}, {1, 3, 2}, {2, 1, 3}, {2, 3, 1}, {3, 1, 2}, {3, 2, 1}}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(sub) + "/" + location))
	p := perms[h.Sum32()%6]
	out := make([][2]string, 3)
	for i, z := range p {
		out[i] = [2]string{strconv.Itoa(i + 1), location + "-az" + strconv.Itoa(z)}
	}
	return out
}

// CheckZones is ARM's check of the availability zones asked of a new
// zonal resource (typ its type, "Microsoft.Compute/disks", name its name)
// in location: one zone at most (400 ResourceTypeNotSupportMultiZones),
// and one the region has (400 AvailabilityZoneNotSupported, which names
// the region's zones: none in a region without zones).
func CheckZones(location, typ, name string, zones []string) error {
	if len(zones) == 0 {
		return nil
	}
	short := typ[strings.LastIndex(typ, "/")+1:]
	if len(zones) > 1 {
		e := failure.Invalidf("ResourceTypeNotSupportMultiZones", "The resource type '%s' does not support multiple availability zones. The provided zones are '%s'. Please provide a single availability zone.", short, strings.Join(zones, ","))
		e.Target = "zones"
		return e
	}
	have := Zones(location)
	if slices.Contains(have, strings.TrimSpace(zones[0])) {
		return nil
	}
	loc := NormLocation(location)
	e := failure.Invalidf("AvailabilityZoneNotSupported", "The zone(s) '%s' for resource '%s/%s' is not supported. The supported zones for location '%s' are '%s'.", zones[0], typ, name, loc, strings.Join(have, ","))
	if have == nil {
		e.Message += " Region '" + loc + "' has no availability zones: leave out zones, or create the resource in a region with zones."
	}
	e.Target = "zones"
	return e
}

// CheckExtendedLocation is ARM's check of the extendedLocation (an edge
// zone: {"name": ..., "type": "EdgeZone"}) asked of a new resource of type
// typ in location: Safehold serves no edge zones (its location list
// answers none), so any one is 400 LocationNotAvailableForResourceType,
// named as ARM names it, "{edge zone} ({region})". An absent or null
// extendedLocation is nil.
func CheckExtendedLocation(location, typ string, ext []byte) error {
	s := strings.TrimSpace(string(ext))
	if s == "" || s == "null" {
		return nil
	}
	var el struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(ext, &el); err != nil {
		e := failure.Invalidf("InvalidParameter", "The value of 'extendedLocation' must be an object: {\"name\": \"<edge zone>\", \"type\": \"EdgeZone\"}.")
		e.Target = "extendedLocation"
		return e
	}
	region := NormLocation(location)
	if info, ok := LocationInfos[region]; ok {
		region = info.DisplayName
	}
	e := failure.Invalidf("LocationNotAvailableForResourceType", "The provided location '%s (%s)' is not available for resource type '%s'. List of available regions for the resource type is '%s'. This server has no edge zones (extendedLocation type %s): leave out extendedLocation to create the resource in region '%s'.",
		el.Name, region, typ, strings.Join(Locations, ","), cmp.Or(el.Type, "EdgeZone"), NormLocation(location))
	e.Target = "extendedLocation"
	return e
}
