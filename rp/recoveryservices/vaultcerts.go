package recoveryservices

import (
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/identity"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// registerVaultRegistration adds the vaults spec's resources about what
// registers with a vault: the certificates agents upload
// (vaults/{v}/certificates/{name}), the unregistration of a container
// (registeredIdentities), the soft-deleted containers and the Site Recovery
// usages (replicationUsages).
func (pr *Provider) registerVaultRegistration(rt *arm.Router, R string) {
	rt.Handle("PUT", R+"/certificates/{certificateName}", pr.putVaultCertificate)
	rt.Handle("DELETE", R+"/registeredIdentities/{identityName}", pr.deleteRegisteredIdentity)
	rt.Handle("GET", R+"/replicationUsages", pr.replicationUsages)
	rt.Handle("GET", R+"/backupDeletedProtectionContainers", pr.listDeletedContainers)
}

const vaultCertType = "Microsoft.RecoveryServices/vaults/certificates"

// vaultCertRecord is an uploaded certificate with what was read from it,
// and the vault's AAD registration: the service principal the vault's
// certificates belong to (one per vault, created with its first
// certificate and deleted with the vault).
type vaultCertRecord struct {
	arm.ProxyResource
	Certificate string    `json:"certificate"` // as sent: base64 on the wire
	Thumbprint  string    `json:"thumbprint"`
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	ValidFrom   time.Time `json:"validFrom"`
	ValidTo     time.Time `json:"validTo"`
	ResourceID  int64     `json:"resourceId"`
	SPObjectID  string    `json:"servicePrincipalObjectId,omitempty"`
	SPClientID  string    `json:"servicePrincipalClientId,omitempty"`
}

// parseUploadedCertificate reads an X.509 certificate from the bytes of a
// CertificateRequest: DER, PEM, or either encoded in base64 once more
// (agents and SDK samples send the base64 text of the certificate as the
// byte array, which the wire encodes again).
func parseUploadedCertificate(b []byte) (*x509.Certificate, error) {
	for range 4 {
		if blk, _ := pem.Decode(b); blk != nil {
			b = blk.Bytes
		}
		if c, err := x509.ParseCertificate(b); err == nil {
			return c, nil
		}
		s := strings.Join(strings.Fields(string(b)), "")
		d, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			d, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		}
		if err != nil || len(d) == 0 {
			break
		}
		b = d
	}
	return nil, errors.New("not an X.509 certificate")
}

// vaultResourceNumber is the vault's numeric resource id in the AAD
// details (Azure's is a 64-bit number per vault): stable for the vault.
func vaultResourceNumber(v *vaultRecord) int64 {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(v.UniqueID + v.ID)))
	return int64(h.Sum64() >> 1)
}

