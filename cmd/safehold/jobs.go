package main

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/rp/recoveryservices"
	"github.com/spf13/cobra"
)

// jobRow is a backup job of either vault kind.
type jobRow struct {
	Name      string     `json:"name" col:"Name"`
	Vault     string     `json:"vault" col:"Vault"`
	VaultKind string     `json:"vaultKind"`
	Item      string     `json:"item" col:"Item"`
	Operation string     `json:"operation" col:"Operation"`
	Status    string     `json:"status" col:"Status"`
	Progress  float64    `json:"progress" col:"Progress,percent"` // percent
	Start     *time.Time `json:"startTime,omitempty" col:"Start"`
	End       *time.Time `json:"endTime,omitempty" col:"End"`
	Bytes     int64      `json:"bytesTransferred,omitempty"`
	Waiting   string     `json:"waiting,omitempty"`                 // what a running job waits for (a replica holding its disk)
	Error     string     `json:"error,omitempty" col:"Error,short"` // whole in job show, -o tsv and -o json
	Fix       string     `json:"recommendedAction,omitempty"`       // what the job's error asks the user to do
	ID        string     `json:"id"`

	vault  vaultRow
	itemID string // DP: the backup instance id
}

func (j jobRow) done() bool {
	switch j.Status {
	case "InProgress", "Cancelling", "NotStarted", "":
		return false
	}
	return true
}

var jobCols = columnsOf[jobRow]()

func dpJobRow(v vaultRow, j *armdataprotection.AzureBackupJobResource) jobRow {
	r := jobRow{Name: str(j.Name), Vault: v.Name, VaultKind: v.Kind, ID: str(j.ID), vault: v}
	if p := j.Properties; p != nil {
		r.Item, r.Operation, r.Status, r.Start, r.End = str(p.BackupInstanceFriendlyName), str(p.Operation), str(p.Status), p.StartTime, p.EndTime
		r.itemID = str(p.BackupInstanceID)
		if x := p.ExtendedInfo; x != nil {
			if x.DataTransferredInBytes != nil {
				r.Bytes = int64(*x.DataTransferredInBytes)
			}
			if w := x.AdditionalDetails[protection.DetailWaiting]; w != nil {
				r.Waiting = *w
			}
			for _, t := range x.SubTasks {
				if t != nil && t.TaskProgress != nil {
					if f, err := strconv.ParseFloat(strings.TrimSuffix(*t.TaskProgress, "%"), 64); err == nil {
						r.Progress = f
					}
				}
			}
		}
		var msgs, fixes []string
		for _, e := range p.ErrorDetails {
			if e != nil {
				msgs = append(msgs, strings.TrimPrefix(str(e.Code)+": "+str(e.Message), ": "))
				fixes = append(fixes, strs(e.RecommendedAction)...)
			}
		}
		r.Error, r.Fix = strings.Join(msgs, "; "), strings.Join(fixes, " ")
	}
	if r.Status == "Completed" {
		r.Progress = 100
	}
	return r
}

func rsJobRow(v vaultRow, j *armrecoveryservicesbackup.JobResource) jobRow {
	r := jobRow{Name: str(j.Name), Vault: v.Name, VaultKind: v.Kind, ID: str(j.ID), vault: v}
	if j.Properties == nil {
		return r
	}
	b := j.Properties.GetJob()
	r.Item, r.Operation, r.Status, r.Start, r.End = str(b.EntityFriendlyName), str(b.Operation), str(b.Status), b.StartTime, b.EndTime
	if vm, ok := j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob); ok {
		if x := vm.ExtendedInfo; x != nil {
			if x.ProgressPercentage != nil {
				r.Progress = *x.ProgressPercentage
			}
			// The bytes a backup moved to the vault, exact ("Backup Size"
			// has them in MB).
			if b := x.PropertyBag["Bytes Transferred"]; b != nil {
				r.Bytes, _ = strconv.ParseInt(*b, 10, 64)
			}
			if w := x.PropertyBag[protection.DetailWaiting]; w != nil {
				r.Waiting = *w
			}
		}
		var msgs, fixes []string
		for _, e := range vm.ErrorDetails {
			if e != nil {
				msgs = append(msgs, str(e.ErrorString))
				fixes = append(fixes, strs(e.Recommendations)...)
			}
		}
		r.Error, r.Fix = strings.Join(msgs, "; "), strings.Join(fixes, " ")
	}
	if vj, ok := j.Properties.(*armrecoveryservicesbackup.VaultJob); ok { // vault-level jobs (Verify)
		if vj.ExtendedInfo != nil {
			if p := vj.ExtendedInfo.PropertyBag["Progress Percentage"]; p != nil {
				r.Progress, _ = strconv.ParseFloat(*p, 64)
			}
		}
		var msgs, fixes []string
		for _, e := range vj.ErrorDetails {
			if e != nil {
				msgs = append(msgs, str(e.ErrorString))
				fixes = append(fixes, strs(e.Recommendations)...)
			}
		}
		r.Error, r.Fix = strings.Join(msgs, "; "), strings.Join(fixes, " ")
	}
	if r.Status == "Completed" {
		r.Progress = 100
	}
	return r
}

