package protection

import (
	"context"
	"errors"
	"strings"
	"sync"
)

// Leftover is a resource a job's run made that nothing owns yet: the
// snapshots of a backup's capture until its recovery point records them,
// the disks of a restore until it ends. A job that ends Failed or
// Cancelled deletes its leftovers (those its runs met, this one's and
// those earlier runs that met the metadata database out of reach counted
// in the job), so that a job whose retries ran out leaves nothing behind;
// one it cannot delete stays, named in the job's error.
type Leftover struct {
	Kind     string `json:"kind"` // leftoverSnapshot, leftoverDisk
	ID       string `json:"id"`
	UniqueID string `json:"uniqueId,omitempty"` // a disk's: a disk of its name made since by someone else stays
}

const (
	leftoverSnapshot = "snapshot"
	leftoverDisk     = "disk"
)

// runLeftovers are the leftovers of one run of a job (in its context).
type runLeftovers struct {
	mu   sync.Mutex
	list []Leftover
}

type leftoversKey struct{}

func withLeftovers(ctx context.Context, rl *runLeftovers) context.Context {
	return context.WithValue(ctx, leftoversKey{}, rl)
}

// made notes resources the job's run made (or found made by an earlier
// run of it) that nothing owns yet.
func made(ctx context.Context, ls ...Leftover) {
	rl, _ := ctx.Value(leftoversKey{}).(*runLeftovers)
	if rl == nil {
		return
	}
	rl.mu.Lock()
	rl.list = mergeLeftovers(rl.list, ls)
	rl.mu.Unlock()
}

// owned notes that what the run made is owned now (the point that records
// the snapshots was committed).
func owned(ctx context.Context) {
	if rl, _ := ctx.Value(leftoversKey{}).(*runLeftovers); rl != nil {
		rl.mu.Lock()
		rl.list = nil
		rl.mu.Unlock()
	}
}

func (rl *runLeftovers) get() []Leftover {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return append([]Leftover(nil), rl.list...)
}

// mergeLeftovers is a with b's entries it lacks.
func mergeLeftovers(a, b []Leftover) []Leftover {
	for _, l := range b {
		dup := false
		for _, x := range a {
			if x.Kind == l.Kind && strings.EqualFold(x.ID, l.ID) && x.UniqueID == l.UniqueID {
				dup = true
				break
			}
		}
		if !dup {
			a = append(a, l)
		}
	}
	return a
}

// endLeftovers are what job x, ending now as it does, must delete:
// its recorded leftovers and the run's, unless it completed (a restore's
// disks are its result) or a recovery point it recorded owns its snapshots.
func endLeftovers(x *Job, run []Leftover) []Leftover {
	all := mergeLeftovers(append([]Leftover(nil), x.Leftovers...), run)
	x.Leftovers = nil
	if x.Status != JobFailed && x.Status != JobCancelled {
		return nil
	}
	var out []Leftover
	for _, l := range all {
		if l.Kind == leftoverSnapshot && x.RecoveryPointID != "" {
			continue // the point the job recorded holds them
		}
		out = append(out, l)
	}
	return out
}

// deleteLeftovers deletes what an ended job left; those it cannot delete
// are named in the job's error (a failed job's) and the log.
func (e *Engine) deleteLeftovers(ctx context.Context, jobID string, ls []Leftover) {
	ctx = context.WithoutCancel(ctx)
	var kept []string
	for _, l := range ls {
		var err error
		switch l.Kind {
		case leftoverSnapshot:
			err = e.Disks.DeleteSnapshot(ctx, l.ID)
		case leftoverDisk:
			err = e.Disks.DeleteDisk(ctx, l.ID, l.UniqueID)
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			kept = append(kept, l.ID+" ("+message(err)+")")
		}
	}
	if len(kept) == 0 {
		return
	}
	e.Logger.Warn("an ended job's resources were kept, as they could not be deleted", "job", jobID, "kept", kept)
	if err := e.updateJob(ctx, jobID, func(x *Job) {
		if x.Error == nil {
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
	}); err != nil {
		e.Logger.Warn("name an ended job's kept resources in its error", "job", jobID, "err", err)
	}
}
