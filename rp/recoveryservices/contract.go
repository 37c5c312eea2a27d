package recoveryservices

import (
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// registerContract adds the vault-level families clients read around the
// backup flow: resource guard proxies (a vault with no resource guard lists
// none), the backup encryption config, and the namespace's operations
// catalog. R is the vault path pattern.
func (pr *Provider) registerContract(rt *arm.Router, R string) {
	rt.Handle("GET", R+"/backupResourceGuardProxies", pr.listGuardProxies)
	rt.Handle("GET", R+"/backupResourceGuardProxies/{resourceGuardProxyName}", pr.getGuardProxy)
	rt.Handle("GET", R+"/backupEncryptionConfigs/backupResourceEncryptionConfig", pr.getEncryptionConfig)
	rt.Handle("PUT", R+"/backupEncryptionConfigs/backupResourceEncryptionConfig", pr.putEncryptionConfig)
	rt.Handle("GET", "/providers/Microsoft.RecoveryServices/operations", resource.OperationsCatalog(rt, namespace, "Microsoft Recovery Services"), arm.NoAuthz())
}

func (pr *Provider) listGuardProxies(r *arm.Request) (*arm.Response, error) {
	if _, _, err := pr.vaultOf(r); err != nil {
		return nil, err
	}
	return arm.OK(arm.Values([]any{})), nil
}

func (pr *Provider) getGuardProxy(r *arm.Request) (*arm.Response, error) {
	if _, _, err := pr.vaultOf(r); err != nil {
		return nil, err
	}
	return nil, arm.Errorf(http.StatusNotFound, "ResourceGuardProxyNotFound", "The vault has no resource guard proxy '%s': Safehold does not serve resource guards.", r.Param("resourceGuardProxyName"))
}

func (pr *Provider) encryptionConfig(r *arm.Request) (arm.ResourceID, configRecord, error) {
	_, vid, err := pr.vaultOf(r)
	if err != nil {
		return arm.ResourceID{}, configRecord{}, err
	}
	id := vid.Child("backupEncryptionConfigs", "backupResourceEncryptionConfig")
	c := configRecord{ID: id.String(), Name: "backupResourceEncryptionConfig", Type: "Microsoft.RecoveryServices/vaults/backupEncryptionConfigs",
		Properties: map[string]any{"encryptionAtRestType": "MicrosoftManaged", "lastUpdateStatus": "NotEnabled", "infrastructureEncryptionState": "Disabled"}}
	var cur configRecord
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, id, &cur); err == nil {
		c = cur
	}
	return id, c, nil
}

func (pr *Provider) getEncryptionConfig(r *arm.Request) (*arm.Response, error) {
	_, c, err := pr.encryptionConfig(r)
	if err != nil {
		return nil, err
	}
	return arm.OK(c), nil
}

// putEncryptionConfig records a customer-managed key setting (Safehold's
// own encryption at rest does not change) and answers 200 with no body, as
// Azure does.
func (pr *Provider) putEncryptionConfig(r *arm.Request) (*arm.Response, error) {
	id, c, err := pr.encryptionConfig(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		Properties map[string]any `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Properties == nil {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties is required, e.g. {\"properties\":{\"encryptionAtRestType\":\"CustomerManaged\",\"keyUri\":\"...\"}}.")
	}
	for _, k := range []string{"encryptionAtRestType", "keyUri", "subscriptionId", "infrastructureEncryptionState", "useSystemAssignedIdentity", "userAssignedIdentity"} {
		if v, ok := in.Properties[k]; ok {
			c.Properties[k] = v
		}
	}
	typ, _ := c.Properties["encryptionAtRestType"].(string)
	switch strings.ToLower(typ) {
	case "microsoftmanaged":
	case "customermanaged":
		if k, _ := c.Properties["keyUri"].(string); k == "" {
			return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.keyUri is required when encryptionAtRestType is CustomerManaged.")
		}
	default:
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.encryptionAtRestType '%s' is invalid: use MicrosoftManaged or CustomerManaged.", typ)
	}
	c.Properties["lastUpdateStatus"] = "Succeeded"
	if err := pr.p.Store.Update(r.HTTP.Context(), func(tx store.Tx) error { return resource.Put(r.HTTP.Context(), tx, id, &c) }); err != nil {
		return nil, err
	}
	return &arm.Response{Status: http.StatusOK}, nil
}