func (s *session) vaultJobs(v vaultRow) ([]jobRow, error) {
	if v.Kind == kindDP {
		list := func(c *armdataprotection.JobsClient) *runtime.Pager[armdataprotection.JobsClientListResponse] {
			return c.NewListPager(v.ResourceGroup, v.Name, nil)
		}
		return listRows(s, armdataprotection.NewJobsClient, list, func(j *armdataprotection.AzureBackupJobResource) (jobRow, bool) { return dpJobRow(v, j), true })
	}
	list := func(c *armrecoveryservicesbackup.BackupJobsClient) *runtime.Pager[armrecoveryservicesbackup.BackupJobsClientListResponse] {
		return c.NewListPager(v.Name, v.ResourceGroup, nil)
	}
	return listRows(s, armrecoveryservicesbackup.NewBackupJobsClient, list, func(j *armrecoveryservicesbackup.JobResource) (jobRow, bool) { return rsJobRow(v, j), true })
}

func (s *session) jobs() ([]jobRow, error) {
	out, err := everyVault(s, s.vaultJobs)
	if err != nil {
		return nil, err
	}
	return newestFirst(out), nil
}

// newestFirst sorts jobs by start time, newest first (not started last).
func newestFirst(out []jobRow) []jobRow {
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Start, out[j].Start
		if a == nil || b == nil {
			return b == nil && a != nil
		}
		return a.After(*b)
	})
	return out
}

// getJob reads one job again (for waiting).
func (s *session) getJob(j jobRow) (jobRow, error) {
	v := j.vault
	if v.Kind == kindDP {
		get := func(c *armdataprotection.JobsClient) (armdataprotection.JobsClientGetResponse, error) {
			return c.Get(s.ctx(), v.ResourceGroup, v.Name, j.Name, nil)
		}
		return getRow(s, armdataprotection.NewJobsClient, get, func(r armdataprotection.JobsClientGetResponse) jobRow { return dpJobRow(v, &r.AzureBackupJobResource) })
	}
	get := func(c *armrecoveryservicesbackup.JobDetailsClient) (armrecoveryservicesbackup.JobDetailsClientGetResponse, error) {
		return c.Get(s.ctx(), v.Name, v.ResourceGroup, j.Name, nil)
	}
	return getRow(s, armrecoveryservicesbackup.NewJobDetailsClient, get, func(r armrecoveryservicesbackup.JobDetailsClientGetResponse) jobRow {
		return rsJobRow(v, &r.JobResource)
	})
}

func (s *session) findJob(ref string) (jobRow, error) {
	js, err := s.jobs()
	if err != nil {
		return jobRow{}, err
	}
	for _, j := range js {
		if strings.EqualFold(j.ID, ref) || strings.EqualFold(j.Name, ref) {
			return j, nil
		}
	}
	return jobRow{}, fmt.Errorf("no job %q (see `safehold job list`)", ref)
}

// jobStatuses are the statuses a job of either vault kind has.
var jobStatuses = []string{"InProgress", "Completed", "CompletedWithWarnings", "Failed", "Cancelling", "Cancelled"}

// jobOperations are the operations --operation takes: those of the jobs
// of both vault kinds (Recovery Services' list holds the Backup vaults'
// too), Backup and Restore first.
func jobOperations() []string {
	ops := []string{protection.OpBackup, protection.OpRestore}
	for _, op := range recoveryservices.JobOperations {
		if op != "Invalid" && !slices.Contains(ops, op) {
			ops = append(ops, op)
		}
	}
	return ops
}

// errJobFailed is returned when a waited-for job did not complete.
var errJobFailed = errors.New("job did not complete")

