package recoveryservices_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// selfSigned makes a certificate for subject valid from nb to na (DER).
func selfSigned(t *testing.T, subject string, nb, na time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: subject}, NotBefore: nb, NotAfter: na}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestVaultCertificates: a certificate uploaded to a vault (the vault
// credentials of an agent) is read for real: its SHA-1 thumbprint, subject,
// issuer and validity come back in Azure's ResourceCertificateAndAadDetails
// with the vault's AAD registration (a service principal of the directory,
// one per vault, deleted with the vault), whether it is sent as DER, PEM
// or base64 text; bad input is a 400 naming what to send, a reader cannot
// upload, and an unknown vault is 404.
func TestVaultCertificates(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/cv"
	mkVault(t, e, R+rsAPI, "westus")
	vc := testserver.Factory(e, armrecoveryservices.NewClientFactory).NewVaultCertificatesClient()

	nb := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	der := selfSigned(t, "agent01.contoso.com", nb, nb.Add(48*time.Hour))
	sum := sha1.Sum(der)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	var spID, clientID string
	for _, form := range []struct {
		name string
		b    []byte
	}{{"DER", der}, {"PEM", pemBytes}, {"base64 text", []byte(base64.StdEncoding.EncodeToString(der))}} {
		res, err := vc.Create(e.Ctx(), "vaultrg", "cv", "cv-agent01-vaultcredentials", armrecoveryservices.CertificateRequest{
			Properties: &armrecoveryservices.RawCertificateData{AuthType: to.Ptr(armrecoveryservices.AuthTypeAAD), Certificate: form.b}}, nil)
		if err != nil {
			t.Fatalf("%s: %v", form.name, err)
		}
		p, ok := res.Properties.(*armrecoveryservices.ResourceCertificateAndAADDetails)
		if !ok {
			t.Fatalf("%s: properties %T", form.name, res.Properties)
		}
		if *p.AuthType != "AzureActiveDirectory" || *p.Thumbprint != thumb || *p.Subject != "CN=agent01.contoso.com" || *p.Issuer != "CN=agent01.contoso.com" ||
			!p.ValidFrom.Equal(nb) || !p.ValidTo.Equal(nb.Add(48*time.Hour)) || string(p.Certificate) != string(form.b) {
			t.Fatalf("%s: %+v", form.name, p)
		}
		if *p.AADTenantID == "" || *p.ServicePrincipalObjectID == "" || *p.ServicePrincipalClientID == "" || !strings.Contains(*p.AADAudience, "/RecoveryServiceVault/westus/cv/") {
			t.Fatalf("%s: AAD details %+v", form.name, p)
		}
		if spID == "" {
			spID, clientID = *p.ServicePrincipalObjectID, *p.ServicePrincipalClientID
		} else if *p.ServicePrincipalObjectID != spID || *p.ServicePrincipalClientID != clientID {
			t.Fatalf("%s: the vault's registration changed: %s, was %s", form.name, *p.ServicePrincipalObjectID, spID)
		}
		if *res.ID != R+"/certificates/cv-agent01-vaultcredentials" || *res.Type != "Microsoft.RecoveryServices/vaults/certificates" {
			t.Fatalf("%s: %s %s", form.name, *res.ID, *res.Type)
		}
	}
	sp := "/providers/Safehold.Identity/servicePrincipals/" + spID + "?api-version=2024-01-01"
	resp, m := e.Do("GET", sp, nil)
	if resp.StatusCode != 200 || !strings.EqualFold(str(m, "resourceId"), R) || str(m, "appId") != clientID {
		t.Fatalf("the vault's service principal: %d %v", resp.StatusCode, m)
	}

	for _, c := range []struct {
		what, code string
		body       armrecoveryservices.CertificateRequest
	}{
		{"not a certificate", "InvalidCertificate", armrecoveryservices.CertificateRequest{Properties: &armrecoveryservices.RawCertificateData{AuthType: to.Ptr(armrecoveryservices.AuthTypeAAD), Certificate: []byte("hello")}}},
		{"no certificate", "BadRequest", armrecoveryservices.CertificateRequest{Properties: &armrecoveryservices.RawCertificateData{AuthType: to.Ptr(armrecoveryservices.AuthTypeAAD)}}},
		{"ACS", "BadRequest", armrecoveryservices.CertificateRequest{Properties: &armrecoveryservices.RawCertificateData{AuthType: to.Ptr(armrecoveryservices.AuthTypeACS), Certificate: der}}},
		{"no properties", "BadRequest", armrecoveryservices.CertificateRequest{}},
	} {
		_, err := vc.Create(e.Ctx(), "vaultrg", "cv", "c2", c.body, nil)
		if !testserver.HasError(err, 400, c.code) {
			t.Fatalf("%s: %v", c.what, err)
		}
	}
	_, err := vc.Create(e.Ctx(), "vaultrg", "nosuch", "c2", armrecoveryservices.CertificateRequest{Properties: &armrecoveryservices.RawCertificateData{AuthType: to.Ptr(armrecoveryservices.AuthTypeAAD), Certificate: der}}, nil)
	if !testserver.HasError(err, 404, "") {
		t.Fatalf("unknown vault: %v", err)
	}
	reader := newPrincipal(t, e, "reader", rbac.BackupReader, "/subscriptions/"+e.Sub+"/resourceGroups/vaultrg")
	resp, m = e.Do("PUT", R+"/certificates/c3"+rsAPI, map[string]any{"properties": map[string]any{"authType": "AAD", "certificate": base64.StdEncoding.EncodeToString(der)}}, testserver.As(reader.cred))
	must(t, "a reader uploads a certificate", resp, m, 403)

	resp, m = e.Do("DELETE", R+rsAPI, nil)
	must(t, "delete the vault", resp, m, 200, 204)
	resp, m = e.Do("GET", sp, nil, testserver.AnyStatus())
	if resp.StatusCode != 404 {
		t.Fatalf("the vault's service principal after the vault: %d %v", resp.StatusCode, m)
	}
}

// TestRegisteredIdentities: unregistering a container that still has a
// protected item is refused with what to do; once its backup data is
// deleted it is no longer registered, and a name the vault does not know
// is 204 (ARM's delete); an unknown vault is 404. The Site Recovery usages
// of a vault are all zero: Safehold replicates nothing.
func TestRegisteredIdentities(t *testing.T) {
	e, R, I, _ := protectedApp(t)
	f := testserver.Factory(e, armrecoveryservices.NewClientFactory)
	ri := f.NewRegisteredIdentitiesClient()
	_, err := ri.Delete(e.Ctx(), "vaultrg", "rv", "IaasVMContainer;iaasvmcontainerv2;vmrg;app", nil)
	if !testserver.HasError(err, 400, "BMSUserErrorContainerHasDatasources") {
		t.Fatalf("unregister a container with an item: %v", err)
	}
	_, err = ri.Delete(e.Ctx(), "vaultrg", "rv", "iaasvmcontainerv2;vmrg;app", nil)
	if !testserver.HasError(err, 400, "") {
		t.Fatalf("unregister a container with an item, bare name: %v", err)
	}
	resp, m := e.Do("GET", I+rsAPI, nil)
	must(t, "the item is still there", resp, m, 200)
	if _, err := ri.Delete(e.Ctx(), "vaultrg", "rv", "dpmcontainer01", nil); err != nil {
		t.Fatalf("unregister an unknown container: %v", err)
	}
	if _, err := ri.Delete(e.Ctx(), "vaultrg", "nosuch", "dpmcontainer01", nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("unknown vault: %v", err)
	}
	resp, m = e.Do("DELETE", I+rsAPI, nil)
	must(t, "delete the backup data", resp, m, 202)
	e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	if _, err := ri.Delete(e.Ctx(), "vaultrg", "rv", "IaasVMContainer;iaasvmcontainerv2;vmrg;app", nil); err != nil {
		t.Fatalf("unregister a container without items: %v", err)
	}
	resp, m = e.Do("GET", R+"/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;app"+rsAPI, nil, testserver.AnyStatus())
	if resp.StatusCode != 404 {
		t.Fatalf("the container after unregistering: %d %v", resp.StatusCode, m)
	}

	pg := f.NewReplicationUsagesClient().NewListPager("vaultrg", "rv", nil)
	page, err := pg.NextPage(e.Ctx())
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("replication usages: %v %+v", err, page)
	}
	u := page.Value[0]
	if *u.ProtectedItemCount != 0 || *u.RegisteredServersCount != 0 || *u.RecoveryPlanCount != 0 || *u.JobsSummary.InProgressJobs != 0 || *u.MonitoringSummary.UnHealthyVMCount != 0 {
		t.Fatalf("replication usages: %+v", u)
	}
	if _, err := f.NewReplicationUsagesClient().NewListPager("vaultrg", "nosuch", nil).NextPage(e.Ctx()); !testserver.HasError(err, 404, "") {
		t.Fatalf("replication usages of an unknown vault: %v", err)
	}
}