// putVaultCertificate uploads a certificate for the vault (PUT
// vaults/{v}/certificates/{name}, authType AAD): the certificate is parsed
// (thumbprint, subject, issuer, validity) and registered to the vault's
// service principal, and the answer is ResourceCertificateAndAadDetails.
// ACS was retired by Azure: only AAD (AzureActiveDirectory) is accepted.
func (pr *Provider) putVaultCertificate(r *arm.Request) (*arm.Response, error) {
	var in struct {
		Properties *struct {
			AuthType    string `json:"authType"`
			Certificate []byte `json:"certificate"`
		} `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Properties == nil {
		return nil, arm.BadRequest("BadRequest", "properties is required: give properties.authType 'AAD' and properties.certificate (the certificate, base64).")
	}
	switch strings.ToLower(in.Properties.AuthType) {
	case "aad", "azureactivedirectory":
	case "":
		return nil, arm.BadRequest("BadRequest", "properties.authType is required: use 'AAD'.")
	default:
		return nil, arm.BadRequest("BadRequest", "properties.authType '%s' is not supported: use 'AAD' (Access Control Service was retired).", in.Properties.AuthType)
	}
	if len(in.Properties.Certificate) == 0 {
		return nil, arm.BadRequest("BadRequest", "properties.certificate is required: the certificate (DER or PEM), base64.")
	}
	cert, err := parseUploadedCertificate(in.Properties.Certificate)
	if err != nil {
		return nil, arm.BadRequest("InvalidCertificate", "properties.certificate is not an X.509 certificate: send its DER or PEM bytes, base64.")
	}
	sum := sha1.Sum(cert.Raw)
	ctx := r.HTTP.Context()
	var rec vaultCertRecord
	var v *vaultRecord
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var vid arm.ResourceID
		var err error
		v, vid, err = pr.vaultIn(ctx, tx, r)
		if err != nil {
			return err
		}
		id := vid.Child("certificates", r.Param("certificateName"))
		rec = vaultCertRecord{ProxyResource: arm.ProxyResource{ID: id.String(), Name: r.Param("certificateName"), Type: vaultCertType},
			Certificate: base64.StdEncoding.EncodeToString(in.Properties.Certificate),
			Thumbprint:  strings.ToUpper(hex.EncodeToString(sum[:])), Subject: cert.Subject.String(), Issuer: cert.Issuer.String(),
			ValidFrom: cert.NotBefore.UTC(), ValidTo: cert.NotAfter.UTC(), ResourceID: vaultResourceNumber(v)}
		sp, err := pr.vaultPrincipal(ctx, tx, vid)
		if err != nil {
			return err
		}
		if sp != nil {
			rec.SPObjectID, rec.SPClientID = sp.ObjectID, sp.AppID
		}
		return resource.Put(ctx, tx, id, &rec)
	})
	if err != nil {
		return nil, err
	}
	base := r.BaseURL()
	return arm.OK(map[string]any{"id": rec.ID, "name": rec.Name, "type": rec.Type, "properties": map[string]any{
		"authType": "AzureActiveDirectory", "certificate": rec.Certificate, "friendlyName": "",
		"issuer": rec.Issuer, "subject": rec.Subject, "thumbprint": rec.Thumbprint, "resourceId": rec.ResourceID,
		"validFrom": wt(rec.ValidFrom), "validTo": wt(rec.ValidTo),
		"aadAuthority": base, "aadTenantId": pr.p.TenantID,
		"aadAudience":                     "api://" + pr.p.TenantID + "/RecoveryServiceVault/" + v.Location + "/" + v.Name + "/" + strconv.FormatInt(rec.ResourceID, 10),
		"azureManagementEndpointAudience": base + "/",
		"servicePrincipalClientId":        rec.SPClientID, "servicePrincipalObjectId": rec.SPObjectID,
	}}), nil
}

// vaultPrincipal is the vault's AAD registration, created with its first
// certificate: a service principal of the directory whose resource is the
// vault. nil when the platform has no directory.
func (pr *Provider) vaultPrincipal(ctx context.Context, tx store.Tx, vid arm.ResourceID) (*identity.Principal, error) {
	if pr.p.Dir == nil {
		return nil, nil
	}
	certs, err := resource.List[vaultCertRecord](ctx, tx, vaultCertType, vid.String())
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if c.SPObjectID != "" {
			return &identity.Principal{ObjectID: c.SPObjectID, AppID: c.SPClientID}, nil
		}
	}
	sp, _, err := pr.p.Dir.CreateServicePrincipal(ctx, tx, vid.Name()+"-vaultcredentials")
	if err != nil {
		return nil, err
	}
	sp.ResourceID = vid.String()
	return sp, pr.p.Dir.Put(ctx, tx, sp)
}

// dropVaultPrincipal deletes the vault's AAD registration (with the vault).
func (pr *Provider) dropVaultPrincipal(ctx context.Context, tx store.Tx, vid arm.ResourceID) error {
	if pr.p.Dir == nil {
		return nil
	}
	certs, err := resource.List[vaultCertRecord](ctx, tx, vaultCertType, vid.String())
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, c := range certs {
		if c.SPObjectID == "" || done[c.SPObjectID] {
			continue
		}
		done[c.SPObjectID] = true
		if err := pr.p.Dir.Delete(ctx, tx, c.SPObjectID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// deleteRegisteredIdentity unregisters a container from the vault (DELETE
// vaults/{v}/registeredIdentities/{name}, the container's name): a
// container that still has protected items is refused (stop protection and
// delete the backup data first, which unregisters it); a name the vault
// does not know is already unregistered (204, as ARM deletes are).
func (pr *Provider) deleteRegisteredIdentity(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	name := r.Param("identityName")
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		_, vid, err := pr.vaultIn(ctx, tx, r)
		if err != nil {
			return err
		}
		cs, err := resource.List[containerRecord](ctx, tx, containerType, vid.String())
		if err != nil {
			return err
		}
		for _, c := range cs {
			if !sameContainerName(c.Name, name) {
				continue
			}
			items, err := resource.List[itemRecord](ctx, tx, itemType, vid.String())
			if err != nil {
				return err
			}
			for _, it := range items {
				if strings.EqualFold(it.ContainerID, c.ID) {
					return arm.BadRequest("BMSUserErrorContainerHasDatasources", "The container '%s' has protected items (%s): stop their protection and delete their backup data, which unregisters the container.", name, it.FriendlyName)
				}
			}
			return resource.Delete(ctx, tx, mustParse(c.ID))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return arm.NoContent(), nil
}

// sameContainerName: a container's name with or without its
// "IaasVMContainer;" prefix.
func sameContainerName(stored, name string) bool {
	if strings.EqualFold(stored, name) {
		return true
	}
	_, bare, ok := strings.Cut(stored, ";")
	return ok && strings.EqualFold(bare, name)
}

// replicationUsages answers GET vaults/{v}/replicationUsages, the vault's
// Site Recovery figures: Safehold replicates nothing (it has no Site
// Recovery), so every count is zero, which is the truth for its vaults.
func (pr *Provider) replicationUsages(r *arm.Request) (*arm.Response, error) {
	if _, err := pr.foundVaultID(r); err != nil {
		return nil, err
	}
	return arm.OK(arm.Values([]any{map[string]any{
		"monitoringSummary": map[string]any{"unHealthyVmCount": 0, "unHealthyProviderCount": 0, "eventsCount": 0,
			"deprecatedProviderCount": 0, "supportedProviderCount": 0, "unsupportedProviderCount": 0},
		"jobsSummary":            map[string]any{"failedJobs": 0, "suspendedJobs": 0, "inProgressJobs": 0},
		"protectedItemCount":     0,
		"recoveryPlanCount":      0,
		"registeredServersCount": 0,
	}})), nil
}
