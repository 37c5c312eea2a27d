package recoveryservices_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// An operation id is not a capability: a vault's status and result routes
// answer only that vault's operations, so a caller with rights on one
// vault cannot read another vault's operation through its own vault.
func TestOperationRoutesAnswerOnlyTheirScope(t *testing.T) {
	e, vf := vaultEnv(t, "va", "rgb") // vault a: vaultrg/va
	ctx := e.Ctx()
	fixture.RSVault(t, e, "rgb", "vb", fixture.StandardVault())
	var raw *http.Response
	if _, err := fixture.Wait(vf.NewVaultsClient().BeginUpdate(runtime.WithCaptureResponse(ctx, &raw), "rgb", "vb", armrecoveryservices.PatchVault{Tags: map[string]*string{"env": to.Ptr("ci")}}, nil)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Azure-AsyncOperation", "Location"} {
		u, err := url.Parse(raw.Header.Get(h))
		if err != nil || u.Path == "" {
			t.Fatalf("%s: %q", h, raw.Header.Get(h))
		}
		own := u.Path + "?" + u.RawQuery
		if resp, m := e.Do("GET", own, nil); resp.StatusCode != 200 {
			t.Fatalf("vault b's %s through vault b: %d %v", h, resp.StatusCode, m)
		}
		vb := "/resourceGroups/rgb/providers/Microsoft.RecoveryServices/vaults/vb/"
		if !strings.Contains(strings.ToLower(own), strings.ToLower(vb)) {
			t.Fatalf("%s %s is not below vault b", h, own)
		}
		i := strings.Index(strings.ToLower(own), strings.ToLower(vb))
		other := own[:i] + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/va/" + own[i+len(vb):]
		resp, m := e.Do("GET", other, nil)
		if resp.StatusCode != 404 || testserver.Field(m, "error.code") != "OperationNotFound" {
			t.Fatalf("vault b's operation through vault a's %s route: %d %v, want 404 OperationNotFound", h, resp.StatusCode, m)
		}
	}
}