// wait polls a job until it ends, with a progress bar on a terminal.
func (s *session) wait(j jobRow, desc string) (jobRow, error) {
	bar := s.newProgress(desc, 100, false)
	stopped := func() (jobRow, error) {
		if bar.bar != nil {
			fmt.Fprintln(s.cmd.ErrOrStderr()) // past the bar
		}
		return j, fmt.Errorf("stopped waiting for job %s, which goes on in the server (`safehold job wait %s` waits for it again): %w", j.Name, j.Name, s.ctx().Err())
	}
	said := ""
	for !j.done() {
		bar.set(int64(j.Progress))
		if j.Waiting != said {
			// What the job waits for, as it changes: in the bar's
			// description on a terminal, else a line on stderr.
			if said = j.Waiting; bar.bar != nil {
				bar.describe(strings.TrimSpace(desc + " " + j.Waiting))
			} else if said != "" {
				fmt.Fprintf(s.cmd.ErrOrStderr(), "job %s: %s\n", j.Name, said)
			}
		}
		select {
		case <-s.ctx().Done():
			return stopped()
		case <-time.After(250 * time.Millisecond):
		}
		nj, err := s.getJob(j)
		if err != nil {
			if s.ctx().Err() != nil {
				return stopped()
			}
			if bar.bar != nil {
				fmt.Fprintln(s.cmd.ErrOrStderr())
			}
			// The job was accepted: the server stopped or failed while
			// the command waited, and a server that runs again resumes it.
			return j, fmt.Errorf("%w\njob %s goes on in the server once it runs again: `safehold job wait %s` waits for it (starting the work again would run it twice)", err, j.Name, j.Name)
		}
		j = nj
	}
	if j.Status == "Completed" {
		bar.set(100)
		bar.finish()
		return j, nil
	}
	bar.describe(desc + " " + j.Status)
	fmt.Fprintln(s.cmd.ErrOrStderr())
	msg := fmt.Sprintf("job %s %s", j.Name, j.Status)
	if j.Error != "" {
		msg += ": " + j.Error
	}
	if j.Fix != "" {
		msg += "\nto fix: " + j.Fix
	}
	return j, fmt.Errorf("%w: %s (details: `safehold job show %s`)", errJobFailed, msg, j.Name)
}

func newJobCmd() *cobra.Command {
	o := &cliOpts{}
	var vault, status, operation string
	cmd := &cobra.Command{Use: "job", Short: "Backup jobs of both vault kinds"}
	addCLIFlags(cmd, o)
	list := &cobra.Command{Use: "list", Short: "List jobs, newest first", Args: cobra.NoArgs,
		RunE: o.run(func(s *session, args []string) error {
			if status != "" && !slices.ContainsFunc(jobStatuses, func(x string) bool { return strings.EqualFold(x, status) }) {
				return fmt.Errorf("--status %q: use one of %s", status, strings.Join(jobStatuses, ", "))
			}
			if ops := jobOperations(); operation != "" && !slices.ContainsFunc(ops, func(x string) bool { return strings.EqualFold(x, operation) }) {
				return fmt.Errorf("--operation %q: use one of %s", operation, strings.Join(ops, ", "))
			}
			var js []jobRow
			var err error
			if vault != "" {
				// By name or id, as `vault show`: a name no vault has is an
				// error, not an empty list.
				v, verr := s.findVault(vault)
				if verr != nil {
					return verr
				}
				if js, err = s.vaultJobs(v); err == nil {
					js = newestFirst(js)
				}
			} else {
				js, err = s.jobs()
			}
			if err != nil {
				return err
			}
			var out []jobRow
			for _, j := range js {
				if (status == "" || strings.EqualFold(status, j.Status)) &&
					(operation == "" || strings.EqualFold(operation, j.Operation)) {
					out = append(out, j)
				}
			}
			return render(s, out, jobCols)
		})}
	list.Flags().StringVar(&vault, "vault", "", "only this vault's jobs (its name or id)")
	list.Flags().StringVar(&status, "status", "", "only jobs in this status ("+strings.Join(jobStatuses, ", ")+")")
	list.Flags().StringVar(&operation, "operation", "", "only this operation (Backup, Restore, ConfigureBackup, ...)")
	show := &cobra.Command{Use: "show JOB", Short: "Show a job (by name or id)", Args: cobra.ExactArgs(1),
		RunE: runOn(o, (*session).findJob, func(s *session, j jobRow) error { return renderOne(s, j, jobPairs(j)) })}
	wait := &cobra.Command{Use: "wait JOB", Short: "Wait for a job to end (progress bar on a terminal); fails unless it completes", Args: cobra.ExactArgs(1),
		RunE: runOn(o, (*session).findJob, func(s *session, j jobRow) error {
			j, err := s.wait(j, j.Operation)
			if errors.Is(err, errJobFailed) {
				renderOne(s, j, jobPairs(j))
			}
			if err != nil {
				return err
			}
			return renderOne(s, j, jobPairs(j))
		})}
	cmd.AddCommand(list, show, wait)
	return cmd
}

func jobPairs(j jobRow) [][2]string {
	pairs := [][2]string{{"Name", j.Name}, {"Vault", j.Vault}, {"VaultKind", j.VaultKind}, {"Item", j.Item}, {"Operation", j.Operation},
		{"Status", j.Status}, {"Progress", strconv.Itoa(int(j.Progress)) + "%"}, {"Start", when(j.Start)}, {"End", when(j.End)},
		{"BytesTransferred", strconv.FormatInt(j.Bytes, 10)}, {"Error", j.Error}}
	if j.Waiting != "" {
		pairs = append(pairs, [2]string{"Waiting", j.Waiting})
	}
	if j.Fix != "" {
		pairs = append(pairs, [2]string{"RecommendedAction", j.Fix})
	}
	return append(pairs, [2]string{"ID", j.ID})
}
