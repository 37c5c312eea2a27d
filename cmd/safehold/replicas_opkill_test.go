package main_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestOperationOfAKilledReplicaEndsWhileTheClockStandsStill: two replicas
// on PostgreSQL and Azurite, the server clock standing still (a clock
// advance leaves it so); a Recovery Services protected item's DELETE (an
// operation whose task runs no job run: its job names no runner) is held
// by a delete fault rule on the replica that runs it, which is killed
// (SIGKILL) and not started again. The replica left takes the operation's
// task on once the leader has found the killed one gone a --lease-ttl of
// real time, and the operation, polled through its Azure-AsyncOperation
// URL on the replica left, ends Succeeded; the item is gone. Before, the
// task's lease, an instant of the standing clock, never lapsed, and only
// the tasks of job runs were freed (07d3cb7): the poller saw InProgress
// for ever.
func TestOperationOfAKilledReplicaEndsWhileTheClockStandsStill(t *testing.T) {
	c := startReplicasOn(t, 2, testsvc.PostgresSchema(t), testsvc.AzuriteContainer(t, "e2e"), nil, "--lease-ttl", "10s")
	e := c.env
	vm := fixture.ProtectVM(t, e)
	run := func(rep int, args ...string) string {
		t.Helper()
		out, err := exec.Command(c.bin, append(args, "--data-dir", c.reps[rep].dir)...).Output()
		if err != nil {
			t.Fatalf("safehold %v (replica %d): %v\n%s", args, rep, err, out)
		}
		return string(out)
	}
	run(0, "clock", "advance", "1m") // the clock stands still from here
	for i := range c.reps {
		run(i, "fault", "add", "delete", "--name", "hold", "--latency", "10m", "--count", "1")
	}
	item := "/subscriptions/" + e.Sub + "/resourceGroups/" + vm.RG + "/providers/Microsoft.RecoveryServices/vaults/" + vm.Vault +
		"/backupFabrics/Azure/protectionContainers/" + vm.Container + "/protectedItems/" + vm.Item + "?api-version=2023-04-01"
	resp, m := e.Do("DELETE", item, nil)
	async := resp.Header.Get("Azure-AsyncOperation")
	if resp.StatusCode != http.StatusAccepted || async == "" {
		t.Fatalf("DELETE of the protected item: %d %v (Azure-AsyncOperation %q)", resp.StatusCode, m, async)
	}
	runner := -1
	testsvc.WaitWithin(t, 2*time.Minute, "a replica to hold the delete", func() bool {
		for i := range c.reps {
			if strings.Contains(run(i, "fault", "list", "-o", "json"), `"hits": 1`) {
				runner = i
				return true
			}
		}
		return false
	})
	other := 1 - runner
	run(other, "fault", "clear", "hold") // before the kill: it may take the task on at once
	c.reps[runner].cmd.Process.Kill()
	<-c.reps[runner].done

	// Every request now goes to the replica left.
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, r := range c.reps {
		hosts = append(hosts, r.host())
	}
	left := &http.Client{Transport: &pinned{base: hc.Transport, hosts: hosts, i: other}}
	token := e.Token(nil)
	get := func(u string) (int, map[string]any) {
		t.Helper()
		if !strings.HasPrefix(u, "http") {
			u = e.Conn.ARMEndpoint + u
		}
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := left.Do(req)
		if err != nil {
			t.Fatalf("GET %s on the replica left: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if len(b) > 0 {
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("GET %s on the replica left: %d %s", u, resp.StatusCode, b)
			}
		}
		return resp.StatusCode, m
	}
	if _, err := url.Parse(async); err != nil {
		t.Fatal(err)
	}
	var status string
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for {
		code, m := get(async)
		if code != http.StatusOK {
			t.Fatalf("the delete's status: %d %v", code, m)
		}
		if status, _ = m["status"].(string); status != "InProgress" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the delete held by the killed replica is still InProgress after 4 minutes: %v", m)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if status != "Succeeded" {
		t.Fatalf("the delete taken on by the replica left: %s", status)
	}
	if code, m := get(item); code != http.StatusNotFound {
		t.Fatalf("the deleted item: %d %v", code, m)
	}
}
