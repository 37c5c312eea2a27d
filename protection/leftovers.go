package protection

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// Leftover is a resource a job's run makes that nothing owns yet: the
// snapshots of a backup's capture until its recovery point records them,
// the vault copies of a point's snapshots until the point records its
// vault tier, the disks of a restore until the job completes. Each is
// recorded in the job (Job.Leftovers, intend) before it is made, so that
// whatever ends the run (a job.Retry, the metadata database out of reach,
// a crash) the job still knows it: a later run reuses it or, when the job
// ends without owning it, the end deletes it. The job's end records what
// it must delete in the transaction that ends it and deletes it after the
// commit (sweepLeftovers); a crash in between leaves them recorded in the
// ended job, and the job's task, which completes only once they are gone,
// runs again and deletes them (run). One it cannot delete (a management
// lock) stays, named in the job's error.
type Leftover struct {
	Kind string `json:"kind"` // leftoverSnapshot, leftoverDisk, leftoverVaultCopy, leftoverVM
	// ID is a snapshot's or disk's resource id, a vault copy's engine
	// snapshot id.
	ID string `json:"id"`
	// UniqueID is a disk's, recorded by runs before session 26 once it
	// was made: a disk of its name made since by someone else stays. A
	// disk recorded before it was made is deleted only while it carries
	// the job's id in its tags (a restore's disks do).
	UniqueID string `json:"uniqueId,omitempty"`
	// Vault is a vault copy's vault tier (its key).
	Vault string `json:"vault,omitempty"`
}

const (
	leftoverSnapshot  = "snapshot"
	leftoverDisk      = "disk"
	leftoverVaultCopy = "vaultCopy"
	// leftoverVM is a VM a Recovery Services restore makes over its disks
	// (IntendVM): deleted, before the disks, only while its tags name the
	// job.
	leftoverVM = "vm"
)

func (l Leftover) same(x Leftover) bool {
	return l.Kind == x.Kind && strings.EqualFold(l.ID, x.ID) && strings.EqualFold(l.Vault, x.Vault)
}

// mergeLeftovers is a with b's entries it lacks.
func mergeLeftovers(a, b []Leftover) []Leftover {
	for _, l := range b {
		if !slices.ContainsFunc(a, l.same) {
			a = append(a, l)
		}
	}
	return a
}

