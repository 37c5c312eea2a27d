package azure_test

import (
	"context"
	"os"
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/azure"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/internal/testsvc"
)

func TestMain(m *testing.M) { os.Exit(testsvc.Main(m)) }

func open(t *testing.T, container, prefix string) *azure.Backend {
	t.Helper()
	b, err := azure.Open(context.Background(), azure.Config{Endpoint: testsvc.AzuriteEndpoint(t), Account: testsvc.AzuriteAccount,
		Key: testsvc.AzuriteKey, Container: container, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Against Azurite: on containers that do not exist yet (Open creates them),
// and under two prefixes of one container.
func TestAzureConformance(t *testing.T) {
	blobtest.RunStore(t, func() string { return testsvc.RandomName("c") },
		func(t *testing.T, container, prefix string) blob.Backend { return open(t, container, prefix) })
}

func TestAzureParseURL(t *testing.T) {
	t.Setenv("AZURE_STORAGE_ACCOUNT", "acct")
	t.Setenv("AZURE_STORAGE_KEY", "a2V5")
	c, err := azure.ParseURL("azblob://backups?endpoint=http://127.0.0.1:10000/acct&prefix=site1")
	if err != nil || c.Container != "backups" || c.Endpoint != "http://127.0.0.1:10000/acct" || c.Prefix != "site1" || c.Account != "acct" {
		t.Fatalf("%+v %v", c, err)
	}
	c, _ = azure.ParseURL("azblob://backups")
	if c.Endpoint != "https://acct.blob.core.windows.net/" {
		t.Fatalf("default endpoint %q", c.Endpoint)
	}
	t.Setenv("AZURE_STORAGE_KEY", "")
	if _, err := azure.ParseURL("azblob://backups"); err == nil {
		t.Fatal("missing key accepted")
	}
}

// TestAzurePutRetriesCutUploads: Azurite behind a proxy that cuts uploads
// halfway, more times than the Azure client retries by itself: the Put
// succeeds once they pass (blobtest.PutThroughCuts). It failed after the
// client's four tries, a few seconds, and the backup whose pack it was
// failed with it.
func TestAzurePutRetriesCutUploads(t *testing.T) {
	f := testsvc.NewFaultyStore(t, testsvc.AzuriteEndpoint(t))
	b, err := azure.Open(context.Background(), azure.Config{Endpoint: f.URL, Account: testsvc.AzuriteAccount,
		Key: testsvc.AzuriteKey, Container: testsvc.RandomName("c"), Prefix: ""})
	if err != nil {
		t.Fatal(err)
	}
	blobtest.PutThroughCuts(t, b, func(on bool) {
		if on {
			f.Set(testsvc.StoreCutsPuts)
		} else {
			f.Set(testsvc.StoreUp)
		}
	}, f.Failed)
}
