package protection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// The archive tier (Azure Backup's vault-archive; Recovery Services calls
// it ArchivedRP). A point's data stays where the vault tier keeps it (the
// vault's repository): being archived is a state of the point
// (RecoveryPoint.Archive), and what the state changes is what Azure's
// archive changes for users: an archived point is offline (a restore must
// rehydrate it first, which takes hours by the priority asked), it costs
// less per GB, and it may be moved there only by Azure's rule
// (ArchiveReadiness). A rehydrated point is online until its rehydration
// retention ends, then offline again: its status is computed from the
// clock (ArchiveStatus), so it returns to the archive on time without a
// task; retention sweeps clear the ended rehydration's record.

// OpMoveRecoveryPoint is the job of a manual move (Azure's job operation
// MoveRecoveryPoint).
const OpMoveRecoveryPoint = "MoveRecoveryPoint"

// Job tasks of the archive tier.
const (
	TaskMoveToArchive = "Move recovery point to archive tier"
	TaskRehydrate     = "Rehydrate recovery point"
)

// Codes of the archive tier.
const (
	CodeNotEligibleForMove  = "UserErrorRecoveryPointNotEligibleForMove"
	CodeRehydrationRequired = "UserErrorRecoveryPointRehydrationRequired"
)

// Archive statuses of a point (Azure's RecoveryPointTierStatus of its
// ArchivedRP tier).
const (
	ArchiveValid       = "Valid"       // archived, offline
	ArchiveRehydrating = "Rehydrating" // archived, being brought online
	ArchiveRehydrated  = "Rehydrated"  // archived, online until the rehydration ends
)

// ArchiveState is a point's life in the archive tier.
type ArchiveState struct {
	Since time.Time `json:"since"` // moved to the archive tier
	// The last rehydration: its priority, when it completes (the point is
	// online from then) and when it ends (offline again).
	Priority string     `json:"rehydrationPriority,omitempty"`
	Ready    *time.Time `json:"rehydrationReady,omitempty"`
	Until    *time.Time `json:"rehydratedUntil,omitempty"`
}

// ArchiveStatus is p's status in the archive tier at now ("" : not
// archived).
func (p *RecoveryPoint) ArchiveStatus(now time.Time) string {
	a := p.Archive
	switch {
	case a == nil:
		return ""
	case a.Ready != nil && now.Before(*a.Ready):
		return ArchiveRehydrating
	case a.Ready != nil && a.Until != nil && now.Before(*a.Until):
		return ArchiveRehydrated
	}
	return ArchiveValid
}

// Azure's rule for moving an Azure VM's recovery point to the archive tier
// (https://learn.microsoft.com/azure/backup/archive-tier-support, "Support
// matrix", Azure Virtual Machines): only monthly and yearly recovery points;
// age >= 3 months in the vault-standard tier; retention left >= 6 months;
// no active daily and weekly dependencies. The last one is about Azure's
// incremental chains: a Safehold point is content-addressed and depends on
// no other point, so it always holds.
var (
	ArchiveMinAge           = Duration{Months: 3}
	ArchiveMinRetentionLeft = Duration{Months: 6}
)

// Readiness says whether a point may move to the archive tier now and, when
// not, why (Azure's recoveryPointMoveReadinessInfo).
type Readiness struct {
	Ready bool
	Info  string
	// From is when the point becomes ready if only its age holds it back
	// (zero otherwise).
	From time.Time
}

// ArchiveReadiness applies Azure's rule (see ArchiveMinAge) to p at now; a
// point a verify found damaged is never ready.
func (p *RecoveryPoint) ArchiveReadiness(now time.Time) Readiness {
	switch {
	case p.Archive != nil:
		return Readiness{Info: "Recovery point cannot be moved to archive tier since it has already been moved."}
	case !p.HasTier(TierVault):
		return Readiness{Info: "Recovery point cannot be moved to archive tier before its transfer to the vault-standard tier has completed."}
	case DamageOf(p) != "":
		// Its data is not all intact: an archived copy of it could not
		// be restored either (the item's next backup stores it again).
		return Readiness{Info: "Recovery point cannot be moved to archive tier: it is damaged (" + DamageOf(p) + "). Move another recovery point."}
	case !strings.EqualFold(p.RetentionTag, RuleMonthly) && !strings.EqualFold(p.RetentionTag, RuleYearly):
		return Readiness{Info: "Recovery point cannot be moved to archive tier: only monthly and yearly recovery points can be moved."}
	}
	if p.Expiry != nil && ArchiveMinRetentionLeft.AddTo(now).After(*p.Expiry) {
		return Readiness{Info: "Recovery point cannot be moved to archive tier: it must have at least 6 months of retention left (it expires at " + p.Expiry.UTC().Format(time.RFC3339) + ")."}
	}
	if from := ArchiveMinAge.AddTo(p.Time); now.Before(from) {
		r := Readiness{Info: "Recovery point cannot be moved to archive tier before it has been in the vault-standard tier for 3 months (from " + from.UTC().Format(time.RFC3339) + ")."}
		if p.Expiry == nil || !ArchiveMinRetentionLeft.AddTo(from).After(*p.Expiry) {
			r.From = from
		}
		return r
	}
	return Readiness{Ready: true}
}

