package clients_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestJSSDKClientBehaviour drives what the JavaScript SDK does on its own
// around the calls (testdata/js/clientbehaviour.cjs): byPage with
// continuation tokens ($top pages of resource groups, Recovery Services
// policies), long-running operations resumed from a poller's state
// (resumeFrom of @azure/arm-resources 5 and @azure/arm-recoveryservicesbackup
// 12, restorePoller of @azure/arm-compute 24), a poll stopped by an abort
// signal and resumed, the SDK's own retries of 503 and 429 answers on a
// GET and on an operation's polls (fault rules), and @azure/identity's
// EnvironmentCredential and DefaultAzureCredential configured by the
// environment alone, as the README says: AZURE_TENANT_ID=adfs and
// AZURE_AUTHORITY_HOST (with the tenant's id, MSAL asks
// login.microsoftonline.com about the authority, and no variable turns
// that off).
func TestJSSDKClientBehaviour(t *testing.T) {
	e := testserver.Start(t)
	c := e.Conn
	out := runNode(t, e, "clientbehaviour.cjs", "AZURE_TENANT_ID=adfs", "AZURE_CLIENT_ID="+c.ClientID, "AZURE_CLIENT_SECRET="+c.ClientSecret,
		"AZURE_AUTHORITY_HOST="+c.AuthorityHost)
	if !strings.Contains(out, "clientbehaviour done") {
		t.Fatal("the script did not finish")
	}
}
