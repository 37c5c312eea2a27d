package main_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
// for; the figure is jobs completed per second of wall time, over all
// iterations. Restores run
// wherever their task is claimed (a backup runs on its disk's owner), so
// they are the jobs that spread over replicas. cpu-s/job is the CPU time
// (user + system) the replica processes spent in the timed window per
// job, from /proc: what the jobs cost whatever the host's load (the CLI,
// PostgreSQL and Azurite are not counted); busiest-replica-cpu-% is the
// share of that CPU time the busiest replica spent (100 with one replica;
// 33 when three share the work evenly).
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
			start, cpu0 := time.Now(), replicasCPU(b, c)
			for it := 0; it < b.N; it++ {
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
			}
			// Over every iteration (a metric reported inside the loop would
			// keep the last one only).
			b.ReportMetric(float64(jobs*b.N)/time.Since(start).Seconds(), "jobs/s")
			cpu1 := replicasCPU(b, c)
			var total, busiest float64
			for i := range cpu1 {
				d := cpu1[i] - cpu0[i]
				total += d
				busiest = max(busiest, d)
			}
			b.ReportMetric(total/float64(jobs*b.N), "cpu-s/job")
			b.ReportMetric(100*busiest/total, "busiest-replica-cpu-%")
		})
	}
}

// replicasCPU is the CPU time (user + system, seconds) each replica
// process has used so far, from /proc/PID/stat (clock ticks of 1/100 s).
func replicasCPU(b *testing.B, c *replicaCluster) []float64 {
	var out []float64
	for _, r := range c.reps {
		var ticks int64
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		// Fields after the command name (which may hold spaces) in ")":
		// state is field 3, utime 14, stime 15.
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
		for _, i := range []int{14 - 3, 15 - 3} {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			ticks += v
		}
		out = append(out, float64(ticks)/100)
	}
	return out
}
