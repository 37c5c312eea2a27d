package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/safehold/safehold/version"
	"github.com/spf13/cobra"
)

// statusReport is what `safehold status` prints.
type statusReport struct {
	Endpoint  string         `json:"endpoint"`
	Health    string         `json:"health"`
	Version   version.Info   `json:"serverVersion"`
	Store     string         `json:"store"`
	Blob      string         `json:"blob"`
	DataDir   string         `json:"dataDir,omitempty"` // whether the server's data directory takes writes
	Vaults    map[string]int `json:"vaults"`
	Items     int            `json:"items"`
	Jobs      map[string]int `json:"jobs"`
	Disks     int            `json:"disks"`
	Snapshots int            `json:"snapshots"`
	Storage   storageUsage   `json:"storage"`
	// StorageError is why the storage figures could not be read (the
	// object storage out of reach, say); the rest is reported all the same.
	StorageError string `json:"storageError,omitempty"`
	// Clock is the server's clock, for a principal who may read it (the
	// admin API needs Owner): schedules, retention and the jobs' times
	// follow it, and after safehold clock set or advance it stays frozen.
	Clock *statusClock `json:"clock,omitempty"`
	// ServerTime is the server's time for a principal who may not read the
	// clock (the storage figures' measuredAt): where it stands, not whether
	// it was moved or is frozen.
	ServerTime *time.Time `json:"serverTime,omitempty"`
}

type statusClock struct {
	Now    time.Time `json:"now"`
	Frozen bool      `json:"frozen"`
	Offset string    `json:"offset"` // the server's time less real time, now (a frozen clock's falls as real time passes)
}

// clockLine says where the server's clock stands, naming a frozen or
// moved one: a frozen clock runs no scheduled backup until it resumes. A
// frozen clock's distance to real time changes as real time passes (it is
// what resume keeps), so the line says it is today's.
func clockLine(c statusClock) string {
	at := c.Now.UTC().Format(time.RFC3339)
	rel := ""
	if d, err := time.ParseDuration(c.Offset); err == nil && d.Abs() >= time.Second {
		if d = d.Round(time.Second); d > 0 {
			rel = d.String() + " ahead of real time"
		} else {
			rel = (-d).String() + " behind real time"
		}
	}
	if !c.Frozen {
		if rel == "" {
			return at
		}
		return at + ", " + rel
	}
	line := "frozen at " + at
	if rel != "" {
		line += ", " + rel + " now (it falls behind as real time passes)"
	}
	return line + ": no scheduled backup runs until `safehold clock resume`"
}

type storageUsage struct {
	Snapshots    int     `json:"snapshots"`
	LogicalBytes int64   `json:"logicalBytes"`
	StoredBytes  int64   `json:"storedBytes"`
	DedupRatio   float64 `json:"dedupRatio"`
	// DamagedSnapshots cannot be read whole (see `safehold verify`).
	DamagedSnapshots int `json:"damagedSnapshots,omitempty"`
}

