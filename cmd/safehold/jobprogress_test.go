package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestRSBackupProgressAndSize: a Recovery Services backup's progress moves
// forward through its vault transfer, by bytes, and the job reports the
// bytes it moved, alike in the job's ARM body, the CLI and /metrics. The
// progress dropped from 60 % (its snapshot) to 50 % and stood there
// through the transfer; the job's "Backup Size" was the disks' size (2048
// MB for two 1 GiB disks, whatever changed) and the CLI's BytesTransferred
// 0. A transfer fault rule holds the transfer between the VM's two disks,
// where the job must stand past 50 %.
func TestRSBackupProgressAndSize(t *testing.T) {
	e := testserver.Start(t)
	vm := fixture.ProtectVM(t, e)
	backupBytes := func() float64 { return metric(t, e, `safehold_job_bytes_total{direction="backup"}`) }
	before := backupBytes()
	mustRun(t, e, "fault", "add", "transfer", "--name", "hold-transfer", "--latency", "10m", "--count", "1")
	var started jobRow
	if err := json.Unmarshal([]byte(mustRun(t, e, "backup", "now", "app1", "--no-wait", "-o", "json")), &started); err != nil || started.Name == "" {
		t.Fatalf("backup now --no-wait: %v %+v", err, started)
	}
	show := func() jobRow {
		t.Helper()
		var j jobRow
		if err := json.Unmarshal([]byte(mustRun(t, e, "job", "show", started.Name, "-o", "json")), &j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	body := func() *armrecoveryservicesbackup.AzureIaaSVMJob {
		t.Helper()
		r, err := bf.NewJobDetailsClient().Get(e.Ctx(), vm.Vault, vm.RG, started.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
	}
	var seen []float64
	// The transfer moves past 50 % through the first disk and stands at
	// 75 % when it has copied it (the rule holds it there).
	testsvc.WaitWithin(t, 3*time.Minute, "the backup to stand in its transfer, held between the disks", func() bool {
		j := show()
		if j.done() {
			t.Fatalf("the held backup ended: %+v", j)
		}
		seen = append(seen, j.Progress)
		return j.Progress >= 75
	})
	// Held after the first of two 1 GiB disks: 75 %, the transfer task 50 %.
	held := body()
	var transfer *armrecoveryservicesbackup.AzureIaaSVMJobTaskDetails
	for _, tk := range held.ExtendedInfo.TasksList {
		if *tk.TaskID == "Transfer data to vault" {
			transfer = tk
		}
	}
	if p := held.ExtendedInfo.ProgressPercentage; p == nil || *p != 75 || transfer == nil || *transfer.Status != "InProgress" || transfer.ProgressPercentage == nil || *transfer.ProgressPercentage != 50 {
		b, _ := json.Marshal(held.ExtendedInfo)
		t.Fatalf("the job held in its transfer: %s (want progressPercentage 75, the transfer task InProgress at 50)", b)
	}
	mustRun(t, e, "fault", "clear", "hold-transfer")
	j, err := waitRow(t, e, started.Name)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Fatalf("the progress moved back: %v", seen)
		}
	}
	end := body()
	bag := end.ExtendedInfo.PropertyBag
	moved := *bag["Bytes Transferred"]
	n, err := strconv.ParseInt(moved, 10, 64)
	if err != nil || n <= 0 || n >= 1<<30 || j.Bytes != n || *bag["Backup Size"] != fmt.Sprintf("%d MB", max(1, (n+1<<19)>>20)) {
		b, _ := json.Marshal(bag)
		t.Fatalf("the completed backup: propertyBag %s, the CLI's BytesTransferred %d", b, j.Bytes)
	}
	if got := backupBytes() - before; got != float64(n) {
		t.Errorf("/metrics counted %v bytes backed up, the job %d", got, n)
	}
	// Nothing changed since: the next backup moves nothing.
	mustRun(t, e, "backup", "now", "app1")
	js := mustRun(t, e, "job", "list", "--operation", "Backup", "-o", "json")
	var rows []jobRow
	if err := json.Unmarshal([]byte(js), &rows); err != nil || len(rows) != 2 || rows[0].Name == started.Name || rows[0].Bytes != 0 || rows[0].Status != "Completed" {
		t.Fatalf("the second backup: %v\n%s", err, js)
	}
	r, err := bf.NewJobDetailsClient().Get(e.Ctx(), vm.Vault, vm.RG, rows[0].Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := r.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob).ExtendedInfo.PropertyBag; *b["Backup Size"] != "0 MB" || *b["Bytes Transferred"] != "0" {
		t.Errorf("the second backup's Backup Size %q, Bytes Transferred %q (want 0 MB, 0)", *b["Backup Size"], *b["Bytes Transferred"])
	}
}

// metric reads one series of /metrics (0 when absent).
func metric(t *testing.T, e *testserver.Env, series string) float64 {
	t.Helper()
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(e.Conn.ARMEndpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(string(b))
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// waitRow is `safehold job wait JOB -o json`: the job as it ended.
func waitRow(t *testing.T, e *testserver.Env, name string) (jobRow, error) {
	t.Helper()
	out, err := run(t, e, nil, "job", "wait", name, "-o", "json")
	var j jobRow
	if jerr := json.Unmarshal([]byte(out), &j); jerr != nil && err == nil {
		err = fmt.Errorf("job wait -o json: %v: %q", jerr, strings.TrimSpace(out))
	}
	return j, err
}
