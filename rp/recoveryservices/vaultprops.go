package recoveryservices

import (
	"fmt"
	"slices"
	"strings"

	"github.com/safehold/safehold/arm"
)

// A vault's properties are kept as the JSON they were sent as (Azure's
// VaultProperties has more than Safehold acts on, and clients read back
// what they wrote), so their shape is checked here: each property Azure
// defines must have its JSON type, which the SDKs decode it as, and a
// writable one with an enum one of its values (400
// BMSUserErrorInvalidInput naming it). Properties Azure does not define
// are kept as sent.

// propShape is what a vault property may hold.
type propShape struct {
	kind   byte     // 'o' object, 's' string, 'b' bool, 'a' array of strings, 'l' array of objects, 0 anything
	values []string // a string's allowed values (any case), when an enum
	fields map[string]propShape
}

func enumOf(values ...string) propShape { return propShape{kind: 's', values: values} }
func objectOf(fields map[string]propShape) propShape {
	return propShape{kind: 'o', fields: fields}
}

var (
	onOffShape  = enumOf("Enabled", "Disabled")
	stringShape = propShape{kind: 's'}
	objectShape = propShape{kind: 'o'}
)

// vaultPropertyShapes is Azure's VaultProperties (Microsoft.RecoveryServices
// vaults, api-version 2024-10-01).
var vaultPropertyShapes = objectOf(map[string]propShape{
	"publicNetworkAccess": onOffShape,
	"redundancySettings": objectOf(map[string]propShape{
		"standardTierStorageRedundancy": enumOf("LocallyRedundant", "GeoRedundant", "ZoneRedundant", "ReadAccessGeoZoneRedundant"),
		"crossRegionRestore":            onOffShape,
	}),
	"restoreSettings": objectOf(map[string]propShape{
		"crossSubscriptionRestoreSettings": objectOf(map[string]propShape{
			"crossSubscriptionRestoreState": enumOf("Enabled", "Disabled", "PermanentlyDisabled"),
		}),
	}),
	"securitySettings": objectOf(map[string]propShape{
		"immutabilitySettings":   objectOf(map[string]propShape{"state": enumOf("Disabled", "Unlocked", "Locked")}),
		"softDeleteSettings":     objectShape, // checked as a backupconfig write is (softDeleteToConfig)
		"multiUserAuthorization": stringShape, // (the vault's own: markMUA)
	}),
	"monitoringSettings": objectOf(map[string]propShape{
		"azureMonitorAlertSettings": objectOf(map[string]propShape{
			"alertsForAllJobFailures": onOffShape, "alertsForAllReplicationIssues": onOffShape, "alertsForAllFailoverIssues": onOffShape,
		}),
		"classicAlertSettings": objectOf(map[string]propShape{
			"alertsForCriticalOperations": onOffShape, "emailNotificationsForSiteRecovery": onOffShape,
		}),
	}),
	"encryption": objectOf(map[string]propShape{
		"infrastructureEncryption": onOffShape,
		"keyVaultProperties":       objectOf(map[string]propShape{"keyUri": stringShape}),
		"kekIdentity":              objectOf(map[string]propShape{"userAssignedIdentity": stringShape, "useSystemAssignedIdentity": {kind: 'b'}}),
	}),
	"resourceGuardOperationRequests": {kind: 'a'},
	// Read-only in Azure: of the right type when sent.
	"backupStorageVersion": stringShape, "bcdrSecurityLevel": stringShape, "moveDetails": objectShape, "moveState": stringShape,
	"privateEndpointConnections": {kind: 'l'}, "privateEndpointStateForBackup": stringShape,
	"privateEndpointStateForSiteRecovery": stringShape, "provisioningState": stringShape, "secureScore": stringShape,
	"upgradeDetails": objectShape,
})

// checkVaultProperties checks the properties a vault PUT or PATCH sends
// against vaultPropertyShapes. A null (a PATCH's removal) is taken
// anywhere.
func checkVaultProperties(in map[string]any) error {
	return checkShape("properties", in, vaultPropertyShapes.fields)
}

func checkShape(path string, in map[string]any, fields map[string]propShape) error {
	for k, v := range in {
		// Azure's property names match in any case; the stored key is
		// the one sent.
		var shape propShape
		var known bool
		for name, s := range fields {
			if strings.EqualFold(name, k) {
				shape, known = s, true
				break
			}
		}
		if !known {
			continue
		}
		at := path + "." + k
		if v == nil {
			continue
		}
		if err := checkValue(at, v, shape); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(at string, v any, shape propShape) error {
	bad := func(want string) error {
		return arm.BadRequestAt(at, "BMSUserErrorInvalidInput", "%s must be %s, not %s.", at, want, describeJSON(v))
	}
	switch shape.kind {
	case 'o':
		m, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		if shape.fields != nil {
			return checkShape(at, m, shape.fields)
		}
	case 's':
		s, ok := v.(string)
		if !ok {
			if len(shape.values) > 0 {
				return bad("one of '" + strings.Join(shape.values, "', '") + "'")
			}
			return bad("a string")
		}
		if len(shape.values) > 0 && !slices.ContainsFunc(shape.values, func(x string) bool { return strings.EqualFold(x, s) }) {
			return arm.BadRequestAt(at, "BMSUserErrorInvalidInput", "%s '%s' is not valid: use one of '%s'.", at, s, strings.Join(shape.values, "', '"))
		}
	case 'b':
		if _, ok := v.(bool); !ok {
			return bad("true or false")
		}
	case 'a', 'l':
		l, ok := v.([]any)
		if !ok {
			return bad(map[byte]string{'a': "an array of strings", 'l': "an array of objects"}[shape.kind])
		}
		item := map[byte]propShape{'a': stringShape, 'l': objectShape}[shape.kind]
		for i, x := range l {
			if err := checkValue(fmt.Sprintf("%s[%d]", at, i), x, item); err != nil {
				return err
			}
		}
	}
	return nil
}

// describeJSON names a decoded JSON value's type and value, for messages.
func describeJSON(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string '%s'", x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return fmt.Sprintf("%t", x)
	default:
		return fmt.Sprintf("%v", x)
	}
}
