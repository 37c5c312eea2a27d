// Command mixed drives a running Safehold with a mix of ARM reads and writes
// from many connections and prints requests/s, p50, p99 and max per operation
// kind and overall. bench/mixed.sh starts a fresh server and runs it.
//
//	go run ./bench/mixed -conn connection.json -c 64 -d 60s
//
// The mix (about 45 % writes): resource-group PUT and DELETE, disk-policy PUT
// and DELETE in a Backup vault, and lists of resource groups, disks, backup
// policies, Backup-vault jobs and Recovery Services jobs. Each connection
// keeps at most two groups and two policies of its own alive (a test suite
// that cleans up after itself), so lists stay short and the run measures the
// request path, not the growth of the data.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/safehold/safehold/connect"
)

type op struct {
	name   string
	weight int
	write  bool
}

// The mix. Weights sum to 100; writes are 45 of them.
var ops = []op{
	{"rg-put", 12, true},
	{"rg-delete", 12, true},
	{"policy-put", 11, true},
	{"policy-delete", 10, true},
	{"rg-list", 11, false},
	{"disk-list", 11, false},
	{"policy-list", 11, false},
	{"dp-job-list", 11, false},
	{"rs-job-list", 11, false},
}

const policyBody = `{"properties":{"objectType":"BackupPolicy","datasourceTypes":["Microsoft.Compute/disks"],
"policyRules":[{"objectType":"AzureBackupRule","name":"BackupHourly",
"backupParameters":{"objectType":"AzureBackupParams","backupType":"Incremental"},
"dataStore":{"objectType":"DataStoreInfoBase","dataStoreType":"OperationalStore"},
"trigger":{"objectType":"ScheduleBasedTriggerContext","schedule":{"repeatingTimeIntervals":["R/2021-05-19T06:00:00+00:00/PT4H"],"timeZone":"UTC"},
"taggingCriteria":[{"isDefault":true,"taggingPriority":99,"tagInfo":{"tagName":"Default"}}]}},
{"objectType":"AzureRetentionRule","name":"Default","isDefault":true,
"lifecycles":[{"sourceDataStore":{"objectType":"DataStoreInfoBase","dataStoreType":"OperationalStore"},
"deleteAfter":{"objectType":"AbsoluteDeleteOption","duration":"P7D"}}]}]}}`

// maxLive bounds the groups and policies each connection keeps.
const maxLive = 2

func opIndex(name string) int {
	for i, o := range ops {
		if o.name == name {
			return i
		}
	}
	panic("unknown op " + name)
}

type client struct {
	http  *http.Client
	base  string
	token string
	sub   string
}