// armGet reads an ARM path as the session's principal.
func (s *session) armGet(path string, v any) error {
	resp, b, err := armCall(s.ctx(), s.conn, s.cred, "GET", path, nil)
	if err != nil {
		return s.explain(err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(b, &e)
		return fmt.Errorf("GET %s: %s %s: %s", strings.SplitN(path, "?", 2)[0], resp.Status, e.Error.Code, e.Error.Message)
	}
	return json.Unmarshal(b, v)
}

// dedupRatio is the ratio as "2.50x", or "n/a" while nothing is stored (a
// ratio of no data is none, not 0.00x).
func dedupRatio(u storageUsage) string {
	if u.LogicalBytes == 0 || u.StoredBytes == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", u.DedupRatio)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func countPairs(m map[string]int) string {
	var ks []string
	for k, n := range m {
		ks = append(ks, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "none"
	}
	return strings.Join(ks, ", ")
}

func newStatusCmd() *cobra.Command {
	o := &cliOpts{}
	cmd := &cobra.Command{Use: "status", Short: "Server health, resource and job counts, storage used against logical size (dedup ratio)", Args: cobra.NoArgs,
		RunE: o.run(func(s *session, args []string) error {
			r := statusReport{Endpoint: s.conn.ARMEndpoint, Vaults: map[string]int{}, Jobs: map[string]int{}}
			hc, err := s.conn.HTTPClient()
			if err != nil {
				return err
			}
			resp, err := hc.Get(s.conn.ARMEndpoint + "/healthz")
			if err != nil {
				return s.explain(err)
			}
			var h struct {
				Status  string
				Version version.Info
				Store   struct{ Status, Error string }
				Blob    struct{ Status, Error string }
				DataDir struct{ Status, Error string }
			}
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			r.Health, r.Version, r.Store, r.Blob = h.Status, h.Version, strings.TrimSpace(h.Store.Status+" "+h.Store.Error), strings.TrimSpace(h.Blob.Status+" "+h.Blob.Error)
			r.DataDir = strings.TrimSpace(h.DataDir.Status + " " + h.DataDir.Error)
			if err := s.countAll(&r); err != nil {
				return err
			}
			// The storage figures read the object storage: when it is out of
			// reach the rest is still reported (the Blob row says why), then
			// the command fails.
			var u struct {
				Properties struct {
					storageUsage
					MeasuredAt time.Time `json:"measuredAt"`
				}
			}
			uerr := s.armGet("/subscriptions/"+s.sub+"/providers/Safehold.Storage/usage/default?api-version=2024-01-01", &u)
			r.Storage = u.Properties.storageUsage
			rows := [][2]string{{"Endpoint", r.Endpoint}, {"Health", r.Health}, {"ServerVersion", r.Version.String()},
				{"Store", r.Store}, {"Blob", r.Blob}, {"DataDir", r.DataDir}, {"Vaults", countPairs(r.Vaults)}, {"Items", fmt.Sprint(r.Items)}, {"Jobs", countPairs(r.Jobs)},
				{"Disks", fmt.Sprint(r.Disks)}, {"Snapshots", fmt.Sprint(r.Snapshots)}}
			var ck statusClock
			if err := s.armGet(adminPath+"/clock?api-version=2024-01-01", &ck); err == nil {
				r.Clock = &ck
				rows = append(rows, [2]string{"Clock", clockLine(ck)})
			} else if at := u.Properties.MeasuredAt; uerr == nil && !at.IsZero() {
				r.ServerTime = &at
				rows = append(rows, [2]string{"Clock", at.UTC().Format(time.RFC3339) + " (whether it was moved or is frozen only an Owner reads)"})
			}
			if uerr != nil {
				r.StorageError = uerr.Error()
				rows = append(rows, [2]string{"Storage", "unavailable: " + r.StorageError})
			} else {
				rows = append(rows, [2]string{"StorageUsed", humanBytes(r.Storage.StoredBytes)}, [2]string{"LogicalSize", humanBytes(r.Storage.LogicalBytes)},
					[2]string{"DedupRatio", dedupRatio(r.Storage)}, [2]string{"RecoverySnapshots", fmt.Sprint(r.Storage.Snapshots)})
				if n := r.Storage.DamagedSnapshots; n > 0 {
					rows = append(rows, [2]string{"DamagedSnapshots", fmt.Sprintf("%d (their unreadable parts are not counted; `safehold verify` names them)", n)})
				}
			}
			if err := renderOne(s, r, rows); err != nil {
				return err
			}
			if uerr != nil {
				return fmt.Errorf("the storage figures are unavailable: %w", uerr)
			}
			return nil
		})}
	addCLIFlags(cmd, o)
	return cmd
}

// countAll fills r's counts: the vaults of both kinds, their items and
// their jobs by status, the disks and the snapshots. Every list is read
// page by page decoding only what is counted (the SDKs' models decoded
// every job and snapshot whole, nested field by field: most of status's
// time with thousands of jobs), the vaults' and the subscription's lists
// a few at a time.
func (s *session) countAll(r *statusReport) error {
	vs, err := s.vaults()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	sem := make(chan struct{}, 4)
	do := func(f func() error) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	count := func(path string, add func(int)) {
		do(func() error {
			n := 0
			err := countList(s, path, func(struct{}) { n++ })
			mu.Lock()
			add(n)
			mu.Unlock()
			return err
		})
	}
	for _, v := range vs {
		r.Vaults[v.Kind]++
		items, version := "/backupInstances", apiDP
		if v.Kind == kindRS {
			items, version = "/backupProtectedItems", apiRS
		}
		count(v.ID+items+"?api-version="+version, func(n int) { r.Items += n })
		do(func() error {
			jobs := map[string]int{}
			err := countList(s, v.ID+"/backupJobs?api-version="+version, func(j struct{ Properties struct{ Status string } }) { jobs[j.Properties.Status]++ })
			mu.Lock()
			for st, n := range jobs {
				r.Jobs[st] += n
			}
			mu.Unlock()
			return err
		})
	}
	sub := "/subscriptions/" + s.sub + "/providers/Microsoft.Compute/"
	count(sub+"disks?api-version="+apiCompute, func(n int) { r.Disks += n })
	count(sub+"snapshots?api-version="+apiCompute, func(n int) { r.Snapshots += n })
	wg.Wait()
	if len(errs) > 0 {
		return errs[0] // the others are alike (the server or the sign-in)
	}
	return nil
}

// The api-versions status reads its lists at (those of the SDKs the other
// commands use).
const (
	apiDP      = "2024-04-01"
	apiRS      = "2024-04-01"
	apiCompute = "2024-03-02"
)

// countList reads every page of the ARM list at path (with its
// api-version), decoding each value as a T for each.
func countList[T any](s *session, path string, each func(T)) error {
	seen := map[string]bool{}
	for next := path; next != "" && !seen[next]; {
		seen[next] = true
		var page struct {
			Value    []T    `json:"value"`
			NextLink string `json:"nextLink"`
		}
		if err := s.armGet(next, &page); err != nil {
			return err
		}
		for _, v := range page.Value {
			each(v)
		}
		next = ""
		if page.NextLink != "" {
			u, err := url.Parse(page.NextLink)
			if err != nil {
				return fmt.Errorf("GET %s: a nextLink that is no URL: %q", strings.SplitN(path, "?", 2)[0], page.NextLink)
			}
			next = u.RequestURI()
		}
	}
	return nil
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{Use: "version", Short: "Print the module version and commit of this binary", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version.Get()
			switch output {
			case "json":
				b, _ := json.MarshalIndent(v, "", "  ")
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
			case "table", "tsv", "":
				fmt.Fprintf(cmd.OutOrStdout(), "safehold %s\nmodule  %s\ncommit  %s\ngo      %s\n", v.Version, v.Module, orUnknown(v.Commit, v.Modified), v.GoVersion)
			default:
				return fmt.Errorf("--output %q: use table or json", output)
			}
			return nil
		}}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func orUnknown(c string, modified bool) string {
	if c == "" {
		return "unknown (no version control stamp: built outside a git checkout, or with -buildvcs=false, as GOFLAGS may set)"
	}
	if modified {
		c += " (modified)"
	}
	return c
}