// TestDeletedContainers: deleting a VM's backup data removes its container
// at once (nothing is soft-deleted here), so the vault's deleted containers
// list is empty before and after; a $filter on another field is 400 and an
// unknown vault 404.
func TestDeletedContainers(t *testing.T) {
	e, R, I, _ := protectedApp(t)
	list := func() int {
		t.Helper()
		pg := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory).NewDeletedProtectionContainersClient().NewListPager("vaultrg", "rv", &armrecoveryservicesbackup.DeletedProtectionContainersClientListOptions{Filter: to.Ptr("backupManagementType eq 'AzureIaasVM'")})
		page, err := pg.NextPage(e.Ctx())
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Value)
	}
	if n := list(); n != 0 {
		t.Fatalf("deleted containers of a vault that deleted nothing: %d", n)
	}
	resp, m := e.Do("DELETE", I+rsAPI, nil)
	must(t, "delete the backup data", resp, m, 202)
	e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	if n := list(); n != 0 {
		t.Fatalf("deleted containers after a delete: %d", n)
	}
	resp, m = e.Do("GET", R+"/backupDeletedProtectionContainers"+rsAPI+"&$filter=color eq 'red'", nil)
	must(t, "an unknown filter field", resp, m, 400)
	resp, m = e.Do("GET", R+"x/backupDeletedProtectionContainers"+rsAPI, nil, testserver.AnyStatus())
	must(t, "an unknown vault", resp, m, 404)
}
