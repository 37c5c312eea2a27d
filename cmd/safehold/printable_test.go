package main

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestTablesDoNotSteerTheTerminal: what a caller of the API wrote (here a
// backup instance's friendlyName, set through the Go SDK by whoever may
// write the instance) reaches the operator's terminal in job list's table
// and TSV with its control characters and bidirectional overrides written
// out as escapes. Before, they went through raw: an ESC sequence cleared
// the operator's screen, retitled the window and recoloured what followed,
// a carriage return overwrote the row, and U+202E reversed it (hostile30).
func TestTablesDoNotSteerTheTerminal(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	bis := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupInstancesClient()
	got, err := bis.Get(e.Ctx(), dv.RG, dv.Vault, dv.Instance, nil)
	if err != nil {
		t.Fatal(err)
	}
	const evil = "evil\x1b]0;pwned\x07\x1b[2J\x1b[31mRED\rOVER\u202ewritten"
	got.Properties.FriendlyName = to.Ptr(evil)
	p, err := bis.BeginCreateOrUpdate(e.Ctx(), dv.RG, dv.Vault, dv.Instance, got.BackupInstanceResource, nil)
	fixture.Done(t, p, err)
	for _, args := range [][]string{{"job", "list"}, {"job", "list", "-o", "tsv"}} {
		out := mustRun(t, e, args...)
		if i := strings.IndexAny(out, "\x1b\x07\r\u202e"); i >= 0 {
			t.Errorf("safehold %s prints a control character (%q at %d):\n%q", strings.Join(args, " "), out[i], i, out)
		}
		if want := `evil\x1b]0;pwned\x07\x1b[2J\x1b[31mRED\x0dOVER\u202ewritten`; !strings.Contains(out, want) {
			t.Errorf("safehold %s lacks the friendlyName written out (%s):\n%s", strings.Join(args, " "), want, out)
		}
	}
}