func (c *client) do(method, path, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// waitAsync polls an Azure-AsyncOperation URL until the operation ends.
func (c *client) put(path, body string) error {
	req, _ := http.NewRequest("PUT", c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("PUT %s: %d %s", path, resp.StatusCode, b)
	}
	if az := resp.Header.Get("Azure-AsyncOperation"); az != "" {
		for range 200 {
			st, b, err := c.do("GET", strings.TrimPrefix(az, c.base), "")
			if err != nil {
				return err
			}
			var s struct{ Status string }
			json.Unmarshal(b, &s)
			if st == 200 && s.Status != "" && !strings.EqualFold(s.Status, "InProgress") && !strings.EqualFold(s.Status, "Accepted") {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fmt.Errorf("PUT %s: operation did not end", path)
	}
	return nil
}

type sample struct {
	op     int
	d      time.Duration
	status int
	err    bool
	items  int // the groups in an rg-list answer (its first page)
}

// groupsIn counts the resource groups in a list answer, and those Deleting.
func groupsIn(b []byte) (n, deleting int) {
	return bytes.Count(b, []byte(`"type":"Microsoft.Resources/resourceGroups"`)), bytes.Count(b, []byte(`"provisioningState":"Deleting"`))
}

func main() {
	connFile := flag.String("conn", "connection.json", "connection.json of the server")
	conns := flag.Int("c", 64, "connections")
	dur := flag.Duration("d", 60*time.Second, "duration")
	useNetHTTP := flag.Bool("nethttp", false, "drive the load through net/http's client (it costs about twice the CPU of the default raw one)")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}

	cfg, err := connect.Load(*connFile)
	check(err)
	cred, err := cfg.Credential()
	check(err)
	tk, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{cfg.ARMEndpoint + "/.default"}})
	check(err)
	pem, err := os.ReadFile(cfg.CACertFile)
	check(err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, ForceAttemptHTTP2: false}
	tlsCfg := &tls.Config{RootCAs: pool}
	c := &client{http: &http.Client{Transport: tr, Timeout: 60 * time.Second}, base: strings.TrimSuffix(cfg.ARMEndpoint, "/"), token: tk.Token, sub: cfg.SubscriptionID}

	sub := "/subscriptions/" + c.sub
	rg := sub + "/resourceGroups/mixbench"
	dpVault := rg + "/providers/Microsoft.DataProtection/backupVaults/mixdp"
	rsVault := rg + "/providers/Microsoft.RecoveryServices/vaults/mixrs"
	check(c.put(rg+"?api-version=2021-04-01", `{"location":"westus"}`))
	check(c.put(dpVault+"?api-version=2021-01-01", `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`))
	check(c.put(rsVault+"?api-version=2016-06-01", `{"location":"westus","sku":{"name":"Standard"},"properties":{}}`))

	total := 0
	for _, o := range ops {
		total += o.weight
	}
	var mu sync.Mutex
	var all []sample
	deadline := time.Now().Add(*dur)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			do := c.do
			if !*useNetHTTP {
				rc, err := newRawConn(c.base, tlsCfg, c.token)
				check(err)
				do = rc.do
			}
			var mine []sample
			var groups, policies []string
			seq := 0
			for time.Now().Before(deadline) {
				k := r.IntN(total)
				i := 0
				for ; k >= ops[i].weight; i++ {
					k -= ops[i].weight
				}
				method, path, body := "GET", "", ""
				// Each connection keeps at most maxLive groups and policies
				// of its own, as a test suite that cleans up after itself:
				// a put beyond that deletes the oldest instead, a delete
				// with none left puts one.
				switch {
				case ops[i].name == "rg-put" && len(groups) >= maxLive:
					i = opIndex("rg-delete")
				case ops[i].name == "rg-delete" && len(groups) == 0:
					i = opIndex("rg-put")
				case ops[i].name == "policy-put" && len(policies) >= maxLive:
					i = opIndex("policy-delete")
				case ops[i].name == "policy-delete" && len(policies) == 0:
					i = opIndex("policy-put")
				}
				switch ops[i].name {
				case "rg-put":
					seq++
					name := fmt.Sprintf("mix-%d-%d", w, seq)
					groups = append(groups, name)
					method, path, body = "PUT", sub+"/resourcegroups/"+name+"?api-version=2021-04-01", `{"location":"westus","tags":{"bench":"mixed"}}`
				case "rg-delete":
					name := groups[0]
					groups = groups[1:]
					method, path = "DELETE", sub+"/resourcegroups/"+name+"?api-version=2021-04-01"
				case "policy-put":
					seq++
					name := fmt.Sprintf("p-%d-%d", w, seq)
					policies = append(policies, name)
					method, path, body = "PUT", dpVault+"/backupPolicies/"+name+"?api-version=2021-01-01", policyBody
				case "policy-delete":
					name := policies[0]
					policies = policies[1:]
					method, path = "DELETE", dpVault+"/backupPolicies/"+name+"?api-version=2021-01-01"
				case "rg-list":
					path = sub + "/resourcegroups?api-version=2021-04-01"
				case "disk-list":
					path = sub + "/providers/Microsoft.Compute/disks?api-version=2023-04-02"
				case "policy-list":
					path = dpVault + "/backupPolicies?api-version=2021-01-01"
				case "dp-job-list":
					path = dpVault + "/backupJobs?api-version=2021-01-01"
				case "rs-job-list":
					path = rsVault + "/backupJobs?api-version=2016-12-01"
				}
				t0 := time.Now()
				st, b, err := do(method, path, body)
				s := sample{op: i, d: time.Since(t0), status: st, err: err != nil}
				if ops[i].name == "rg-list" {
					s.items, _ = groupsIn(b)
				}
				mine = append(mine, s)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	clientCPU := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())

	fmt.Printf("%d connections, %s, %d requests\n", *conns, elapsed.Round(time.Millisecond), len(all))
	fmt.Printf("%-14s %9s %9s %9s %9s %9s %6s %6s\n", "op", "requests", "req/s", "p50", "p99", "max", "5xx", "4xx")
	report := func(name string, ss []sample) {
		if len(ss) == 0 {
			return
		}
		ds := make([]time.Duration, len(ss))
		n5, n4 := 0, 0
		for j, s := range ss {
			ds[j] = s.d
			if s.err || s.status >= 500 {
				n5++
			} else if s.status >= 400 {
				n4++
			}
		}
		slices.Sort(ds)
		q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
		fmt.Printf("%-14s %9d %9.0f %9s %9s %9s %6d %6d\n", name, len(ss), float64(len(ss))/elapsed.Seconds(),
			ms(q(0.50)), ms(q(0.99)), ms(ds[len(ds)-1]), n5, n4)
	}
	byOp := map[int][]sample{}
	for _, s := range all {
		byOp[s.op] = append(byOp[s.op], s)
	}
	keys := make([]int, 0, len(byOp))
	for k := range byOp {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		report(ops[k].name, byOp[k])
	}
	report("overall", all)
	// The load generator shares the machine with the server: what it costs
	// (including its setup) is CPU the server did not get.
	fmt.Printf("client CPU %.1f s over the run: %.3f ms per request, %.2f cores\n", clientCPU.Seconds(),
		float64(clientCPU.Microseconds())/1000/float64(len(all)), clientCPU.Seconds()/elapsed.Seconds())
	// How long the group lists were (the groups whose delete has not
	// finished are listed, Deleting), and what is left once the load ends.
	if ss := byOp[opIndex("rg-list")]; len(ss) > 0 {
		items := 0
		for _, s := range ss {
			items += s.items
		}
		n, del, pages := 0, 0, 0
		for next := c.base + sub + "/resourcegroups?api-version=2021-04-01"; next != "" && pages < 100; pages++ {
			st, b, err := c.do("GET", strings.TrimPrefix(next, c.base), "")
			if err != nil || st != 200 {
				break
			}
			dn, dd := groupsIn(b)
			n, del = n+dn, del+dd
			var l struct{ NextLink string }
			json.Unmarshal(b, &l)
			next = l.NextLink
		}
		fmt.Printf("groups per rg-list answer: %.0f on average; after the run: %d listed, %d of them Deleting\n", float64(items)/float64(len(ss)), n, del)
	}
	var failed bytes.Buffer
	for _, s := range all {
		if s.err || s.status >= 500 {
			fmt.Fprintf(&failed, "%s ", ops[s.op].name)
		}
	}
	if failed.Len() > 0 {
		fmt.Fprintln(os.Stderr, "failed:", failed.String())
		os.Exit(1)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "mixed:", err)
		os.Exit(1)
	}
}