// dropLeftovers is a without the entries drop says are owned now.
func dropLeftovers(a []Leftover, drop func(Leftover) bool) []Leftover {
	out := a[:0:0]
	for _, l := range a {
		if !drop(l) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// intend records in job jobID, before the run makes them, the resources
// ls it is about to make (a write only when one is not recorded yet).
func (e *Engine) intend(ctx context.Context, jobID string, ls ...Leftover) error {
	j, err := GetJob(ctx, e.Store, "", jobID)
	if err != nil {
		return err
	}
	if len(mergeLeftovers(slices.Clone(j.Leftovers), ls)) == len(j.Leftovers) {
		return nil
	}
	return e.updateJob(ctx, jobID, func(x *Job) { x.Leftovers = mergeLeftovers(x.Leftovers, ls) })
}

// IntendVM records in restore job jobID, before its run makes it, the VM
// id it is about to make over the restored disks: a restore that ends
// otherwise than completed (now, or in a later run after a crash or a
// job.Retry) deletes it, while its tags name the job (a VM of that name
// someone else made stays), and then its disks.
func (e *Engine) IntendVM(ctx context.Context, jobID, id string) error {
	return e.intend(ctx, jobID, Leftover{Kind: leftoverVM, ID: id})
}

// endLeftovers are what job x, ending now as it does, must delete: what it
// recorded and nothing owns, less a completed restore's disks (its
// result). They stay recorded in x until sweepLeftovers deleted them.
func endLeftovers(x *Job) []Leftover {
	if x.Status == JobCompleted {
		x.Leftovers = dropLeftovers(x.Leftovers, func(l Leftover) bool { return l.Kind == leftoverDisk || l.Kind == leftoverVM })
	}
	return slices.Clone(x.Leftovers)
}

// sweepLeftovers deletes what ended job jobID left (ls, recorded in it)
// and removes them from the job: those it could not delete because they
// are kept (a management lock) are named in the job's error and forgotten;
// those it could not delete for now (the metadata database or the storage
// out of reach) stay recorded, and the answer is a job.Retry, for the
// job's task to run again and delete them.
func (e *Engine) sweepLeftovers(ctx context.Context, jobID string, ls []Leftover) error {
	ctx = context.WithoutCancel(ctx)
	var kept []string
	var later []Leftover
	var lastErr error
	gc := map[string]bool{}
	// A VM goes before the disks attached to it.
	ls = slices.Clone(ls)
	slices.SortStableFunc(ls, func(a, b Leftover) int {
		if (a.Kind == leftoverVM) == (b.Kind == leftoverVM) {
			return 0
		}
		if a.Kind == leftoverVM {
			return -1
		}
		return 1
	})
	for _, l := range ls {
		err := e.deleteLeftover(ctx, jobID, l)
		switch {
		case err == nil:
			if l.Kind == leftoverVaultCopy {
				gc[l.Vault] = true
			}
		case errors.Is(err, ErrNotFound) || errors.Is(err, snapshot.ErrNotFound) || errors.Is(err, ErrVaultGone):
		case transient(err) || unreachable(err):
			later, lastErr = append(later, l), err
		default:
			kept = append(kept, l.ID+" ("+message(err)+")")
		}
	}
	for key := range gc {
		e.GCVault(ctx, key)
	}
	if len(kept) > 0 {
		e.Logger.Warn("an ended job's resources were kept, as they could not be deleted", "job", jobID, "kept", kept)
	}
	err := e.updateJob(ctx, jobID, func(x *Job) {
		x.Leftovers = dropLeftovers(x.Leftovers, func(l Leftover) bool {
			return slices.ContainsFunc(ls, l.same) && !slices.ContainsFunc(later, l.same)
		})
		if x.Error == nil || len(kept) == 0 {
			return
		}
		var add []string
		for _, k := range kept {
			if id, _, _ := strings.Cut(k, " ("); !strings.Contains(x.Error.Message, id) {
				add = append(add, k)
			}
		}
		if len(add) > 0 {
			x.Error.Message += " The resources this job made were kept, as they could not be deleted: " + strings.Join(add, "; ") + "."
		}
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		lastErr = err // the job's task runs again and deletes them again (NotFound then)
	}
	if lastErr != nil {
		e.Logger.Warn("delete an ended job's resources; its task tries again", "job", jobID, "err", lastErr)
		return job.Backoff(lastErr, endJobRetry)
	}
	return nil
}

// unreachable reports the object storage out of reach.
func unreachable(err error) bool {
	var ou interface{ ObjectStoreUnreachable() bool }
	return errors.As(err, &ou) && ou.ObjectStoreUnreachable()
}

// namesJob reports whether tags name job jobID (what a restore made is
// tagged with its job's id).
func namesJob(tags map[string]string, jobID string) bool {
	for _, v := range tags {
		if v == jobID {
			return true
		}
	}
	return false
}

// deleteLeftover deletes one thing job jobID left.
func (e *Engine) deleteLeftover(ctx context.Context, jobID string, l Leftover) error {
	switch l.Kind {
	case leftoverSnapshot:
		return e.Disks.DeleteSnapshot(ctx, l.ID)
	case leftoverDisk:
		uid := l.UniqueID
		if uid == "" {
			// Recorded before it was made: only the disk this job made
			// (its tags name the job) is the job's to delete.
			d, err := e.Disks.Disk(ctx, l.ID)
			if err != nil {
				return err
			}
			if !namesJob(d.Tags, jobID) {
				return nil
			}
			uid = d.UniqueID
		}
		return e.Disks.DeleteDisk(ctx, l.ID, uid)
	case leftoverVM:
		vm, err := e.Disks.VM(ctx, l.ID)
		if err != nil {
			return err
		}
		if !namesJob(vm.Tags, jobID) {
			return nil
		}
		return e.Disks.DeleteVM(ctx, l.ID, vm.VMID)
	case leftoverVaultCopy:
		repo, release, err := e.vault(ctx, l.Vault)
		if err != nil {
			return err
		}
		defer release()
		return repo.Delete(ctx, snapshot.ID(l.ID))
	}
	return nil
}