// Rehydration priorities and how long each takes: the archive tier's data
// lives in blob storage's archive tier, whose rehydration takes up to 15
// hours at Standard priority and under one hour at High
// (https://learn.microsoft.com/azure/storage/blobs/archive-rehydrate-overview,
// "Rehydration priority"); Safehold takes those bounds.
const (
	RehydrateStandard = "Standard"
	RehydrateHigh     = "High"
)

var rehydrationTimes = map[string]time.Duration{RehydrateStandard: 15 * time.Hour, RehydrateHigh: time.Hour}

// MaxRehydrationRetention bounds how long a rehydrated point stays online
// (Azure Backup keeps a rehydrated point 10 to 30 days; its REST examples
// ask for 7, which Safehold accepts).
var MaxRehydrationRetention = Duration{Days: 30}

// minRehydrationRetention is the shortest rehydration retention: a day
// (a request in hours, such as PT1H, is refused).
var minRehydrationRetention = Duration{Days: 1}

// Rehydration is a restore's request to bring an archived point online.
type Rehydration struct {
	Priority  string   `json:"priority"`
	Retention Duration `json:"retention"`
}

// ParseRehydration checks a rehydration request's priority and retention
// (an ISO 8601 duration of one to 30 days); field prefixes the failure's
// target.
func ParseRehydration(priority, retention, field string) (Rehydration, error) {
	var r Rehydration
	for p := range rehydrationTimes {
		if strings.EqualFold(p, priority) {
			r.Priority = p
		}
	}
	if r.Priority == "" {
		e := failure.Invalidf("BMSUserErrorInvalidRehydrationPriority", "The rehydration priority '%s' is not valid: use 'Standard' or 'High'.", priority)
		e.Target = field + ".rehydrationPriority"
		return r, e
	}
	d, err := ParseDuration(retention)
	now := time.Unix(0, 0).UTC()
	if err != nil || d.AddTo(now).Before(minRehydrationRetention.AddTo(now)) || d.AddTo(now).After(MaxRehydrationRetention.AddTo(now)) {
		e := failure.Invalidf("BMSUserErrorInvalidRehydrationRetention", "The rehydration retention duration '%s' is not valid: give an ISO 8601 duration of 1 to 30 days, such as 'P10D'.", retention)
		e.Target = field + ".rehydrationRetentionDuration"
		return r, e
	}
	r.Retention = d
	return r, nil
}

// ErrRehydrating is the wait of a restore whose point is being rehydrated
// (wrapped in a job.RetryAt due when the rehydration completes).
var ErrRehydrating = errors.New("the recovery point is being rehydrated from the archive tier")

// MoveToArchive runs move job jobID to its end: it moves the point to the
// archive tier when Azure's rule allows it now (else the job fails with
// CodeNotEligibleForMove and the reason). It holds the item's lease, so no
// retention sweep deletes the point meanwhile.
func (e *Engine) MoveToArchive(ctx context.Context, jobID, itemID, pointID string) (*Job, error) {
	return e.run(ctx, nil, jobID, CodeOperationFailed, func(ctx context.Context, j *Job) error {
		ctx, unlock, err := e.lockItem(ctx, itemID)
		if err != nil {
			return err
		}
		defer unlock()
		return e.Store.Update(ctx, func(tx store.Tx) error {
			p, err := GetRecoveryPoint(ctx, tx, itemID, pointID)
			if errors.Is(err, store.ErrNotFound) {
				return &JobError{Code: "UserErrorRecoveryPointNotFound", Message: "The recovery point " + pointID + " no longer exists (it expired or was deleted)."}
			}
			if err != nil {
				return err
			}
			now := e.Now()
			if r := p.ArchiveReadiness(now); !r.Ready {
				return &JobError{Code: CodeNotEligibleForMove, Message: r.Info,
					RecommendedAction: []string{"List the item's recoveryPointsRecommendedForMove, or read the point's recoveryPointMoveReadinessInfo, and move a point that is ready."}}
			}
			p.Archive = &ArchiveState{Since: now}
			if err := PutRecoveryPoint(ctx, tx, p); err != nil {
				return err
			}
			x, err := GetJob(ctx, tx, "", j.ID)
			if err != nil {
				return err
			}
			if !hasTask(x, TaskMoveToArchive) {
				x.Tasks = append(x.Tasks, JobTask{Name: TaskMoveToArchive, Status: TaskNotStarted})
			}
			SetTask(x, TaskMoveToArchive, JobCompleted, now)
			return PutJob(ctx, tx, x)
		})
	})
}

