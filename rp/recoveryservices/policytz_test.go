package recoveryservices_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// TestPolicyTimeZone: a VM policy's timeZone places its schedule, so an
// unknown one is refused (400 naming the field) instead of being stored and
// silently run as UTC; Windows names (as Azure's examples use) and IANA
// names are accepted.
func TestPolicyTimeZone(t *testing.T) {
	e, _ := vaultEnv(t, "rv")
	pc := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory).NewProtectionPoliciesClient()
	at := to.Ptr(time.Date(2024, 1, 24, 2, 0, 0, 0, time.UTC))
	pol := func(tz string) armrecoveryservicesbackup.ProtectionPolicyResource {
		return armrecoveryservicesbackup.ProtectionPolicyResource{Properties: &armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy{
			BackupManagementType: to.Ptr("AzureIaasVM"), TimeZone: to.Ptr(tz),
			SchedulePolicy: &armrecoveryservicesbackup.SimpleSchedulePolicy{SchedulePolicyType: to.Ptr("SimpleSchedulePolicy"),
				ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeDaily), ScheduleRunTimes: []*time.Time{at}},
			RetentionPolicy: &armrecoveryservicesbackup.LongTermRetentionPolicy{RetentionPolicyType: to.Ptr("LongTermRetentionPolicy"),
				DailySchedule: &armrecoveryservicesbackup.DailyRetentionSchedule{RetentionTimes: []*time.Time{at},
					RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](30), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeDays)}}}}}
	}
	for _, tz := range []string{"Pacific Standard Time", "India Standard Time", "Europe/Berlin", "UTC"} {
		if _, err := pc.CreateOrUpdate(e.Ctx(), "rv", "vaultrg", "tz-"+strings.NewReplacer(" ", "", "/", "").Replace(tz), pol(tz), nil); err != nil {
			t.Errorf("policy in %s: %v", tz, err)
		}
	}
	_, err := pc.CreateOrUpdate(e.Ctx(), "rv", "vaultrg", "tz-mars", pol("Mars/Olympus"), nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "BMSUserErrorInvalidPolicyInput" || !strings.Contains(err.Error(), "timeZone") {
		t.Fatalf("policy in an unknown time zone: %v", err)
	}
	if _, err := pc.Get(e.Ctx(), "rv", "vaultrg", "tz-mars", nil); !errors.As(err, &re) || re.StatusCode != 404 {
		t.Fatalf("the refused policy was stored: %v", err)
	}
}

// TestStoredPolicyUnknownTimeZoneKeepsBackingUp: a policy stored before
// unknown time zones were refused (its schedule run in UTC) still protects
// its items: their scheduled backups run. The refusal is the write's, not
// the reading of what is stored.
func TestStoredPolicyUnknownTimeZoneKeepsBackingUp(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	v := fixture.ProtectVM(t, e)
	pid, err := arm.ParseID("/subscriptions/" + e.Sub + "/resourceGroups/" + v.RG + "/providers/Microsoft.RecoveryServices/vaults/" + v.Vault + "/backupPolicies/DefaultPolicy")
	if err != nil {
		t.Fatal(err)
	}
	err = e.Server.Store.Update(ctx, func(tx store.Tx) error {
		var pol map[string]any
		if err := resource.Get(ctx, tx, pid, &pol); err != nil {
			return err
		}
		pol["properties"].(map[string]any)["timeZone"] = "Mars/Olympus"
		return resource.Put(ctx, tx, pid, pol)
	})
	if err != nil {
		t.Fatal(err)
	}
	backsUpADayLater(t, e, v)
}
