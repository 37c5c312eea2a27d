package protection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/store"
)

// Scheduled verify: every vault is verified on its own schedule, a sampled
// verify weekly by default (Engine.VerifyEvery, Engine.VerifySample; the
// server's --verify-every and --verify-sample), which a vault overrides
// with its tags:
//
//	safehold-verify-every   P1D, PT12H, P14D, 36h ... or "off"
//	safehold-verify-sample  a fraction (0.05), "all" (read every chunk) or "structure"
//
// The schedule is one keyed durable task per vault in the engine's
// scheduler ("schedule/verify"), so a run fires once across replicas and
// restarts, on the engine's clock. Each run is a Verify job in the vault's
// job list (not user-triggered) whose id derives from the vault and the
// run's due time, so a run repeated after a crash finds its own job.
const (
	TagVerifyEvery  = "safehold-verify-every"
	TagVerifySample = "safehold-verify-sample"
)

// Defaults of the verify schedule.
const (
	DefaultVerifyEvery  = 7 * 24 * time.Hour
	DefaultVerifySample = 0.05
	minVerifyEvery      = time.Hour
)

// ParseVerifyEvery parses a verify period: an ISO 8601 duration (P7D,
// PT12H) or a Go duration (36h); "off", "never" or "0" turn the schedule
// off (-1). Periods under an hour are refused.
func ParseVerifyEvery(s string) (time.Duration, error) {
	return parsePeriod(s, minVerifyEvery, "an hour")
}

// parsePeriod parses an ISO 8601 or Go duration of at least least (named
// leastName in the error), or "off" (-1).
func parsePeriod(s string, least time.Duration, leastName string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "off", "never", "none", "0", "false":
		return -1, nil
	}
	var d time.Duration
	if strings.HasPrefix(strings.ToUpper(s), "P") {
		iso, err := ParseDuration(strings.ToUpper(s))
		if err != nil {
			return 0, err
		}
		d = iso.Approx()
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is neither an ISO 8601 duration (P7D, PT12H) nor a Go duration (36h), nor \"off\"", s)
		}
	}
	if d < least {
		return 0, fmt.Errorf("%q is shorter than %s", s, leastName)
	}
	return d, nil
}

// ParseVerifySample parses a verify's extent: a fraction of the packs
// (0.05), "all" (every chunk) or "structure" (no data read).
func ParseVerifySample(s string) (readData bool, sample float64, err error) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch s {
	case "all", "read-data", "1":
		return true, 0, nil
	case "structure", "0":
		return false, 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0 && f < 1) { // NaN too
		return false, 0, fmt.Errorf("%q is not a fraction between 0 and 1 (0.05), \"all\" or \"structure\"", s)
	}
	return false, f, nil
}

// CheckVerifyTags validates a vault's verify tags (a face calls it before
// storing the vault).
func CheckVerifyTags(tags map[string]string) error {
	for k, v := range tags {
		switch {
		case strings.EqualFold(k, TagVerifyEvery):
			if _, err := ParseVerifyEvery(v); err != nil {
				return failure.Invalidf("InvalidParameter", "The tag '%s': %v.", TagVerifyEvery, err)
			}
		case strings.EqualFold(k, TagVerifySample):
			if _, _, err := ParseVerifySample(v); err != nil {
				return failure.Invalidf("InvalidParameter", "The tag '%s': %v.", TagVerifySample, err)
			}
		}
	}
	return nil
}