// rehydrateFor brings an archived point online for restore job j: a point
// not archived, or rehydrated, is restored at once; an archived one needs
// the request's rehydration (else the job fails with
// CodeRehydrationRequired), which starts now and completes after the
// priority's time on the engine's clock: until then the job waits (a
// job.RetryAt that time, so the task running it runs again then).
func (e *Engine) rehydrateFor(ctx context.Context, j *Job, p *RecoveryPoint, r *Rehydration) error {
	now := e.Now()
	status := p.ArchiveStatus(now)
	switch {
	case status == "":
		return nil
	case status == ArchiveValid && r == nil:
		return &JobError{Code: CodeRehydrationRequired, Message: "The recovery point " + p.ID + " is in the archive tier: restore it with rehydration (recoveryPointRehydrationInfo with a rehydrationPriority and a rehydrationRetentionDuration).",
			RecommendedAction: []string{"Trigger the restore again as an IaasVMRestoreWithRehydrationRequest."}}
	case status == ArchiveValid:
		err := e.Store.Update(ctx, func(tx store.Tx) error {
			cur, err := GetRecoveryPoint(ctx, tx, p.ItemID, p.ID)
			if err != nil {
				return err
			}
			if cur.ArchiveStatus(now) == ArchiveValid {
				ready := now.Add(rehydrationTimes[r.Priority])
				until := r.Retention.AddTo(ready)
				cur.Archive.Priority, cur.Archive.Ready, cur.Archive.Until = r.Priority, &ready, &until
				if err := PutRecoveryPoint(ctx, tx, cur); err != nil {
					return err
				}
			}
			*p = *cur
			return nil
		})
		if err != nil {
			return err
		}
		status = p.ArchiveStatus(now)
	}
	if err := e.updateJob(ctx, j.ID, func(x *Job) {
		if !hasTask(x, TaskRehydrate) {
			x.Tasks = append([]JobTask{{Name: TaskRehydrate, Status: TaskNotStarted}}, x.Tasks...)
		}
		if x.Details == nil {
			x.Details = map[string]string{}
		}
		x.Details["Rehydration Priority"] = p.Archive.Priority
		if status == ArchiveRehydrating {
			if t := x.Tasks[slices.IndexFunc(x.Tasks, func(t JobTask) bool { return t.Name == TaskRehydrate })]; t.Status != JobInProgress {
				SetTask(x, TaskRehydrate, JobInProgress, now)
			}
		} else {
			SetTask(x, TaskRehydrate, JobCompleted, now)
		}
	}); err != nil {
		return err
	}
	if status == ArchiveRehydrating {
		// Due at the rehydration's end, not an hour from whenever the
		// runner reschedules: a clock moved past the end meanwhile would
		// leave the restore waiting for an end an hour beyond it.
		return job.RetryAt(fmt.Errorf("%w until %s", ErrRehydrating, p.Archive.Ready.UTC().Format(time.RFC3339)), *p.Archive.Ready, p.Archive.Ready.Sub(now))
	}
	return nil
}

// Retail prices Safehold reports for tiering costs, per GB and month: the
// vault-standard and vault-archive tiers and a rehydration (the figures of
// Azure's tiering-cost examples).
const (
	PriceVaultStandard = 0.02
	PriceVaultArchive  = 0.003
	PriceRehydration   = 0.02
)

// PointSize is what a point's data weighs in the vault: Full, a full copy
// of it (what the archive tier stores: a VM point moves there as a full
// copy), and Incremental, what it adds to the vault-standard tier beyond
// its predecessor (what moving it frees there).
type PointSize struct {
	Full, Incremental int64
}

// PointSizes measures points in the vault's repository (vaultKey); a point
// without a vault copy weighs nothing there.
func (e *Engine) PointSizes(ctx context.Context, vaultKey string, points []*RecoveryPoint) ([]PointSize, error) {
	out := make([]PointSize, len(points))
	if vaultKey == "" {
		return out, nil
	}
	repo, release, err := e.vault(ctx, vaultKey)
	if err != nil {
		return nil, err
	}
	defer release()
	for i, p := range points {
		if !p.HasTier(TierVault) {
			continue
		}
		for _, s := range p.Snapshots {
			full, changed, err := repo.PointBytes(ctx, snapshot.ID(s.EngineID))
			if errors.Is(err, snapshot.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("size of recovery point %s: %w", p.ID, err)
			}
			out[i].Full += full
			out[i].Incremental += changed
		}
	}
	return out, nil
}

