package compute_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestDiskSASOutlivesClockMoves: a disk's access grant (beginGetAccess) is
// dated and checked in real time, as an access token is, so the admin
// clock moving does not end it: a write SAS granted for an hour still
// writes after another client's 'clock advance P1D' (it was 403
// AuthenticationFailed 'the SAS expired' mid-upload, and the disk was
// back to Unattached), and one granted with the clock set back to 2017
// reads once the clock is set forward again.
func TestDiskSASOutlivesClockMoves(t *testing.T) {
	e := testserver.StartWithGroups(t, "sas-rg")
	ctx := e.Ctx()
	clock := func(verb string, body map[string]string) {
		t.Helper()
		if resp, m := e.Do("POST", "/providers/Safehold.Admin/clock/"+verb+"?api-version=2024-01-01", body); resp.StatusCode != http.StatusOK {
			t.Fatalf("clock %s: %d %v", verb, resp.StatusCode, m)
		}
	}
	fixture.Disk(t, e, "sas-rg", "d1", 1)
	pc, revoke := fixture.DiskAccess(t, e, "sas-rg", "d1", armcompute.AccessLevelWrite)
	page := bytes.Repeat([]byte{7}, 4096)
	if err := fixture.WritePages(pc, 0, page); err != nil {
		t.Fatal(err)
	}
	clock("advance", map[string]string{"duration": "P1D"})
	if err := fixture.WritePages(pc, 4096, page); err != nil {
		t.Fatalf("a write through an hour's SAS after a clock advance of a day: %v", err)
	}
	dc, _ := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if d, err := dc.Get(ctx, "sas-rg", "d1", nil); err != nil || *d.Properties.DiskState != armcompute.DiskStateActiveUpload {
		t.Fatalf("the disk after the advance: %v %v", err, d.Properties)
	}
	revoke()
	clock("set", map[string]string{"time": "2017-08-03T05:30:00Z"})
	rc, revoke := fixture.DiskAccess(t, e, "sas-rg", "d1", armcompute.AccessLevelRead)
	clock("set", map[string]string{"time": time.Now().UTC().Add(time.Hour).Format(time.RFC3339)})
	if got := fixture.ReadPages(t, rc, 4096, 4096); !bytes.Equal(got, page) {
		t.Fatalf("read through a SAS granted with the clock in 2017: %v", got[:8])
	}
	revoke()
}
