package server_test

import (
	"os"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/testserver"
)

// TestDefaultAzureCredentialFromTheEnvironment: azidentity's
// DefaultAzureCredential configured by the environment alone, as the
// README says (AZURE_TENANT_ID=adfs, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
// AZURE_AUTHORITY_HOST; the client options carry only the cloud and the
// CA, not DisableInstanceDiscovery, which no variable sets), signs in at
// Safehold's AD FS-shaped authority and reads a resource group: with the
// tenant's id MSAL asks login.microsoftonline.com about the authority.
func TestDefaultAzureCredentialFromTheEnvironment(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("env-rg")
	c := e.Conn
	t.Setenv("AZURE_TENANT_ID", "adfs")
	t.Setenv("AZURE_CLIENT_ID", c.ClientID)
	t.Setenv("AZURE_CLIENT_SECRET", c.ClientSecret)
	t.Setenv("AZURE_AUTHORITY_HOST", c.AuthorityHost)
	for _, v := range []string{"AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TOKEN_CREDENTIALS"} {
		t.Setenv(v, "") // restored at the end
		os.Unsetenv(v)
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: c.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := armresources.NewResourceGroupsClient(c.SubscriptionID, cred, &arm.ClientOptions{ClientOptions: c.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	g, err := groups.Get(e.Ctx(), "env-rg", nil)
	if err != nil {
		t.Fatalf("DefaultAzureCredential from the environment: %v", err)
	}
	if *g.Name != "env-rg" {
		t.Fatalf("got group %s", *g.Name)
	}
}