func tagOf(tags map[string]string, name string) (string, bool) {
	for k, v := range tags {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// verifyPlan is a vault's verify period (<= 0: none) and what each run reads.
func (e *Engine) verifyPlan(v *Vault) (time.Duration, VerifyRequest) {
	every := e.VerifyEvery
	if every == 0 {
		every = DefaultVerifyEvery
	}
	q := VerifyRequest{VaultIDs: []string{v.ID}, Sample: e.VerifySample, Scheduled: true}
	if q.Sample == 0 {
		q.Sample = DefaultVerifySample
	}
	if q.Sample >= 1 {
		q.ReadData, q.Sample = true, 0
	} else if q.Sample < 0 {
		q.Sample = 0 // structure only
	}
	if s, ok := tagOf(v.Tags, TagVerifyEvery); ok {
		if d, err := ParseVerifyEvery(s); err == nil {
			every = d
		}
	}
	if s, ok := tagOf(v.Tags, TagVerifySample); ok {
		if rd, f, err := ParseVerifySample(s); err == nil {
			q.ReadData, q.Sample = rd, f
		}
	}
	return every, q
}

type verifySchedule struct {
	VaultID string `json:"vaultId"`
	Every   string `json:"every"`
}

func verifyScheduleKey(vaultID string) string { return "verify:" + strings.ToLower(vaultID) }

// PlanVerify sets vault v's verify schedule in tx (a face calls it when it
// creates or updates a vault): the first run one period from now, kept as
// it is when the period did not change, removed when the vault's verify
// is off. Call Notify after the commit.
func (e *Engine) PlanVerify(ctx context.Context, tx store.Tx, v *Vault) error {
	if e.verifySched == nil {
		return nil
	}
	every, _ := e.verifyPlan(v)
	key := verifyScheduleKey(v.ID)
	if every <= 0 {
		return e.verifySched.Unschedule(ctx, tx, key)
	}
	t, err := tx.GetTaskByKey(ctx, TaskKey(key))
	if err == nil {
		var p runPayload
		var d verifySchedule
		if json.Unmarshal(t.Payload, &p) == nil && json.Unmarshal(p.Data, &d) == nil && d.Every == every.String() {
			return nil
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return e.verifySched.Schedule(ctx, tx, key, e.Now().Add(every), verifySchedule{VaultID: v.ID, Every: every.String()})
}

// PlanVerifies sets the verify schedule of every vault that has none (or
// whose period changed), e.g. vaults made before a restart with another
// --verify-every. The server calls it once the faces are registered.
func (e *Engine) PlanVerifies(ctx context.Context) error {
	if e.verifySched == nil {
		return nil
	}
	vs, err := e.Vaults(ctx, e.Store)
	if err != nil {
		return fmt.Errorf("plan verify schedules: %w", err)
	}
	for _, v := range vs {
		if err := e.Store.Update(ctx, func(tx store.Tx) error { return e.PlanVerify(ctx, tx, v) }); err != nil {
			return fmt.Errorf("plan verify schedule of %s: %w", v.ID, err)
		}
	}
	e.Notify()
	return nil
}

// NextVerify is when vault vaultID's next scheduled verify runs (zero: none).
func (e *Engine) NextVerify(ctx context.Context, vaultID string) (time.Time, error) {
	if e.verifySched == nil {
		return time.Time{}, nil
	}
	return e.verifySched.NextRun(ctx, verifyScheduleKey(vaultID))
}

// scheduledVerify is the verify scheduler's RunFunc: one verify of the
// vault, then the next run one period later (after downtime: one run at
// once, then a period from it).
func (e *Engine) scheduledVerify(ctx context.Context, run Run) (time.Time, error) {
	var d verifySchedule
	if err := json.Unmarshal(run.Data, &d); err != nil || d.VaultID == "" {
		return time.Time{}, nil
	}
	v, err := e.FindVault(ctx, e.Store, d.VaultID)
	if failure.Is(err, failure.NotFound) {
		return time.Time{}, nil // the vault went
	}
	if err != nil {
		return time.Time{}, err
	}
	every, q := e.verifyPlan(v)
	if every <= 0 {
		return time.Time{}, nil
	}
	err = e.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := GetVerify(ctx, tx, run.ID); err == nil {
			return nil // this run's verify exists: resume it
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		_, err := e.StartVerify(ctx, tx, run.ID, q, false)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	if _, err := e.RunVerify(ctx, run.ID); err != nil {
		return time.Time{}, err
	}
	next := run.Due.Add(every)
	if !next.After(run.Now) {
		next = run.Now.Add(every)
	}
	return next, nil
}
