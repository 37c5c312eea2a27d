package protection

import (
	"context"
	"fmt"

	"github.com/safehold/safehold/snapshot"
)

// OpVerify is the operation of verify jobs.
const OpVerify = "Verify"

// VerifyRequest is what one verify job checks.
type VerifyRequest struct {
	// VaultKey names the vault tier to verify ("" : the operational tier).
	VaultKey string
	// Sample is the fraction of packs re-read (0: all; see snapshot.VerifyOptions).
	Sample float64
	// Report, if set, receives the repository's report.
	Report func(snapshot.VerifyReport)
}

// Verify runs verify job jobID to its end: it re-reads a tier's
// repository and fails the job with CodeRecoveryPointCorrupt when anything
// is damaged. (The operator-facing verify, with damaged points marked, is
// built on this hook.)
func (e *Engine) Verify(ctx context.Context, jobID string, req VerifyRequest) (*Job, error) {
	return e.run(ctx, nil, jobID, CodeOperationFailed, func(ctx context.Context, j *Job) error {
		repo, release := e.Disks.Repository(), func() {}
		if req.VaultKey != "" {
			var err error
			if repo, release, err = e.vault(ctx, req.VaultKey); err != nil {
				return err
			}
		}
		defer release()
		rep, err := repo.Verify(ctx, snapshot.VerifyOptions{Sample: req.Sample})
		if err != nil {
			return err
		}
		if req.Report != nil {
			req.Report(rep)
		}
		if !rep.OK {
			return &JobError{Code: CodeRecoveryPointCorrupt, Message: fmt.Sprintf("%d damaged chunks affect %d snapshots.", len(rep.Bad), len(rep.BadSnapshots))}
		}
		return e.updateJob(ctx, j.ID, func(x *Job) { x.BytesTransferred = rep.BytesRead })
	})
}
