package main_test

import (
	"crypto/rand"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
)

// BenchmarkReplicaJobs is the job throughput of one replica against three
// (bench/replicas.sh prints it): one Backup-vault recovery point of a disk
// holding 48 MiB of random data is restored to 12 new disks at once, each
// restore started through the CLI against the next replica and waited
// for; the figure is jobs completed per second of wall time. Restores run
// wherever their task is claimed (a backup runs on its disk's owner), so
// they are the jobs that spread over replicas.
func BenchmarkReplicaJobs(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			c := startReplicas(b, n)
			e := c.env
			dv := fixture.ProtectDisk(b, e)
			payload := make([]byte, 48<<20)
			rand.Read(payload)
			writeDisk(b, e, dv.DiskID, 8<<20, payload)
			dv.Backup(b, e)
			df, err := armdataprotection.NewRecoveryPointsClient(e.Sub, e.Cred, e.Opts)
			if err != nil {
				b.Fatal(err)
			}
			page, err := df.NewListPager(dv.RG, dv.Vault, dv.Instance, nil).NextPage(e.Ctx())
			if err != nil || len(page.Value) == 0 {
				b.Fatalf("recovery points: %v", err)
			}
			point := *page.Value[0].Name
			const jobs = 12
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				start := time.Now()
				var wg sync.WaitGroup
				errs := make(chan error, jobs)
				for k := 0; k < jobs; k++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						out, err := exec.Command(c.bin, "restore", point, "--target-disk", fmt.Sprintf("r%d-%d", it, k), "--target-resource-group", "target-rg",
							"--data-dir", c.reps[k%n].dir).CombinedOutput()
						if err != nil {
							errs <- fmt.Errorf("restore %d: %v\n%s", k, err, out)
						}
					}()
				}
				wg.Wait()
				close(errs)
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(jobs)/time.Since(start).Seconds(), "jobs/s")
			}
		})
	}
}
