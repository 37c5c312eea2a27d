package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
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
	Error     string     `json:"error,omitempty" col:"Error"`
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
			for _, t := range x.SubTasks {
				if t != nil && t.TaskProgress != nil {
					if f, err := strconv.ParseFloat(strings.TrimSuffix(*t.TaskProgress, "%"), 64); err == nil {
						r.Progress = f
					}
				}
			}
		}
		var msgs []string
		for _, e := range p.ErrorDetails {
			if e != nil {
				msgs = append(msgs, strings.TrimPrefix(str(e.Code)+": "+str(e.Message), ": "))
			}
		}
		r.Error = strings.Join(msgs, "; ")
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
		if vm.ExtendedInfo != nil && vm.ExtendedInfo.ProgressPercentage != nil {
			r.Progress = *vm.ExtendedInfo.ProgressPercentage
		}
		var msgs []string
		for _, e := range vm.ErrorDetails {
			if e != nil {
				msgs = append(msgs, str(e.ErrorString))
			}
		}
		r.Error = strings.Join(msgs, "; ")
	}
	if vj, ok := j.Properties.(*armrecoveryservicesbackup.VaultJob); ok { // vault-level jobs (Verify)
		if vj.ExtendedInfo != nil {
			if p := vj.ExtendedInfo.PropertyBag["Progress Percentage"]; p != nil {
				r.Progress, _ = strconv.ParseFloat(*p, 64)
			}
		}
		var msgs []string
		for _, e := range vj.ErrorDetails {
			if e != nil {
				msgs = append(msgs, str(e.ErrorString))
			}
		}
		r.Error = strings.Join(msgs, "; ")
	}
	if r.Status == "Completed" {
		r.Progress = 100
	}
	return r
}

func (s *session) vaultJobs(v vaultRow) ([]jobRow, error) {
	var out []jobRow
	if v.Kind == kindDP {
		c, err := armdataprotection.NewJobsClient(s.sub, s.cred, s.opts)
		if err != nil {
			return nil, err
		}
		err = eachPage(s, c.NewListPager(v.ResourceGroup, v.Name, nil), func(page armdataprotection.JobsClientListResponse) {
			for _, j := range page.Value {
				out = append(out, dpJobRow(v, j))
			}
		})
		return out, err
	}
	c, err := armrecoveryservicesbackup.NewBackupJobsClient(s.sub, s.cred, s.opts)
	if err != nil {
		return nil, err
	}
	err = eachPage(s, c.NewListPager(v.Name, v.ResourceGroup, nil), func(page armrecoveryservicesbackup.BackupJobsClientListResponse) {
		for _, j := range page.Value {
			out = append(out, rsJobRow(v, j))
		}
	})
	return out, err
}

func (s *session) jobs() ([]jobRow, error) {
	out, err := everyVault(s, s.vaultJobs)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Start, out[j].Start
		if a == nil || b == nil {
			return b == nil && a != nil
		}
		return a.After(*b)
	})
	return out, nil
}

// getJob reads one job again (for waiting).
func (s *session) getJob(j jobRow) (jobRow, error) {
	if j.vault.Kind == kindDP {
		c, err := armdataprotection.NewJobsClient(s.sub, s.cred, s.opts)
		if err != nil {
			return j, err
		}
		r, err := c.Get(s.ctx(), j.vault.ResourceGroup, j.vault.Name, j.Name, nil)
		if err != nil {
			return j, s.explain(err)
		}
		return dpJobRow(j.vault, &r.AzureBackupJobResource), nil
	}
	c, err := armrecoveryservicesbackup.NewJobDetailsClient(s.sub, s.cred, s.opts)
	if err != nil {
		return j, err
	}
	r, err := c.Get(s.ctx(), j.vault.Name, j.vault.ResourceGroup, j.Name, nil)
	if err != nil {
		return j, s.explain(err)
	}
	return rsJobRow(j.vault, &r.JobResource), nil
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

// errJobFailed is returned when a waited-for job did not complete.
var errJobFailed = errors.New("job did not complete")

// wait polls a job until it ends, with a progress bar on a terminal.
func (s *session) wait(j jobRow, desc string) (jobRow, error) {
	bar := s.newProgress(desc, 100, false)
	for !j.done() {
		bar.set(int64(j.Progress))
		select {
		case <-s.ctx().Done():
			return j, s.ctx().Err()
		case <-time.After(250 * time.Millisecond):
		}
		var err error
		if j, err = s.getJob(j); err != nil {
			return j, err
		}
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
	return j, fmt.Errorf("%w: %s (details: `safehold job show %s`)", errJobFailed, msg, j.Name)
}

func newJobCmd() *cobra.Command {
	o := &cliOpts{}
	var vault, status, operation string
	cmd := &cobra.Command{Use: "job", Short: "Backup jobs of both vault kinds"}
	addCLIFlags(cmd, o)
	list := &cobra.Command{Use: "list", Short: "List jobs, newest first", Args: cobra.NoArgs,
		RunE: o.run(func(s *session, args []string) error {
			js, err := s.jobs()
			if err != nil {
				return err
			}
			var out []jobRow
			for _, j := range js {
				if (vault == "" || strings.EqualFold(vault, j.Vault)) && (status == "" || strings.EqualFold(status, j.Status)) &&
					(operation == "" || strings.EqualFold(operation, j.Operation)) {
					out = append(out, j)
				}
			}
			return render(s, out, jobCols)
		})}
	list.Flags().StringVar(&vault, "vault", "", "only this vault's jobs")
	list.Flags().StringVar(&status, "status", "", "only jobs in this status (InProgress, Completed, Failed, ...)")
	list.Flags().StringVar(&operation, "operation", "", "only this operation (Backup, Restore, ConfigureBackup, ...)")
	show := &cobra.Command{Use: "show JOB", Short: "Show a job (by name or id)", Args: cobra.ExactArgs(1),
		RunE: o.run(func(s *session, args []string) error {
			j, err := s.findJob(args[0])
			if err != nil {
				return err
			}
			return renderOne(s, j, jobPairs(j))
		})}
	wait := &cobra.Command{Use: "wait JOB", Short: "Wait for a job to end (progress bar on a terminal); fails unless it completes", Args: cobra.ExactArgs(1),
		RunE: o.run(func(s *session, args []string) error {
			j, err := s.findJob(args[0])
			if err != nil {
				return err
			}
			j, err = s.wait(j, j.Operation)
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
	return [][2]string{{"Name", j.Name}, {"Vault", j.Vault}, {"VaultKind", j.VaultKind}, {"Item", j.Item}, {"Operation", j.Operation},
		{"Status", j.Status}, {"Progress", strconv.Itoa(int(j.Progress)) + "%"}, {"Start", when(j.Start)}, {"End", when(j.End)},
		{"BytesTransferred", strconv.FormatInt(j.Bytes, 10)}, {"Error", j.Error}, {"ID", j.ID}}
}
