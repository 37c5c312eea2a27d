package metrics_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/safehold/safehold/metrics"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// TestJobBytesCountCompletedJobsOnly: safehold_job_bytes_total counts the
// bytes of the backups and restores that completed (with warnings too), as
// its help says (bytes backed up, bytes restored): a backup that moved
// bytes and then failed (its vault-tier copy, say) or was cancelled backed
// nothing up, and its bytes were counted. Every ended job is still counted
// in safehold_jobs_total. The jobs are written as protection writes them,
// through the instrumented store.
func TestJobBytesCountCompletedJobsOnly(t *testing.T) {
	m := metrics.New()
	s := m.WrapStore(storetest.SQLite(t))
	ctx := context.Background()
	for i, j := range []struct {
		op, status string
		bytes      int64
	}{
		{"Backup", "Completed", 3 << 20}, {"Backup", "Failed", 5 << 20}, {"Backup", "Cancelled", 7 << 20},
		{"Backup", "CompletedWithWarnings", 1 << 20}, {"Restore", "Failed", 11 << 20}, {"Restore", "Completed", 2 << 20},
	} {
		key := fmt.Sprint("job", i)
		for _, status := range []string{"InProgress", j.status} {
			v := fmt.Sprintf(`{"operation":%q,"status":%q,"startTime":"2026-12-05T01:00:00Z","endTime":"2026-12-05T01:01:00Z","bytesTransferred":%d}`, j.op, status, j.bytes)
			if err := s.Update(ctx, func(tx store.Tx) error {
				return tx.Put(ctx, store.Doc{Kind: "protection.job", Key: key, Value: []byte(v)})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := series(t, m, "safehold_job_bytes_total", "backup").GetCounter().GetValue(); got != 4<<20 {
		t.Errorf("backup bytes %v, want %v (the completed backups')", got, 4<<20)
	}
	if got := series(t, m, "safehold_job_bytes_total", "restore").GetCounter().GetValue(); got != 2<<20 {
		t.Errorf("restore bytes %v, want %v (the completed restore's)", got, 2<<20)
	}
	if got := series(t, m, "safehold_jobs_total", "Failed"); got == nil || got.GetCounter().GetValue() != 1 {
		t.Errorf("failed jobs counted %v, want 1 of each operation", got)
	}
}

// TestJobSeriesShownBeforeAnyJob: a replica that has ended no job shows
// safehold_jobs_total's backup and restore series at 0, so a sum or rate
// across replicas counts its 0; it showed no family at all, and
// TestMetricsAcrossReplicas failed whenever the other replica ended the job.
func TestJobSeriesShownBeforeAnyJob(t *testing.T) {
	m := metrics.New()
	for _, r := range []string{"Completed", "Failed", "Cancelled"} {
		got := series(t, m, "safehold_jobs_total", r)
		if got == nil || got.GetCounter().GetValue() != 0 {
			t.Errorf("safehold_jobs_total with result %s on a fresh replica: %v, want a series at 0", r, got)
		}
	}
}