// Recommended says whether moving a point of size s to the archive tier
// saves money: the archive's full copy costs less than the increment it
// frees in the vault-standard tier (Azure recommends moves "that are
// expected to be cost-effective", archive-tier-support, "Archive
// recommendations (Only for Azure Virtual Machines)").
func (s PointSize) Recommended() bool {
	return float64(s.Full)*PriceVaultArchive < float64(s.Incremental)*PriceVaultStandard
}

// RecommendedForMove lists an item's points that are ready to move to the
// archive tier now and whose move saves money, newest first, except the
// ids in excluded.
func (e *Engine) RecommendedForMove(ctx context.Context, vaultKey, itemID string, excluded []string) ([]*RecoveryPoint, error) {
	points, err := ListRecoveryPoints(ctx, e.Store, itemID)
	if err != nil {
		return nil, err
	}
	now := e.Now()
	var ready []*RecoveryPoint
	for _, p := range points {
		if p.ArchiveReadiness(now).Ready && !slices.ContainsFunc(excluded, func(x string) bool { return strings.EqualFold(x, p.ID) }) {
			ready = append(ready, p)
		}
	}
	sizes, err := e.PointSizes(ctx, vaultKey, ready)
	if err != nil {
		return nil, err
	}
	out := []*RecoveryPoint{}
	for i, p := range ready {
		if sizes[i].Recommended() {
			out = append(out, p)
		}
	}
	return out, nil
}

// Tiering modes of a policy's tiering to the archive (Azure's TieringMode).
const (
	TierAfter       = "TierAfter"
	TierRecommended = "TierRecommended"
	DoNotTier       = "DoNotTier"
)

// Tiering is a policy's rule moving its points to the archive tier: every
// point After its time (TierAfter), or every recommended point
// (TierRecommended), once Azure's rule lets it move.
type Tiering struct {
	Mode  string
	After Duration
}

// tierSweep is the archive part of a retention sweep of it (the item's
// lease held): it moves the points its policy's tiering says are due and
// clears ended rehydrations; plan gets the times at which it has work
// next.
func (e *Engine) tierSweep(ctx context.Context, it *Item, points []*RecoveryPoint, now time.Time, plan func(time.Time)) error {
	var due []*RecoveryPoint
	var recommend []*RecoveryPoint
	for _, p := range points {
		if a := p.Archive; a != nil && a.Until != nil {
			if !now.Before(*a.Until) {
				// Cleared only if still ended: a restore may have started
				// a new rehydration since the sweep read the point.
				if err := e.setArchive(ctx, p, func(a *ArchiveState) {
					if a.Until != nil && !now.Before(*a.Until) {
						a.Priority, a.Ready, a.Until = "", nil, nil
					}
				}); err != nil {
					return err
				}
			} else {
				plan(*a.Ready)
				plan(*a.Until)
			}
		}
		t := it.Policy.tiering()
		if t == nil || p.Archive != nil || p.Expired(now) {
			continue
		}
		r := p.ArchiveReadiness(now)
		switch {
		case t.Mode == TierAfter && r.Ready && !now.Before(t.After.AddTo(p.Time)):
			due = append(due, p)
		case t.Mode == TierAfter && (r.Ready || !r.From.IsZero()):
			from := t.After.AddTo(p.Time)
			if r.From.After(from) {
				from = r.From
			}
			plan(from)
		case t.Mode == TierRecommended && r.Ready:
			recommend = append(recommend, p)
		case t.Mode == TierRecommended && !r.From.IsZero():
			plan(r.From)
		}
	}
	if len(recommend) > 0 {
		sizes, err := e.PointSizes(ctx, it.VaultKey, recommend)
		if err != nil {
			return err
		}
		for i, p := range recommend {
			if sizes[i].Recommended() {
				due = append(due, p)
			}
		}
	}
	for _, p := range due {
		if err := e.setArchive(ctx, p, nil); err != nil {
			return err
		}
		e.Logger.Info("recovery point moved to the archive tier by its policy", "item", it.ID, "point", p.ID)
	}
	return nil
}

func (p *Policy) tiering() *Tiering {
	if p == nil || p.Tiering == nil || p.Tiering.Mode == DoNotTier || p.Tiering.Mode == "" {
		return nil
	}
	return p.Tiering
}

// setArchive moves p to the archive tier (fn nil) or changes its archive
// state with fn, in the store and in p.
func (e *Engine) setArchive(ctx context.Context, p *RecoveryPoint, fn func(a *ArchiveState)) error {
	now := e.Now()
	return e.Store.Update(ctx, func(tx store.Tx) error {
		cur, err := GetRecoveryPoint(ctx, tx, p.ItemID, p.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case fn == nil && cur.Archive == nil:
			cur.Archive = &ArchiveState{Since: now}
		case fn != nil && cur.Archive != nil:
			fn(cur.Archive)
		}
		*p = *cur
		return PutRecoveryPoint(ctx, tx, cur)
	})
}
